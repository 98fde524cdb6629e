"""Number formats and precision policies as data, per op class (issue 16).

Data: data/precision/formats.yaml (bits, block scaling, peak field, quantize work, which chips
run block-scaled formats natively, fallback order), data/precision/policies.yaml (per preset,
the format of each op class), data/calibration/format_efficiency.csv (block-scaled GEMM kernel
efficiency relative to the calibrated format, from NVIDIA's measured kernel database,
scripts/fit_format_efficiency.py).

`plan(precision, chip)` resolves a precision policy on one chip: every op class gets the format
that actually runs there. A format the chip lacks falls back to the nearest one of the same width
class (NVFP4 <-> MXFP4, MXFP8 / FP8-block -> FP8), recorded as a visible note; a width the
chip lacks entirely (FP4 GEMMs on Hopper) is bad input, one line, exit 2.
Block-scale bytes: bits per element = payload + scale_bits / block (OCP MX v1.0: 8/32; NVFP4:
8/16). Quantize work: activations converted from the 16-bit residual stream into a quantized
GEMM format cost `quant_flops` vector FLOPs per element (amax, scale, convert), charged as a
fused elementwise op (workloads/llm.py).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

import yaml

from . import format_prior
from .errors import TapeoutError

# A calibration that fits a format's own peak (a `--kernels` calibration's eff_compute["fp4"]: the fit's eff_nvfp4,
# from the database's measured NVFP4 GEMMs) already holds that format's kernel efficiency; a measured ratio
# relative to another format's fit (format_efficiency.csv relative_to, e.g. B200 nvfp4/bf16 0.66, from the same
# database's kernels) counts it twice. On: such a ratio applies only where the calibration in use fits the
# format's peak from its `relative_to` format. Off (stop 37): the ratio applies whatever the calibration. Off
# although it is a double count (B200's NVFP4 GEMMs priced 1.38 x its measured kernels at Llama 2 70B's gate_up
# shape with it, 0.91 x without): it makes GB200's FP4 rows, already too fast, faster (own kernels +9.1 ->
# +33.2 %, held out +25.5 -> +49.4 %) and B200's held out 6.4 -> 22.0 %; only B200's own kernels improve
# (16.2 -> 11.1 %). docs/notes/issue-24.md, Round stop-38 (issue-42b).
RATIO_ONLY_ON_ITS_FIT = False

OP_CLASSES = ("dense_gemm", "expert_gemm", "attention", "kv_cache", "lm_head", "norms", "collectives")


def data_file(*parts: str):
    return resources.files("tapeout").joinpath("data", *parts)


@lru_cache(maxsize=1)
def format_table() -> dict:
    return yaml.safe_load(data_file("precision", "formats.yaml").read_text())


@lru_cache(maxsize=1)
def policy_table() -> dict:
    return yaml.safe_load(data_file("precision", "policies.yaml").read_text())


@lru_cache(maxsize=1)
def _efficiency_rows() -> tuple[dict, ...]:
    path = data_file("calibration", "format_efficiency.csv")
    if not path.is_file():
        return ()
    with path.open(newline="") as f:
        return tuple(csv.DictReader(f))


def format_bits(fmt: str) -> float:
    """Stored bits per element including the block-scale factors."""
    f = format_table()["formats"][fmt]
    return float(f["bits"]) + (float(f.get("scale_bits", 0)) / float(f["block"]) if f.get("block") else 0.0)


def quant_flops(fmt: str) -> float:
    """Vector FLOPs per element to quantize a 16-bit activation into `fmt` (0 for 16/32-bit)."""
    f = format_table()["formats"].get(fmt)
    return float(f.get("quant_flops", 0)) if f else 0.0


def separate_quantize(fmt: str) -> bool:
    """Whether quantizing an activation into `fmt` is a kernel of its own (formats.yaml separate_quantize)."""
    return fmt in (format_table().get("separate_quantize") or {})


def _peak_key(fmt: str) -> str:
    from .precision import COMPUTE_PEAK_FIELD

    f = format_table()["formats"].get(fmt)
    return f["peak"] if f else COMPUTE_PEAK_FIELD.get(fmt, "bf16")


def native_formats(chip) -> list[str]:
    """Formats whose math the chip's matrix units run natively (peak > 0; block-scaled ones
    only where the chip or its family is listed)."""
    t = format_table()
    blk = set(t["native_block_scaled"].get(chip.family, [])) | set(t["native_block_scaled"].get(chip.id, []))
    out = []
    for name, f in t["formats"].items():
        if not chip.supports(f["peak"]):
            continue
        if f.get("block") and name not in blk and name != "int4_g128":
            continue
        out.append(name)
    return out


def mma_block_scaled_fp8(chip) -> bool:
    """Whether the chip's FP8 MMA instruction applies block scales itself (formats.yaml)."""
    return chip.family in format_table().get("mma_block_scaled_fp8", [])


