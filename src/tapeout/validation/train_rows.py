"""Row mapper: LLM training rows (MLPerf Training gpt3 / llama2_70b_lora time-to-train,
vendor steady-state throughput tables) -> predictions in the row's unit.

Time-to-train = work to convergence / predicted throughput. The work comes from the row
itself (MLPerf logs the convergence point: `epoch_num` = training tokens for gpt3,
`samples_count` = sequences for llama2_70b_lora and llama31_*), else from the benchmark definition:
the RCP at the row's global batch (data/mlperf/rcps.yaml, perf/convergence.py), else
data/mlperf/benchmarks.yaml where sourced. detail["measures"] says which: "throughput" (convergence
point from the row) or "time-to-train" (from the definition). A throughput row whose benchmark has
an RCP at its batch is also priced at that RCP (detail["time_to_train"], validation/rcp.py): the
time-to-train a user without the run's log would predict; the error tables report both.
Evaluation passes inside run_start..run_stop ARE modelled (perf/training.time_to_train_min):
forward-only passes over the validation set at the benchmark's evaluation interval
(benchmarks.yaml `training.<bench>.eval_every_samples / eval_samples / skip_evals`, with the
NVIDIA-specific skip_evals_nvidia for llama2_70b_lora). Checkpoint loading and warm-up are not.
FP8 rows follow the Transformer Engine recipe (perf/training.py): attention core BF16 except
NVIDIA llama2_70b_lora, whose configs enable FP8 dot-product attention (fp8_attention_nvidia).
llama2_70b_lora rows cost the LoRA adapters (rank, targets, dropout from benchmarks.yaml;
perf/train_lora.py) and run the layout their submission's published config names
(benchmarks.yaml `submission_layouts`), else the layout search.
Software stack: the row's `software` field and MLPerf round select an entry of
data/software/training_stacks.yaml (perf/train_stack.py); its wired features (userbuffers TP
overlap on/off, FP8 attention available, distributed optimizer, even pipeline stages) shape the
run, the others are listed in the detail as not modelled; a stack not on file runs the defaults.
Paper / vendor-table rows: MaxText's throughput tables (achieved TFLOP/s per chip) run the model
of the quoted config script by its dimensions (data/models/maxtext/dense_configs.yaml) on the
script's mesh (FSDP per slice, slices as DCN data-parallel replicas); Megatron-Bridge's DeepSeek-V3
row runs the layout it states (EP32 on TP1), tokens/s per GPU.
Compute precision (benchmarks.yaml `precision_rules.training`): NVIDIA -> FP8 (Transformer
Engine) where supported, except DeepSpeed stacks (BF16); Gaudi2 from v3.1 -> FP8; TPU v5e, TPU v5p from v4.0 -> INT8 (AQT); else BF16.
"""

from __future__ import annotations

import re

from ..hardware.catalog import get_chip, resolve_chip_id
from ..errors import TapeoutError
from ..perf.mlperf import benchmarks, value_of
from ..perf.train_layout import DOTS_EXCEPT_FFN1
from ..perf.train_lora import adapters_of_benchmark
from ..perf.bench_stack import PIN_FIELDS, RECORD_FIELDS, STACK_FIELDS, merged_layout, nvidia_precision, run_settings, submission_entries  # noqa: F401 (re-exported)
from ..perf.step_terms import step_terms
from ..perf.train_stack import find_stack, stack_settings
from .rcp import priced_at
from .system_interconnect import row_node
from .registry import RowPrediction, SkipRow, register


def measures(convergence_from_row: bool) -> str:
    """What a time-to-train row tests (issue 18): with the convergence point (samples to
    converge) read from the row itself only the throughput is predicted; with it taken from
    the benchmark definition the prediction is a time-to-train."""
    return "throughput" if convergence_from_row else "time-to-train"


def _deepspeed(row: dict) -> bool:
    """DeepSpeed stacks have no Transformer Engine: BF16 GEMMs, no FP8 attention."""
    return "deepspeed" in (row.get("software") or "").lower()


