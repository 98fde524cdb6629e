"""Training software stacks as data (data/software/training_stacks.yaml): which features a stack
version ran, each with its source, and which of them the training model acts on.

A stack is selected by the run's software string (case-insensitive substring) and, when the entry
names one, its MLPerf round: the same software name can cover different releases across rounds
("NVIDIA NeMo Framework"). No match: None, and the caller runs the model's defaults.

Wired features (perf/training.train arguments they decide):
  tp_comm_overlap            False drops a submission's userbuffers TP-overlap config (tp_overlap)
  fp8_dot_product_attention  False keeps the attention core BF16 (fp8_attention) whatever asked
  fp8_attention_context_parallel  False runs a CP > 1 layout's ring attention BF16 even under
                             fp8_attention (fp8_attention_cp; Transformer Engine before 1.10)
  distributed_optimizer      True pins ZeRO-1 (zero=1) unless the submission pins its own
  even_pipeline_stages       True: only layouts with the same layers on every pipeline device and
                             virtual stage (even_pipeline; perf/train_layout.even_stages)
  fixed_microbatch_group     True: the interleaved schedule's micro-batch groups are PP wide, so VP > 1
                             needs m a multiple of PP (perf/pipeline_p2p.fixed_group_rule)
  grad_sync_dtype            "fp32" / "bf16": gradient buffer and DP reduce-scatter dtype (grad_sync)
  attention_kernel           the BF16 attention library, an impl of data/calibration/attention_kernels.csv
                             ("cudnn", "fa2", "fa1"): its measured rate vs cuDNN on the chip (attention_kernel);
                             "unfused": Megatron-LM's CoreAttention op by op (perf/unfused_attention.py)
  bf16_optimizer_hp_grads    True: at ZeRO-0 DeepSpeed's BF16_Optimizer adds each micro-batch's BF16 gradients into
                             its FP32 buffer in a pass of its own (bf16_hp_grad_pass; perf/bf16_hp_grads.py)
  attention_dropout          False: the unfused core (attention_kernel "unfused") runs no dropout kernel, the
                             run's attention dropout being 0 (attention_dropout; perf/unfused_attention.py)
  overlap_p2p_comm           interleaved pipeline sends overlapped with the next chunk (overlap_p2p;
                             perf/pipeline_p2p.py): only the fill/drain hops stay exposed
  sequence_parallel          the norms between the TP blocks on the T/TP-token shard (sequence_parallel;
                             perf/sequence_parallel.py)
  dp_bucket                  the DP reduce-scatter / all-gather bucket rule (dp_bucket; perf/dp_buckets.py)
  lm_loss                    the loss kernels over the logits on the last stage (lm_loss; perf/train_loss.py)
  frozen_dy_transpose        a frozen (LoRA) GEMM's output gradient quantized with its transpose too
                             (frozen_dy_transpose; perf/train_recipe.py)
  grad_sync_after_backward   the non-distributed optimizer (ZeRO-0) all-reduces the DP gradients once
                             after the whole backward, not under it (grad_sync_after_backward)
  fp32_master_params         True: the trained parameters are FP32 and the optimizer's master, Adam's moments in
                             their dtype: 4 + gradient + 8 B per parameter (fp32_params; perf/train_memory)
  fp8_reduce_amax            FP8 delayed scaling all-reduces its amaxes over the stage's TP x DP x CP
                             ranks per model chunk per micro-batch (fp8_reduce_amax; perf/fp8_amax.py)
  quantized_gathers          the GEMM modules all-gather their sequence-parallel operands in the recipe's
                             quantized format (quantized_gathers; perf/train_recipe.gather_bytes)
  make_vocab_size_divisible_by  the vocabulary padded to a multiple of this x TP (vocab_divisible_by;
                             perf/vocab_padding.py)
  nccl_max_ctas              the stack's per-communicator NCCL CTA caps: the data-parallel one sizes the
                             cores an overlapped DP / CP collective occupies (comm_ctas;
                             perf/comm_contention.py), the tensor-parallel one those of its async
                             backward collectives (tp_comm_ctas; perf/tp_backward.py), each cap taken as
                             the channel count (assumed to bind; the result's notes show the DP share)
  nccl_default_channels      True: the runs set no NCCL channel cap; an overlapped DP collective holds NCCL's own
                             channel count for the job's ring (nccl_default_channels; perf/nccl_channels.py)
  eager_layer                the layer type (data/software/host_issue.yaml) the stack issues from the CPU
                             when a run captures no CUDA graphs (eager_layer; perf/host_issue.py,
                             perf/train_host.py): set on a run whose layer_cuda_graph, the submission's
                             own record over the stack's, is false
  recompute_methods          the activation-recompute methods the stack runs (recompute_gate;
                             perf/recompute_gate.py): the search tries only those, a pin outside them is refused
  elementwise_chain          the model's RMSNorm / RoPE / SwiGLU run op by op, eagerly: a chain of
                             data/software/eager_elementwise.yaml (elementwise_chain; perf/eager_elementwise.py)
  fp8_scale_update           the Transformer Engine line whose FP8 delayed-scaling update kernels each layer
                             launches per pass: an entry of data/software/fp8_scale_update.yaml
                             (fp8_scale_update; perf/fp8_scale_update.py)
  training_recipe            the training recipe (data/precision/training_recipes.yaml: fp8, fp8current, nvfp4, ...)
                             the stack's submissions trained in: a benchmark run's precision where the user gives
                             none and the chip is one of the stack's `chips` (api/train_settings._run_precision)

A stack may be scoped: `benchmarks` (the MLPerf benchmarks whose submissions ran it; stack_of_round skips it for
any other, and for a caller that names none) and `chips` (the catalog chips its sourced configs ran on; a benchmark
run on another chip does not take it, perf/bench_stack.benchmark_stack). Unscoped stacks hold for every benchmark
and every chip of their vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from ..errors import TapeoutError, unknown_name_error
from ..formats import data_file
from .recompute_gate import gate_of

WIRED = ("tp_comm_overlap", "fp8_dot_product_attention", "fp8_attention_context_parallel", "distributed_optimizer", "even_pipeline_stages",
         "fixed_microbatch_group", "grad_sync_dtype", "attention_kernel", "overlap_p2p_comm", "dp_bucket", "sequence_parallel", "lm_loss",
         "frozen_dy_transpose", "grad_sync_after_backward", "fp8_reduce_amax", "quantized_gathers",
         "make_vocab_size_divisible_by", "eager_layer", "nccl_max_ctas", "nccl_default_channels", "recompute_methods", "elementwise_chain",
         "fp8_scale_update", "attention_probs_saved", "training_recipe", "attention_dropout",
         "bf16_optimizer_hp_grads", "fp32_master_params")


@dataclass(frozen=True)
class TrainingStack:
    name: str
    features: tuple  # ((feature, value, wired), ...)
    source: str = ""
    round: str | None = None  # the MLPerf round whose submissions ran it
    vendor: str = ""  # whose accelerators it runs on (NVIDIA for the NeMo containers)
    layouts: str = ""  # the benchmarks.yaml submission_layouts `stack` kind its runs read ("": nemo on NVIDIA chips, train_rows)
    benchmarks: tuple = ()  # the MLPerf benchmarks whose submissions ran it (): every benchmark
    chips: tuple = ()  # the catalog chips its sourced configs ran on (): every chip of its vendor

    def covers(self, chip_id: str | None) -> bool:
        """Whether the stack's sourced configs ran on `chip_id` (an unscoped stack, or no chip named: True)."""
        return not self.chips or chip_id is None or chip_id.lower() in self.chips

    def value(self, feature: str):
        for f, v, _ in self.features:
            if f == feature:
                return v
        return None

    def unwired(self, run_config: dict | None = None) -> dict:
        """Features on file that the model does not act on (no cost for them yet). `run_config`: what the
        submission's own launch config records for some of them (benchmarks.yaml submission_layouts, e.g. a
        stack whose GPT-3 configs capture layer CUDA graphs while its LoRA configs do not): it replaces the
        stack-wide value of an unwired feature on file; a wired or unknown feature is left to its own path."""
        out = {f: v for f, v, w in self.features if not w}
        out.update({f: v for f, v in (run_config or {}).items() if f in out})
        return out


