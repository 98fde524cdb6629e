"""Number formats on a given chip: fallback compute dtype and dequantization cost.

Two questions the performance model must answer before costing a quantized graph:

1. *Can the chip multiply in the policy's compute dtype?* If not, the math falls back to
   the nearest format the chip has whose values represent the original ones exactly
   (``resolve_precision_for_chip``). The storage formats (weight and KV bytes) stay as
   asked: the memory-traffic win survives, only the math rate changes. Fallback chains:

   ============  =========================================  ==============================
   asked         tried in order                             why
   ============  =========================================  ==============================
   int4          int8, fp16, bf16                           int4 values are exact in int8
   int8          fp16, bf16                                 |x| <= 128 exact in 11-bit/8-bit
                                                            significands; not in fp8 (3-bit)
   fp4 / mx*4    fp8, fp16, bf16                            E2M1 values exact in E4M3
   fp6 / mxfp6   fp8, fp16, bf16                            E2M3/E3M2 exact in E4M3 / fp16
   fp8 / mxfp8   fp16, bf16                                 E4M3 exact in fp16 (5-bit exp.)
   fp16          bf16                                       range ok, 3 mantissa bits lost
   bf16          fp16, tf32                                 (Ascend 910B has no bf16)
   ============  =========================================  ==============================

   Block-scaled formats (MX, NVFP4, g128) applied in software need their scales
   multiplied in: that is the dequantization cost below.

2. *What does dequantization cost?* Weight-only formats (W4A16, W8A16), and any weights
   stored narrower than the math dtype, are unpacked and rescaled on the vector units in
   the GEMM main loop before the matrix engine sees them (Marlin, arXiv:2408.11743;
   QServe, arXiv:2405.04532 measures that prior W4A8 kernels lose 20-90 % of runtime to
   this step on CUDA cores). We charge, per weight element and per pass over the weights,
   ``DEQUANT_OPS_PER_WEIGHT[dtype]`` vector operations at the chip's vector rate. A
   fused kernel re-dequantizes the weight tile for every block of ``DEQUANT_M_BLOCK`` rows
   of the token dimension, so prefill pays ``ceil(m / DEQUANT_M_BLOCK)`` passes and
   decode one pass. The vector work serializes with the matrix issue in the main loop
   (conservative: no overlap), i.e. ``t_compute = t_matrix + t_dequant``, and the op
   stays ``max(t_compute, t_memory) + overhead``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..precision import COMPUTE_PEAK_FIELD, DTYPE_BITS, PRECISIONS, Precision, get_precision

# Fallback order for the math dtype when the chip lacks a matrix peak for it (see table).
FALLBACK_CHAIN: dict[str, tuple[str, ...]] = {
    "int4": ("int8", "fp16", "bf16"),
    "int8": ("fp16", "bf16"),
    "fp4": ("fp8", "fp16", "bf16"),
    "fp6": ("fp8", "fp16", "bf16"),
    "fp8": ("fp16", "bf16"),
    "fp16": ("bf16", "tf32"),
    "bf16": ("fp16", "tf32"),
    "tf32": ("bf16", "fp16", "fp32"),
    "fp32": ("tf32", "bf16"),
}

# Vector work per weight element to turn the stored format into the math format, in
# FLOP-equivalents at the FP32 vector rate (1 instruction = 2 FLOPs, an FMA lane-slot):
# INT4 -> FP16 takes ~1.5 instructions per element with packed half2 math (LOP3 unpack +
# magic-number subtract + scale FMA on 2 elements each; Marlin, arXiv:2408.11743), i.e. 3.
# 8-bit formats skip the unpack (2); a plain 16-bit conversion is 1.
DEQUANT_OPS_PER_WEIGHT: dict[str, float] = {
    "int2_g64": 3.0,
    "int4": 3.0,
    "int4_g64": 3.0,
    "int4_g128": 3.0,
    "fp4": 3.0,
    "mxfp4": 3.0,
    "nvfp4": 3.0,
    "fp6": 3.0,
    "mxfp6": 3.0,
    "int8": 2.0,
    "int8_g128": 2.0,
    "fp8": 2.0,
    "fp8_e4m3": 2.0,
    "fp8_e5m2": 2.0,
    "mxfp8": 2.0,
    "fp8_block128": 2.0,
    "fp16": 1.0,
    "bf16": 1.0,
}
DEQUANT_M_BLOCK = 128  # rows of the token dimension per CTA tile in mixed-input GEMMs (CUTLASS/Marlin default order)


def peak_key(dtype: str) -> str:
    return COMPUTE_PEAK_FIELD.get(dtype, "bf16")


def chip_peak(chip, key: str) -> float:
    """Dense matrix peak (FLOP/s or TFLOPS, only compared against 0) for a compute key."""
    from ..hardware.catalog import Chip
    from ..hardware.params import ChipParams

    if isinstance(chip, str):
        from ..hardware.catalog import get_chip

        chip = get_chip(chip)
    if isinstance(chip, Chip):
        return float(chip.peak_tflops(key))
    if isinstance(chip, ChipParams):
        return float(np.max(chip.peak(key)))
    raise TypeError(f"expected a chip id, Chip or ChipParams, got {type(chip).__name__}")


def chip_sparsity_factor(chip) -> float:
    """Math speedup of the chip's structured-sparse (2:4) matrix mode over dense; 1 = none.

    A catalog Chip counts only when its spec table lists `sparsity_factor` (datasheets of
    NVIDIA Ampere+, AMD CDNA3, Meta MTIA v2). ChipParams carries the field directly (design
    sweeps set it). A string like "~1.97 (FP8) / ~3.8 (BF16)" reads as its first number.
    """
    from ..hardware.catalog import Chip
    from ..hardware.params import ChipParams

    if isinstance(chip, str):
        from ..hardware.catalog import get_chip

        chip = get_chip(chip)
    if isinstance(chip, Chip):
        s = chip.specs.get("sparsity_factor")
        if s is None:
            return 1.0
        v = s.value
        if isinstance(v, str):
            import re

            m = re.search(r"\d+(\.\d+)?", v)
            v = float(m.group(0)) if m else 1.0
        return max(1.0, float(v))
    if isinstance(chip, ChipParams):
        return chip.sparsity_factor
    return 1.0


def resolve_precision_for_chip(precision: str | Precision, chip) -> tuple[Precision, list[str]]:
    """The precision policy the chip actually runs, and notes explaining any change.

    Storage dtypes (weights, KV cache) are kept: their bytes are what the quantization buys
    on a memory-bound step. The compute dtype falls back along FALLBACK_CHAIN to the first
    format the chip has a matrix peak for; activations narrower than the new math dtype
    are upcast to it (e.g. INT4 activations -> INT8). Weights narrower than the math then
    need dequantizing on the vector units (see module docstring), which the notes say.
    """
    pr = precision if isinstance(precision, Precision) else get_precision(precision)
    notes: list[str] = []
    key = peak_key(pr.compute)
    if chip_peak(chip, key) > 0:
        out = pr
    else:
        chain = FALLBACK_CHAIN.get(key, ("bf16", "fp16"))
        new = next((k for k in chain if chip_peak(chip, k) > 0), None)
        if new is None:
            from ..errors import TapeoutError

            raise TapeoutError(
                f"no matrix format on this chip can run {pr.compute} math (tried {', '.join(chain)})."
            )
        new_dtype = new
        acts = pr.activations
        if DTYPE_BITS[acts] < DTYPE_BITS[new_dtype] or peak_key(acts) == key:
            acts = new_dtype
        out = Precision(f"{pr.name}@{new_dtype}", pr.weights, acts, pr.kv_cache, new_dtype)
        notes.append(
            f"chip has no {key} matrix peak: math falls back to {new_dtype} "
            f"(first of {' > '.join(chain)} the chip supports; values of {key} are exact in {new_dtype})"
        )
        if acts != pr.activations:
            notes.append(f"activations upcast {pr.activations} -> {acts} to feed {new_dtype} math")
    if out.weights != out.compute and DTYPE_BITS[out.weights] <= DTYPE_BITS[out.compute]:
        ops = DEQUANT_OPS_PER_WEIGHT.get(out.weights, 3.0)
        notes.append(
            f"weights stored as {out.weights} are dequantized to {out.compute} in the GEMM main loop: "
            f"{ops:g} vector ops per weight per {DEQUANT_M_BLOCK}-row block (tapeout.quant.formats)"
        )
    if out.kv_cache != out.compute and peak_key(out.kv_cache) != peak_key(out.compute):
        notes.append(f"KV cache stored as {out.kv_cache}, converted to {out.compute} inside the attention kernel")
    return out, notes


def fallback_precision_name(pr: Precision) -> str | None:
    """The PRECISIONS key equal to `pr` (for APIs that take a preset name), else None."""
    for k, v in PRECISIONS.items():
        if replace(v, name="") == replace(pr, name=""):
            return k
    return None
