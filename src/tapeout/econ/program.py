"""Program economics of an in-house accelerator: itemised NRE (data/econ/nre_items.csv), the
program volume that follows from the fleet plan, NRE per chip, and break-even against buying.

NRE items are either per program (USD), per mask set (count x data/econ/nodes.csv
mask_set_usd of the node) or per program year (the software team runs for the whole life).
Program volume = fleet size x (1 + growth)^(years - 1) x max(1, years / refresh years): the
chips bought for the largest fleet of the program plus replacements when chips are refreshed
within it. NRE per chip = NRE / program volume (Moonwalk, Khazraee et al. ASPLOS 2017: NRE
decides whether an accelerator fleet pays)."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import TapeoutError
from .nodes import node_param

LEVELS = ("low", "mid", "high")


@lru_cache(maxsize=1)
def nre_items() -> dict[str, dict]:
    with resources.files("tapeout").joinpath("data", "econ", "nre_items.csv").open(newline="") as f:
        return {r["item"]: {"low": float(r["low"]), "mid": float(r["mid"]), "high": float(r["high"]), "per": r["per"],
                            "status": r["status"], "source": r["source"]} for r in csv.DictReader(f)}


def check_range(name: str, low: float, high: float) -> None:
    if low > high:
        raise TapeoutError(f"{name}: low ({low:g}) is above high ({high:g}); give low <= high.")


def nre_breakdown(node: str, program_years: float, overrides: dict | None = None) -> list[dict]:
    """One row per NRE item, in USD at low / mid / high, with its basis. `overrides` maps an
    item to {low, mid, high} in the item's own unit (USD, mask sets, or USD per year)."""
    rows = []
    for item, d in nre_items().items():
        v = {k: d[k] for k in LEVELS}
        if overrides and item in overrides:
            v.update({k: float(x) for k, x in overrides[item].items() if x is not None})
            if "mid" not in overrides[item]:
                v["mid"] = (v["low"] + v["high"]) / 2 if not (v["low"] <= d["mid"] <= v["high"]) else d["mid"]
        check_range(f"economics.nre.{item}", v["low"], v["high"])
        if d["per"] == "mask_set":
            scale, unit = float(node_param("mask_set_usd", node)), f"mask sets x ${float(node_param('mask_set_usd', node)) / 1e6:.0f}M ({node})"
        elif d["per"] == "program_year":
            scale, unit = float(program_years), f"USD per year x {program_years:g} program years"
        else:
            scale, unit = 1.0, "USD"
        rows.append({"item": item, **{k: v[k] * scale for k in LEVELS}, "basis": unit, "status": d["status"],
                     "source": "economics.nre in the study file" if overrides and item in overrides else d["source"]})
    return rows


def nre_total(rows: list[dict], level: str = "mid") -> float:
    return float(sum(r[level] for r in rows))


def program_volume(fleet_size, years, refresh_years, growth=0.0):
    """Chips built over the program: peak fleet (after `years` of growth) x refresh cycles."""
    if np.any(np.asarray(growth) < -1):
        raise TapeoutError("economics.demand_growth must be >= -1 (-100% per year).")
    f = np.asarray(fleet_size, dtype=float) * (1.0 + np.asarray(growth, dtype=float)) ** (np.asarray(years, dtype=float) - 1)
    return f * np.maximum(1.0, np.asarray(years, dtype=float) / np.asarray(refresh_years, dtype=float))


def break_even(buy_cost: float, build_variable: float, build_fixed: float) -> float | None:
    """Scale k at which k x build_variable + build_fixed = k x buy_cost (fleet-size multiple at
    which building pays); None when building is never cheaper (variable cost not below buying)."""
    if build_variable >= buy_cost:
        return None
    return build_fixed / (buy_cost - build_variable)
