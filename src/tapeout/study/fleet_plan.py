"""A fleet plan over years: demand grows per workload; each year the capacity short of demand is
bought in the cheapest candidate available that year, at that year's price.

- Bought chips follow the roadmap (econ/roadmap.py: availability year, dated price, decline per
  year); a custom design is available once its time to market has passed, at its
  manufacturing cost (its NRE is spent evenly over the development years, before it is ready).
- Capacity is tracked per workload in units/s (chips x throughput x utilisation target); the
  year's shortfall of every workload is bought in one candidate, the one that covers it at the
  lowest TCO per year. A cohort keeps the TCO per chip-year of its purchase price. Chips stay
  in service over the plan (plans are no longer than a refresh cycle by default).
- cost_usd of a year = TCO per chip-year of every chip in service + NRE spent that year.
- Two plans: buy (bought chips only) and build (the same plus the best design from its ready
  year). Payback: the first year from which the build plan's cumulative cost stays at or below
  the buy plan's; "never" when that does not happen within the plan.
Only admissible candidates (study constraints) that run every workload can be bought; an
announced chip cannot (its performance and power are vendor claims, mostly unpublished)."""

from __future__ import annotations

import math

from ..econ.roadmap import price_path, roadmap_entry, roadmap_ids
from ..errors import TapeoutError
from ..econ.tco import tco_per_chip_year
from .pricing import econ_value, is_custom, tco_options, utilisation

EPS = 1e-9


def simulate(options: list[dict], demand: dict[str, float], growth: dict[str, float], start_year: int, years: int,
             nre_by_year: dict[int, float] | None = None) -> list[dict]:
    """Yearly plan. options: [{chip, from_year, ups: {workload: units/s per chip at the
    utilisation target}, tco: {workload: {year: TCO per chip-year of a chip bought that year}}}]."""
    nre_by_year = nre_by_year or {}
    cap = {w: 0.0 for w in demand}
    cohorts: list[tuple[str, dict[str, int], float]] = []  # (chip, chips per workload, TCO per year)
    out, cum = [], 0.0
    for t in range(years):
        year = start_year + t
        need = {w: demand[w] * (1 + growth[w]) ** t for w in demand}
        short = {w: need[w] - cap[w] for w in demand if need[w] - cap[w] > EPS * max(need[w], 1.0)}
        bought = {}
        if short:
            avail = [o for o in options if o["from_year"] <= year and all(o["ups"].get(w) for w in short)]
            buys = [({w: math.ceil(s / o["ups"][w] - EPS) for w, s in short.items()}, o) for o in avail]
            if buys:
                n, o = min(buys, key=lambda b: sum(k * b[1]["tco"][w][year] for w, k in b[0].items()))
                cohorts.append((o["chip"], n, sum(k * o["tco"][w][year] for w, k in n.items())))
                for w, k in n.items():
                    cap[w] += k * o["ups"][w]
                bought = {o["chip"]: sum(n.values())}
        chips: dict[str, int] = {}
        for c, n, _ in cohorts:
            chips[c] = chips.get(c, 0) + sum(n.values())
        nre = nre_by_year.get(year, 0.0)
        cost = sum(x for _, _, x in cohorts) + nre
        cum += cost
        out.append({"year": year, "chips": chips, "bought": bought, "cost_usd": cost, "nre_usd": nre,
                    "cumulative_usd": cum, "capacity_vs_demand": min(cap[w] / need[w] for w in demand) if demand else 1.0})
    return out


def payback_year(build: list[dict], buy: list[dict]) -> int | None:
    """First year from which the build plan's cumulative cost stays <= the buy plan's, provided it
    ends the plan strictly cheaper: a build plan that only ties (the design never bought, no NRE)
    has nothing to pay back."""
    if not build or build[-1]["cumulative_usd"] >= buy[-1]["cumulative_usd"]:
        return None
    for i, a in enumerate(build):
        if all(x["cumulative_usd"] <= y["cumulative_usd"] for x, y in zip(build[i:], buy[i:])):
            return a["year"]
    return None


def nre_schedule(nre: float, start_year: int, ready_year: int) -> dict[int, float]:
    """NRE spent evenly over the development years start_year .. ready_year - 1 (at least one)."""
    dev = max(1, ready_year - start_year)
    return {start_year + t: nre / dev for t in range(dev)}


def compare(buy_options: list[dict], design: dict, nre: float, demand, growth, start_year: int, years: int) -> dict:
    """Buy plan, build plan (design from design['from_year']) and the payback year."""
    buy = simulate(buy_options, demand, growth, start_year, years)
    build = simulate(buy_options + [design], demand, growth, start_year, years,
                     nre_schedule(nre, start_year, design["from_year"]))
    return {"buy": buy, "build": build, "payback_year": payback_year(build, buy)}