@lru_cache(maxsize=1)
def stack_table() -> dict:
    return yaml.safe_load(data_file("software", "training_stacks.yaml").read_text())["stacks"]


def _stack(name: str, e: dict) -> TrainingStack:
    feats = []
    for f, spec in e["features"].items():
        if not isinstance(spec, dict) or "value" not in spec or not spec.get("source"):
            raise TapeoutError(f"training stack '{name}' feature '{f}' needs a value and a source "
                               f"(data/software/training_stacks.yaml).")
        wired = bool(spec.get("wired", False))
        if wired and f not in WIRED:
            raise TapeoutError(f"training stack '{name}' marks feature '{f}' wired, but the model acts only on "
                               f"{', '.join(WIRED)}; set wired: false (data/software/training_stacks.yaml).")
        feats.append((f, spec["value"], wired))
    return TrainingStack(name, tuple(feats), " ".join(str(e.get("source", "")).split()), e.get("round"),
                         str(e.get("vendor") or ""), str(e.get("layouts") or ""),
                         tuple(str(b).lower() for b in e.get("benchmarks") or ()),
                         tuple(str(c).lower() for c in e.get("chips") or ()))


def named_stack(name: str) -> TrainingStack:
    """The stack of data/software/training_stacks.yaml named `name` (e.g. nemo-24.04); an unknown name is
    one TapeoutError listing the names."""
    tab = stack_table()
    key = {k.lower(): k for k in tab}.get(name.lower())
    if key is None:
        raise unknown_name_error("training stack (--stack)", name, [*tab, "none"])
    return _stack(key, tab[key])


