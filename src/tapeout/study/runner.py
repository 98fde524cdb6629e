"""`tapeout run STUDY --out DIR`: evaluate catalog chips on the workload mix, explore the
custom-NPU design spaces, store everything in DIR/study.duckdb, write DIR/results.json and
DIR/report.html. A run that stops midway leaves DIR/RUNNING; running again resumes (the
design store skips evaluated designs); a finished DIR needs --force to be overwritten, and
only a DIR that an earlier run marked as its own (study/outdir.py) is ever written over."""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import TapeoutError
from ..hardware.catalog import get_chip
from ..perf.calibration import calibrated_params
from .evaluate import check_workload, geo_mean, safe_evaluate
from .explore_bridge import space_dict, space_path
from .outdir import prepare_out, study_hash
from .schema import Study, load_study


def chip_summary(study: Study, matrix: list[dict], ref: str) -> list[dict]:
    """Per chip: traffic-weighted geometric mean over workloads of perf/W and perf/TCO$
    relative to the reference chip, and the fleet TCO for the whole mix."""
    wl = {w.name: w for w in study.workloads}
    rows = []
    chips = list(dict.fromkeys(r["chip"] for r in matrix))
    for c in chips:
        mine = {r["workload"]: r for r in matrix if r["chip"] == c}
        refr = {r["workload"]: r for r in matrix if r["chip"] == ref}
        ppw, pptco, ws = [], [], []
        ok = True
        for name, w in wl.items():
            a, b = mine.get(name), refr.get(name)
            if not a or not a.get("units_per_s_per_chip"):
                ok = False
                continue
            if not b or not b.get("units_per_s_per_chip"):
                continue
            ppw.append(a["units_per_joule"] / b["units_per_joule"])
            ws.append(w.weight)
            if a.get("cost_per_unit_usd") and b.get("cost_per_unit_usd"):
                pptco.append((b["cost_per_unit_usd"] / a["cost_per_unit_usd"], w.weight))
        fleet = sum(r.get("fleet_tco_usd_per_year") or 0 for r in mine.values()) if ok else None
        rows.append({
            "chip": c, "runs_all_workloads": ok,
            "perf_per_watt": geo_mean(ppw, ws) if ppw else None,
            "perf_per_tco": geo_mean([x for x, _ in pptco], [q for _, q in pptco]) if len(pptco) == len(ppw) and pptco else None,
            "fleet_tco_usd_per_year": fleet if fleet and all(r.get("fleet_tco_usd_per_year") for r in mine.values()) else None,
            "chips_in_fleet": sum(r.get("chips_needed") or 0 for r in mine.values()) if ok else None,
        })
    return rows


def _compliance(chip_ids: list[str]) -> tuple[list[dict], str]:
    try:
        from ..rules.export import assess_chip
    except ImportError:
        return [], ""
    out, version = [], ""
    for cid in chip_ids:
        try:
            a = assess_chip(get_chip(cid))
        except TapeoutError as e:  # the chip lacks a spec the rule needs: listed as n/a; a bug propagates
            out.append({"chip": cid, "tpp": None, "pd": None, "class": f"n/a ({e})"})
            continue
        version = a.get("rule_version", version)
        out.append({"chip": cid, "tpp": a.get("tpp"), "pd": a.get("pd"), "class": a["class_3a090"],
                    "band_2026": a["case_by_case_2026"]})
    return [r for r in out if r["tpp"] is not None], version


COST_ITEMS = ("die", "memory", "package", "assembly_test", "yield_loss", "nre")  # parts of econ's unit cost


def _cost_stacks(study: Study, chip_ids: list[str]) -> dict:
    """Manufacturing stack of each bought chip, with the vendor's margin up to its street price;
    no NRE: the buyer does not pay a design program (the vendor's is inside its margin)."""
    from ..econ.prices import street_price
    from ..econ.summary import chip_cost_stack

    stacks = {}
    for cid in chip_ids:
        try:
            s = chip_cost_stack(get_chip(cid))
            price = street_price(cid, study.economics.prices).price_usd
        except TapeoutError:
            continue
        st = {k: float(s[k]) for k in COST_ITEMS if k != "nre"}
        st["vendor_margin"] = max(price - float(s["manufacturing"]), 0.0)
        stacks[cid] = st
    return stacks


