"""Row mapper: LLM inference rows (MLPerf Inference llama2-70b / gptj / mixtral / llama3.1 /
deepseek-r1 and vendor tables) -> predictions in the row's unit.

Fixed-concurrency rows (AIPerf / genai-perf --concurrency N) are a closed loop of N requests: the serving engine's
steady state at a pinned batch of N (_closed_loop).

Compute-precision rule: the one rule table of every validation mapper,
data/precision/declared_rules.yaml (validation/declared_precision.py).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources

import yaml

from ..errors import TapeoutError
from ..hardware.catalog import get_chip, resolve_chip_id
from ..perf.stacks import stack_for_software
from . import declared_precision
from .unit_reading import open_unit_reading
from .llm_harness import harness_max_batch, harness_pp, harness_replicas
from .maxq import maxq_chip
from .registry import RowPrediction, SkipRow, interactive_variant, register
from .system_interconnect import system_chip

MLPERF_BENCH = {"llama2-70b": "llama2-70b", "gptj": "gptj", "mixtral-8x7b": "mixtral-8x7b",
                "llama3.1-405b": "llama3.1-405b", "llama3.1-8b": "llama3.1-8b", "deepseek-r1": "deepseek-r1",
                "gpt-oss-120b": "gpt-oss-120b"}
# Fixed concurrency (_closed_loop): TensorRT-LLM's in-flight batching admits a newly arrived request only at an
# iteration boundary ("the inclusion of newly arrived requests ... at each iteration of the token generation loop",
# nvidia.github.io/TensorRT-LLM/advanced/batch-manager.html) and runs its context phase inside an iteration together
# with the running generation-phase sequences (features/paged-attention-ifb-scheduler.html). In a closed loop a client
# sends its next request when its last one completes, i.e. at the end of an iteration the engine has already followed
# with the next one: the request waits about one engine step before its prefill starts. On: TTFT = one step + the
# prompt's prefill, and output tokens/s from the loop's own identity (Little's law: N requests, each in the engine for
# TTFT + (O - 1) x ITL) instead of N / ITL, which silently took TTFT as one step. Sourced (docs above) and on its one row
# (PUB-0267) it moves the prediction toward the measurement (docs/notes/issue-18.md round stop-41, issue-57a). Off: the
# first build (TTFT the prefill alone, tokens/s = N / ITL).
CLOSED_LOOP_ADMISSION_WAIT = True

PAPER_MODELS = [  # (pattern in workload/model_config, preset)
    (r"llama-?3\.3-70b", "llama-3.3-70b"), (r"llama-?3\.1-70b", "llama-3.1-70b"), (r"llama-?4-maverick", "llama-4-maverick"),
    (r"llama-?4-scout", "llama-4-scout"), (r"gpt-oss-120b", "gpt-oss-120b"), (r"gpt-oss-20b", "gpt-oss-20b"),
    (r"deepseek-r1", "deepseek-r1"), (r"llama-?3-70b", "llama-3.1-70b"), (r"llama-?3\.1-405b", "llama-3.1-405b"),
    (r"llama-?3(\.1)?-8b", "llama-3.1-8b"), (r"llama-?2-70b", "llama-2-70b"), (r"llama-?2-13b", "llama-2-13b"),
    (r"llama-?2-7b", "llama-2-7b"), (r"gpt-?j", "gpt-j-6b"), (r"mistral-7b", "mistral-7b"),
    (r"qwen3-235b", "qwen3-235b-a22b"), (r"qwen3-30b", "qwen3-30b-a3b"), (r"mixtral", "mixtral-8x7b"),
    (r"falcon-?180b", "falcon-180b"), (r"codellama-?13b", "codellama-13b"),
]


def compute_precision(row: dict, chip) -> str:
    """Format the row's GEMMs ran in: the shared rule table (validation/declared_precision.py)."""
    return declared_precision.compute_precision(row["precision"], chip, *_rule_keys(row))


