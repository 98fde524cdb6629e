"""CTAs of a generation-attention kernel resident on one SM, from the kernel's source and the chip's SM.

A generation kernel streams its KV cache by Little's law: each resident CTA keeps its load pipeline's
bytes in flight, so the kernel's stream is (resident CTAs) x (one CTA's rate) until the DRAM saturates
(perf/opcost.py, ChipParams.attn_ctas_per_core). How many CTAs are resident is a property of the
kernel's build, not of the chip's data: the occupancy rule of the CUDA runtime (CUDA C++ Programming
Guide, "Occupancy Calculator"; cudaOccupancyMaxActiveBlocksPerMultiprocessor) takes the least of

- the register file over the CTA's registers: the kernel's `__launch_bounds__(threads, minBlocks)`
  holds the compiler to 65536 / (minBlocks x threads) registers per thread, so minBlocks fit (a
  kernel that needs the registers uses them: the bound is taken as the residency it was built for);
- the SM's shared memory over the CTA's (its SharedMem struct, plus the 1 KiB the runtime reserves
  per CTA on compute capability 8.x-12.x);
- the SM's threads over the CTA's.

The XQA kernels' numbers are in kernels_db.yaml decode_kernels residency (TensorRT-LLM cpp/kernels/xqa
mha.cu and mha_sm90.cu, with the commit read); the chip's shared memory and threads per SM are its
description's (smem_per_core_kib, threads_per_core: data/chips, OpenXLA device specs / the CUDA
programming guide's per-compute-capability table). A kernel without a source residency (masked MHA,
whose block size and split are chosen at run time; trtllm-gen's precompiled cubins) gets 0: the caller
keeps the fit's own. Both the kernel fit (kernel_fit.Groups) and `--kernels` serving
(kernel_calibration.serving_decode_params) call `ctas_per_sm` (through kernel_fit.kernel_residency), so a kernel
is priced alike in both, where kernel_fit.SOURCE_RESIDENCY is on. It is off: measured on the kernel database the
source residency (XQA mha.cu 1 per SM) makes H200 held out worse, 12.1 -> 12.9 %; fitted freely the XQA kernels
show no per-SM cap at all (docs/notes/issue-24.md, Round stop-28, issue-28xq).
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from .kernels_db import db_config

RESERVED_SMEM_PER_CTA = 1024  # bytes the runtime reserves per CTA (CUDA C++ Programming Guide, 8.x-12.x)
GRAIN = 16  # bytes: XQA's LdGrain (one 16-byte vector), the unit its shared-memory buffers are laid out in


def _per_family(rule: dict, family: str) -> float:
    return float(rule.get(family, rule["default"]))


def _round_up(x, m):
    return np.ceil(np.asarray(x, dtype=float) / m) * m


def hmma_smem_bytes(head_dim, group, kv_bytes, k_part_bytes, v_tile_tokens) -> np.ndarray:
    """Shared memory (bytes) of one XQA mha.cu CTA (BF16 queries, beam 1): Q (warpTile.y rows of the
    whole head), K (4 warps x 2 buffers x 64 tokens x one head part), X (4 x warpTile.y x 64 BF16
    scores) and V (8 buffers of v_tile_tokens x 64 cache elements); warpTile.y = roundUp(group, 16).
    The per-row max / sum vectors (< 2 KiB) are left out."""
    d, kv = np.asarray(head_dim, dtype=float), np.asarray(kv_bytes, dtype=float)
    rows = _round_up(group, 16)
    part = np.minimum(float(k_part_bytes), d * kv)
    return rows * d * 2.0 + 4 * 2 * 64 * part + 4 * rows * 64 * 2.0 + 8 * v_tile_tokens * 64 * kv


def qgmma_smem_bytes(head_dim, group) -> np.ndarray:
    """Shared memory (bytes) of one XQA mha_sm90.cu CTA over an E4M3 cache (SWAP_AB): K (2 buffers x 64
    tokens x one <= 128-byte head part), 2 x (X: ctaNbQHeads x 64 bytes, V: 64 tokens x the head), Q
    (ctaNbQHeads x the head in E4M3) and 13 per-head FP32 vectors; ctaNbQHeads = roundUp(group, 8)."""
    d = np.asarray(head_dim, dtype=float)
    heads = _round_up(group, 8)
    return 2 * 64 * np.minimum(d, 128.0) + 2 * (heads * 64 + 64 * d) + heads * d + 13 * heads * 4


def _fit(per_cta_bytes, threads, smem_kib, threads_per_core, bound) -> np.ndarray:
    """min(bound, SM shared memory / (CTA's + reserved), SM threads / CTA's); an undescribed SM
    (0) bounds nothing."""
    r = np.asarray(bound, dtype=float)
    if smem_kib > 0:
        r = np.minimum(r, np.floor(smem_kib * 1024.0 / (np.asarray(per_cta_bytes, dtype=float) + RESERVED_SMEM_PER_CTA)))
    if threads_per_core > 0:
        r = np.minimum(r, np.floor(threads_per_core / threads))
    return r


def chip_sm(chip) -> tuple[float, float]:
    """(shared memory KiB, threads) per SM from the chip's description; 0 where not described."""
    out = []
    for field in ("smem_per_core_kib", "threads_per_core"):
        v = chip.get(field, 0.0)
        try:
            v = float(v or 0.0)
        except (TypeError, ValueError):
            v = -1.0
        if not v >= 0:
            raise TapeoutError(f"{chip.id}: {field} = {chip.get(field)!r}: give the SM's {field.split('_per')[0]} "
                               "per SM as a number >= 0 (0 = not described), e.g. from the CUDA programming guide")
        out.append(v)
    return out[0], out[1]


def ctas_per_sm(chip, kernel, head_dim, group, kv_bytes) -> np.ndarray:
    """Per generation kernel (`kernel`: kernel_fit.decode_kernel's name, elementwise with the shapes),
    the CTAs resident on one SM of `chip`; 0 where the kernel has no source residency."""
    cfg = db_config()["decode_kernels"].get("residency", {})
    kernel = np.asarray(kernel, dtype=str)
    shape = np.broadcast_shapes(kernel.shape, np.shape(head_dim), np.shape(group), np.shape(kv_bytes))
    out = np.zeros(shape)
    smem_kib, threads = chip_sm(chip)
    if "hmma" in cfg and np.any(kernel == "hmma"):
        r = cfg["hmma"]
        per_cta = hmma_smem_bytes(head_dim, group, kv_bytes, _per_family(r["k_part_bytes"], chip.family),
                                  _per_family(r["v_tile_tokens"], chip.family))
        out = np.where(kernel == "hmma", _fit(per_cta, r["threads"], smem_kib, threads, _per_family(r["min_blocks"], chip.family)), out)
    if "qgmma" in cfg and np.any(kernel == "qgmma"):
        r = cfg["qgmma"]
        rule = r["min_blocks_rule"]
        bound = np.where(np.asarray(head_dim, dtype=float) * _round_up(group, 8) <= rule["max_head_elems_x_heads"],
                         rule["below"], rule["above"])
        out = np.where(kernel == "qgmma", _fit(qgmma_smem_bytes(head_dim, group), r["threads"], smem_kib, threads, bound), out)
    return np.maximum(out, 0.0)
