"""Collective fits: eff_link and per-step latency of the alpha-beta ring model from NCCL/RCCL
rows (fit_collectives), and the in-switch (NVLS) algorithm efficiency (fit_collective_algorithms).
"""

from __future__ import annotations

import re

import numpy as np

from ...hardware.catalog import get_chip
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
            size = int(m.group(1)) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[m.group(2)]
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
            if size > 2**20:
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
    return out
