"""Owned TCO of a catalog chip at its street price, set against published anchors
(data/econ/anchors_tco.csv: all-in cluster capex per GPU and TCO per owned GPU-hour)."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

from ..errors import TapeoutError
from .nodes import coef
from .prices import street_price
from .tco import HOURS_PER_YEAR, tco_per_chip_year


@lru_cache(maxsize=1)
def tco_anchors() -> dict[tuple[str, str], dict]:
    with resources.files("tapeout").joinpath("data", "econ", "anchors_tco.csv").open(newline="") as f:
        return {(r["anchor"], r["chip_id"]): r for r in csv.DictReader(f)}


def _vs(value: float, a: dict | None) -> str:
    if not a:
        return ""
    lo, hi = float(a["low"]), float(a["high"])
    where = "inside" if lo <= value <= hi else "outside"
    return f"published {lo:,.2f}-{hi:,.2f} {a['unit']} ({where}; {a['source']})"


def owned_tco(chip) -> dict | None:
    """TCO per chip-year and per hour of ownership at the street price, average power
    avg_power_fraction x TDP, facility built for TDP; None without a price or a TDP."""
    try:
        sp = street_price(chip.id)
    except TapeoutError:
        return None
    tdp = chip.get("tdp_w")
    if not isinstance(tdp, float):
        return None
    t = tco_per_chip_year(sp.price_usd, tdp * coef("avg_power_fraction"), provisioned_w=tdp)
    per_h = float(t["total_per_year"]) / HOURS_PER_YEAR
    return {
        "price_usd": sp.price_usd, "price_basis": sp.basis, "capex_usd": float(t["capex"]["total"]),
        "parts_per_year": {k: float(t[k]) for k in ("capex_per_year", "facility_per_year", "maintenance_per_year", "energy_per_year")},
        "per_year": float(t["total_per_year"]), "per_hour": per_h,
        "anchor": _vs(per_h, tco_anchors().get(("tco_per_hour", chip.id))),
        "capex_anchor": _vs(float(t["capex"]["total"]), tco_anchors().get(("cluster_capex_per_gpu", chip.id))),
    }