def precision_rule(row: dict, chip) -> str | None:
    """Id of the declared_rules.yaml rule behind compute_precision (row detail `precision_rule`: e.g.
    tensorrt_llama2_70b_fp4 where a row declaring fp16 is priced FP4)."""
    return declared_precision.applied_rule(row["precision"], chip, *_rule_keys(row))


def _rule_keys(row: dict) -> tuple[str, str]:
    """(software, workload): the row text the precision rules read besides the declared precision."""
    return row.get("software", ""), row.get("workload", "")


def _num(pattern: str, text: str):
    m = re.search(pattern, text, flags=re.I)
    return float(m.group(1).replace(",", "")) if m else None


def _chip(row):
    cid = resolve_chip_id(row["accelerator"])
    if cid is None:
        raise SkipRow(f"accelerator '{row['accelerator']}' is not in the chip catalog")
    return get_chip(cid)


@lru_cache(maxsize=1)
def _submission_configs() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "submission_configs.yaml").read_text())


def submitted_layout(row: dict, bench: str, scenario: str, chip, n: int) -> dict:
    """tp / pp / max_batch the row's system was run with, if its submission config is on file
    (TensorRT-LLM submissions; data/mlperf/submission_configs.yaml), else {} (tapeout picks)."""
    if "tensorrt" not in row.get("software", "").lower():
        return {}
    rnd = re.search(r"v(\d+\.\d+)", row.get("workload", ""))
    cfg = _submission_configs().get(f"v{rnd.group(1)}" if rnd else "", {}).get(bench, {}).get(scenario, {})
    key = getattr(chip, "base_id", None) or chip.id
    key += "-cts" if "-CTS" in row.get("notes", "") else ""
    e = cfg.get("systems", {}).get(key)
    if not e or n % (e["tp"] * e["pp"]):
        return {}
    cap = e.get(f"max_batch_{n}", e["max_batch"])
    return {"tp": e["tp"], "pp": e["pp"], "max_batch": cap}


def latency_bounds(scenario: str, bench: dict):
    """(TTFT p99 s, TPOT p99 s, whole-query bound?) of a scenario in the benchmark's definition
    (data/mlperf/benchmarks.yaml `latency`); (None, None, False) when it defines none."""
    lat = bench.get("latency", {})
    s = lat.get(scenario)
    if s is None:
        return None, None, False
    return s["ttft_p99_s"], s.get("tpot_p99_s"), bool(s.get("whole_query"))


def mlperf_name(row: dict) -> str | None:
    """The MLPerf LLM benchmark of an mlperf-inf row (None: not an LLM benchmark)."""
    m = re.match(r"MLPerf Inference v[\d.]+ (\S+)", row["workload"])
    name = re.sub(r"-(99(\.9)?)(/99\.9)?$", "", m.group(1)) if m else None
    # v5.0+ results name the Interactive variant as its own benchmark, run under LoadGen's Server
    # scenario with tighter bounds ("llama2-70b-interactive-99", "llama3_1-405b-interactive" in
    # mlperf.conf): the same model and dataset, the `interactive` latency bounds (_mlperf)
    name = re.sub(r"-interactive$", "", name) if name else None
    return name if name in MLPERF_BENCH else None


def mlperf_scenario(row: dict) -> str:
    """The LoadGen scenario an mlperf-inf LLM row was run and bounded in, lower case. An
    "-interactive" benchmark is run in LoadGen's Server scenario (results folders say "Server")
    under the benchmark's interactive bounds, so both spellings give "interactive"."""
    return "interactive" if interactive_variant(row) else row["scenario"].lower()


def is_paper_llm(row: dict) -> bool:
    return row["category"] == "paper" and "LLM" in row["workload"] and "training" not in row["scenario"]


