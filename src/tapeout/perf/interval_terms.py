"""Decomposition of a validation row's 80% interval into its terms (read-only; changes no width).

A row's interval is built in two steps (perf/uncertainty.py, perf/novelty.py):

    base     sigma_b = max_i sigma_i                    (harness default: time shares unknown, the bound)
             or the mapper's own share-weighted sigma    (LLM serving / training mappers)
    distance sigma^2 = sigma_b^2 + sum_t sigma_t^2       (novelty terms active for the row, detail['distance'])
    interval = predicted x exp(+-Z80 sigma)

`decompose(row)` returns every term with its sigma and the rule that chose it, the sigma the terms
combine to, and the sigma the row's stated interval implies, so a reader (and a test) can check that
the decomposition closes.
"""

from __future__ import annotations

import math

from .uncertainty import Z80, term_sigmas

HARNESS_DEFAULT = "harness default: chip calibration, unknown shares"


def stated_sigma(value: float, low: float, high: float) -> float:
    """Log sigma of a symmetric log interval (the larger side where a widening made it uneven)."""
    return max(math.log(high / value), math.log(value / low)) / Z80


def decompose(row: dict, fitted: dict | None = None) -> dict | None:
    """Terms of one `tapeout validate --json` row's interval; None for a skipped row or one with no
    interval or no catalog chip."""
    from ..hardware.catalog import get_chip, resolve_chip_id

    cid = resolve_chip_id(row.get("accelerator", ""))
    if row.get("skipped") or row.get("low") is None or cid is None:
        return None
    det = row.get("detail") or {}
    terms = term_sigmas(get_chip(cid), fitted)
    base_lo, base_hi = det.get("interval_base") or (row["low"], row["high"])
    default = det.get("interval") == HARNESS_DEFAULT
    base = max(s for s, _ in terms.values()) if default else stated_sigma(row["predicted"], base_lo, base_hi)
    distance = {k: float(v[0]) for k, v in (det.get("distance") or {}).items()}
    total = math.sqrt(base ** 2 + sum(s * s for s in distance.values()))
    return {"chip": cid, "terms": terms, "binding": max(terms, key=lambda t: terms[t][0]) if default else "mapper shares",
            "base_sigma": base, "distance": distance, "sigma": total,
            "stated_sigma": stated_sigma(row["predicted"], row["low"], row["high"]), "harness_default": default}
