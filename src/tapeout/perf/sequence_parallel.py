"""Sequence parallelism in the training step (Korthikanti et al. 2022, arXiv:2205.05198, sec. 4.2.2).

Tensor parallelism shards the attention and MLP blocks; the token-wise ops between them (the
layer norms, dropout, the residual add) see the whole T x h activation on every TP rank. With
sequence parallelism each TP rank runs them on its own T/TP-token shard instead, and every TP
all-reduce becomes a reduce-scatter (into the shard) plus an all-gather (out of it): the same
2 (g-1)/g S ring bytes as the all-reduce it replaces, so the collective's volume is unchanged
and only the ops between the blocks shrink.

What changes is the algorithm that moves those bytes (`tp_allreduce_time`). Megatron-Core's
sequence-parallel regions call torch.distributed reduce_scatter_tensor / all_gather_into_tensor
(megatron/core/tensor_parallel/mappings.py _reduce_scatter_along_first_dim /
_gather_along_first_dim; TE's own reduce_scatter_along_first_dim / gather_along_first_dim the
same), i.e. NCCL ReduceScatter and AllGather, never an AllReduce. On an NVSwitch node NCCL offers
NVLink SHARP for all-reduce (NCCL >= 2.17), but the measured NCCL reduce-scatter and all-gather of
8 H200 ran Ring (data/measured/microbenchmarks.csv MB-0136 / MB-0137: 361 / 363 GB/s busbw, algo
Ring, beside 480 GB/s NVLS all-reduce, MB-0134), so each is priced as the library's ring
(collectives.library_time: ring for reduce-scatter / all-gather). Transformer Engine userbuffers,
when they overlap these collectives, move them with point-to-point copies (ring exchange /
pipelined chunks), not in-switch reduction either. Only for NCCL systems (Topology.nccl);
other libraries keep the all-reduce the topology offers (each half is half of it).

The gathered tensors need not be BF16 (`TPComm`, `tp_block_comm`): the reduce-scatter sums BF16
partial outputs, but Transformer Engine's FP8 modules gather what their FP8 GEMM reads, quantized
on the T/TP shard first: the norm-fed GEMM's input (LayerNormLinear / LayerNormMLP write the norm
output in FP8 and gather it, forward and again for the wgrad) and a row-parallel GEMM's dY
(grad_output_preprocess casts, then gathers). Which gathers are quantized is the recipe's
(perf/train_recipe.gather_bytes) and whether the stack's modules do it the stack's
(StackFeatures.quantized_gathers).

Which ops of the serving graph (workloads/llm.py) sit on the shard (Megatron-Core GPT with
sequence_parallel=True, TransformerLayer / GPTModel):
  attn_norm, mlp_norm, moe_norm  the input norms of the attention and MLP/MoE blocks (TE
                                 LayerNormLinear / LayerNormMLP normalise the local shard, then
                                 all-gather the normalised activation into the GEMM)
  final_norm                     the decoder's final norm, before the output layer's all-gather
                                 (ColumnParallelLinear with sequence_parallel gathers its input)
The residual adds run on the shard already (perf/residual_ops.py; all T tokens without SP). The LM head and
the loss stay vocab-parallel over all T tokens (vocab_parallel_cross_entropy); the attention
core, the GEMMs and the activation sit inside the TP-sharded blocks; the MoE router is a GEMM
(left as the graph builds it).

MaxText shards the same ops over its tensor axis by the hidden dimension instead of the
sequence (base.yml logical_axis_rules: ['activation_embed', 'tensor'], ['norm', 'tensor']):
T x h/TP elements per rank, the same per-rank work.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..ops import Elementwise, OpGraph
from .collectives import collective_time, library_time

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


# TPComm's fields, the parts of one TP block's collectives
TP_PARTS = ("reduce_scatter", "gather_input", "gather_grad", "reduce_scatter_quantized")


@dataclass(frozen=True)
class TPComm:
    """Seconds of one TP block's collectives (attention or MLP), each as the stack runs it:
      reduce_scatter  the BF16 partial sums after the row-parallel GEMM (forward) and after the
                      column-parallel dgrad GEMM (backward)
      gather_input    the column-parallel GEMM's input (forward; again in the backward for the
                      wgrad GEMM of trained weights)
      gather_grad     the row-parallel GEMM's output gradient dY (backward, before its dgrad)
      reduce_scatter_quantized  the forward reduce-scatter when the row-parallel GEMM writes its output
                      quantized into an FP8 userbuffer (TE `fp8_buf` pipeline slot, perf/tp_overlap.py):
                      each peer's chunk crosses the link in FP8 and is summed into BF16 locally
    Without sequence parallelism the block's all-reduce stands in for both forward halves
    (`halves`); there is no dY gather then (perf/tp_backward.py)."""

    reduce_scatter: float = 0.0
    gather_input: float = 0.0
    gather_grad: float = 0.0
    reduce_scatter_quantized: float | None = None  # None: the BF16 reduce_scatter

    def __post_init__(self):
        if self.reduce_scatter_quantized is None:
            object.__setattr__(self, "reduce_scatter_quantized", self.reduce_scatter)

    @property
    def forward(self) -> float:
        """The forward collective: reduce-scatter + all-gather (or the all-reduce split in two)."""
        return self.reduce_scatter + self.gather_input

    @classmethod
    def halves(cls, c: float) -> "TPComm":
        """A collective of c seconds split evenly into its reduce-scatter and all-gather halves,
        every gather moving the reduced tensor's own bytes."""
        return cls(c / 2.0, c / 2.0, c / 2.0, c / 2.0)