def _option(study, chip_id: str, rows: list[dict], from_year: int, price_by_year: dict[int, float]) -> dict:
    u = utilisation(study)
    opts = tco_options(study)
    tco = {r["workload"]: {y: float(tco_per_chip_year(p, r["power_w"], provisioned_w=r.get("tdp_w"), **opts)["total_per_year"])
                           for y, p in price_by_year.items()} for r in rows}
    return {"chip": chip_id, "from_year": from_year, "price": price_by_year,
            "ups": {r["workload"]: r["units_per_s_per_chip"] * u for r in rows}, "tco": tco}


def _why_not(cid: str, study, ok: set, excluded: dict, matrix: list[dict], entry) -> str | None:
    if entry is not None and entry.status == "announced":
        return "announced, not shipping: performance and TDP not published, so it cannot be modelled or checked against the constraints"
    if cid in excluded:
        return f"excluded by the study's constraints ({excluded[cid]})"
    if cid not in study.chips:
        return "not among the study's chips (add it to `chips:` to let the plan buy it)"
    if cid not in ok:
        errs = sorted({r.get("error", "") for r in matrix if r["chip"] == cid and r.get("error")})
        return "does not run every workload" + (f": {errs[0][:160]}" if errs else "")
    return None


def fleet_plans(study, matrix: list[dict], chips: list, programs: dict[str, dict], summary: list[dict],
                excluded: list[dict] | None = None) -> dict:
    e = study.economics
    ok = {s["chip"] for s in summary if s.get("runs_all_workloads") and s.get("fleet_tco_usd_per_year")}
    years = [e.start_year + t for t in range(e.plan_years)]
    demand = {w.name: w.traffic.demand()[1] for w in study.workloads}
    growth = {w.name: float(w.growth if w.growth is not None else econ_value(study, "demand_growth")) for w in study.workloads}
    ready = e.start_year + math.ceil(econ_value(study, "time_to_market_months") / 12)
    excl = {x["candidate"]: x["reason"] for x in (excluded or [])}
    roadmap, entries, designs = [], {}, []
    for cid in dict.fromkeys([c.id for c in chips if not is_custom(c)] + roadmap_ids()):
        try:
            entries[cid] = roadmap_entry(cid, e.start_year, e.prices, e.price_decline)
        except TapeoutError:  # no price: the chip has no cost anywhere
            entries[cid] = None
        ent = entries[cid]
        why = _why_not(cid, study, ok, excl, matrix, ent) or (None if ent else "no street price")
        roadmap.append({"chip": cid, "available_year": ent.available_year if ent else None,
                        "price_usd": {y: price_path(ent.price_usd, ent.price_year, ent.decline, y) for y in years} if ent else {},
                        "decline_per_year": ent.decline if ent else None,
                        "decline_range": [ent.decline_low, ent.decline_high] if ent else None,
                        "status": ent.status if ent else "", "in_plan": why is None, "reason": why or "",
                        "source": ent.source if ent else ""})

    def buy_options(decline_key: str = "decline") -> list[dict]:
        out = []
        for r in roadmap:
            if not r["in_plan"]:
                continue
            ent = entries[r["chip"]]
            d = getattr(ent, decline_key)
            prices = {y: price_path(ent.price_usd, ent.price_year, d, y) for y in years}
            out.append(_option(study, r["chip"], [x for x in matrix if x["chip"] == r["chip"]], ent.available_year, prices))
        return out

    buy = buy_options()
    if not buy:
        return {"roadmap": roadmap}
    for c in chips:
        if is_custom(c) and c.id in ok:
            p = programs[c.id]
            designs.append((_option(study, c.id, [x for x in matrix if x["chip"] == c.id], ready,
                                    {y: p["unit_cost_usd"] for y in years}), p["nre_usd"]))
    out = {"roadmap": roadmap, "years": years, "demand_growth": growth,
           "buy": simulate(buy, demand, growth, e.start_year, e.plan_years)}
    if designs:
        (design, nre), res = min(((d, compare(buy, d[0], d[1], demand, growth, e.start_year, e.plan_years)) for d in designs),
                                 key=lambda x: x[1]["build"][-1]["cumulative_usd"])
        out.update(build=res["build"], design=design["chip"], design_ready_year=ready, nre_usd=nre,
                   payback_year=res["payback_year"] or "never")
        out["sensitivity"] = [
            {"input": "price_decline (all bought chips)", "value": which,
             "payback_year": compare(buy_options(key), design, nre, demand, growth, e.start_year, e.plan_years)["payback_year"] or "never"}
            for which, key in (("low", "decline_low"), ("high", "decline_high"))]
    return out
