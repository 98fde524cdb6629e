"""GEMM fit: eff_compute per dtype, eff_mem and per-kernel overhead by least squares on log time,
and the best-of-search utilisation of a MAMF-style shape search.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from ...ops import MatMul, OpTable
from ..opcost import evaluate


# Best-shape (MAMF) rows report the *maximum* throughput of a brute-force shape search, not
# the throughput of one shape: no searched shape ran faster. The model must reproduce that
# maximum, so such a row is compared with the model's best utilisation over the search space
# (tile padding and wave quantisation at eff=1), not with its penalty for the one reported
# argmax shape (which the real library avoids with other tile sizes / stream-K and which would
# inflate the fitted efficiency above the measured fraction of peak).
SEARCH_DIMS = tuple(range(1024, 20481, 512))  # mamf-finder style M, N ranges (step 512 here)


SEARCH_K = (4096, 8192, 14336)


_BSU_CACHE: dict = {}


_BSU_FIELDS = ("peak_flops", "num_cores", "tile_m", "tile_n", "mem_bw", "eff_mem", "mem_overhead", "sram_bytes",
               "vector_flops", "eff_vector", "access_granularity")


def best_search_utilisation(params, dtype: str) -> float:
    """max over the search grid of ideal time / modelled time at eff_compute = 1, no overhead
    (cached on the parameters the GEMM time depends on)."""
    key = (dtype,) + tuple(tuple(np.ravel(np.asarray(getattr(params, f), dtype=float)).tolist()) for f in _BSU_FIELDS)
    if key not in _BSU_CACHE:
        _BSU_CACHE[key] = _best_search_utilisation(params, dtype)
    return _BSU_CACHE[key]


def _best_search_utilisation(params, dtype: str) -> float:
    from ...ops import PEAK_KEYS

    p1 = params.replace(eff_compute=np.ones(len(PEAK_KEYS)), kernel_overhead=0.0)
    out = "bf16" if dtype == "fp8" else dtype
    ops = [MatMul(name="s", m=m, n=n, k=k, a_dtype=dtype, w_dtype=dtype, out_dtype=out, math_dtype=dtype)
           for m in SEARCH_DIMS for n in SEARCH_DIMS for k in SEARCH_K]
    t = np.asarray(evaluate(OpTable.from_ops(ops), p1, check_support=False).time, dtype=float)
    flops = np.array([2.0 * o.m * o.n * o.k for o in ops])
    peak = float(np.asarray(p1.peak_flops)[PEAK_KEYS.index(dtype)])
    return float(np.max(flops / t) / peak) if peak > 0 else 1.0


# a sweep informs the per-work-unit fixed time only when its K varies enough to separate a
# K-independent cost from the efficiency (device-timed kernel times, >= this many distinct K)
MIN_DISTINCT_K = 3


def fit_gemm(chip_id, points, base_params, rows_peak, device_timed=True, best_of_search=None):
    """Least-squares fit of eff_compute[dtype], eff_mem, kernel overhead on log time, and of the
    per-work-unit fixed time (tile_overhead_us, perf/opcost.py) when a device-timed sweep varies K."""
    from ...ops import PEAK_KEYS

    dtypes = sorted({p[3] for p in points})
    ops = [MatMul(name=f"g{i}", m=p[0], n=p[2 - 1] if False else p[1], k=p[2], a_dtype=p[3], w_dtype=p[3],
                  out_dtype="bf16" if p[3] == "fp8" else p[3], math_dtype=p[3]) for i, p in enumerate(points)]
    table = OpTable.from_ops(ops)
    meas = np.array([p[4] for p in points])
    # peaks: the catalog's, or the row's stated peak for off-catalog chips
    params = base_params
    if rows_peak:
        for dt, pk in rows_peak.items():
            params = params.with_peak(dt, pk)
    best = np.array(best_of_search if best_of_search is not None else [False] * len(points), dtype=bool)
    # memory efficiency, per-kernel and per-work-unit fixed times are seen only in timed kernels: a
    # best-of-search row is compared with the model's best utilisation at no overhead (below), so
    # repeated best-shape rows of one format (two MAMF tables) identify nothing but eff_compute
    timed = [p for p, b in zip(points, best) if not b]
    latency_rows = bool(timed) and len(points) > len(dtypes)
    with_tile = latency_rows and device_timed and len({p[2] for p in timed}) >= MIN_DISTINCT_K
    x0 = [0.8] * len(dtypes) + ([0.8, 5.0] if latency_rows else []) + ([0.5] if with_tile else [])
    lo = [0.05] * len(dtypes) + ([0.2, 0.0] if latency_rows else []) + ([0.0] if with_tile else [])
    hi = [1.0] * len(dtypes) + ([1.0, 60.0] if latency_rows else []) + ([20.0] if with_tile else [])

    flops = np.array([2.0 * p[0] * p[1] * p[2] for p in points])
    peak_of = {dt: float(np.asarray(params.peak_flops)[PEAK_KEYS.index(dt)]) for dt in dtypes}
    u_best = {dt: best_search_utilisation(params, dt) for dt in dtypes} if best.any() else {}

    def model(x):
        eff = np.full(len(PEAK_KEYS), 0.8)
        for i, dt in enumerate(dtypes):
            eff[PEAK_KEYS.index(dt)] = x[i]
            if dt == "fp16" and "bf16" not in dtypes:
                eff[PEAK_KEYS.index("bf16")] = x[i]
        ch = dict(eff_compute=eff)
        if latency_rows:
            ch.update(eff_mem=x[len(dtypes)], kernel_overhead=x[len(dtypes) + 1] * 1e-6)
            if with_tile:
                ch.update(tile_overhead=x[len(dtypes) + 2] * 1e-6)
        else:
            ch.update(kernel_overhead=0.0)
        t = np.array(evaluate(table, params.replace(**ch), check_support=False).time, dtype=float)
        for j in np.flatnonzero(best):  # best of a search: the model's best shape, no overhead
            dt = points[j][3]
            t[j] = flops[j] / (peak_of[dt] * x[dtypes.index(dt)] * u_best[dt])
        return t

    res = least_squares(lambda x: np.log(model(x)) - np.log(meas), x0, bounds=(lo, hi))
    resid = np.log(model(res.x)) - np.log(meas)
    out = {"eff_compute": {dt: round(float(res.x[i]), 4) for i, dt in enumerate(dtypes)}}
    if "fp16" in out["eff_compute"] and "bf16" not in out["eff_compute"]:
        out["eff_compute"]["bf16"] = out["eff_compute"]["fp16"]
    if latency_rows:
        out["eff_mem"] = round(float(res.x[len(dtypes)]), 4)
        # host-timed sweeps (torch events around a launch) include the CPU launch; only
        # device-timed kernel times (profiler "kernel time") measure the in-graph overhead
        key = "kernel_overhead_us" if device_timed else "launch_overhead_us"
        out[key] = round(float(res.x[len(dtypes) + 1]), 3)
        if with_tile:
            out["tile_overhead_us"] = round(float(res.x[len(dtypes) + 2]), 4)
    return out, resid
