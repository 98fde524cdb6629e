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

NVIDIA's own code has such a path too: modeling.py FastUnpadBertAttention (BertLayer picks it under --unpad without
--unpad_fmha / --pad_fmha; run_pretraining.py turns --fused_mha off under --unpad), whose FastUnpadBertSelfAttention
(mha.py, training_results_v3.1 @f33f944 xFusion/benchmarks/bert/implementations/pytorch/mha.py, NVIDIA's file) runs
bmm1 (each sequence's seqlen x seqlen scores per head, the scale fused), FastMaskSoftmax (the mask fused) and, with
--enable_fuse_dropout at its default False, a separate nn.Dropout over the scores, then bmm2: the same core, over the
row's sequences at their mean real length (unpadded_core_shape, a lower bound), the dropout torch's CUDA kernel. Which
configs: bert_train.config_settings `attention: fast_unpad` (switch FAST_UNPAD_ATTENTION).

UNFUSED_BERT_ATTENTION: on. Source-pinned (both frameworks' modeling.py; packed mode), and it replaces a
fused-kernel price the Habana stacks never ran; see docs/notes/issue-18.md, round stop-37 (issue-39a), for
the rows as they came out. Off: every stack's BERT attention is the fused, per-sequence Attention op.
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import Attention, OpGraph
from ..perf.unfused_attention import core_attention_ops

UNFUSED_BERT_ATTENTION = True
# NVIDIA-code configs on the FastUnpadBertAttention path (bert_train.config_settings `attention: fast_unpad`: Krai's
# 2 x A5000, xFusion's L4 / L40 / L40S): the same op-by-op core per sequence; see the note below and
# docs/notes/issue-18.md round stop-42 (issue-64c). Off: those rows keep the fused per-sequence kernel.
FAST_UNPAD_ATTENTION = True


def packed_core_shape(per_chip_batch: int, max_seq_len: int, sequences_per_pack: float) -> tuple[float, int]:
    """(packs per chip, slots per pack) of a packed-data BERT step: per_chip_batch sequences in packs of
    max_seq_len slots, sequences_per_pack sequences per pack on average."""
    return per_chip_batch / sequences_per_pack, max_seq_len


def unpadded_core_shape(per_chip_batch: int, seq_len: int) -> tuple[float, int]:
    """(blocks per chip, tokens per block) of an unpadded per-sequence core (FastUnpadBertSelfAttention: bmm1 writes
    each sequence's own seqlen x seqlen scores per head): per_chip_batch sequences of the graph's seq_len (the mean
    real length). A lower bound: the scores grow with the mean of the squared lengths, not the square of the mean."""
    return float(per_chip_batch), seq_len


def as_stream(op):
    """The dropout forward as a pure stream at the chip's memory rate: its measured Philox share
    (perf/memory_kernels.dropout_forward_share) is torch's CUDA kernel on an A100, not a TPC kernel."""
    return replace(op, stream_share=1.0) if getattr(op, "stream_share", 1.0) != 1.0 else op


def unfused_attention_split(g: OpGraph, packs: float, slots: int, dropout: bool = True,
                            stream_dropout: bool = True) -> tuple[OpGraph, OpGraph, OpGraph]:
    """(forward graph with the unfused core in place of each fused Attention op, the graph without the
    core, the core's backward ops) of BERT graph `g`: `packs` packs of `slots` slots per chip, the
    Attention op's heads and head dim. `stream_dropout`: the dropout forward as a pure stream (a non-CUDA
    stack, as_stream); False keeps torch's CUDA kernel's measured Philox share."""
    fwd, rest, bwd = [], [], []
    for op in g.ops:
        if not isinstance(op, Attention):
            fwd.append(op)
            rest.append(op)
            continue
        f, b = core_attention_ops(op.name, op.count, 1, slots, packs * op.heads, op.d_qk, dropout=dropout, causal=False)
        fwd += [as_stream(o) for o in f] if stream_dropout else f
        bwd += [as_stream(o) for o in b] if stream_dropout else b
    return (replace(g, name=f"{g.name}:unfused", ops=fwd), replace(g, name=f"{g.name}:no_core", ops=rest),
            OpGraph(f"{g.name}:core_bwd", bwd, g.meta))


__all__ = ["FAST_UNPAD_ATTENTION", "UNFUSED_BERT_ATTENTION", "as_stream", "packed_core_shape", "unfused_attention_split",
           "unpadded_core_shape"]
