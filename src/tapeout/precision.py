"""Number formats and precision policies.

A *dtype* is a storage/compute format (bytes per element, bit length). A *precision
policy* says which dtype the weights, activations, KV cache and matrix math use: e.g.
W4A16 stores weights in INT4 but multiplies in BF16 after dequantization.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import TapeoutError

# bits per element of the payload; block-scaled formats add their scale overhead.
# Block-scaled formats (MXFP8/6/4, NVFP4, FP8-block) are added from data/precision/formats.yaml
# (payload + scale bits / block) at the end of this module.
DTYPE_BITS: dict[str, float] = {
    "fp32": 32,
    "tf32": 32,  # stored as fp32, multiplied with a 10-bit mantissa
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "fp8_e4m3": 8,
    "fp8_e5m2": 8,
    "int8": 8,
    "fp6": 6,
    "int4": 4,
    "fp4": 4,
}

# the matrix-engine peak (catalog field) that executes math in each dtype
COMPUTE_PEAK_FIELD: dict[str, str] = {
    "fp32": "fp32",
    "tf32": "tf32",
    "bf16": "bf16",
    "fp16": "fp16",
    "fp8": "fp8",
    "fp8_e4m3": "fp8",
    "fp8_e5m2": "fp8",
    "int8": "int8",
    "int4": "int4",
    "fp6": "fp6",
    "fp4": "fp4",
}

# the integer bit length used by the export-control TPP (input bit length of the MAC)
def bit_length(dtype: str) -> int:
    return int(DTYPE_BITS[dtype])


def dtype_bytes(dtype: str, field: str | None = None) -> float:
    """Bytes per element; an unknown name is refused with one line (naming `field`, the option
    or parameter it came from, when given)."""
    try:
        return DTYPE_BITS[dtype] / 8.0
    except (KeyError, TypeError):
        where = f"{field}: " if field else ""
        raise TapeoutError(
            f"{where}unknown dtype '{dtype}'. Known: {', '.join(sorted(DTYPE_BITS))}."
        ) from None


@dataclass(frozen=True)
class Precision:
    """Which dtype each tensor class uses."""

    name: str
    weights: str
    activations: str
    kv_cache: str
    compute: str  # dtype of the matrix-engine multiply
    # per op class overrides from the precision policy (data/precision/policies.yaml, tapeout.formats);
    # None = the GEMM format (compute) runs there too
    attention: str | None = None  # math of QK^T / PV (fused attention)
    lm_head: str | None = None  # output-embedding GEMM (weights and math)
    gemm_eff: float = 1.0  # kernel efficiency of the GEMM format vs the calibrated one (formats.plan sets it per chip)

    @property
    def weight_bytes(self) -> float:
        return dtype_bytes(self.weights)

    @property
    def act_bytes(self) -> float:
        return dtype_bytes(self.activations)

    @property
    def residual_bytes(self) -> float:
        """Bytes per element of the residual stream between blocks: 16-bit under FP8/INT8/FP4
        GEMMs (TensorRT-LLM, vLLM and Transformer Engine quantise only GEMM inputs), so TP
        all-reduces, MoE combines and pipeline sends move 2-byte activations."""
        return max(self.act_bytes, 2.0)

    @property
    def kv_bytes(self) -> float:
        return dtype_bytes(self.kv_cache)

    def with_kv(self, kv_dtype: str) -> "Precision":
        dtype_bytes(kv_dtype, "--kv-precision")
        return replace(self, name=f"{self.name}+kv-{kv_dtype}", kv_cache=kv_dtype)


# Presets. Weight-only schemes (W8A16, W4A16) multiply in 16-bit after dequantization;
# weight-activation schemes (W8A8, W4A8, FP8) multiply in the low-precision format.
PRECISIONS: dict[str, Precision] = {
    "fp32": Precision("fp32", "fp32", "fp32", "fp32", "tf32"),
    "bf16": Precision("bf16", "bf16", "bf16", "bf16", "bf16"),
    "fp16": Precision("fp16", "fp16", "fp16", "fp16", "fp16"),
    "fp8": Precision("fp8", "fp8", "fp8", "fp8", "fp8"),
    "int8": Precision("int8", "int8", "int8", "bf16", "int8"),
    "w8a8": Precision("w8a8", "int8", "int8", "bf16", "int8"),
    "w8a16": Precision("w8a16", "int8", "bf16", "bf16", "bf16"),
    "w4a16": Precision("w4a16", "int4", "bf16", "bf16", "bf16"),
    "w4a8": Precision("w4a8", "int4", "fp8", "fp8", "fp8"),
    "int4": Precision("int4", "int4", "int4", "fp8", "int4"),
}


def get_precision(name: str) -> Precision:
    if not isinstance(name, str):
        raise TapeoutError(f"--precision must be a precision name (text), got {name!r} ({type(name).__name__}). "
                           f"Known: {', '.join(PRECISIONS)}.")
    key = name.strip().lower().replace("-", "").replace("_", "")
    aliases = {"float16": "fp16", "bfloat16": "bf16", "float8": "fp8", "fp8e4m3": "fp8", "float32": "fp32"}
    key = aliases.get(key, key)
    if key not in PRECISIONS:
        raise TapeoutError(
            f"unknown precision '{name}'. Known: {', '.join(PRECISIONS)}."
        )
    return PRECISIONS[key]


# ----------------------------------------------------------------------------------------
# Quantization additions (issue 5; see tapeout.quant and docs/quant.md). Additive only.
#
# Group-quantized integer weights carry one FP16 scale and one FP16 zero point per group
# of g weights along k (GPTQ, arXiv:2210.17323; AWQ, arXiv:2306.00978 use g = 128):
# 32 bits / 128 = +0.25 bit per weight. Per-channel scales (one per output column) are
# negligible (< 0.01 bit per weight for k >= 4096) and are not counted.
DTYPE_BITS.update({
    "int4_g128": 4.25,
    "int4_g64": 4.5,
    "int8_g128": 8.25,
    "int2_g64": 2.5,
    "fp8_block128": 8.0 + 32.0 / (128 * 128),  # DeepSeek-V3 FP8 weights: one FP32 scale per 128x128 block
})
COMPUTE_PEAK_FIELD.update({
    "int4_g128": "int4",
    "int4_g64": "int4",
    "int8_g128": "int8",
    "int2_g64": "int4",
    "fp8_block128": "fp8",
})

# Presets added for the quantization study. Keys carry no '-' or '_' because
# get_precision() strips them from the user's spelling before the lookup.
PRECISIONS.update({
    # FP8 with the E5M2 encoding (more range, less mantissa; mostly gradients / KV cache)
    "fp8e5m2": Precision("fp8e5m2", "fp8_e5m2", "fp8_e5m2", "fp8_e5m2", "fp8_e5m2"),
    # weight-only INT4 with g128 scales+zeros (AWQ / GPTQ as deployed)
    "w4a16g128": Precision("w4a16g128", "int4_g128", "bf16", "bf16", "bf16"),
    # W4A8 with g128 INT4 weights, FP8 activations (Doubao-1.5-pro style FFNs)
    "w4a8g128": Precision("w4a8g128", "int4_g128", "fp8", "fp8", "fp8"),
    # W4A8 with INT8 activations and INT8 math (QServe, arXiv:2405.04532)
    "w4a8int8": Precision("w4a8int8", "int4_g128", "int8", "bf16", "int8"),
    # FP8 weights and activations, KV cache kept in BF16
    "fp8kvbf16": Precision("fp8kvbf16", "fp8", "fp8", "bf16", "fp8"),
    # weight-only FP8 (e.g. on Ampere, which has no FP8 math: Marlin-style FP8 -> BF16)
    "w8a16fp8": Precision("w8a16fp8", "fp8", "bf16", "bf16", "bf16"),
})


def is_weight_only(pr: Precision) -> bool:
    """True when weights are stored narrower than the math dtype (they need dequantizing)."""
    return DTYPE_BITS[pr.weights] < DTYPE_BITS[pr.compute] and pr.weights != pr.compute


def _policy_presets() -> dict[str, Precision]:
    """Presets whose op classes differ (FP4/MX/FP8-block): built from data/precision/policies.yaml."""
    from .formats import format_bits, format_table, policy_table

    for fmt, f in format_table()["formats"].items():  # block-scale bytes come from the format table
        if f.get("block") and fmt != "int4_g128":
            DTYPE_BITS[fmt] = format_bits(fmt)
            COMPUTE_PEAK_FIELD[fmt] = f["peak"]
    out = {}
    for key, pol in policy_table().items():
        g = pol["dense_gemm"]
        out[key] = Precision(key, g, g, pol["kv_cache"], g, attention=pol.get("attention"), lm_head=pol.get("lm_head"))
    return out


PRECISIONS.update(_policy_presets())
