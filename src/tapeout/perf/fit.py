"""Fit calibration factors to microbenchmarks (and only to microbenchmarks).

Reads data/measured/microbenchmarks.csv and, per chip, fits the free factors of the same
op-cost model the predictions use (perf/opcost.py):
  - GEMM rows (best-shape MAMF throughput, tuned GEMM latency sweeps): eff_compute per
    dtype, eff_mem and the per-kernel overhead, by least squares on log time;
  - streaming-bandwidth rows: eff_mem directly;
  - collective rows (NCCL/RCCL bus bandwidth vs payload): eff_link (ring rows only) and
    the per-step latency of the alpha-beta model;
  - fused-attention kernel rows (data/calibration/attention_kernels.csv, published kernel
    rates): eff_attention, the attention kernel's efficiency as a fraction of the chip's
    fitted GEMM efficiency (forward, causal mask), and attn_bwd_factor, how much slower per
    FLOP the backward kernel runs than the forward one (fit_attention);
  - fused-MoE kernel rows (data/calibration/moe_kernels.csv, published kernel timings of a
    MoE layer's experts): eff_moe, the grouped expert GEMMs' efficiency as a fraction of the
    chip's dense GEMM efficiency (fit_moe).
Chips outside the catalog (GH200, B300, MI210, A100-PCIe) contribute to their family mean
through the peak the row itself states. Writes data/calibration/fitted.yaml with the row
ids behind every number and the residual spread (sigma of log error) used for intervals.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import least_squares

from ..hardware.catalog import get_chip, resolve_chip_id
from ..ops import Attention, MatMul, OpGraph, OpTable
from .calibration import calibrated_params
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


def read_attention_kernels(path: Path | None = None) -> list[dict]:
    p = path or resources.files("tapeout").joinpath("data", "calibration", "attention_kernels.csv")
    with open(p, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def fit_attention(chip_id: str, eff_compute: dict, rows: list[dict], impl: str = "cudnn") -> dict:
    """eff_attention and attn_bwd_factor of one chip from its fused-attention kernel rows.

    Each row's measured time (paper FLOPs / measured rate) is compared with the op-cost
    model's time for the same Attention op at the chip's fitted GEMM efficiency; the ratio
    model/measured is the attention kernel's efficiency relative to the GEMM's (tile and wave
    quantisation stay in the model). Median over sequence lengths per (direction, mask).
      eff_attention   = ratio(forward, causal)                 [LLM attention is causal]
      attn_bwd_factor = ratio(forward, no mask) / ratio(backward, no mask)
    (the papers time the backward pass without a mask only; the causal penalty is assumed
    to be the same in both directions)."""
    from .calibration import Calibration

    rs = [r for r in rows if r["chip"] == chip_id and r["impl"] == impl]
    if not rs or "bf16" not in eff_compute:
        return {}
    chip = get_chip(chip_id)
    p = Calibration(chip_id=chip_id, eff_compute=dict(eff_compute)).apply(chip.params(calibration=Calibration(chip_id=chip_id)))
    ratios: dict[tuple[str, bool], list[float]] = {}
    for r in rs:
        s, b, h, d = int(r["seq_len"]), int(r["batch"]), int(r["heads"]), int(r["head_dim"])
        causal, bwd = r["causal"].lower() == "true", r["direction"] == "bwd"
        op = Attention(name="attn", batch=b, q_len=s, kv_len=s, heads=h, kv_heads=h, d_qk=d, d_v=d, causal=causal,
                       act_dtype=r["dtype"], kv_dtype=r["dtype"])
        t_model = float(evaluate(OpGraph(name="attn", ops=[op]), p).total_time) * (2.5 if bwd else 1.0)
        paper_flops = 4.0 * s * s * d * h * b * (0.5 if causal else 1.0) * (2.5 if bwd else 1.0)
        t_meas = paper_flops / (float(r["tflops"]) * 1e12)
        ratios.setdefault((r["direction"], causal), []).append(t_model / t_meas)
    med = {k: float(np.median(v)) for k, v in ratios.items()}
    out: dict = {"attention_sources": [r["id"] for r in rs]}
    if ("fwd", True) in med:
        out["eff_attention"] = round(med[("fwd", True)], 4)
    if ("fwd", False) in med and ("bwd", False) in med:
        out["attn_bwd_factor"] = round(med[("fwd", False)] / med[("bwd", False)], 4)
    return out


def read_moe_kernels(path: Path | None = None) -> list[dict]:
    p = path or resources.files("tapeout").joinpath("data", "calibration", "moe_kernels.csv")
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def fit_moe(chip_id: str, eff_compute: dict, rows: list[dict]) -> dict:
    """eff_moe of one chip from published fused-MoE kernel timings (one MoE layer's expert
    FFN: both grouped GEMMs and the activation, per token count).

    The model's time for those ops (workloads/llm.py moe_block at the row's model, TP and
    token count; roofline max(compute / eff_moe, memory) + kernel overhead, the chip's
    fitted GEMM efficiency) is fitted to the measured times by least squares on log time.
    eff_moe only scales the compute term, so the weight-streaming rows (few tokens) leave
    it free and the compute-bound rows set it."""
    from ..precision import get_precision
    from ..workloads.llm import LLMStep, build_llm_graph
    from ..workloads.llm_config import load_llm
    from .calibration import Calibration

    rs = [r for r in rows if r["chip"] == chip_id]
    if not rs or "bf16" not in eff_compute:
        return {}
    chip = get_chip(chip_id)
    p = Calibration(chip_id=chip_id, eff_compute=dict(eff_compute)).apply(chip.params(calibration=Calibration(chip_id=chip_id)))
    tables, meas = [], []
    for r in rs:
        g = build_llm_graph(load_llm(r["model"]), LLMStep("decode", int(r["tokens"]), 1, 1, get_precision(r["dtype"]),
                                                         int(r["tp"]), 1))
        keep = [o for o in g.ops if o.name.startswith("experts_")]
        tables.append(OpTable.from_ops([dataclasses.replace(o, count=1) for o in keep]))  # one layer
        meas.append(float(r["time_us"]) * 1e-6)
    meas = np.array(meas)

    def model(x):
        q = p.replace(eff_moe=float(x[0]))
        return np.array([float(evaluate(t, q).total_time) for t in tables])

    res = least_squares(lambda x: np.log(model(x)) - np.log(meas), [0.8], bounds=([0.05], [1.0]))
    resid = np.log(model(res.x)) - np.log(meas)
    return {"moe_sources": [r["id"] for r in rs], "eff_moe": round(float(res.x[0]), 4),
            "moe_sigma_log": round(float(np.sqrt(np.mean(resid ** 2))), 4)}


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
    from ..ops import PEAK_KEYS

    p1 = params.replace(eff_compute=np.ones(len(PEAK_KEYS)), kernel_overhead=0.0)
    out = "bf16" if dtype == "fp8" else dtype
    ops = [MatMul(name="s", m=m, n=n, k=k, a_dtype=dtype, w_dtype=dtype, out_dtype=out, math_dtype=dtype)
           for m in SEARCH_DIMS for n in SEARCH_DIMS for k in SEARCH_K]
    t = np.asarray(evaluate(OpTable.from_ops(ops), p1, check_support=False).time, dtype=float)
    flops = np.array([2.0 * o.m * o.n * o.k for o in ops])
    peak = float(np.asarray(p1.peak_flops)[PEAK_KEYS.index(dtype)])
    return float(np.max(flops / t) / peak) if peak > 0 else 1.0


def _fit_gemm(chip_id, points, base_params, rows_peak, device_timed=True, best_of_search=None):
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

    best = np.array(best_of_search if best_of_search is not None else [False] * len(points), dtype=bool)
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


def fit_all(rows: list[dict] | None = None, exclude: str | None = None, uncertainty: bool = True) -> dict:
    """Fit every chip with microbenchmarks; `exclude` drops one catalog chip's rows
    (leave-one-chip-out: that chip then falls back to its family / generic means).
    `exclude` may also be a set of chip ids (nested leave-one-out in fit_uncertainty).
    With `uncertainty`, adds the "uncertainty" section (per-term sigmas, see
    fit_uncertainty) computed by leave-one-chip-out on the same microbenchmarks."""
    rows = rows if rows is not None else read_microbenchmarks()
    excl_set = set(exclude) if isinstance(exclude, (set, frozenset, list, tuple)) else ({exclude} if exclude else set())
    by_chip: dict[str, list[dict]] = {}
    fam_of: dict[str, str] = {}
    for r in rows:
        cid, fam = _chip_key(r["accelerator"])
        key = cid or f"~{r['accelerator']}"
        if cid and cid in excl_set:
            continue
        if fam is None:
            continue
        by_chip.setdefault(key, []).append(r)
        fam_of[key] = fam
    chips, fams_acc, sigmas = {}, {}, []
    attention_rows = read_attention_kernels()
    moe_rows = read_moe_kernels()
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
                fit, resid = _fit_gemm(key, [g for _, g in gemm], p0, peaks, device_timed,
                                       best_of_search=["max achievable" in r["workload"] for r, _ in gemm])
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
        if cid and entry.get("eff_compute"):
            entry.update(fit_attention(cid, entry["eff_compute"], attention_rows))
            entry.update(fit_moe(cid, entry["eff_compute"], moe_rows))
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
        for f in ("eff_mem", "eff_link", "kernel_overhead_us", "launch_overhead_us", "scaleup_latency_us", "sigma_log",
                  "eff_attention", "attn_bwd_factor", "eff_moe"):
            vals = [e[f] for e in entries if f in e]
            if vals:
                out[f] = round(float(np.mean(vals)), 4)
        out["members"] = sorted({e.get("chip", "") for e in entries} - {""})
        return out

    for k, e in chips.items():
        e["chip"] = k
    families = {f: mean_of(es) for f, es in fams_acc.items()}
    generic = mean_of(list(chips.values()))
    for pool in (*families.values(), generic):
        pool.update(_pool_power(pool.get("members", []), chips))
    # held-out spread: a chip predicted from its family/generic mean misses by about the
    # spread of eff_compute across chips; use it as sigma for chips without a fit of their own
    effs = [np.log(v) for e in chips.values() for v in e.get("eff_compute", {}).values()]
    generic["sigma_log"] = round(float(max(np.std(effs) if effs else 0.25, np.mean(sigmas) if sigmas else 0.0)), 4)
    catalog_chips = {k: v for k, v in chips.items() if not k.startswith("~")}
    out = {
        "about": "Fitted by `tapeout calibrate` (tapeout/perf/fit.py) from data/measured/microbenchmarks.csv only. "
                 "Do not edit by hand; re-run the command.",
        "excluded_chip": exclude if not isinstance(exclude, (set, frozenset, list, tuple)) else sorted(exclude),
        "chips": catalog_chips,
        "off_catalog": {k: v for k, v in chips.items() if k.startswith("~")},
        "families": families,
        "generic": generic,
    }
    out["power_transfer"] = fit_power_exponent(catalog_chips)
    if uncertainty:
        out["uncertainty"] = fit_uncertainty(rows, out, excl_set)
    return out


# ---- power-limited clocks: transferring a pool's GEMM efficiency to a chip ---------------
# A chip that borrows eff_compute from its family/generic pool may have a different power
# budget per peak FLOP than the pool's members. Under a power cap the sustained clock falls
# with the budget: dynamic power ~ f V^2 and V ~ f in the DVFS range give f ~ P^(1/3) at most
# (e.g. Horowitz, ISSCC 2014 energy scaling); measured pairs of the *same silicon* at
# different TDPs give the exponent. Transfer: eff_chip = eff_pool x (pd_chip / pd_pool)^gamma,
# pd = TDP watts per dense BF16 TFLOP/s, capped at the best own-fit efficiency in the pool.


def power_density(chip) -> float | None:
    """TDP watts per dense BF16 (else FP16) peak TFLOP/s; None without both numbers."""
    try:
        tdp = chip.get("tdp_w")
        pk = chip.peak_tflops("bf16") or chip.peak_tflops("fp16")
    except AttributeError:
        return None
    if not isinstance(tdp, (int, float)) or not tdp or not pk:
        return None
    return float(tdp) / float(pk)


def _pool_power(members: list[str], chips: dict) -> dict:
    """Geometric-mean power density of a pool's fitted catalog chips, and its best
    efficiency per dtype (the cap of any transfer)."""
    pds, best = [], {}
    for m in members:
        e = chips.get(m, {})
        if not e.get("eff_compute") or m.startswith("~"):
            continue
        pd = power_density(get_chip(m))
        if pd:
            pds.append(math.log(pd))
        for dt, v in e["eff_compute"].items():
            best[dt] = max(best.get(dt, 0.0), float(v))
    out: dict = {}
    if pds:
        out["power_density_w_per_tflops"] = round(math.exp(float(np.mean(pds))), 4)
    if best:
        out["eff_compute_max"] = {k: round(v, 4) for k, v in best.items()}
    return out


def fit_power_exponent(chips: dict) -> dict:
    """gamma from pairs of fitted chips on the same silicon (same family, same core count and
    dense BF16 peak per core) with different power density: gamma = ln(eff_a/eff_b) /
    ln(pd_a/pd_b) per shared dtype, averaged; clipped to [0, 1/3] (f ~ P^(1/3) bound)."""
    ids = [c for c in chips if chips[c].get("eff_compute")]
    pairs, gammas = [], []
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            ca, cb = get_chip(a), get_chip(b)
            if ca.family != cb.family or ca.get("num_cores") != cb.get("num_cores"):
                continue
            ka, kb = (c.peak_tflops("bf16") or c.peak_tflops("fp16") for c in (ca, cb))
            if not ka or not kb or abs(ka / kb - 1.0) > 0.02:  # same clocks on paper: same silicon config
                continue
            pa, pb = power_density(ca), power_density(cb)
            if not pa or not pb or abs(math.log(pa / pb)) < 0.05:
                continue
            for dt in set(chips[a]["eff_compute"]) & set(chips[b]["eff_compute"]):
                g = math.log(chips[a]["eff_compute"][dt] / chips[b]["eff_compute"][dt]) / math.log(pa / pb)
                gammas.append(g)
                pairs.append({"chips": [a, b], "dtype": dt, "power_density": [round(pa, 4), round(pb, 4)],
                              "gamma": round(g, 4)})
    gamma = float(np.clip(np.mean(gammas), 0.0, 1.0 / 3.0)) if gammas else 0.0
    se = float(np.std(gammas, ddof=1) / math.sqrt(len(gammas))) if len(gammas) > 1 else None
    return {"gamma": round(gamma, 4), "gamma_std_error": round(se, 4) if se is not None else None, "pairs": pairs,
            "method": "same-silicon pairs of fitted chips (perf/fit.py fit_power_exponent); gamma=0 when none"}


# ---- prediction uncertainty: leave-one-chip-out on the microbenchmarks ------------------
# Every sigma below is the RMS of log(predicted / measured) of microbenchmark rows (or of
# calibrated factors) under a calibration that did not see them. Nothing here reads
# the end-to-end validation rows. perf/uncertainty.py turns these into an interval per prediction.
TERMS = ("compute", "memory", "link")


def _rms(x) -> float | None:
    a = np.asarray(list(x), dtype=float)
    return round(float(np.sqrt(np.mean(a**2))), 4) if len(a) else None


def _lookup(fitted: dict, chip, f: str) -> float | None:
    for src in (fitted.get("chips", {}).get(getattr(chip, "calibration_id", chip.id), {}), fitted.get("families", {}).get(chip.family, {}),
                fitted.get("generic", {})):
        if src.get(f) is not None:
            return float(src[f])
    return None


def gemm_log_residuals(chip, rs: list[dict], fitted: dict) -> np.ndarray:
    """log(predicted / measured) time of a catalog chip's GEMM rows under calibration `fitted`,
    timed as each row was measured (same conventions as _fit_gemm: best-shape MAMF rows have no
    per-kernel overhead; host-timed sweeps carry the launch overhead instead)."""
    from .calibration import calibration_for

    pts = [(r, _gemm_point(r)) for r in rs]
    pts = [(r, g) for r, g in pts if g is not None]
    if not pts:
        return np.array([])
    p = chip.params(calibration=calibration_for(chip, fitted))
    launch = _lookup(fitted, chip, "launch_overhead_us")
    out = []
    for r, (M, N, K, dt, t_meas) in pts:
        op = MatMul(name="g", m=M, n=N, k=K, a_dtype=dt, w_dtype=dt, out_dtype="bf16" if dt == "fp8" else dt, math_dtype=dt)
        if "max achievable" in r["workload"]:  # best of a search (see best_search_utilisation)
            from ..ops import PEAK_KEYS

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
    eff = _lookup(fitted, chip, "eff_link")
    alpha = (_lookup(fitted, chip, "scaleup_latency_us") or 0.0) * 1e-6
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
        rows.append((int(m.group(1)) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[m.group(2)], g, float(r["value"]) * 1e9))
    if not rows:
        return np.array([])
    gmax = max(g for _, g, _ in rows)  # smaller groups on a mesh use fewer links (as in _fit_collectives)
    out = []
    for S, g, busbw in rows:
        if g != gmax:
            continue
        t_meas = 2 * (g - 1) / g * S / busbw
        t_pred = 2 * (g - 1) * alpha + 2 * (g - 1) / g * S / (link * eff)
        out.append(math.log(t_pred / t_meas))
    return np.array(out)


def fit_uncertainty(rows: list[dict], fitted: dict, excl_set: set | None = None) -> dict:
    """Per-term log-space sigmas, by where a chip's calibration comes from.

    compute (GEMM kernels, incl. their shape dependence and per-kernel overhead):
      own_sweep      the chip's own fit residual over its GEMM sweep (chips[..].sigma_log)
      own_peak_only  chips whose only GEMM rows are best-shape (MAMF) points: for each chip
                     WITH a sweep, drop the sweep, keep its MAMF rows, refit, predict the
                     dropped sweep rows; RMS over chips of the per-chip RMS
      family/generic drop ALL of a chip's rows, refit, predict its best-shape (MAMF) rows
                     from the family (or generic) mean it then falls back to; pooled per
                     fallback level. This is the error of the peak fraction only; the
                     interval adds own_peak_only in quadrature (shape transfer, independent)
    memory / link (factors eff_mem / eff_link):
      own            residual of the rows behind the factor (memory: the GEMM-sweep fit
                     residual, the only rows whose fit involves eff_mem; link: alpha-beta
                     ring model vs the chip's bus-bandwidth rows)
      family/generic drop the chip, refit, log(fallback factor / own factor); the interval
                     adds `own` in quadrature (the held-out factor was itself fitted)
    A level with fewer than 2 held-out chips pools all held-out chips of the term (stated
    in `note`)."""
    from ..hardware.catalog import get_chip
    from .calibration import calibration_for

    excl_set = set(excl_set or ())
    by_chip: dict[str, list[dict]] = {}
    for r in rows:
        cid, _ = _chip_key(r["accelerator"])
        if cid and cid not in excl_set:
            by_chip.setdefault(cid, []).append(r)
    chips_fit = fitted.get("chips", {})
    out: dict = {"method": "leave-one-chip-out on microbenchmarks.csv (perf/fit.py fit_uncertainty); "
                           "sigma = RMS of log(predicted/measured)"}
    # compute: own sweep residuals
    own_sweep = {k: float(e["sigma_log"]) for k, e in chips_fit.items() if "sigma_log" in e}
    # compute: own best-shape point only, curve borrowed
    peak_only: dict[str, float] = {}
    for cid, rs in by_chip.items():
        if cid not in own_sweep:
            continue
        sweep_ids = {r["id"] for r in rs if _gemm_point(r) is not None and "max achievable" not in r["workload"]}
        if not any("max achievable" in r["workload"] for r in rs):
            continue
        f_ex = fit_all([r for r in rows if r["id"] not in sweep_ids], exclude=excl_set or None, uncertainty=False)
        res = gemm_log_residuals(get_chip(cid), [r for r in rs if r["id"] in sweep_ids], f_ex)
        if len(res):
            peak_only[cid] = _rms(res)
    # drop every row of the chip
    levels: dict[str, dict[str, dict[str, float]]] = {t: {"family": {}, "generic": {}} for t in TERMS}
    link_own: dict[str, float] = {}
    for cid, rs in by_chip.items():
        chip = get_chip(cid)
        f_ex = fit_all(rows, exclude=excl_set | {cid}, uncertainty=False)
        cal_ex = calibration_for(chip, f_ex)
        lvl = lambda f: "family" if cal_ex.origin.get(f, "").startswith("family") else "generic"  # noqa: E731
        res = gemm_log_residuals(chip, [r for r in rs if "max achievable" in r["workload"]], f_ex)
        if len(res):  # best-shape rows only: the peak fraction; shape transfer is own_peak_only
            levels["compute"][lvl("eff_compute")][cid] = _rms(res)
        own = chips_fit.get(cid, {})
        for term, f in (("memory", "eff_mem"), ("link", "eff_link")):
            if own.get(f) is not None:
                levels[term][lvl(f)][cid] = round(abs(math.log(getattr(cal_ex, f) / float(own[f]))), 4)
        if own.get("eff_link") is not None:
            lr = link_log_residuals(chip, rs, fitted)
            if len(lr):
                link_own[cid] = _rms(lr)

    def level(term: str, name: str) -> dict:
        per = levels[term][name]
        if len(per) >= 2:
            return {"sigma": _rms(per.values()), "chips": per}
        pooled = {**levels[term]["family"], **levels[term]["generic"]}
        return {"sigma": _rms(pooled.values()), "chips": per,
                "note": f"fewer than 2 held-out chips fall back to the {name} level; pooled all held-out chips "
                        f"({', '.join(sorted(pooled)) or 'none'})"}

    sweep_pool = _rms(own_sweep.values())
    out["compute"] = {
        "own_sweep": {"sigma": sweep_pool, "chips": dict(own_sweep),
                      "note": "a chip with its own sweep uses its own sigma_log; this pooled value is used by memory.own"},
        "own_peak_only": {"sigma": _rms(peak_only.values()), "chips": peak_only},
        "family": level("compute", "family"),
        "generic": level("compute", "generic"),
    }
    out["memory"] = {
        "own": {"sigma": sweep_pool, "chips": dict(own_sweep), "note": "pooled GEMM-sweep fit residual (eff_mem is fitted there)"},
        "family": level("memory", "family"),
        "generic": level("memory", "generic"),
    }
    out["link"] = {
        "own": {"sigma": _rms(link_own.values()), "chips": link_own,
                "note": "alpha-beta ring model vs the chip's full-domain bus-bandwidth rows (all payloads)"},
        "family": level("link", "family"),
        "generic": level("link", "generic"),
    }
    return out


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
