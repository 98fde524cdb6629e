"""Out-of-sample coverage of the 80% interval on the LLM inference rows: four splits.

Each split holds out one group of rows at a time and predicts it as a new user would:
  chip       the chip's microbenchmarks removed from the calibration (perf.fit.fit_all(exclude=))
  benchmark  the benchmark (model + dataset) dropped from the development rows (its context
             range and stack; the model_family term follows the calibration, perf/novelty.py)
  precision  the format's microbenchmarks removed from the calibration
  round      only MLPerf rounds before it are development rows (paper rows, undated, left out);
             the microbenchmark calibration is not dated and stays as shipped
In every split the held-out rows are also dropped from the development rows that decide which
model families, context range and stacks count as validated (validation/development.py).
Nothing is ever fitted on end-to-end rows, so there is nothing else to refit; values of
held-out rows are only compared with, never read before, their predictions.

Each coverage share comes with its 95% Wilson score interval (rows read as independent draws):
the sampling uncertainty of a share measured on n rows, so a table can say whether 70-90% is
excluded, not only whether the point estimate is outside it. Rows of one chip or benchmark share
part of their error, so the effective n is smaller and the true interval wider: a lower bound
on the sampling uncertainty.
"""

from __future__ import annotations

import math
import re

import numpy as np

from . import harness, llm_rows
from .development import covered

SPLITS = ("chip", "benchmark", "precision", "round")
Z95 = 1.959963984540054  # two-sided 95% quantile of the normal distribution


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial share k/n (Wilson 1927, JASA 22:209; Newcombe 1998,
    Stat. Med. 17:857, method 3): the p with |k/n - p| <= z sqrt(p(1-p)/n). Stays inside [0, 1]
    and is not degenerate at k = 0 or k = n, unlike the Wald interval."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # at k = 0 (k = n) the lower (upper) end is exactly 0 (1); rounding would leave it a hair off
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def llm_inference_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if llm_rows.describe(r) is not None]


def _chip_id(row: dict) -> str | None:
    from ..hardware.catalog import resolve_chip_id

    return resolve_chip_id(row.get("accelerator", ""))


def group_key(split: str, row: dict) -> str | None:
    if split == "chip":
        return _chip_id(row)
    if split == "benchmark":
        name = llm_rows.mlperf_name(row) if row["category"] == "mlperf-inf" else None
        return name or f"paper:{llm_rows.describe(row)['model']}"
    if split == "precision":
        from ..hardware.catalog import get_chip

        from .registry import SkipRow

        cid = _chip_id(row)
        try:
            return llm_rows.compute_precision(row, get_chip(cid)) if cid else None
        except SkipRow:  # the row names no precision (e.g. "per submission"): validate skips it too
            return None
    m = re.match(r"MLPerf Inference (v[\d.]+)", row["workload"]) if row["category"] == "mlperf-inf" else None
    return m.group(1) if m else None


def _round_key(v: str) -> tuple:
    return tuple(int(x) for x in v[1:].split("."))


def _refit(split: str, key: str) -> tuple[dict | None, bool]:
    """(the calibration without the held-out group's microbenchmarks, None where nothing is removed; whether it was
    refitted). A chip without microbenchmarks keeps the shipped fit, only marked as held out (its kernel-database
    numbers are then not read): not a refit."""
    from ..perf.calibration import load_fitted
    from ..perf.fit import fit_all, read_microbenchmarks

    if split == "chip":  # and none of the chip's kernel-database numbers (perf/kernels_db.held_out_of)
        from ..perf.kernels_db import holding_out

        refit = key in load_fitted().get("chips", {})
        return holding_out(fit_all(exclude=key) if refit else load_fitted(), key), refit
    if split == "precision":
        mb = read_microbenchmarks()
        keep = [r for r in mb if not r["precision"].lower().startswith(key)]
        return (fit_all(keep), True) if len(keep) < len(mb) else (None, False)
    return None, False


def holdout_results(split: str, rows: list[dict], progress=None) -> dict[str, list]:
    """{held-out group: RowResults} for one split over `rows` (LLM inference rows)."""
    keyed = [(group_key(split, r), r) for r in rows]
    keys = sorted({k for k, _ in keyed if k}, key=_round_key if split == "round" else str)
    out: dict[str, list] = {}
    for key in keys:
        held = [r for k, r in keyed if k == key]
        if split == "round":
            dev = [r for k, r in keyed if k and _round_key(k) < _round_key(key)]
        else:
            dev = [r for k, r in keyed if k != key]
        fitted, refit = _refit(split, key)
        if progress:
            progress(f"{split} {key}: {len(held)} rows" + (" (refit)" if refit else ""))
        out[key] = harness.run(rows=held, fitted=fitted, covered=covered(dev))["results"]
    return out


def stats(results: list) -> dict:
    rs = [r for r in results if r.error_pct is not None and r.inside is not None]
    if not rs:
        return {"n": 0}
    base = [r.detail.get("interval_base") for r in rs if (r.detail or {}).get("interval_base")]
    base_in = [lo <= r.measured <= hi for r, (lo, hi) in zip(rs, base)] if len(base) == len(rs) else []
    terms = sorted({t for r in rs for t in (r.detail or {}).get("distance", {})})
    k = sum(bool(r.inside) for r in rs)
    return {"n": len(rs), "coverage": k / len(rs), "coverage_ci95": wilson(k, len(rs)),
            "coverage_base": float(np.mean(base_in)) if base_in else None,
            "median_abs_err_pct": float(np.median([abs(r.error_pct) for r in rs])),
            "median_signed_err_pct": float(np.median([r.error_pct for r in rs])), "terms": terms}


def split_table(groups: dict[str, list]) -> list[dict]:
    rows = [{"group": k, **stats(v)} for k, v in groups.items()]
    pooled = [r for v in groups.values() for r in v]
    return [r for r in rows if r["n"]] + [{"group": "all held-out rows", **stats(pooled)}]


def markdown(split: str, table: list[dict]) -> str:
    head = (f"| held-out {split} | rows | in 80% interval | 95% interval of that share (Wilson) "
            "| without distance terms | median abs err % | median signed err % | distance terms that fired |\n"
            "|---|---|---|---|---|---|---|---|\n")
    body = ""
    for t in table:
        cb = "-" if t.get("coverage_base") is None else f"{t['coverage_base']:.0%}"
        lo, hi = t["coverage_ci95"]
        body += (f"| {t['group']} | {t['n']} | {t['coverage']:.0%} | {lo:.0%}-{hi:.0%} | {cb} "
                 f"| {t['median_abs_err_pct']:.1f} "
                 f"| {t['median_signed_err_pct']:+.1f} | {', '.join(t['terms']) or '-'} |\n")
    return head + body
