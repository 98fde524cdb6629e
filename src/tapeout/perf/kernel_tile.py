"""The GEMM kernel the kernel database's TensorRT-LLM collector times for an nvfp4 GEMM.

AIConfigurator's GEMM collector (ai-dynamo/aiconfigurator collector/trtllm/collect_gemm.py,
`run_gemm`) times `Linear.forward(x)` inside a CUDA graph without entering TensorRT-LLM's
autotuner (`autotune()` is never called). `NVFP4LinearMethod.apply`
(tensorrt_llm/_torch/modules/linear.py) quantizes the activation (`fp4_quantize`) and calls
`trtllm::nvfp4_gemm` (tensorrt_llm/_torch/custom_ops/torch_custom_ops.py), whose AutoTuner
`choose_one` finds no tuned entry and runs the fallback tactic: `("cutlass", -1)`, i.e.
`FP4GemmRunner.run_gemm(..., configIdx=-1)`, which takes `getDefaultGemmConfig`
(cpp/tensorrt_llm/thop/fp4Gemm.cpp): for W4A4_NVFP4_NVFP4, one CTA per 1x1x1 cluster and the CTA
shape CtaShape128x256x128B on SM 10.0, CtaShape128x256x256B on SM 10.3. The SM 10.3 kernel is the
Blackwell Ultra mainloop (KernelTmaWarpSpecialized1SmBlockScaledMxNvf4UltraVs16Sm103) whose MMA
tile is 3x the CTA K (`CTA_K * 3` for Sm103 in MmaTileShape,
cpp/tensorrt_llm/kernels/cutlass_kernels/fp4_gemm/nvfp4_nvfp4_gemm_template_sm100.h); the CTA K
is in FP4 elements (cute::Int<K> of the MMA tile shape). So the kernel's tile is
  SM 10.0: 128 x 256 x 128      SM 10.3: 128 x 256 x 768
and its scheduler is CUTLASS's data-parallel `PersistentScheduler`: no split-K.

Two consequences the fit must know (the same kernel serving never runs: serving autotunes):
  * K padding: the MMA computes whole K tiles, ceil(k / tile_k) of them (TMA zero-fills the
    rest), so a k = 256 GEMM on SM 10.3 does 3x its FLOPs on the tensor cores; operand traffic
    is the real k (out-of-bounds TMA boxes read nothing).
  * tile and splits: the output is cut in 128 x 256 tiles and never split along K.
  * output store: the SM 10.3 kernel's epilogue (NoSmemWarpSpecialized1Sm) stores from
    registers, one tile row per thread, 16 B per thread and instruction, so each warp store
    touches 32 sectors half full and moves twice its bytes in 32-byte transactions (store_fill);
    the SM 10.0 kernel stages the tile in shared memory and stores whole lines by TMA.
  * one accumulator stage: the block-scaled SM100 builder keeps a single accumulator in tensor
    memory at N = 256 (sm100_blockscaled_umma_builder.inl), so unlike the dense kernels its
    epilogue waits for and holds up the MMA (opcost.accumulator_stages, ChipParams.accum_stages).
  * operand feed: the 1-SM MMA reads both operands (and the block scales) from shared memory
    every instruction ("MMA atom must source both A and B operand from smem_desc",
    CUTLASS sm103_blockscaled_mma_warpspecialized.hpp; smem_SFA / smem_SFB feed the scale
    factors the block-scaled tcgen05.mma reads), so the tile's MMA runs at most at the rate its
    SM's shared memory feeds it (operand_feed): unbound on SM 10.0 (108 of 128 B/clk), 0.79 of
    the Ultra's 1.5x FP4 rate on SM 10.3 (162 B/clk needed).
Which database system runs which compute capability is data (kernels_db.yaml systems:
compute_capability), and so is the table of default tiles (kernels_db.yaml
trtllm_nvfp4_default_tile).
"""

from __future__ import annotations

import numpy as np

