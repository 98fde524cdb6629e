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
the kernel fit times the kernel's CTA stream against the L2, not the DRAM (perf/kernel_fit.py).

A generation kernel's KV stream served by the L2 is bounded in aggregate by the chip's described L2
read bandwidth (`l2_read_bw`: the `l2_bandwidth_tbps` spec, a microbenchmark of all cores streaming
a data set that fits the L2, data/chips/supplement_specs.csv), with the DRAM bandwidth as the lower
bound where it is not described; per SM it is bounded by its CTAs' own Little's-law stream. So is
the masked-MHA kernel's GQA re-read (`mmha_reread`): its grid is (query heads, batch, KV splits)
with the query head fastest (decoderMaskedMultiheadAttentionLaunch.h, `dim3 grid{num_heads,
batch_size, seq_len_tile}`), so the group's CTAs of one KV head run side by side and read the same
K/V lines: the DRAM delivers the KV head once, the L2 the group's g reads of it.

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


def l2_read_bw(chip) -> float:
    """Bytes/s the chip's cores together read from its L2 (or on-chip SRAM) when the data fits:
    the described `l2_bandwidth_tbps`; where it is not described (absent or 0), the chip's DRAM
    bandwidth: a lower bound, since every byte the cores read from DRAM passes through the L2, so
    an L2-served stream is then timed as fast as a DRAM stream and never faster."""
    spec = chip.specs.get("l2_bandwidth_tbps")
    if spec is not None and float(spec.value or 0.0) > 0.0:
        return float(spec.value) * 1e12
    return float(chip.get("memory_bandwidth_tbps", 0.0) or 0.0) * 1e12


def l2_served_bw(l2_bw, dram_bw, reread) -> np.ndarray:
    """Aggregate bytes/s of a stream whose bytes the L2 serves `reread` times for every time the
    DRAM delivers them (the DRAM and L2 streams overlap): bytes / rate = max(bytes / L2,
    bytes / reread / DRAM), i.e. min(L2, reread x DRAM); reread = inf for data resident in L2."""
    r = np.asarray(reread, dtype=float)
    return np.minimum(np.asarray(l2_bw, dtype=float), np.where(np.isfinite(r), r * np.asarray(dram_bw, dtype=float), np.inf))


def mmha_reread(heads, kv_heads) -> np.ndarray:
    """How many of the masked-MHA kernel's CTAs read each KV head's cache: one CTA per query head
    (per_query_head in the fit), the GQA group's CTAs adjacent in the grid (query head fastest), so
    the DRAM delivers each K/V line once and the L2 serves it to the group's g CTAs."""
    return np.asarray(heads, dtype=float) / np.maximum(np.asarray(kv_heads, dtype=float), 1.0)


def mmha_cta_width(kv_fmt) -> np.ndarray:
    """Cache bytes per math-width byte of the masked-MHA kernel's loads: it loads K and V in vectors of
    16 / sizeof(T) math elements (T the BF16/FP16 activation; K_VEC_SIZE, V_VEC_SIZE in
    decoderMaskedMultiheadAttentionTemplate.h) and an 8-bit cache as the same elements at one byte each
    (K_vec_m = packed_type<Tcache, num_elems<K_vec_k>>), so a CTA keeps a fixed number of elements in
    flight: an FP8 cache streams at half its BF16 byte rate (0.5), a BF16 cache at it (1)."""
    return np.array([KV_BYTES_PER_ELEM[str(f)] / ACT_BYTES for f in np.atleast_1d(kv_fmt)]).reshape(np.shape(kv_fmt))


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
