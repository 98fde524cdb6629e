"""Software-maturity sensitivity: how much of a recommended design's margin survives an
immature software stack.

Maturity m (per op class: gemm, attention, memory, vector, collective) is the fraction of
the calibrated efficiency the stack reaches (perf/calibration.py: the generic fit for a
never-built chip). A custom NPU starts with a young compiler; the baseline (a catalog chip)
keeps its mature stack (m = 1). For each level the design's objectives are re-evaluated and

    margin(m) = objective_NPU(m) / objective_baseline - 1      (goal max; inverted for min)
    survives  = margin(m) / margin(1)

and `breakeven` is the lowest level (linear interpolation) at which the margin stays >= 0.
Without a baseline, the retention objective(m) / objective(1) is reported.
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from ..hardware.memory_capacity import quoted_gb
from ..perf.calibration import calibrated_params
from .npu import load_template
from .objectives import SECONDS_PER_YEAR, USABLE_MEMORY_FRACTION, Evaluator

DEFAULT_LEVELS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def _design_arrays(designs: list[dict]) -> dict:
    t = load_template()
    return {n: np.array([t.params[n].code(d[n]) for d in designs], dtype=float) for n in t.params if n in designs[0]}


def baseline_metrics(ev: Evaluator, chip_name: str) -> dict:
    """Mix metrics of a catalog chip (mature stack, roofline model of perf/opcost.py)."""
    from ..econ.tco import tco_per_chip_year
    from ..hardware.catalog import get_chip
    from ..perf.opcost import evaluate

    chip = get_chip(chip_name)
    p = calibrated_params(chip)
    T = E = 0.0
    cap = float(p.mem_capacity) * USABLE_MEMORY_FRACTION
    for w, share in zip(ev.mix, ev.shares):
        if w.memory_bytes > cap:
            raise TapeoutError(f"baseline {chip.id}: workload '{w.name}' needs {quoted_gb(w.memory_bytes):.1f} GB per chip "
                               f"but {chip.id} has {quoted_gb(cap):.1f} GB usable; pick another baseline.")
        c = evaluate(w.table, p, check_support=False)
        t, e = float(c.total_time), float(c.total_energy)
        if not np.isfinite(t):
            raise TapeoutError(f"baseline {chip.id} lacks a precision that workload '{w.name}' uses.")
        T += share * w.chips * t / w.units
        E += share * w.chips * e / w.units
    thr, ppw = 1.0 / T, 1.0 / E
    price = chip.get("price_usd")
    out = {"chip": chip.id, "mix_throughput": thr, "perf_per_watt": ppw, "power_w": E / T}
    if isinstance(price, float):
        tco = float(tco_per_chip_year(price, min(E / T, float(p.tdp_w)))["total_per_year"])
        out["perf_per_tco"] = thr * SECONDS_PER_YEAR / tco
        out["price_usd"] = price
    return out


def check_levels(levels) -> list[float]:
    """Maturity levels, distinct and descending; one line for a level outside (0, 1] or none at all."""
    out = sorted({float(x) for x in levels}, reverse=True)
    if not out:
        raise TapeoutError("--sensitivity: give at least one maturity level in (0, 1], e.g. 1,0.8,0.6.")
    for x in out:
        if not 0 < x <= 1:
            raise TapeoutError(f"--sensitivity: maturity levels must be in (0, 1], got {x}.")
    return out


def maturity_sensitivity(space, designs: list[dict], levels=DEFAULT_LEVELS, baseline: str | None = None,
                         metrics: list[str] | None = None) -> dict:
    """Re-evaluate `designs` (parameter dicts, e.g. rows of the store) at each maturity level."""
    from .space import load_space

    sp = load_space(space)
    if not designs:
        raise TapeoutError("maturity sensitivity needs at least one design.")
    levels = check_levels(levels)
    if 1.0 not in levels:
        levels = [1.0] + levels
    metrics = metrics or [o.metric for o in sp.objectives if o.metric in ("perf_per_watt", "perf_per_tco", "mix_throughput")] \
        or ["mix_throughput"]
    d = _design_arrays(designs)
    per_level = {}
    ev = None
    for lv in levels:
        ev = Evaluator(sp, maturity=lv, workloads=ev.mix if ev is not None else None)
        m = ev.metrics(d)
        per_level[lv] = {k: m[k] for k in metrics + ["slo_ratio", "mix_throughput"]}
    base = baseline_metrics(ev, baseline) if baseline else None
    rows = []
    for i in range(len(designs)):
        r = {"design": i, "levels": []}
        for lv in levels:
            entry = {"maturity": lv, "slo_ratio": float(per_level[lv]["slo_ratio"][i])}
            for k in metrics:
                v = float(per_level[lv][k][i])
                entry[k] = v
                if base is not None and k in base:
                    entry[f"margin_{k}"] = v / base[k] - 1.0
                else:
                    entry[f"retained_{k}"] = v / float(per_level[1.0][k][i]) if per_level[1.0][k][i] else 0.0
            r["levels"].append(entry)
        if base is not None:
            for k in metrics:
                if k not in base:
                    continue
                m1 = r["levels"][0][f"margin_{k}"]
                for e in r["levels"]:
                    e[f"survives_{k}"] = (e[f"margin_{k}"] / m1) if m1 > 0 else None
                r[f"breakeven_{k}"] = _breakeven([(e["maturity"], e[f"margin_{k}"]) for e in r["levels"]])
        rows.append(r)
    return {"levels": levels, "metrics": metrics, "baseline": base, "designs": rows}


def _breakeven(points: list[tuple[float, float]]) -> float | None:
    """Lowest maturity with margin >= 0, interpolating between levels; None if negative at 1."""
    pts = sorted(points, reverse=True)  # from 1.0 down
    if pts[0][1] < 0:
        return None
    for (m_hi, g_hi), (m_lo, g_lo) in zip(pts, pts[1:]):
        if g_lo < 0:
            return m_lo + (m_hi - m_lo) * (0 - g_lo) / (g_hi - g_lo)
    return pts[-1][0]
