"""Kernel efficiency as a function of chip structure, fitted across chips on measured kernels.

Every measured kernel (perf/kernels_db.py) is predicted by the same op-cost model the
predictions use (perf/opcost.py: tile padding, wave quantization with split-K, roofline on
the chip's per-format peak and memory bandwidth, blocked re-reads against on-chip SRAM, a
fixed per-kernel time), on the chip's own description (ChipParams: peaks per format, SM
count, tile shape, bandwidth, SRAM, TDP). Nothing in the fit is per chip: a few parameters
are shared by every chip, so the same curve predicts a chip that has no kernels.

  compute efficiency  eff[fmt] at the boost clock, capped at 1
      eff[fmt]   one per GEMM format (bf16, fp8, nvfp4), and fp8_block for chips whose MMA
                 applies the block scales (formats.mma_block_scaled_fp8) and for the SM 9.0 DeepGEMM kernel
                 (DEEPGEMM_EFF), and for the SM 8.9 ada_blockwise_gemm kernel (ADA_BLOCKWISE_EFF);
                 elsewhere fp8_block is the FP8 GEMM at eff[fp8] plus the promotion below
  power-capped clock  a GEMM that keeps its format's peak busy a fraction `busy` at boost draws
                 busy x peak x pj_flop_n7 x the node's energy scale (econ nodes.csv); past the
                 chip's TDP its compute runs at the clock that meets the cap (P ~ f^3 in the DVFS
                 range; perf/power_cap.py): one shared energy per BF16-equivalent FLOP, held at what the
                 sustained-vs-boost GEMM microbenchmarks give (HELD_CAP_ENERGY), else fitted; over the part
                 of its timed replays past the board's power response only, a short burst runs at boost
                 (perf/collector_clock.py, COLLECTOR_BURST_CLOCK; or under a fitted short-term budget of
                 burst_power x the TDP, BURST_POWER_LIMIT, off); with silicon_cap.SILICON_CAP_ENERGY a
                 chip's format at the energy the pair measured on its own silicon gives (cap_power_density)
  attention           eff_attention (fused attention vs GEMM, opcost's factor) on eff[math format], an
                      FP8 FMHA of a described family at eff[bf16], not the FP8 GEMM's (ATTN_FP8_EFF); the softmax
                      exponential on the special-function units, fixed from the hardware
                      (EXP_FP32_FLOPS, halved where the chip's data doubles the SFU rate)
  memory              eff_mem, the fraction of DRAM bandwidth a kernel streams at (skinny
                      GEMMs, decode attention): one per GEMM format, one per attention phase
  fixed time          per kernel: one per GEMM format (a quantized GEMM also launches its
                      activation-quantize kernels), one for prefill and decode attention; a
                      GEMM's plus its chip family's offset per format (launch, prologue and
                      epilogue of the family's kernel library: the empty n = k = 32 GEMMs take
                      1.75-1.98 us on Blackwell, 2.57-2.64 on Hopper), fitted on the family's
                      chips (ovhfam_*, summing to 0: a family the fit never saw pays ovh_<fmt>;
                      FIXED_TIME_BY_FAMILY), or measured on the empty GEMMs (perf/kernel_floor.py);
                      likewise an attention op's whose kernel runs on several families (context,
                      masked MHA, XQA HMMA: ATTN_FAMILY_CLASSES, fitted offsets only)
  split-K             the library's most K splits per GEMM format (ChipParams.max_split_k); past one
                      wave, a last wave under half full is spread over every core by stream-K
                      (STREAM_K_TAIL, CUTLASS's heuristic decomposition; ChipParams.stream_k_tail);
                      the K slices' partial sums added up in K order after the main loops, one
                      shared hand-off time per slice past the first (split_serial_us, SPLIT_K_SERIAL:
                      cuBLASLt's in-place reduction scheme; ChipParams.split_k_serial_time)
  work-unit overhead  K depth of a GEMM tile's pipeline fill + epilogue, keys of an attention
                      query tile's prologue/epilogue (tile_k_overhead, attn_tile_k_overhead)
  GQA pack limit      largest query-head group read from the KV cache in one pass (scanned)
  exposed epilogue    fraction of each GEMM wave's output-tile store (cores x tile x output
                      bytes at the DRAM bandwidth; FP32 partials for split-K units) serialised
                      with the math (ChipParams.epilogue_exposed, perf/opcost.epilogue_time): a
                      time that does not shrink with the MMA rate; none where the core holds two
                      or more accumulator tiles (Blackwell's tensor memory: the epilogue drains one
                      while the MMA fills the next; opcost.accumulator_stages), so the fraction is
                      fitted on register-accumulator chips; the collector's nvfp4 kernel keeps one
  block-scale promotion  where the MMA cannot apply FP8 block scales (Hopper, Ada), the FP32
                      partial sums are scaled and accumulated on the vector units after every
                      128-deep K block (DeepGEMM README: "promotion" on CUDA cores), one FMA per
                      element of each CTA's output tile per block on its SM's FP32 units, wave by
                      wave, where the kernel's tile is known (promotion_flops; else per output element
                      over every core), times the fraction not overlapped with the MMAs
                      (promote_exposed, at most 1); where the kernel's CTA runs two math warpgroups
                      (DeepGEMM's 128-row M block), each promotes while the other's WGMMAs hold the
                      tensor cores, so only what exceeds them shows (exposed_promotion: none on Hopper)
  L2 replay           a GEMM whose collector replay (five weight copies, the activation, the
                      output) fits in the chip's L2 streams from L2, not DRAM (perf/kernel_replay.py):
                      at cores x l2_core_bw, one shared per-SM L2 stream; a generation kernel whose
                      replayed KV cache fits (decode_l2_resident), or whose CTAs re-read a KV head the
                      DRAM delivers once (masked MHA's GQA group, mmha_reread), streams at its CTAs'
                      own rate against the chip's L2 read bandwidth (l2_read_bw; serving never does this)
  collector's kernel  where the database says which GEMM kernel the collector timed (the
                      TensorRT-LLM nvfp4 GEMMs: CUTLASS's untuned default config, perf/kernel_tile.py),
                      that kernel's fixed output tile (all 128 rows for few tokens), no K splits,
                      its MMA's whole K tiles (a 768-deep K tile on SM 10.3 computes a k = 256 GEMM
                      three times over), and its 1-SM MMA's rate as far as the SM's shared memory
                      feeds its operands (SM 10.3's Ultra FP4 rate: 0.79), and its epilogue's
                      store transactions (SM 10.3's register-direct store fills half of each
                      32-byte sector: its exposed tile store moves 2x the bytes); serving autotunes.
                      The SM 9.0 fp8_block GEMM (DeepGEMM behind trtllm::fp8_block_scaling_gemm):
                      its tile per shape (swap-AB below 32 tokens, kernel_tile.fp8_block_tile), no
                      K splits, the promotion on the SMs its tiles occupy, its CTAs' operand reads
                      (every tile reads its A and B rows over the whole K) at the chip's measured
                      L2 bandwidth as one more roofline term (with_operand_stream), and one SM's
                      stream = its pipeline's bytes in flight (stages x both tiles of a K block,
                      kernel_tile.fp8_block_stages) per load round trip (load_latency_us, shared);
                      its quantize pass (scale_1x128_kernel, a grid of 8 CTAs per SM whose warps
                      quantize one 1 x 128 block per grid-stride iteration) at least its iterations
                      x one iteration's time (quant_round_us, shared): the same on H100 and H200,
                      whatever their DRAM (kernel_tile.fp8_block_quant_rounds, with_quant_rounds)
  generation CTAs     per generation kernel (decode_kernel): the query tile its CTA pads the GQA
                      group to (kernels_db.yaml decode_kernels q_tile: XQA mma.sync 16 rows, XQA
                      Hopper SWAP_AB 8, trtllm-gen tileSizeQ 8..128, masked MHA 1), and a CTA's KV
                      stream by Little's law (per token 1 / tokens/s + its K and V bytes / bytes/s per
                      CTA: buffers of fixed tokens or fixed bytes; resident CTAs per core, one fitted per kernel:
                      FITTED_RESIDENCY; from the kernel's source where SOURCE_RESIDENCY, off) slowed by the
                      work per (padded query row, KV token) it serialises with its loads (score_<kernel>,
                      FP32-FLOP equivalents at one core's vector rate: the online softmax; not for
                      masked MHA, whose single row per CTA makes it its token rate); the CTAs each
                      (sequence, KV head) splits its KV length over follow the kernel's multi-block
                      rule where the library has one (decode_kernels multi_block: XQA
                      computeMultiBlockCount), else fill the cores; the masked-MHA kernel's launcher
                      widens its CTA (256-1024 threads) and splits the KV length so few (sequence, head)
                      pairs still fill the SMs' registers (perf/mmha_launch.py, MMHA_LAUNCH): its CTAs count
                      as their 256-thread base blocks against the source's 4 per SM, its waves hold the CTAs
                      one SM fits, its last partial wave streams with its own CTAs, and a split pays one
                      merge (merge_decode_mmha); the XQA Hopper kernel's CTA pays a work per element of
                      its query tile with each wave (tile_decode_qgmma, QGMMA_TILE_WORK)
  attention CTAs      fixed cost per wave of attention work units (CTAs), per phase: a latency
                      (us, unitlat_<phase>) plus FLOP-equivalents at one core's achieved rate
                      (unit_<phase>), overlapped with the KV stream for context kernels and in
                      series with it for generation kernels (few CTAs resident per SM: a wave's
                      prologue/epilogue leaves the SM's stream idle; perf/opcost.py); context
                      tiling (scanned: 0 GQA heads packed in the tile rows, exact causal keys;
                      1 FlashAttention-2 tiling, one CTA per (sequence,
                      query head, query tile), causal diagonal tiles computed in full); a causal
                      context grid lasts at least its longest CTA (the last query tile) and its
                      exponentials run on the occupied cores' SFUs (ChipParams.attn_ctx_makespan)
  context kernel      the one the library runs: over an FP8 KV cache the FP8 FMHA (TensorRT-LLM
                      allows no paged context FMHA on an FP8 cache without FP8 attention), and one
                      CTA per query head also for a one-token context (no GQA packing); where its
                      fixed work tile is described (kernels_db.yaml context_kernels: Hopper fmha_v2
                      warp-specialized 128 rows x 64-256-key tiles by head size and format, Blackwell
                      trtllm-gen 128 x 128), whole tiles (perf/context_tiles.py, ChipParams.attn_ctx_*;
                      and the softmax overlapped with the MMAs where the kernel does so (Hopper's two
                      warpgroups in ping-pong; ChipParams.attn_ctx_softmax_overlap): both opt-in,
                      Groups(softmax_overlap=True) or SOFTMAX_OVERLAP; see Round stop-24/25 in issue-24.md;
                      a kernel described with its softmax in series, Blackwell's trtllm-gen, gets its tile with
                      SERIAL_CONTEXT_TILE: Round stop-37 issue-39e); a two-Q-tile ping-pong bounded by the
                      SM's tensor memory (Blackwell: heads <= 128 overlapped, larger in series) with
                      TMEM_PINGPONG (Round stop-38 issue-42a)

A quantized GEMM of the database is TensorRT-LLM's `Linear.forward` on a BF16 activation
(aiconfigurator collector/trtllm/collect_gemm.py): it quantizes the activation in its own
kernels before the GEMM (fp8: dynamic per-tensor scale, an amax pass then a convert pass,
`quantize_e4m3_per_tensor` in tensorrt_llm/_torch/modules/linear.py; fp8_block: one 1x128
per-token-group pass; nvfp4: one `fp4_quantize` pass with the given global scale). So each
quantized kernel is predicted as the GEMM plus that memory-bound pass (`quantize_op`: reads the
BF16 activation once per pass, writes the format's payload and block scales). Serving fuses the
quantize into the producer (workloads/llm.py), so the fitted GEMM efficiency is the GEMM's alone.
Likewise a context-attention kernel of the database is TensorRT-LLM's attention op, which runs
`invokeQKVPreprocessing` (RoPE, K/V written into the paged cache; cpp/tensorrt_llm/common/
attentionOp.cpp, enqueueContext) before the fused MHA: `qkv_preprocess_op` adds that pass, at the DRAM
(and, QKV_STEP_BOUND, at least its thread steps' traffic through the chip's L2: off).

Fitted by least squares on log(predicted / measured) latency with a soft-L1 loss (medians
matter, not the few kernels a library mis-tunes). Leave-one-chip-out: fit on every chip but
one, predict all of the held-out chip's kernels.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from ..formats import format_table, mma_block_scaled_fp8, quant_flops
from ..hardware.params import ChipParams
from ..ops import PEAK_KEYS, Attention, Elementwise, MatMul, OpTable
from ..workloads.llm import qkv_preprocess
from .calibration import calibrated_params
from .collector_clock import capped_fraction
from .context_tiles import context_tile, pingpong_described, schedule_described, tmem_pingpong
from .context_tiles import softmax_overlap as overlap_of
from .decode_residency import ctas_per_sm
from .kernel_floor import chip_floors, family_offsets, offset_of
from .kernel_replay import (KV_BYTES_PER_ELEM, WEIGHT_BYTES_PER_ELEM, decode_l2_resident, l2_read_bw, l2_resident, l2_served_bw,
                            mmha_cta_width, mmha_reread, replay_copies)
from .kernel_tile import (collector_tile, fp8_block_math_warpgroups, fp8_block_multicast, fp8_block_quant_rounds, fp8_block_rule,
                          fp8_tensor_quant_rounds, fp8_tensor_quant_rule,
                          fp8_block_stages, fp8_block_tile, k_padding,
                          operand_feed, operand_stream_bytes, store_fill)
from .kernels_db import Kernels, chip_for, db_config, held_out_chips, without_chips
from .mmha_launch import base_blocks_per_sm
from .opcost import K_ATTN, K_MATMUL, evaluate
from .parted_residuals import PartedResiduals
from . import silicon_cap
from .power_cap import capped_time, node_energy_scale

GEMM_FMTS = ("bf16", "fp8", "fp8_block", "nvfp4")
# the generation kernels TensorRT-LLM dispatches (decode_kernel; kernels_db.yaml decode_kernels)
DECODE_KERNELS = ("trtllmgen", "qgmma", "hmma", "mmha")
# generation kernels whose CTA holds several query rows (kernels_db.yaml decode_kernels q_tile > 1):
# only there is the per-(row, token) work apart from the per-token stream (tokrate_<kernel>); the
# masked-MHA kernel's one row per CTA makes score_decode_mmha the same term as its token rate
ROW_TILED_KERNELS = tuple(k for k in DECODE_KERNELS if db_config()["decode_kernels"]["q_tile"][k] > 1)
# attention kernel classes with their own streaming efficiency, fixed time and per-wave CTA cost
ATTN_CLASSES = ("prefill", *(f"decode_{k}" for k in DECODE_KERNELS))
# GEMM kernel classes: one per format, and the SM 9.0 fp8_block pair the library runs on its own path
# (linear.py: fp8_quantize_1x128 + the DeepGEMM SM 9.0 kernel; SM 10.x calls fp8_swap_ab_gemm on the BF16
# input), with its own fixed time and stream efficiency (kernels_db.yaml trtllm_fp8_block_tile)
FP8_BLOCK_SM90 = "fp8_block_sm90"
GEMM_CLASSES = GEMM_FMTS + (FP8_BLOCK_SM90,)
CLASSES = GEMM_CLASSES + ATTN_CLASSES
# the chip families of the database's chips (kernels_db.yaml systems)
FAMILIES = tuple(sorted({chip_for(e["chip"]).family for e in db_config()["systems"].values()}))
# how a GEMM's fixed time depends on its chip's family (docs/notes/issue-24.md, Round stop-26, issue-26bw):
# "measured": the family's empty-GEMM offset (perf/kernel_floor.py); "fitted": one offset per (family,
# format) fitted on the family's chips in the fit (ovhfam_*); None: one shared fixed time per format
FIXED_TIME_BY_FAMILY = "fitted"
# attention kernel classes whose one kernel runs on several chip families, each with a fitted fixed-time
# offset per family as the GEMMs' (FIXED_TIME_BY_FAMILY "fitted": ovhfam_<family>_<class>, summing to 0
# over the families fitted, so a family the fit never saw pays the shared ovh_<class>): the same op
# launches in a different time per family and library build. Model-free, the smallest generation kernels
# of the database (one sequence, <= 128 keys, aiconfigurator-core 0.12.0) take 10.8-11.6 us on A100
# (TensorRT-LLM 1.0.0), 7.3-9.1 on H100 / H200, 7.2-10.7 on L40S, 8.6-10.2 (masked MHA) on B200 / GB200 /
# B300 / GB300 (docs/notes/issue-24.md, Round stop-27, issue-27ha). The Hopper-only (qgmma) and
# Blackwell-only (trtllmgen) kernels' own ovh_<class> is already their family's. () = off
ATTN_FAMILY_CLASSES = ("prefill", "decode_mmha", "decode_hmma")
# the dynamic per-tensor FP8 quantize the collector's Linear runs before its FP8 GEMM (amax, then the scalar convert:
# kernel_tile.fp8_tensor_quant_rounds, kernels_db.yaml trtllm_fp8_tensor_quantize) priced like the fp8_block pair's:
# at least its grid-stride iterations x one iteration's time (its own fitted tensor_round_us), not only the DRAM
# stream. Source: both kernels take one scalar BF16 element per thread per iteration on fixed grids; the database's
# FP8 time per activation element is the same on H100 and H200 (1.43x the HBM bandwidth). Off: the iteration time is
# not in the source and differs by family (Hopper ~0.30 us, B200 ~0.17 us on the database's grid); fitted, the
# kernel cells barely move (H100 held out 5.2 -> 4.9 %, B200 held out 7.0 -> 7.4 %). docs/notes/issue-24.md, Round
# stop-40 issue-54a
TENSOR_QUANT_ROUNDS = False
# its iteration time fitted per chip family (tensor_round_us_<family>) rather than shared (tensor_round_us); only
# read where TENSOR_QUANT_ROUNDS
TENSOR_ROUND_BY_FAMILY = False


# BLAS threads of the fit's linear algebra (least_squares' trust-region step: an SVD of the rows x ~80 free
# parameters Jacobian); None: the BLAS default (every core). 1 makes the fit ~1.3x faster on shared cores
# (OpenBLAS's threads spin: 13000 x 80 SVD 3.75 s on 2 threads vs 0.35 s on 1, load 10) but moves the fit's
# flat directions (B200 held out: ovh_decode_trtllmgen 3.1 -> 7.2 us against ovh_gen_pre 7.1 -> 3.1, same
# medians to 0.1 point): the fitted bits already depend on the thread count (issue-24.md, Round stop-27
# issue-27fs). Left at the default so the answer stays main's
FIT_BLAS_THREADS: int | None = None


def fixed_time_param(family: str, fmt: str) -> str:
    """The name of a family's fitted GEMM fixed-time offset for one format."""
    return f"ovhfam_{family}_{fmt}"


