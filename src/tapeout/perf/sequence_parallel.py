"""Sequence parallelism in the training step (Korthikanti et al. 2022, arXiv:2205.05198, sec. 4.2.2).

Tensor parallelism shards the attention and MLP blocks; the token-wise ops between them (the
layer norms, dropout, the residual add) see the whole T x h activation on every TP rank. With
sequence parallelism each TP rank runs them on its own T/TP-token shard instead, and every TP
all-reduce becomes a reduce-scatter (into the shard) plus an all-gather (out of it): the same
2 (g-1)/g S ring bytes as the all-reduce it replaces, so the collective's volume is unchanged
and only the ops between the blocks shrink.

Which ops of the serving graph (workloads/llm.py) sit on the shard (Megatron-Core GPT with
sequence_parallel=True, TransformerLayer / GPTModel):
  attn_norm, mlp_norm, moe_norm  the input norms of the attention and MLP/MoE blocks (TE
                                 LayerNormLinear / LayerNormMLP normalise the local shard, then
                                 all-gather the normalised activation into the GEMM)
  final_norm                     the decoder's final norm, before the output layer's all-gather
                                 (ColumnParallelLinear with sequence_parallel gathers its input)
The residual adds run on the shard already (perf/training.py, `residual_add`). The LM head and
the loss stay vocab-parallel over all T tokens (vocab_parallel_cross_entropy); the attention
core, the GEMMs and the activation sit inside the TP-sharded blocks; the MoE router is a GEMM
(left as the graph builds it).

MaxText shards the same ops over its tensor axis by the hidden dimension instead of the
sequence (base.yml logical_axis_rules: ['activation_embed', 'tensor'], ['norm', 'tensor']):
T x h/TP elements per rank, the same per-rank work.
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import Elementwise, OpGraph

# token-wise ops of workloads/llm.py between the TP-sharded blocks (see the module docstring)
SEQUENCE_PARALLEL_OPS = ("attn_norm", "mlp_norm", "moe_norm", "final_norm")


def shard_sequence(g: OpGraph, tp: int) -> OpGraph:
    """`g` with its token-wise ops between the TP blocks on the T/TP-token shard of one TP rank
    (Megatron sequence parallelism). tp <= 1: `g` unchanged."""
    if tp <= 1:
        return g
    ops = [replace(op, elems=op.elems / tp) if isinstance(op, Elementwise) and op.name in SEQUENCE_PARALLEL_OPS else op
           for op in g.ops]
    return OpGraph(name=g.name, ops=ops, meta=g.meta)