def stack_of_round(mlperf_round: str, vendor: str | None = None, benchmark: str | None = None,
                   chip_id: str | None = None) -> TrainingStack | None:
    """The stack on file for an MLPerf round (its `round`), of `vendor` when given (a round holds several
    submitters' stacks: NVIDIA's NeMo, JuniperNetworks' DeepSpeed, Intel's Megatron-DeepSpeed), None when
    none is. A stack scoped to `benchmarks` is a candidate only for one of them; one scoped to `chips` only
    on one of them when `chip_id` is given."""
    for name, e in stack_table().items():
        if e.get("round") != mlperf_round or (vendor is not None and str(e.get("vendor", "")).lower() != vendor.lower()):
            continue
        st = _stack(name, e)
        if st.benchmarks and (benchmark is None or benchmark.lower() not in st.benchmarks):
            continue
        if st.covers(chip_id):
            return st
    return None


def stacks_of_benchmark(benchmark: str, vendor: str = "NVIDIA") -> list:
    """The stacks on file scoped to `benchmark` (its `benchmarks` lists it), of `vendor`: what a run on a chip
    none covers is told exists."""
    stacks = (_stack(n, e) for n, e in stack_table().items())
    return [st for st in stacks if st.vendor.lower() == vendor.lower() and benchmark.lower() in st.benchmarks]


def find_stack(software: str, mlperf_round: str | None = None, table: dict | None = None,
               accelerator: str | None = None) -> TrainingStack | None:
    """The stack whose software strings occur in `software` (and whose round, if it names one, is
    `mlperf_round`, and whose vendor, if it names one, is in `accelerator` when that is given: a bare
    "PyTorch 2.0.1a0" names Habana's stack only on an Intel accelerator); None when none is on file.
    `table`: stacks in the data file's form (tests)."""
    sw = (software or "").lower()
    for name, e in (stack_table() if table is None else table).items():
        if e.get("round") is not None and e["round"] != mlperf_round:
            continue
        if accelerator is not None and e.get("vendor") and str(e["vendor"]).lower() not in accelerator.lower():
            continue
        if any(s.lower() in sw for s in e["software"]):
            return _stack(name, e)
    return None


def feature_source(stack: TrainingStack, feature: str) -> str:
    """The source on file for one of a stack's features ("" when the stack does not name the feature)."""
    spec = (stack_table().get(stack.name) or {}).get("features", {}).get(feature)
    return " ".join(str(spec["source"]).split()) if isinstance(spec, dict) else ""


def _flag(stack: TrainingStack, feature: str) -> bool:
    """A yes/no feature's value; a string such as 'false' would read as true under bool()."""
    v = stack.value(feature)
    if not isinstance(v, bool):
        raise TapeoutError(f"training stack '{stack.name}' feature '{feature}' must be true or false, got {v!r} "
                           f"(data/software/training_stacks.yaml).")
    return v


def _ctas(caps, comm: str = "dp") -> int | None:
    """A communicator's CTA cap in a stack's `nccl_max_ctas` ({dp: n, tp: n, ...}): the data-parallel one
    is required, another one None where the stack does not cap it."""
    if not isinstance(caps, dict) or (comm == "dp" and caps.get("dp") is None):
        raise TapeoutError(f"nccl_max_ctas = {caps!r}: give a mapping with dp: <CTAs of the data-parallel communicator, "
                           f"an integer >= 0> (data/software/training_stacks.yaml).")
    v = caps.get(comm)
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
        raise TapeoutError(f"nccl_max_ctas {comm} = {v!r}: give the CTAs of the {comm} communicator, an integer >= 0 "
                           f"(data/software/training_stacks.yaml).")
    return v