def training_precision(row: dict, chip) -> str:
    acc = row["accelerator"]
    rnd = re.search(r"v(\d+)\.(\d+)", row["workload"])
    ver = (int(rnd.group(1)), int(rnd.group(2))) if rnd else (0, 0)
    nv = nvidia_precision(chip) if acc.startswith("NVIDIA") and row["category"] == "mlperf-train" else None
    if nv is not None:
        return "bf16" if _deepspeed(row) else nv[0]
    if "Gaudi2" in acc and ver >= (3, 1):
        return "fp8"
    tpu_int8 = "TPU v5e" in acc or ("TPU v5p" in acc and ver >= (4, 0))  # precision_rules.training: their configs' AQT int8
    if tpu_int8 and chip.supports("int8") and row["category"] == "mlperf-train":
        return "int8"
    p = row["precision"].lower()
    if "fp8" in p and chip.supports("fp8"):
        return "fp8"
    return "bf16"


def _chip(row):
    cid = resolve_chip_id(row["accelerator"])
    if cid is None:
        raise SkipRow(f"accelerator '{row['accelerator']}' is not in the chip catalog")
    return get_chip(cid)


def bc_model(key: str) -> str:
    return benchmarks()["training"][key]["model"]


def _bench_cfg(key: str) -> dict:
    b = benchmarks()["training"][key]
    return {k: value_of(v) for k, v in b.items() if isinstance(v, dict) and "value" in v}


# MLPerf Training benchmark names -> data/mlperf/benchmarks.yaml `training` keys
BENCH_KEYS = {"gpt3": "gpt3-175b", "llama2_70b_lora": "llama2-70b-lora", "llama31_8b": "llama3.1-8b",
              "llama31_405b": "llama3.1-405b"}


def describe(row: dict) -> dict | None:
    """Benchmark, model preset and sequence length of an MLPerf LLM training row, read from its
    description alone (no prediction, never the measured value); None for other rows."""
    if row.get("category") != "mlperf-train":
        return None
    m = re.match(r"MLPerf Training v[\d.]+ (\S+)", row.get("workload", ""))
    if not m or m.group(1) not in BENCH_KEYS:
        return None
    key = BENCH_KEYS[m.group(1)]
    return {"bench": m.group(1), "key": key, "model": bc_model(key), "seq": int(_bench_cfg(key)["seq_len"])}


# Submissions that ran MaxText's remat_policy=save_dot_except_logits_ffn1 (Google's v4.0 GPT-3 v5p-2048.sh /
# v5p-3072.sh) are pinned to that policy (recompute "dots-except-ffn1", benchmarks.yaml submission_layouts). On:
# it is the scripts' own setting, and the memory model holds it (TRN-v4.0-0052 / 0053: 77.6 GiB of 94.5 usable);
# off, the pin is dropped and the search picks among the stack's methods (full, as before issue-63a, the only
# one that fits besides) (docs/notes/issue-18.md, Round stop-42 issue-63a).
SUBMITTED_FFN1_POLICY = True


def submission_layout(key: str, row: dict, chip_id: str, n: int) -> dict:
    """The published layout of this row's submission (benchmarks.yaml `submission_layouts`, the entries of the
    stack kind its software stack names, training_stacks.yaml `layouts`, else nemo on NVIDIA chips):
    layout pins for perf/training.train plus per-config skip_evals / fp8_attention; {} if none.
    An entry with a `round` (e.g. v4.0) holds only for rows of that MLPerf round; one with a
    `system` only for the row of that submitted system (its `system=` in the notes), over the
    chip-and-size entries (a partner's own launch config)."""
    rnd = re.match(r"MLPerf Training (v[\d.]+)", row.get("workload", ""))
    found = find_stack(row.get("software", ""), rnd.group(1) if rnd else None, accelerator=row["accelerator"])
    stack = "deepspeed" if _deepspeed(row) else (found.layouts if found is not None and found.layouts else
                                                 "nemo" if row["accelerator"].startswith("NVIDIA") else None)
    system = re.search(r"system=([^;]+)", row.get("notes") or "")
    entries = submission_entries(key, stack, row["accelerator"], rnd.group(1) if rnd else None,
                                 system.group(1).strip() if system else None)
    pins = merged_layout(entries, chip_id, n)
    if not SUBMITTED_FFN1_POLICY and pins.get("recompute") == DOTS_EXCEPT_FFN1:
        pins = {k: v for k, v in pins.items() if k != "recompute"}
    return pins