# (name, start, low, high)
PARAMS = (
    # compute efficiency per GEMM format; block-scaled FP8 has its own only where the MMA applies
    # the scales (elsewhere it is the FP8 GEMM plus the promotion on the vector units)
    *((f"eff_{f}", 0.7, 0.1, 1.0) for f in GEMM_FMTS if f != "fp8_block"),
    ("eff_fp8_block_mma", 0.7, 0.1, 1.0),
    ("eff_fp8_block_sm90", 0.7, 0.1, 1.0),  # the SM 9.0 block-scaled FP8 kernel's (DeepGEMM) own, where DEEPGEMM_EFF
    ("eff_fp8_block_sm89", 0.7, 0.1, 1.0),  # the SM 8.9 block-scaled FP8 kernel's (ada_blockwise_gemm) own, where ADA_BLOCKWISE_EFF
    ("pj_flop_n7", 1.5, 0.05, 20.0),  # board energy per BF16-equivalent FLOP at boost, N7 (perf/power_cap.py)
    # the power a board allows over a collector burst (before its power control settles at the TDP), as a multiple of
    # its TDP (BURST_POWER_LIMIT; held at its start, unused, when off)
    ("burst_power", 1.5, 1.0, 4.0),
    ("eff_attention", 0.6, 0.1, 1.5),  # fused attention vs GEMM
    *((f"mem_{f}", 0.8, 0.2, 1.0) for f in CLASSES),  # DRAM streaming efficiency
    *((f"ovh_{f}", 5.0, 0.0, 60.0) for f in CLASSES),  # fixed time per kernel, us
    ("core_bw_share", 2.0, 1.0, 32.0),  # one core's DRAM stream / (mem_bw / cores)
    # round trip (us) of the loads of a kernel whose CTAs keep a known pipeline of them in flight (the SM 9.0
    # fp8_block kernel: stages x its A and B tiles per SM), so one SM streams in-flight bytes / latency
    ("load_latency_us", 1.0, 0.1, 10.0),
    # time (us) of one grid-stride iteration of a quantize kernel whose warps each take one block of the
    # activation per iteration (the SM 9.0 fp8_block pair's scale_1x128_kernel, kernel_tile.fp8_block_quant_rounds:
    # a dependent load round trip, a warp max-reduction and the stores), so its pass takes rounds x this at least
    ("quant_round_us", 1.0, 0.1, 20.0),
    # and of a quantize kernel whose threads each take one scalar element per iteration (the dynamic per-tensor FP8
    # pair's amax and convert, kernel_tile.fp8_tensor_quant_rounds; TENSOR_QUANT_ROUNDS, held, unused, when off)
    ("tensor_round_us", 0.3, 0.01, 20.0),
    # or one per chip family (TENSOR_ROUND_BY_FAMILY: the load round trip differs between the families' memory systems)
    *((f"tensor_round_us_{fam}", 0.3, 0.01, 20.0) for fam in FAMILIES),
    ("l2_core_bw", 30.0, 1.0, 1000.0),  # GB/s one core streams from L2 (GEMMs the collector replays from L2)
    *((f"split_{f}", 8.0, 1.0, 64.0) for f in GEMM_FMTS),  # the library's most K splits per GEMM format
    ("tile_k_overhead", 64.0, 0.0, 2048.0),  # K depth of a GEMM tile's pipeline fill + epilogue
    # us each K slice past the first adds to a split-K GEMM's in-order reduction (SPLIT_K_SERIAL;
    # ChipParams.split_k_serial_time): one hand-off through the L2, shared by every chip and GEMM format
    ("split_serial_us", 0.2, 0.0, 5.0),
    ("epilogue_exposed", 0.3, 0.0, 1.0),  # fraction of a GEMM wave's output-tile store not overlapped
    ("promote_exposed", 0.5, 0.0, 1.0),  # exposed fraction of the CUDA-core promotion (one FMA per output element per K block)
    ("attn_tile_k_overhead", 64.0, 0.0, 4096.0),  # keys-equivalent of an attention work unit's prologue/epilogue
    # the context kernel's own (CONTEXT_K_OVERHEAD; held, unused, when off): keys-equivalent of a context CTA's
    # prologue/epilogue, apart from the generation kernels' attn_tile_k_overhead
    ("ctx_tile_k_overhead", 64.0, 0.0, 4096.0),
    # and their own fused-attention efficiency (CONTEXT_KERNEL_EFF; held, unused, when off)
    ("ctx_eff_attention", 0.6, 0.1, 1.5),
    ("attn_head_pack", 1e9, 1.0, 1e9),  # largest GQA group served in one pass over the KV cache (scanned)
    *((f"unit_{ph}", 1e7, 0.0, 1e9) for ph in ATTN_CLASSES),  # fixed work per attention CTA (FLOP-equivalents at one core's rate)
    *((f"unitlat_{ph}", 1.0, 0.0, 20.0) for ph in ATTN_CLASSES),  # fixed latency per wave of attention CTAs, us
    ("ovh_gen_pre", 2.0, 0.0, 30.0),  # fixed time of the separate generation preparation kernels, us
    ("attn_tiling", 1.0, 0.0, 1.0),  # 1: FlashAttention-2 context tiling (per query head, full diagonal tiles) (scanned)
    # generation kernels' Little's-law KV stream: tokens/s (1e6) one resident CTA keeps in flight per
    # DRAM latency, per kernel, and resident CTAs per core (ChipParams.attn_cta_tokens_per_s, _ctas_per_core)
    *((f"tokrate_decode_{k}", 20.0, 0.5, 2000.0) for k in DECODE_KERNELS),
    # and GB/s one resident CTA keeps in flight per DRAM latency where its buffers hold bytes, not
    # tokens (XQA mha.cu: K in 128-byte head parts, V in 64-element tiles; ChipParams.attn_cta_bytes_per_s):
    # per token a CTA waits 1 / tokrate + K and V bytes / ctabw
    *((f"ctabw_decode_{k}", 50.0, 1.0, 1e5) for k in DECODE_KERNELS),
    ("ctas_per_core", 2.0, 1.0, 16.0),
    # resident CTAs per core per generation kernel where FITTED_RESIDENCY (else held, unused): the kernels'
    # sources give different residencies (XQA mha.cu 1, mha_sm90.cu 2-3, masked MHA up to 8-16; perf/decode_residency.py)
    *((f"ctas_decode_{k}", 2.0, 1.0, 16.0) for k in DECODE_KERNELS),
    # the knee of the generation kernels' loaded stream (opcost.loaded_stream): (C^-n + D^-n)^(-1/n) of
    # their CTAs' Little's-law stream C and the DRAM's D (ChipParams.attn_cta_stream_knee); a property
    # of how a request's round trip grows with the memory's load, shared by every chip and kernel
    ("gen_stream_knee", 4.0, 1.0, 32.0),
    # GB/s one core streams in the context attention op's QKV preprocessing pass (ChipParams.elt_core_bw,
    # ELT_CORE_STREAM): a grid sized to the SMs, one 16-byte vector per thread per step, so the pass
    # streams what the SMs keep in flight, against the DRAM at the shared knee gen_stream_knee
    ("elt_core_bw", 25.0, 1.0, 1000.0),
    # GB/s one core streams its context CTA's Q and O tiles at (ChipParams.attn_ctx_io_core_bw, CONTEXT_IO_CORE_STREAM;
    # held, unused, when off)
    ("ctx_io_core_bw", 10.0, 1.0, 1000.0),
    # FP32-FLOP equivalents per score the serial context kernels add to their exponential (SERIAL_SCORE_FIT; held,
    # unused, when off): starts at the instruction count SOFTMAX_FP32_FLOPS
    ("ctx_score_flops", 7.0, 0.0, 64.0),
    # bytes one thread step of the QKV preprocessing pass moves through the L2, at the chip's measured L2
    # bandwidth (ChipParams.elt_step_time, QKV_STEP_BOUND); the source's count is 112-208 (QKV_STEP_BOUND)
    ("qkv_step_bytes", 128.0, 0.0, 1024.0),
    # work per (padded query row, KV token) a generation CTA serialises with its KV stream, per kernel
    # (FP32-FLOP equivalents at one core's vector rate; ChipParams.attn_gen_score_flops)
    *((f"score_decode_{k}", 100.0, 0.0, 1e5) for k in ROW_TILED_KERNELS),
    # us the masked-MHA kernel's multi-block merge adds once where its launcher splits the KV length
    # (MMHA_LAUNCH; ChipParams.attn_gen_merge_time)
    ("merge_decode_mmha", 1.0, 0.0, 30.0),
    # work the XQA Hopper kernel's CTA does per element of its query tile (padded heads x head size), per wave
    # (QGMMA_TILE_WORK; ChipParams.attn_gen_tile_flops), FP32-FLOP equivalents at one core's vector rate
    ("tile_decode_qgmma", 100.0, 0.0, 1e5),
    # a chip family's GEMM fixed time against the shared ovh_<fmt>, us (FIXED_TIME_BY_FAMILY "fitted";
    # fitted on the family's chips, summing to 0 over the families fitted: a new family gets ovh_<fmt>)
    *((fixed_time_param(fam, f), 0.0, -30.0, 30.0) for fam in FAMILIES for f in GEMM_FMTS),
    *((fixed_time_param(fam, c), 0.0, -30.0, 30.0) for fam in FAMILIES for c in ATTN_FAMILY_CLASSES),
)
NAMES = tuple(p[0] for p in PARAMS)
# step parameters: least squares cannot move them; fit() scans these values with the rest fixed, then refits
SCANNED = {"attn_head_pack": (4.0, 8.0, 16.0, 32.0, 64.0, 1e9), "attn_tiling": (0.0, 1.0)}
# the softmax exponential runs on the special-function units: 16 results per clock per SM against
# 128 FP32 FMA (256 FLOP) per clock per SM on NVIDIA compute capability 8.6-10.x (CUDA C++
# Programming Guide, arithmetic instruction throughput; FlashAttention-3, Shah et al. 2024: H100
# 989 TFLOP/s matmul vs 3.9 TFLOP/s special functions), so one exponential costs 16 FP32-FLOP
# equivalents of the chip's vector rate. Fixed from the hardware, not fitted (opcost divides the
# per-score work by vector_flops * eff_vector, hence the eff_vector factor in Groups)
EXP_FP32_FLOPS = 16.0
# the softmax's FP32-pipe work per score besides the exponential, in FP32-FLOP equivalents (2 per instruction per
# element at 128 FP32 lanes per clock per SM): the online softmax of FlashAttention-2 (Dao 2023, Algorithm 1) per
# score takes the running row max (FMNMX), the exponent's scale-and-subtract (one FFMA feeding MUFU.EX2, the
# exp2 form), the row sum (FADD) and half a BF16x2 pack of P (F2FP), 3.5 instructions = 7. Unlike the exponential
# it does not speed up with the SFU (Blackwell Ultra's doubled MUFU.EX2, sfu_exp_speedup). Added to the
# exponential's cost where SOFTMAX_FP32_WORK (fit only; docs/notes/issue-24.md, Round stop-37 issue-39e)
SOFTMAX_FP32_FLOPS = 7.0
SOFTMAX_FP32_WORK = False
# the same FP32-pipe work per score (SOFTMAX_FP32_FLOPS, in series, at the chip's vector rate: 3.5 instructions / 128
# lanes = 0.027 clk per score per SM on every chip, whatever the MMA format) only in the context kernels of a family
# described with its softmax in series with its MMAs (kernels_db.yaml context_kernels `softmax_overlap: false`:
# Blackwell's trtllm-gen), not Hopper's fmha_v2 (described as a ping-pong: its softmax runs under the other warpgroup's
# MMAs) nor the undescribed families. Model-free, both Blackwell FMHAs (BF16 and FP8) take a per-score constant beyond
# the MMA at peak that is the same for both formats (GB300 0.049-0.056 clk, of it 1/32 the exponential; GB200
# 0.074-0.082, of it 1/16: Round stop-42 issue-61d), which the fit otherwise can only express as MMA inefficiency.
# Fit only (serving's softmax_vflops is kernel_structure.yaml's). Measured in docs/notes/issue-24.md, Round stop-42
# (issue-62c)
SERIAL_SCORE_WORK = False
# the same per-score work as one shared parameter (ctx_score_flops, FP32-FLOP equivalents, start SOFTMAX_FP32_FLOPS),
# fitted on the training chips' serial context kernels only, in place of the instruction count (implies
# SERIAL_SCORE_WORK's scope). Off: measured in docs/notes/issue-24.md, Round stop-42 (issue-62c)
SERIAL_SCORE_FIT = False
# price a context kernel's softmax under its MMAs where the family's kernel overlaps them
# (context_tiles.softmax_overlap): the fit's default (Groups) and so `--kernels` serving's
# (kernel_calibration.chip_entry). Off: on with Hopper's tiles it helps H100 / H200 held out and
# hurts B200 through the shared attention parameters (issue-24.md, Round stop-25, issue-25ha)
SOFTMAX_OVERLAP = False
# price the fixed work tile of a context kernel whose softmax runs in series with its MMAs (kernels_db.yaml
# context_kernels `softmax_overlap: false`: Blackwell's trtllm-gen 128 x 128), whole tiles with their padded rows'
# and masked keys' exponentials at the chip's SFU rate, whatever SOFTMAX_OVERLAP (Hopper's tile comes only with its
# overlap). A one-token prompt's CTA still exponentiates 128 x 128 scores, which the doubled MUFU.EX2 of B300 /
# GB300 halves; without the tile those exponentials sit in the shared per-wave latency. Fit only (serving's
# context op keeps the model's own tiling). Measured in docs/notes/issue-24.md, Round stop-37 (issue-39e)
SERIAL_CONTEXT_TILE = False
# price a context kernel's softmax under its MMAs by the SM's tensor memory where the family's kernel is a two-Q-tile
# ping-pong with its accumulators there (kernels_db.yaml context_kernels `pingpong`: Blackwell's trtllm-gen,
# FlashAttention-4): overlapped where both Q tiles' S and O columns fit the chip's TMEM (context_tiles.tmem_pingpong:
# head sizes <= 128 on a 512-column SM), in series above (head 256: one Q tile), whatever the family's
# `softmax_overlap` flag; families without tensor memory keep their flag (Hopper's, under SOFTMAX_OVERLAP). Fit only
# (serving's context op keeps attn_ctx_softmax_overlap per chip). Off: measured in docs/notes/issue-24.md, Round
# stop-38 (issue-42a)
TMEM_PINGPONG = False
# price the work-unit prologue / epilogue (keys-equivalent of a CTA's Q-tile load, pipeline fill and O rescale /
# store, amortised over its KV loop: opcost's u_k) of the context kernels kernels_db.yaml describes (context_kernels:
# Hopper's warp-specialized fmha_v2, Blackwell's trtllm-gen; TMA-fed, warp-specialized, accumulators in tensor
# memory on Blackwell) with a parameter of their own, ctx_tile_k_overhead, fitted on those families' context
# kernels; the generation kernels and the undescribed families' context kernels (fmha_v2's Ampere-style kernels on
# SM 8.0 / 8.9 / 12.0) keep the shared attn_tile_k_overhead. `--kernels` serving prices a context op the same way
# (kernel_calibration.context_k_overhead -> ChipParams.attn_ctx_tile_k_overhead).
# Measured in docs/notes/issue-24.md, Round stop-40 (issue-51d)
CONTEXT_K_OVERHEAD = False
# price a context CTA's Q-tile load and O-tile store serialised with its math, wave by wave, at the DRAM rate
# (opcost ChipParams.attn_ctx_io_exposed: with one FMHA CTA resident per SM the next CTA waits for both, as a GEMM's
# exposed epilogue): a per-CTA cost in bytes (proportional to the head size), not in keys, so the same on every
# chip whatever its MMA rate; `--kernels` serving prices a context op the same way (kernel_library attn_ctx_io_exposed).
# Tried at stop 23 (issue-23kd) on H200 (lost); measured again in docs/notes/issue-24.md, Round stop-40 (issue-51d)
CONTEXT_IO_EXPOSED = False
# the same Q and O tiles, each wave, at no more than one core's own stream (ctx_io_core_bw GB/s, one rate shared by
# every chip, fitted on the training chips; ChipParams.attn_ctx_io_core_bw): a CTA's tile load / store is paced by the
# requests its SM keeps in flight per round trip (Little's law, as ELT_CORE_STREAM's QKV pass), not by the chip's DRAM
# share, so the per-CTA cost is seconds per head element on every chip — more keys-equivalent on a faster MMA
# (docs/notes/issue-24.md, Round stop-42 issue-61d). Implies CONTEXT_IO_EXPOSED's term; `--kernels` serving prices a
# context op the same way (kernel_library attn_ctx_io_core_bw). Its start value binds on the HBM chips (their DRAM
# share per SM is 19-53 GB/s): a max() term's parameter has no gradient where it does not bind. Off: measured there
CONTEXT_IO_CORE_STREAM = False
# the described context kernels' MMAs at an efficiency of their own (ctx_eff_attention, on eff[math format] as
# eff_attention), fitted on those families' context kernels (CONTEXT_K_OVERHEAD's scope); the generation kernels and
# the undescribed families' context kernels keep the shared eff_attention. A per-kernel-class efficiency (scoped as
# ATTN_FP8_EFF's own_fp8_attention), fitted like the generation kernels' own parameters: calibration by kernel class
# more than a structural term. `--kernels` serving prices a context op the same way
# (kernel_calibration.context_eff_attention -> ChipParams.attn_ctx_eff_attention). Off: measured with
# CONTEXT_K_OVERHEAD in docs/notes/issue-24.md, Round stop-40 (issue-51d)
CONTEXT_KERNEL_EFF = False
# a GEMM library's stream-K tail: the last wave's fill below which the last two waves' tiles are
# spread over every core by K iterations (CUTLASS include/cutlass/gemm/kernel/tile_scheduler_params.h,
# get_num_sk_tiles: the heuristic keeps data-parallel waves when "the tail wave is more than half
# full"); ChipParams.stream_k_tail, for the GEMMs whose kernel may split K (not the collector's
# data-parallel nvfp4 kernel, whose max_split_k is 1)
STREAM_K_TAIL = 0.5
# the generation kernels' stream as a loaded round trip (opcost.loaded_stream: the fitted knee
# gen_stream_knee between their CTAs' Little's-law stream and the DRAM's) in the fit and `--kernels`
# serving; False = the lesser of the two (stop 25). On: H200 held out 13.8 -> 12.1 %, H100 12.0 -> 12.3 %
# (docs/notes/issue-24.md, Round stop-26, issue-26at)
GEN_STREAM_KNEE = True
# the context attention op's QKV preprocessing pass (qkv_preprocess_op) as a Little's-law stream: its cores'
# in-flight loads per round trip (elt_core_bw per SM, shared by every chip) against the DRAM, at the knee
# of the generation kernels' loaded stream (gen_stream_knee), instead of the DRAM's peak x mem_prefill.
# TensorRT-LLM's applyBiasRopeUpdateKVCacheV2 (cpp/tensorrt_llm/kernels/unfusedAttentionKernels/
# unfusedAttentionKernels_2_template.h, APPLY_BIAS_ROPE_UPDATE_KV_CACHE_V2: calGridSizeWithBestEfficiency
# sizes the grid to the SMs, "one thread process one vector per step", a grid-stride loop over tokens):
# its bytes in flight are the SMs' threads x one vector, not the DRAM's. Measured, model-free: where the
# pass is the whole kernel H100 streams it at 2.5 TB/s and H200 at 3.0 (0.74 / 0.63 of the DRAM; Round
# stop-22, issue-22sc), and by the model's pass share the measured H200/H100 context time stays 0.985-0.998
# where a DRAM-bound pass predicts 0.92-0.98 (Round stop-27, issue-27ha). Off: fitted on every chip the
# shared per-SM stream goes to 63 GB/s (H100: 8.4 TB/s of SMs against 2.6 of DRAM), which leaves the
# H200/H100 pass ratio at 0.925 (DRAM-bound 0.917, measured 0.986) and H200 held out within 0.2 points
# (issue-27ha): one per-SM rate does not hold across the families. Fit only when on: `--kernels` serving
# prices the pass at its own stream efficiency (kernel_calibration.chip_entry)
ELT_CORE_STREAM = False
# the QKV preprocessing pass bounded by its traffic through the L2 as well as by the DRAM: its thread steps
# (workloads/llm.qkv_thread_steps: tokens x query heads x 16-byte vectors per head) x qkv_step_bytes at the
# chip's measured L2 read bandwidth (kernel_replay.l2_read_bw: gpu-benches gpu-l2-cache), the longer of that
# and its DRAM stream. Source: TensorRT-LLM applyBiasRopeUpdateKVCacheV2 (cpp/tensorrt_llm/kernels/
# unfusedAttentionKernels/unfusedAttentionKernels_2_template.h, NVIDIA/TensorRT-LLM 2340c77): the grid is
# (token blocks, head_num), blockIdx.y the query head, and per step each thread loads five 16-byte vectors
# (Q, its KV head's K and V, the Q and K rotation pairs: 80 B) and eight float2 cos/sin coefficients (64 B,
# shared by the two rotation halves: 32 B distinct), and stores Q (16 B, 8 B in FP8) and, the group's first
# query head only, K and V into the cache; K and V are re-read from the L2 by every query head of the group,
# so the pass's L2 traffic grows with the query heads where its DRAM bytes grow with the KV heads. H100 and
# H200 share their L2 (9.8 TB/s measured): where the L2 binds, H200 takes H100's time; B200's is 18.9.
# Fitted once, shared by every chip; in the fit and `--kernels` serving (kernel_calibration.chip_entry:
# kernel_library elt_step_time). False: the pass at the DRAM alone (stop 27). Off: on, the fitted 179-189 bytes
# per step (within the source's count) give H200/H100 context time 1.000 where measured 0.98-1.00 (GQA >= 2)
# and close the H100-H200 signed gap (+5.0 / +1.2 -> +4.5 / +5.4, BF16), but both Hopper chips are then too
# slow: held out H200 context 9.8 / 10.6 -> 10.6 / 12.1 %, H100 9.3 / 10.4 -> 10.1 / 11.7, B200 8.7 / 8.2 ->
# 8.3 / 7.3, B300 9.5 / 10.5 -> 8.9 / 9.4 (BF16 / FP8; docs/notes/issue-24.md, Round stop-28, issue-28qk)
QKV_STEP_BOUND = False
# an FP8 attention op's MMAs at the 16-bit FMHA's fraction of the peak (eff_bf16, of the FP8 peak;
# ChipParams.attn_eff_fp8) instead of the per-tensor FP8 GEMM's eff_fp8, on the families whose context FMHA is
# described (kernels_db.yaml context_kernels: Hopper, Blackwell). The context FMHA over an FP8 cache runs FP8 math
# (context_math) in the family's FMHA kernel, not in cuBLASLt's FP8 GEMM (cublas_scaled_mm) on whose kernels eff_fp8
# is fitted (with the SM 8.9 / 12.0 block-scaled GEMMs that hold it down, issue-26hf). The FMHA's E4M3 and 16-bit
# variants are one kernel design (TensorRT-LLM cpp/kernels/fmha_v2/src/fmha/warpspec/kernel_traits.h
# Kernel_traits_Hopper_qgmma_e4m3_fp32: the same warp-specialized DMA / two compute warpgroups, V remapped because
# "QGMMA only supports K-major", dma.h transpose_v_tile; Blackwell: trtllm-gen's QkvE4m3 / QkvBfloat16 context
# cubins of one tile, kernelMetaInfo.h) on an MMA whose FP8 instruction does twice the 16-bit one's FLOPs at the
# same issue rate (PTX ISA wgmma.mma_async k32 e4m3 vs k16 bf16; the chips' FP8 peak is 2x BF16), so its MMAs keep
# the 16-bit kernel's fraction of the peak. An undescribed family (Ada, Blackwell-RTX: their FP8 context kernels run
# slower than their BF16 ones in the database, section in docs/notes/issue-24.md stop 29) keeps eff_fp8. In the fit
# and `--kernels` serving (kernel_calibration.chip_entry: kernel_library attn_eff_fp8). False: eff_fp8 (stop 28)
ATTN_FP8_EFF = True
# the power cap's board energy per BF16-equivalent FLOP (pj_flop_n7) held at the value the sourced sustained-vs-boost
# GEMM microbenchmarks give (held_cap_energy: data/calibration/power_cap_msmf.yaml, mamf-finder v4 MSMF and its pair
# MAMF on H200, B200, A100 PCIe), not fitted. Fitted, it trades against the GEMM efficiencies: eff_bf16 x the capped
# clock is all a compute-bound GEMM sees, so a higher eff_bf16 with a harder cap fits the big GEMMs as well, and
# whatever else reads eff_bf16 (the FP8 FMHA under ATTN_FP8_EFF) moves it to its bound 1.0 with pj_flop_n7 1.65 -> 2.15,
# above every measured pair's 1.42-1.99 (docs/notes/issue-24.md, Round stop-30, issue-30kf). False: fitted (stop 29)
HELD_CAP_ENERGY = True
# the collector times each GEMM in a short burst (collector/helper.py benchmark_with_power: 7 calls, then 6 timed; the
# host builds the next shape's weights in between), so a kernel whose burst ends before the board's power control acts
# ran at the boost clock, and only the longer ones at the capped clock (perf/collector_clock.py, kernels_db.yaml
# collector_timing): the database's fastest GEMMs reach mamf-finder's boost pair MAMF, above the sustained MSMF of the
# same board, and its >= 20 ms kernels fall to the MSMF (docs/notes/issue-24.md, Round stop-33, issue-33db). Priced
# capped, the short kernels' boost speed came out as an efficiency at boost above any measured burst (H100 eff_bf16
# 0.977 vs the database's best 0.864 of peak), which serving's capped clock (kernel_calibration.chip_entry) turned back
# into the burst's speed for a sustained run. False: every kernel at the capped clock (stop 32)
COLLECTOR_BURST_CLOCK = True
# a collector burst (COLLECTOR_BURST_CLOCK) runs at the clock a short-term power budget of burst_power x the TDP allows,
# under the same cap law (perf/power_cap.py), not at the boost clock whatever its power. Why it was tried: the database's
# plateau of short BF16 GEMMs depends on the board's power on the same silicon (per SM and max clock, GB300 at 1,400 W
# runs them 1.12 x B300 at 1,100 W, GB200 at 1,200 W 1.03 x B200 at 1,000 W; docs/notes/issue-24.md, Round stop-36,
# issue-36c), which a burst at boost cannot give. Off: the budget's level has no source (mamf-finder's B200 burst pair
# reports 1,965 MHz, unthrottled), and fitted it falls to its bound 1 x TDP with eff_bf16 0.95-0.98 at boost, above
# every measured burst: stop 32's trade of efficiency against the cap again. Fit only (serving runs capped).
# False: a burst at the boost clock (stop 33)
BURST_POWER_LIMIT = False
# the SM 9.0 block-scaled FP8 GEMM the collector times (DeepGEMM behind trtllm::fp8_block_scaling_gemm: kernels_db.yaml
# trtllm_fp8_block_tile, TensorRT-LLM cpp/tensorrt_llm/kernels/cutlass_kernels/fp8_blockscale_gemm/
# fp8_blockscale_gemm_kernel.cuh, cpp/include/tensorrt_llm/deep_gemm/jit_utils.cuh) runs its MMAs at its own efficiency
# (eff_fp8_block_sm90), not at cuBLASLt's per-tensor FP8 GEMM's eff_fp8 (cublas_scaled_mm, fitted across Hopper,
# Blackwell, Ada and Blackwell-RTX kernels): a JIT-compiled kernel with its own tiles, TMA pipeline and two math
# warpgroups, which the fit already prices as its own kernel in every other term (fixed time, stream, tile, load
# pipeline, quantize rounds; FP8_BLOCK_SM90) — as Blackwell's block-scaled kernel has eff_fp8_block_mma and the FP8
# FMHA its own (ATTN_FP8_EFF). Fitted on the SM 9.0 chips in the fit; Ada's block-scaled FP8 has its own kernel and
# efficiency where ADA_BLOCKWISE_EFF (below). Fit only: serving has no block-scaled FP8 GEMM class. False: eff_fp8 (stop 29)
DEEPGEMM_EFF = True
# the SM 8.9 block-scaled FP8 GEMM the collector times runs its MMAs at its own efficiency (eff_fp8_block_sm89), not
# at cuBLASLt's per-tensor FP8 GEMM's eff_fp8: trtllm::fp8_block_scaling_gemm dispatches SM 89 to
# fp8_block_scaling_gemm_ada (TensorRT-LLM cpp/tensorrt_llm/thop/fp8BlockScalingGemm.cpp, `case 89`) -> gemm_dispatch_sm89
# (cpp/tensorrt_llm/kernels/cutlass_kernels/fp8_blockscale_gemm/fp8_blockscale_gemm_kernel.cuh): TensorRT-LLM's own
# ada_blockwise_gemm kernel, one fixed 32 x 128 x 128 tile, 3 cp.async stages, 4 warps of mma.sync m16n8k32 e4m3 with
# the block scales applied in registers per 128-deep K slab (ada_blockwise_gemm/ada_blockwise_gemm_traits.cuh,
# sm89_fp8_gemm_1d1d.cuh), a different kernel from the per-tensor FP8 one (cublas_scaled_mm). Shared, the block-scaled
# kernels pulled L40S's per-tensor eff_fp8 down (own fit 0.42: its per-tensor FP8 GEMMs priced 1.33 x their measured
# time at m >= 256, n, k >= 1024; 1.17 x untied; docs/notes/issue-24.md, Round stop-35 issue-35a). False: eff_fp8 (stop 34)
ADA_BLOCKWISE_EFF = True
ADA_BLOCKWISE_FAMILIES = ("nvidia-ada",)  # the catalog family of compute capability 8.9 (L4, L20, L40, L40S, RTX 4090)
# GEMM formats whose library kernel puts the tokens on the MMA's N side, so a GEMM of more tokens than
# the chip's row tile splits them into equal tiles at the MMA's N step (ChipParams.balanced_row_tiles):
# TensorRT-LLM's per-tensor FP8 linear runs trtllm::cublas_scaled_mm (tensorrt_llm/_torch/modules/linear.py
# FP8QDQLinearMethod.apply), which calls cuBLASLt with the weight as A and the tokens as N
# (cpp/tensorrt_llm/thop/cublasScaledMM.cpp cublas_gemm_caller: "swap A and B", Gemm(OP_T, OP_N, n, m, k));
# the MMA's N runs 8..256 in steps of 8 (PTX ISA wgmma.mma_async m64nNk32 for FP8; tcgen05.mma likewise)
TOKEN_N_FMTS = ("fp8",)
# a split-K GEMM's partial sums added up in K order after its main loops, (splits - 1) hand-offs of
# split_serial_us each (opcost.split_k_reduction_time; cuBLASLt CUBLASLT_REDUCTION_SCHEME_INPLACE, the
# reduction scheme TensorRT-LLM's cublasMMWrapper::getTactics restricts cuBLASLt to, "for numerical
# stability and better determinism"), in the fit and `--kernels` serving; False: no reduction time
# (split_serial_us held at 0). See docs/notes/issue-24.md, Round stop-27, issue-27bf
SPLIT_K_SERIAL = True
# the CTAs a generation kernel keeps resident per SM from its source where the source gives it (perf/
# decode_residency.py: XQA mha.cu 1 per SM, its ~140 KiB of shared memory against the SM's 164-228; XQA
# mha_sm90.cu 2-3 by its launch bounds), in the fit and `--kernels` serving; the other generation kernels
# (masked MHA, trtllm-gen) keep the fitted residency. Off: measured against the kernels, the source residency
# under the Little's-law CTA stream (a per-CTA rate shared by every chip) makes H200 held out worse, 12.1 ->
# 12.9 % (XQA mha.cu alone at 1 per SM: its DRAM-streamed kernels +17 %, H200 predicted no faster than H100);
# fitted per kernel, the XQA kernels take no residency cap at all (ctas_decode_hmma / _qgmma at their bound):
# the kernels' time does not show the source's per-SM cap (docs/notes/issue-24.md, Round stop-28, issue-28xq)
SOURCE_RESIDENCY = False
# one fitted residency per generation kernel (ctas_decode_<kernel>) instead of one shared ctas_per_core, where the
# kernel has no source residency (SOURCE_RESIDENCY) or everywhere (SOURCE_RESIDENCY off), in the fit and `--kernels`
# serving (generation_fields). Why: the kernels' builds differ (XQA mha.cu 256 threads and ~140 KiB of shared
# memory, mha_sm90.cu 384 threads and launch bounds of 2-3 per SM, masked MHA 256-1024 threads sized at run time
# by cudaOccupancyMaxActiveBlocksPerMultiprocessor: perf/decode_residency.py), so one shared value is a
# compromise between them (stop 27: 8.1, pulled by the XQA kernels; masked MHA alone fits 3.4). On, generation
# attention held out: H200 12.1 -> 11.3 % (masked MHA 12.4 -> 10.5), H100 12.1 -> 11.7, B200 8.1 -> 7.9, worse
# A100 22.8 -> 25.4 (its kernels already too fast, more so). False: the shared ctas_per_core (stop 26-27)
FITTED_RESIDENCY = True
# a generation kernel's sequence loop in whole KV tiles (GEN_KV_TILE) and its byte term on the padded head
# (GEN_HEAD_PAD), where its source gives them (kernels_db.yaml decode_kernels cta_kv_tile / head_pad: XQA mha.cu,
# 256-token CTA tiles, the head padded to 64 / 128 / 256), in the fit and `--kernels` serving (generation_fields;
# ChipParams.attn_gen_kv_tile, attn_gen_head_pad). Both wired, off (docs/notes/issue-24.md, Round stop-29,
# issue-29dc). Whole tiles: the kernels reject them, the fit takes the CTA stream off (token and byte rates to
# their bounds, residency 1) and the small kernels go +40 %; measured, a part-filled tile's time still grows
# with its keys' bytes (H200, one sequence, group 8, head 128: 8.3 us at 2-16 keys, 10.7 at 64-256). Padded
# head: H200 held out 10.7 % either way (p90 31.2 on, 30.7 off); a head of 192 measures about 3.3 of the 4
# parts' time (its padded part's loads are partly empty), so neither 3 nor 4 parts fits it
GEN_KV_TILE = False
GEN_HEAD_PAD = False
# a generation kernel whose CTA buffers hold head parts (bytes), not a fixed token count, waits per KV token only
# on its bytes (ctabw_<kernel>) and its padded rows' softmax (score_<kernel>): no token-rate term (tokrate_<kernel>
# held, priced at 0), where kernels_db.yaml decode_kernels byte_buffers lists it (XQA mha.cu), in the fit and
# `--kernels` serving (generation_fields). On: the fitted per-token wait of stop 28 (49 ns per token whatever the
# head, against 6.5 ns of bytes at head 128) gave a stream with almost no head dependence (H200, one sequence of
# 131,072 keys: 84 / 89 / 95 / 101 us predicted for heads 64-256, measured 27 / 40 / 64 / 71); without it the byte
# rate fits 17.4 GB/s per CTA and the rows' softmax 183 FP32-FLOP per (padded row, key). H200 held out: generation
# 11.3 -> 10.7 % (HMMA 12.7 -> 10.1); with 29dq's masked-MHA launch 10.3 -> 9.9 % (QGMMA 10.2 -> 11.0 through the
# shared knee, worse). False: a fitted token rate as for the other kernels (stop 28)
GEN_BYTE_BUFFERS = True
# the masked-MHA generation kernel launched by its library's rule (perf/mmha_launch.py: TensorRT-LLM sizes its CTA
# up to 1024 threads and splits the KV length so a grid of few (sequence, head) pairs still fills the SMs' 32
# register-limited warps), in the fit and `--kernels` serving (generation_fields: ChipParams.attn_gen_launch_warps);
# False: one 256-thread CTA per pair, split until the cores are filled (stop 28). On: H200 held out masked MHA 10.5 ->
# 8.7 %, generation 11.3 -> 10.6 % (10.4 with QGMMA_TILE_WORK); worse: the many-pair short-KV kernels (9.3 -> 12.0 %).
# See docs/notes/issue-24.md, Round stop-29, issue-29dq
MMHA_LAUNCH = True
# the XQA Hopper kernel's (mha_sm90.cu, "qgmma") waves counted at the CTAs its launch bound keeps on one SM
# (perf/decode_residency.py: `__launch_bounds__(128 * 3, headElems * ctaNbQHeads <= 128 * 16 ? 3 : 2)`), so its
# per-wave cost (unit_ / unitlat_decode_qgmma) is paid once per 2-3 CTAs per SM, in the fit and `--kernels` serving
# (ChipParams.attn_gen_wave_ctas); False: one CTA per SM per wave (stop 28). The stream's residency stays the fitted
# one (FITTED_RESIDENCY). Off: measured, the QGMMA kernels held out go 11.0 -> 11.9 % (H200; 13.4 % with the tile
# work below), as the stream rejected the source residency at stop 28. See docs/notes/issue-24.md, Round stop-29, issue-29dq
QGMMA_WAVES = False
# the XQA Hopper kernel's CTA pays, with each wave's fixed cost, a work per element of its query tile (padded heads x
# head size: tile_decode_qgmma, ChipParams.attn_gen_tile_flops: its Q tile loaded and converted, its O tile finalized
# and stored, cpp/kernels/xqa/mha_sm90.cu), in the fit and `--kernels` serving. Measured on H100's many-CTA short-KV
# kernels (<= 64 keys, >= 1056 CTAs) a 132-CTA wave takes 1.3 / 1.7 / 2.7 / 7.3 / 12.2 us at 512 / 1024 / 2048 /
# 3072-4096 / 8192 tile elements. On: H200 held out QGMMA 11.0 -> 10.4 %, generation 10.6 -> 10.4 %; worse: tiles
# > 4096 elements (docs/notes/issue-24.md, Round stop-29, issue-29dq)
QGMMA_TILE_WORK = True
MMA_N_STEP = 8.0
PD_REF = 0.7  # W per dense BF16 TFLOP/s (about H100 SXM: 700 W / 989 TFLOP/s): for a chip without TDP or peak
_MATH = {"bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "fp8_block": "fp8", "nvfp4": "nvfp4"}


def context_math(fmt, kv_fmt):
    """The math format of the context FMHA the library runs: over an FP8 KV cache the FP8 FMHA
    whatever the activations (TensorRT-LLM _torch/attention_backend/trtllm.py: "When FP8 KV cache
    is being used, paged context FMHA cannot be used without FP8 attention": its two GEMMs run in
    FP8), else the activations' format. Elementwise over arrays."""
    return np.where(np.asarray(kv_fmt, dtype=str) == "fp8", "fp8", np.asarray(fmt, dtype=str))


def quantize_op(fmt: str, elems: float) -> Elementwise | None:
    """The unfused activation-quantize pass(es) of a quantized GEMM of the database, or None
    (16-bit). Per-tensor dynamic scaling reads the BF16 activation twice (amax, then convert),
    block scaling once; writes bits/8 bytes per element plus scale_bits/8 per block."""
    f = format_table()["formats"][fmt]
    if f["bits"] >= 16:
        return None
    out_bytes = f["bits"] / 8 + f.get("scale_bits", 0) / 8 / f.get("block", 1)
    passes = 2 if f.get("scaling") == "per-tensor" else 1
    return Elementwise(name="q", elems=float(elems), flops_per_elem=quant_flops(fmt), reads=passes,
                       writes=out_bytes / 2.0, dtype="bf16", fused=True)  # bf16 units; launch in ovh_<fmt>


def qkv_preprocess_op(tokens: int, heads: int, kv_heads: int, head_dim: int, kv_fmt: str = "bf16") -> Elementwise:
    """TensorRT-LLM's context attention op first runs a QKV preprocessing kernel (RoPE on Q and
    K, K and V written into the paged KV cache; `invokeQKVPreprocessing`, before the fused MHA):
    it reads the fused BF16 QKV activation and writes Q, and the new K/V at the cache's width
    (`kv_fmt`: an FP8 cache stores one byte per element, the kernel quantizes on the write;
    cache_type in attentionOp.cpp enqueueContext's preprocessingParams), as serving prices it."""
    if kv_fmt not in KV_BYTES_PER_ELEM:
        raise ValueError(f"KV-cache format '{kv_fmt}': expected one of {', '.join(KV_BYTES_PER_ELEM)}")
    return qkv_preprocess(float(tokens), heads, kv_heads, head_dim,  # the serving graph's pass; launch in ovh_prefill
                          kv_bytes=KV_BYTES_PER_ELEM[kv_fmt])


def timed_ops(k: Kernels, idx: np.ndarray, gen_pre: bool = False, per_query_head: bool = False,
              tile_k: float | None = None, feed: float = 1.0) -> list:
    """One op per kernel; a quantized GEMM (GEMM, quantize pass) and a context attention (QKV
    preprocessing, attention) are two consecutive ops, and so is a generation attention where the
    library runs its preprocessing as a separate kernel (`gen_pre`, generation_preprocess_families).
    `per_query_head`: the masked-MHA generation kernel runs one CTA per (sequence, query head), each
    streaming its KV head's cache on its own (decoderMaskedMultiheadAttention grid (heads, batch)), so a
    GQA group is timed as that many independent heads (kv_heads = heads).
    `tile_k`: the K tile of the GEMM kernel the collector timed (perf/kernel_tile.py), whose MMA
    computes whole K tiles: its math runs at k / padded k of the rate (operand traffic unchanged),
    and at most at `feed` of it where its SM's shared memory cannot feed the MMA's operands
    (kernel_tile.operand_feed)."""
    c = k.cols
    out = []
    for i in idx:
        op, fmt = c["op"][i], c["fmt"][i]
        dt = _MATH[fmt]
        if op == "gemm":
            pad = float(k_padding(c["k"][i], tile_k)) if tile_k else 1.0
            out.append(MatMul(name="g", m=int(c["m"][i]), n=int(c["n"][i]), k=int(c["k"][i]), a_dtype=dt, w_dtype=dt,
                              out_dtype="bf16", math_dtype=dt, eff_scale=feed / pad))
            q = quantize_op(fmt, float(c["m"][i]) * float(c["k"][i]))
            if q is not None:
                out.append(q)
        else:
            kv = _MATH.get(c["kv_fmt"][i], "bf16")
            if op == "attention_prefill":
                dt = str(context_math(dt, kv))
            if op == "attention_prefill" or gen_pre:
                out.append(qkv_preprocess_op(int(c["batch"][i]) * int(c["q_len"][i]), int(c["heads"][i]),
                                             int(c["kv_heads"][i]), int(c["head_dim"][i]), kv))
            # a context kernel over one query token still runs one CTA per (sequence, query head)
            # (the FlashAttention-2 grid of the context FMHA), not the generation kernels' packed GQA group
            one_q_ctx = op == "attention_prefill" and int(c["q_len"][i]) == 1
            out.append(Attention(name="a", batch=int(c["batch"][i]), q_len=int(c["q_len"][i]), kv_len=int(c["kv_len"][i]),
                                 heads=int(c["heads"][i]),
                                 kv_heads=int(c["heads" if per_query_head or one_q_ctx else "kv_heads"][i]),
                                 d_qk=int(c["head_dim"][i]),
                                 d_v=int(c["head_dim"][i]), causal=True, act_dtype=dt, kv_dtype=kv, math_dtype=dt,
                                 kv_cache=True))  # TensorRT-LLM's paged-KV attention op
    return out


class Groups:
    """Kernels split by (chip, op, format), each with its op table and base chip parameters."""

    def __init__(self, k: Kernels, context_tiles: bool | None = None, softmax_overlap: bool | None = None,
                 floors: dict | None = None, held_out=frozenset()):
        """How context kernels are priced, where kernels_db.yaml describes the family's kernel
        (perf/context_tiles.py). `softmax_overlap`: its softmax under its MMAs
        (context_tiles.softmax_overlap: Hopper's two warpgroups in ping-pong); None = SOFTMAX_OVERLAP.
        `context_tiles`: its fixed work tile, True every described tile, False none; None (default)
        with the overlap on, the families whose kernel is described whole (tile and softmax
        schedule: context_tiles.schedule_described, Hopper's fmha_v2), else none. Off by default
        (SOFTMAX_OVERLAP): held out, Hopper's tiles with its overlap help H100 and H200 and hurt
        B200 through the shared attention parameters (docs/notes/issue-24.md, Round stop-24
        issue-24gp, Round stop-25 issue-25ha)."""
        softmax_overlap = SOFTMAX_OVERLAP if softmax_overlap is None else softmax_overlap
        # chips held out of the fit (with their twins): their microbenchmarks stay out of the held constants too
        self.held_out = frozenset(held_out)
        # each GEMM's fixed time: the shared ovh_<cls> plus its family's measured empty-GEMM offset
        # (perf/kernel_floor.py) from `floors` ({(chip, fmt): s}; None: k's own empty GEMMs; {}: none)
        offsets = (family_offsets(chip_floors(k) if floors is None else floors) if FIXED_TIME_BY_FAMILY == "measured"
                   else {})
        self.items = []
        c = k.cols
        keys = sorted(set(zip(c["chip"], c["op"], c["fmt"])))
        params = {}
        for chip, op, fmt in keys:
            idx = np.flatnonzero((c["chip"] == chip) & (c["op"] == op) & (c["fmt"] == fmt))
            if chip not in params:
                ch = chip_for(chip)
                base = calibrated_params(ch)
                params[chip] = (base.replace(mem_overhead=0.0, tile_overhead=0.0, softmax_vflops=score_fp32_flops(ch) * base.eff_vector),
                                cap_power_density(ch, self.held_out),
                                mma_block_scaled_fp8(ch), node_energy_scale(ch))
            p, pd, mma, escale = params[chip]
            if op == "attention_prefill" and serial_score_flops(chip_for(chip).family):  # SERIAL_SCORE_WORK
                p = p.replace(softmax_vflops=float(p.softmax_vflops)
                              + serial_score_flops(chip_for(chip).family) * float(p.eff_vector))
            # block-scaled FP8: the MMA applies the scales (Blackwell), or the FP8 GEMM promotes on the vector units
            # (Hopper, Ada) at the per-tensor FP8 efficiency, or at its own where the kernel is known (SM 9.0 DeepGEMM)
            # the block-scaled FP8 kernel the collector timed, where the database says which (perf/kernel_tile.py:
            # DeepGEMM on SM 9.0): its (token, weight-row) tile per shape, swap-AB for few tokens; 0 elsewhere
            rule = fp8_block_rule(c["system"][idx[0]], c["stack"][idx[0]], fmt) if op == "gemm" else None
            # (and its MMAs at that kernel's own efficiency where DEEPGEMM_EFF, not cuBLASLt's per-tensor eff_fp8)
            eff = (fp8_block_eff(mma, bool(DEEPGEMM_EFF and rule), chip_for(chip).family) if fmt == "fp8_block"
                   else f"eff_{fmt}")
            ftm, ftn = (fp8_block_tile(c["m"][idx], c["n"][idx], float(p.num_cores), rule) if rule
                        else (np.zeros(len(idx)), np.zeros(len(idx))))
            # and the bytes its CTAs read for their operands, which the L2 serves (0 where the tile is not known)
            operand = (operand_stream_bytes(c["m"][idx], c["n"][idx], c["k"][idx], ftm, ftn, fmt,
                                            fp8_block_multicast(c["m"][idx], c["n"][idx], ftn, float(p.num_cores), rule))
                       if rule else np.zeros(len(idx)))
            # its CTAs' math warpgroups, which promote in turn under each other's WGMMAs (1 where the kernel is not known)
            wgs = fp8_block_math_warpgroups(c["m"][idx], ftm, ftn, rule) if rule else np.ones(len(idx))
            # its quantize kernel's grid-stride iterations per warp (0 where the kernel is not known)
            # (and of the dynamic per-tensor FP8 pair, amax then convert, where TENSOR_QUANT_ROUNDS)
            trule = (fp8_tensor_quant_rule(c["system"][idx[0]], c["stack"][idx[0]], fmt)
                     if op == "gemm" and TENSOR_QUANT_ROUNDS else None)
            quant = (fp8_block_quant_rounds(c["m"][idx], c["k"][idx], float(p.num_cores), rule) if rule
                     else fp8_tensor_quant_rounds(c["m"][idx], c["k"][idx], float(p.num_cores), trule) if trule
                     else np.zeros(len(idx)))
            # its pipeline's operand bytes in flight per SM (stages x the A and B tiles of one K block)
            inflight = (fp8_block_stages(c["m"][idx], ftm, ftn, c["k"][idx], rule) * (ftm + ftn) * float(rule["k"])
                        if rule else np.zeros(len(idx)))
            promote = (np.where(ftm > 0, promotion_flops(c["m"][idx], c["n"][idx], c["k"][idx], fmt, np.maximum(ftm, 1.0),
                                                         np.maximum(ftn, 1.0), float(p.num_cores)),
                                promotion_flops(c["m"][idx], c["n"][idx], c["k"][idx], fmt))
                       if fmt == "fp8_block" and not mma else np.zeros(len(idx)))
            family = chip_for(chip).family
            pre = op == "attention_decode" and family in db_config().get("generation_preprocess_families", [])
            # kernel class: the GEMM format, the context phase, or the generation kernel the library dispatches
            cls = ((FP8_BLOCK_SM90 if rule else fmt) if op == "gemm" else "prefill" if op == "attention_prefill" else
                   np.char.add("decode_", decode_kernel(family, c["kv_fmt"][idx], c["heads"][idx], c["kv_heads"][idx],
                                                        c["head_dim"][idx]).astype(str)))
            cls = np.broadcast_to(np.asarray(cls, dtype=str), idx.shape)
            # the generation kernel's resident CTAs per SM from its source (0: the fitted ctas_per_core)
            ctas = (kernel_residency(chip_for(chip), cls, c["heads"][idx], c["kv_heads"][idx], c["head_dim"][idx], c["kv_fmt"][idx])
                    if op == "attention_decode" else np.zeros(len(idx)))
            # and the CTAs one SM runs per wave where the kernel's source gives them (0: one; QGMMA_WAVES)
            wave = (kernel_wave_ctas(chip_for(chip), cls, c["heads"][idx], c["kv_heads"][idx], c["head_dim"][idx])
                    if op == "attention_decode" else np.zeros(len(idx)))
            # GEMMs whose collector replay stays in L2 (perf/kernel_replay.py) stream from L2, not DRAM
            # and so do generation kernels whose replayed KV cache fits (the collector times one cache)
            l2 = (l2_resident(c["m"][idx], c["n"][idx], c["k"][idx], fmt, p.sram_bytes) if op == "gemm"
                  else decode_l2_resident(*(c[n][idx] for n in ("batch", "kv_len", "heads", "kv_heads", "head_dim", "kv_fmt")),
                                          p.sram_bytes) if op == "attention_decode"
                  else np.zeros(len(idx), dtype=bool))
            # the kernel the collector timed, where the database says which (perf/kernel_tile.py):
            # its own output tile, no K splits, whole K tiles on the MMA, its epilogue's store transactions
            tile = collector_tile(c["system"][idx[0]], c["stack"][idx[0]], fmt) if op == "gemm" else None
            pg = (p.replace(tile_m=tile["m"], min_tile_m=tile["m"], tile_n=tile["n"], epilogue_store_fill=store_fill(tile, p),
                            accum_stages=tile.get("accum_stages", 0.0)) if tile else p)
            # how the L2 serves the item's stream: 0 not (DRAM), inf the replay is resident, g the masked-MHA
            # kernel's GQA group re-reading each KV head the DRAM delivers once (kernel_replay.mmha_reread)
            reread = np.where(cls == "decode_mmha", mmha_reread(c["heads"][idx], c["kv_heads"][idx]), 1.0)
            served = np.where(l2, np.inf, np.where(reread > 1.0, reread, 0.0))
            l2_bw = l2_read_bw(chip_for(chip))
            # the fraction of each GEMM's timed replays past the board's power response (collector_clock): 1 = capped
            capped = (capped_fraction(c["latency_s"][idx], replay_copies(WEIGHT_BYTES_PER_ELEM[fmt] * c["n"][idx] * c["k"][idx],
                                                                          p.sram_bytes))
                      if op == "gemm" and COLLECTOR_BURST_CLOCK else np.ones(len(idx)))
            # the masked-MHA kernel holds a fixed number of math-width (BF16) elements in flight per CTA
            # whatever the cache width (kernel_replay.mmha_cta_width)
            width = cta_width(cls, c["kv_fmt"][idx]) if op == "attention_decode" else np.ones(len(idx))
            # the context FMHA's fixed work tile by its math format and head size, where the family's
            # kernel is described (perf/context_tiles.py); 0 (the model's own tiling) elsewhere
            ctx_q, ctx_kv = (context_tile(family, context_math(fmt, c["kv_fmt"][idx]), c["head_dim"][idx])
                             if op == "attention_prefill" and (tiled_context(family, softmax_overlap) if context_tiles is None
                                                               else context_tiles)
                             else (np.zeros(len(idx)), np.zeros(len(idx))))
            # whether the family's context FMHA overlaps its softmax with its MMAs, per kernel (context_overlap)
            overlap = (context_overlap(family, c["head_dim"][idx], p.accum_mem_bytes, softmax_overlap)
                       if op == "attention_prefill" else np.zeros(len(idx)))
            # one item per kernel class, L2 service, stream width, context tile and overlap, and block-scaled FP8 tile
            # (its parameters are scalars)
            for kc, res, wd, tq, tk, ov, bm, bn, fl, nc, wv in sorted(set(zip(cls, served, width, ctx_q, ctx_kv, overlap, ftm, ftn,
                                                                              inflight, ctas, wave))):
                s = ((cls == kc) & (served == res) & (width == wd) & (ctx_q == tq) & (ctx_kv == tk) & (overlap == ov) & (ftm == bm)
                     & (ftn == bn) & (inflight == fl) & (ctas == nc) & (wave == wv))
                # the masked-MHA fallback applies RoPE and appends K/V inside its own kernel
                # (decoderMaskedMultiheadAttentionTemplate.h): no separate preparation kernels
                pre_k = pre and kc != "decode_mmha"
                self.items.append({"chip": chip, "op": op, "fmt": fmt, "cls": kc, "pre": pre_k, "pd": pd, "escale": escale, "eff": eff,
                                   "params": (pg.replace(attn_ctx_q_tile=float(tq), attn_ctx_kv_tile=float(tk),
                                                         attn_ctx_softmax_overlap=float(ov)) if not bm
                                              else pg.replace(tile_m=float(bm), min_tile_m=float(bm), tile_n=float(bn))),
                                   "table": OpTable.from_ops(timed_ops(k, idx[s], pre_k, kc == "decode_mmha",
                                                                      tile["k"] if tile else None,
                                                                      operand_feed(tile, fmt, p) if tile else 1.0)),
                                   "meas": np.asarray(c["latency_s"][idx[s]], dtype=float), "promote_flops": promote[s], "promote_wgs": wgs[s],
                                   "operand_bytes": operand[s], "inflight": float(fl), "quant_rounds": quant[s], "capped": capped[s],
                                   "l2": bool(res > 0), "reread": float(res), "l2_bw": l2_bw, "cta_width": float(wd),
                                   "no_split": tile is not None or bool(bm), "rows": idx[s],  # the kernels' rows in k
                                   "ovh_offset": offset_of(offsets, chip, fmt) if op == "gemm" else 0.0,
                                   "family": family, "ctas": float(nc), "wave_ctas": float(wv)})

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        return [predict_group(g, x) for g in self.items]


def context_overlap(family: str, head_dim, accum_mem_bytes, softmax_overlap: bool) -> np.ndarray:
    """1.0 per context kernel whose softmax the fit prices under its MMAs, else 0.0: with TMEM_PINGPONG, a family
    whose kernel is a tensor-memory ping-pong (context_tiles.pingpong_described) on a chip with tensor memory
    overlaps where both Q tiles fit it (context_tiles.tmem_pingpong: by head size); any other family by its
    kernel's flag (context_tiles.softmax_overlap) where `softmax_overlap` (SOFTMAX_OVERLAP: Hopper's ping-pong)."""
    d = np.asarray(head_dim, dtype=float)
    if TMEM_PINGPONG and pingpong_described(family) and float(np.max(accum_mem_bytes)) > 0:
        return tmem_pingpong(family, d, accum_mem_bytes)
    return np.full(d.shape, overlap_of(family) if softmax_overlap else 0.0)


def tiled_context(family: str, softmax_overlap: bool) -> bool:
    """Whether the fit prices a family's context kernels on their fixed work tile (Groups' default): where the
    kernel is described whole (context_tiles.schedule_described), its softmax overlapped and the overlap priced
    (`softmax_overlap`: Hopper's tile with its ping-pong), or in series (SERIAL_CONTEXT_TILE: Blackwell's)."""
    if not schedule_described(family):
        return False
    overlapped = overlap_of(family) > 0
    return bool((softmax_overlap and overlapped) or (SERIAL_CONTEXT_TILE and not overlapped))


def decode_kernel(family: str, kv_fmt, heads, kv_heads, head_dim) -> np.ndarray:
    """Per generation kernel, which TensorRT-LLM kernel runs it (kernels_db.yaml decode_kernels):
    "trtllmgen" on SM100 for a GQA group up to trtllm_gen_max_group (masked MHA above it: the
    library's trtllm-gen support check), else the XQA JIT kernels for a GQA group of 2..32 and
    head size <= 256 (supportConfigCommon excludes vanilla MHA; supportConfigQGMMA /
    supportConfigHMMA, decoderXQAImplJIT/kernelUtils.cpp): "qgmma" (Hopper, TMA page loads, WGMMA)
    with an E4M3 KV cache on SM90, "hmma" (Ampere-style mha.cu, cp.async loads, mma.sync) on
    SM >= 80; everything else the masked-MHA kernel, "mmha"."""
    cfg = db_config()["decode_kernels"]
    g = np.asarray(heads, dtype=float) / np.maximum(np.asarray(kv_heads, dtype=float), 1.0)
    d = np.asarray(head_dim, dtype=float)
    fp8_kv = np.array([str(f) == "fp8" for f in np.atleast_1d(kv_fmt)], dtype=bool).reshape(np.shape(g))
    xqa = (g > 1) & (g <= cfg["xqa_max_group"]) & (d % 16 == 0) & (d <= cfg["xqa_max_head_dim"])
    qgmma = xqa & fp8_kv & (family in cfg["qgmma_families"])
    hmma = xqa & ~qgmma & (family in cfg["hmma_families"])
    if family in cfg["trtllm_gen_families"]:
        return np.where(g <= cfg["trtllm_gen_max_group"], "trtllmgen", "mmha")
    return np.where(qgmma, "qgmma", np.where(hmma, "hmma", "mmha"))


def serving_decode_class(chip) -> str:
    """The generation-kernel class whose fitted parameters serving uses for a chip (one set per
    chip in ChipParams): the kernel the library runs for a GQA model (group 8, head size 128,
    BF16 KV cache; Llama-3-style), e.g. "decode_hmma" on Hopper, "decode_trtllmgen" on B200."""
    return "decode_" + str(decode_kernel(chip.family, ["bf16"], [8], [1], [128])[0])


def kernel_residency(chip, cls, heads, kv_heads, head_dim, kv_fmt) -> np.ndarray:
    """Per generation kernel of class `cls` ("decode_<kernel>", elementwise with the shapes), its CTAs resident
    per SM from the kernel's source (perf/decode_residency.ctas_per_sm) where SOURCE_RESIDENCY, else 0 (the
    fitted ctas_per_core). The fit (Groups) and serving (kernel_calibration.serving_decode_params) both use it."""
    cls = np.asarray(cls, dtype=str)
    if not SOURCE_RESIDENCY:
        return np.zeros(cls.shape)
    group = np.asarray(heads, dtype=float) / np.maximum(np.asarray(kv_heads, dtype=float), 1.0)
    kv_bytes = np.array([KV_BYTES_PER_ELEM[str(f)] for f in np.atleast_1d(kv_fmt)], dtype=float).reshape(np.shape(kv_fmt))
    return ctas_per_sm(chip, np.char.replace(cls, "decode_", ""), head_dim, group, kv_bytes)


def kernel_wave_ctas(chip, cls, heads, kv_heads, head_dim) -> np.ndarray:
    """Per generation kernel of class `cls` (elementwise with the shapes), the CTAs one SM runs per wave from the
    kernel's source where QGMMA_WAVES and the kernel is XQA mha_sm90.cu (perf/decode_residency.ctas_per_sm: its
    launch bound, 3 per SM, 2 for head size x padded group > 2048), else 0 (one per SM). The fit (Groups) and
    serving (kernel_calibration.serving_decode_params) both use it."""
    cls = np.asarray(cls, dtype=str)
    if not QGMMA_WAVES:
        return np.zeros(cls.shape)
    group = np.asarray(heads, dtype=float) / np.maximum(np.asarray(kv_heads, dtype=float), 1.0)
    return np.where(cls == "decode_qgmma", ctas_per_sm(chip, np.full(cls.shape, "qgmma"), head_dim, group, 1.0), 0.0)


def gen_q_tile(cls: str) -> dict:
    """The query-tile fields (ChipParams.attn_gen_q_tile, _pow2) of a kernel class: the generation
    kernel's rule from kernels_db.yaml decode_kernels q_tile; off (0) for GEMMs and context attention."""
    kernel = cls.removeprefix("decode_")
    if kernel == cls:
        return {"attn_gen_q_tile": 0.0, "attn_gen_q_tile_pow2": 0.0}
    cfg = db_config()["decode_kernels"]
    return {"attn_gen_q_tile": float(cfg["q_tile"][kernel]), "attn_gen_q_tile_pow2": float(kernel in cfg["q_tile_pow2"])}


def gen_split(cls: str) -> dict:
    """The multi-block fields (ChipParams.attn_gen_split_*) of a kernel class: the generation
    kernel's KV-split rule from kernels_db.yaml decode_kernels multi_block; off (0: split until the
    cores are filled) for kernels without one, GEMMs and context attention."""
    rules = db_config()["decode_kernels"].get("multi_block", {})
    rule = (rules.get(cls.removeprefix("decode_")) if cls.startswith("decode_") else None) or {"tokens": 0.0, "sqrt": 0.0, "waves": 0.0}
    return {f"attn_gen_split_{k}": float(rule[k]) for k in ("tokens", "sqrt", "waves")}


def byte_buffer_classes() -> set:
    """The generation kernel classes priced without a token rate (GEN_BYTE_BUFFERS; kernels_db.yaml
    decode_kernels byte_buffers): their tokrate_<class> is held, not fitted, and read as 0."""
    if not GEN_BYTE_BUFFERS:
        return set()
    return {f"decode_{k}" for k in db_config()["decode_kernels"].get("byte_buffers", [])}


def gen_cta_tile(cls: str) -> dict:
    """The sequence-loop fields (ChipParams.attn_gen_kv_tile, attn_gen_head_pad) of a kernel class: the
    generation kernel's KV tile per loop iteration and smallest padded head from kernels_db.yaml decode_kernels
    cta_kv_tile / head_pad, each where its switch (GEN_KV_TILE, GEN_HEAD_PAD) is on; off (0) elsewhere."""
    cfg = db_config()["decode_kernels"]
    kernel = cls.removeprefix("decode_") if cls.startswith("decode_") else None
    return {"attn_gen_kv_tile": float(cfg.get("cta_kv_tile", {}).get(kernel, 0.0)) if GEN_KV_TILE else 0.0,
            "attn_gen_head_pad": float(cfg.get("head_pad", {}).get(kernel, 0.0)) if GEN_HEAD_PAD else 0.0}


def launch_residency(cls: str) -> float:
    """The base blocks per SM of a kernel class launched by its library's rule (MMHA_LAUNCH: the masked-MHA
    kernel's 32 register-limited warps of 256-thread blocks, 4; perf/mmha_launch.base_blocks_per_sm), else 0 (the
    fitted residency)."""
    return float(base_blocks_per_sm(gen_launch(cls)["attn_gen_launch_warps"])) if gen_launch(cls)["attn_gen_launch_warps"] else 0.0


def gen_launch(cls: str) -> dict:
    """The launch field (ChipParams.attn_gen_launch_warps) of a kernel class: the masked-MHA kernel's register-
    limited warps per SM (kernels_db.yaml decode_kernels mmha_launch) where MMHA_LAUNCH, else 0 (off)."""
    on = MMHA_LAUNCH and cls == "decode_mmha"
    return {"attn_gen_launch_warps": float(db_config()["decode_kernels"]["mmha_launch"]["warps_per_sm"]) if on else 0.0}


def promotion_flops(m, n, k, fmt: str, tile_m=None, tile_n=None, cores: float | None = None) -> np.ndarray:
    """Vector-unit work of promoting a block-scaled GEMM's partial sums where the MMA cannot apply
    the scales, in FLOPs at the whole chip's vector rate: after every K block the FP32 partial
    accumulator of each output element is multiplied by its row and column scales and added into
    the main accumulator, one FMA (2 FLOPs) per element per K block (DeepGEMM README, SM90
    "promotion" on CUDA cores). Where the kernel's tile is known (tile_m x tile_n, `cores` SMs),
    each CTA promotes its whole tile (its accumulators live in registers, padding rows included)
    on its own SM's CUDA cores, and the tiles run in ceil(tiles / cores) waves: the chip's vector
    units are busy waves x cores x that per CTA, so a GEMM of fewer tiles than SMs promotes at the
    rate of the SMs its tiles occupy. Without a tile: the output elements over every core.
    0 for formats without K blocks (per-tensor scaling, 16-bit)."""
    f = format_table()["formats"][fmt]
    m, n, k = (np.asarray(v, dtype=float) for v in (m, n, k))
    if f["bits"] >= 16 or "block" not in f or f.get("scaling") == "per-tensor":
        return np.zeros(np.broadcast(m, n, k).shape)
    blocks = np.ceil(k / f["block"])
    if tile_m is None:
        return 2.0 * m * n * blocks
    tm, tn = np.asarray(tile_m, dtype=float), np.asarray(tile_n, dtype=float)
    waves = np.ceil(np.ceil(m / tm) * np.ceil(n / tn) / cores)
    return waves * cores * 2.0 * tm * tn * blocks


def exp_fp32_flops(chip) -> float:
    """FP32-FLOP equivalents of one softmax exponential on the chip: EXP_FP32_FLOPS, divided by the
    chip's special-function-unit speedup where its data gives one (sfu_exp_speedup: Blackwell Ultra
    doubles MUFU.EX2 throughput over Blackwell)."""
    spec = chip.specs.get("sfu_exp_speedup")
    return EXP_FP32_FLOPS / (float(spec.value) if spec is not None and spec.value else 1.0)


def serial_family(family: str) -> bool:
    """Whether the family's context FMHA is described with its softmax in series with its MMAs (context_tiles:
    described, no overlap: Blackwell's trtllm-gen)."""
    return bool(schedule_described(family) and not overlap_of(family) > 0)


def serial_score_flops(family: str) -> float:
    """FP32-FLOP equivalents per score SERIAL_SCORE_WORK adds to a context kernel of `family` at the instruction count:
    SOFTMAX_FP32_FLOPS where the family is serial (serial_family), SOFTMAX_FP32_WORK does not already add it to every
    kernel and SERIAL_SCORE_FIT does not fit it (ctx_score_flops, item_params); else 0."""
    return (SOFTMAX_FP32_FLOPS if SERIAL_SCORE_WORK and serial_family(family) and not SOFTMAX_FP32_WORK
            and not SERIAL_SCORE_FIT else 0.0)


def reads_score_flops(g: dict) -> bool:
    """Whether a Groups item's kernels pay the fitted per-score work ctx_score_flops (SERIAL_SCORE_FIT): the context
    class of a serial family."""
    return bool(SERIAL_SCORE_FIT and g["cls"] == "prefill" and serial_family(g.get("family")))


def score_fp32_flops(chip) -> float:
    """FP32-FLOP equivalents of a score's softmax on the chip: its exponential (exp_fp32_flops) plus, where
    SOFTMAX_FP32_WORK, the FP32-pipe work around it (SOFTMAX_FP32_FLOPS), which no SFU speedup shortens."""
    return exp_fp32_flops(chip) + (SOFTMAX_FP32_FLOPS if SOFTMAX_FP32_WORK else 0.0)


# dense MMA rate of each format as a multiple of BF16's on a datapath that doubles its rate per
# halving of the operand width (H100: FP8 2x BF16; B200: FP4 4x): the nominal scaling against
# which a format's own power density is taken (format_power_density)
BF16_RATE_MULTIPLE = {"bf16": 1.0, "fp16": 1.0, "fp8": 2.0, "int8": 2.0, "fp6": 2.0, "fp4": 4.0, "int4": 4.0}


def format_power_density(chip) -> np.ndarray:
    """Per PEAK_KEYS entry, the chip's power per peak FLOP of that format: TDP W per dense TFLOP/s,
    in BF16-equivalent FLOPs (the format's datasheet peak / BF16_RATE_MULTIPLE); the BF16 density
    (chip_power_density) where the datasheet lacks the peak or TDP. Under a power cap the sustained
    clock follows the power the running format draws (f ~ P^(1/3), Horowitz ISSCC 2014, as for
    BF16): a format whose peak grew more than the board power (Blackwell Ultra FP4: 15 vs B200's
    9 PFLOP/s at 1.4 vs 1.0 kW) runs its GEMMs further below that peak."""
    pd = np.full(len(PEAK_KEYS), chip_power_density(chip))
    tdp = chip.get("tdp_w") if hasattr(chip, "get") else None
    for i, key in enumerate(PEAK_KEYS):
        pk = chip.peak_tflops(key) if key in BF16_RATE_MULTIPLE else 0.0
        if isinstance(tdp, (int, float)) and tdp and pk:
            pd[i] = float(tdp) / (float(pk) / BF16_RATE_MULTIPLE[key])
    return pd


def fp8_block_eff(mma: bool, deepgemm: bool, family: str) -> str:
    """The efficiency parameter a block-scaled FP8 GEMM's MMAs run at: the MMA's own where it applies the scales
    (Blackwell), the SM 9.0 DeepGEMM kernel's (DEEPGEMM_EFF, `deepgemm`: the database names the kernel), the SM 8.9
    ada_blockwise_gemm kernel's (ADA_BLOCKWISE_EFF), else the per-tensor FP8 GEMM's eff_fp8 plus the promotion."""
    if mma:
        return "eff_fp8_block_mma"
    if deepgemm:
        return "eff_fp8_block_sm90"
    return "eff_fp8_block_sm89" if ADA_BLOCKWISE_EFF and family in ADA_BLOCKWISE_FAMILIES else "eff_fp8"


def held_cap_energy(held_out=frozenset()) -> float:
    """pj_flop_n7 from the measured sustained / boost GEMM pairs (data/calibration/power_cap_msmf.yaml): per pair the
    energy at which the cap law gives the measured throughput ratio (silicon_cap.pair_energies), their geometric mean.
    The pairs of the `held_out` chips stay out (a held-out chip's microbenchmarks, kernels_db.held_out_chips); every
    other pair counts, also in a fit on one chip's own kernels: the constant is shared by every chip
    (perf/power_cap.py), not the chip's (but silicon_cap.SILICON_CAP_ENERGY: cap_power_density)."""
    from .silicon_cap import pair_energies

    return float(np.exp(np.mean(np.log([e for _, _, e in pair_energies(held_out)]))))


def cap_power_density(chip, held_out=frozenset()) -> np.ndarray:
    """format_power_density as the power cap reads it: with silicon_cap.SILICON_CAP_ENERGY, each format whose
    sustained-vs-boost pair was measured on the chip's own silicon divided by that pair's energy over the shared
    held_cap_energy (the cap law reads busy x energy / density only), so its clock follows its own silicon."""
    from .silicon_cap import SILICON_CAP_ENERGY, energy_ratio

    pd = format_power_density(chip)
    return pd / energy_ratio(chip, held_cap_energy(held_out), held_out) if SILICON_CAP_ENERGY else pd


def chip_power_density(chip) -> float:
    """fit/power_transfer.power_density (TDP W per dense BF16 TFLOP/s), PD_REF without it."""
    from .fit.power_transfer import power_density

    return power_density(chip) or PD_REF


# the fitted compute efficiency of each peak key's MMAs (eff_param: every other key runs at eff_bf16's)
EFF_PARAM = {"bf16": "eff_bf16", "fp16": "eff_bf16", "fp8": "eff_fp8", "fp4": "eff_nvfp4"}


def eff_param(key: str) -> str:
    """The fitted efficiency parameter a peak key's MMAs run at (params_for, compute_effs, kernel_calibration)."""
    return EFF_PARAM.get(key, "eff_bf16")


def params_for(base, x, cls: str):
    """The chip's ChipParams with the shared parameters x applied for one kernel class (a GEMM
    format or an ATTN_CLASSES entry), at the boost clock (the power cap is applied per kernel)."""
    v = dict(zip(NAMES, x))
    eff = np.array([v[eff_param(k)] for k in PEAK_KEYS])
    gen = generation_fields(v, cls)
    elt = ({"elt_core_bw": v["elt_core_bw"] * 1e9, "elt_stream_knee": v["gen_stream_knee"] if GEN_STREAM_KNEE else 0.0}
           if ELT_CORE_STREAM and cls == "prefill" else {})
    return base.replace(**elt, **gemm_fields(v, cls), eff_compute=np.minimum(eff, 1.0), eff_mem=v["mem_" + cls], eff_attention=v["eff_attention"],
                        kernel_overhead=v["ovh_" + cls] * 1e-6,
                        attn_tile_k_overhead=v["attn_tile_k_overhead"], attn_head_pack=v["attn_head_pack"],
                        # one phase per kernel class: its unit cost serves whichever phase opcost sees
                        attn_unit_flops=gen["attn_decode_unit_flops"], attn_unit_time=gen["attn_decode_unit_time"],
                        attn_tiling=v["attn_tiling"], attn_ctx_makespan=1.0, **gen,
                        attn_prefill_fixed=0.0, attn_decode_fixed=0.0)  # ovh_<phase> is an attention op's whole fixed time


def tile_k_overhead_param(cls: str, family: str | None) -> str:
    """The fitted parameter an attention class's work-unit prologue / epilogue (opcost's attn_tile_k_overhead) is on
    a chip `family`: where CONTEXT_K_OVERHEAD, the context class on a family whose context FMHA is described
    (kernels_db.yaml context_kernels: Hopper's warp-specialized fmha_v2, Blackwell's trtllm-gen; as own_fp8_attention)
    reads the described kernels' own ctx_tile_k_overhead; everything else the shared attn_tile_k_overhead."""
    own = CONTEXT_K_OVERHEAD and cls == "prefill" and family in db_config().get("context_kernels", {})
    return "ctx_tile_k_overhead" if own else "attn_tile_k_overhead"


def attention_eff_param(cls: str, family: str | None) -> str:
    """The fitted fused-attention efficiency an attention class runs at on a chip `family`: the described context
    kernels' own ctx_eff_attention where CONTEXT_KERNEL_EFF (tile_k_overhead_param's scope), else the shared
    eff_attention."""
    own = CONTEXT_KERNEL_EFF and cls == "prefill" and family in db_config().get("context_kernels", {})
    return "ctx_eff_attention" if own else "eff_attention"


def own_fp8_attention(cls: str, family: str | None) -> bool:
    """Whether kernel class `cls` on a chip `family` runs its FP8 attention's MMAs at the 16-bit FMHA's
    fraction of the peak, eff_bf16, instead of the FP8 GEMM's eff_fp8 (ATTN_FP8_EFF):
    an attention class on a family whose context FMHA kernel is described (kernels_db.yaml context_kernels:
    Hopper's fmha_v2 warp-specialized QGMMA kernels, Blackwell's trtllm-gen E4M3 cubins); elsewhere the FP8
    GEMM's eff_fp8, as before."""
    return ATTN_FP8_EFF and cls not in GEMM_CLASSES and family in db_config().get("context_kernels", {})


def attn_fp8_eff(v: dict, cls: str, family: str | None) -> float:
    """ChipParams.attn_eff_fp8 of kernel class `cls` on a chip `family` from fitted parameters v (name -> value):
    eff_bf16 (capped at 1) where own_fp8_attention, else 0 (an FP8 attention op at the FP8 GEMM's efficiency)."""
    return min(float(v["eff_bf16"]), 1.0) if own_fp8_attention(cls, family) else 0.0


def qkv_step_time(v: dict, l2_bw: float) -> float:
    """Seconds per thread step of the QKV preprocessing pass on a chip whose L2 delivers l2_bw bytes/s
    (ChipParams.elt_step_time; kernel_replay.l2_read_bw) from fitted parameters v (name -> value): qkv_step_bytes
    / l2_bw where QKV_STEP_BOUND, else 0 (the pass at the DRAM alone)."""
    return float(v.get("qkv_step_bytes", 0.0)) / float(l2_bw) if QKV_STEP_BOUND and l2_bw > 0 else 0.0


def split_serial_time(v: dict) -> float:
    """Seconds per K slice past the first of a split-K GEMM's in-order reduction (ChipParams.split_k_serial_time)
    from fitted parameters v (name -> value): split_serial_us where SPLIT_K_SERIAL, else 0."""
    return float(v.get("split_serial_us", 0.0)) * 1e-6 if SPLIT_K_SERIAL else 0.0


def gemm_fields(v: dict, cls: str) -> dict:
    """The ChipParams fields that price a GEMM of kernel class `cls` with the fitted parameters v
    (name -> value): the library's K-split limit (split_<cls>; none for the SM 9.0 fp8_block kernel
    and attention classes), its stream-K tail (STREAM_K_TAIL, GEMM formats), one core's DRAM stream
    (core_bw_share), the per-tile K overhead, the exposed epilogue, and the MMA N step of a format
    whose kernel puts the tokens on N (TOKEN_N_FMTS: equal token tiles, ChipParams.balanced_row_tiles).
    Also the split-K in-order reduction's hand-off (split_serial_time). The fit (params_for) and serving
    (kernel_calibration.chip_entry, per the row's GEMM format) both take them from here, so a GEMM costs the same in both. opcost applies them to GEMM ops only
    (core_bw_share also to attention's few-CTA stream, as in the fit)."""
    return {"max_split_k": v.get("split_" + cls, np.inf) if cls in GEMM_CLASSES else np.inf,
            "stream_k_tail": STREAM_K_TAIL if cls in GEMM_FMTS else 0.0,
            "split_k_serial_time": split_serial_time(v) if cls in GEMM_FMTS else 0.0,  # in-order split-K reduction
            "core_bw_share": v["core_bw_share"],
            "tile_k_overhead": v["tile_k_overhead"], "epilogue_exposed": v["epilogue_exposed"],
            "balanced_row_tiles": MMA_N_STEP if cls in TOKEN_N_FMTS else 0.0}


def cta_width(cls, kv_fmt) -> np.ndarray:
    """Per generation kernel of class `cls` over a `kv_fmt` cache, its CTA's cache bytes per math-width
    byte in flight: the masked-MHA kernel's (kernel_replay.mmha_cta_width: an FP8 cache at half its BF16
    byte rate), 1 for every other kernel. The fit (Groups) and serving (serving_decode_params) both use it."""
    return np.where(np.asarray(cls, dtype=str) == "decode_mmha", mmha_cta_width(kv_fmt), 1.0)


def with_cta_width(p, width):
    """`p` with its generation CTAs' byte rate in cache bytes: the element rate x cache bytes per element (cta_width)."""
    if np.all(np.asarray(width, dtype=float) == 1.0):
        return p
    return p.replace(attn_cta_bytes_per_s=np.asarray(p.attn_cta_bytes_per_s, dtype=float) * width)


def generation_fields(v: dict, cls: str) -> dict:
    """The ChipParams fields that price a generation-attention op run by kernel class `cls` with the
    fitted parameters v (name -> value): its per-wave CTA cost (unit_/unitlat_<cls>), its CTAs' KV
    stream (tokrate_<cls>, ctas_per_core, score_<cls>, at mem_<cls> of the DRAM), query tile and
    multi-block rule. The fit (params_for) and serving (kernel_calibration.decode_fields) both take
    them from here, so a generation kernel costs the same in both. GEMM classes get the stream and
    unit cost off; the context class its unit cost (one phase per kernel class in the fit)."""
    attn = cls not in GEMM_CLASSES
    return {"attn_decode_unit_flops": v["unit_" + cls] if attn else 0.0,
            "attn_decode_unit_time": v["unitlat_" + cls] * 1e-6 if attn else 0.0,
            "attn_cta_tokens_per_s": 0.0 if cls in byte_buffer_classes() else v.get("tokrate_" + cls, 0.0) * 1e6,
            "attn_ctas_per_core": (launch_residency(cls) or v.get("ctas_" + cls, v["ctas_per_core"])) if FITTED_RESIDENCY
            else (launch_residency(cls) or v["ctas_per_core"]),
            "attn_cta_bytes_per_s": v.get("ctabw_" + cls, 0.0) * 1e9,
            "attn_cta_stream_knee": v.get("gen_stream_knee", 0.0) if GEN_STREAM_KNEE and cls.startswith("decode_") else 0.0,
            "attn_gen_score_flops": v.get("score_" + cls, 0.0),
            "attn_gen_eff_mem": v["mem_" + cls] if cls.startswith("decode_") else 0.0,
            "attn_gen_merge_time": v.get("merge_" + cls, 0.0) * 1e-6 if MMHA_LAUNCH else 0.0,
            "attn_gen_tile_flops": v.get("tile_" + cls, 0.0) if QGMMA_TILE_WORK else 0.0,
            **gen_q_tile(cls), **gen_split(cls), **gen_launch(cls), **gen_cta_tile(cls)}


def item_params(g: dict, x) -> ChipParams:
    """The ChipParams the fit prices a Groups item's kernels with at the shared parameters x (before the
    power-capped clock, applied per kernel in predict_group): params_for its kernel class, and what the
    item's kernel adds (family fixed time, the collector's fixed tile, L2 service, known load pipeline)."""
    x = np.asarray(x, dtype=float)
    if g["fmt"] == "fp8_block":  # block-scaled FP8 runs on the FP8 peak at its own efficiency
        x = x.copy()
        x[NAMES.index("eff_fp8")] = x[NAMES.index(g["eff"])]
    p = params_for(g["params"], x, g["cls"])
    off = g.get("ovh_offset", 0.0)  # the family's measured fixed time against the shared one (perf/kernel_floor.py)
    if FIXED_TIME_BY_FAMILY == "fitted" and g["cls"] in GEMM_FMTS + ATTN_FAMILY_CLASSES and g.get("family") in FAMILIES:
        off = x[NAMES.index(fixed_time_param(g["family"], g["cls"]))] * 1e-6  # or fitted on the family's chips
    if off:
        p = p.replace(kernel_overhead=max(float(p.kernel_overhead) + off, 0.0))
    if g.get("no_split"):  # the collector's kernel: CUTLASS's data-parallel persistent scheduler (kernel_tile)
        p = p.replace(max_split_k=1.0, balanced_row_tiles=0.0)  # on its own fixed tile
    p = with_cta_width(p, g.get("cta_width", 1.0))
    if (CONTEXT_IO_EXPOSED or CONTEXT_IO_CORE_STREAM) and g["cls"] == "prefill":  # a context CTA's Q and O tiles serialised per wave
        p = p.replace(attn_ctx_io_exposed=1.0)
    if CONTEXT_IO_CORE_STREAM and g["cls"] == "prefill":  # at one core's stream at most
        p = p.replace(attn_ctx_io_core_bw=x[NAMES.index("ctx_io_core_bw")] * 1e9)
    if reads_score_flops(g):  # the serial context kernels' fitted per-score work (SERIAL_SCORE_FIT)
        p = p.replace(softmax_vflops=float(p.softmax_vflops) + x[NAMES.index("ctx_score_flops")] * float(p.eff_vector))
    own_k = tile_k_overhead_param(g["cls"], g.get("family"))
    if own_k != "attn_tile_k_overhead":  # the described context kernels' own work-unit overhead (CONTEXT_K_OVERHEAD)
        p = p.replace(attn_tile_k_overhead=x[NAMES.index(own_k)])
    own_e = attention_eff_param(g["cls"], g.get("family"))
    if own_e != "eff_attention":  # and their own efficiency (CONTEXT_KERNEL_EFF)
        p = p.replace(eff_attention=x[NAMES.index(own_e)])
    if own_fp8_attention(g["cls"], g.get("family")):  # the FP8 context FMHA's own efficiency (ATTN_FP8_EFF)
        p = p.replace(attn_eff_fp8=attn_fp8_eff(dict(zip(NAMES, x)), g["cls"], g.get("family")))
    if g.get("ctas", 0.0) > 0:  # the kernel's source residency (SOURCE_RESIDENCY), not the fitted ctas_per_core
        p = p.replace(attn_ctas_per_core=g["ctas"])
    if g.get("wave_ctas", 0.0) > 0:  # the CTAs one SM runs per wave, from the kernel's source (QGMMA_WAVES)
        p = p.replace(attn_gen_wave_ctas=g["wave_ctas"])
    if has_steps(g):  # the QKV pass's steps through the chip's L2 (QKV_STEP_BOUND)
        p = p.replace(elt_step_time=qkv_step_time(dict(zip(NAMES, x)), g["l2_bw"]))
    if g.get("l2") and g["op"] == "attention_decode":
        # a generation kernel's KV stream served by the L2: its CTAs' own Little's-law stream against the
        # chip's L2 read bandwidth (never below the DRAM's), and for a re-read (masked MHA's GQA group)
        # against the DRAM delivering each byte once (kernel_replay.l2_served_bw)
        bw = l2_served_bw(g["l2_bw"], np.asarray(p.mem_bw, dtype=float) * np.asarray(p.attn_gen_eff_mem, dtype=float), g["reread"])
        p = p.replace(mem_bw=bw, eff_mem=1.0, attn_gen_eff_mem=1.0)
    elif g.get("l2"):  # the replayed operands, output and tile stores stay in L2: its stream replaces the DRAM's
        p = p.replace(mem_bw=np.asarray(p.num_cores, dtype=float) * x[NAMES.index("l2_core_bw")] * 1e9, eff_mem=1.0)
    if g.get("inflight", 0.0) > 0 and g["op"] == "gemm":
        # a known load pipeline: one SM streams its bytes in flight per round trip (from the DRAM, or
        # from the L2 where the replay is resident), whatever the generic per-core share
        per_core = g["inflight"] / (x[NAMES.index("load_latency_us")] * 1e-6)
        p = p.replace(core_bw_share=per_core * np.asarray(p.num_cores, dtype=float)
                      / (np.asarray(p.mem_bw, dtype=float) * np.asarray(p.eff_mem, dtype=float)))
    return p


def predict_group(g: dict, x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    p = item_params(g, x)
    cost = evaluate(g["table"], p, check_support=False)
    if g.get("operand_bytes") is not None and g["operand_bytes"].any():
        cost = with_operand_stream(cost, g["operand_bytes"], g["l2_bw"])
    if g.get("quant_rounds") is not None and g["quant_rounds"].any():
        cost = with_quant_rounds(cost, g["quant_rounds"], x[NAMES.index(round_param(g))] * 1e-6)
    # every GEMM at the clock the board's power cap lets it sustain (perf/power_cap.py) over the part of its timed
    # replays past the board's power response, at boost before it (collector_clock, COLLECTOR_BURST_CLOCK)
    t = capped_time(cost, p.peak_flops, g["pd"], x[NAMES.index("pj_flop_n7")], g["escale"])
    capped = g.get("capped")
    if capped is not None and not np.all(capped >= 1.0):
        # before it: boost, or the clock the burst's power budget allows (BURST_POWER_LIMIT)
        boost = (capped_time(cost, p.peak_flops, np.asarray(g["pd"], dtype=float) * x[NAMES.index("burst_power")],
                             x[NAMES.index("pj_flop_n7")], g["escale"]) if BURST_POWER_LIMIT
                 else np.asarray(cost.time, dtype=float).reshape(len(t)))
        t = boost + np.repeat(capped, len(t) // len(capped)) * (t - boost)
    # kernel + its preceding pass (quantize, QKV preprocessing) + the exposed part of a CUDA-core
    # block-scale promotion (FP32 FMAs, register-resident: at the vector peak)
    promote = x[NAMES.index("promote_exposed")] * g["promote_flops"] / np.asarray(g["params"].vector_flops, dtype=float)
    wgs = g.get("promote_wgs")
    if wgs is not None and np.any(wgs > 1) and np.any(promote):
        promote = exposed_promotion(promote, gemm_compute_time(cost, len(g["meas"])), wgs)
    t = t.reshape(len(g["meas"]), -1).sum(axis=1) + promote
    # + the separate preparation kernels' launches
    return t + x[NAMES.index("ovh_gen_pre")] * 1e-6 if g.get("pre") else t


def exposed_promotion(promote, mma, warpgroups):
    """Seconds a kernel's CUDA-core promotion adds to its MMAs (`promote`, `mma`: per kernel, s) where each
    of its CTAs' `warpgroups` math warpgroups runs its own K loop: a K block's WGMMAs, a wait for them, then
    its promotion (DeepGEMM SM 9.0, fp8_gemm_impl.cuh), no barrier between the warpgroups. The SM's tensor
    cores take one warpgroup's WGMMAs while another promotes, so per K block the SM needs the MMAs of all
    (mma) and each warpgroup its own MMAs and promotion in turn ((mma + promote) / warpgroups):
    max(mma, (mma + promote) / warpgroups) - mma. One warpgroup: the whole promotion; two: only what
    exceeds the other's MMAs (none on Hopper: a K block's promotion takes ~1/4 of its WGMMAs at the FP8 peak)."""
    w = np.maximum(np.asarray(warpgroups, dtype=float), 1.0)
    return np.maximum(0.0, (mma + promote) / w - mma)


def gemm_compute_time(cost, kernels: int) -> np.ndarray:
    """Per kernel of an evaluated kernel table (its GEMM row, then its quantize pass), the GEMM's compute time, s."""
    from .opcost import K_MATMUL

    ct = np.asarray(cost.compute_time, dtype=float).reshape(len(cost.table))
    return np.where(cost.table.kind == K_MATMUL, ct, 0.0).reshape(kernels, -1).sum(axis=1)


def with_operand_stream(cost, operand_bytes, l2_bw: float):
    """An evaluated kernel table (one op row per kernel's GEMM, then its quantize pass) with each
    GEMM's memory time at least its CTAs' operand stream from the L2: operand_bytes
    (kernel_tile.operand_stream_bytes, one per kernel) at the chip's measured L2 read bandwidth
    (kernel_replay.l2_read_bw). A tile narrower than the MMA's best re-reads A (or B) once per
    tile of the other operand; those re-reads come from the L2, overlapped with the MMAs like
    the DRAM stream (TMA pipeline), so they are one more roofline term of the GEMM."""
    from .opcost import K_MATMUL

    return with_memory_floor(cost, cost.table.kind == K_MATMUL, np.asarray(operand_bytes, dtype=float) / l2_bw)


def round_param(g: dict) -> str:
    """The fitted time of one grid-stride iteration of a group's quantize pass: the per-tensor FP8 pair's scalar
    one-element iteration (tensor_round_us), or the SM 9.0 fp8_block kernel's one-block-per-warp one (quant_round_us)."""
    if g["cls"] != "fp8":
        return "quant_round_us"
    return f"tensor_round_us_{g.get('family')}" if TENSOR_ROUND_BY_FAMILY else "tensor_round_us"


def with_quant_rounds(cost, rounds, round_s: float):
    """An evaluated kernel table (one op row per kernel's GEMM, then its quantize pass) with each quantize
    pass's memory time at least its grid-stride iterations (kernel_tile.fp8_block_quant_rounds, one per
    kernel) x the time of one (`round_s`): every warp quantizes its blocks one after another, each a load
    round trip, so a grid sized to the SMs streams what its warps keep in flight, not the DRAM's bandwidth."""
    from .opcost import K_MATMUL

    return with_memory_floor(cost, cost.table.kind != K_MATMUL, np.asarray(rounds, dtype=float) * round_s)


def with_memory_floor(cost, rows, floor):
    """An evaluated op table with the memory time of the ops selected by the bool mask `rows` at least
    `floor` (one value per selected op, s), each op's time raised by what that adds over its compute."""
    import dataclasses

    n = len(cost.table)
    per_op = np.zeros(n)
    per_op[np.flatnonzero(rows)] = floor
    ct, mt, time = (np.asarray(a, dtype=float).reshape(n) for a in (cost.compute_time, cost.memory_time, cost.time))
    new_mt = np.maximum(mt, per_op)
    return dataclasses.replace(cost, memory_time=new_mt, time=time + np.maximum(ct, new_mt) - np.maximum(ct, mt))


def held_params(groups: Groups) -> dict:
    """The parameters fit() holds, not fits, and their values: a kernel with no token rate (byte_buffer_classes)
    its tokrate_ at the 0 it is priced at; the power cap's pj_flop_n7 from the sustained-vs-boost microbenchmarks of
    every chip but the held-out ones (HELD_CAP_ENERGY, held_cap_energy)."""
    held = {"tokrate_" + c: 0.0 for c in byte_buffer_classes()}
    if HELD_CAP_ENERGY:
        held["pj_flop_n7"] = held_cap_energy(groups.held_out)
    return held


def fit(groups: Groups, structured: bool = True) -> dict:
    """Shared parameters from every group's kernels (each group weighs the same). `structured`: the
    finite-difference Jacobian re-predicts only the groups a stepped parameter reaches (group_reads,
    perf/parted_residuals.py): the same evaluations, so the same fit, several times faster; False: every
    group at every step (scipy's dense evaluation)."""
    x0 = np.array([p[1] for p in PARAMS])
    if not SPLIT_K_SERIAL:  # no reduction chain: reported as the 0 it is priced at
        x0[NAMES.index("split_serial_us")] = 0.0
    if not QKV_STEP_BOUND:  # the pass at the DRAM alone: reported as the 0 it is priced at
        x0[NAMES.index("qkv_step_bytes")] = 0.0
    if not CONTEXT_K_OVERHEAD:  # the context kernels on the shared attn_tile_k_overhead: reported as 0, unused
        x0[NAMES.index("ctx_tile_k_overhead")] = 0.0
    if not CONTEXT_KERNEL_EFF:  # the shared eff_attention everywhere: reported as 0, unused
        x0[NAMES.index("ctx_eff_attention")] = 0.0
    held = held_params(groups)
    for n, v in held.items():
        x0[NAMES.index(n)] = v
    lo, hi = np.array([p[2] for p in PARAMS]), np.array([p[3] for p in PARAMS])
    present = {g["cls"] for g in groups.items}
    used = {g["eff"] for g in groups.items if g["op"] == "gemm"}  # both fp8_block efficiencies only where used
    if any(g["promote_flops"].any() for g in groups.items):
        used.add("promote_exposed")
    used |= {"ovh_gen_pre"} if any(g.get("pre") for g in groups.items) else set()
    if any(g["cls"].startswith("decode_") for g in groups.items):
        used |= {"gen_stream_knee"} if GEN_STREAM_KNEE else set()
        used |= ({f"ctas_{g['cls']}" for g in groups.items if g["cls"].startswith("decode_") and not g.get("ctas", 0.0) > 0
                  and not launch_residency(g["cls"])} if FITTED_RESIDENCY else {"ctas_per_core"})
    used |= {"l2_core_bw"} if any(g.get("l2") and g["op"] == "gemm" for g in groups.items) else set()
    used |= {"load_latency_us"} if any(g.get("inflight", 0.0) > 0 for g in groups.items) else set()
    used |= {round_param(g) for g in groups.items if np.any(g.get("quant_rounds", 0.0))}
    if ELT_CORE_STREAM and "prefill" in present:
        used |= {"elt_core_bw", "gen_stream_knee"} if GEN_STREAM_KNEE else {"elt_core_bw"}
    used |= {"qkv_step_bytes"} if QKV_STEP_BOUND and any(has_steps(g) for g in groups.items) else set()
    free = np.array([n.partition("_")[2] not in set(CLASSES) - present
                     and not ((n.startswith(("eff_fp8_block", "ctas_", "tensor_round_us")) or n in ("ovh_gen_pre", "promote_exposed", "l2_core_bw",
                                                                   "load_latency_us", "quant_round_us", "gen_stream_knee", "elt_core_bw",
                                                                   "qkv_step_bytes"))
                              and n not in used)
                     and n not in SCANNED and not n.startswith("ovhfam_") and n not in held
                     and not (n == "split_serial_us" and not SPLIT_K_SERIAL)
                     and not (n == "ctx_tile_k_overhead"
                              and not any(tile_k_overhead_param(g["cls"], g.get("family")) == n for g in groups.items))
                     and not (n == "ctx_io_core_bw" and not (CONTEXT_IO_CORE_STREAM and "prefill" in present))
                     and not (n == "ctx_score_flops" and not any(reads_score_flops(g) for g in groups.items))
                     and not (n == "ctx_eff_attention"
                              and not any(attention_eff_param(g["cls"], g.get("family")) == n for g in groups.items))
                     and not (n == "burst_power" and not (BURST_POWER_LIMIT and any(burst_read(g) for g in groups.items)))
                     and not (n.startswith("merge_") and not MMHA_LAUNCH)
                     and not (n.startswith("tile_") and not QGMMA_TILE_WORK) for n in NAMES])
    ties = family_ties(groups)
    for last, others in ties:
        free[others] = True
    n_cls: dict = {}  # each (chip, op, format) weighs the same, its kernel-class items together
    for g in groups.items:
        n_cls[g["chip"], g["op"], g["fmt"]] = n_cls.get((g["chip"], g["op"], g["fmt"]), 0) + len(g["meas"])
    w = [1.0 / np.sqrt(n_cls[g["chip"], g["op"], g["fmt"]]) for g in groups.items]
    f_scale = 0.05

    def resid_of(i: int, x) -> np.ndarray:  # group i's weighted log residuals at the full (tied) parameters x
        g = groups.items[i]
        return w[i] * (np.log(predict_group(g, x)) - np.log(g["meas"]))

    def resid_at(x):
        x = tie(x, ties)
        return np.concatenate([resid_of(i, x) for i in range(len(groups.items))])

    reach = group_reach(groups, ties)

    def solve(x):
        def full(xf):
            xx = x.copy()
            xx[free] = xf
            return tie(xx, ties)

        parted = PartedResiduals(lambda i, xf: resid_of(i, full(xf)), reach[:, free])
        res = least_squares(parted if structured else (lambda xf: resid_at(full(xf))), x[free], bounds=(lo[free], hi[free]),
                            loss="soft_l1", f_scale=f_scale, x_scale="jac", **(parted.solver_options() if structured else {}))
        x = x.copy()
        x[free] = res.x
        return x

    def soft_l1(r):  # least_squares' loss, to compare scanned values on the same footing
        return float(np.sum(2.0 * (np.sqrt(1.0 + (r / f_scale) ** 2) - 1.0)))

    with threadpool_limits(limits=FIT_BLAS_THREADS, user_api="blas"):
        x = solve(x0)
        for name, values in SCANNED.items():
            i = NAMES.index(name)
            x[i] = min(values, key=lambda v: soft_l1(resid_at(np.where(np.arange(len(x)) == i, v, x))))
        if SCANNED:
            x = solve(x)
    x = tie(x, ties)
    return {"params": {n: round(float(v), 4) for n, v in zip(NAMES, x)},
            "fitted": [n for n, f in zip(NAMES, free) if f], "rows": int(sum(len(g["meas"]) for g in groups.items))}


# parameters named <prefix>_<kernel class> (a CLASSES entry): params_for and generation_fields read them for
# that class's groups only
CLASS_PARAM_PREFIXES = ("mem", "ovh", "split", "unit", "unitlat", "tokrate", "ctabw", "score", "ctas", "merge", "tile")
# the compute efficiencies params_for and predict_group put on the peak keys (compute_effs)
COMPUTE_EFFS = ("eff_bf16", "eff_fp8", "eff_nvfp4", "eff_fp8_block_mma", "eff_fp8_block_sm90", "eff_fp8_block_sm89")


def burst_read(g: dict) -> bool:
    """Whether predict_group reads burst_power for item g: some of its GEMMs timed before the board's power
    response (capped < 1), with BURST_POWER_LIMIT on."""
    c = g.get("capped")
    return bool(BURST_POWER_LIMIT and g["op"] == "gemm" and c is not None and np.any(np.asarray(c) < 1.0))


def group_reads(g: dict, name: str) -> bool:
    """Whether predict_group(g, x) may read the parameter `name`: a superset, every name no rule below
    narrows counts as read. The rules follow params_for / generation_fields (a class's own parameters) and
    predict_group (the terms it adds under a group's flags). fit's finite differences re-predict only the
    groups that read a stepped parameter, so a read missed here changes the fit: keep this in step with
    those functions (tests/test_kernel_fit_jac.py checks the Jacobian against the dense one)."""
    prefix, _, rest = name.partition("_")
    if prefix == "ctas" and rest in CLASSES:  # generation_fields / item_params: the kernel's own fitted residency
        return FITTED_RESIDENCY and g["cls"] == rest and not g.get("ctas", 0.0) > 0 and not launch_residency(rest)
    if prefix in CLASS_PARAM_PREFIXES and rest in CLASSES:
        return g["cls"] == rest
    if prefix == "ovhfam":  # predict_group: the family's offset, GEMM formats and multi-family attention classes
        return g["cls"] in GEMM_FMTS + ATTN_FAMILY_CLASSES and name == fixed_time_param(g.get("family"), g["cls"])
    if name == "elt_core_bw":  # generation_fields: the QKV pass's per-SM stream, context class only, when on
        return ELT_CORE_STREAM and g["cls"] == "prefill"
    if name == "qkv_step_bytes":  # item_params: the QKV pass's L2 traffic per step, on ops that count steps, when on
        return QKV_STEP_BOUND and has_steps(g)
    if name == "burst_power":  # predict_group: the clock of a GEMM's burst before the board's power response
        return burst_read(g)
    if name == "split_serial_us":  # params_for: a split-K GEMM's in-order reduction, GEMM formats only
        return SPLIT_K_SERIAL and g["cls"] in GEMM_FMTS
    if name == "l2_core_bw":  # predict_group: L2-resident GEMM replays (decode kernels take the chip's L2 read bandwidth)
        return bool(g.get("l2")) and g["op"] != "attention_decode"
    if name == "load_latency_us":  # predict_group: a GEMM with a known load pipeline
        return g.get("inflight", 0.0) > 0 and g["op"] == "gemm"
    if name == "quant_round_us" or name.startswith("tensor_round_us"):  # predict_group: a quantize pass, iterations known
        return bool(np.any(g.get("quant_rounds", 0.0))) and round_param(g) == name
    if name == "ctx_score_flops":  # item_params: the serial context kernels' per-score work, when fitted
        return reads_score_flops(g)
    if name == "ctx_io_core_bw":  # item_params: the context class's Q / O tiles at one core's stream
        return CONTEXT_IO_CORE_STREAM and g["cls"] == "prefill"
    if name == "ovh_gen_pre":  # predict_group: separate generation preparation kernels
        return bool(g.get("pre"))
    if name == "promote_exposed":  # predict_group: x times the promotion FLOPs, 0 where there are none
        return bool(np.any(g["promote_flops"]))
    if name == "ctas_per_core":  # generation_fields: decode classes, unless the kernel's source or own residency replaces it
        return g["cls"].startswith("decode_") and not g.get("ctas", 0.0) > 0 and not FITTED_RESIDENCY
    if name == "gen_stream_knee":  # generation_fields: the CTA stream is on for decode classes only
        # (params_for: the knee also shapes the context class's QKV pass stream when ELT_CORE_STREAM is on)
        return g["cls"].startswith("decode_") or (ELT_CORE_STREAM and g["cls"] == "prefill")
    if name in COMPUTE_EFFS:  # params_for: one efficiency per peak key, read per op
        return name in compute_effs(g)
    kinds = set(np.unique(g["table"].kind).tolist())
    # opcost._evaluate: the GEMM-tile K overhead and the exposed epilogue only on GEMM rows, the attention
    # efficiency and tile overhead only on attention rows; power_cap.capped_time: the clock of GEMM rows only
    if name in ("pj_flop_n7", "tile_k_overhead", "epilogue_exposed"):
        return K_MATMUL in kinds
    if name in ("attn_tile_k_overhead", "ctx_tile_k_overhead"):  # params_for / item_params: tile_k_overhead_param's
        return K_ATTN in kinds and name == tile_k_overhead_param(g["cls"], g.get("family"))
    if name in ("eff_attention", "ctx_eff_attention"):  # params_for / item_params: attention_eff_param's
        return K_ATTN in kinds and name == attention_eff_param(g["cls"], g.get("family"))
    return True


def has_steps(g: dict) -> bool:
    """Whether a group's op table holds an op whose thread steps are priced (Elementwise.steps: the QKV pass)."""
    steps = g["table"].elt_steps
    return steps is not None and bool(np.any(steps > 0))


def compute_effs(g: dict) -> set:
    """The compute-efficiency parameters a group's ops run at: opcost takes eff_compute[op's peak key] for its
    GEMM and attention rows (the others' compute is on the vector units); params_for sets each key's from
    eff_param, and an attention class's FP8 attention rows at eff_bf16 where own_fp8_attention;
    predict_group runs a block-scaled FP8 group's fp8 key at its own efficiency (g["eff"])."""
    t = g["table"]
    own = own_fp8_attention(g["cls"], g.get("family"))  # an FP8 attention op at its own efficiency
    names = {eff_param(PEAK_KEYS[i]) for i in np.unique(t.peak_key[t.kind == K_MATMUL])}
    names |= {"eff_bf16" if own and PEAK_KEYS[i] == "fp8" else eff_param(PEAK_KEYS[i])
              for i in np.unique(t.peak_key[t.kind == K_ATTN])}
    if g["fmt"] == "fp8_block" and "eff_fp8" in names:
        names = (names - {"eff_fp8"}) | {g["eff"]}
    return names


def group_reach(groups: Groups, ties: list) -> np.ndarray:
    """(groups, NAMES) bool: group i's prediction may change when parameter j does (group_reads), a tied
    family offset's reach added to each offset it is tied to (tie: the last is minus the others' sum)."""
    reach = np.array([[group_reads(g, n) for n in NAMES] for g in groups.items], dtype=bool).reshape(len(groups.items), len(NAMES))
    for last, others in ties:
        reach[:, others] |= reach[:, [last]]
    return reach


def family_ties(groups: Groups) -> list:
    """Per GEMM format and multi-family attention class (ATTN_FAMILY_CLASSES), (index of the last family's
    fixed-time offset, indices of the others') over the
    families whose chips the groups hold, where FIXED_TIME_BY_FAMILY is "fitted": the others are fitted,
    the last is minus their sum (tie), so the shared ovh_<fmt> is the families' mean fixed time, the one a
    family the fit never saw gets. One family alone has no offset (its chips set ovh_<fmt>)."""
    if FIXED_TIME_BY_FAMILY != "fitted":
        return []
    present: dict = {}
    for g in groups.items:
        if (g["op"] == "gemm" and g["cls"] in GEMM_FMTS) or g["cls"] in ATTN_FAMILY_CLASSES:
            present.setdefault(g["cls"], set()).add(g["family"])
    out = []
    for fmt, fams in sorted(present.items()):
        idx = [NAMES.index(fixed_time_param(f, fmt)) for f in sorted(fams)]
        out.append((idx[-1], idx[:-1]))
    return out


def tie(x: np.ndarray, ties: list) -> np.ndarray:
    """x with each tied family offset set to minus the sum of its format's other fitted ones (family_ties)."""
    x = np.array(x, dtype=float)
    for last, others in ties:
        x[last] = -float(np.sum(x[others]))
    return x


def errors(groups: Groups, x) -> dict:
    """Per (chip, op, format): n, median and p90 of |pred/meas - 1|, median signed (in %)."""
    e: dict = {}
    for g, t in zip(groups.items, groups.predict(x)):  # a (chip, op, format)'s kernel classes pooled
        e.setdefault((g["chip"], f"{g['op']}/{g['fmt']}"), []).append(t / g["meas"] - 1.0)
    out: dict = {}
    for (chip, key), parts in e.items():
        out.setdefault(chip, {})[key] = error_stats(np.concatenate(parts))
    return out


def error_stats(e: np.ndarray) -> dict:
    """n, median and p90 of |e|, median signed, in % (e = predicted/measured - 1)."""
    return {"n": int(len(e)), "median_abs_err_pct": round(float(np.median(np.abs(e))) * 100, 1),
            "p90_abs_err_pct": round(float(np.percentile(np.abs(e), 90)) * 100, 1),
            "median_signed_err_pct": round(float(np.median(e)) * 100, 1)}


def x_of(params: dict) -> np.ndarray:
    """The parameter vector of a fit's {name: value}; a per-kernel residency a fit from before it existed lacks
    (ctas_decode_<kernel>, read only where FITTED_RESIDENCY) and a multi-block merge (merge_decode_mmha, read only
    where MMHA_LAUNCH) and the context kernels' own work-unit overhead and efficiency (ctx_tile_k_overhead,
    ctx_eff_attention, read only where CONTEXT_K_OVERHEAD / CONTEXT_KERNEL_EFF) take their start value."""
    start = {p[0]: p[1] for p in PARAMS}
    late = ("ctas_decode_", "merge_decode_", "tile_decode_", "eff_fp8_block_sm90", "eff_fp8_block_sm89", "ctx_tile_k_overhead",
            "ctx_eff_attention", "ctx_io_core_bw", "ctx_score_flops")
    return np.array([params[n] if n in params or not n.startswith(late) else start[n] for n in NAMES], dtype=float)


def holdout_report(train: Kernels, test: Kernels, holdout: str, floors: dict | None = None) -> dict:
    """Fit on `train` (which must not hold the chip), predict every kernel of `test`; the family
    fixed-time offsets from `floors` (kernel_floor.chip_floors; None: train's own), never the chip's."""
    floors = chip_floors(train) if floors is None else floors
    out = held_out_chips(holdout)  # the chip and its twins (kernels_db.yaml same_silicon)
    if out & set(train.cols["chip"]) or any(c in out for c, _ in floors):
        raise ValueError("the held-out chip's (or its twin's) kernels are in the training set")
    f = fit(Groups(train, floors=floors, held_out=out))
    errs = errors(Groups(test, floors=floors, held_out=out), x_of(f["params"]))  # its cap energy never its own pairs
    return {"holdout": holdout, "fit": f, "train_chips": sorted(set(train.cols["chip"])),
            "errors": errs.get(holdout, {}), "fixed_time_offsets_us": offsets_us(floors)}


def offsets_us(floors: dict) -> dict:
    """The family fixed-time offsets a fit used ({"family/fmt": us}; kernel_floor.family_offsets), for its report:
    none unless FIXED_TIME_BY_FAMILY is "measured" (Groups reads the floors only then; "fitted" reports ovhfam_*)."""
    if FIXED_TIME_BY_FAMILY != "measured":
        return {}
    return {f"{fam}/{fmt}": round(v * 1e6, 3) for (fam, fmt), v in sorted(family_offsets(floors).items())}


def model_switches() -> dict:
    """The module switches a fit ran under ({name: {value, serving}}): each changes the fitted parameters, so
    every fit's source carries them; `serving` says whether `--kernels` serving (kernel_calibration.chip_entry)
    prices the same way or the switch shapes the fit only."""
    return {"FIXED_TIME_BY_FAMILY": {"value": FIXED_TIME_BY_FAMILY, "serving": "kernel_overhead_us = ovh_bf16 + the family's offset"},
            "ATTN_FAMILY_CLASSES": {"value": list(ATTN_FAMILY_CLASSES),
                                    "serving": "an attention op's fixed time = its ovh_<class> + the family's offset"},
            "GEN_STREAM_KNEE": {"value": GEN_STREAM_KNEE, "serving": "kernel_decode_classes attn_cta_stream_knee"},
            "STREAM_K_TAIL": {"value": STREAM_K_TAIL, "serving": "kernel_library stream_k_tail"},
            "SPLIT_K_SERIAL": {"value": SPLIT_K_SERIAL, "serving": "kernel_library split_k_serial_time"},
            "SOFTMAX_OVERLAP": {"value": SOFTMAX_OVERLAP, "serving": "kernel_library attn_ctx_softmax_overlap"},
            "SOFTMAX_FP32_WORK": {"value": SOFTMAX_FP32_WORK,
                                  "serving": "fit only: serving's softmax_vflops is kernel_structure.yaml's"},
            "SERIAL_SCORE_WORK": {"value": SERIAL_SCORE_WORK,
                                  "serving": "fit only: serving's softmax_vflops is kernel_structure.yaml's"},
            "SERIAL_SCORE_FIT": {"value": SERIAL_SCORE_FIT,
                                 "serving": "fit only: serving's softmax_vflops is kernel_structure.yaml's"},
            "SERIAL_CONTEXT_TILE": {"value": SERIAL_CONTEXT_TILE,
                                    "serving": "fit only: serving's context op keeps the model's own tiling"},
            "TMEM_PINGPONG": {"value": TMEM_PINGPONG,
                              "serving": "fit only: serving's attn_ctx_softmax_overlap is the family's flag (SOFTMAX_OVERLAP)"},
            "CONTEXT_K_OVERHEAD": {"value": CONTEXT_K_OVERHEAD,
                                   "serving": "kernel_library attn_ctx_tile_k_overhead (kernel_calibration.context_k_overhead)"},
            "CONTEXT_KERNEL_EFF": {"value": CONTEXT_KERNEL_EFF,
                                   "serving": "kernel_library attn_ctx_eff_attention (kernel_calibration.context_eff_attention)"},
            "CONTEXT_IO_EXPOSED": {"value": CONTEXT_IO_EXPOSED, "serving": "kernel_library attn_ctx_io_exposed"},
            "CONTEXT_IO_CORE_STREAM": {"value": CONTEXT_IO_CORE_STREAM, "serving": "kernel_library attn_ctx_io_core_bw"},
            "ELT_CORE_STREAM": {"value": ELT_CORE_STREAM,
                                "serving": "fit only: serving's QKV preprocessing streams at the DRAM x its stream efficiency"},
            "FITTED_RESIDENCY": {"value": FITTED_RESIDENCY, "serving": "kernel_decode_classes attn_ctas_per_core"},
            "MMHA_LAUNCH": {"value": MMHA_LAUNCH, "serving": "kernel_decode_classes attn_gen_launch_warps"},
            "QGMMA_WAVES": {"value": QGMMA_WAVES, "serving": "serving_decode_params attn_gen_wave_ctas = decode_residency.ctas_per_sm"},
            "QGMMA_TILE_WORK": {"value": QGMMA_TILE_WORK, "serving": "kernel_decode_classes attn_gen_tile_flops"},
            "SOURCE_RESIDENCY": {"value": SOURCE_RESIDENCY,
                                 "serving": "serving_decode_params attn_ctas_per_core = decode_residency.ctas_per_sm"},
            "QKV_STEP_BOUND": {"value": QKV_STEP_BOUND, "serving": "kernel_library elt_step_time"},
            "GEN_KV_TILE": {"value": GEN_KV_TILE, "serving": "kernel_decode_classes attn_gen_kv_tile"},
            "GEN_HEAD_PAD": {"value": GEN_HEAD_PAD, "serving": "kernel_decode_classes attn_gen_head_pad"},
            "GEN_BYTE_BUFFERS": {"value": GEN_BYTE_BUFFERS, "serving": "kernel_decode_classes attn_cta_tokens_per_s"},
            "ATTN_FP8_EFF": {"value": ATTN_FP8_EFF, "serving": "kernel_library attn_eff_fp8"},
            "DEEPGEMM_EFF": {"value": DEEPGEMM_EFF, "serving": "fit only: serving has no block-scaled FP8 GEMM class"},
            "ADA_BLOCKWISE_EFF": {"value": ADA_BLOCKWISE_EFF,
                                  "serving": "fit only: serving's per-tensor FP8 rows read eff_fp8, no longer tied to the block-scaled kernels"},
            "COLLECTOR_BURST_CLOCK": {"value": COLLECTOR_BURST_CLOCK,
                                      "serving": "fit only: serving runs every GEMM at the capped clock (a sustained run)"},
            "BURST_POWER_LIMIT": {"value": BURST_POWER_LIMIT,
                                  "serving": "fit only: serving runs every GEMM at the capped clock (a sustained run)"},
            "HELD_CAP_ENERGY": {"value": HELD_CAP_ENERGY,
                                "serving": "fit only: serving prices eff_compute's capped clock at the fit's pj_flop_n7, held or fitted"},
            "SILICON_CAP_ENERGY": {"value": silicon_cap.SILICON_CAP_ENERGY,
                                   "serving": "eff_compute's capped clock at the chip's own silicon's cap energy (cap_power_density)"},
            "TOKEN_N_FMTS": {"value": list(TOKEN_N_FMTS),
                             "serving": "kernel_gemm_classes balanced_row_tiles, for the row's GEMM format"}}


def source_of(k: Kernels) -> dict:
    """Where every fitted number comes from: package, version, stack and stack version per chip."""
    per_chip: dict = {}
    for s in k.sources:
        e = per_chip.setdefault(s["chip"], {"system": s["system"], "stack": s["stack"], "stack_versions": {}})
        e["stack_versions"][s["op"]] = s.get("stack_version", "absent")
        if s.get("note"):
            e.setdefault("notes", []).append(f"{s['op']}: {s['note']}")
    return {"package": "aiconfigurator-core", "package_version": k.package_version, "chips": per_chip,
            "method": "tapeout/perf/kernel_fit.py: shared structural parameters, least squares on log latency",
            "switches": model_switches()}


def calibrate(k: Kernels, holdout: str | None = None, floors: dict | None = None) -> dict:
    """Fit on every chip of `k` (but `holdout`); errors in-sample, or on the held-out chip.
    `floors`: the empty-GEMM times of the family offsets (kernel_floor; None: k's own)."""
    if holdout is None:
        groups = Groups(k, floors=floors)
        f = fit(groups)
        return {"source": source_of(k), "fit": f, "errors": errors(groups, x_of(f["params"])),
                "fixed_time_offsets_us": offsets_us(chip_floors(k) if floors is None else floors)}
    chips = k.cols["chip"]
    if holdout not in set(chips):
        from ..errors import TapeoutError

        raise TapeoutError(f"--holdout '{holdout}' has no kernels in the database read; use one of "
                           f"{', '.join(sorted(set(chips)))}.")
    twins = held_out_chips(holdout)
    out = holdout_report(without_chips(k, twins), k.where(chips == holdout), holdout,
                         None if floors is None else {key: t for key, t in floors.items() if key[0] not in twins})
    out["source"] = source_of(k)
    return out
