"""The GEMM kernels the kernel database's TensorRT-LLM collector times for nvfp4 and (SM 9.0) fp8_block GEMMs.

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

The fp8_block GEMM on SM 9.0 (fp8_block_rule, fp8_block_tile; kernels_db.yaml trtllm_fp8_block_tile):
`FP8BlockScalesLinearMethod.apply` runs `fp8_quantize_1x128` and `trtllm::fp8_block_scaling_gemm`,
whose `gemm_dispatch` (cutlass_kernels/fp8_blockscale_gemm/fp8_blockscale_gemm_kernel.cuh) JIT-builds
the DeepGEMM kernel for the shape: for fewer than 32 tokens with A and B swapped (the weight rows on
the WGMMA's 64/128-row M side, the tokens on its 16..128-column N side), else tokens on M. Its config
(deep_gemm::jit::get_best_gemm_config) is a function of the shape and the SM count only: block_m 64
for an M side of at most 64 rows else 128, and the N block of 16..128 (step 8) that needs the fewest
waves of tiles, then fills the last wave best, then is smallest. A persistent grid of one CTA per SM
walks the tiles; there is no split-K. So a 4096-row weight at 8 tokens runs on 32 CTAs of 16 x 128:
32 of 132 SMs stream it, and each promotes its padded 16-token tile after every K block (kernel_fit
.promotion_flops). Each SM keeps its pipeline's stages of both tiles in flight (fp8_block_stages:
8 x 18 KiB for the 16 x 128 tile), and every tile reads its operand rows over the whole K
(operand_stream_bytes): a narrow N block re-reads A once per N block from the L2, e.g. 256 x 2048 x
65536 on 128 x 32 tiles reads 1.38 GB, ~141 us at the H200's measured 9.8 TB/s L2 against ~145 us
measured, where its MMAs alone need ~50 us. The kernel is chosen by the library, not autotuned, so serving runs the same one;
only the fit uses it for now. Two more things of the pair follow from its source (kernels_db.yaml
trtllm_fp8_block_tile quantize, wgmma_m):
  * the quantize kernel before it (scale_1x128_kernel, SMs x 8 CTAs of 256 threads) gives each warp one
    1 x 128 block of a token's K per grid-stride round (fp8_block_quant_rounds): its pass takes its rounds
    x one round's time, the same on H100 and H200 (measured: a 4096 x 128 x 51200 pair takes 444 / 443 us
    on H200 / H100, 194 rounds; the DRAM stream alone would make H100 1.4x slower);
  * a 128-row M block runs two math warpgroups (fp8_block_math_warpgroups), each promoting its K block
    while the other's WGMMAs hold the tensor cores; a 64-row block runs one, whose promotion follows its
    WGMMAs (kernel_fit.exposed_promotion).
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


def fp8_block_rule(system: str, stack: str, fmt: str) -> dict | None:
    """The tile rule of the block-scaled FP8 GEMM kernel the database's TensorRT-LLM collector times
    on `system` (kernels_db.yaml trtllm_fp8_block_tile: the DeepGEMM SM 9.0 kernel behind
    trtllm::fp8_block_scaling_gemm), or None where the database does not say which kernel ran."""
    if stack != "trtllm" or fmt != "fp8_block":
        return None
    cfg = db_config()
    rule = cfg.get("trtllm_fp8_block_tile")
    cc = cfg["systems"].get(system, {}).get("compute_capability")
    return rule if rule and cc is not None and str(cc) in rule["compute_capabilities"] else None


def fp8_block_tile(m, n, cores: float, rule: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per GEMM (m tokens x n weight rows), the (token, weight-row) tile the DeepGEMM SM 9.0 kernel
    runs (kernels_db.yaml trtllm_fp8_block_tile). Below swap_ab_below_m tokens the library swaps A and
    B: the weight rows take the WGMMA's M side and the tokens its N side. The M side's block is
    block_m[0] for at most small_block_m_rows rows, else block_m[1]; the N side's block is, among
    block_n min..max, the one with the fewest waves of tiles over the `cores` SMs, then the fullest
    last wave, then the smallest (deep_gemm::jit::get_best_gemm_config)."""
    m, n = np.broadcast_arrays(np.asarray(m, dtype=float), np.asarray(n, dtype=float))
    swap = m < float(rule["swap_ab_below_m"])
    side_m, side_n = np.where(swap, n, m), np.where(swap, m, n)
    small, large = (float(b) for b in rule["block_m"])
    bm = np.where(side_m <= float(rule["small_block_m_rows"]), small, large)
    bn_rule = rule["block_n"]
    cands = np.arange(float(bn_rule["min"]), float(bn_rule["max"]) + 1.0, float(bn_rule["step"]))
    tiles = np.ceil(side_m / bm)[..., None] * np.ceil(side_n[..., None] / cands)  # (..., candidates)
    waves = np.ceil(tiles / cores)
    last = tiles - (waves - 1.0) * cores  # tiles of the last wave, 1..cores
    # fewest waves, then fullest last wave; argmin keeps the first (smallest) block_n of a tie
    bn = cands[np.argmin(waves * (cores + 1.0) - last, axis=-1)]
    return np.where(swap, bn, bm), np.where(swap, bm, bn)