def _definition_samples(key: str, bench: str, gbs: int, seq: int, bc: dict) -> float:
    """Sequences to converge by the benchmark definition, for a row that logs none: the RCP at its global
    batch (perf/convergence.py), else benchmarks.yaml's one value where sourced; a batch no RCP scores
    and no sourced value covers is refused."""
    from ..perf.convergence import samples_to_converge

    conv = samples_to_converge(key, gbs, seq)
    if conv is not None:
        return conv.samples
    b = benchmarks()["training"][key]
    field = "tokens_to_train" if "tokens_to_train" in b else "samples_to_train"
    if b[field].get("status") == "unverified":
        raise SkipRow(f"{bench}: the row gives no convergence point and no RCP scores global batch {gbs} "
                      f"(data/mlperf/rcps.yaml; benchmarks.yaml {field} is unverified)")
    return float(bc[field]) / (seq if field == "tokens_to_train" else 1)


def _at_rcp(r, key: str, gbs: int, seq: int, evals: tuple) -> dict | None:
    """The run's time-to-train at its benchmark's Reference Convergence Point for its global batch
    (perf/convergence.py, rcp_checker's lookup), the evaluations counted to that point; None
    where the benchmark has no RCPs on file or the batch lies above its largest."""
    from ..perf.convergence import samples_to_converge
    from ..perf.training import time_to_train_min

    return priced_at(samples_to_converge(key, gbs, seq), lambda samples: time_to_train_min(r, samples, *evals))


def _not_modelled(stack, records: dict, host_priced: bool) -> dict:
    """The stack's unwired features with the run's own records; layer_cuda_graph leaves the list
    when the run's eager layers are priced (`host_priced`: the result's breakdown has host_issue,
    which perf/training.py gives at PP 1 only)."""
    out = stack.unwired(records) if stack else {}
    if host_priced:
        out.pop("layer_cuda_graph", None)
    return out


