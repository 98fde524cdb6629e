"""The attention core of a stack without a fused attention kernel: Megatron-LM's CoreAttention.

Megatron-LM CoreAttention.forward (megatron/model/transformer.py, NVIDIA/Megatron-LM @00baee46; the
same sequence as the 2022 code Korthikanti et al. 2022, arXiv:2205.05198, timed) runs, per rank
holding a/t heads of head dim d, for b sequences of s tokens (E = b a/t s^2 score elements):
  scores  = torch.baddbmm(Q, K^T)       batched GEMM [b a/t] x (s x d) @ (d x s): every s x s score,
                                        the causal mask does not skip work (Appendix A counts 2 B s^2 h)
  probs   = FusedScaleMaskSoftmax       one kernel (scaled_upper_triang_masked_softmax): read E, write E
  probs   = attention_dropout(probs)    torch dropout: read E, write E and its 1-byte mask
  context = torch.bmm(probs, V)         batched GEMM (s x s) @ (s x d)
  context.permute(2, 0, 1, 3).contiguous()  one copy of the b s a/t d context
The 5 a s / h bytes per token Korthikanti's Table 2 saves for these (2 E softmax output, E mask,
2 E dropout output) are the same tensors. Backward (autograd of the same ops): the bmm's two
gradient GEMMs, dropout's (read grad and mask, write grad), the softmax's (read output and grad,
write grad: scaled_upper_triang_masked_softmax_backward), baddbmm's two gradient GEMMs, the copy's.
Every op is priced by perf/opcost.py like any GEMM or memory-bound kernel of the chip: nothing
here is fitted. 16-bit activations (bf16 / fp16 mixed precision; the mask is torch.bool).

Two kernel facts refine the bytes and the rate (switches below; round stop-36, docs/notes/issue-18.md):
- CAUSAL_SOFTMAX: a causal (GPT) core at s <= 2048 runs scaled_upper_triang_masked_softmax
  (megatron/model/fused_softmax.py FusedScaleMaskSoftmax.is_kernel_available: fp16 / bf16,
  16 < sk <= 2048, AttnMaskType.causal). Its warp per score row i loads only the row's first i + 1
  scores, a 4-wide vector per lane (megatron/fused_kernels/scaled_upper_triang_masked_softmax.h,
  NVIDIA/Megatron-LM: `if (element_index < batch_element_count) copy_vector<.., 4>`), and writes the
  whole row (zeros past i). Summed over the rows that reads (s + 4) / 2s of E forward, and of each
  of grad and output backward; the writes stay E. Off: no kernel timing of it is on file, and the
  only measurement of the unfused core (Appendix E.6 Tables 18 / 19, torch softmax) finds the core
  slower than priced, not faster, so a read saving is not taken on the source alone.
- DROPOUT_RNG: the dropout forward draws its Philox numbers in the same pass and reaches only a
  measured share of the streaming rate (perf/memory_kernels.py; A100 kernel pairs from Dao et al.
  2022, arXiv:2205.14135, Appendix E.6); its backward is a pure stream (measured at 0.885-0.890 of
  the A100's DRAM peak there, against the fitted eff_mem 0.904). On.
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import Elementwise, MatMul
from .memory_kernels import dropout_forward_share
from .train_backward import gradient_gemms

UNFUSED = "unfused"  # the stack setting attention_kernel that selects this path
MASK = 0.5  # a torch.bool dropout mask element in 16-bit element units (1 B / 2 B)
FUSED_CAUSAL_MAX_SEQ = 2048  # longest key length Megatron-LM 2022's fused causal softmax takes (is_kernel_available)
# the causal fused softmax reads the lower triangle of the scores only; False (default): every score read
CAUSAL_SOFTMAX = False
# the dropout forward at its measured share of the streaming rate; False: a pure stream (before round stop-36)
DROPOUT_RNG = True
# a stack whose attention dropout is 0 and whose code then builds no dropout module (stack setting attention_dropout
# False: Habana's Megatron-DeepSpeed fork, CoreAttention `Dropout(p) if p != 0 else None`; torch's own dropout also
# returns its input at p = 0) runs no dropout pass over the scores. On: sourced from the code the run launched
# (round stop-42, issue-62e); off: every unfused core prices the dropout kernel, as before.
ZERO_DROPOUT_SKIPPED = True


def attention_dropout_runs(stack_dropout: bool) -> bool:
    """Whether the unfused core's dropout kernel runs for a stack whose `attention_dropout` setting is this."""
    return bool(stack_dropout) or not ZERO_DROPOUT_SKIPPED


def causal_read_share(seq: int) -> float:
    """Share of the s x s scores the fused causal softmax reads per tensor: rows of i + 1 keys in 4-wide
    vectors, sum over i of 4 ceil((i + 1) / 4) = s (s + 4) / 2 for s a multiple of 4."""
    return min(1.0, (seq + 4.0) / (2.0 * seq))


def core_attention_ops(name: str, count: int, batch: int, seq: int, heads: float, head_dim: int,
                       dropout: bool = True, causal: bool = False) -> tuple[list, list]:
    """(forward ops, backward ops) of `count` CoreAttention calls on one rank: `batch` sequences of
    `seq` tokens, `heads` heads on the rank (a / t), head dim `head_dim`; `dropout`: the attention
    dropout kernel runs (Megatron-LM attention_dropout > 0; GPT-3 / Korthikanti 2022: 0.1); `causal`:
    a causal mask (the fused causal softmax where the key length allows it)."""
    bh = max(1, round(batch * heads))
    e = float(bh) * seq * seq  # score elements
    ctx = float(bh) * seq * head_dim
    read = causal_read_share(seq) if CAUSAL_SOFTMAX and causal and 16 < seq <= FUSED_CAUSAL_MAX_SEQ else 1.0
    qk = MatMul(name=f"{name}_qk", count=count, m=seq, n=seq, k=head_dim, batch=bh, shared_weight=False)
    pv = MatMul(name=f"{name}_pv", count=count, m=seq, n=head_dim, k=seq, batch=bh, shared_weight=False)
    softmax = Elementwise(name=f"{name}_softmax", count=count, elems=e, flops_per_elem=5.0, reads=read, writes=1.0)
    drop = Elementwise(name=f"{name}_dropout", count=count, elems=e, flops_per_elem=2.0, reads=1.0, writes=1.0 + MASK,
                       stream_share=dropout_forward_share() if DROPOUT_RNG else 1.0)
    copy = Elementwise(name=f"{name}_context_copy", count=count, elems=ctx, flops_per_elem=0.0, reads=1.0, writes=1.0)
    fwd = [qk, softmax] + ([drop] if dropout else []) + [pv, copy]
    bwd = ([replace(copy, name=f"{copy.name}_bwd")] + gradient_gemms(pv)
           + ([replace(drop, name=f"{drop.name}_bwd", reads=1.0 + MASK, writes=1.0, stream_share=1.0)] if dropout else [])
           + [replace(softmax, name=f"{softmax.name}_bwd", reads=2.0 * read, writes=1.0, flops_per_elem=3.0)]
           + gradient_gemms(qk))
    return fwd, bwd
