"""ChipParams: the numbers the performance model reads, as scalars or broadcastable arrays.

One chip -> floats. A sweep of 10^5 variants -> numpy arrays of shape (D,). Every model
function reads only these fields, so the same code serves both (DESIGN.md, "Evaluate one
chip or a million with the same code").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, replace
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError
from ..ops import PEAK_KEYS
from .memory_capacity import KIB, capacity_bytes
from .sram_tier import sram_working_memory, without_launches

TB = 1e12

# The per-wave fused-attention latency of a context kernel (kernel_structure.yaml attn_unit_time_us; perf/opcost.py)
# is a CTA's fixed prologue / epilogue on an SM, fitted on NVIDIA kernels and charged per ceil(units / num_cores)
# wave. On a chip whose attention is not such a CTA grid (chip data attention_cta_grid false: Gaudi lowers it to
# batched GEMMs on its 2-8 MMEs and a softmax on its TPCs, docs.habana.ai Gaudi Architecture) the term has no
# counterpart, and with num_cores counting 2 MMEs it charged 896 waves (2.8 ms) per BERT layer, 3/4 of Gaudi2's
# BERT forward (docs/notes/issue-18.md, round stop-37). On: sourced chip data. Habana's BERT rows no longer see
# it (their attention is the unfused core, validation/bert_attention.py); of the 16 other Gaudi rows it moves
# (GPT-3 / LoRA training on FusedSDPA, SDXL, serving prefill) 8 come closer and 8 go further, mean
# |ln(pred/measured)| 0.284 -> 0.256, overall median |error| 17.90 -> 17.96% (LLM training 15.77 -> 16.84, LLM
# inference offline 14.17 -> 13.21): a wash by count and median, closer by mean log error; no other chip moves.
# Round stop-37 (issue-41a) states the datum per family from the kernels' sources: Google TPU (a Pallas grid runs
# sequentially on one or two TensorCores; num_cores counts MXUs) and AWS Neuron (NKI flash_fwd on one NeuronCore)
# false, Ascend (CANN block grid over AI cores) and AMD CDNA (CK FMHA workgroup grid over CUs) true; of the 20 predicted
# TPU rows 12 come closer (SDXL -31..-84% -> +7..-61%), 5 go further (the GPT-3 rows, each 3-5 points lower), 3 do not move, mean
# |ln(pred/measured)| 0.408 -> 0.187; the Neuron rows move < 0.5% (docs/notes/issue-18.md, round stop-37, issue-41a).
# Round stop-38 (issue-42d) states it for every other catalog family: NVIDIA (FlashAttention-2 grid over SMs) and Intel
# Xe2 (XeTLA fmha work-group nd_range) true; Qualcomm AIC100 (a QPC compiled onto a fixed set of AI cores), Groq (one
# static instruction schedule) and Cerebras (compiler-placed layers) false; MTIA, Cambricon, Kunlun and Hanguang keep
# the generic true with status `unsourced`. Of the rows only Qualcomm's BERT moves (-15.1 -> -13.2%).
ATTENTION_CTA_GRID_GATE = True
NO_CTA_GRID_ATTENTION = {"attn_unit_time": 0.0, "attn_unit_flops": 0.0}  # what such a chip does not pay
# The generation kernels' per-wave terms (kernel_structure.yaml attn_decode_unit_*: XQA / MMHA CTAs on SMs) are the
# same GPU mechanism, and Gaudi's decode attention has no CTA grid either (Habana's GPT-J, inference_results_v3.1
# closed/Intel-HabanaLabs/code/gptj-99/gpt-j/modeling_gptj.py GPTJAttention._attn: torch.bmm QK^T, scale + mask,
# CustomSoftmax, torch.matmul AV over the static KV cache; TGI-Gaudi's optimum-habana GaudiLlamaAttention: FusedSDPA
# or matmul / softmax / matmul). Off: what the gate would remove is not replaced by a sourced Gaudi decode cost (the
# padded static cache is priced already, serving_stacks.yaml kv_static; the unfused score passes are <= ~16% of the
# KV read), and on its own it moves 6 of the 7 Gaudi serving rows it touches further (LLM inference medians
# offline 13.21 -> 14.66%, server 8.59 -> 8.82%): the term stays as a stand-in for an unpriced Gaudi decode cost,
# not as its mechanism (docs/notes/issue-18.md, round stop-37, issue-39a).
ATTENTION_CTA_GRID_DECODE_GATE = False
NO_CTA_GRID_DECODE_ATTENTION = {"attn_decode_unit_time": 0.0, "attn_decode_unit_flops": 0.0}
# A chip whose catalog states vector_tflops (data/chips/extra_specs.csv) runs its non-matrix work (norms, activations,
# softmax, residual adds) at that rate instead of fp32_tflops: on an AWS NeuronCore-v2 fp32_tflops (47.5 per chip) is the
# TensorEngine's FP32 matrix rate, while those ops run on the Scalar and Vector engines, 2.9 + 2.3 FP32 TFLOPS per core
# (AWS Neuron docs, NeuronCore-v2 Architecture), 10.4 per chip, 4.6x less. On: it moves 8 of the 12 Neuron rows, every
# one toward its measurement (SDXL +91.4 -> +81.3%, CLIP ViT-L/14 +149.2 -> +143.9%, the LLM rows < 0.2 points; round
# stop-41, issue-56b, docs/notes/issue-24.md); chips without the field are unchanged either way.
CHIP_VECTOR_RATE = True


# Every op's time reads the chip's memory bandwidth (bytes / mem_bw), every fit its memory capacity and every norm /
# softmax / activation its vector rate. ChipParams.from_chip takes 0 for one that is not on file (a topology or
# collective question still has its answer); a performance engine given such a catalog chip priced it with inf / NaN
# times, printed as "-" with exit 0, or refused it as "0 GiB usable" blaming the model. require_perf_specs refuses it
# instead, naming the spec and the fix (docs/notes/physical-limits.md, Round stop-39 issue-47d).
PERF_SPECS = {
    "memory_bandwidth_tbps": ("mem_bw", "off-chip memory bandwidth in TB/s: every weight, activation and KV byte is read through it"),
    "memory_capacity_gb": ("mem_capacity", "off-chip memory capacity in GB: weights, KV cache and activations are placed in it"),
}


# A chip without tdp_w on file (TPU v5e..v7, Trainium, Ascend 910C: vendors do not publish one) is priced at this board
# power: every power, energy and J/token figure of it scales with it. It is the H100 SXM's TDP (NVIDIA H100 datasheet),
# an assumption, not the chip's: assumed_tdp_notes says so with every serving and training answer (it was silent).
DEFAULT_TDP_W = 700.0


def assumed_tdp_notes(chip) -> list[str]:
    """The note an answer carries where `chip`'s power rests on DEFAULT_TDP_W (no tdp_w on file), else none."""
    if isinstance(chip.get("tdp_w"), (int, float)):
        return []
    return [f"power: tdp_w is not on file for {chip.id}: its power and energy (W, J/token) assume a {DEFAULT_TDP_W:g} W "
            f"board (hardware/params.DEFAULT_TDP_W, the H100 SXM's TDP), not a figure of this chip; register_chip a "
            f"chip with base '{chip.id}' and a sourced tdp_w"]


