"""Fit calibration factors to microbenchmarks (and only to microbenchmarks).

Reads data/measured/microbenchmarks.csv and, per chip, fits the free factors of the same
op-cost model the predictions use (perf/opcost.py):
  - GEMM rows (best-shape MAMF throughput, tuned GEMM latency sweeps): eff_compute per
    dtype, eff_mem and the per-kernel overhead, by least squares on log time;
  - streaming-bandwidth rows: eff_mem directly;
  - collective rows (NCCL/RCCL bus bandwidth vs payload): eff_link (ring rows only) and
    the per-step latency of the alpha-beta model.
Chips outside the catalog (GH200, B300, MI210, A100-PCIe) contribute to their family mean
through the peak the row itself states. Writes data/calibration/fitted.yaml with the row
ids behind every number and the residual spread (sigma of log error) used for intervals.
"""

from __future__ import annotations

import csv
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import least_squares

from ..hardware.catalog import get_chip, resolve_chip_id
from ..ops import MatMul, OpTable
from .opcost import evaluate

# microbenchmark accelerators that are not catalog chips: family and stated peaks
OFF_CATALOG = {
    "NVIDIA GH200": "nvidia-hopper",
    "NVIDIA B300-SXM": "nvidia-blackwell",
    "NVIDIA A100-PCIe-80GB": "nvidia-ampere",
    "AMD MI210": "amd-cdna2",
}


def read_microbenchmarks(path: Path | None = None) -> list[dict]:
    p = path or resources.files("tapeout").joinpath("data", "measured", "microbenchmarks.csv")
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def _dtype(prec: str) -> str:
    p = prec.lower()
    if "fp8" in p or "e4m3" in p:
        return "fp8"
    if "bf16" in p:
        return "bf16"
    if "fp16" in p:
        return "fp16"
    return "bf16"


def _gemm_point(r: dict):
    """(m tokens, n out-features, k, dtype, seconds) of a GEMM row, or None."""
    w, cfg = r["workload"], r["model_config"]
    dt = _dtype(r["precision"])
    if "max achievable" in w:
        s = re.search(r"shape (\d+)x(\d+)x(\d+)", cfg)
        if not s:
            return None
        M, N, K = map(int, s.groups())
        flops = 2.0 * M * N * K
        return M, N, K, dt, flops / (float(r["value"]) * 1e12)
    if "GEMM latency" in w:
        s = re.search(r"M=(\d+) N=(\d+) K=(\d+)", cfg)
        if not s:
            return None
        M, N, K = map(int, s.groups())
        if "hipBLASLt" in w:  # M = weight out-features, N = tokens
            M, N = N, M
        return M, N, K, dt, float(r["value"]) * 1e-3
    return None


def _stated_peak(r: dict) -> float | None:
    m = re.search(r"theoretical dense peak listed ([\d.]+) TFLOPS", r.get("notes", ""))
    return float(m.group(1)) * 1e12 if m else None


def _chip_key(name: str) -> tuple[str | None, str | None]:
    cid = resolve_chip_id(name)
    if cid:
        return cid, get_chip(cid).family
    for k, fam in OFF_CATALOG.items():
        if name.startswith(k):
            return None, fam
    return None, None


def _fit_gemm(chip_id, points, base_params, rows_peak, device_timed=True):
    """Least-squares fit of eff_compute[dtype], eff_mem, kernel overhead on log time."""
    from ..ops import PEAK_KEYS

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
    latency_rows = len(points) > len(dtypes)
    x0 = [0.8] * len(dtypes) + ([0.8, 5.0] if latency_rows else [])
    lo = [0.05] * len(dtypes) + ([0.2, 0.0] if latency_rows else [])
    hi = [1.0] * len(dtypes) + ([1.0, 60.0] if latency_rows else [])

    def model(x):
        eff = np.full(len(PEAK_KEYS), 0.8)
        for i, dt in enumerate(dtypes):
            eff[PEAK_KEYS.index(dt)] = x[i]
            if dt == "fp16" and "bf16" not in dtypes:
                eff[PEAK_KEYS.index("bf16")] = x[i]
        ch = dict(eff_compute=eff)
        if latency_rows:
            ch.update(eff_mem=x[len(dtypes)], kernel_overhead=x[len(dtypes) + 1] * 1e-6)
        else:
            ch.update(kernel_overhead=0.0)
        return evaluate(table, params.replace(**ch), check_support=False).time

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
    return out, resid


def _fit_collectives(rows, params):
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