def resolve_format(fmt: str, chip) -> tuple[str, bool]:
    """(format that runs, fell back?) for a GEMM/attention math format on `chip`."""
    t = format_table()
    if fmt not in t["formats"]:  # formats outside the table (tf32, fp32, int4, fp6 ...): the peak decides
        return fmt, False
    native = native_formats(chip)
    if fmt in native:
        return fmt, False
    for fb in t["fallback"].get(fmt, []):
        if fb in native:
            return fb, True
    if not native:  # no matrix peak on file at all: name the missing spec, not an empty list
        raise TapeoutError(f"--precision: chip {chip.missing_peak(t['formats'][fmt]['peak'])}; no other matrix peak "
                           f"is on file either, so it runs no format the model can price.")
    raise TapeoutError(
        f"--precision: chip '{chip.id}' runs no {fmt} math (nor {', '.join(t['fallback'].get(fmt, [])) or 'a same-width format'}); "
        f"formats it runs: {', '.join(native)}."
    )


def gemm_efficiency(fmt: str, chip, fitted: dict | None = None) -> tuple[float, str]:
    """Kernel efficiency of a GEMM format relative to the calibrated fit the model gives its peak,
    and where it came from (efficiency_origin)."""
    return efficiency_origin(fmt, chip, fitted)[:2]


def efficiency_origin(fmt: str, chip, fitted: dict | None = None) -> tuple[float, str, str]:
    """(ratio, origin, kind) of a GEMM format's kernel efficiency on `chip`: the chip's own
    kernel-database ratio (kind "measured"); else, when the chip's calibrated fit for the format's
    peak is another, slower format's (no microbenchmark at this rate on the chip), the measured ratio
    of a format at the same peak ("measured"), else the fixed-time rate-law prior
    (tapeout.format_prior, kind "prior"); else the family's mean measured ratio
    ("family"); else 1 ("borrowed": the calibrated fraction of its peak as it stands).
    `fitted`: the calibration in use (None: the shipped one); with RATIO_ONLY_ON_ITS_FIT a chip's own
    ratio applies only where that calibration fits the format's peak from the ratio's `relative_to`. A held-out
    calibration (kernels_db.held_out_of) reads no ratio or rate-law pair of its held-out chips: the chip gets
    what a chip without kernels gets."""
    from .perf.kernels_db import held_out_of

    drop = held_out_of(fitted)  # a held-out calibration: its chips' database-derived rows are not read
    rows = [r for r in _efficiency_rows() if r["format"] == fmt and r["chip"] not in drop]
    own = [r for r in rows if r["chip"] == chip.id]
    pk = _peak_key(fmt)
    # the format the measured ratios are relative to (one per format in the file; a held-out chip's rows dropped
    # or not, so the switch treats it as it treats the chip with its rows)
    rel = next((r["relative_to"] for r in _efficiency_rows() if r["format"] == fmt and r["chip"] == chip.id), None)
    if rel and RATIO_ONLY_ON_ITS_FIT and fitted is not None and _fit_key(chip, pk, fitted) != rel:
        return 1.0, f"the calibration's own fit of the {pk} peak on {chip.id} (measured kernels)", "measured"
    if own:
        return float(own[0]["ratio"]), f"{own[0]['source']} ({chip.id})", "measured"
    base = _fit_key(chip, pk)
    if base != pk:
        # a format measured on this chip at the same peak and against the same fit (MXFP4 <- NVFP4:
        # one block-scaled MMA rate), else the rate-law prior from the chip's slower formats
        twin = [r for r in _efficiency_rows() if r["chip"] == chip.id and r["chip"] not in drop
                and r["relative_to"] == base and r["format"] != fmt and _peak_key(r["format"]) == pk]
        if twin:
            return float(twin[0]["ratio"]), f"{twin[0]['format']} ratio measured on {chip.id} at the same {pk} peak", "measured"
        from .perf.calibration import load_fitted

        pr = format_prior.prior(chip, pk, base, load_fitted(), drop)
        if pr is not None:
            return pr[0], pr[1], "prior"
    fam = [float(r["ratio"]) for r in rows if r["family"] == chip.family]
    if fam:
        return sum(fam) / len(fam), f"family {chip.family} mean of {len(fam)} chips' kernel-database ratios", "family"
    return 1.0, "no kernel microbenchmark for this format on this chip or family: calibrated efficiency of its peak", "borrowed"


def precision_origin(precision: str, chip) -> tuple[str, str, str]:
    """(kind, origin, kind of the rate-law pairs) of the GEMM efficiency a precision preset runs at
    on `chip` (efficiency_origin of its compute format); ("borrowed", "", "") for a preset or format
    the chip does not run."""
    from .perf.calibration import load_fitted
    from .precision import PRECISIONS

    pr = PRECISIONS.get(precision)
    try:
        fmt = resolve_format(pr.compute, chip)[0] if pr else None
    except TapeoutError:
        fmt = None
    if fmt is None or not chip.supports(_peak_key(fmt)):
        return "borrowed", "", ""
    _, src, kind = efficiency_origin(fmt, chip)
    return kind, src, format_prior.pairs_for(_peak_key(fmt), load_fitted())[1]