def run_study(path: str | Path, out: str | Path, force: bool = False, progress=None, backend: str = "local", address: str | None = None) -> dict:
    from ..explore.search import check_backend

    check_backend(backend)  # before any work, whether or not the study has a design space to sweep
    t0 = time.time()
    study, base = load_study(path)
    for i, w in enumerate(study.workloads):  # a bad model name or parameter fails before any chip runs
        check_workload(w, f"{Path(path).name}: workloads[{i}] '{w.name}'")
    # every design space is read and validated before the output folder is touched
    spaces = [space_dict(study, base, rel) for rel in study.design_spaces]
    out = Path(out)
    inputs = [Path(path)] + [space_path(base, rel) for rel in study.design_spaces]
    resumed = prepare_out(out, study_hash(study, spaces), force, Path(path), inputs)
    from .constraints import split_candidates
    from .pricing import price_matrix

    chips, excluded = split_candidates([get_chip(c) for c in study.chips], study.constraints, _catalog_prices(study))
    ids = [c.id for c in chips]
    ref = "h100-sxm" if "h100-sxm" in ids else (ids[0] if ids else None)
    matrix = []
    for w in study.workloads:
        for c in chips:
            matrix.append(safe_evaluate(w, c, study.chips_per_node))
            if progress:
                progress(f"{w.name} on {c.id}")
    price_matrix(study, matrix, chips)
    summary = chip_summary(study, matrix, ref) if ref else []
    designs, chosen, explore_info, programs, customs = [], None, {}, {}, []
    if study.design_spaces:
        from .explore_bridge import explore_spaces

        designs, chosen, explore_info, extra_rows = explore_spaces(study, spaces, out, matrix, ref, progress=progress,
                                                                  backend=backend, address=address)
        programs, customs = explore_info.pop("_programs"), explore_info.pop("_candidates")
        excluded += explore_info.pop("_excluded")
        summary += extra_rows
    from .diagnostics import diagnostics

    rooflines, shares, diag = diagnostics(matrix, {c.id: c for c in customs})
    for r in matrix:
        r["time_by_bound"] = shares.get((r["workload"], r["chip"]))
    compliance, rule_version = _compliance(ids)
    if chosen and chosen.get("compliance"):
        compliance.append(chosen["compliance"])
    stacks = _cost_stacks(study, ids)
    if chosen and chosen.get("cost_stack"):
        stacks[chosen["name"]] = chosen["cost_stack"]
    from .decision import decide
    from .fleet_plan import fleet_plans

    decision = decide(study, matrix, chips + customs, programs)
    plans = fleet_plans(study, matrix, chips + customs, programs, summary, excluded)
    ok = [s for s in summary if s.get("runs_all_workloads") and s.get("fleet_tco_usd_per_year")]
    best = min(ok, key=lambda s: s["fleet_tco_usd_per_year"]) if ok else None
    rec = {}
    answer = "No candidate runs every workload of the mix; see the per-workload table for the reasons."
    if best:
        rec = {"lowest fleet TCO": best["chip"], "fleet TCO / year": _usd(best["fleet_tco_usd_per_year"]),
               "accelerators": f"{best['chips_in_fleet']:,}"}
        runner_up = sorted(ok, key=lambda s: s["fleet_tco_usd_per_year"])[1:2]
        answer = (f"For this mix and traffic, {best['chip']} serves everything at the lowest total cost of ownership "
                  f"({_usd(best['fleet_tco_usd_per_year'])} per year")
        if runner_up:
            r2 = runner_up[0]
            answer += f"; next is {r2['chip']} at {_usd(r2['fleet_tco_usd_per_year'])}"
        answer += ")."
        if decision:
            ch = decision["choice"]
            answer += (f" Under uncertainty (performance intervals and economic ranges, {decision['samples']:,} samples) "
                       f"{ch} is the cheapest fleet with probability {decision['p_best'][ch]:.0%}.")
        be = (decision or {}).get("break_even") or {}
        if be.get("design"):
            answer += (f" Building {be['design']} pays against {be['versus']} from a program volume of {be['volume']:,.0f} chips."
                       if be.get("volume") else f" {be['design']} never beats {be['versus']}: {be['note']}.")
        answer += " Figures below break this down per workload, per op and per cost item."
    res = {
        "version": __version__, "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "study": {"name": study.name, "description": study.description, "file": str(Path(path))},
        "reference_chip": ref, "resumed": resumed,
        "workloads": [{"name": w.name, "kind": w.kind, "model": w.model, "unit": w.traffic.demand()[0],
                       "demand_per_s": w.traffic.demand()[1], "slo": w.slo.model_dump(exclude_none=True), "weight": w.weight,
                       "cost_unit": next((r.get("cost_unit") for r in matrix if r["workload"] == w.name and r.get("cost_unit")), "")}
                      for w in study.workloads],
        "matrix": matrix, "chip_summary": summary, "designs": designs, "chosen_design": (chosen or {}).get("spec"),
        "explore": explore_info, "rooflines": rooflines, "diagnostics": diag, "cost_stacks": stacks, "compliance": compliance,
        "compliance_disclaimer": f"Not legal advice. Rules applied: {rule_version or 'see data/econ/export_rules.yaml'}.",
        "recommendation": rec, "answer": answer,
        "excluded": excluded, "decision": decision,
        "program": list(programs.values()),
        "fleet_plan": _plan_rows(plans, decision), "fleet_plans": plans,
        "prices": _price_rows(matrix),
        "assumptions": _assumptions(study),
        "sources": _sources(ids),
        "seconds": round(time.time() - t0, 2),
    }
    _store(out / "study.duckdb", res)
    (out / "results.json").write_text(json.dumps(clean_json(res), indent=1, default=str))
    from ..report.html import write_report

    write_report(clean_json(res), out / "report.html")
    (out / "RUNNING").unlink(missing_ok=True)
    return res


