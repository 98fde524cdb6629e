"""Uncertainty fit: leave-one-chip-out log residuals per term (compute, memory, link) that
perf/uncertainty.py turns into 80% intervals.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ...hardware.memory_capacity import BINARY_UNITS
from ...ops import MatMul, OpTable
from ..calibration import BORROWED, calibrated_params
from ..opcost import evaluate
from ..variance_components import components
from .gemm import best_search_utilisation
from .core_share import chip_share, fitted_row, sub_chip
from .rows import chip_key, gemm_point


# ---- prediction uncertainty: leave-one-chip-out on the microbenchmarks ------------------
# Every sigma below is the RMS of log(predicted / measured) of microbenchmark rows (or of
# calibrated factors) under a calibration that did not see them. Nothing here reads
# the end-to-end validation rows. perf/uncertainty.py turns these into an interval per prediction.
TERMS = ("compute", "memory", "link")



def rms(x) -> float | None:
    a = np.asarray(list(x), dtype=float)
    return round(float(np.sqrt(np.mean(a**2))), 4) if len(a) else None


def lookup_fitted(fitted: dict, chip, f: str) -> float | None:
    for src in (fitted.get("chips", {}).get(getattr(chip, "calibration_id", chip.id), {}), fitted.get("families", {}).get(chip.family, {}),
                fitted.get("generic", {})):
        if src.get(f) is not None:
            return float(src[f])
    return None


def gemm_log_residuals(chip, rs: list[dict], fitted: dict) -> np.ndarray:
    """log(predicted / measured) time of a catalog chip's GEMM rows under calibration `fitted`,
    timed as each row was measured (same conventions as fit_gemm: best-shape MAMF rows have no
    per-kernel overhead; host-timed sweeps carry the launch overhead instead)."""
    from ..calibration import calibration_for

    pts = [(r, gemm_point(r)) for r in rs]
    pts = [(r, g) for r, g in pts if g is not None and fitted_row(r)]
    if not pts:
        return np.array([])
    p = chip.params(calibration=calibration_for(chip, fitted))
    share = chip_share([r for r, _ in pts])
    p = p if share is None else sub_chip(p, share)  # rows timed on part of the chip (core_share.py)
    launch = lookup_fitted(fitted, chip, "launch_overhead_us")
    out = []
    for r, (M, N, K, dt, t_meas) in pts:
        op = MatMul(name="g", m=M, n=N, k=K, a_dtype=dt, w_dtype=dt, out_dtype="bf16" if dt == "fp8" else dt, math_dtype=dt)
        if "max achievable" in r["workload"]:  # best of a search (see best_search_utilisation)
            from ...ops import PEAK_KEYS

            i = PEAK_KEYS.index(dt)
            rate = float(np.asarray(p.peak_flops)[i]) * float(np.asarray(p.eff_compute)[i]) * best_search_utilisation(p, dt)
            if rate > 0:
                out.append(math.log(2.0 * M * N * K / rate / t_meas))
            continue
        pp = p
        if "kernel time" not in r["metric"] and launch is not None:
            pp = p.replace(kernel_overhead=launch * 1e-6)
        t = float(np.max(evaluate(OpTable.from_ops([op]), pp, check_support=False).time))
        if np.isfinite(t) and t > 0:
            out.append(math.log(t / t_meas))
    return np.array(out)


def link_log_residuals(chip, rs: list[dict], fitted: dict) -> np.ndarray:
    """log(predicted / measured) time of a chip's ring all-reduce rows under the alpha-beta
    model with the calibrated eff_link and per-step latency (perf/collectives.py ring)."""
    p = calibrated_params(chip)
    link = float(np.max(p.scaleup_bw))
    eff = lookup_fitted(fitted, chip, "eff_link")
    alpha = (lookup_fitted(fitted, chip, "scaleup_latency_us") or 0.0) * 1e-6
    if link <= 0 or eff is None:
        return np.array([])
    rows = []
    for r in rs:
        w = r["workload"] + " " + r["model_config"]
        if "busbw" not in r["unit"]:
            continue
        g = int(r["n_accelerators"])
        m = re.search(r"payload (\d+)(KiB|MiB|GiB)", w) or re.search(r"(\d+)(GiB)", w)
        ring = re.search(r"algo=Ring|NVLS_ENABLE=0|RCCL", w) or "vs payload" in r["workload"]
        if not m or not ring or g < 2:
            continue
        rows.append((int(m.group(1)) * BINARY_UNITS[m.group(2)], g, float(r["value"]) * 1e9))
    if not rows:
        return np.array([])
    gmax = max(g for _, g, _ in rows)  # smaller groups on a mesh use fewer links (as in fit_collectives)
    out = []
    for S, g, busbw in rows:
        if g != gmax:
            continue
        t_meas = 2 * (g - 1) / g * S / busbw
        t_pred = 2 * (g - 1) * alpha + 2 * (g - 1) / g * S / (link * eff)
        out.append(math.log(t_pred / t_meas))
    return np.array(out)


def shape_components(res: dict[str, np.ndarray]) -> dict:
    """bias / scatter of the borrowed-curve residuals (perf/variance_components.py), with each
    chip's mean and within-chip sd; empty when no chip has a sweep."""
    if not res:
        return {}
    bias, scatter = components(res)
    return {"bias": round(bias, 4), "scatter": round(scatter, 4),
            "chip_mean_sd": {c: [round(float(r.mean()), 4), round(float(r.std()), 4)] for c, r in res.items()},
            "components": "bias = RMS over chips of the chip's mean log residual (shared by every kernel of the chip); "
                          "scatter = RMS over chips of the within-chip sd (one shape around the chip's curve)"}


