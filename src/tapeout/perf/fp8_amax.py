"""FP8 delayed scaling's amax all-reduce (Transformer Engine `reduce_amax`): its time per training step.

Under TE DelayedScaling with reduce_amax (NeMo `reduce_amax: FP8_REDUCE_AMAX`) the amaxes of every FP8
tensor of an fp8_autocast region are packed into one buffer and MAX all-reduced over the amax group
once at the region's exit (forward) and once in the backward of its first FP8 module
(transformer_engine/pytorch/fp8.py FP8GlobalStateManager.reduce_and_update_fp8_tensors(forward=True /
False), TE 1.x; the backward call sits in each module's backward behind `reduce_and_update_bwd_fp8_tensors`).
Megatron wraps one region around the layers of each model chunk per micro-batch (TransformerBlock
forward under fp8_autocast), and the group is the stage's tensor x data (x context) parallel ranks
(Megatron-Core parallel_state.get_amax_reduction_group(with_context_parallel=True)). The all-reduce is
issued with async_op=False on the compute stream: the next kernels wait for it, so it is exposed whole
on every micro-batch slot of the pipeline schedule. The buffer is a few kB (one fp32 per FP8 tensor):
the collective is latency-bound, priced by the system's collective model (perf/collectives.py), so a
chip never seen gets it from its own scale-up / scale-out latency and the run's group size.
"""

from __future__ import annotations

from ..errors import TapeoutError
from .collectives import collective_time

# FP8 tensors with an amax per GEMM of an FP8 layer: forward input, weight, output; backward grad-output,
# grad-input (TE fp8_meta "scaling_fwd" 3 and "scaling_bwd" 2 entries per GEMM); 4 GEMMs per layer
# (QKV, attention projection, FC1, FC2)
AMAX_PER_LAYER = 4 * 3


def amax_allreduce_per_step(slots: float, vp: int, layers_per_chunk: float, group: int, topo) -> float:
    """Seconds per step of the blocking amax all-reduces on the slowest device: one forward and one
    backward all-reduce per model chunk per pipeline slot (m + (p-1)/v slots), each over `group` ranks."""
    if slots <= 0 or vp < 1 or layers_per_chunk <= 0:
        raise TapeoutError(f"amax all-reduce needs slots > 0, vp >= 1 and layers per chunk > 0; got slots={slots}, "
                           f"vp={vp}, layers_per_chunk={layers_per_chunk} (pass the pipeline schedule of the run).")
    if group <= 1:
        return 0.0
    t = float(collective_time("all_reduce", 4.0 * AMAX_PER_LAYER * layers_per_chunk, int(group), topo)[0])
    return slots * 2.0 * vp * t
