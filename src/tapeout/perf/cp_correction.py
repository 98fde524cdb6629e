"""Context parallelism's merge kernels: the passes Transformer Engine's P2P ring makes over the rank's
attention output and gradients, besides the attention kernels themselves.

Source: TransformerEngine transformer_engine/pytorch/attention.py, `AttnFuncWithCP` (1.x, P2P ring):
  forward   `out = torch.empty_like(q).zero_()` — the running output is in q's dtype (BF16), not FP32 —
            and the softmax statistics in FP64 (`softmax_lse = ...to(torch.double)`); each later ring step
            merges its LSE, `flash_attn_fwd_softmax_lse_correction` (max, min, log1p(exp(.)) fused by
            jit_fuser: read the FP64 running LSE and the step's FP32 LSE, write FP64), then after the ring
            `softmax_lse.to(torch.float)` and, per step, `flash_attn_fwd_out_correction`: one fused pass
            out += out_per_step x exp(lse_step - lse) (read out and out_per_step, write out, BF16)
  backward  per step the partial dQ and dK/dV of that step's KV block join the accumulators in place:
            the first `dq.copy_(dq_)` (read 1, write 1), the others `dq.add_(dq_)` (read 2, write 1); the
            same for dkv (K and V, KV heads) in the rank's kv dtype (BF16)
The slowest rank of the causal load-balanced forward (rank CP-1: every step's block is below its
diagonal, `i <= rank`) merges full outputs at every step: CP output passes and CP - 1 LSE merges. In the
backward every step but the last splits the ranks in two (`AttnFuncWithCP.backward`, causal): a rank whose
step sees the whole query (`i >= cp_size - rank - 1`) accumulates full dQ but only the first half of dKV
(`dkv[:, 0, ...]`), the others half of dQ (`dq[1]`) and full dKV; at the last step (the diagonal block)
every rank but 0 adds both in full. Rank 0 and rank CP-1 sit on opposite sides at every earlier step, and
the ring exchanges dKV after each step, so each step waits for max(q + kv/2, q/2 + kv): the larger of the
two tensors accumulated in full, the smaller in half, except at the last step. Read in TE's 1.x
attention.py (the cu_seqlens_padded-era file and the later one with the FP8 branch) and the 2.x
context_parallel.py helper; the same branches in all three. Memory-bound on any chip: bytes over the
chip's memory bandwidth, as every elementwise op (perf/opcost)."""

from __future__ import annotations

from ..ops import Elementwise


def cp_merge_ops(cp: int, tokens: float, q_heads: float, kv_heads: float, head_dim: int) -> tuple[list, list]:
    """(forward, backward) elementwise ops of one layer's CP merges on one rank holding `tokens` tokens
    (micro-batch x s/CP) and `q_heads` / `kv_heads` heads (per TP rank). Empty without CP."""
    if cp <= 1:
        return [], []
    q = tokens * q_heads * head_dim  # output / dQ elements
    kv = 2.0 * tokens * kv_heads * head_dim  # dK and dV elements
    rows = tokens * q_heads  # one LSE per (token, head)
    # BF16 output: the zero fill (write 1) and cp merges (read 2, write 1 each)
    out = Elementwise(name="cp_out_correction", count=1, elems=q, flops_per_elem=3.0 * cp, reads=2.0 * cp,
                      writes=cp + 1.0, dtype="bf16")
    # LSE in FP32 units: cp - 1 merges read 8 + 4 B, write 8 B (3 and 2 units); the final cast reads 8, writes 4
    lse = Elementwise(name="cp_lse_correction", count=1, elems=rows, flops_per_elem=5.0 * (cp - 1),
                      reads=3.0 * (cp - 1) + 2.0, writes=2.0 * (cp - 1) + 1.0, dtype="fp32")
    # accumulators, per step the slowest rank's: the larger tensor in full, one copy (read 1, write 1)
    # and cp - 1 in-place adds (read 2, write 1); the smaller a half copy and cp - 2 half adds, then a
    # full add at the last step
    full = dict(count=1, flops_per_elem=cp - 1.0, reads=2.0 * cp - 1.0, writes=float(cp), dtype="bf16")
    half = dict(count=1, flops_per_elem=0.5 * cp, reads=cp + 0.5, writes=0.5 * cp + 0.5, dtype="bf16")
    dq_acc, dkv_acc = (full, half) if q >= kv else (half, full)
    return [out, lse], [Elementwise(name="cp_dq_accumulate", elems=q, **dq_acc),
                        Elementwise(name="cp_dkv_accumulate", elems=kv, **dkv_acc)]