def tp_block_comm(S: float, group: int, topo, sequence_parallel: bool, input_bytes: float = 1.0,
                  grad_bytes: float = 1.0, output_bytes: float = 1.0) -> TPComm:
    """One TP block's collectives (S: bytes per rank of the BF16 activation the block reduces,
    over `group` ranks). Under sequence parallelism on NCCL a ring reduce-scatter of S and ring
    all-gathers of the gathered tensors (module docstring); on other libraries each half is half
    the topology's all-reduce of its bytes. `input_bytes` / `grad_bytes`: size of the gathered
    input X / output gradient dY per element relative to BF16 (below 1 when the stack gathers them
    quantized: perf/train_recipe.gather_bytes); `output_bytes`: the row-parallel GEMM's output as a
    quantized userbuffer holds it (`reduce_scatter_quantized`, the same reduce-scatter of S x output_bytes:
    TE userbuffers.cu `userbuffers_fp16_sum_inplace_gpu_rr_rs_oop_fp8` loads each peer's FP8 lines and
    writes the half-precision sum, so the link carries 1 B per element). Without sequence parallelism: the all-reduce of S,
    in halves (nothing is gathered, so the dtypes do not act)."""
    if group <= 1:
        return TPComm()
    if not sequence_parallel:
        return TPComm.halves(float(collective_time("all_reduce", S, group, topo)[0]))
    if topo.nccl:  # queued: issued inside the step, host ahead of the device (collective_launch.yaml)
        def ag(b):
            return float(library_time("all_gather", S * b, group, topo, launch="queued")[0])
        def rs(b):
            return float(library_time("reduce_scatter", S * b, group, topo, launch="queued")[0])
        return TPComm(rs(1.0), ag(input_bytes), ag(grad_bytes), rs(output_bytes))

    def half(b):
        return float(collective_time("all_reduce", S * b, group, topo)[0]) / 2.0
    return TPComm(half(1.0), half(input_bytes), half(grad_bytes), half(output_bytes))


def tp_allreduce_time(S: float, group: int, topo, sequence_parallel: bool) -> float:
    """Seconds of one tensor-parallel all-reduce of the graph (S bytes per rank over `group` ranks)
    as the training stack runs it, every tensor in BF16: under sequence parallelism on NCCL a
    reduce-scatter plus an all-gather of the same S at the library's algorithm (module docstring);
    otherwise the topology's all-reduce."""
    return tp_block_comm(S, group, topo, sequence_parallel).forward
