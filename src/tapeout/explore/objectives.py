"""Metrics, constraints and objectives of designs over a workload mix.

Mix: workload w runs graphs of `units_w` units on `chips_w` chips in t_w seconds using E_w
joules per chip. Traffic weights w_w (normalized to sum 1) say how many units of each
workload one *mix unit* contains, so per chip

    time per mix unit    T = sum_w  w_w chips_w t_w / units_w
    mix_throughput       1 / T                          (mix units/s per chip)
    energy per mix unit  E = sum_w  w_w chips_w E_w / units_w
    perf_per_watt        1 / E                          (mix units per joule)
    power_w              E / T                          (average chip power under the mix)
    perf_per_tco         mix_throughput x seconds/year / TCO per chip-year (econ.tco)
    slo_ratio            max_w t_w / SLO_w               (<= 1: every SLO met)

A design whose resident bytes (weights + KV cache + activations) exceed 90% of its memory
for any workload gets mix_throughput 0 and fits_memory 0 (always a constraint).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import TapeoutError
from ..hardware.memory_capacity import USABLE_MEMORY_FRACTION, quoted_gb
from ..ops import PEAK_KEYS
from . import mix as mixmod
from ..econ.floorplan import limit_mask
from .npu import hardware, npu_params

SECONDS_PER_YEAR = 8766.0 * 3600

HARDWARE_METRICS = ("die_area_mm2", "silicon_mm2", "tdp_w", "unit_cost_usd", "tpp", "pd", "export_class",
                    "band_2026", "peak_bf16_tflops", "peak_fp8_tflops", "peak_int8_tops", "mem_bw_gbs", "mem_gb",
                    "sram_mb", "clock_eff_ghz")
MIX_METRICS = ("mix_throughput", "power_w", "perf_per_watt", "perf_per_tco", "tco_usd_per_year", "slo_ratio",
               "slo_met", "fits_memory", "energy_per_mix_unit_j", "throughput_at_slo")


def column(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def workload_metric_names(wname: str) -> tuple[str, str]:
    c = column(wname)
    return f"thr_{c}", f"lat_ms_{c}"


def metric_names(space) -> set[str]:
    from ..econ.floorplan import FLOORPLAN_METRICS

    names = set(HARDWARE_METRICS) | set(MIX_METRICS) | set(FLOORPLAN_METRICS)
    for w in space.workloads:
        names.update(workload_metric_names(w.name))
    return names


class Evaluator:
    """Compiled workload mix + constraints + objectives of a space; call on design arrays."""

    def __init__(self, space, maturity=None, workloads: list | None = None):
        from .space import maturity_dict

        self.space = space
        self.maturity = maturity_dict(space.maturity if maturity is None else maturity)
        self.mix = workloads if workloads is not None else [mixmod.compile_workload(w) for w in space.workloads]
        wsum = sum(w.weight for w in self.mix)
        self.shares = [w.weight / wsum for w in self.mix]

    # -------------------------------------------------------------------- metrics
    def metrics(self, design: dict) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):
            return self._metrics(design)

    def _metrics(self, design: dict) -> dict[str, np.ndarray]:
        hw = hardware(design)
        d = hw["design"]
        p = mixmod.apply_maturity(npu_params(d, 1.0, hw), self.maturity)
        D = d["cores"].shape[0]
        cap = hw["mem"]["mem_capacity"] * USABLE_MEMORY_FRACTION
        T = np.zeros(D)
        E = np.zeros(D)
        fits = np.ones(D, dtype=bool)
        slo_ratio = np.zeros(D)
        out: dict[str, np.ndarray] = {}
        for w, share in zip(self.mix, self.shares):
            t, e = mixmod.graph_cost(w, p, d, hw["clock_eff_ghz"], self.maturity)
            ok = w.memory_bytes <= cap
            fits &= ok
            thr_name, lat_name = workload_metric_names(w.name)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[thr_name] = np.where(ok, w.units / (t * w.chips), 0.0)
            out[lat_name] = t * 1e3
            T += share * w.chips * t / w.units
            E += share * w.chips * e / w.units
            if w.slo_s is not None:
                slo_ratio = np.maximum(slo_ratio, t / w.slo_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            thr = np.where(fits, 1.0 / T, 0.0)
            ppw = np.where(fits, 1.0 / E, 0.0)
            power = np.minimum(E / T, hw["tdp_w"])
        tco = np.asarray(hw["_tco"](hw["unit_cost_usd"], power)["total_per_year"], dtype=float)
        slo_met = (slo_ratio <= 1.0).astype(float)
        out.update({
            "die_area_mm2": hw["die_area_mm2"], "silicon_mm2": hw["silicon_mm2"], "tdp_w": hw["tdp_w"],
            "unit_cost_usd": hw["unit_cost_usd"], "tpp": hw["tpp"], "pd": hw["pd"], "export_class": hw["export_class"],
            "band_2026": hw["band_2026"],
            "peak_bf16_tflops": hw["peaks"][PEAK_KEYS.index("bf16")] / 1e12,
            "peak_fp8_tflops": hw["peaks"][PEAK_KEYS.index("fp8")] / 1e12,
            "peak_int8_tops": hw["peaks"][PEAK_KEYS.index("int8")] / 1e12,
            "mem_bw_gbs": hw["mem"]["mem_bw"] / 1e9, "mem_gb": quoted_gb(hw["mem"]["mem_capacity"]),
            "sram_mb": hw["sram_mb"], "clock_eff_ghz": hw["clock_eff_ghz"],
            "mix_throughput": thr, "power_w": power, "perf_per_watt": ppw,
            "perf_per_tco": thr * SECONDS_PER_YEAR / tco, "tco_usd_per_year": tco,
            "slo_ratio": slo_ratio, "slo_met": slo_met, "fits_memory": fits.astype(float),
            "energy_per_mix_unit_j": E, "throughput_at_slo": thr * slo_met,
        })
        out.update(floorplan_margins(self.space.floorplan.settings(), hw))
        viol, feas = self.constraints(out, d)
        out["violation"] = viol
        out["feasible"] = feas.astype(float)
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}

    # -------------------------------------------------------------------- constraints
    def constraint_masks(self, m: dict, design: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """[(label, ok mask, normalized violation >= 0)] including the implicit memory fit."""
        from ..econ.buildable import reticle_mask
        from .npu import load_template

        t = load_template()
        res = [("workloads fit in memory", m["fits_memory"] > 0, 1.0 - m["fits_memory"])]
        for c in self.space.effective_constraints():
            if c.metric is not None:
                v = m[c.metric]
                ok = np.ones(v.shape, dtype=bool)
                g = np.zeros(v.shape)
                if c.max is not None:
                    ok &= v <= c.max
                    g += np.maximum(v - c.max, 0) / max(abs(c.max), 1e-9)
                if c.min is not None:
                    ok &= v >= c.min
                    g += np.maximum(c.min - v, 0) / max(abs(c.min), 1e-9)
            elif c.export is not None:
                cls = m["export_class"]
                ok = np.zeros(cls.shape, dtype=bool)
                for s in c.export:
                    ok |= {"not_controlled": cls == 0, "3A090.b": (cls == 1) | (cls == 2),
                           "3A090.a": cls >= 3, "band_2026": m["band_2026"] > 0}[s]
                g = np.where(ok, 0.0, 1.0 + m["tpp"] / 1e4)
            elif c.allowed is not None:
                ok = np.ones(m["tdp_w"].shape, dtype=bool)
                for k, vals in c.allowed.items():
                    codes = [t.params[k].code(v) for v in vals]
                    ok &= np.isin(design[k], codes)
                g = (~ok).astype(float)
            elif c.slo:
                ok = m["slo_ratio"] <= 1.0
                g = np.maximum(m["slo_ratio"] - 1.0, 0.0)
            elif c.limit is not None:
                ok, g = limit_mask(m, c.limit)
            else:  # reticle, per die
                ok, g = reticle_mask(m["die_area_mm2"])
            res.append((c.label(), ok, g))
        return res

    def constraints(self, m: dict, design: dict):
        masks = self.constraint_masks(m, design)
        feas = np.ones(m["tdp_w"].shape, dtype=bool)
        viol = np.zeros(m["tdp_w"].shape)
        for _, ok, g in masks:
            feas &= ok
            viol += np.where(ok, 0.0, np.maximum(g, 1e-6))
        return viol, feas

    # -------------------------------------------------------------------- objectives
    def objective_matrix(self, m: dict) -> np.ndarray:
        """(D, n_obj) matrix to minimize (max goals negated)."""
        cols = [(-1.0 if o.goal == "max" else 1.0) * np.asarray(m[o.metric], dtype=float) for o in self.space.objectives]
        return np.stack(cols, axis=1)


def floorplan_margins(settings, hw: dict) -> dict[str, np.ndarray]:
    """The five floorplan limits (econ.floorplan) of designs from their hardware() record."""
    from ..econ.floorplan import margins

    return margins(settings, edge_needed=hw["edge_needed_mm"], edge_available=hw["edge_available_mm"],
                   package_mm2=hw["package_mm2"], hbm_stacks=hw["hbm_stacks"], power_w=hw["tdp_w"],
                   footprint_mm2=hw["silicon_mm2"], hotspot_w_mm2=hw["hotspot_w_mm2"])


def no_feasible_error(space, removed: dict[str, int], total: int) -> TapeoutError:
    worst = max(removed.items(), key=lambda kv: kv[1]) if removed else ("?", 0)
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(removed.items(), key=lambda kv: -kv[1])[:4])
    from ..econ.buildable import FIXES, LABELS

    fix = {LABELS[k]: v for k, v in FIXES.items()}.get(worst[0])
    hint = (f"It is a physical limit: {fix}; or opt out with 'physical_limits: false' in the space (or drop the "
            f"declared limit)." if fix else "Relax it or widen the parameter ranges.")
    return TapeoutError(
        f"no feasible design in '{space.name}' ({total} evaluated). The constraint that removed the most designs is "
        f"'{worst[0]}' ({worst[1]} of {total}); designs failing each: {detail}. {hint}"
    )