def vector_tflops(chip) -> float:
    """The chip's non-matrix FP32 rate (TFLOP/s): its own vector_tflops where stated and CHIP_VECTOR_RATE is on, else
    fp32_tflops, else vector_fraction_of_matrix x its 16-bit matrix peak."""
    own = chip.get("vector_tflops", None)
    if CHIP_VECTOR_RATE and own not in (None, ""):
        v = _num(own, -1.0)
        if not v > 0:
            raise TapeoutError(f"chip '{chip.id}': vector_tflops = {own!r}; give the non-matrix FP32 rate in TFLOP/s (> 0) "
                               f"with its source in data/chips/extra_specs.csv, or leave the field out")
        return v
    fp32 = chip.get("fp32_tflops", 0.0)
    if isinstance(fp32, float) and fp32 > 0:
        return float(fp32)
    return float(chip.get("vector_fraction_of_matrix")) * max(chip.peak_tflops("bf16"), chip.peak_tflops("fp16"))


def require_perf_specs(chip, p: "ChipParams") -> None:
    """One TapeoutError naming the spec of `chip` the performance model would price as 0 in `p` (its ChipParams) and
    the fix: no memory bandwidth, no memory capacity (a chip that holds its weights in on-chip SRAM alone, Groq or
    Cerebras, is not modelled: serving and training place weights in off-chip memory), or no vector rate (fp32_tflops,
    or a 16-bit matrix peak that vector_fraction_of_matrix scales)."""
    fix = (f"add a sourced value to data/chips/*.csv (every value with its source), or register_chip a chip with "
           f"base '{chip.id}' and the spec")
    present = {name: bool(np.all(np.asarray(getattr(p, attr)) > 0)) for name, (attr, _) in PERF_SPECS.items()}
    sram_only = "" if any(present.values()) else (
        " (it has no off-chip memory on file: a chip that holds its weights in on-chip SRAM alone is not modelled unless it "
        "states sram_working_memory with a sourced sram_bandwidth_tbps, hardware/sram_tier.py)")
    for name, ok in present.items():
        if not ok:
            raise TapeoutError(f"chip '{chip.id}': {name} is not on file ({PERF_SPECS[name][1]}), so its performance "
                               f"cannot be predicted{sram_only}; {fix}.")
    if not np.all(np.asarray(p.vector_flops) > 0):
        raise TapeoutError(f"chip '{chip.id}': no vector rate: fp32_tflops is not on file and neither is a 16-bit "
                           f"matrix peak (bf16_tflops_dense / fp16_tflops_dense) that vector_fraction_of_matrix scales, "
                           f"and every norm, softmax and activation runs on it; {fix}.")


def _num(v, default: float) -> float:
    """A spec value as float; non-numeric notes ("~1.97 (FP8) / ...") fall back to default."""
    return float(v) if isinstance(v, (int, float)) else default


def mma_feed_ratio(smem_bytes_per_clk, mma_bf16_flops_per_clk) -> float:
    """Bytes one core's shared memory feeds its matrix unit per dense BF16 FLOP; 0 where either is
    undescribed. Both are per core and per clock, so the ratio holds at any clock."""
    b, f = _num(smem_bytes_per_clk, 0.0), _num(mma_bf16_flops_per_clk, 0.0)
    if b < 0 or f < 0:
        raise TapeoutError(f"smem_mma_bytes_per_clk ({b}) and mma_bf16_flops_per_clk ({f}) must be >= 0: "
                           "give the per-core shared-memory read bytes and dense BF16 FLOPs per clock")
    return b / f if b > 0 and f > 0 else 0.0


def store_sector(v) -> float:
    """A core's store transaction size in bytes (family_defaults.yaml store_sector_bytes); 0 where
    undescribed."""
    b = _num(v, 0.0)
    if b < 0:
        raise TapeoutError(f"store_sector_bytes ({b}) must be >= 0: give the bytes of one store transaction "
                           "below the core's L1 (32 for NVIDIA's L2 sectors), or leave it out")
    return b


def accum_mem_bytes(tensor_memory_kib) -> float:
    """Bytes per core of the chip's accumulator memory (tensor_memory_kib, KiB); 0 where undescribed."""
    v = _num(tensor_memory_kib, 0.0)
    if v < 0:
        raise TapeoutError(f"tensor_memory_kib ({v}) must be >= 0: give the per-core accumulator memory in KiB "
                           "(Blackwell SM100 tensor memory: 256), or leave it out where accumulators live in registers")
    return v * KIB


GB = 1e9

# An NVIDIA PCIe card whose scale-up link is an NVLink bridge (A100 PCIe, A30, A40, H100 PCIe / NVL, RTX A5000) reaches
# every peer beyond its bridged cards, and its NIC, only through its PCIe edge connector: the bridge joins cards to
# each other, nothing else (NVIDIA A100 40GB PCIe Product Brief PB-10137-001_v03: "NVLink bridge connects pairs of
# cards"; PCIe Gen4 x16), and GPUDirect RDMA / PCIe peer-to-peer move the data over that link (GPUDirect RDMA
# documentation below). So its tier beyond the bridge runs at min(NIC, host link), as for a card with no bridge.
# On: physics of the card's ports, no fit; it moves the A100 PCIe / A30 rows beyond one bridged pair (32 GB/s, was
# the 50 GB/s NIC assumption) toward their measurements (docs/notes/issue-18.md, round stop-41, issue-56c).
BRIDGED_PCIE_HOST_LINK = True