from ..formats import format_table
from .kernels_db import db_config


def collector_tile(system: str, stack: str, fmt: str) -> dict | None:
    """The (m, n, k) tile of the kernel the database's collector timed for a GEMM of `fmt` on
    `system` with `stack`, or None where the database does not say which kernel ran (the fit then
    prices the GEMM with the chip's own tiles and split-K)."""
    cfg = db_config()
    rule = cfg.get("trtllm_nvfp4_default_tile", {})
    if stack != "trtllm" or fmt != "nvfp4":
        return None
    cc = cfg["systems"].get(system, {}).get("compute_capability")
    tile = rule.get("tiles", {}).get(str(cc)) if cc is not None else None
    return {k: float(v) for k, v in tile.items() if k in ("m", "n", "k", "stage_k", "direct_store_bytes", "accum_stages")} if tile else None


def k_padding(k, tile_k: float) -> np.ndarray:
    """Work the MMA does over the GEMM's own: ceil(k / tile_k) * tile_k / k (>= 1)."""
    if tile_k <= 0:
        raise ValueError(f"tile_k must be positive, got {tile_k}")
    k = np.asarray(k, dtype=float)
    return np.ceil(k / tile_k) * tile_k / k


def operand_bytes_per_k(tile_m: float, tile_n: float, fmt: str) -> float:
    """Shared-memory bytes one K step of a tile_m x tile_n MMA reads: a row of A and a column of B
    per output row / column, at the format's bits, plus one scale per `block` elements of each."""
    f = format_table()["formats"][fmt]
    per_elem = f["bits"] / 8.0 + (f.get("scale_bits", 0) / 8.0 / f["block"] if "block" in f else 0.0)
    return (tile_m + tile_n) * per_elem


def operand_feed(tile: dict, fmt: str, params) -> float:
    """Fraction of its format's peak a tile's MMA can run at when the core's shared memory feeds
    both operands (SS-mode MMA): min(1, feed / need), with the feed in bytes per dense BF16 FLOP
    (ChipParams.mma_feed_bytes_per_bf16_flop) and the need = the format's peak over BF16's x the
    tile's operand bytes per FLOP (operand_bytes_per_k / (2 tile_m tile_n)). 1 where the chip does
    not describe its feed. The same arithmetic reproduces the measured bound it is sourced from:
    a BF16 1-SM MMA is feed-bound exactly below N = 128 (data/chips/extra_specs.csv)."""
    feed = float(params.mma_feed_bytes_per_bf16_flop)  # one chip: scalars (the kernel fit)
    peak_bf16 = float(params.peak("bf16"))
    peak = float(params.peak(format_table()["formats"][fmt]["peak"]))
    if feed <= 0 or peak_bf16 <= 0 or peak <= 0:
        return 1.0
    need = peak / peak_bf16 * operand_bytes_per_k(tile["m"], tile["n"], fmt) / (2.0 * tile["m"] * tile["n"])
    return min(1.0, feed / need)


def store_fill(tile: dict | None, params) -> float:
    """Fraction of each store transaction a tile's epilogue fills with output: where the kernel
    stores straight from registers with one output row per thread (`direct_store_bytes` per thread
    and instruction, kernels_db.yaml), a warp's store lands in as many transactions as threads, each
    filled by one thread's vector: min(1, direct_store_bytes / the core's store transaction,
    ChipParams.store_sector_bytes). 1 for a bulk store of whole lines (TMA), a kernel not known, or a
    chip that does not describe its store transaction (CUDA C++ Best Practices Guide, coalesced
    access: a warp's accesses are served in 32-byte transactions, however few of their bytes it uses)."""
    vec = float(tile.get("direct_store_bytes", 0.0)) if tile else 0.0
    sector = float(params.store_sector_bytes)  # one chip: a scalar (the kernel fit)
    if vec <= 0 or sector <= 0:
        return 1.0
    return min(1.0, vec / sector)