def fit_all(rows: list[dict] | None = None, exclude: str | None = None) -> dict:
    """Fit every chip with microbenchmarks; `exclude` drops one catalog chip's rows
    (leave-one-chip-out: that chip then falls back to its family / generic means)."""
    rows = rows if rows is not None else read_microbenchmarks()
    by_chip: dict[str, list[dict]] = {}
    fam_of: dict[str, str] = {}
    for r in rows:
        cid, fam = _chip_key(r["accelerator"])
        key = cid or f"~{r['accelerator']}"
        if cid and cid == exclude:
            continue
        if fam is None:
            continue
        by_chip.setdefault(key, []).append(r)
        fam_of[key] = fam
    chips, fams_acc, sigmas = {}, {}, []
    for key, rs in by_chip.items():
        cid = None if key.startswith("~") else key
        base = get_chip(cid) if cid else get_chip({"nvidia-hopper": "h100-sxm", "nvidia-blackwell": "b200",
                                                    "nvidia-ampere": "a100-sxm", "amd-cdna2": "mi250x"}[fam_of[key]])
        from .calibration import Calibration

        p0 = Calibration(chip_id=base.id, eff_compute={"bf16": 0.8}).apply(base.params(calibration=Calibration(chip_id=base.id)))
        entry: dict = {"sources": []}
        gemm = [(r, _gemm_point(r)) for r in rs]
        gemm = [(r, g) for r, g in gemm if g is not None]
        if gemm:
            peaks = None
            if cid is None:
                peaks = {}
                for r, g in gemm:
                    pk = _stated_peak(r)
                    if pk:
                        peaks[g[3]] = pk
                if not peaks:
                    gemm = []  # no peak to relate to
            if gemm:
                device_timed = all("kernel time" in r["metric"] or "max achievable" in r["workload"] for r, _ in gemm)
                fit, resid = _fit_gemm(key, [g for _, g in gemm], p0, peaks, device_timed)
                entry.update(fit)
                entry["sources"] += [r["id"] for r, _ in gemm]
                if len(resid) > len(fit["eff_compute"]):
                    entry["sigma_log"] = round(float(np.sqrt(np.mean(resid**2))), 4)
                    sigmas.append(entry["sigma_log"])
        for r in rs:
            if "fraction of peak" in r["metric"] and "HBM" in r["workload"]:
                entry["eff_mem"] = float(r["value"])
                entry["sources"].append(r["id"])
        coll, ids = _fit_collectives(rs, p0)
        entry.update(coll)
        entry["sources"] += ids
        entry["family"] = fam_of[key]
        chips[key] = entry
        fams_acc.setdefault(fam_of[key], []).append(entry)

    def mean_of(entries):
        out: dict = {}
        effc: dict[str, list] = {}
        for e in entries:
            for dt, v in e.get("eff_compute", {}).items():
                effc.setdefault(dt, []).append(v)
        if effc:
            out["eff_compute"] = {dt: round(float(np.mean(v)), 4) for dt, v in effc.items()}
        for f in ("eff_mem", "eff_link", "kernel_overhead_us", "launch_overhead_us", "scaleup_latency_us", "sigma_log"):
            vals = [e[f] for e in entries if f in e]
            if vals:
                out[f] = round(float(np.mean(vals)), 4)
        out["members"] = sorted({e.get("chip", "") for e in entries} - {""})
        return out

    for k, e in chips.items():
        e["chip"] = k
    families = {f: mean_of(es) for f, es in fams_acc.items()}
    generic = mean_of(list(chips.values()))
    # held-out spread: a chip predicted from its family/generic mean misses by about the
    # spread of eff_compute across chips; use it as sigma for chips without a fit of their own
    effs = [np.log(v) for e in chips.values() for v in e.get("eff_compute", {}).values()]
    generic["sigma_log"] = round(float(max(np.std(effs) if effs else 0.25, np.mean(sigmas) if sigmas else 0.0)), 4)
    catalog_chips = {k: v for k, v in chips.items() if not k.startswith("~")}
    return {
        "about": "Fitted by `tapeout calibrate` (tapeout/perf/fit.py) from data/measured/microbenchmarks.csv only. "
                 "Do not edit by hand; re-run the command.",
        "excluded_chip": exclude,
        "chips": catalog_chips,
        "off_catalog": {k: v for k, v in chips.items() if k.startswith("~")},
        "families": families,
        "generic": generic,
    }


def write_fitted(fitted: dict, path: Path | None = None) -> Path:
    p = path or Path(str(resources.files("tapeout").joinpath("data", "calibration", "fitted.yaml")))
    p.write_text(yaml.safe_dump(fitted, sort_keys=False, width=120))
    return p


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
        cid, fam = _chip_key(r["accelerator"])
        if fam is None or (cid and cid == exclude) or cid is None:
            continue
        g = int(r["n_accelerators"])
        if g < 2:
            continue
        link = float(np.max(get_chip(cid).params().scaleup_bw))
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
