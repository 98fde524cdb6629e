"""DeepSpeed ZeRO-3 parameter fetches: how many bytes a rank gathers per step, and what of that its
overlapped prefetch cannot hide (docs/notes/issue-18.md, Round stop-42).

What DeepSpeed 0.13 does (deepspeed/runtime/zero/partitioned_param_coordinator.py,
PartitionedParameterCoordinator.fetch_sub_module / release_sub_module; parameter_offload.py):
  * every module's pre-forward (and pre-backward) hook first all-gathers the module's own
    partitioned parameters that are not already available or in flight, then makes the compute
    stream wait for the allgather stream (`current_stream().wait_stream(allgather_stream)`), and only
    then issues the prefetch of the next parameters of the recorded trace (up to
    `stage3_prefetch_bucket_size` numel per call, `stage3_max_live_parameters` in flight);
  * the host issues these hooks ahead of the device (the waits are stream waits, not host waits),
    so the allgather stream runs ahead of the compute as far as the live-parameter budget allows:
    the steady state hides the gathers behind the compute exactly as far as the pass's compute
    covers the pass's gathers, max(0, t_gather - t_compute) per pass, which perf/training.py prices;
  * the first module of a pass has no earlier module whose compute its gather could hide behind:
    its own fetch is issued and waited for before any compute of the pass. In a decoder LM that is
    the input embedding (forward) and the output layer (backward, whose first module is the LM head,
    the last one of the forward).
  * frozen base weights (LoRA, requires_grad False) are partitioned like any other parameter under
    zero.Init (zero3_init_flag) and are gathered the same way; gradients exist only for the adapters.

Gather volume per step (closed form): each rank receives (g - 1) / g of the gathered parameters in
the parameters' dtype once per forward pass and once per backward pass:
    bytes = passes x bytes_per_param x P x (g - 1) / g,  passes = 2 per micro-batch.
With full recompute (HF gradient checkpointing, reentrant) the backward is one gather, not two: a
module's parameters gathered for the recomputed forward are not released when (release_sub_module ->
__params_to_release) the prefetcher has already passed their backward use in the trace (it skips
available parameters for free: `__most_recent_step_id_param_fetched_for[param] > step_id`) or their
next use lies within `stage3_max_reuse_distance` numel of modules (default 1e9; a config "auto" is not
filled by Hugging Face's trainer_config_finalize, which fills only reduce_bucket_size,
stage3_prefetch_bucket_size = 0.9 h^2 and stage3_param_persistence_threshold = 10 h). For a layer
within `stage3_max_live_parameters` (default 1e9; a Llama-2-70B layer is 855.7M) the prefetcher holds
the whole recomputed layer and passes its backward uses, so the recompute's gather serves the backward.

Evaluation passes gather too: an evaluation forward under ZeRO-3 fetches every module's parameters like a
training forward (DeepSpeed keeps a separate coordinator for eval mode, parameter_offload.py
get_param_coordinator(training), with the same fetch / prefetch / release code; PyTorch FSDP and XLA's
sharded weights likewise gather them for any forward). `EVAL_GATHERS` adds to each evaluation micro-batch the
part of its gathers that its forward does not hide (pass_exposed; all of them when the collectives run on the
compute stream, DeepSpeed overlap_comm false). On: the same rule perf/training.py applies to every training
forward; the evaluation passes had no gather at all, which no ZeRO-3 implementation does.

`FIRST_FETCH_EXPOSED` prices the first module's gather of each pass as exposed when the pass's
other gathers are overlapped. Off: it is DeepSpeed's behaviour, but perf/training.py's overlapped
ZeRO-3 branch also prices the XLA (MaxText / Pax) ZeRO-3 runs, whose scheduler is not DeepSpeed's
and which the engine cannot tell apart from a DeepSpeed run without a stack setting; on these rows
it is 0.1-0.3% of the step (see the notes).
"""

from __future__ import annotations

import math

from ..errors import TapeoutError

EVAL_GATHERS = True  # ZeRO-3 evaluation forwards gather the parameters too (see above)
FIRST_FETCH_EXPOSED = False  # first module's gather of each pass exposed (DeepSpeed fetch_sub_module); see above


def _check(name: str, v: float, fix: str, allow_zero: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise TapeoutError(f"zero3_fetch: {name} = {v!r}: {fix}")
    return float(v)


def gather_bytes_per_step(params: float, group: int, passes: float = 2.0, bytes_per_param: float = 2.0) -> float:
    """Bytes one rank receives per micro-batch from ZeRO-3 parameter all-gathers over a group of `group`
    ranks: passes x bytes_per_param x params x (group - 1) / group."""
    _check("params", params, "give the gathered parameter count (>= 0)")
    _check("passes", passes, "give the number of gather passes per micro-batch (>= 0)")
    _check("bytes_per_param", bytes_per_param, "give the gathered dtype's bytes per parameter (> 0)", allow_zero=False)
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise TapeoutError(f"zero3_fetch: group = {group!r}: give the ZeRO-3 shard group size, a whole number >= 1")
    return passes * bytes_per_param * params * (group - 1) / group


def pass_exposed(t_gather: float, t_compute: float, t_first: float = 0.0) -> float:
    """Exposed seconds of one pass whose gathers (`t_gather` in all) run on their own stream beside
    `t_compute` seconds of compute, the first module's `t_first` of them before any compute:
    t_first + max(0, t_gather - t_first - t_compute); t_first 0 is the steady-state overlap
    max(0, t_gather - t_compute). 0 <= result <= t_gather."""
    t = _check("t_gather", t_gather, "give the pass's all-gather time in seconds (>= 0)")
    c = _check("t_compute", t_compute, "give the pass's compute time in seconds (>= 0)")
    f = _check("t_first", t_first, "give the first module's gather time in seconds (>= 0)")
    if f > t:
        raise TapeoutError(f"zero3_fetch: t_first = {t_first!r} exceeds t_gather = {t_gather!r}: the first "
                           f"module's gather is part of the pass's gathers")
    return f + max(0.0, t - f - c)


def first_fetch_exposed(t_gather: float, total_params: float, first_params: float) -> float:
    """Seconds of one pass's gather that nothing hides: the first module's share of a whole-model gather
    of `t_gather` seconds (bandwidth-bound: time in proportion to the parameters). 0 <= result <= t_gather."""
    t = _check("t_gather", t_gather, "give the pass's all-gather time in seconds (>= 0)")
    total = _check("total_params", total_params, "give the gathered parameter count (> 0)", allow_zero=False)
    first = _check("first_params", first_params, "give the first module's parameter count (>= 0)")
    if first > total:
        raise TapeoutError(f"zero3_fetch: first_params = {first_params!r} exceeds total_params = {total_params!r}: "
                           f"the first module is part of the gathered model")
    return t * first / total
