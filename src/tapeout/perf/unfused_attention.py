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
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import Elementwise, MatMul
from .train_backward import gradient_gemms

UNFUSED = "unfused"  # the stack setting attention_kernel that selects this path
MASK = 0.5  # a torch.bool dropout mask element in 16-bit element units (1 B / 2 B)


def core_attention_ops(name: str, count: int, batch: int, seq: int, heads: float, head_dim: int,
                       dropout: bool = True) -> tuple[list, list]:
    """(forward ops, backward ops) of `count` CoreAttention calls on one rank: `batch` sequences of
    `seq` tokens, `heads` heads on the rank (a / t), head dim `head_dim`; `dropout`: the attention
    dropout kernel runs (Megatron-LM attention_dropout > 0; GPT-3 / Korthikanti 2022: 0.1)."""
    bh = max(1, round(batch * heads))
    e = float(bh) * seq * seq  # score elements
    ctx = float(bh) * seq * head_dim
    qk = MatMul(name=f"{name}_qk", count=count, m=seq, n=seq, k=head_dim, batch=bh, shared_weight=False)
    pv = MatMul(name=f"{name}_pv", count=count, m=seq, n=head_dim, k=seq, batch=bh, shared_weight=False)
    softmax = Elementwise(name=f"{name}_softmax", count=count, elems=e, flops_per_elem=5.0, reads=1.0, writes=1.0)
    drop = Elementwise(name=f"{name}_dropout", count=count, elems=e, flops_per_elem=2.0, reads=1.0, writes=1.0 + MASK)
    copy = Elementwise(name=f"{name}_context_copy", count=count, elems=ctx, flops_per_elem=0.0, reads=1.0, writes=1.0)
    fwd = [qk, softmax] + ([drop] if dropout else []) + [pv, copy]
    bwd = ([replace(copy, name=f"{copy.name}_bwd")] + gradient_gemms(pv)
           + ([replace(drop, name=f"{drop.name}_bwd", reads=1.0 + MASK, writes=1.0)] if dropout else [])
           + [replace(softmax, name=f"{softmax.name}_bwd", reads=2.0, writes=1.0, flops_per_elem=3.0)]
           + gradient_gemms(qk))
    return fwd, bwd