@register("llm_training")
def map_row(row: dict, fitted: dict | None = None):
    from ..perf.training import time_to_train_min, train

    w = row["workload"]
    if row["category"] == "mlperf-train":
        d = describe(row)
        if d is None:
            return None
        bench, seq, model, bc = d["bench"], d["seq"], d["model"], _bench_cfg(d["key"])
        chip = _chip(row)
        n = int(float(row["n_accelerators"]))
        notes = row["notes"]
        gbs = re.search(r"global_batch_size=(\d+)", notes)
        gbs = int(gbs.group(1)) if gbs else None
        prec = training_precision(row, chip)
        pins, lora, settings = {}, False, {}
        skip, fp8_attn = int(bc.get("skip_evals", 0)), bool(bc.get("fp8_attention", False))
        every = float(bc["eval_every_samples"])
        if bench == "gpt3":
            tok = re.search(r"epoch_num=([\d.e+]+)", notes)
            logged = float(tok.group(1)) / seq if tok else None  # the log's epoch_num counts tokens
            pins = submission_layout(d["key"], row, chip.id, n)
            settings = run_settings(pins)
        elif bench == "llama2_70b_lora":
            sc = re.search(r"samples_count=(\d+)", notes)
            logged = float(sc.group(1)) if sc else None
            lora = adapters_of_benchmark(benchmarks()["training"][d["key"]])
            nv = row["accelerator"].startswith("NVIDIA") and not _deepspeed(row)  # NVIDIA's NeMo recipe
            pins = submission_layout(d["key"], row, chip.id, n)
            skip = int(pins.pop("skip_evals", bc["skip_evals_nvidia"] if nv else bc["skip_evals"]))
            every = float(pins.pop("eval_every_samples", every))  # a submission's own cadence (benchmarks.yaml)
            fp8_dpa = pins.pop("fp8_attention", bc["fp8_attention_nvidia"])
            fp8_attn = bool(nv and fp8_dpa)
            settings = run_settings(pins)
        else:  # llama31_8b / llama31_405b pretraining (MLPerf Training v5.x), C4 at seq 8192
            sc = re.search(r"samples_count=([\d.e+]+)", notes)
            logged = float(sc.group(1)) if sc else None
        if gbs is None:
            raise SkipRow("global batch size not stated")
        from_row = logged is not None
        tokens = (logged if from_row else _definition_samples(d["key"], bench, gbs, seq, bc)) * seq
        # the row's software stack (data/software/training_stacks.yaml) decides the features it ran
        rnd = re.match(r"MLPerf Training (v[\d.]+)", w)
        stack = find_stack(row.get("software", ""), rnd.group(1) if rnd else None, accelerator=row["accelerator"])
        records = {k: pins.pop(k) for k in RECORD_FIELDS if k in pins}
        pins, settings, fp8_attn = stack_settings(stack, pins, settings, fp8_attn, records)
        try:
            r = train(model, row_node(row, chip).id, n, gbs * seq, seq, prec, lora=lora, fp8_attention=fp8_attn and prec == "fp8",
                      fitted=fitted, **pins, **settings)
        except TapeoutError as e:  # no layout fits: the model declines the row; a bug propagates
            raise SkipRow(f"no layout fits: {e}") from None
        evals = (every, float(bc["eval_samples"]), skip)
        tt = time_to_train_min(r, tokens / seq, *evals)
        minutes = tt["minutes"]
        scale = minutes / tt["train_min"] if tt["train_min"] > 0 else 1.0  # interval: step-time interval, eval share kept
        lo = tokens / (gbs * seq / r.interval_80[0]) / 60.0 * scale
        hi = tokens / (gbs * seq / r.interval_80[1]) / 60.0 * scale
        return RowPrediction(minutes, row["unit"], bench, min(lo, hi), max(lo, hi),
                             {"precision": prec, "parallelism": r.parallelism, "mfu": r.mfu, "step_s": r.step_time_s,
                              "train_min": tt["train_min"], "eval_min": tt["eval_min"], "n_evals": tt["n_evals"],
                              "fp8_attention": fp8_attn and prec == "fp8", "measures": measures(from_row),
                              "samples_to_converge": tokens / seq,
                              # the same run at the benchmark's RCP convergence point (validation/rcp.py)
                              "time_to_train": _at_rcp(r, d["key"], gbs, seq, evals) if from_row else None,
                              # FP8 attention asked but run BF16 at this layout's CP (stack fp8_attention_context_parallel)
                              "attention_precision": r.breakdown.get("attention_precision"),
                              "layout_source": "submission config" if "tp" in pins else "search",
                              "tp_overlap": settings.get("tp_overlap"),
                              # the submitted system's scale-out fabric (data/clusters/clusters.yaml), where on file
                              "cluster": settings.get("cluster"),
                              "stack": stack.name if stack else "not on file: model defaults",
                              "stack_features_not_modelled": _not_modelled(stack, records, r.breakdown.get("host_issue") is not None),
                              # an eager run's host issue time and the host it assumed (perf/host_issue)
                              "host_issue": r.breakdown.get("host_issue"),
                              # the step by schedule term (perf/step_terms): what moves with micro-batches per replica
                              "step_terms": step_terms(r.breakdown, r.step_time_s),
                              # what the engine could not apply (e.g. the stack's attention library
                              # unmeasured on this chip: the calibrated rate is used)
                              "model_notes": list(r.notes)})
    if row["category"] == "paper" and "training" in row["scenario"]:
        text = (w + " " + row["model_config"]).lower()
        chip = _chip(row)
        mc = row["model_config"]
        if "deepseek" in text and "v3" in text:
            return _published_layout(row, chip, "deepseek-v3", fitted)
        script = re.search(r"configs (MaxText/configs/\S+\.sh)", mc)
        if "maxtext" in text and script:
            return _maxtext(row, chip, script.group(1), fitted)
        raise SkipRow("model not among the presets")
    return None


