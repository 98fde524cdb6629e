"""Tensor-parallel collectives of the backward pass when no userbuffers overlap them: which of
them the stack runs asynchronously behind a GEMM (Megatron-Core / Transformer Engine on NCCL).

Each TP block (attention, MLP) has a column-parallel GEMM (QKV, FC1) and a row-parallel one
(proj, FC2). The forward graph carries one TP collective per block, of time c (an all-reduce, or
under sequence parallelism a reduce-scatter + all-gather, each c/2: perf/sequence_parallel.py).
The backward as the stacks run it:

  sequence parallel   row-parallel GEMM: its dY is all-gathered before the dgrad GEMM, blocking.
                      column-parallel GEMM, weights trained: the all-gather of the saved input for the
                      wgrad GEMM is launched async and waited after the dgrad GEMM, and the dgrad
                      reduce-scatter is launched async and waited after the wgrad GEMM: each
                      exposed only beyond that GEMM. Frozen weights: no re-gather, and the
                      reduce-scatter is waited right after the dgrad (exposed).
                      In BF16 each is c/2; the gathers move the bytes the stack gathers (FP8 under
                      Transformer Engine's FP8 recipe: sequence_parallel.TPComm, train_recipe.gather_bytes).
  no sequence parallel  row-parallel GEMM: dY is replicated, no collective. Column-parallel GEMM:
                      the dgrad all-reduce runs async behind the wgrad GEMM (c beyond it); frozen
                      weights: exposed (c).

Sources: Transformer Engine 1.x transformer_engine/pytorch/module/layernorm_linear.py
`_LayerNormLinear.backward` ("Overlap input AG with dgrad": gather_along_first_dim(ln_out,
async_op=True) only `if weight.requires_grad`; "Overlap dgrad-RS/AR with wgrad":
reduce_scatter_along_first_dim / allreduce(dgrad, async_op=True), handle.wait() after the wgrad
GEMM) and linear.py `_Linear.backward` (the same); base.py grad_output_preprocess gathers a
row-parallel GEMM's dY synchronously under sequence parallelism. Megatron-Core
LinearWithGradAccumulationAndAsyncCommunication.backward runs the same schedule ("rely on
CUDA_DEVICE_MAX_CONNECTIONS=1 to ensure the reduce scatter is scheduled before the weight
gradient computation"). A GEMM's dgrad and wgrad do the forward GEMM's FLOPs, so the forward
GEMM time stands for each. The SMs the hidden collective occupies are charged through the
stack's CTA share (perf/comm_contention.py).
"""

from __future__ import annotations

from .comm_contention import contended_exposure
from .sequence_parallel import TPComm

# (the block's TP collective, its column-parallel GEMM): workloads/llm.py op names
BLOCKS = (("attn_allreduce", "qkv_proj"), ("mlp_allreduce", "mlp_gate_up"))


def _behind(c: float, g: float, share: float) -> float:
    """Exposed part of a collective of c seconds run async beside a GEMM of g seconds."""
    return float(contended_exposure(max(0.0, c - g), c, share))


def backward_tp_exposed(gemm: dict, coll: dict, sequence_parallel: bool, trains_weights: bool,
                        share: float = 0.0) -> float:
    """Exposed seconds of one layer's backward TP collectives. `gemm`: forward time of each
    column-parallel GEMM by name; `coll`: each block's collectives by the name of its forward
    collective (sequence_parallel.TPComm: the dY and input gathers at the bytes the stack gathers)."""
    t = 0.0
    for cname, gname in BLOCKS:
        c, g = coll.get(cname, TPComm()), gemm.get(gname, 0.0)
        if c.forward <= 0.0:
            continue
        if not sequence_parallel:  # the dgrad all-reduce, the forward's own
            t += _behind(c.forward, g, share) if trains_weights else c.forward
            continue
        t += c.gather_grad  # row-parallel dY all-gather, blocking
        if trains_weights:  # input re-gather behind the dgrad GEMM, reduce-scatter behind the wgrad GEMM
            t += _behind(c.gather_input, g, share) + _behind(c.reduce_scatter, g, share)
        else:
            t += c.reduce_scatter
    return t