def bridged_pcie_card(chip) -> bool:
    """An NVIDIA PCIe card (catalog form_factor "pcie") with an accelerator link: a card-to-card NVLink bridge (NVIDIA's
    PCIe cards have no other accelerator port). Cards of other vendors are not read: False."""
    from .node import scaleup_wiring

    return getattr(chip, "form_factor", "") == "pcie" and str(getattr(chip, "vendor", "")).lower() == "nvidia" and \
        scaleup_wiring(chip) != "pcie"


def _reaches_nic_over_pcie(chip) -> bool:
    """True where the card's only path off its board's scale-up link is its PCIe link: wiring "pcie" (no accelerator
    link), or, with BRIDGED_PCIE_HOST_LINK, a bridged NVIDIA PCIe card (bridged_pcie_card)."""
    from .node import scaleup_wiring

    return scaleup_wiring(chip) == "pcie" or (BRIDGED_PCIE_HOST_LINK and bridged_pcie_card(chip))


def scaleout_link(chip) -> dict:
    """Scale-out bandwidth per chip (GB/s per direction, `gbps`) and what sets it: its NIC's rate, capped by its
    host link where the chip has no accelerator link of its own (scale-up wiring "pcie": L4, L40S, RTX cards,
    A10G, ...) or, with BRIDGED_PCIE_HOST_LINK, where its link is an NVLink bridge to its neighbour card (A100 PCIe,
    A30, A40, H100 PCIe / NVL: bridged_pcie_card). Such a card reaches its NIC only through its PCIe edge connector: GPUDirect RDMA moves the data
    between the GPU and the NIC as PCIe peer-to-peer transactions through the switch / root complex above
    both (NVIDIA, GPUDirect RDMA documentation, https://docs.nvidia.com/cuda/gpudirect-rdma/ 'Overview':
    "a direct path for data exchange between the GPU and a third-party peer device using standard features
    of PCI Express"), so no more than the GPU's PCIe link (host_link_bw_gbps) reaches the network.
    Chips with on-die NICs or their own fabric (Gaudi RoCE ports, TPU ICI, Trainium NeuronLink, Ascend)
    are wired otherwise and keep their NIC rate. Also `nic_gbps`, `host_link_gbps` (None where it does not
    cap), `binds` ("nic" or "host_link"), their sources and the rule, for `tapeout show`."""
    nic = float(chip.get("scaleout_bw_gbps"))
    out = {"gbps": nic, "binds": "nic", "nic_gbps": nic, "nic_source": chip.source_of("scaleout_bw_gbps"),
           "host_link_gbps": None, "rule": "the NIC's rate (the chip has its own scale-up link or fabric)"}
    if _reaches_nic_over_pcie(chip):
        host = float(chip.get("host_link_bw_gbps"))
        out.update(gbps=min(nic, host), binds="host_link" if host < nic else "nic", host_link_gbps=host,
                   host_link_source=chip.source_of("host_link_bw_gbps"),
                   rule="min(NIC, host link): a PCIe card reaches its NIC through its PCIe link (GPUDirect RDMA)")
    return out


def scaleout_gbps(chip) -> float:
    """Scale-out bandwidth per chip, GB/s per direction (scaleout_link)."""
    return scaleout_link(chip)["gbps"]

# structural kernel parameters shared by every chip, fitted on measured kernels, with sources
_KERNEL_STRUCTURE_YAML = yaml.safe_load(
    resources.files("tapeout").joinpath("data", "calibration", "kernel_structure.yaml").read_text())
KERNEL_STRUCTURE = {k: float(v["value"]) for k, v in _KERNEL_STRUCTURE_YAML.items()}


def kernel_structure(name: str, held_out=frozenset()) -> float | None:
    """KERNEL_STRUCTURE[name] for a calibration holding `held_out` out (perf/kernels_db.held_out_of): where the
    yaml names the chips whose database kernels the value was fitted on (`fitted_on`) and one is held out, the
    value fitted without them (`without`), else None (nothing measured is left to size it)."""
    e = _KERNEL_STRUCTURE_YAML[name]
    for v in (e, e.get("without")):
        if v is not None and not (set(v.get("fitted_on") or ()) & set(held_out)):
            return float(v["value"])
    return None


