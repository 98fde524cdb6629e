"""Which grouped-GEMM path TensorRT-LLM's fused MoE runs on a chip for an expert GEMM format.

MoeGemmRunner::supportsTmaWarpSpecialized(sm) (NVIDIA/TensorRT-LLM cpp/tensorrt_llm/kernels/cutlass_kernels/
moe_gemm/moe_gemm_template_dispatch.h) with the traits of moe_tma_warp_specialized_traits.h (revision 4ef2ad29):
  sm 90         isValidHopperMOESpecialisation: same-type A / B (BF16, FP16, FP8), no FP4 activations
  sm 100..119   isValidBlackwellMOESpecialisation: same-type A / B (BF16, FP16, FP8, NVFP4), or FP8 x FP4
  sm 120 / 121  isValidSM120MOESpecialisation: FP4 x FP4 or FP8 x FP4 only (block-scaled)
  otherwise     the SM80 grouped GEMM (GemmGrouped / MoeFCGemm) for every format it runs.
Only the TMA warp-specialised path takes computeStridesTmaWarpSpecializedKernel's per-expert arguments; the SM80
path's FP8 GEMMs take computeFP8DequantScale's instead (moe_kernels.cu gemm1 / gemm2, `else if (use_fp8)`).
In chip terms (chip data tma / async_mma): those kernels are built on the tensor-memory-access engine and an
asynchronous matrix instruction (wgmma on sm_90a, tcgen05 on sm_100a); sm_120 has TMA but issues mma.sync per warp,
and TensorRT-LLM runs only its block-scaled FP4 grouped GEMM warp-specialised there. A chip with neither (an NPU,
Ampere, Ada) runs the SM80-style path.
"""

from __future__ import annotations

import numpy as np

# BLOCK_SCALED_FP4: expert GEMM formats TensorRT-LLM runs warp-specialised on a TMA chip without async MMA (sm_120);
# GEMM_PATHS: Elementwise.gemm_path values (every chip, TMA warp-specialised path only, SM80 path only)
from ..ops import BLOCK_SCALED_FP4, GEMM_PATHS  # noqa: F401  (re-exported)


def tma_ws(tma, async_mma, block_scaled_fp4) -> np.ndarray:
    """Whether the grouped GEMM runs TMA warp-specialised: the chip has TMA (1 / 0, broadcasts) and either an
    asynchronous matrix instruction or a block-scaled FP4 format (bool)."""
    return (np.asarray(tma, dtype=float) > 0) & ((np.asarray(async_mma, dtype=float) > 0) | np.asarray(block_scaled_fp4, dtype=bool))


TMA_WS, SM80 = GEMM_PATHS.index("tma_ws"), GEMM_PATHS.index("sm80")


def runs_on_path(path, tma, async_mma, block_scaled_fp4) -> np.ndarray:
    """Whether a kernel of `path` (GEMM_PATHS index: every chip, TMA warp-specialised only, SM80 path only) runs."""
    path = np.asarray(path)
    ws = tma_ws(tma, async_mma, block_scaled_fp4)
    return np.where(path == TMA_WS, ws, np.where(path == SM80, ~ws, True))