def describe(row: dict) -> dict | None:
    """Model preset and mean input/output lengths of an LLM inference row, read from its
    description alone (no prediction, never the measured value); None for other rows."""
    if row.get("category") == "mlperf-inf":
        from ..perf.mlperf import inference_benchmark

        name = mlperf_name(row)
        if name is None:
            return None
        b = inference_benchmark(name)
        I, O = (x["value"] if isinstance(x, dict) else x for x in (b["mean_input_tokens"], b["mean_output_tokens"]))
        return {"model": b["model"], "input_len": float(I), "output_len": float(O)}
    if is_paper_llm(row):
        text = (row["workload"] + " " + row["model_config"]).lower()
        preset = next((p for pat, p in PAPER_MODELS if re.search(pat, text)), None)
        I, O = _num(r"(?:input|ISL)=(\d+)", row["model_config"]), _num(r"(?:output|OSL)=(\d+)", row["model_config"])
        return {"model": preset, "input_len": I, "output_len": O} if preset and I else None
    return None


@register("llm_inference")
def map_row(row: dict, fitted: dict | None = None):
    if row["category"] == "mlperf-inf":
        name = mlperf_name(row)
        return None if name is None else _mlperf(row, name, fitted)
    if is_paper_llm(row):
        return _paper(row, fitted)
    return None


