"""Distance from what the calibration and the validation covered, as extra interval width.

The base 80% interval (perf/uncertainty.py) holds where the calibration is: a chip with its
own (or its family's) microbenchmarks, a format measured on it, kernel classes whose efficiency
is measured, and the context lengths and software the model was developed on. A prediction that leaves that ground inherits one
more independent log error per step it takes away from it:

    sigma_total^2 = sigma_base^2 + sum_{t active} sigma_t^2

terms t (sigmas in data/calibration/novelty.yaml, fitted by scripts/fit_novelty.py on
microbenchmarks and kernel tables only):
  chip_family   no chip of the family has microbenchmarks (calibration at generic level)
  precision     the compute format was never microbenchmarked on the chip (none when its GEMM kernel
                efficiency is measured there; the rate-law prior's own error when it is that prior)
  model_family  the architecture (FFN kind x attention kind) runs a kernel class (fused attention,
                grouped MoE GEMM) whose efficiency no microbenchmark calibrates at any level, so
                it runs at the dense-GEMM efficiency (calibration origin 'default'). The sigma is
                the spread of the class efficiencies around GEMM: the error of not knowing the
                class's efficiency, which a measured class does not carry. Validation rows of
                the family do not change the efficiency used (nothing is fitted on them).
  power_density the chip's borrowed GEMM efficiency was scaled by the power-transfer law at a power
                density (W per peak TFLOP/s) outside the densities the law was fitted on, so the factor
                was held at the range's edge (perf/calibration.py POWER_TRANSFER_HELD). The true factor
                beyond the edge is unknown: a graphics card's board power feeds display, raster and
                vector engines besides its matrix units, an at-memory part's efficiency is not set by
                W/TFLOPS at all. sigma = d x k, d = |ln(pd / held pd)|, k per unit log distance from
                the law's own leave-one-pair-out residuals on the microbenchmark pairs (the slope
                could be the law's or flat, plus the law's scatter): it grows with the distance.
  seq_range     the total context (mean input + mean output tokens) lies outside the validated range
  software      the serving stack was never validated

Which context range and stacks count as validated is `Covered`: a set built from the
development rows' descriptions only (validation/development.py), never their values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from .uncertainty import Z80

TERMS = ("chip_family", "precision", "model_family", "power_density", "seq_range", "software")
# efficiency relative to dense GEMM that perf/opcost.py applies to each non-GEMM kernel class
CLASS_FIELD = {"attention": "eff_attention", "moe": "eff_moe"}


@lru_cache(maxsize=1)
def load_novelty() -> dict:
    p = resources.files("tapeout").joinpath("data", "calibration", "novelty.yaml")
    return yaml.safe_load(p.read_text()) if p.is_file() else {}


@dataclass(frozen=True)
class Covered:
    """What the model was developed on: total context range (tokens), serving stacks."""

    context: tuple[float, float] = (math.inf, -math.inf)  # empty: nothing validated
    stacks: frozenset = frozenset()


def arch_family(cfg) -> str:
    """Architecture class of an LLM config: FFN kind x attention kind (what decides which
    kernels run, and so which kernel efficiencies the prediction leans on)."""
    ffn = "moe" if getattr(cfg, "num_experts", 0) else "dense"
    if getattr(cfg, "kv_lora_rank", None):
        att = "mla"
    else:
        kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        att = "mha" if kv == cfg.num_attention_heads else ("mqa" if kv == 1 else "gqa")
    return f"{ffn}-{att}"


def kernel_classes(model_family: str) -> tuple[str, ...]:
    """Non-GEMM kernel classes an architecture family runs (perf/opcost.py efficiency classes)."""
    return ("attention", "moe") if model_family.startswith("moe") else ("attention",)


def unmeasured_classes(chip, model_family: str, fitted: dict) -> list[str]:
    """The family's kernel classes whose efficiency no microbenchmark calibrates for this chip at
    any level (own, family, generic): perf/calibration.py falls back to its default 1.0, the GEMM
    efficiency."""
    from .calibration import calibration_for

    origin = calibration_for(chip, fitted).origin
    return [c for c in kernel_classes(model_family) if origin.get(CLASS_FIELD[c], "default") == "default"]


def stack_of(software: str) -> str:
    """Serving or training stack named in a row's software field (normalised)."""
    s = (software or "").lower()
    for key, name in (("tensorrt", "trtllm"), ("trt-llm", "trtllm"), ("vllm", "vllm"), ("sglang", "sglang"),
                      ("optimum-habana", "optimum-habana"), ("neuron", "neuron"), ("jetstream", "jetstream"),
                      ("sax", "jax-sax"), ("deepspeed", "deepspeed"), ("transformers", "transformers"), ("nemo", "nemo"),
                      ("megatron", "megatron"), ("maxtext", "maxtext")):
        if key in s:
            return name
    return s.split(" ")[0].strip(",;") if s.strip() else ""