@dataclass
class ChipParams:
    # matrix engines: dense peak FLOP/s per compute key (PEAK_KEYS order), 0 = unsupported
    peak_flops: np.ndarray  # shape (len(PEAK_KEYS), *design_shape)
    vector_flops: np.ndarray | float  # FP32 non-matrix FLOP/s
    sparsity_factor: np.ndarray | float
    num_cores: np.ndarray | float
    tile_m: np.ndarray | float
    tile_n: np.ndarray | float
    # memory
    mem_bw: np.ndarray | float  # B/s off-chip
    mem_capacity: np.ndarray | float  # bytes the runtime can allocate (hardware/memory_capacity.py)
    sram_bytes: np.ndarray | float
    access_granularity: np.ndarray | float
    host_bw: np.ndarray | float
    # links
    scaleup_bw: np.ndarray | float  # B/s per direction per chip
    scaleup_latency: np.ndarray | float  # s per collective step
    scaleup_domain: np.ndarray | float
    scaleout_bw: np.ndarray | float
    scaleout_latency: np.ndarray | float
    # power / energy
    tdp_w: np.ndarray | float
    pj_per_flop: np.ndarray  # per PEAK_KEYS entry
    dram_pj_per_byte: np.ndarray | float
    sram_pj_per_byte: np.ndarray | float
    static_w: np.ndarray | float
    # calibration (achieved fraction of peak, fixed overheads); see perf/calibration.py
    eff_compute: np.ndarray | float = 0.8  # scalar, or per PEAK_KEYS entry (axis 0)
    eff_mem: np.ndarray | float = 0.8
    eff_vector: np.ndarray | float = 0.5
    # fused attention (FlashAttention/cuDNN) efficiency as a fraction of the chip's GEMM
    # efficiency, forward with causal mask; and backward-vs-forward slowdown per FLOP
    eff_attention: np.ndarray | float = 1.0
    # a fused attention op's MMA efficiency when it runs in FP8 (of the FP8 peak, before eff_attention): its
    # kernel is the library's FMHA, not the FP8 GEMM (TensorRT-LLM fmha_v2 warpspec/kernel_traits.h
    # Kernel_traits_Hopper_qgmma_e4m3_fp32, dma.h transpose_v_tile: the 16-bit kernel's design with V
    # transposed in shared memory for the K-major QGMMA). 0 = the FP8 GEMM's eff_compute (default; set by the
    # kernel-level fit, kernel_fit.ATTN_FP8_EFF, and `--kernels` serving)
    attn_eff_fp8: np.ndarray | float = 0.0
    attn_bwd_factor: np.ndarray | float = 1.0
    # grouped expert GEMMs (MoE layers) as a fraction of the chip's dense GEMM efficiency
    eff_moe: np.ndarray | float = 1.0
    eff_link: np.ndarray | float = 0.8
    kernel_overhead: np.ndarray | float = 4e-6
    # fixed time per GEMM work unit (output tile x K split) that does not shrink with K: pipeline
    # fill of the first K-slices and the epilogue (accumulator -> output tile store); each core
    # pays it once per wave (perf/opcost.py). 0 = no evidence (calibration.py: fitted on GEMM
    # shape sweeps with varied K, perf/fit/gemm.py)
    tile_overhead: np.ndarray | float = 0.0
    # DRAM bandwidth one core (SM/CU) can stream, as a multiple of its even share mem_bw/cores
    # (Little's law); limits kernels with fewer work units than cores (perf/opcost.py). Default:
    # data/calibration/kernel_structure.yaml (kernel-level fit, with its source)
    core_bw_share: np.ndarray | float = KERNEL_STRUCTURE["core_bw_share"]
    # FP32-FLOP equivalents of the vector/special-function work per attention score: with few
    # FLOPs per score the softmax, not the matrix engine, bounds fused attention (FlashAttention-3,
    # Shah et al. 2024). Default: data/calibration/kernel_structure.yaml
    softmax_vflops: np.ndarray | float = KERNEL_STRUCTURE["softmax_vflops"]
    # most K splits a GEMM library uses to fill the cores when a GEMM has fewer output tiles than
    # cores (cuBLAS split-K / CUTLASS stream-K); a library property, fitted per GEMM format on
    # measured kernels (perf/kernel_fit.py); a fractional value averages the library's choices.
    # Default: no cap (opcost splits down to 256-deep K slices)
    max_split_k: np.ndarray | float = np.inf
    # stream-K tail: a GEMM of more output tiles than cores whose last wave is filled less than this
    # fraction has its last two waves' tiles spread over every core by K iterations (stream-K), so it
    # runs without the partial wave's idle cores (CUTLASS include/cutlass/gemm/kernel/
    # tile_scheduler_params.h, get_num_sk_tiles, DecompositionMode::Heuristic: "prefer data-parallel
    # decomposition if we have more than one wave and the tail wave is more than half full": 0.5);
    # only for kernels that may split K (max_split_k >= 2) over >= 2 slices (opcost). 0 = off (default)
    stream_k_tail: np.ndarray | float = 0.0
    # seconds each K slice past the first adds to a split-K GEMM: the slices' partial sums are added up in
    # K order after the parallel main loops (cuBLASLt CUBLASLT_REDUCTION_SCHEME_INPLACE: "parts are added up
    # in the output data type. Workspace is only used for counters that guarantee sequentiality"; CUTLASS's
    # serial split-K waits on a semaphore per K slice), a chain of (splits - 1) hand-offs through the L2
    # after the roofline time (opcost.split_k_reduction_time). 0 = off (default)
    split_k_serial_time: np.ndarray | float = 0.0
    # K depth (elements) a GEMM tile spends outside its pipelined main loop: filling the
    # operand pipeline before the first MMA and draining/storing the output tile after the
    # last (CUTLASS multistage/warp-specialized mainloop + epilogue); a work unit of depth
    # k_unit runs at k_unit / (k_unit + tile_k_overhead) of its rate. Default 0 (not modelled)
    tile_k_overhead: np.ndarray | float = 0.0
    # smallest row tile a GEMM kernel computes (opcost.row_tile pads m to a multiple of it, up to
    # tile_m): 16, an MMA instruction's rows (NVIDIA mma.m16n8k16; AMD MFMA 16x16), for libraries that shrink the tile for
    # few tokens; a kernel with one fixed tile computes all tile_m rows (perf/kernel_tile.py)
    min_tile_m: np.ndarray | float = 16.0
    # n > 0: a GEMM's tokens are padded to a multiple of n rows (not min_tile_m), and a GEMM of more
    # tokens than tile_m splits them over ceil(m / tile_m) token tiles of equal rows, each padded to
    # n, not whole tile_m tiles: the kernel puts the tokens on the MMA's N side, whose width steps by
    # 8 up to 256 (TensorRT-LLM cublas_scaled_mm and its gemm plugin pass the weight as cuBLAS's A,
    # the tokens as its N; PTX wgmma / tcgen05 N = 8..256 step 8). GEMM ops only (opcost.row_tile):
    # attention's rows keep min_tile_m. 0 = off
    balanced_row_tiles: np.ndarray | float = 0.0
    # one core's operand feed to its matrix unit: bytes per clock its local SRAM delivers to the
    # MMA (both operands read from shared memory, SS-mode tcgen05.mma) over the unit's dense BF16
    # FLOPs per clock (data/chips/extra_specs.csv smem_mma_bytes_per_clk / mma_bf16_flops_per_clk,
    # per chip: the SM 10.x parts whose tcgen05 MMA reads shared memory; not the RTX Blackwell SM 12.0).
    # Clock-free, so a format's need is its peak over BF16's times the tile's operand bytes per
    # FLOP (perf/kernel_tile.operand_feed). 0 = not described (no feed limit; default)
    mma_feed_bytes_per_bf16_flop: np.ndarray | float = 0.0
    # bytes of one global-store transaction below a core's L1 (NVIDIA: the 32-byte L2 sector a
    # warp's store is split into, family_defaults.yaml store_sector_bytes). 0 = not described
    store_sector_bytes: np.ndarray | float = 0.0
    # fraction of each store transaction a GEMM's epilogue fills with output (perf/kernel_tile.store_fill):
    # 1 for a bulk (TMA) store of whole lines; a direct register store of one row per thread fills a
    # sector with one thread's vector. epilogue_time moves output bytes / this. Default 1
    epilogue_store_fill: np.ndarray | float = 1.0
    # the same for a fused-attention work unit (a query tile over its keys, FlashAttention-2
    # outer loop: load Q, then normalise and store O), in keys. Default: kernel_structure.yaml
    attn_tile_k_overhead: np.ndarray | float = KERNEL_STRUCTURE["attn_tile_k_overhead"]
    # the context (prompt) phase's own, where set (>= 0): the described context kernels' fitted
    # ctx_tile_k_overhead under perf/kernel_fit.CONTEXT_K_OVERHEAD (perf/kernel_calibration.py). < 0 (default):
    # the context phase takes attn_tile_k_overhead as generation does
    attn_ctx_tile_k_overhead: np.ndarray | float = -1.0
    # the context (prompt) phase's fused-attention efficiency in place of eff_attention, where > 0: the described
    # context kernels' fitted ctx_eff_attention under perf/kernel_fit.CONTEXT_KERNEL_EFF. 0 (default): eff_attention
    attn_ctx_eff_attention: np.ndarray | float = 0.0
    # fraction of a GEMM wave's output-tile store (epilogue: every core writes its tm x tn tile of
    # C to DRAM, cores x tm x tn x out bytes at mem_bw x eff_mem) not hidden behind the next
    # tile's main loop; a time in seconds that does not shrink with a faster matrix engine.
    # Default 0 (not modelled; the kernel-level fit, perf/kernel_fit.py, fits it)
    epilogue_exposed: np.ndarray | float = 0.0
    # bytes per core of a memory that holds the matrix unit's accumulators apart from the register
    # file (Blackwell SM100/SM103 tensor memory, data/chips/extra_specs.csv tensor_memory_kib, per chip): a GEMM
    # kernel keeps as many FP32 accumulator tiles there as fit and stores one tile while the MMA
    # fills the next, so with two or more its epilogue is not exposed (perf/opcost.accumulator_stages).
    # 0 = accumulators in registers (Hopper, Ada, Ampere, RTX Blackwell; default)
    accum_mem_bytes: np.ndarray | float = 0.0
    # the chip's tensor-memory-access engine and asynchronous (warpgroup / tensor-memory) matrix instructions, 1 or 0
    # (chip data tma / async_mma): which grouped-GEMM path TensorRT-LLM's fused MoE runs for a format
    # (perf/grouped_gemm_path.py). 0 = neither (default: NPU designs, unknown chips)
    tma: np.ndarray | float = 0.0
    async_mma: np.ndarray | float = 0.0
    # devices software sees in one chip (chip data devices_per_chip: an MI250X's two GCDs, a Cloud AI 100 Ultra's four
    # SoCs): each runs its own kernels and collective communicator over num_cores / devices cores. num_cores is the
    # package's (as its peak and bandwidth are); 1 = one device (default)
    devices: np.ndarray | float = 1.0
    # accumulator stages of a known kernel (its builder's own count, e.g. CUTLASS's block-scaled
    # SM100 kernels keep 1 at N = 256; perf/kernel_tile.py); 0 = as many as accum_mem_bytes holds
    accum_stages: np.ndarray | float = 0.0
    # largest GQA group (query heads per KV head) a fused-attention kernel serves in one pass
    # over the KV cache; a larger group falls back to one query head per pass (the cache is read
    # g times). A library dispatch limit, scanned on measured kernels (perf/kernel_fit.py).
    # Default: kernel_structure.yaml
    attn_head_pack: np.ndarray | float = KERNEL_STRUCTURE["attn_head_pack"]
    # fixed time of an attention op on top of kernel_overhead, per phase (s): the extra kernels
    # (QKV preprocessing, split-KV reduction) and per-CTA prologue of context / generation
    # attention (perf/opcost.py). Default: kernel_structure.yaml
    attn_prefill_fixed: np.ndarray | float = KERNEL_STRUCTURE["attn_prefill_fixed_us"] * 1e-6
    attn_decode_fixed: np.ndarray | float = KERNEL_STRUCTURE["attn_decode_fixed_us"] * 1e-6
    # fused attention's work decomposition (FlashAttention-2, Dao 2023 sec. 3.1-3.2; TensorRT-LLM
    # context FMHA): 1 = a context (q_len > 1) kernel runs one CTA per (sequence, query head, query
    # tile), GQA heads not packed into the tile rows, and computes the causal diagonal key tiles in
    # full (masked), skipping only the tiles above it; 0 = GQA heads packed into rows, exact
    # causal key count. Default: kernel_structure.yaml
    attn_tiling: np.ndarray | float = KERNEL_STRUCTURE["attn_tiling"]
    # > 0: a tiled context kernel's time is its CTAs' on the cores they occupy: the softmax
    # exponentials run on the busy cores' special-function units only (as the matrix work does,
    # wave quantization), and the kernel lasts at least as long as its longest CTA (the causal
    # last query tile, which computes every key tile: makespan >= max(total / cores, longest job),
    # Graham 1969). 0 = not modelled (default; the kernel-database fit sets it)
    attn_ctx_makespan: np.ndarray | float = 0.0
    # > 0: a tiled context kernel's CTA loads its Q tile before its first MMA and stores its O tile
    # after its last, and with one CTA resident per core (the FMHA's shared-memory footprint) the
    # next CTA waits for both: per wave, the occupied cores' Q and O tiles at the DRAM rate are
    # serialised with the math (as a GEMM's exposed epilogue). 0 = not modelled (default)
    attn_ctx_io_exposed: np.ndarray | float = 0.0
    # > 0 (B/s, with attn_ctx_io_exposed): the rate one core streams its context CTA's Q and O tiles at, its own
    # requests in flight per round trip (Little's law), whatever the chip's DRAM: a wave's tiles take at least
    # their bytes / this, so the per-CTA cost is the same seconds on every chip. 0 = the DRAM rate only (default)
    attn_ctx_io_core_bw: np.ndarray | float = 0.0
    # > 0 (both): the context kernel's fixed work tile (perf/context_tiles.py; kernels_db.yaml
    # context_kernels, e.g. TensorRT-LLM's Hopper fmha_v2: 128 query rows x 64-256-key tiles): a
    # tiled context op computes whole tiles, attn_ctx_q_tile rows (padded rows too) by whole
    # attn_ctx_kv_tile-key tiles up to each unit's last row, and a one-token prompt is a context
    # kernel. 0 = the model's own tiling (default; the kernel-database fit sets them per kernel)
    attn_ctx_q_tile: np.ndarray | float = 0.0
    attn_ctx_kv_tile: np.ndarray | float = 0.0
    # > 0: the context kernel overlaps its softmax with its MMAs (two compute warpgroups in
    # ping-pong: one's exponentials on the SFUs while the other's GMMAs run; perf/context_tiles.py
    # softmax_overlap, kernels_db.yaml context_kernels): a context op's matrix and softmax times
    # combine as max(MMA, softmax) instead of their sum. 0 = in series (default; FlashAttention-2)
    attn_ctx_softmax_overlap: np.ndarray | float = 0.0
    # fixed work of one fused-attention work unit (CTA): load the Q tile and page table, initialise
    # the online-softmax state, normalise and store O (and, split over KV, write the partial):
    # latency that does not shrink with keys or head dim. In FLOP-equivalents at one core's achieved
    # matrix rate, so each wave of units adds attn_unit_flops * cores / (peak * eff) seconds
    # (perf/opcost.py). Default 0 for context kernels (the kernel fit puts their rate part at 0)
    attn_unit_flops: np.ndarray | float = 0.0
    # the same fixed cost of a fused-attention work unit as latency, seconds per wave of units
    # (dependent DRAM round trips of the prologue: page table, Q tile; epilogue store), independent
    # of the core's matrix rate. Default 0 (not modelled). attn_unit_* are a context (prefill)
    # kernel's; generation (decode) kernels have their own (attn_decode_unit_*)
    # Defaults: kernel_structure.yaml (context: latency only, the fit puts its rate part at 0)
    attn_unit_time: np.ndarray | float = KERNEL_STRUCTURE["attn_unit_time_us"] * 1e-6
    attn_decode_unit_flops: np.ndarray | float = KERNEL_STRUCTURE["attn_decode_unit_flops"]
    attn_decode_unit_time: np.ndarray | float = KERNEL_STRUCTURE["attn_decode_unit_time_us"] * 1e-6
    # generation attention's DRAM stream by Little's law: each resident CTA keeps a fixed number
    # of KV tokens in flight (its load pipeline's buffers), so it streams attn_cta_tokens_per_s x
    # (K + V bytes per token) whatever the DRAM, and min(units, cores x attn_ctas_per_core)
    # (per generation kernel: perf/kernel_fit.py FITTED_RESIDENCY, perf/decode_residency.py)
    # CTAs are resident. Tokens/s per CTA, 0 = not modelled (default; the kernel-level fit,
    # perf/kernel_fit.py, fits it per generation kernel)
    attn_cta_tokens_per_s: np.ndarray | float = 0.0
    attn_ctas_per_core: np.ndarray | float = 1.0
    # the part of a generation CTA's KV stream that is a fixed number of bytes in flight, not tokens:
    # XQA's mha.cu loads K in kHeadPartBytes-wide head parts and V in 64-element tiles, two buffers
    # per warp, so its shared-memory pipeline holds the same bytes for any head size and a token of
    # a wider head takes proportionally longer. Per KV token a CTA waits (K + V bytes of the token) /
    # attn_cta_bytes_per_s on top of 1 / attn_cta_tokens_per_s. Bytes/s per CTA, 0 = not modelled
    # (default; the kernel-level fit fits it per generation kernel)
    attn_cta_bytes_per_s: np.ndarray | float = 0.0
    # how the CTAs' Little's-law stream C and the DRAM's D combine (perf/opcost.py loaded_stream):
    # 0 = the lesser of the two (default: a request's round trip is the unloaded latency until the
    # DRAM saturates), n > 0 = (C^-n + D^-n)^(-1/n): the round trip grows with the DRAM's load before
    # it saturates (queueing at the memory), n = 1 its whole drain time added (the pessimistic bound
    # of a closed queueing network, Lazowska et al. 1984 ch. 5). Set only by the kernel-level fit
    attn_cta_stream_knee: np.ndarray | float = 0.0
    # a streaming elementwise pass (one vector load per thread per step, a grid sized to the SMs:
    # TensorRT-LLM's QKV preprocessing, applyBiasRopeUpdateKVCacheV2) streams what its SMs keep in
    # flight per round trip, not the DRAM's peak (Little's law; V. Volkov, UCB/EECS-2016-143): one
    # core's stream in bytes/s, so the pass runs at loaded_stream(cores x elt_core_bw, DRAM x eff_mem,
    # elt_stream_knee) (perf/opcost.py). 0 = not modelled: DRAM x eff_mem (default; set only by the
    # kernel-level fit for the context attention op's preprocessing pass, kernel_fit.ELT_CORE_STREAM)
    elt_core_bw: np.ndarray | float = 0.0
    elt_stream_knee: np.ndarray | float = 0.0
    # seconds the whole chip takes per thread step of an elementwise kernel whose op counts its steps
    # (Elementwise.steps: TensorRT-LLM's QKV preprocessing, one thread per 16-byte vector of one query
    # head's row per token): the bytes one step moves through the L2 (its vector loads, K and V re-read by
    # every query head, the cos/sin coefficients, its stores) over the chip's L2 bandwidth. The op's memory
    # time is at least steps x elt_step_time (perf/opcost.py). 0 = not modelled (default; set only by the
    # kernel-level fit, kernel_fit.QKV_STEP_BOUND, and `--kernels` serving)
    elt_step_time: np.ndarray | float = 0.0
    # fraction of the DRAM bandwidth a generation-attention kernel's KV stream reaches, where it
    # differs from the weight streams' eff_mem (the kernel-level fit has one per generation kernel,
    # mem_decode_<kernel>). 0 = eff_mem (default)
    attn_gen_eff_mem: np.ndarray | float = 0.0
    # fraction of the DRAM bandwidth a grouped expert GEMM's (MoE) weight stream reaches, where it differs
    # from eff_mem (learnt from the kernel database's fused-MoE layers of other chips, kernel_moe.fit_db_moe).
    # 0 = eff_mem (default; set only by `--kernels` serving calibrations)
    moe_eff_mem: np.ndarray | float = 0.0
    # generation kernel's query tile: the GQA group's query heads fill the rows of one CTA's MMA
    # padded to a multiple of attn_gen_q_tile (TensorRT-LLM XQA: mma.sync pads to 16, the Hopper
    # WGMMA kernel with SWAP_AB to 8), or, with attn_gen_q_tile_pow2 > 0, to the next power of two
    # >= attn_gen_q_tile (trtllm-gen tileSizeQ 8/16/32/64/128). 0 = the GEMM row tile (default)
    attn_gen_q_tile: np.ndarray | float = 0.0
    attn_gen_q_tile_pow2: np.ndarray | float = 0.0
    # per (padded query row, KV token) work one generation CTA serialises with its KV stream
    # (online softmax and its row/column reductions between the two MMAs of each KV tile), in
    # FP32-FLOP equivalents at one core's vector rate: a CTA's seconds per KV token are
    # 1 / attn_cta_tokens_per_s + token bytes / attn_cta_bytes_per_s + rows x attn_gen_score_flops x cores
    # / (vector_flops x eff_vector). 0 = not modelled (default; read only with a CTA stream modelled)
    attn_gen_score_flops: np.ndarray | float = 0.0
    # work a CUDA-core generation kernel (one query row per CTA: TensorRT-LLM masked MHA) does on
    # the vector units for a quantized (FP8) KV cache, in FP32-FLOP equivalents at the chip's
    # vector rate: per KV-cache byte read (convert to the math format, scale, dot-product FMA)
    # and per score (softmax). Overlapped with the KV stream, so it bounds the op when the DRAM
    # outruns the cores (perf/opcost.py). 0 = not modelled (default); set per serving row by
    # perf/kernel_calibration.serving_decode_params where that kernel runs an FP8 cache
    attn_gen_vflops_per_kv_byte: np.ndarray | float = 0.0
    attn_gen_vflops_per_score: np.ndarray | float = 0.0
    # generation kernel's split of each (sequence, KV head)'s KV length over CTAs (multi-block): with
    # attn_gen_split_tokens > 0 the library's rule (TensorRT-LLM XQA computeMultiBlockCount): one
    # sub-sequence per attn_gen_split_tokens keys, at most round(sqrt(attn_gen_split_sqrt x that)),
    # cut back to attn_gen_split_waves waves of CTAs on the cores. 0 = split until the cores are
    # filled, >= 256 keys per split (FlashDecoding; default)
    attn_gen_split_tokens: np.ndarray | float = 0.0
    attn_gen_split_sqrt: np.ndarray | float = 0.0
    attn_gen_split_waves: np.ndarray | float = 0.0
    # a generation CTA whose sequence loop takes attn_gen_kv_tile KV tokens per iteration (TensorRT-LLM XQA
    # mha.cu: 256, four warps of 64 tokens) spends a whole iteration's load round trips on a part-filled tile, so
    # its stream time is that of its keys rounded up to whole tiles (perf/opcost.py gen_tile_rounding). And one
    # that loads and multiplies its head padded (mha.cu: headElems, the head padded to the next power of two
    # >= attn_gen_head_pad) waits on the padded head's parts: its byte term (attn_cta_bytes_per_s) counts the
    # padded head (gen_padded_head). 0 = off (default; set per kernel by the kernel-level fit, kernels_db.yaml
    # decode_kernels cta_kv_tile / head_pad)
    attn_gen_kv_tile: np.ndarray | float = 0.0
    attn_gen_head_pad: np.ndarray | float = 0.0
    # a generation kernel whose launcher sizes its CTA and KV split to the SMs at run time (TensorRT-LLM
    # masked MHA, perf/mmha_launch.py): the warps of its base block the SM's registers hold (32). > 0: its
    # split follows that launcher and each CTA counts as its threads / the base block's resident CTAs in the
    # Little's-law stream (attn_ctas_per_core then counts base blocks). 0 = off (default; set only by the
    # kernel-level fit and `--kernels` serving, kernel_fit.MMHA_LAUNCH)
    attn_gen_launch_warps: np.ndarray | float = 0.0
    # seconds a generation kernel launched so (attn_gen_launch_warps) adds once where it splits the KV length
    # (multi-block): the tiles' partial outputs stored, counted on a semaphore and merged by each pair's last
    # CTA after the last wave (decoderMaskedMultiheadAttentionTemplate.h, block_counter). 0 = not modelled
    attn_gen_merge_time: np.ndarray | float = 0.0
    # CTAs of a generation kernel one core runs at once, by which its waves (and their per-wave costs) are
    # counted: the kernel's residency from its source where known (perf/decode_residency.py: XQA mha_sm90.cu's
    # launch bound, 2-3 per SM; kernel_fit.QGMMA_WAVES). 0 = one CTA per core per wave (default)
    attn_gen_wave_ctas: np.ndarray | float = 0.0
    # work a generation CTA does once per element of its query tile (padded query rows x head size: loading and
    # converting Q, normalising and storing O), in FP32-FLOP equivalents at one core's vector rate, paid per wave
    # of CTAs with the wave's fixed cost (attn_decode_unit_*). 0 = not modelled (default; kernel_fit.QGMMA_WAVES)
    attn_gen_tile_flops: np.ndarray | float = 0.0
    mem_overhead: np.ndarray | float = 0.0
    video_decode_fps: dict = field(default_factory=dict)
    video_encode_fps: dict = field(default_factory=dict)
    chip_id: str = ""
    calibration_source: str = ""
    scaleup_wiring: str = ""  # "" = the family's wiring (hardware/topology.FAMILY_WIRING); "pcie" = no accelerator link; "mesh" = direct links, no switch
    # a PCIe card whose scale-up link is a card-to-card bridge (bridged_pcie_card): beyond its bridge it reaches its
    # peers over its PCIe link (perf/collectives.BRIDGED_PCIE_FLAT_RING)
    bridged_card: bool = False

    @classmethod
    def from_chip(cls, chip, calibration) -> "ChipParams":
        """The chip's datasheet parameters with `calibration` (an object with `.apply(params)`,
        perf/calibration.py Calibration) applied; perf.calibration.calibrated_params looks it up."""
        g = chip.get
        peaks = np.array([chip.peak_tflops(k) * TB for k in PEAK_KEYS])
        tdp = float(g("tdp_w", DEFAULT_TDP_W))
        # energy per FLOP: the matrix engines draw compute_power_fraction*TDP at their dense
        # peak; lower precisions do proportionally more FLOPs in the same power.
        frac = float(g("compute_power_fraction"))
        with np.errstate(divide="ignore", invalid="ignore"):
            pj = np.where(peaks > 0, frac * tdp / np.where(peaks > 0, peaks, 1.0) * 1e12, 0.0)
        bidir = g("scaleup_bw_gbps_bidir", 0.0)
        bidir = float(bidir) if isinstance(bidir, float) else 0.0
        p = cls(
            peak_flops=peaks,
            vector_flops=vector_tflops(chip) * TB,
            sparsity_factor=_num(g("sparsity_factor", 1.0), 1.0),
            num_cores=float(g("num_cores")),
            tile_m=float(g("matrix_tile_m")),
            tile_n=float(g("matrix_tile_n")),
            mem_bw=float(g("memory_bandwidth_tbps", 0.0)) * TB,
            mem_capacity=capacity_bytes(chip),  # binary GB, less the driver reservation where sourced
            sram_bytes=float(g("onchip_sram_mb", 0.0) or 0.0) * 1e6,
            access_granularity=float(g("memory_access_granularity_bytes")),
            host_bw=float(g("host_link_bw_gbps")) * GB,
            # no published scale-up fabric: peers talk over the host link (PCIe), documented fallback
            scaleup_bw=(bidir / 2.0 if bidir > 0 else float(g("host_link_bw_gbps"))) * GB,
            scaleup_latency=float(g("scaleup_latency_us")) * 1e-6,
            scaleup_domain=float(g("scaleup_domain_size")),
            scaleout_bw=scaleout_gbps(chip) * GB,
            scaleout_latency=float(g("scaleout_latency_us")) * 1e-6,
            tdp_w=tdp,
            pj_per_flop=pj,
            dram_pj_per_byte=float(g("dram_pj_per_bit")) * 8.0,
            sram_pj_per_byte=float(g("sram_pj_per_bit")) * 8.0,
            static_w=float(g("static_power_fraction")) * tdp,
            kernel_overhead=float(g("kernel_overhead_us")) * 1e-6,
            mma_feed_bytes_per_bf16_flop=mma_feed_ratio(g("smem_mma_bytes_per_clk"), g("mma_bf16_flops_per_clk")),
            store_sector_bytes=store_sector(g("store_sector_bytes")),
            accum_mem_bytes=accum_mem_bytes(g("tensor_memory_kib")),
            tma=float(bool(g("tma", False))),
            async_mma=float(bool(g("async_mma", False))),
            devices=float(g("devices_per_chip", 1)),
            chip_id=chip.id,
            scaleup_wiring=str(g("scaleup_wiring", "") or ""),
            bridged_card=bridged_pcie_card(chip),
        )
        sram = sram_working_memory(chip)  # a chip computing out of on-chip SRAM is priced on it (hardware/sram_tier.py)
        if sram is not None:
            p = replace(p, mem_bw=sram[0])  # its capacity: capacity_bytes (hardware/memory_capacity.py)
        if not g("attention_cta_grid", True):  # a chip's own kernel fit (calibration.apply) still wins
            if ATTENTION_CTA_GRID_GATE:
                p = replace(p, **NO_CTA_GRID_ATTENTION)
            if ATTENTION_CTA_GRID_DECODE_GATE:
                p = replace(p, **NO_CTA_GRID_DECODE_ATTENTION)
        return without_launches(chip, calibration.apply(p))  # a chip computing out of SRAM: hardware/sram_tier.py

    def replace(self, **changes) -> "ChipParams":
        """A copy with some fields replaced (scalars or arrays: they broadcast)."""
        return replace(self, **changes)

    def with_peak(self, key: str, flops) -> "ChipParams":
        peaks = np.array(self.peak_flops, dtype=float, copy=True)
        i = PEAK_KEYS.index(key)
        flops = np.asarray(flops, dtype=float)
        if flops.ndim and peaks.ndim == 1:
            peaks = np.repeat(peaks[:, None], flops.shape[0], axis=1)
        peaks[i] = flops
        return replace(self, peak_flops=peaks)

    def peak(self, key: str):
        return self.peak_flops[PEAK_KEYS.index(key)]

    @property
    def design_shape(self) -> tuple:
        # a Python scalar has shape (): skip np.shape for it (this runs on every evaluation: the kernel fit's hot path)
        shapes = [np.shape(v) for v in (getattr(self, n) for n in _shaped_fields()) if not isinstance(v, (float, int))]
        shapes.append(np.shape(self.peak_flops)[1:])
        shapes.append(np.shape(self.pj_per_flop)[1:])
        eff = np.asarray(self.eff_compute)
        shapes.append(eff.shape[1:] if eff.ndim else ())
        return np.broadcast_shapes(*shapes)


@functools.cache
def _shaped_fields() -> tuple:
    """ChipParams fields that broadcast over a design sweep (design_shape), listed once."""
    return tuple(f.name for f in fields(ChipParams)
                 if f.name not in ("peak_flops", "pj_per_flop", "eff_compute", "video_decode_fps", "video_encode_fps", "chip_id",
                                   "calibration_source", "scaleup_wiring", "bridged_card"))