def _usd(x: float) -> str:
    return f"${x / 1e6:,.1f}M" if x >= 1e6 else f"${x / 1e3:,.0f}k"


def _catalog_prices(study: Study) -> dict[str, float]:
    from ..econ.prices import street_prices

    return {**{k: v.price_usd for k, v in street_prices().items()}, **study.economics.prices}


def _price_rows(matrix: list[dict]) -> list[dict]:
    """The price every candidate was charged at, with its basis (one row per chip)."""
    seen = {}
    for r in matrix:
        if r.get("price_usd") is not None and r["chip"] not in seen:
            seen[r["chip"]] = {"chip": r["chip"], "price_usd": r["price_usd"], "basis": r.get("price_source", "")}
    return list(seen.values())


def _plan_rows(plans: dict, decision: dict | None) -> list[dict]:
    """The plan that follows the decision (build if the choice is a custom design, else buy),
    each year with both plans' cumulative cost and the NPU's payback year (or "never")."""
    if not plans.get("buy"):
        return []
    build = plans.get("build")
    follow = "build" if build and decision and decision["choice"] == plans.get("design") else "buy"
    rows = []
    for i, r in enumerate(plans[follow]):
        row = {"year": r["year"], "plan": follow, "chips": r["chips"], "bought": r["bought"], "cost_usd": r["cost_usd"],
               "cumulative_usd": r["cumulative_usd"], "capacity_vs_demand": r["capacity_vs_demand"],
               "buy_cumulative_usd": plans["buy"][i]["cumulative_usd"]}
        if build:
            row.update(build_cumulative_usd=build[i]["cumulative_usd"], build_bought=build[i]["bought"],
                       npu=plans["design"], npu_ready_year=plans["design_ready_year"], npu_payback_year=plans["payback_year"])
        rows.append(row)
    return rows


