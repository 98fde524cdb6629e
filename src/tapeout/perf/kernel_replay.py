"""How the kernel database's GEMM collector replays a kernel, and whether its data stays in L2.

AIConfigurator's GEMM collector (ai-dynamo/aiconfigurator collector/trtllm/collect_gemm.py,
`run_gemm`) times `Linear.forward(x)` on `outside_loop_count = max(1, min(5, ceil(L2 bytes /
weight bytes)))` distinct copies of the weight, one after the other inside one CUDA graph replayed
many times, and reports the replay time / copies. The copies are meant to spill the weights out of
L2 ("repeated calls span more than the GPU L2 cache"), but five copies of a weight smaller than a
fifth of the L2 do not: then every replay finds the weights, the shared activation x and the output
buffer in L2, and the measured kernel streams its operands from L2, not DRAM. Serving never does:
each layer's weights differ and a model's weights exceed any L2, so the kernel fit must know which
measured kernels ran from L2 (perf/kernel_fit.py), and serving uses none of it.

The generation-attention collector (collect_attn.py, `run_attention_torch`) does the same with one
attention op: it captures `attn.forward` over one KV-cache manager's blocks in a CUDA graph and
times 6 replays after 10 warm-up ones, every replay reading the same cached K and V
(`kv_replay_footprint`). H200 (H100's SMs and 50 MB L2 with 1.43x the DRAM bandwidth) times the
same as H100 on every shape up to ~40 MB of KV cache and 0.70-0.71 x H100 (the DRAM ratio) above
1 GB (`scripts/decode_l2_ratio.py`, no model). Where the replay's footprint fits (`decode_l2_resident`)
the kernel fit times the kernel's CTA stream at the L2's latency (perf/kernel_fit.py).

Weight bytes per element are the collector's own (`_bytes_per_elem`: bf16 2, fp8 and fp8_block 1,
nvfp4 0.5, block scales not counted); x is the BF16 activation (m x k) the collector passes, the
output the BF16 m x n result.
"""

from __future__ import annotations

import numpy as np

MAX_COPIES = 5  # collect_gemm.py: min(5, ceil(L2 / weight bytes))
WEIGHT_BYTES_PER_ELEM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5}
ACT_BYTES = 2.0  # BF16 activation and output


def replay_copies(weight_bytes, l2_bytes) -> np.ndarray:
    """Weight copies the collector cycles through: clamp(ceil(L2 / weight bytes), 1, MAX_COPIES)."""
    w = np.maximum(np.asarray(weight_bytes, dtype=float), 1.0)
    return np.clip(np.ceil(np.asarray(l2_bytes, dtype=float) / w), 1.0, MAX_COPIES)


def replay_footprint(m, n, k, fmt: str, l2_bytes) -> np.ndarray:
    """Bytes one graph replay touches: every weight copy, the shared activation and one output."""
    if fmt not in WEIGHT_BYTES_PER_ELEM:
        raise ValueError(f"GEMM format '{fmt}': expected one of {', '.join(WEIGHT_BYTES_PER_ELEM)}")
    m, n, k = (np.asarray(v, dtype=float) for v in (m, n, k))
    w = WEIGHT_BYTES_PER_ELEM[fmt] * n * k
    return replay_copies(w, l2_bytes) * w + ACT_BYTES * m * k + ACT_BYTES * m * n


def l2_resident(m, n, k, fmt: str, l2_bytes) -> np.ndarray:
    """Whether the replay's whole footprint fits in the chip's L2 (the kernel then reads and writes
    L2 only, in steady state); False everywhere for a chip without an L2 size (l2_bytes <= 0)."""
    l2 = np.asarray(l2_bytes, dtype=float)
    return (replay_footprint(m, n, k, fmt, l2) <= l2) & (l2 > 0)


KV_BYTES_PER_ELEM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}  # the collector's KV cache: BF16 or FP8


def kv_replay_footprint(batch, kv_len, heads, kv_heads, head_dim, kv_fmt) -> np.ndarray:
    """Bytes one generation-attention replay touches: K and V of every cached token of every KV head
    (kv_fmt per kernel), and the BF16 query and output of one token per sequence."""
    b, L, h, hk, d = (np.asarray(v, dtype=float) for v in (batch, kv_len, heads, kv_heads, head_dim))
    unknown = sorted({str(f) for f in np.atleast_1d(kv_fmt)} - set(KV_BYTES_PER_ELEM))
    if unknown:
        raise ValueError(f"KV-cache format {unknown[0]}: expected one of {', '.join(KV_BYTES_PER_ELEM)}")
    elem = np.array([KV_BYTES_PER_ELEM[str(f)] for f in np.atleast_1d(kv_fmt)]).reshape(np.shape(kv_fmt))
    return 2.0 * b * L * hk * d * elem + 2.0 * ACT_BYTES * b * h * d


def decode_l2_resident(batch, kv_len, heads, kv_heads, head_dim, kv_fmt, l2_bytes) -> np.ndarray:
    """Whether a generation-attention replay's footprint (kv_replay_footprint) fits in the chip's L2, so
    every timed replay reads the KV cache from L2; False everywhere for a chip without an L2 size."""
    l2 = np.asarray(l2_bytes, dtype=float)
    return (kv_replay_footprint(batch, kv_len, heads, kv_heads, head_dim, kv_fmt) <= l2) & (l2 > 0)
