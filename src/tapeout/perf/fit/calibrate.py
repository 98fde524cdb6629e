"""The whole fit: every chip's calibration from microbenchmarks (fit_all), family and generic
means, power transfer and uncertainty sections, written to data/calibration/fitted.yaml (write_fitted).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from ...hardware.catalog import get_chip
from .clock_fit import at_boost
from .collective_fit import fit_collectives
from .core_share import chip_share, fitted_row, sub_chip
from .gemm import fit_gemm
from .kernels import fit_attention, fit_moe
from .power_transfer import fit_power_exponent, pool_power
from .same_silicon import pool_gemm_efficiency, silicon_key
from .rows import chip_key, gemm_point, read_attention_kernels, read_microbenchmarks, read_moe_kernels, stated_peak
from .uncertainty_fit import fit_uncertainty


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
        if not fitted_row(r):  # a row timed on part of a chip, CORE_SHARE_ROWS off (core_share.py)
            continue
        cid, fam = chip_key(r["accelerator"])
        key = cid or f"~{r['accelerator']}"
        if cid and cid in excl_set:
            continue
        if fam is None:
            continue
        by_chip.setdefault(key, []).append(r)
        fam_of[key] = fam
    chips, fams_acc, sigmas = {}, {}, []
    gemm_points: dict[str, dict[str, int]] = {}  # chip -> dtype -> GEMM rows fitted (same-silicon weights)
    attention_rows = read_attention_kernels()
    moe_rows = read_moe_kernels()
    for key, rs in by_chip.items():
        cid = None if key.startswith("~") else key
        base = get_chip(cid) if cid else get_chip({"nvidia-hopper": "h100-sxm", "nvidia-blackwell": "b200",
                                                    "nvidia-ampere": "a100-sxm", "amd-cdna2": "mi250x"}[fam_of[key]])
        from ..calibration import Calibration

        p0 = Calibration(chip_id=base.id, eff_compute={"bf16": 0.8}).apply(base.params(calibration=Calibration(chip_id=base.id)))
        entry: dict = {"sources": []}
        gemm = [(r, gemm_point(r)) for r in rs]
        gemm = at_boost(get_chip(cid) if cid else None, [(r, g) for r, g in gemm if g is not None])
        share = chip_share([r for r, _ in gemm])
        # GEMM rows timed on `share` of the chip's cores are fitted on that sub-chip (core_share.py)
        p_gemm = p0 if share is None else sub_chip(p0, share)
        if gemm:
            peaks = None
            if cid is None:
                peaks = {}
                for r, g in gemm:
                    pk = stated_peak(r)
                    if pk:
                        peaks[g[3]] = pk
                if not peaks:
                    gemm = []  # no peak to relate to
            if gemm:
                device_timed = all("kernel time" in r["metric"] or "max achievable" in r["workload"] for r, _ in gemm)
                fit, resid = fit_gemm(key, [g for _, g in gemm], p_gemm, peaks, device_timed,
                                       best_of_search=["max achievable" in r["workload"] for r, _ in gemm])
                entry.update(fit)
                entry["sources"] += [r["id"] for r, _ in gemm]
                for _, g in gemm:
                    gemm_points.setdefault(key, {}).setdefault(g[3], 0)
                    gemm_points[key][g[3]] += 1
                if "eff_mem" in fit and len(resid) > len(fit["eff_compute"]):  # a timed sweep (fit_gemm)
                    entry["sigma_log"] = round(float(np.sqrt(np.mean(resid**2))), 4)
                    sigmas.append(entry["sigma_log"])
        for r in rs:
            if "fraction of peak" in r["metric"] and "HBM" in r["workload"]:
                entry["eff_mem"] = float(r["value"])
                entry["sources"].append(r["id"])
        coll, ids = fit_collectives(rs, p0)
        entry.update(coll)
        entry["sources"] += ids
        entry["family"] = fam_of[key]
        chips[key] = entry
        fams_acc.setdefault(fam_of[key], []).append(entry)
    # same die at the same power: one body of GEMM evidence (same_silicon.py), before the
    # attention / MoE fits, which are relative to the GEMM efficiency
    for cid, members in pool_gemm_efficiency(chips, gemm_points, _silicon_key_of).items():
        chips[cid]["same_silicon"] = members
    for key, entry in chips.items():
        if not key.startswith("~") and entry.get("eff_compute"):
            entry.update(fit_attention(key, entry["eff_compute"], attention_rows))
            entry.update(fit_moe(key, entry["eff_compute"], moe_rows))

    def mean_of(entries):
        out: dict = {}
        effc: dict[str, list] = {}
        for e in entries:
            for dt, v in e.get("eff_compute", {}).items():
                effc.setdefault(dt, []).append(v)
        if effc:
            out["eff_compute"] = {dt: round(float(np.mean(v)), 4) for dt, v in effc.items()}
        # each format's efficiency relative to BF16 on the members that measured both (a member's
        # own power budget cancels in the ratio): what a member fitted on BF16 alone runs it at
        ratio: dict[str, list] = {}
        for e in entries:
            ec = e.get("eff_compute", {})
            for dt, v in ec.items():
                if dt != "bf16" and ec.get("bf16"):
                    ratio.setdefault(dt, []).append(v / ec["bf16"])
        if ratio:
            out["format_ratio_to_bf16"] = {dt: round(float(np.mean(v)), 4) for dt, v in ratio.items()}
        for f in ("eff_mem", "eff_link", "kernel_overhead_us", "launch_overhead_us", "scaleup_latency_us", "sigma_log",
                  "eff_attention", "attn_bwd_factor", "eff_moe", "tile_overhead_us"):
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
        pool.update(pool_power(pool.get("members", []), chips))
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


def _silicon_key_of(chip_id: str):
    return None if chip_id.startswith("~") else silicon_key(get_chip(chip_id))


def write_fitted(fitted: dict, path: Path | None = None) -> Path:
    p = path or Path(str(resources.files("tapeout").joinpath("data", "calibration", "fitted.yaml")))
    p.write_text(yaml.safe_dump(fitted, sort_keys=False, width=120))
    return p
