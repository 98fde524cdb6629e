"""Build or buy under uncertainty: a seeded, vectorized Monte Carlo of every admissible
candidate's fleet TCO over the performance intervals (perf/uncertainty.py, the calibration's
80% intervals read as log-normal) and the ranges of the economic inputs
(data/econ/decision_ranges.csv, NRE items of data/econ/nre_items.csv read as triangular).

Outputs: per candidate the probability of being the cheapest fleet that meets every SLO and
P10/P50/P90 fleet TCO; a tornado (each input at its low and high end, the rest at their
central values) with the value at which the answer flips; break-even program volume and fleet
size of the best design against the best chip to buy. The cost of one sample is closed form
(fleet = sum over workloads of ceil(demand / (throughput x factor x utilisation)) x TCO per
chip-year, TCO linear in price), so 10^4 samples are a few array operations."""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources

import numpy as np

from ..econ.prices import street_price
from ..errors import TapeoutError
from ..econ.program import break_even
from ..econ.tco import tco_per_chip_year
from .pricing import chips_needed, is_custom, tco_options, utilisation

RANGE_INPUTS = ("hbm_price_scale", "wafer_price_scale", "defect_density_scale", "usd_per_kwh", "gpu_street_price",
                "program_volume_scale")
Z80 = 1.2815515655446004  # an 80% interval is +-1.2816 sigma of a normal


@lru_cache(maxsize=1)
def default_ranges() -> dict[str, dict]:
    with resources.files("tapeout").joinpath("data", "econ", "decision_ranges.csv").open(newline="") as f:
        return {r["input"]: {"low": float(r["low"]), "high": float(r["high"]), "unit": r["unit"], "source": r["source"]}
                for r in csv.DictReader(f)}


def ranges_for(study) -> dict[str, tuple[float, float, float]]:
    """input -> (low, mid, high): study overrides, else the data file (mid = midpoint)."""
    out = {}
    for k, d in default_ranges().items():
        r = study.economics.ranges.get(k)
        lo, hi = (r.low, r.high) if r else (d["low"], d["high"])
        mid = r.mid if (r and r.mid is not None) else (lo + hi) / 2
        if k == "usd_per_kwh" and not r and study.economics.usd_per_kwh:
            mid = study.economics.usd_per_kwh
        out[k] = (lo, mid, hi)
    return out


def _perf_sigma(chip) -> float:
    from ..perf.uncertainty import FALLBACK_SIGMA, sigma_for

    try:
        return float(sigma_for(chip))
    except TapeoutError:  # a design the calibration cannot describe: the generic bound
        return FALLBACK_SIGMA


def _mfg_scale(chip, hbm, wafer, d0):
    """Manufacturing cost of a design at scaled HBM price, wafer price and defect density,
    relative to its central value (econ/yield_cost.unit_cost broadcasts over the samples)."""
    from ..econ.nodes import node_param
    from ..econ.yield_cost import unit_cost

    s, hw = chip.specs, chip._hw
    node = str(s["process_node"].value)
    n = max(1.0, float(hw["silicon_mm2"] / hw["die_area_mm2"]))
    kw = dict(n_dies=n, memory_gb=float(s["memory_capacity_gb"].value), memory_type=str(s["memory_type"].value))
    base = unit_cost(hw["die_area_mm2"], node, **kw)
    u = unit_cost(hw["die_area_mm2"], node, wafer_price_usd=float(node_param("wafer_price_usd", node)) * np.asarray(wafer),
                  d0_per_cm2=float(node_param("d0_per_cm2", node)) * np.asarray(d0), **kw)
    mfg = np.asarray(u["manufacturing"]) + np.asarray(u["memory"]) * (np.asarray(hbm) - 1) / np.asarray(u["package_yield"])
    return mfg / float(base["manufacturing"])


