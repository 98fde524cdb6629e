"""Collective fits: eff_link and per-step latency of the alpha-beta ring model from NCCL/RCCL
rows (fit_collectives), and the in-switch (NVLS) algorithm efficiency (fit_collective_algorithms).
"""

from __future__ import annotations

import re

import numpy as np

from ...hardware.catalog import get_chip
from ...hardware.memory_capacity import BINARY_UNITS, MIB
from ..calibration import calibrated_params
from .rows import chip_key, read_microbenchmarks


def fit_collectives(rows, params):
    """eff_link from ring-algorithm rows; per-step latency from the payload sweep."""
    link = float(np.max(params.scaleup_bw))
    if link <= 0:
        return {}, []
    effs, lat_pts, ids = [], [], []
    for r in rows:
        w = r["workload"] + " " + r["model_config"]
        if "busbw" not in r["unit"] and "bus bandwidth" not in w:
            continue
        g = int(r["n_accelerators"])
        busbw = float(r["value"]) * 1e9
        if re.search(r"algo=Ring|NVLS_ENABLE=0|RCCL", w) and re.search(r"(\d+)GiB", w):
            effs.append((g, busbw / link))
            ids.append(r["id"])
        m = re.search(r"payload (\d+)(KiB|MiB|GiB)", w)
        if m and "vs payload" in r["workload"]:
            size = int(m.group(1)) * BINARY_UNITS[m.group(2)]
            lat_pts.append((size, g, busbw))
            ids.append(r["id"])
    out = {}
    if effs:  # full-domain rows only: smaller groups on a mesh (xGMI) use fewer links
        gmax = max(g for g, _ in effs)
        out["eff_link"] = round(float(np.median([e for g, e in effs if g == gmax])), 4)
    if lat_pts and effs:
        eff = out["eff_link"]
        # t = 2(g-1) * alpha + 2(g-1)/g * S / (link * eff); solve alpha on the small sizes
        alphas = []
        for size, g, busbw in lat_pts:
            if size > MIB:
                continue
            t = size * 2 * (g - 1) / g / busbw
            alphas.append(max(0.0, (t - 2 * (g - 1) / g * size / (link * eff)) / (2 * (g - 1))))
        if alphas:
            out["scaleup_latency_us"] = round(float(np.median(alphas)) * 1e6, 3)
    return out, ids


# ---- additive (issue 6): per-algorithm collective calibration --------------------------
def fit_collective_algorithms(rows: list[dict] | None = None, exclude: str | None = None) -> dict:
    """Calibrate the in-switch (NVLS) all-reduce from NCCL rows that name algo=NVLS.

    In-switch reduction moves each rank's buffer once up and once down the switch, so its
    time is S / (link_bw * eff_nvls) (perf/collectives.py). From a measured bus bandwidth
    busbw = 2(g-1)/g * S / t it follows eff_nvls = busbw / (2(g-1)/g) / link_bw. Only
    payloads >= 1 GiB (bandwidth regime) are used. Returns {family: {"eff_nvls": x,
    "sources": [...]}} plus "generic"."""
    rows = rows if rows is not None else read_microbenchmarks()
    per_fam: dict[str, list[tuple[float, str]]] = {}
    for r in rows:
        w = r["workload"] + " " + r["model_config"]
        if "busbw" not in r["unit"] or not re.search(r"algo=NVLS", w):
            continue
        m = re.search(r"(\d+)GiB", w)
        if not m or int(m.group(1)) < 1:
            continue
        cid, fam = chip_key(r["accelerator"])
        if fam is None or (cid and cid == exclude) or cid is None:
            continue
        g = int(r["n_accelerators"])
        if g < 2:
            continue
        link = float(np.max(calibrated_params(get_chip(cid)).scaleup_bw))
        if link <= 0:
            continue
        eff = float(r["value"]) * 1e9 / (2.0 * (g - 1) / g) / link
        per_fam.setdefault(fam, []).append((eff, r["id"]))
    out: dict = {}
    allv = []
    for fam, vals in per_fam.items():
        out[fam] = {"eff_nvls": round(float(np.median([v for v, _ in vals])), 4), "sources": [i for _, i in vals]}
        allv += [v for v, _ in vals]
    if allv:
        out["generic"] = {"eff_nvls": round(float(np.median(allv)), 4)}
    for fam, excess in fit_library_excess(rows, out, exclude).items():
        out.setdefault(fam, {}).update(excess)
    return out


def fit_library_excess(rows: list[dict], algo_cal: dict, exclude: str | None = None) -> dict:
    """The collective library's all-reduce time beyond the alpha-beta model's, per payload.

    NCCL reaches its large-message bus bandwidth only well above the sizes a serving step
    reduces (per-call launch and synchronisation, fewer channels and LL/LL128 protocols at
    mid sizes: NCCL docs, "Performance" / NCCL_PROTO, NCCL_MIN_NCHANNELS), which a two-
    parameter alpha-beta model calibrated on the asymptote does not capture. From the
    all-reduce payload sweeps ("vs payload" rows) the excess d(S) = t_measured(S) - t_model(S)
    in seconds, with t_model the library algorithms (ring, tree, in-switch) on the same system
    and measured t = 2(g-1)/g * S / busbw. The excess is per call (added, not scaled): what a
    library call costs beyond the wire time does not grow with the model's latency steps, and
    it is non-decreasing in S.
    Returns {family: {"library_excess": [[S, d], ...], "excess_sources": [...]}} plus
    "generic" (the median d per payload over families)."""
    from ..collectives import LIBRARY_ALGORITHMS, collective_time
    from ...hardware.topology import Topology

    pts: dict[str, dict[int, list[tuple[float, str]]]] = {}
    for r in rows:
        w = r["workload"] + " " + r["model_config"]
        if "busbw" not in r["unit"] or "vs payload" not in r["workload"] or "all-reduce" not in r["metric"]:
            continue
        m = re.search(r"payload (\d+)(KiB|MiB|GiB)", w)
        cid, fam = chip_key(r["accelerator"])
        if not m or fam is None or cid is None or cid == exclude:
            continue
        g = int(r["n_accelerators"])
        size = int(m.group(1)) * BINARY_UNITS[m.group(2)]
        p = calibrated_params(get_chip(cid))
        topo = Topology.from_params(p, fam, algo_cal.get(fam) or algo_cal.get("generic") or {})
        t_meas = 2.0 * (g - 1) / g * size / (float(r["value"]) * 1e9)
        t_mod = float(collective_time("all_reduce", size, g, topo, algorithm=LIBRARY_ALGORITHMS)[0])
        pts.setdefault(fam, {}).setdefault(size, []).append((t_meas - t_mod, r["id"]))
    out: dict = {}
    per_size: dict[int, list[float]] = {}
    for fam, by_size in pts.items():
        sizes = sorted(by_size)
        # a larger call never costs less beyond its wire time: running maximum over payload
        # (the sweep's small-payload points differ by timing noise, e.g. MB-0105/0106)
        d = np.maximum.accumulate([float(np.median([x for x, _ in by_size[s]])) for s in sizes])
        curve = [[s, float(x)] for s, x in zip(sizes, d)]
        out[fam] = {"library_excess": curve, "excess_sources": [i for v in by_size.values() for _, i in v]}
        for s, d in curve:
            per_size.setdefault(s, []).append(d)
    if per_size:
        out["generic"] = {"library_excess": [[s, float(np.median(v))] for s, v in sorted(per_size.items())]}
    return out