def fp8_block_multicast(m, n, tile_n, cores: float, rule: dict) -> np.ndarray:
    """CTAs that share one TMA load of the token (A) tile in the DeepGEMM SM 9.0 kernel (kernels_db.yaml
    trtllm_fp8_block_tile multicast): `ways` where the GEMM is not swapped, has at least min_m tokens,
    n is a multiple of ways x its N block and the SM count of ways; else 1 (get_best_gemm_config)."""
    mc = rule["multicast"]
    ways = float(mc["ways"])
    m, n, tn = (np.asarray(v, dtype=float) for v in (m, n, tile_n))
    ok = (m >= float(rule["swap_ab_below_m"])) & (m >= float(mc["min_m"])) & (n % (tn * ways) == 0) & (cores % ways == 0)
    return np.where(ok, ways, 1.0)


def operand_stream_bytes(m, n, k, tile_m, tile_n, fmt: str, multicast_a=1.0) -> np.ndarray:
    """Bytes the CTAs of a tiled GEMM read for their operands: every output tile reads its tile_m rows
    of A and tile_n rows of B over the whole K (operand_bytes_per_k: payload and block scales), the A
    tile once per `multicast_a` CTAs sharing one TMA multicast load. Whatever DRAM delivers once, the
    L2 serves this many bytes to the SMs."""
    m, n, k, tm, tn = (np.asarray(v, dtype=float) for v in (m, n, k, tile_m, tile_n))
    tiles = np.ceil(m / tm) * np.ceil(n / tn)
    return tiles * k * operand_bytes_per_k(tm / np.asarray(multicast_a, dtype=float), tn, fmt)


def fp8_block_stages(m, tile_m, tile_n, k, rule: dict) -> np.ndarray:
    """Shared-memory pipeline stages of the DeepGEMM SM 9.0 kernel for a GEMM of m tokens on its
    (token, weight-row) tile (kernels_db.yaml trtllm_fp8_block_tile stages; get_best_gemm_config /
    get_smem_size): the most stages whose operand tiles (block_k = rule k deep, one byte per element),
    FP32 scales, BF16 output tile and two 8-byte barriers per stage fit in smem_bytes."""
    m, tm, tn, k = (np.asarray(v, dtype=float) for v in (m, tile_m, tile_n, k))
    swap = m < float(rule["swap_ab_below_m"])
    bm, bn = np.where(swap, tn, tm), np.where(swap, tm, tn)  # the kernel's M and N blocks
    bk = float(rule["k"])
    kb4 = np.ceil(k / bk) * 4.0  # one FP32 scale per K block (a weight row block's, or a token's)
    fixed = bm * bn * 2.0 + np.where(swap, np.ceil(kb4 / 8.0) * 8.0,
                                     np.ceil(kb4 * np.where(bk % bn == 0, 1.0, 2.0) / 8.0) * 8.0)
    per_stage = (bm + bn) * bk + np.where(swap, np.ceil(bn * 4.0 / 128.0) * 128.0, bm * 4.0) + 16.0
    out = np.zeros(np.broadcast(m, tm, tn, k).shape)
    for cands, even in ((rule["stages"], True), (rule["stages_uneven_n"], False)):
        fits = [np.where(fixed + c * per_stage <= float(rule["smem_bytes"]), float(c), 0.0) for c in cands]
        best = np.max(np.stack(fits), axis=0)
        out = np.where((bk % bn == 0) == even, best, out)
    return out


