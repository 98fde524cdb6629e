"""One self-contained HTML report per study: plotly.js is inlined once, so the page opens
offline; every figure is followed by the assumptions and sources behind it."""

from __future__ import annotations

import html
import json
from pathlib import Path

from . import figures as F
from .answer import answer_section
from .decimate import decimate
from .fmt import table
from .plotlyjs import plotly_js

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#0b3d66;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}
main{padding:10px 28px 40px}section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:16px 0;padding:12px 18px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}.note{color:#666;font-size:12px}.kpi{display:inline-block;margin:6px 18px 6px 0}
.kpi b{font-size:20px;display:block}.na{color:#999;font-style:italic}#answer{border:2px solid #0b3d66}
details summary{cursor:pointer;color:#0b3d66;margin:6px 0}a{color:#0b5394;word-break:break-all}
"""


def _decision_section(res: dict) -> str:
    """Build or buy: probabilities, tornado, break-even, program NRE, excluded candidates,
    prices and the fleet plan (numbers straight from results.json)."""
    d = res.get("decision") or {}
    out = ["<section><h2>Build or buy under uncertainty</h2>"]
    if d:
        out.append(f"<p>Choice: <b>{html.escape(d['choice'])}</b> ({html.escape(d.get('method', ''))}; "
                   f"{d.get('samples'):,} samples, seed {d.get('seed')}).</p>")
        rows = sorted(({"candidate": c, "p_best": d["p_best"].get(c), "p10_usd": q["p10"], "p50_usd": q["p50"], "p90_usd": q["p90"]}
                       for c, q in d["fleet_tco_usd_per_year"].items()), key=lambda r: r["p50_usd"])
        out.append(table(rows, labels={"p_best": "P(cheapest fleet)", "p10_usd": "fleet TCO/yr P10", "p50_usd": "P50", "p90_usd": "P90"}))
        out.append("<h3>Tornado (fleet TCO of the choice; margin = best alternative - choice, &lt; 0: the answer flips)</h3>"
                   + table(d.get("tornado", [])[:10], blank=lambda r, c: "does not flip in range" if c == "flip_value" else ""))
        out.append("<h3>Break-even</h3>" + table([d.get("break_even") or {}]))
    for title, key in (("Custom-design programs (NRE, volume, price)", "program"), ("Excluded candidates", "excluded"),
                       ("Prices charged", "prices")):
        rows = res.get(key) or []
        if key == "program":
            rows = [{k: v for k, v in r.items() if k != "nre_items"} for r in rows]
        out.append(f"<h3>{title}</h3>" + table(rows, title=title))
    plans = res.get("fleet_plans") or {}
    cols = ["year", "plan", "bought", "cumulative_usd", "capacity_vs_demand", "buy_cumulative_usd", "build_bought",
            "build_cumulative_usd", "npu_payback_year"]
    fp = res.get("fleet_plan") or []
    out.append("<h3>Fleet plan over years (chip roadmap prices, NPU from its ready year)</h3>"
               + table(fp, [c for c in cols if c in (fp or [{}])[0]] or None, title="Fleet plan",
                       blank=lambda r, c: "no NPU in this plan" if c.startswith("build") or c == "npu_payback_year" else ""))
    if plans.get("design"):
        pb = plans.get("payback_year")
        out.append(f"<p class='note'>Build plan with {html.escape(str(plans['design']))} (ready {plans.get('design_ready_year')}): "
                   + (f"pays back in {pb}." if pb and pb != "never" else "does not pay back within the plan.") + "</p>")
    skipped = [r for r in plans.get("roadmap", []) if not r.get("in_plan")]
    if skipped:
        out.append("<p class='note'>Not bought: " + "; ".join(f"{html.escape(r['chip'])}: {html.escape(r['reason'])}" for r in skipped) + "</p>")
    return "".join(out) + "</section>"


def _matrix_blank(r: dict, c: str) -> str:
    """Why a per-workload cell is empty."""
    if r.get("units_per_s_per_chip") is None:
        return "does not run (see reason)" if c != "error" else ""
    if c == "error":
        return "none"
    if c == "ttft_s":
        return "not an LLM-serving workload"
    return "not reported for this workload kind"


def _spec_sheet(res: dict) -> str:
    """The chosen design as an architect reads it: the design point, then derived numbers and
    the modelling assumptions, the ones that favour it first."""
    spec = dict(res["chosen_design"])
    arch = spec.pop("architecture", {}) or {}
    try:
        from ..explore.npu import load_template

        units = {k: p.unit for k, p in load_template().params.items() if getattr(p, "unit", None)}
        tmpl = load_template().data
    except Exception:  # noqa: BLE001  (the sheet still lists the numbers)
        units, tmpl = {}, {}
    design = [{"parameter": k, "value": v, "meaning": units.get(k, "")} for k, v in arch.items()]
    derived = [{"parameter": k, "value": v} for k, v in spec.items() if k != "architecture"]
    favour = []
    if arch.get("riscv_cores"):
        r = (tmpl.get("riscv") or {}).get("kernel_overhead_factor", {})
        favour.append({"assumption": f"{arch['riscv_cores']:g} RISC-V control cores cut per-kernel launch overhead to "
                                     f"{r.get('value', 0.3):.0%} of the calibrated value", "status": r.get("status", "assumption"),
                       "source": r.get("source", "data/npu/template.yaml")})
    sw = tmpl.get("software") or {}
    if sw.get("calibration_family"):
        favour.append({"assumption": "a never-built chip: efficiencies from the generic calibration (no silicon to fit)",
                       "status": "assumption", "source": "data/npu/template.yaml software.calibration_family"})
    e = (tmpl.get("energy") or {}).get("array_energy_overhead")
    if e:
        favour.append({"assumption": f"array operand-delivery energy overhead x{e['value']}", "status": e.get("status", ""),
                       "source": e.get("source", "")})
    return ("<section><h2>Chosen custom NPU: spec sheet</h2><h3>Design (what gets built)</h3>"
            + table(design, ["parameter", "value", "meaning"], collapse=40)
            + "<h3>Assumptions behind its numbers (those that favour it first)</h3>" + table(favour)
            + "<h3>Derived numbers</h3>" + table(derived, collapse=60)
            + "<p class='note'>Floorplan margins (>= 0: the limit is met, by that much): edge_margin_mm = usable die edge - PHY beachfront per die; "
              "package_margin_mm2 = the packaging technology's largest package - (dies + HBM stacks) x spacing; heat_flux_margin_w_mm2 = cooling class - "
              "the worse of average and hot-spot heat flux; power_delivery_margin_w = package power and core current; rack_margin_kw = rack power "
              "(data/econ/floorplan.yaml).</p></section>")


def _diagnostics_table(res: dict) -> str:
    """Per workload, for the choice, the chosen design and the best buy: step time and its parts,
    kernels per step, energy per unit, memory per chip."""
    rows = []
    for r in F.focus_rows(res):
        c = r["components_s"]
        rows.append({"workload": r["workload"], "chip": r["chip"], "step": r["step"], "step_ms": r["step_s"] * 1e3,
                     "busy_ms": (c["compute"] + c["memory"]) * 1e3, "comm_ms": c["communication"] * 1e3,
                     "launch_ms": c["kernel launch + scheduling"] * 1e3, "kernels": r["kernels"],
                     "kernel_overhead_us": r["kernel_overhead_us"], "host_ms": c["host (not overlapped)"] * 1e3,
                     "energy_per_unit_j": r["energy_per_unit_j"], "unit": r["unit"], "memory_gb": r["memory_gb"],
                     "capacity_gb": r["capacity_gb"]})
    return ("<section><h2>Diagnostics: choice, chosen design, best buy</h2>" + table(rows, labels={
        "step_ms": "step (ms)", "busy_ms": "compute+memory (ms)", "comm_ms": "collectives (ms)", "launch_ms": "launch + scheduling (ms)",
        "kernels": "kernels per step", "kernel_overhead_us": "per kernel (us)", "host_ms": "host (ms)",
        "energy_per_unit_j": "J per unit", "memory_gb": "memory (GB)", "capacity_gb": "capacity (GB)"},
        blank=lambda r, c: "not reported by this workload's model", title="Diagnostics")
        + "<p class='note'>Every workload with an op graph; llm-training rows are costed by the cluster model, without a per-op step.</p></section>")


HEADINGS = {"pareto": "Pareto front", "throughput": "Throughput per workload", "cost": "Cost per unit of work",
            "fleet": "Fleet TCO", "roofline": "Roofline", "breakdown": "Step-time breakdown", "energy_memory": "Energy and memory", "cost_stack": "Cost stacks",
            "compliance": "Compliance map"}


def build_figures(res: dict) -> list[tuple[str, object]]:
    figs = [
        ("pareto", F.pareto_figure(res)),
        ("throughput", F.throughput_figure(res)),
        ("cost", F.cost_figure(res)),
        ("fleet", F.fleet_figure(res)),
        ("roofline", F.roofline_figure(res)),
        ("breakdown", F.breakdown_figure(res)),
        ("energy_memory", F.energy_memory_figure(res)),
        ("cost_stack", F.cost_stack_figure(res)),
        ("compliance", F.compliance_figure(res)),
    ]
    return figs


def _cloud_note(c: dict) -> str:
    if not c["feasible"] + c["infeasible"]:
        return ""
    return (f" Design cloud thinned for drawing: every design is in results.json and designs.duckdb; drawn are every point of "
            f"each space's 2-objective front and of the explorer's 3-objective front (which holds the chosen designs) plus a seeded "
            f"random sample (seed 20): {c['feasible_shown']:,} of {c['feasible']:,} feasible and {c['infeasible_shown']:,} of "
            f"{c['infeasible']:,} infeasible designs, each infeasibility reason in proportion.")


def write_report(res: dict, path: Path) -> Path:
    shown, cloud = decimate(res.get("designs") or [])
    figs = build_figures({**res, "designs": shown})
    parts = []
    s = res["study"]
    parts.append(answer_section(res))
    parts.append("<section><h2>Workload mix</h2>" + table(res["workloads"], ["name", "kind", "model", "unit", "demand_per_s", "slo", "weight"],
                       labels={"demand_per_s": "demand (units/s)", "slo": "SLO"}, blank=lambda r, c: "no latency SLO" if c == "slo" else "") + "</section>")
    parts.append("<section><h2>Chips compared</h2>" + table(res["chip_summary"], blank=lambda r, c: "does not run every workload" if not r.get("runs_all_workloads") else "not computable") + "</section>")
    captions = {
        "pareto": "Each point is one custom-NPU design evaluated on the whole mix; diamonds are catalog chips. Both axes are the traffic-weighted geometric mean over workloads, normalised to the reference chip. Infeasible designs are coloured by the first constraint they break (floorplan limits: die edge, package, heat flux, power delivery, rack; econ/floorplan.py).",
        "throughput": "Units of work per second per chip (tokens, queries, clips, audio seconds), from the per-op model; missing bars mean the workload does not fit or misses its SLO (reason in the table below).",
        "cost": "TCO per unit: (capex/amortisation years + power x PUE x price) / annual units. Chip prices are published estimates (catalog) or the cost model's unit cost plus margin (custom designs).",
        "fleet": "Chips needed for the stated traffic x TCO per chip-year.",
        "roofline": "One point per op class (matmul, attention, elementwise, embedding) of each workload with an op graph: FLOPs / DRAM bytes against FLOPs / time summed over the class's ops (LLM serving: one decode step at the served batch; ranking, video, speech: one batch of the preset, costed op by op as for its throughput). The roof uses calibrated peak FLOP/s x efficiency at the first workload's precision and bandwidth x efficiency. The choice, the chosen design and the best buy are shown; click the legend for the others. Chips excluded by the study's constraints (see Excluded candidates) are not evaluated, so they have no roofline. Training is costed by the cluster model (perf/training.py), not one graph, so it has no points here.",
        "breakdown": "Where one step's time goes (study/diagnostics.py): compute or memory = each op's max(t_compute, t_memory), counted under the larger; communication = collectives (alpha-beta); kernel launch + scheduling = the calibrated fixed time per unfused kernel (kernel_overhead_us: launch, the GPU's block scheduler, framework dispatch; perf/opcost.py t = max(t_c, t_m) + t_kernel), times the kernels in the step (hover and the table below give counts); for the custom NPUs the template's RISC-V control cores cut it (spec sheet); fixed-function = video engines; host (not overlapped) = time the workload spends beyond the device graph (embedding rows from host DRAM or SSD). Earlier reports counted a whole op as 'overhead' when its kernel time exceeded its busy time; this splits the time itself.",
        "energy_memory": "Energy per unit = power per chip (capped at TDP) / units per second per chip, in the traffic unit of each workload (token, query, clip, audio second); memory per chip = weights + KV cache or activations the workload holds (ranking excludes embedding tables, placed across HBM/host by the recsys model) against the chip's capacity.",
        "cost_stack": "Die (wafer price / good dies incl. yield), HBM, packaging and NRE amortised over the study volume.",
        "compliance": "TPP = dense TOPS x bit length (max over precisions); PD = TPP / applicable die area. Rule version and thresholds in the compliance table.",
    }
    captions["pareto"] += _cloud_note(cloud)
    for key, fig in figs:
        parts.append(f"<section><h2>{html.escape(HEADINGS.get(key, key))}</h2>"
                     f"{fig.to_html(full_html=False, include_plotlyjs=False, div_id=f'fig-{key}', config={'displaylogo': False})}"
                     f"<p class='note'>{html.escape(captions.get(key, ''))}</p></section>")
    parts.append("<section><h2>Per workload and chip</h2>" + table(res["matrix"], [
        "workload", "chip", "units_per_s_per_chip", "unit", "power_w", "latency_s", "bound", "cost_per_unit_usd", "chips_needed",
        "fleet_tco_usd_per_year", "config", "error"], labels={"units_per_s_per_chip": "units/s per chip", "power_w": "power (W)",
        "latency_s": "latency (s)", "cost_per_unit_usd": "cost per unit", "fleet_tco_usd_per_year": "fleet TCO / year", "error": "notes / reason"},
        blank=_matrix_blank, title="Per workload and chip") + "</section>")
    parts.append(_diagnostics_table(res))
    if res.get("chosen_design"):
        parts.append(_spec_sheet(res))
    parts.append(_decision_section(res))
    parts.append("<section><h2>Export compliance</h2><p class='note'>" + html.escape(res.get("compliance_disclaimer", "Not legal advice.")) + "</p>"
                 + table(res.get("compliance", []), blank=lambda r, c: "not assessed") + "</section>")
    parts.append("<section><h2>Assumptions</h2>" + table(res.get("assumptions", []), title="Assumptions", collapse=30) + "</section>")
    parts.append("<section><h2>Sources</h2>" + table(res.get("sources", []), title="Sources") + "</section>")
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(s['name'])} - tapeout report</title>
<style>{CSS}</style><script type="text/javascript">{plotly_js({t.type for _, f in figs for t in f.data})}</script></head>
<body><header><h1>{html.escape(s['name'])}</h1><div>{html.escape(s.get('description', ''))}</div>
<div class="note" style="color:#cde">tapeout {html.escape(res.get('version', ''))} &middot; generated {html.escape(res.get('generated', ''))}</div></header>
<main>{''.join(parts)}</main></body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
