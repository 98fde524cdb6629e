"""How TensorRT-LLM launches its masked-MHA generation kernel: the block size and the multi-block split.

The masked-MHA kernel (the generation fallback for vanilla MHA, GQA groups the XQA / trtllm-gen kernels
do not take; kernel_fit.decode_kernel) runs one CTA per (sequence, query head) and per KV-length tile.
Its launcher does not keep one CTA shape: it sizes the CTA and splits the KV length at run time so the
grid fills the SMs' thread capacity (TensorRT-LLM cpp/tensorrt_llm/kernels/decoderMaskedMultiheadAttention/
decoderMaskedMultiheadAttentionLaunch.h, mmha_launch_kernel_ex and multi_block_grid_setup; the numbers
are kernels_db.yaml decode_kernels mmha_launch, with their lines):

- the base block is 256 threads, and the register file holds 32 warps of it per SM ("The max number of
  warps we can launch per SM is 32 limited by registers"): 4 base blocks per SM;
- with fewer (sequence, head) pairs than 4 x SMs it scales the block by
  min(ceil(SMs x 4 / pairs), 4) base blocks, capped at 1024 threads and rounded down to the sizes it
  instantiates (256, 512, 1024): few pairs run 1024-thread CTAs, one per SM;
- with fewer pairs than SMs (multi-block mode, on by default: AttentionOp mMultiBlockMode) it splits
  each pair's KV length over ceil(SMs x CTAs per SM at that block / pairs) tiles, at most
  ceil(SMs / pairs) (AttentionOp::getMaxNumSeqLenTile: "one wave of blocks") and at most one tile per
  KV loop of the block (block / threads_per_value x 8 keys; threads_per_value = dh_max x 2 B / 16 B).

So a small grid keeps as many threads in flight per SM as a large one: its CTAs are wider and, over a
long KV cache, more. A generation CTA's Little's-law stream (perf/opcost.py: resident CTAs x one CTA's
rate) then counts each CTA as block / 256 base CTAs (`mmha_launch`'s second result), against the SMs'
resident base CTAs (ChipParams.attn_ctas_per_core). Left out: the shared-memory minimum split
(estimate_min_multi_block_count: only above ~38k keys on a 227 KiB SM with pairs >= SMs, a shape the
kernel database does not hold) and the in-kernel reduction of the tiles' partial outputs.
"""

from __future__ import annotations

import numpy as np

from .kernels_db import db_config


def launch_rule() -> dict:
    """The masked-MHA launcher's constants (kernels_db.yaml decode_kernels mmha_launch)."""
    return db_config()["decode_kernels"]["mmha_launch"]


def dh_max(head_dim) -> np.ndarray:
    """The kernel's head size: the smallest power of two >= max(head size, 32) (mmha::dh_max)."""
    d = np.maximum(np.asarray(head_dim, dtype=float), 32.0)
    return 2.0 ** np.ceil(np.log2(d))


def base_blocks_per_sm(warps_per_sm, rule: dict | None = None) -> np.ndarray:
    """Base blocks one SM's registers hold: its `warps_per_sm` warps over the base block's (4 for 32 warps of
    256 threads), at least 1."""
    r = rule or launch_rule()
    return np.maximum(np.floor(np.asarray(warps_per_sm, dtype=float) * 32.0 / float(r["threads"])), 1.0)


def block_threads(seq_heads, cores, warps_per_sm, rule: dict | None = None) -> np.ndarray:
    """Threads of one masked-MHA CTA for `seq_heads` (sequence, head) pairs on `cores` SMs whose registers
    hold `warps_per_sm` warps of the kernel: the base block x min(ceil(cores x base blocks per SM /
    pairs), base blocks per SM), at most the largest block, rounded down to an instantiated size."""
    r = rule or launch_rule()
    base = float(r["threads"])
    per_sm = base_blocks_per_sm(warps_per_sm, r)
    pairs = np.maximum(np.asarray(seq_heads, dtype=float), 1.0)
    want = np.minimum(base * np.minimum(np.ceil(np.asarray(cores, dtype=float) * per_sm / pairs), per_sm),
                      float(max(r["block_sizes"])))
    sizes = sorted(float(s) for s in r["block_sizes"])
    out = np.full(np.shape(want), sizes[0])
    for s in sizes[1:]:
        out = np.where(want >= s, s, out)
    return out


def mmha_launch(seq_heads, keys, head_dim, cores, warps_per_sm, rule: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(KV-length tiles per (sequence, head), the CTA's threads in base blocks, its CTAs resident per SM) of
    the masked-MHA kernel over `keys` cached keys, elementwise. Multi-block mode splits only where pairs < cores."""
    r = rule or launch_rule()
    pairs = np.maximum(np.asarray(seq_heads, dtype=float), 1.0)
    cores = np.asarray(cores, dtype=float)
    block = block_threads(pairs, cores, warps_per_sm, r)
    base = float(r["threads"])
    per_sm = base_blocks_per_sm(warps_per_sm, r)
    resident = np.maximum(np.floor(per_sm * base / block), 1.0)  # CTAs of that block per SM
    per_value = dh_max(head_dim) * float(r["math_bytes"]) / float(r["vec_bytes"])
    keys_per_loop = np.ceil(block / per_value) * float(r["kv_unroll"])
    most = np.minimum(np.ceil((np.asarray(keys, dtype=float) + 1.0) / keys_per_loop), np.ceil(cores / pairs))
    tiles = np.clip(np.ceil(cores * resident / pairs), 1.0, np.maximum(most, 1.0))
    return np.where((pairs < cores) & bool(r.get("multi_block", True)), tiles, 1.0), block / base, resident