def _published_layout(row: dict, chip, model: str, fitted: dict | None):
    """A vendor throughput-table row that states its layout (Megatron-Bridge performance summary:
    "GBS=4096; MBS=1; seq=4096; FSDP=0 TP=1 PP=2 CP=1 VP=4 EP=32 GA=32"): the row's own layout,
    EP independent of TP (EP ranks carved out of TP x CP x DP); ZeRO and recompute are left to the
    search (the table does not state them). Predicts training tokens/s per GPU."""
    from ..perf.training import train

    mc = row["model_config"]

    def field(name: str) -> int | None:
        m = re.search(rf"\b{name}=(\d+)", mc)
        return int(m.group(1)) if m else None

    gbs, seq = field("GBS"), field("seq")
    if gbs is None or seq is None:
        raise SkipRow("global batch (GBS=) or sequence length (seq=) not stated")
    if (field("FSDP") or 0) > 0:
        raise SkipRow("FSDP layouts of the Megatron-Bridge tables are not mapped")
    pins = {k: field(k.upper()) for k in ("tp", "pp", "cp", "vp", "ep", "mbs")}
    n = int(float(row["n_accelerators"]))
    prec = "fp8" if "fp8" in row["precision"].lower() and chip.supports("fp8") else "bf16"
    try:
        r = train(model, chip.id, n, gbs * seq, seq, prec, fitted=fitted, **pins)
    except TapeoutError as e:
        raise SkipRow(f"no layout fits: {e}") from None
    tps = r.tokens_per_s / n
    lo, hi = (gbs * seq / t / n for t in r.interval_80)
    return RowPrediction(tps, row["unit"], model + "-pretrain", min(lo, hi), max(lo, hi),
                         {"precision": prec, "parallelism": r.parallelism, "mfu": r.mfu, "step_s": r.step_time_s,
                          "measures": "throughput", "layout_source": "row (published recipe)"})


def _maxtext(row: dict, chip, script: str, fitted: dict | None):
    """A MaxText throughput-table row (achieved model TFLOP/s per chip): the model by its
    dimensions and the script's flags (workloads/maxtext.py), on the row's chips and slices.
    MaxText's mesh: TP = ici_tensor_parallelism, FSDP over the rest of each slice
    (ici_fsdp_parallelism=-1), slices as data-parallel replicas over DCN (dcn_data_parallelism=-1),
    i.e. ZeRO-3 sharded within a slice (`shard`), no gradient accumulation (one micro-batch of
    per_device_batch x TP sequences per data-parallel rank)."""
    from ..perf.training import model_flops_per_token, train
    from ..workloads.maxtext import maxtext_run

    try:
        cfg, run = maxtext_run(script)
    except TapeoutError as e:
        raise SkipRow(str(e)) from None
    n = int(float(row["n_accelerators"]))
    sl = re.search(r"(\d+)x v5[ep]-\d+", row["model_config"])
    slices = int(sl.group(1)) if sl else 1
    tp, seq = run["tp"], run["seq_len"]
    gseq = run["per_device_batch_size"] * n
    dp = n // tp
    try:
        r = train(cfg, chip.id, n, gseq * seq, seq, "bf16", tp=tp, pp=1, cp=1, mbs=gseq // dp, zero=3,
                  recompute=run["recompute"], shard=dp // slices, fitted=fitted)
    except TapeoutError as e:
        raise SkipRow(f"no layout fits: {e}") from None
    per_tok = model_flops_per_token(cfg, seq) / n / 1e12  # MaxText's TFLOP count, per chip and token
    tf = per_tok * r.tokens_per_s
    lo, hi = (per_tok * gseq * seq / t for t in r.interval_80)
    return RowPrediction(tf, row["unit"], "maxtext-dense", min(lo, hi), max(lo, hi),
                         {"precision": "bf16", "parallelism": r.parallelism, "mfu": r.mfu, "step_s": r.step_time_s,
                          "slices": slices, "model": cfg.name, "params_b": cfg.param_count() / 1e9,
                          "measures": "throughput", "layout_source": "MaxText config script"})
