"""A fleet plan over years: demand grows per workload; each year the capacity short of demand
is bought in the cheapest candidate available that year (a chip from its availability year in
data/econ/street_prices.csv, a custom design once its time to market has passed). Chips stay
in service over the plan (plans are no longer than a refresh cycle by default).

Two plans are compared: buy (only chips to buy) and build (buy until the design is ready,
then the design; its NRE is spent evenly over the development months, and its chips cost
their manufacturing cost). cost_usd of a year = TCO per chip-year of every chip in service +
NRE spent that year. Payback: the first year from which the build plan's cumulative cost stays
at or below the buy plan's, or None (never within the plan)."""

from __future__ import annotations

import math

from ..econ.prices import street_prices
from ..econ.tco import tco_per_chip_year
from .pricing import econ_value, is_custom, tco_options


def _growth(study, w) -> float:
    return float(w.growth if w.growth is not None else econ_value(study, "demand_growth"))


def _per_chip(study, c, rows, price=None) -> tuple[dict[str, int], float]:
    """Chips needed per workload at today's demand and the fleet-average TCO per chip-year."""
    n = {r["workload"]: r["chips_needed"] for r in rows}
    if price is None:
        cost = sum(r["fleet_tco_usd_per_year"] for r in rows)
    else:
        cost = sum(r["chips_needed"] * float(tco_per_chip_year(price, r["power_w"], provisioned_w=r.get("tdp_w"),
                                                               **tco_options(study))["total_per_year"]) for r in rows)
    return n, cost / max(sum(n.values()), 1)


def _plan(study, options: list[dict], nre_by_year: dict[int, float]) -> list[dict]:
    e = study.economics
    fleet: dict[str, int] = {}
    out = []
    for t in range(e.plan_years):
        year = e.start_year + t
        need = {o["chip"]: sum(math.ceil(n * (1 + _growth(study, w)) ** t) for w in study.workloads
                               for wn, n in o["chips"].items() if wn == w.name) for o in options}
        covered = sum(cnt / max(need[c], 1) for c, cnt in fleet.items())
        avail = [o for o in options if o["from_year"] <= year]
        if covered < 1 and avail:
            pick = min(avail, key=lambda o: need[o["chip"]] * o["tco_per_chip_year"])
            fleet[pick["chip"]] = fleet.get(pick["chip"], 0) + math.ceil((1 - covered) * need[pick["chip"]])
        tco = {o["chip"]: o["tco_per_chip_year"] for o in options}
        cost = sum(cnt * tco[c] for c, cnt in fleet.items()) + nre_by_year.get(year, 0.0)
        out.append({"year": year, "chips": dict(fleet), "cost_usd": cost, "nre_usd": nre_by_year.get(year, 0.0),
                    "capacity_vs_demand": sum(cnt / max(need[c], 1) for c, cnt in fleet.items())})
    cum = 0.0
    for r in out:
        cum += r["cost_usd"]
        r["cumulative_usd"] = cum
    return out


def fleet_plans(study, matrix: list[dict], chips: list, programs: dict[str, dict], summary: list[dict]) -> dict:
    ok = {s["chip"] for s in summary if s.get("runs_all_workloads") and s.get("fleet_tco_usd_per_year")}
    e = study.economics
    ttm = econ_value(study, "time_to_market_months")
    buy, build, nre_by_year = [], [], {}
    for c in chips:
        if c.id not in ok:
            continue
        rows = [r for r in matrix if r["chip"] == c.id]
        if is_custom(c):
            p = programs[c.id]
            n, per = _per_chip(study, c, rows, price=p["unit_cost_usd"])
            build.append({"chip": c.id, "chips": n, "tco_per_chip_year": per, "from_year": e.start_year + math.ceil(ttm / 12)})
        else:
            n, per = _per_chip(study, c, rows)
            sp = street_prices().get(c.id)
            buy.append({"chip": c.id, "chips": n, "tco_per_chip_year": per, "from_year": sp.available_year if sp else e.start_year})
    if not buy:
        return {}
    out = {"buy": _plan(study, buy, {})}
    if build:
        best = min(build, key=lambda o: sum(o["chips"].values()) * o["tco_per_chip_year"])
        nre = programs[best["chip"]]["nre_usd"]
        dev_years = max(1, math.ceil(ttm / 12))
        nre_by_year = {e.start_year + t: nre / dev_years for t in range(dev_years)}
        out["build"] = _plan(study, buy + [best], nre_by_year)
        out["design"] = best["chip"]
        out["design_ready_year"] = best["from_year"]
        out["payback_year"] = next((a["year"] for i, (a, b) in enumerate(zip(out["build"], out["buy"]))
                                    if all(x["cumulative_usd"] <= y["cumulative_usd"]
                                           for x, y in zip(out["build"][i:], out["buy"][i:]))), None)
    return out
