"""The MLPerf BERT attention core of a stack without a fused attention kernel: Habana's BERT on Gaudi.

Habana's MLPerf BERT (TensorFlow and PyTorch) runs BERT's attention op by op, scores materialised:
- TensorFlow (HabanaAI/Model-References TensorFlow/nlp/bert/modeling.py @6450b9c `attention_layer`, the
  Google BERT code): tf.matmul(query, key, transpose_b=True), scale, `+= adder` (the mask), tf.nn.softmax,
  dropout(attention_probs_dropout_prob), tf.matmul(probs, value), transpose back;
- PyTorch (Model-References PyTorch/nlp/bert/pretraining/modeling.py @825d681 `BertSelfAttention.forward`):
  torch.matmul(query, key), scale, `+ attention_mask`, softmax, dropout, torch.matmul(probs, value),
  permute(...).contiguous().
Both run packed data (other_benchmarks.yaml bert_train.padding_free: Habana's packed dataset mode, TF
--enable_packed_data_mode --avg_seq_per_pack=2): a pack of max_seq_len (512) slots holds sequences_per_pack
sequences on average and the block-diagonal mask separates them, so every pack's scores span all 512 x 512
slot pairs, whatever its sequences' lengths. One step's core per chip is that of
per_chip_batch / sequences_per_pack packs of 512 slots: the same ops as Megatron-LM's CoreAttention
(perf/unfused_attention.core_attention_ops: batched QK^T GEMM, softmax with scale and mask, dropout,
batched PV GEMM, the context copy; backward their autograd), each priced by perf/opcost.py like any GEMM
(MME) or memory-bound kernel (TPC) of the chip; the dropout forward as a pure stream (its measured Philox
share is a CUDA kernel's on an A100). Nothing is fitted. Which vendors' stacks run it:
bert_train.unfused_attention_vendors.

UNFUSED_BERT_ATTENTION: on. Source-pinned (both frameworks' modeling.py; packed mode), and it replaces a
fused-kernel price the Habana stacks never ran; see docs/notes/issue-18.md, round stop-37 (issue-39a), for
the rows as they came out. Off: every stack's BERT attention is the fused, per-sequence Attention op.
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import Attention, OpGraph
from ..perf.unfused_attention import core_attention_ops

UNFUSED_BERT_ATTENTION = True


def packed_core_shape(per_chip_batch: int, max_seq_len: int, sequences_per_pack: float) -> tuple[float, int]:
    """(packs per chip, slots per pack) of a packed-data BERT step: per_chip_batch sequences in packs of
    max_seq_len slots, sequences_per_pack sequences per pack on average."""
    return per_chip_batch / sequences_per_pack, max_seq_len


def as_stream(op):
    """The dropout forward as a pure stream at the chip's memory rate: its measured Philox share
    (perf/memory_kernels.dropout_forward_share) is torch's CUDA kernel on an A100, not a TPC kernel."""
    return replace(op, stream_share=1.0) if getattr(op, "stream_share", 1.0) != 1.0 else op


def unfused_attention_split(g: OpGraph, packs: float, slots: int,
                            dropout: bool = True) -> tuple[OpGraph, OpGraph, OpGraph]:
    """(forward graph with the unfused core in place of each fused Attention op, the graph without the
    core, the core's backward ops) of BERT graph `g`: `packs` packs of `slots` slots per chip, the
    Attention op's heads and head dim."""
    fwd, rest, bwd = [], [], []
    for op in g.ops:
        if not isinstance(op, Attention):
            fwd.append(op)
            rest.append(op)
            continue
        f, b = core_attention_ops(op.name, op.count, 1, slots, packs * op.heads, op.d_qk, dropout=dropout, causal=False)
        fwd += [as_stream(o) for o in f]
        bwd += [as_stream(o) for o in b]
    return (replace(g, name=f"{g.name}:unfused", ops=fwd), replace(g, name=f"{g.name}:no_core", ops=rest),
            OpGraph(f"{g.name}:core_bwd", bwd, g.meta))


__all__ = ["UNFUSED_BERT_ATTENTION", "as_stream", "packed_core_shape", "unfused_attention_split"]
