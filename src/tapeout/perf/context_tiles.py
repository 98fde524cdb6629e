"""The fixed work tile of a library's context (prefill) attention kernel, and the key tiles it computes.

A context FMHA with a fixed tile (kernels_db.yaml `context_kernels`; TensorRT-LLM's Hopper
warp-specialized fmha_v2 kernels) runs one unit of work per (sequence, query head, q_tile query
rows) and, causal, computes whole kv_tile-key tiles up to the unit's last row: the unit whose last
row sits at position e (cached prefix included) computes the e // kv_tile + 1 key tiles that cover
keys 0..e, for all q_tile rows, padded rows and masked keys included (fmha_v2 warpspec/compute.h:
kv_idx_end = (q_tile_offset_end + STEP_KV - 1) / STEP_KV, the same count for a prompt without a
cached prefix; valid_run only gates the O store). perf/opcost.py
prices a context attention op on those tiles where ChipParams.attn_ctx_q_tile / attn_ctx_kv_tile
are set (the kernel-database fit sets them per kernel; 0 = the model's own tiling).

A family whose kernel runs two Q tiles' softmaxes in ping-pong with their accumulators in the SM's
tensor memory (kernels_db.yaml context_kernels `pingpong`: Blackwell's trtllm-gen / FlashAttention-4)
overlaps them only where both tiles' S and O fit it (tmem_pingpong: a function of the head size and
the chip's tensor memory, chip data tensor_memory_kib).
"""

from __future__ import annotations

import numpy as np

from .kernels_db import db_config


def context_tile(family: str, math_fmt, head_dim) -> tuple[np.ndarray, np.ndarray]:
    """(q_tile, kv_tile) per kernel of a chip family's context FMHA at its math format and head
    size (kernels_db.yaml context_kernels); (0, 0) where the family, format or head size is not
    described (the model's own tiling then applies)."""
    fmts = np.atleast_1d(np.asarray(math_fmt, dtype=str))
    d = np.broadcast_to(np.asarray(head_dim, dtype=float), fmts.shape)
    q_tile, kv_tile = np.zeros(fmts.shape), np.zeros(fmts.shape)
    spec = db_config().get("context_kernels", {}).get(family)
    if not spec:
        return q_tile, kv_tile
    for fmt, steps in spec["kv_tile"].items():
        free = (fmts == fmt) & (kv_tile == 0)
        for max_d, step in steps:  # ascending head sizes: the first that holds d
            hit = free & (d <= max_d)
            kv_tile[hit], q_tile[hit] = float(step), float(spec["q_tile"])
            free &= ~hit
    return q_tile, kv_tile


def _sum_ceil(n, r):
    """sum_{i=1..n} ceil(i / r) for integers n >= 0, r >= 1: a full blocks of r terms (1..a, r each)
    and b = n - r a terms of a + 1."""
    a = np.floor(n / r)
    b = n - r * a
    return r * a * (a + 1.0) / 2.0 + b * (a + 1.0)


def key_tiles(q, prefix, q_tile, kv_tile, causal=True):
    """(mean, last): key tiles per query tile averaged over a sequence's ceil(q / q_tile) query
    tiles, and the last query tile's, for q new queries after `prefix` cached keys. Causal: query
    tile j (0-based) ends at position prefix + q_tile (j + 1) and computes ceil(that / kv_tile)
    tiles; not causal: every query tile computes ceil((prefix + q) / kv_tile). Closed forms for
    kv_tile dividing q_tile or q_tile dividing kv_tile (every fmha_v2 kernel: powers of two):
    kv_tile <= q_tile: tiles_j = (q_tile / kv_tile)(j + 1) + ceil(prefix / kv_tile); kv_tile = r q_tile:
    tiles_j = ceil((c + j + 1) / r), c = ceil(prefix / q_tile) (ceil(x / r) = ceil(ceil(x) / r))."""
    q, prefix = np.asarray(q, dtype=float), np.asarray(prefix, dtype=float)
    tq, tk = np.asarray(q_tile, dtype=float), np.asarray(kv_tile, dtype=float)
    tq_safe, tk_safe = np.where(tq > 0, tq, 1.0), np.where(tk > 0, tk, 1.0)
    n_q = np.maximum(np.ceil(q / tq_safe), 1.0)
    # kv_tile <= q_tile
    ratio = tq_safe / tk_safe
    c_k = np.ceil(prefix / tk_safe)
    small_sum = ratio * n_q * (n_q + 1.0) / 2.0 + n_q * c_k
    small_last = ratio * n_q + c_k
    # kv_tile = r x q_tile
    r = np.maximum(tk_safe / tq_safe, 1.0)
    c_q = np.ceil(prefix / tq_safe)
    big_sum = _sum_ceil(c_q + n_q, r) - _sum_ceil(c_q, r)
    big_last = np.ceil((c_q + n_q) / r)
    total = np.where(tk_safe <= tq_safe, small_sum, big_sum)
    last = np.where(tk_safe <= tq_safe, small_last, big_last)
    full = np.ceil((prefix + q) / tk_safe)  # not causal: every query tile sees every key tile
    causal = np.asarray(causal, dtype=bool)
    return np.where(causal, total / n_q, full), np.where(causal, last, full)