def _mlperf(row: dict, name: str, fitted: dict | None = None):
    from ..perf.mlperf import value_of, inference_benchmark, serve_at_scale

    sc = mlperf_scenario(row)
    if sc == "offline" and "interactive" in row["workload"].lower():
        raise SkipRow(f"'{row['workload']}' is an Interactive benchmark: LoadGen runs it in the Server scenario "
                      "only (mlperf.conf *-interactive.Server bounds); an Offline row of it is mislabelled")
    b = inference_benchmark(name)
    chip = system_chip(row, maxq_chip(row, _chip(row), name, sc, "99.9" in row["workload"]))
    n = int(float(row["n_accelerators"]))
    prec = compute_precision(row, chip)
    I = float(value_of(b["mean_input_tokens"]))
    O = float(value_of(b["mean_output_tokens"]))
    beams = int(b.get("beams", 1))
    unit = row["unit"]
    detail = {"precision": prec, "precision_rule": precision_rule(row, chip), "input_len": I, "output_len": O,
              "layout_source": "automatic"}
    if sc in ("offline", "server", "interactive"):
        ttft = tpot = None
        whole = False
        if sc != "offline":
            ttft, tpot, whole = latency_bounds(sc, b)
            if ttft is None:
                raise SkipRow(f"no {sc} latency bounds for {name}")
        per_sample = re.match(r"(samples|queries)/s", unit, flags=re.I)
        if not per_sample and not re.match(r"tokens/s", unit, flags=re.I):
            raise SkipRow(f"unit '{unit}' not handled for {name} {sc}")
        per = O if per_sample else 1.0  # tokens per counted unit
        stack = stack_for_software(row.get("software"))  # None: the default stack
        replicas = harness_replicas(row)  # None: tapeout picks the data parallelism
        # a harness that leaves its server at the stack's defaults: the stack's running-sequence cap
        harness_cap = harness_max_batch(row, stack)  # None: tapeout picks the batch
        pp_fixed = harness_pp(row)  # the harness's base-config pipeline depth; None: tapeout searches PP
        # the headline is tapeout's own layout choice (what a never-built chip gets); where the
        # submission's engine layout is on file (data/mlperf/submission_configs.yaml) the row
        # also carries the prediction at that layout (issue 15: both reported, automatic first)
        r = serve_at_scale(b["model"], chip.id, n, prec, I, O, sc, ttft, tpot, beams=beams, whole_query_bound=whole,
                           dataset=name, fitted=fitted, stack=stack, replicas=replicas, max_batch=harness_cap,
                           pp=pp_fixed)
        lay = submitted_layout(row, name, sc, chip, n)
        if lay:
            rs = serve_at_scale(b["model"], chip.id, n, prec, I, O, sc, ttft, tpot, beams=beams, whole_query_bound=whole,
                                dataset=name, fitted=fitted, stack=stack, **lay)
            detail["at_submitted_layout"] = {**lay, "parallelism": rs.parallelism, "batch": rs.batch_size,
                                             "predicted": rs.output_tokens_per_s / per,
                                             "source": "data/mlperf/submission_configs.yaml"}
        pred = r.output_tokens_per_s
        lo, hi = r.interval_80
        rng = b["mean_input_tokens"].get("range") if isinstance(b["mean_input_tokens"], dict) else None
        if rng:  # an assumed input length: its stated range widens the interval (perf/uncertainty.py)
            from ..perf.mlperf import interval
            from ..perf.uncertainty import sensitivity_sigma

            ends = [serve_at_scale(b["model"], chip.id, n, prec, float(x), O, sc, ttft, tpot, beams=beams,
                                   whole_query_bound=whole, fitted=fitted, stack=stack,
                                   replicas=replicas, max_batch=harness_cap, pp=pp_fixed).output_tokens_per_s
                    for x in rng]
            s_in = sensitivity_sigma(*ends)
            lo, hi = interval(pred, chip, input_sigma=s_in, fitted=fitted, spread=r.kernel_spread)
            detail.update(input_len_range=list(rng), input_sigma=s_in)
        pred, lo, hi = pred / per, lo / per, hi / per
        detail.update(parallelism=r.parallelism, batch=r.batch_size, tpot_s=r.tpot_s, stack=stack or "default",
                      kernel_spread=round(r.kernel_spread, 4))
        if replicas is not None:
            detail["harness_replicas"] = replicas
        if harness_cap is not None:
            detail["harness_max_batch"] = harness_cap
        if pp_fixed is not None:
            detail["harness_pp"] = pp_fixed
        return RowPrediction(pred, unit, name, lo, hi, detail)
    if sc == "singlestream" and "latency" in unit.lower():
        import numpy as np

        from ..perf.loadgen_percentile import loadgen_percentile, scenario_percentile
        from ..perf.beam_prompt import prompt_sharing
        from ..perf.mlperf import interval, singlestream_inputs, step_model
        from ..perf.stacks import kv_beams_share_prompt
        from ..precision import get_precision
        from ..workloads.llm_config import load_llm

        cfg = load_llm(b["model"])
        # beams reading one prompt's KV (perf/beam_prompt.py; switch off by default) at the mean prompt
        share = prompt_sharing(beams, I, kv_beams_share_prompt(stack_for_software(row.get("software"))))
        sm = step_model(cfg, chip, get_precision(prec), min(n, 1) or 1, 1, 1, fitted=fitted, beam_prompt=share)

        def query_s(i: float) -> float:  # one query: prefill of i tokens, O decode steps of `beams` rows
            return sm.linear(i) + sm.attn_prefill(1, i) + O * sm.step(beams, i + O / 2)

        ins = singlestream_inputs(name)
        if ins is None:
            t = query_s(I)
        else:  # LoadGen's p90 over the dataset's prompts (perf/loadgen_percentile.py)
            u, inv = np.unique(ins, return_inverse=True)
            lat = np.array([query_s(float(i)) for i in u])[inv]
            t = float(loadgen_percentile(lat, scenario_percentile("singlestream")))
            detail.update(latency_percentile=scenario_percentile("singlestream"), mean_query_ms=float(lat.mean() * 1e3),
                          mean_input_query_ms=query_s(I) * 1e3, input_len_at_percentile=float(
                              loadgen_percentile(ins, scenario_percentile("singlestream"))))
        pred = t * 1e3
        lo, hi = interval(pred, chip, fitted=fitted, spread=sm.kernel_spread(beams, I + O / 2))
        return RowPrediction(pred, unit, name, lo, hi, detail)
    raise SkipRow(f"scenario '{row['scenario']}' not modelled for LLM rows")