def _fit_key(chip, peak_key: str, fitted: dict | None = None) -> str:
    """Which format's calibrated fit the chip's `peak_key` uses (`fitted`; None: the shipped calibration)."""
    from .ops import PEAK_KEYS
    from .perf.calibration import calibration_for

    return calibration_for(chip, fitted).fit_key(peak_key, [chip.peak_tflops(k) for k in PEAK_KEYS])


@dataclass(frozen=True)
class FormatChoice:
    """Which format one op class runs on one chip."""

    op_class: str
    asked: str
    ran: str
    bits: float  # stored bits per element incl. block scales
    fell_back: bool
    note: str = ""
    efficiency: str = ""  # GEMM classes: kind of the kernel efficiency (efficiency_origin: measured/prior/family/borrowed)

    def as_dict(self) -> dict:
        return {"op_class": self.op_class, "asked": self.asked, "ran": self.ran, "bytes_per_elem": self.bits / 8.0,
                "fell_back": self.fell_back, "note": self.note} | ({"efficiency": self.efficiency} if self.efficiency else {})


def _bits(fmt: str) -> float:
    from .precision import DTYPE_BITS

    return DTYPE_BITS.get(fmt, 16.0)


def plan(pr, chip, fitted: dict | None = None):
    """Resolve precision `pr` (tapeout.precision.Precision) on `chip`: returns the Precision that
    runs (fallbacks applied, GEMM kernel efficiency set) and one FormatChoice per op class."""
    from .precision import DTYPE_BITS

    gemm, fb = resolve_format(pr.compute, chip)
    sub = lambda d: gemm if (fb and d == pr.compute) else d  # noqa: E731
    eff, eff_src, eff_kind = efficiency_origin(gemm, chip, fitted)
    att_asked = pr.attention or pr.compute
    try:
        att, att_fb = resolve_format(att_asked, chip)
    except TapeoutError:
        att, att_fb = "bf16", True
    if not chip.supports(_peak_key(att)):
        att, att_fb = "bf16", True
    lm_asked = pr.lm_head or pr.compute
    lm = sub(lm_asked)
    if lm in DTYPE_BITS and lm != "bf16" and not chip.supports(_peak_key(lm)):
        lm = "bf16"
    ran = replace(pr, weights=sub(pr.weights), activations=sub(pr.activations), compute=gemm,
                  attention=att if pr.attention or att_fb else None, lm_head=lm if pr.lm_head or lm != lm_asked else None,
                  gemm_eff=eff)
    g_note = (f"{pr.compute} not native on {chip.id}: fell back to {gemm}" if fb else "") + \
        (f"; kernel efficiency x{eff:.2f} ({eff_src})" if eff != 1.0 else "")
    w_fmt = lambda p: p.weights if p.weights == p.compute else f"{p.weights} weights / {p.compute} math"  # noqa: E731
    choices = [
        FormatChoice("dense_gemm", w_fmt(pr), w_fmt(ran), _bits(ran.weights), fb, g_note.strip("; "), eff_kind),
        FormatChoice("expert_gemm", w_fmt(pr), w_fmt(ran), _bits(ran.weights), fb, g_note.strip("; "), eff_kind),
        FormatChoice("attention", att_asked, att, _bits(att), att_fb,
                     f"{att_asked} attention not native on {chip.id}: ran {att}" if att_fb else ""),
        FormatChoice("kv_cache", pr.kv_cache, ran.kv_cache, _bits(ran.kv_cache), False),
        FormatChoice("lm_head", lm_asked, lm, _bits(lm), lm != lm_asked,
                     f"{lm_asked} lm_head not native on {chip.id}: ran {lm}" if lm != lm_asked else ""),
        FormatChoice("norms", "bf16", "bf16", 16.0, False, "vector units on the 16-bit residual stream"),
        FormatChoice("collectives", "bf16", "bf16", ran.residual_bytes * 8, False, "16-bit residual stream payloads"),
    ]
    return ran, choices


def fallback_notes(choices) -> list[str]:
    """Notes `serve` prints: every fallback, and every GEMM efficiency that is a prior, not measured."""
    return [f"{c.op_class}: {c.note}" for c in choices if (c.fell_back or c.efficiency == "prior") and c.note]


def op_class(op) -> str:
    """The policy class of one graph op (ops.Op)."""
    kind = op.kind
    if kind == "matmul":
        if op.name == "lm_head":
            return "lm_head"
        return "expert_gemm" if op.experts else "dense_gemm"
    if kind == "attention":
        return "attention"
    if kind == "collective":
        return "collectives"
    return "norms"


def op_format(op) -> str:
    """The format one graph op runs in, as `explain` shows it."""
    if op.kind == "matmul":
        return op.w_dtype if op.w_dtype == op.math_dtype else f"{op.w_dtype} w / {op.math_dtype} math"
    if op.kind == "attention":
        return f"{op.math_dtype} math / {op.kv_dtype} KV"
    if op.kind == "elementwise":
        return f"fp32 math -> {op.dtype}"
    return "bf16"
