"""Prices, fleet size and TCO of every (workload, chip) row of a study.

A bought chip costs its street price (econ/prices.py: dated and sourced, or an explicit
estimate with its basis). A custom design costs its manufacturing cost plus NRE / program
volume, the volume following from the fleet the study itself needs (econ/program.py) unless
the study overrides it. NRE is never charged to a bought chip. Fleets are sized at the
utilisation target; TCO per chip-year is econ/tco.py with the study's overrides."""

from __future__ import annotations

import numpy as np

from ..econ.nodes import coef
from ..econ.prices import street_price
from ..errors import TapeoutError
from ..econ.program import nre_breakdown, nre_total, program_volume
from ..econ.tco import TCO_OPTIONS, tco_per_chip_year
from .evaluate import COST_PER
from .schema import Study

SECONDS_PER_YEAR = 3.15576e7


def tco_options(study: Study) -> dict:
    e = study.economics
    return {k: getattr(e, k) for k in TCO_OPTIONS if getattr(e, k) is not None}


def econ_value(study: Study, field: str, coef_name: str | None = None) -> float:
    """The study's setting, else the sourced default of data/econ/coefficients.csv."""
    v = getattr(study.economics, field)
    return float(coef(coef_name or field) if v is None else v)


def utilisation(study: Study) -> float:
    return econ_value(study, "utilisation", "utilisation_target")


def refresh_years(study: Study) -> float:
    e = study.economics
    return float(e.refresh_years or e.years or coef("amortization_years"))


def is_custom(chip) -> bool:
    return getattr(chip, "family", "") == "custom-npu"


def program_for(study: Study, chip, fleet_chips: int) -> dict:
    """NRE items, program volume and price per chip of a custom design."""
    hw = chip._hw
    node = str(chip.specs["process_node"].value)
    years = econ_value(study, "program_years")
    rows = nre_breakdown(node, years, {k: r.model_dump(exclude_none=True) for k, r in study.economics.nre.items()})
    override = study.economics.program_volume or study.economics.volume
    growth = econ_value(study, "demand_growth")
    derived = float(program_volume(max(fleet_chips, 1), years, refresh_years(study), growth))
    volume = float(override or derived)
    nre = nre_total(rows)
    return {"chip": chip.id, "node": node, "nre_items": rows, "nre_usd": nre,
            "nre_low_usd": nre_total(rows, "low"), "nre_high_usd": nre_total(rows, "high"),
            "fleet_chips": fleet_chips, "program_years": years, "refresh_years": refresh_years(study),
            "demand_growth": growth, "program_volume": volume,
            "program_volume_basis": "economics.program_volume in the study file" if override else
            f"fleet {fleet_chips:,} x (1 + {growth:g})^({years:g} - 1) x max(1, {years:g} / {refresh_years(study):g} refresh years)",
            "unit_cost_usd": float(hw["unit_cost_usd"]), "nre_per_chip_usd": nre / volume,
            "price_usd": float(hw["unit_cost_usd"]) + nre / volume}


def chips_needed(row: dict, util: float, perf_factor=1.0):
    """Chips that serve a row's demand at the utilisation target: ceil(demand / (units/s per
    chip x perf_factor x utilisation)); perf_factor may be an array of sampled factors."""
    return np.ceil(row["demand_per_s"] / (row["units_per_s_per_chip"] * perf_factor * util))


def attach_cost(row: dict, price: float, basis: str, study: Study) -> None:
    """Chips needed at the utilisation target, TCO per chip-year, cost per unit and fleet TCO."""
    ups = row.get("units_per_s_per_chip")
    if not ups:
        return
    t = tco_per_chip_year(price, row["power_w"], provisioned_w=row.get("tdp_w"), **tco_options(study))
    per_year = float(t["total_per_year"])
    label, per = COST_PER[row["unit"]]
    util = utilisation(study)
    row["chips_needed"] = int(chips_needed(row, util))
    row["tco_per_chip_year_usd"] = per_year
    row["cost_per_unit_usd"] = per_year / (ups * util * SECONDS_PER_YEAR) * per
    row["cost_unit"] = label
    row["fleet_tco_usd_per_year"] = row["chips_needed"] * per_year
    row["price_usd"] = price
    row["price_source"] = basis


def price_matrix(study: Study, matrix: list[dict], chips: list) -> dict[str, dict]:
    """Attach prices and costs to every row of `chips`; returns the program of each custom
    design. A catalog chip without a price gets an error on its rows (never a made-up price)."""
    programs = {}
    for c in chips:
        rows = [r for r in matrix if r["chip"] == c.id and r.get("units_per_s_per_chip")]
        if is_custom(c):
            fleet = sum(int(chips_needed(r, utilisation(study))) for r in rows)
            prog = program_for(study, c, fleet)
            programs[c.id] = prog
            price = prog["price_usd"]
            basis = (f"in-house: manufacturing ${prog['unit_cost_usd']:,.0f} + NRE ${prog['nre_usd'] / 1e6:,.0f}M / "
                     f"{prog['program_volume']:,.0f} chips (program volume)")
        else:
            try:
                sp = street_price(c.id, study.economics.prices)
            except TapeoutError as e:  # no price
                for r in rows:
                    r["error"] = "; ".join(x for x in (r.get("error"), f"no cost: {e}") if x)
                continue
            price, basis = sp.price_usd, sp.basis
        for r in rows:
            attach_cost(r, price, basis, study)
    return programs