def compute_level(chip, precision: str, fitted: dict) -> tuple[bool, bool]:
    """(family measured, precision measured on this chip) from a fitted calibration dict."""
    cid = getattr(chip, "calibration_id", chip.id)
    own = (fitted.get("chips", {}).get(cid) or {}).get("eff_compute") or {}
    fam = (fitted.get("families", {}).get(chip.family) or {}).get("eff_compute") or {}
    return bool(own or fam), precision in own or (not own and precision in fam)


def distance_terms(chip, precision: str | None, fitted: dict, model_family: str | None = None,
                   context: float | None = None, stack: str | None = None,
                   covered: Covered | None = None) -> dict[str, tuple[float, str]]:
    """{term: (sigma, why)} for every term that applies to this prediction."""
    nov = load_novelty()
    if not nov:
        return {}
    out: dict[str, tuple[float, str]] = {}
    fam_ok, prec_ok = compute_level(chip, precision or "bf16", fitted)
    if not fam_ok:
        out["chip_family"] = (float(nov["chip_family"]["sigma"]), f"no {chip.family} chip has microbenchmarks")
    if precision and not prec_ok:
        term = _precision_term(chip, precision, nov)
        if term:
            out["precision"] = term
    pd_term = power_density_term(chip, fitted, nov)
    if pd_term:
        out["power_density"] = pd_term
    missing = unmeasured_classes(chip, model_family, fitted) if model_family else []
    if missing:
        out["model_family"] = (float(nov["model_family"]["sigma"]),
                               f"{model_family}: {', '.join(missing)} efficiency never microbenchmarked (GEMM's used)")
    if covered is not None:
        lo, hi = covered.context
        if context is not None and not lo <= context <= hi:
            out["seq_range"] = (float(nov["seq_range"]["sigma"]),
                                f"context {context:.0f} outside validated {lo:.0f}..{hi:.0f}")
        if stack and stack not in covered.stacks:
            out["software"] = (float(nov["software"]["sigma"]), f"stack '{stack}' never validated")
    return out


def power_density_term(chip, fitted: dict, nov: dict | None = None) -> tuple[float, str] | None:
    """(sigma, why) where the chip's power-transfer factor was held at the edge of the law's fitted
    range: sigma = k x |ln(pd / held pd)| (novelty.yaml power_density.sigma_per_log_distance), monotone
    in the distance; None inside the range, without a transfer, or with POWER_TRANSFER_HELD off."""
    from . import calibration

    k = ((nov if nov is not None else load_novelty()).get("power_density") or {}).get("sigma_per_log_distance")
    if not calibration.POWER_TRANSFER_HELD or not k:
        return None
    d = calibration.calibration_for(chip, fitted).power_distance
    if d <= 0:
        return None
    return float(k) * d, f"power density {math.exp(d):.2f}x outside the power-transfer law's fitted range (held at its edge)"


def _precision_term(chip, precision: str, nov: dict) -> tuple[float, str] | None:
    """The precision term of a format without a microbenchmark calibration on the chip: none when its
    GEMM efficiency ratio is measured on the chip (kernel database); the rate-law prior's own
    leave-one-format-out error when the efficiency is that prior (tapeout.format_prior); else the
    fitted sigma of borrowing the BF16 fraction."""
    from ..format_prior import prior_sigma
    from ..formats import precision_origin

    kind, src, pairs = precision_origin(precision, chip)
    if kind == "measured":
        return None
    if kind == "prior" and prior_sigma(pairs) is not None:
        return prior_sigma(pairs), f"{precision} never microbenchmarked on {chip.id}; GEMM efficiency {src}"
    return float(nov["precision"]["sigma"]), f"{precision} never microbenchmarked on {chip.id}"


def widen(value: float, low: float, high: float, terms: dict[str, tuple[float, str]]) -> tuple[float, float]:
    """The 80% interval of `value` with the terms added in quadrature to its log half-width."""
    if not terms or not value or value <= 0 or low <= 0 or high <= 0:
        return low, high
    extra = sum(s * s for s, _ in terms.values())
    up = math.sqrt((math.log(high / value) / Z80) ** 2 + extra)
    dn = math.sqrt((math.log(value / low) / Z80) ** 2 + extra)
    return value * math.exp(-Z80 * dn), value * math.exp(Z80 * up)
