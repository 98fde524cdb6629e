"""Prior for the kernel efficiency of a GEMM format nobody measured on a chip (issue 16).

Fixed-time rate law. A GEMM work unit costs math time W / P (W its FLOPs, P the matrix peak of
the format) plus a time that does not speed up with the math rate: pipeline fill, the epilogue
that writes C in 16 bits, scale-factor handling (CUTLASS efficient_gemm.md; the same mechanism as
`tile_overhead` in perf/opcost.py). The achieved fraction of peak is then

    eff(P) = c / (1 + tau P)      ->      eff_f / eff_r = (1 + a x_r) / (1 + a x_f)

with x = P / P_bf16 (the format's rate in units of the chip's BF16 rate) and a = tau P_bf16, the
fixed time over the BF16 math time of a work unit. One measured pair of formats on a chip (the
reference r and a faster f at ratio rho) gives a = (1 - rho) / (x_f rho - x_r) (x_r = 1 for BF16).
a >= 0 (a faster format never reaches a higher fraction of its peak than a slower one measured on
the same chip); a = 0 is the old prior (every format at the calibrated format's fraction).

The pairs come from the same kind of measurement the model uses where the format IS measured
(pairs_for): for a rate no chip's microbenchmarks calibrate (FP4, FP6, INT4, INT8: the model runs
a kernel-database ratio to BF16, format_efficiency.csv) the FP8/BF16 GEMMs of NVIDIA's measured
kernel database (data/calibration/format_rate_law.yaml, written by scripts/fit_format_efficiency.py);
for a rate some chip's microbenchmarks calibrate (FP8 on a chip without FP8 microbenchmarks) the
fit's own FP8/BF16 pairs (fitted.yaml; best-shape GEMMs, a much smaller a). Level: the chip's own
pair, else the mean a of its family's pairs, else the mean a of all pairs (a never-built chip).
The yaml also holds the law's leave-one-format-out check on both kinds and its RMS log error (the
interval's precision term).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from .errors import TapeoutError


@lru_cache(maxsize=1)
def law_table() -> dict:
    p = resources.files("tapeout").joinpath("data", "calibration", "format_rate_law.yaml")
    return yaml.safe_load(p.read_text()) if p.is_file() else {}


def ratio(a, x_from, x_to):
    """eff at rate x_to over eff at rate x_from (rates in units of the BF16 peak) under the
    fixed-time law with fixed-time fraction `a`; broadcasts."""
    a = np.maximum(np.asarray(a, dtype=float), 0.0)
    return (1.0 + a * np.asarray(x_from, dtype=float)) / (1.0 + a * np.asarray(x_to, dtype=float))


def a_from_pair(rho, x, x_ref=1.0):
    """Fixed-time fraction a from a measured efficiency ratio rho of a format at rate x over one
    at rate x_ref (inverse of `ratio`); 0 when the faster format is not below (rho >= 1)."""
    rho, x = np.asarray(rho, dtype=float), np.asarray(x, dtype=float)
    den = x * rho - x_ref
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(den > 0, (1.0 - rho) / den, np.inf)
    return np.where(rho >= 1.0, 0.0, a)


def fit_pairs(fitted: dict) -> dict:
    """FP8/BF16 pairs of a microbenchmark fit (fitted.yaml): every chip calibrated in both whose FP8
    peak is above its BF16 peak (a pair at one rate says nothing about a)."""
    from .hardware.catalog import get_chip

    out = {}
    for cid, e in (fitted.get("chips") or {}).items():
        ec = e.get("eff_compute") or {}
        try:
            ch = get_chip(cid)
        except TapeoutError:  # a fit entry outside the catalog (off-catalog microbenchmark chip)
            continue
        bf, f8 = ch.peak_tflops("bf16"), ch.peak_tflops("fp8")
        if "bf16" in ec and "fp8" in ec and bf > 0 and f8 > 1.01 * bf:
            out[cid] = {"family": ch.family, "format": "fp8", "relative_to": "bf16",
                        "a": float(a_from_pair(ec["fp8"] / ec["bf16"], f8 / bf))}
    return out


def pairs_for(peak_key: str, fitted: dict) -> tuple[dict, str]:
    """The pairs of the kind the model uses where `peak_key` IS measured: where some chip's
    microbenchmarks calibrate that peak, the model runs it at that fit, so the prior takes the
    fit's own FP8/BF16 pairs (best-shape microbenchmarks); otherwise the model runs a
    kernel-database ratio to BF16 (format_efficiency.csv), so the kernel-database pairs."""
    if any(peak_key in (c.get("eff_compute") or {}) for c in (fitted.get("chips") or {}).values()):
        return fit_pairs(fitted), "microbenchmark"
    return law_table().get("pairs", {}), "kernel-database"


def fixed_fraction(chip, pairs: dict, kind: str = "kernel-database") -> tuple[float, str] | None:
    """(a, where it came from) for `chip`: its own measured pair, its family's mean, the mean of
    all pairs; None when no pair exists."""
    if not pairs:
        return None
    own = pairs.get(chip.id)
    if own:
        return float(own["a"]), f"{own['format']}/{own['relative_to']} {kind} pair of {chip.id}"
    fam = [float(p["a"]) for p in pairs.values() if p["family"] == chip.family]
    if fam:
        return float(np.mean(fam)), f"mean of {len(fam)} {chip.family} chips' fp8/bf16 {kind} pairs"
    allv = [float(p["a"]) for p in pairs.values()]
    return float(np.mean(allv)), f"mean of all {len(allv)} chips' fp8/bf16 {kind} pairs"


def prior(chip, peak_key: str, base_key: str, fitted: dict, drop=frozenset()) -> tuple[float, str, str] | None:
    """(efficiency of `peak_key` relative to the calibrated fraction the chip has for `base_key`, the
    format whose fit the model borrows, by the rate law; its origin; the pairs' kind). None when it
    cannot be evaluated (no pair, no BF16 or format peak) or the format is not faster than `base_key`.
    `drop`: chips whose pairs are not read (a held-out calibration's, perf/kernels_db.held_out_of)."""
    bf, pk, pb = chip.peak_tflops("bf16"), chip.peak_tflops(peak_key), chip.peak_tflops(base_key)
    pairs, kind = pairs_for(peak_key, fitted)
    pairs = {c: p for c, p in pairs.items() if c not in drop}
    fa = fixed_fraction(chip, pairs, kind)
    if fa is None or bf <= 0 or pk <= 0 or pb <= 0:
        return None
    a, src = fa
    x_to, x_from = pk / bf, pb / bf
    if x_to <= x_from * 1.01:  # not faster than the borrowed fit: the calibrated fraction stands (a slower
        return None  # format's gain would need the law's ceiling c, which one pair does not identify)
    r = float(ratio(a, x_from, x_to))
    return r, (f"prior: fixed-time rate law (1 + a x_{base_key}) / (1 + a x_{peak_key}), x = peak / bf16 peak = "
               f"{x_from:.3g} -> {x_to:.3g}, a = {a:.3f} from the {src} (nothing measured at the {peak_key} rate on {chip.id})"), kind


def prior_sigma(kind: str) -> float | None:
    """RMS log error of the law's leave-one-format-out check on pairs of `kind` (format_rate_law.yaml)."""
    chk = law_table().get("check") or {}
    s = (chk.get("microbenchmark") or {}).get("rms_log_error") if kind == "microbenchmark" else chk.get("rms_log_error")
    return None if s is None else float(s)