def same_silicon_level(sibling_peak: dict[str, float], family: dict[str, float]) -> dict:
    """compute.same_silicon: RMS over held-out chips whose eff_compute fell back to a same-silicon fit; with fewer
    than 2 such chips (e.g. one of the only pair held out) the next coarser measured level, the family level (which
    contains them), as `level` pools a thin level."""
    note = "held-out chips whose eff_compute fell back to a same-silicon chip's fit (also in compute.family): " \
           "best-shape rows predicted from the sibling's fit"
    if len(sibling_peak) >= 2:
        return {"sigma": rms(sibling_peak.values()), "chips": sibling_peak, "note": note}
    return {"sigma": rms(family.values()), "chips": sibling_peak,
            "note": note + f"; fewer than 2 such chips: the family level's chips ({', '.join(sorted(family)) or 'none'})"}


def fit_uncertainty(rows: list[dict], fitted: dict, excl_set: set | None = None) -> dict:
    """Per-term log-space sigmas, by where a chip's calibration comes from.

    compute (GEMM kernels, incl. their shape dependence and per-kernel overhead):
      own_sweep      the chip's own fit residual over its GEMM sweep (chips[..].sigma_log)
      own_peak_only  chips whose only GEMM rows are best-shape (MAMF) points: for each chip
                     WITH a sweep, drop the sweep, keep its MAMF rows, refit, predict the
                     dropped sweep rows; RMS over chips of the per-chip RMS, split into the
                     part every shape of the chip shares (bias) and the per-shape scatter
                     (perf/variance_components.py: bias^2 + scatter^2 = sigma^2), so a step
                     of many distinct kernels averages the scatter only
      family/generic drop ALL of a chip's rows, refit, predict its best-shape (MAMF) rows
                     from the family (or generic) mean it then falls back to; pooled per
                     fallback level. This is the error of the peak fraction only; the
                     interval adds own_peak_only in quadrature (shape transfer, independent)
      same_silicon   the subset of those held-out chips whose fallback was a same-silicon
                     chip's fit (fit/same_silicon.py; they also count in `family`): the peak
                     transfer between two boards of one die. The interval adds it to the
                     sibling's own sweep residual when the chip's whole GEMM curve is that
                     sibling's (perf/uncertainty.py SIBLING_SWEEP)
    memory / link (factors eff_mem / eff_link):
      own            residual of the rows behind the factor (memory: the GEMM-sweep fit
                     residual, the only rows whose fit involves eff_mem; link: alpha-beta
                     ring model vs the chip's bus-bandwidth rows)
      family/generic drop the chip, refit, log(fallback factor / own factor); the interval
                     adds `own` in quadrature (the held-out factor was itself fitted)
    A level with fewer than 2 held-out chips pools all held-out chips of the term (stated
    in `note`)."""
    from ...hardware.catalog import get_chip
    from .calibrate import fit_all  # fit_all calls fit_uncertainty: imported here, not at the top
    from ..calibration import calibration_for

    excl_set = set(excl_set or ())
    by_chip: dict[str, list[dict]] = {}
    for r in rows:
        cid, _ = chip_key(r["accelerator"])
        if cid and cid not in excl_set:
            by_chip.setdefault(cid, []).append(r)
    chips_fit = fitted.get("chips", {})
    out: dict = {"method": "leave-one-chip-out on microbenchmarks.csv (perf/fit.py fit_uncertainty); "
                           "sigma = RMS of log(predicted/measured)"}
    # compute: own sweep residuals
    own_sweep = {k: float(e["sigma_log"]) for k, e in chips_fit.items() if "sigma_log" in e}
    # compute: own best-shape point only, curve borrowed
    peak_only: dict[str, float] = {}
    peak_only_res: dict[str, np.ndarray] = {}
    for cid, rs in by_chip.items():
        if cid not in own_sweep:
            continue
        sweep_ids = {r["id"] for r in rs if gemm_point(r) is not None and "max achievable" not in r["workload"]}
        if not any("max achievable" in r["workload"] for r in rs):
            continue
        f_ex = fit_all([r for r in rows if r["id"] not in sweep_ids], exclude=excl_set or None, uncertainty=False)
        res = gemm_log_residuals(get_chip(cid), [r for r in rs if r["id"] in sweep_ids], f_ex)
        if len(res):
            peak_only[cid] = rms(res)
            peak_only_res[cid] = res
    # drop every row of the chip
    levels: dict[str, dict[str, dict[str, float]]] = {t: {"family": {}, "generic": {}} for t in TERMS}
    sibling_peak: dict[str, float] = {}  # held-out chips whose eff_compute fell back to a same-silicon fit
    link_own: dict[str, float] = {}
    for cid, rs in by_chip.items():
        chip = get_chip(cid)
        f_ex = fit_all(rows, exclude=excl_set | {cid}, uncertainty=False)
        cal_ex = calibration_for(chip, f_ex)
        # a fit borrowed from a same-silicon chip counts with the family level (both borrow from other chips)
        lvl = lambda f: "family" if cal_ex.origin.get(f, "").startswith(BORROWED) else "generic"  # noqa: E731
        res = gemm_log_residuals(chip, [r for r in rs if "max achievable" in r["workload"]], f_ex)
        if len(res):  # best-shape rows only: the peak fraction; shape transfer is own_peak_only
            levels["compute"][lvl("eff_compute")][cid] = rms(res)
            if cal_ex.origin.get("eff_compute", "").startswith("same silicon"):
                sibling_peak[cid] = rms(res)
        own = chips_fit.get(cid, {})
        for term, f in (("memory", "eff_mem"), ("link", "eff_link")):
            if own.get(f) is not None:
                levels[term][lvl(f)][cid] = round(abs(math.log(getattr(cal_ex, f) / float(own[f]))), 4)
        if own.get("eff_link") is not None:
            lr = link_log_residuals(chip, rs, fitted)
            if len(lr):
                link_own[cid] = rms(lr)

    def level(term: str, name: str) -> dict:
        per = levels[term][name]
        if len(per) >= 2:
            return {"sigma": rms(per.values()), "chips": per}
        pooled = {**levels[term]["family"], **levels[term]["generic"]}
        return {"sigma": rms(pooled.values()), "chips": per,
                "note": f"fewer than 2 held-out chips fall back to the {name} level; pooled all held-out chips "
                        f"({', '.join(sorted(pooled)) or 'none'})"}

    sweep_pool = rms(own_sweep.values())
    out["compute"] = {
        "own_sweep": {"sigma": sweep_pool, "chips": dict(own_sweep),
                      "note": "a chip with its own sweep uses its own sigma_log; this pooled value is used by memory.own"},
        "own_peak_only": {"sigma": rms(peak_only.values()), "chips": peak_only, **shape_components(peak_only_res)},
        "family": level("compute", "family"),
        "generic": level("compute", "generic"),
        "same_silicon": same_silicon_level(sibling_peak, levels["compute"]["family"]),
    }
    out["memory"] = {
        "own": {"sigma": sweep_pool, "chips": dict(own_sweep), "note": "pooled GEMM-sweep fit residual (eff_mem is fitted there)"},
        "family": level("memory", "family"),
        "generic": level("memory", "generic"),
    }
    out["link"] = {
        "own": {"sigma": rms(link_own.values()), "chips": link_own,
                "note": "alpha-beta ring model vs the chip's full-domain bus-bandwidth rows (all payloads)"},
        "family": level("link", "family"),
        "generic": level("link", "generic"),
    }
    return out