def _assumptions(study: Study) -> list[dict]:
    from ..econ.nodes import coef, coef_source
    from ..perf.serving_memory import ACTIVATION_RESERVE_FRACTION, USABLE_MEMORY_FRACTION
    from .pricing import econ_value, refresh_years, utilisation

    e = study.economics
    a = [
        {"item": "calibration", "value": "efficiencies fitted to microbenchmarks only (data/calibration/fitted.yaml); chips without their own fit use the family or generic mean"},
        {"item": "LLM serving", "value": f"the serving engine validate scores (perf/mlperf.serve_at_scale): TP/EP/PP/DP layouts, continuous batching with fused chunked prefill, paged KV cache, {USABLE_MEMORY_FRACTION:.0%} usable memory, {ACTIVATION_RESERVE_FRACTION:.0%} activation reserve; SLOs applied to p99 TTFT/TPOT (M/M/1 admission queue)"},
        {"item": "latency SLOs of other workloads", "value": "recommendation: queries/s under the study's p99 bound (M/M/1, perf/recsys.py); other kinds: one unit must finish within the stated latency"},
        {"item": "chips per node", "value": study.chips_per_node},
        {"item": "fleet size", "value": f"demand / (throughput per chip x utilisation target {utilisation(study):.0%})"},
        {"item": "TCO per chip-year", "value": "IT capex (chip + server share + network share) x capital recovery factor + facility capex per kW x CRF(facility life) + maintenance + energy x PUE (econ/tco.py)"},
    ]
    for k, c in (("cost_of_capital", "cost_of_capital"), ("facility_usd_per_kw", "facility_capex_usd_per_kw"),
                 ("facility_years", "facility_life_years"), ("maintenance_fraction", "maintenance_fraction"),
                 ("years", "amortization_years"), ("network_fraction", "cluster_network_fraction")):
        a.append({"item": k, "value": econ_value(study, k, c),
                  "source": "study file" if getattr(e, k) is not None else coef_source(c)})
    for k, c, key in (("pue", "pue", "hyperscale"), ("usd_per_kwh", "electricity_usd_per_kwh", "us_industrial_2025")):
        a.append({"item": k, "value": getattr(e, k) or coef(c, key), "source": "study file" if getattr(e, k) else coef_source(c, key)})
    a += [
        {"item": "prices of bought chips", "value": "street price with its date, or an explicit estimate with its basis (data/econ/street_prices.csv, or economics.prices); a chip without one is not costed. Shown in the Prices table."},
        {"item": "price of a custom design", "value": "manufacturing cost (econ/yield_cost.unit_cost, no margin) + itemised NRE (data/econ/nre_items.csv) / program volume"},
        {"item": "program volume", "value": (f"{e.program_volume or e.volume:,.0f} (study file)" if (e.program_volume or e.volume) else
                                             f"design fleet x (1 + demand growth {econ_value(study, 'demand_growth'):g})^(program years {econ_value(study, 'program_years'):g} - 1) x max(1, program years / refresh {refresh_years(study):g} y)")},
        {"item": "NRE on bought chips", "value": "none: the vendor's R&D is inside its street price"},
    ]
    return a


def _sources(chip_ids: list[str]) -> list[dict]:
    rows = []
    for cid in chip_ids:
        c = get_chip(cid)
        for f in ("bf16_tflops_dense", "fp8_tflops_dense", "memory_bandwidth_tbps", "memory_capacity_gb", "tdp_w", "price_usd"):
            if f in c.specs:
                s = c.specs[f]
                rows.append({"chip": cid, "field": f, "value": s.value, "status": s.status, "source": s.source})
    return rows


def clean_json(x):
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _store(db: Path, res: dict) -> None:
    import duckdb

    con = duckdb.connect(str(db))
    try:
        con.execute("CREATE OR REPLACE TABLE study_matrix (workload VARCHAR, chip VARCHAR, unit VARCHAR, units_per_s_per_chip DOUBLE, "
                    "power_w DOUBLE, latency_s DOUBLE, cost_per_unit_usd DOUBLE, chips_needed BIGINT, fleet_tco_usd_per_year DOUBLE, "
                    "config VARCHAR, error VARCHAR)")
        rows = [(r["workload"], r["chip"], r.get("unit"), r.get("units_per_s_per_chip"), r.get("power_w"), r.get("latency_s"),
                 r.get("cost_per_unit_usd"), r.get("chips_needed"), r.get("fleet_tco_usd_per_year"), r.get("config"), r.get("error"))
                for r in res["matrix"]]
        con.executemany("INSERT INTO study_matrix VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.execute("CREATE OR REPLACE TABLE chip_summary (chip VARCHAR, perf_per_watt DOUBLE, perf_per_tco DOUBLE, fleet_tco_usd_per_year DOUBLE)")
        con.executemany("INSERT INTO chip_summary VALUES (?,?,?,?)",
                        [(s["chip"], s.get("perf_per_watt"), s.get("perf_per_tco"), s.get("fleet_tco_usd_per_year")) for s in res["chip_summary"]])
    finally:
        con.close()