def stack_settings(stack: TrainingStack | None, pins: dict, settings: dict, fp8_attention: bool,
                   records: dict | None = None) -> tuple:
    """Apply a stack's wired features to a run: (pins, settings, fp8_attention), `settings` being
    perf/training.train keywords (tp_overlap, even_pipeline, ...). The submission's layout pins win
    over the stack's optimizer default; None stack: unchanged. `records`: what the submission's own
    config records (layer_cuda_graph); an eager run (false there, else in the stack) gets the stack's
    eager_layer."""
    if stack is None:
        return pins, settings, fp8_attention
    pins, settings = dict(pins), dict(settings)
    if (records or {}).get("layer_cuda_graph", stack.value("layer_cuda_graph")) is False \
            and stack.value("eager_layer") is not None:
        settings["eager_layer"] = stack.value("eager_layer")
    if stack.value("tp_comm_overlap") is False:
        settings.pop("tp_overlap", None)
    if stack.value("fp8_dot_product_attention") is False:
        fp8_attention = False
    if stack.value("fp8_attention_context_parallel") is not None:
        settings["fp8_attention_cp"] = _flag(stack, "fp8_attention_context_parallel")
    if stack.value("distributed_optimizer") is True:
        pins.setdefault("zero", 1)
    if stack.value("even_pipeline_stages") is True:
        settings["even_pipeline"] = True
    if stack.value("fixed_microbatch_group") is not None:
        settings["fixed_microbatch_group"] = _flag(stack, "fixed_microbatch_group")
    if stack.value("grad_sync_dtype") is not None:
        settings["grad_sync"] = stack.value("grad_sync_dtype")
    if stack.value("overlap_p2p_comm") is not None:
        settings["overlap_p2p"] = _flag(stack, "overlap_p2p_comm")
    if stack.value("sequence_parallel") is not None:
        settings["sequence_parallel"] = _flag(stack, "sequence_parallel")
    if stack.value("frozen_dy_transpose") is not None:
        settings["frozen_dy_transpose"] = _flag(stack, "frozen_dy_transpose")
    if stack.value("grad_sync_after_backward") is not None:
        settings["grad_sync_after_backward"] = _flag(stack, "grad_sync_after_backward")
    if stack.value("fp32_master_params") is not None:
        settings["fp32_params"] = _flag(stack, "fp32_master_params")
    if dict((f, w) for f, _, w in stack.features).get("fp8_reduce_amax"):  # wired only where the run's env is on file
        settings.setdefault("fp8_reduce_amax", _flag(stack, "fp8_reduce_amax"))  # a submission's own config wins
    if stack.value("quantized_gathers") is not None:
        settings["quantized_gathers"] = _flag(stack, "quantized_gathers")
    if stack.value("dp_bucket") is not None:
        settings["dp_bucket"] = stack.value("dp_bucket")
    if stack.value("lm_loss") is not None:
        settings["lm_loss"] = stack.value("lm_loss")
    if stack.value("make_vocab_size_divisible_by") is not None:
        settings["vocab_divisible_by"] = stack.value("make_vocab_size_divisible_by")
    if dict((f, w) for f, _, w in stack.features).get("nccl_max_ctas"):
        settings["comm_ctas"] = _ctas(stack.value("nccl_max_ctas"))
        # the TP communicator's cap: the cores its async backward collectives take (perf/tp_backward)
        settings["tp_comm_ctas"] = _ctas(stack.value("nccl_max_ctas"), "tp")
    if stack.value("nccl_default_channels") is not None:
        settings["nccl_default_channels"] = _flag(stack, "nccl_default_channels")
    if dict((f, w) for f, _, w in stack.features).get("attention_kernel"):
        settings["attention_kernel"] = stack.value("attention_kernel")
    if stack.value("attention_probs_saved") is not None:  # Habana FusedSDPA's recompute flag (perf/fused_sdpa)
        settings["attention_probs_saved"] = _flag(stack, "attention_probs_saved")
    if stack.value("bf16_optimizer_hp_grads") is not None:  # DeepSpeed BF16_Optimizer's FP32 add (perf/bf16_hp_grads)
        settings["bf16_hp_grad_pass"] = _flag(stack, "bf16_optimizer_hp_grads")
    if stack.value("attention_dropout") is not None:  # an unfused core's dropout kernel (perf/unfused_attention)
        settings["attention_dropout"] = _flag(stack, "attention_dropout")
    if stack.value("elementwise_chain") is not None:
        settings["elementwise_chain"] = stack.value("elementwise_chain")
    if dict((f, w) for f, _, w in stack.features).get("fp8_scale_update"):
        settings["fp8_scale_update"] = stack.value("fp8_scale_update")
    gate = gate_of(stack.name, stack.value("recompute_methods"))
    if gate is not None:
        settings["recompute_gate"] = gate
    return pins, settings, fp8_attention