def fp8_block_quant_rounds(m, k, cores: float, rule: dict) -> np.ndarray:
    """Grid-stride iterations each warp of the activation quantize kernel before the DeepGEMM SM 9.0 GEMM
    runs (kernels_db.yaml trtllm_fp8_block_tile quantize: TensorRT-LLM's scale_1x128_kernel, launched with
    ctas_per_sm CTAs of `threads` threads per SM): one warp takes one 1 x block group of a token's K per
    iteration (a load of the group, a warp max-reduction, the scale and FP8 stores), so the m x ceil(k / block)
    groups take ceil(groups / the grid's warps) iterations, one after another on every warp, whatever the
    chip's DRAM bandwidth. >= 1 for a non-empty GEMM."""
    q = rule["quantize"]
    warps = float(cores) * float(q["ctas_per_sm"]) * float(q["threads"]) / float(q["warp_size"])
    m, k = (np.asarray(v, dtype=float) for v in (m, k))
    return np.ceil(m * np.ceil(k / float(q["block"])) / warps)


def fp8_tensor_quant_rule(system: str, stack: str, fmt: str) -> dict | None:
    """The dynamic per-tensor FP8 activation quantize the database's TensorRT-LLM collector runs before
    its per-tensor FP8 GEMM on `system` (kernels_db.yaml trtllm_fp8_tensor_quantize), with the system's
    resident threads per SM as `threads_per_sm`; None for another stack or format, or where the
    database does not give the system's compute capability."""
    if stack != "trtllm" or fmt != "fp8":
        return None
    cfg = db_config()
    rule = cfg.get("trtllm_fp8_tensor_quantize")
    cc = cfg["systems"].get(system, {}).get("compute_capability")
    if not rule or cc is None or str(cc) not in rule["threads_per_sm"]:
        return None
    return {**rule, "threads_per_sm": float(rule["threads_per_sm"][str(cc)])}


def fp8_tensor_quant_rounds(m, k, cores: float, rule: dict) -> np.ndarray:
    """Grid-stride iterations, summed over the kernels of the dynamic per-tensor FP8 quantize
    (fp8_tensor_quant_rule: TensorRT-LLM's amax computeFP8QuantizeScale, then the scalar scaleMatrix),
    each thread of each kernel runs one after another: a kernel of `grid` CTAs of `threads` threads
    keeps min(grid, cores x floor(threads_per_sm / threads)) CTAs resident, and each resident thread
    takes elements_per_thread of the m x k activation per iteration, so ceil(m k / (resident threads x
    elements_per_thread)) iterations (a grid that does not fit runs its CTAs in waves: the same total).
    >= 1 per kernel for a non-empty GEMM."""
    m, k = (np.asarray(v, dtype=float) for v in (m, k))
    out = np.zeros(np.broadcast(m, k).shape)
    for kern in rule["kernels"]:
        per_sm = np.floor(float(rule["threads_per_sm"]) / float(kern["threads"]))
        resident = min(float(kern["grid"]), float(cores) * per_sm) * float(kern["threads"])
        out = out + np.ceil(m * k / (resident * float(rule["elements_per_thread"])))
    return out


def fp8_block_math_warpgroups(m, tile_m, tile_n, rule: dict) -> np.ndarray:
    """Math warpgroups per CTA of the DeepGEMM SM 9.0 kernel for a GEMM of m tokens on its (token,
    weight-row) tile (kernels_db.yaml trtllm_fp8_block_tile wgmma_m): the kernel's M block (the tokens',
    or below swap_ab_below_m tokens the weight rows') over the rows of one warpgroup's WGMMA, i.e. 1 for
    a 64-row block and 2 for a 128-row one (get_num_threads_per_sm)."""
    m, tm, tn = (np.asarray(v, dtype=float) for v in (m, tile_m, tile_n))
    block_m = np.where(m < float(rule["swap_ab_below_m"]), tn, tm)
    return np.maximum(np.ceil(block_m / float(rule["wgmma_m"])), 1.0)