def _paper(row: dict, fitted: dict | None = None):
    from ..perf.mlperf import interval, serve_at_scale, step_model
    from ..precision import get_precision
    from ..workloads.llm_config import load_llm

    text = (row["workload"] + " " + row["model_config"]).lower()
    preset = next((p for pat, p in PAPER_MODELS if re.search(pat, text)), None)
    if preset is None:
        raise SkipRow("model not among the LLM presets")
    chip = _chip(row)
    cfg = load_llm(preset)
    mc = row["model_config"]
    n = int(float(row["n_accelerators"]))
    tp = _num(r"\bTP=(\d+)", mc)
    if tp and "neuroncores" in mc.lower():
        tp = max(1, int(tp) // 2)  # NeuronCores -> chips (2 per chip)
    batch = _num(r"batch=(\d+)", mc)
    I = _num(r"(?:input|ISL)=(\d+)", mc)
    O = _num(r"(?:output|OSL)=(\d+)", mc)
    if I is None:
        raise SkipRow("input length not stated")
    prec = compute_precision(row, chip)
    sc = row["scenario"].lower()
    unit = row["unit"].lower()
    bench = f"paper:{preset}"
    tp = int(tp) if tp else None
    tp_row = tp  # the degree the row states (one model instance spans tp_row chips)
    if tp and (n % tp or cfg.num_attention_heads % tp):
        # e.g. 24 NeuronCores = 12 chips: heads are padded by the vendor; we use the largest
        # power-of-two degree that divides both (stated in the row detail)
        t2 = 1
        while t2 * 2 <= tp and cfg.num_attention_heads % (t2 * 2) == 0 and n % (t2 * 2) == 0:
            t2 *= 2
        tp = t2
    detail = {"precision": prec, "precision_rule": precision_rule(row, chip), "tp": tp, "batch": batch, "input_len": I,
              "output_len": O,
              "layout_source": "submitted" if tp_row else "automatic"}  # vendor table's stated TP
    if "prefill latency" in sc or "first-token" in row["workload"].lower():
        sm = step_model(cfg, chip, get_precision(prec), tp or 1, 1, 1, fitted=fitted)
        t = sm.linear(I * (batch or 1)) + sm.attn_prefill(batch or 1, I)
        pred = t * (1e3 if "ms" in unit else 1.0)
        return RowPrediction(pred, row["unit"], bench, *interval(pred, chip, fitted=fitted), detail)  # a prefill: spread 1 (not evaluated)
    if O is None:
        raise SkipRow("output length not stated")
    static = "static" in sc or "batch" in sc or "real time" in sc or "fixed-batch" in sc
    if static and batch:
        # static batch: prefill all, then O decode steps with growing context
        t_par = tp or n
        sm = step_model(cfg, chip, get_precision(prec), t_par, 1, 1, fitted=fitted)
        b = int(batch)
        t = sm.linear(b * I) + sm.attn_prefill(b, I) + O * sm.step(b, I + O / 2)
        replicas = max(1, n // (tp_row or t_par))
        tput = b * O / t * replicas
        if "latency" in unit or unit.strip() in ("s",):
            pred = t
        elif _per_gpu(row, unit):
            pred = tput / n
        elif "tokens/s" in unit and "output" not in unit and "tok" in unit and "vllm" not in row["software"].lower():
            pred = tput
        else:
            pred = tput
        detail.update(static_batch=b, per_chip=tput / n)  # the per-chip reading of a unit that leaves it open
        if open_unit_reading(row):
            detail["unit_reading"] = f"{open_unit_reading(row)} (data/measured/unit_readings.yaml)"
        return RowPrediction(pred, row["unit"], bench, *interval(pred, chip, fitted=fitted,
                                                                 spread=sm.kernel_spread(b, I + O / 2)), detail)
    if "fixed concurrency" in sc:
        return _closed_loop(row, cfg, chip, n, prec, I, O, tp, unit, bench, detail, fitted)
    if "offline" in sc or "queued" in sc or "infinite" in sc:
        try:
            r = serve_at_scale(cfg, chip, n, prec, I, O, "offline", tp=tp, fitted=fitted,
                               stack=stack_for_software(row.get("software")))
        except TapeoutError as e:  # does not fit / no layout: the model declines the row
            raise SkipRow(f"does not fit: {e}") from None
        pred = r.output_tokens_per_s
        if _per_gpu(row, unit):
            pred /= n
        if "total" in unit and "output" not in unit:
            pred *= (I + O) / O
        detail.update(parallelism=r.parallelism, batch=r.batch_size)
        return RowPrediction(pred, row["unit"], bench, *interval(pred, chip, fitted=fitted, spread=r.kernel_spread), detail)
    raise SkipRow(f"scenario '{row['scenario']}' not modelled")


def _per_gpu(row: dict, unit: str) -> bool:
    """The row's throughput is per accelerator: its unit says so, or data/measured/unit_readings.yaml settles a unit
    the row leaves open (validation/unit_reading.py)."""
    return "per gpu" in unit or "/gpu" in unit or open_unit_reading(row) == "per_gpu"


def _closed_loop(row: dict, cfg, chip, n: int, prec: str, I: float, O: float, tp: int | None, unit: str, bench: str,
                 detail: dict, fitted: dict | None = None):
    """A fixed-concurrency row (AIPerf / genai-perf --concurrency N): N clients, each sending its next request when
    its previous one completes, hold N requests in the engine at every moment: a closed loop, the engine's steady
    state at a batch of N sequences, each new request's prefill interleaved with the running decodes
    (serving_sim.offline_point, the serving engine at a pinned batch). TTFT: the prompt's prefill, after one engine
    step's wait for the iteration boundary with CLOSED_LOOP_ADMISSION_WAIT (no queue beyond it in a closed loop whose N
    fit the engine); ITL: one engine step, the interleaved prefills amortised; output tokens/s: N x O / (TTFT +
    (O - 1) x ITL) (Little's law over the loop; N / ITL with the switch off), as the row lists them; the row's
    measured TTFT / ITL (its notes) sit beside them in the detail."""
    from ..perf.mlperf import interval, serve_at_scale

    N = _num(r"concurrency=(\d+)", row["model_config"])
    if not N:
        raise SkipRow("fixed-concurrency row without concurrency=N in model_config")
    replicas = max(1, n // tp) if tp else 1  # one endpoint over the stated TP; the N clients split over its replicas
    per_replica = int(math.ceil(N / replicas))
    try:
        r = serve_at_scale(cfg, chip, n, prec, I, O, "offline", tp=tp, batch=per_replica, replicas=replicas,
                           fitted=fitted, stack=stack_for_software(row.get("software")))
    except TapeoutError as e:  # N sequences do not fit / no layout: the model declines the row
        raise SkipRow(f"does not fit: {e}") from None
    ttft, itl = r.ttft_s, r.tpot_s
    if CLOSED_LOOP_ADMISSION_WAIT:  # admitted at the next iteration boundary: one step's wait before the prefill
        ttft = itl + r.ttft_s
        # Little's law over the loop: per_replica requests per replica, each in the engine TTFT + (O - 1) x ITL
        per_replica_tps = per_replica * O / (ttft + (O - 1) * itl)
        tps = per_replica_tps * replicas
    else:
        tps = r.output_tokens_per_s
    # with fewer than `replicas` x per_replica clients the last replica runs short: tokens/s scales with N held
    pred = tps * N / (per_replica * replicas)
    if _per_gpu(row, unit):
        pred /= n
    detail.update(parallelism=r.parallelism, batch=r.batch_size, concurrency=int(N), closed_loop=True,
                  ttft_ms=ttft * 1e3, itl_ms=itl * 1e3, prefill_ms=r.ttft_s * 1e3,
                  measured_ttft_ms=_num(r"TTFT ([\d.]+) ms", row.get("notes", "")),
                  measured_itl_ms=_num(r"ITL ([\d.]+) ms", row.get("notes", "")))
    return RowPrediction(pred, row["unit"], bench, *interval(pred, chip, fitted=fitted, spread=r.kernel_spread), detail)