class FleetModel:
    """The fleet TCO of every candidate as a function of the uncertain inputs."""

    def __init__(self, study, matrix: list[dict], chips: list, programs: dict[str, dict]):
        self.study, self.chips, self.programs = study, chips, programs
        self.names = [c.id for c in chips]
        self.rows = {c.id: [r for r in matrix if r["chip"] == c.id and r.get("fleet_tco_usd_per_year")] for c in chips}
        self.sigma = np.array([_perf_sigma(c) for c in chips])
        self.prices = {c.id: (None if is_custom(c) else street_price(c.id, study.economics.prices)) for c in chips}
        self.util = utilisation(study)
        self.opts = {k: v for k, v in tco_options(study).items() if k != "usd_per_kwh"}
        self.nre_rows = {cid: p["nre_items"] for cid, p in programs.items()}

    def central(self) -> dict:
        r = ranges_for(self.study)
        x = {k: np.array([v[1]]) for k, v in r.items()}
        for cid, rows in self.nre_rows.items():
            x[f"nre:{cid}"] = np.array([sum(i["mid"] for i in rows)])
        x["perf"] = np.ones((len(self.chips), 1))
        return x

    def fleet_tco(self, x: dict) -> np.ndarray:
        """(candidates, samples) fleet TCO per year for input arrays `x` (each of shape (S,))."""
        S = len(x["usd_per_kwh"])
        out = np.zeros((len(self.chips), S))
        for i, c in enumerate(self.chips):
            f = x["perf"][i]
            need = [chips_needed(r, self.util, f) for r in self.rows[c.id]]
            if is_custom(c):
                p = self.programs[c.id]
                mfg = p["unit_cost_usd"] * _mfg_scale(c, x["hbm_price_scale"], x["wafer_price_scale"], x["defect_density_scale"])
                vol = p["program_volume"] * x["program_volume_scale"]
                if not (self.study.economics.program_volume or self.study.economics.volume):
                    vol = vol * sum(need) / max(p["fleet_chips"], 1)  # the derived volume follows the fleet
                price = mfg + x[f"nre:{c.id}"] / vol
            else:
                sp = self.prices[c.id]
                price = sp.low + x["gpu_street_price"] * (sp.high - sp.low)
            for r, n in zip(self.rows[c.id], need):
                t = tco_per_chip_year(price, r["power_w"], provisioned_w=r.get("tdp_w"), usd_per_kwh=x["usd_per_kwh"], **self.opts)
                out[i] += n * np.asarray(t["total_per_year"])
        return out

    def sample(self, n: int, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        x = {k: rng.uniform(lo, hi, n) for k, (lo, _, hi) in ranges_for(self.study).items()}
        for cid, rows in self.nre_rows.items():
            x[f"nre:{cid}"] = sum(rng.triangular(i["low"], i["mid"], i["high"], n) if i["high"] > i["low"] else np.full(n, i["mid"])
                                  for i in rows)
        # an 80% interval of +-Z80 sigma in log space: throughput factor exp(N(0, sigma))
        x["perf"] = np.exp(rng.standard_normal((len(self.chips), n)) * self.sigma[:, None])
        return x


def _with(x: dict, key: str, value, index: int | None = None) -> dict:
    y = {k: v.copy() for k, v in x.items()}
    if index is None:
        y[key] = np.full_like(y[key], value, dtype=float)
    else:
        y[key][index] = value
    return y


def _inputs(model: FleetModel, choice: int) -> list[tuple[str, str, int | None, float, float]]:
    """(label, key, row index, low, high) of every uncertain input."""
    out = [(k, k, None, lo, hi) for k, (lo, _, hi) in ranges_for(model.study).items()]
    for cid, rows in model.nre_rows.items():
        out.append((f"NRE of {cid} (USD)", f"nre:{cid}", None, sum(i["low"] for i in rows), sum(i["high"] for i in rows)))
    for i, c in enumerate(model.chips):
        lo, hi = math.exp(-Z80 * model.sigma[i]), math.exp(Z80 * model.sigma[i])
        out.append((f"throughput of {c.id} (x model, 80% interval)", "perf", i, lo, hi))
    return out


def decide(study, matrix: list[dict], chips: list, programs: dict[str, dict]) -> dict | None:
    """The decision block of results.json (None without two priced candidates)."""
    model = FleetModel(study, matrix, chips, programs)
    keep = [i for i, c in enumerate(chips) if model.rows[c.id] and all(
        r.get("fleet_tco_usd_per_year") for r in matrix if r["chip"] == c.id)]
    if not keep:
        return None
    model = FleetModel(study, matrix, [chips[i] for i in keep], programs)
    names = model.names
    e = study.economics
    x = model.sample(e.samples, e.seed)
    tco = model.fleet_tco(x)
    best = np.argmin(tco, axis=0)
    p_best = {n: float(np.mean(best == i)) for i, n in enumerate(names)}
    choice = int(np.argmax([p_best[n] for n in names]))
    pct = np.percentile(tco, [10, 50, 90], axis=1)
    center = model.central()
    c0 = model.fleet_tco(center)[:, 0]

    def margin(t):  # best alternative minus the choice (< 0: the answer flips)
        others = np.delete(t, choice, axis=0)
        return (others.min(axis=0) if len(others) else np.full(t.shape[1], np.inf)) - t[choice]

    tornado = []
    for label, key, idx, lo, hi in _inputs(model, choice):
        tl, th = model.fleet_tco(_with(center, key, lo, idx)), model.fleet_tco(_with(center, key, hi, idx))
        flip = _flip_value(model, center, key, idx, lo, hi, margin)
        tornado.append({"input": label, "low_value": lo, "high_value": hi, "tco_low": float(tl[choice, 0]),
                        "tco_high": float(th[choice, 0]), "margin_low": float(margin(tl)[0]), "margin_high": float(margin(th)[0]),
                        "flip_value": flip})
    tornado.sort(key=lambda t: -abs(t["margin_high"] - t["margin_low"]))
    return {
        "choice": names[choice], "point_estimate_choice": names[int(np.argmin(c0))],
        "p_best": p_best,
        "fleet_tco_usd_per_year": {n: {"p10": float(pct[0, i]), "p50": float(pct[1, i]), "p90": float(pct[2, i])}
                                   for i, n in enumerate(names)},
        "tornado": tornado,
        "break_even": break_even_block(model, c0),
        "samples": int(e.samples), "seed": int(e.seed),
        "method": "Monte Carlo over 80% performance intervals (log-normal) and uniform input ranges, triangular NRE items; "
                  "tornado: one input at a time at its range ends; flip value searched from 1/4 of the low to 4x the high end",
    }


def _flip_value(model, center, key, idx, lo, hi, margin) -> float | None:
    """The value of one input (others central) nearest its central value at which another
    candidate becomes cheaper than the choice (or the choice becomes cheapest again)."""
    a, b = (max(lo, 1e-9) / 4, hi * 4) if key not in ("gpu_street_price",) else (0.0, 1.0)
    grid = np.geomspace(a, b, 241) if a > 0 else np.linspace(a, b, 241)
    y = {k: (np.repeat(v, grid.size, axis=-1) if v.shape[-1] == 1 else v) for k, v in center.items()}
    if idx is None:
        y[key] = grid.astype(float)
    else:
        y[key] = y[key].copy()
        y[key][idx] = grid
    m = margin(model.fleet_tco(y))
    s = np.sign(m)
    cross = np.nonzero(s[1:] != s[:-1])[0]
    if not cross.size:
        return None
    mid = (lo + hi) / 2
    j = cross[np.argmin(np.abs(grid[cross] - mid))]
    # linear interpolation between the two grid points around the sign change
    g0, g1, m0, m1 = grid[j], grid[j + 1], m[j], m[j + 1]
    return float(g0 + (g1 - g0) * m0 / (m0 - m1)) if m0 != m1 else float(g0)


def break_even_block(model: FleetModel, c0: np.ndarray) -> dict:
    """Program volume and fleet size at which the best design matches the best chip to buy."""
    custom = [i for i, c in enumerate(model.chips) if is_custom(c)]
    bought = [i for i, c in enumerate(model.chips) if not is_custom(c)]
    if not custom or not bought:
        return {"volume": None, "fleet_size": None, "note": "needs a custom design and a chip to buy"}
    d, b = min(custom, key=lambda i: c0[i]), min(bought, key=lambda i: c0[i])
    chip, prog = model.chips[d], model.programs[model.chips[d].id]
    rows = model.rows[chip.id]
    n = np.array([r["chips_needed"] for r in rows], dtype=float)
    at = lambda price: np.array([float(tco_per_chip_year(price, r["power_w"], provisioned_w=r.get("tdp_w"),
                                                         **tco_options(model.study))["total_per_year"]) for r in rows])
    var = float(n @ at(prog["unit_cost_usd"]))  # fleet TCO of the design without NRE
    slope = float(n @ (at(prog["unit_cost_usd"] + 1.0) - at(prog["unit_cost_usd"])))  # per USD of price
    nre_year = slope * prog["nre_usd"]  # fleet TCO per year of NRE if charged on one chip; / volume
    buy = float(c0[b])
    vol = nre_year / (buy - var) if buy > var else None
    k = break_even(buy, var, nre_year / prog["program_volume"])
    return {"design": chip.id, "versus": model.chips[b].id, "volume": vol,
            "fleet_size": float(k * n.sum()) if k is not None else None,
            "demand_multiple": k, "program_volume": prog["program_volume"], "nre_usd": prog["nre_usd"],
            "note": ("the design never beats buying: its fleet costs more than the alternative even without NRE"
                     if vol is None else "volume: chips over the program at today's fleet; fleet_size: design chips needed "
                     "when demand scales (program volume scaling with it)")}