def softmax_overlap(family: str) -> float:
    """1.0 where the family's context FMHA overlaps one warpgroup's softmax with another's MMAs
    (kernels_db.yaml context_kernels `softmax_overlap`: TensorRT-LLM's Hopper warp-specialized
    fmha_v2, ping-pong of its two compute warpgroups), else 0.0 (softmax in series with the MMAs,
    FlashAttention-2's order within a warp): ChipParams.attn_ctx_softmax_overlap."""
    spec = db_config().get("context_kernels", {}).get(family) or {}
    return 1.0 if spec.get("softmax_overlap", False) else 0.0


# the SM's tensor memory: 128 lanes of 32-bit cells (CUTLASS include/cutlass/gemm/collective/builders/
# sm100_umma_builder.inl TotalTmemRows = 128, Sm100TmemCapacityColumns = 512; extra_specs.csv tensor_memory_kib
# 256 KiB); an FP32 accumulator row of a 128-row tile takes one lane, one column per element
TMEM_LANES = 128
TMEM_CELL_BYTES = 4
# FlashAttention-4 pads the head size to a multiple of 16 (flash_fwd_sm100.py hdim_multiple_of = 16)
TMEM_HEAD_PAD = 16


def tmem_columns(accum_mem_bytes) -> np.ndarray:
    """The 32-bit columns of a core's tensor memory of `accum_mem_bytes` (ChipParams.accum_mem_bytes):
    bytes / (128 lanes x 4 B); 0 where the chip has none (accumulators in registers)."""
    return np.asarray(accum_mem_bytes, dtype=float) / (TMEM_LANES * TMEM_CELL_BYTES)


def pingpong_columns(head_dim, kv_tile, q_tiles) -> np.ndarray:
    """Tensor-memory columns a context CTA's `q_tiles` Q tiles hold at once: each its S / P tile (kv_tile
    FP32 columns) and its O accumulator (the head size padded to 16) (FlashAttention-4 flash_fwd_sm100.py:
    tmem_total = q_stage x (n_block_size + head_dim_v_padded))."""
    d = np.ceil(np.asarray(head_dim, dtype=float) / TMEM_HEAD_PAD) * TMEM_HEAD_PAD
    return float(q_tiles) * (float(kv_tile) + d)


def _pingpong_spec(family: str) -> dict:
    """kernels_db.yaml context_kernels.<family>.pingpong ({q_tiles, kv_tile}); {} where not described."""
    return (db_config().get("context_kernels", {}).get(family) or {}).get("pingpong") or {}


def pingpong_described(family: str) -> bool:
    """Whether kernels_db.yaml describes the family's context kernel as a TMEM-bounded two-Q-tile ping-pong."""
    return bool(_pingpong_spec(family))


def tmem_pingpong(family: str, head_dim, accum_mem_bytes) -> np.ndarray:
    """1.0 per kernel where the family's context kernel overlaps its two Q tiles' softmaxes with their MMAs:
    its `pingpong` described and q_tiles x (kv_tile + d) columns within the chip's tensor memory; else 0.0
    (one Q tile, softmax in series). Heads 64 / 128 on a 512-column SM: 384 / 512 fit; 256: 768 do not."""
    d = np.asarray(head_dim, dtype=float)
    spec = _pingpong_spec(family)
    cols = tmem_columns(accum_mem_bytes)
    if not spec or not np.all(cols > 0):
        return np.zeros(d.shape)
    return (pingpong_columns(d, spec["kv_tile"], spec["q_tiles"]) <= cols).astype(float)


def schedule_described(family: str) -> bool:
    """Whether kernels_db.yaml describes the family's context FMHA whole: its work tile and how its
    softmax is scheduled against its MMAs (`softmax_overlap` given, true or false). The kernel fit
    prices the fixed tile only there (kernel_fit.Groups)."""
    spec = db_config().get("context_kernels", {}).get(family) or {}
    return "softmax_overlap" in spec
