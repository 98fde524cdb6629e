"""One self-contained HTML report per study: plotly.js is inlined once, so the page opens
offline; every figure is followed by the assumptions and sources behind it."""

from __future__ import annotations

import html
import json
from pathlib import Path

from plotly.offline import get_plotlyjs

from . import figures as F

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#0b3d66;color:#fff;padding:18px 28px}header h1{margin:0;font-size:24px}
main{padding:10px 28px 40px}section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:16px 0;padding:12px 18px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8}.note{color:#666;font-size:12px}.kpi{display:inline-block;margin:6px 18px 6px 0}
.kpi b{font-size:20px;display:block}
"""


def _decision_section(res: dict) -> str:
    """Build or buy: probabilities, tornado, break-even, program NRE, excluded candidates,
    prices and the fleet plan (numbers straight from results.json)."""
    d = res.get("decision") or {}
    out = ["<section><h2>Build or buy under uncertainty</h2>"]
    if d:
        out.append(f"<p>Choice: <b>{html.escape(d['choice'])}</b> ({html.escape(d.get('method', ''))}; "
                   f"{d.get('samples')} samples, seed {d.get('seed')}).</p>")
        out.append(_table([{"candidate": c, "p_best": d["p_best"].get(c), **q} for c, q in d["fleet_tco_usd_per_year"].items()]))
        out.append("<h3>Tornado (fleet TCO of the choice; margin = best alternative - choice, &lt; 0: the answer flips)</h3>"
                   + _table(d.get("tornado", [])[:10]))
        out.append("<h3>Break-even</h3>" + _table([d.get("break_even") or {}]))
    for title, key in (("Custom-design programs (NRE, volume, price)", "program"), ("Excluded candidates", "excluded"),
                       ("Prices charged", "prices")):
        rows = res.get(key) or []
        if key == "program":
            rows = [{k: v for k, v in r.items() if k != "nre_items"} for r in rows]
        out.append(f"<h3>{title}</h3>" + _table(rows))
    cols = ["year", "plan", "bought", "cumulative_usd", "capacity_vs_demand", "buy_cumulative_usd", "build_bought",
            "build_cumulative_usd", "npu_payback_year"]
    out.append("<h3>Fleet plan over years (chip roadmap prices, NPU from its ready year)</h3>"
               + _table(res.get("fleet_plan") or [], [c for c in cols if c in ((res.get("fleet_plan") or [{}])[0])]))
    skipped = [r for r in (res.get("fleet_plans") or {}).get("roadmap", []) if not r.get("in_plan")]
    if skipped:
        out.append("<p class='note'>Not bought: " + "; ".join(f"{html.escape(r['chip'])}: {html.escape(r['reason'])}" for r in skipped) + "</p>")
    return "".join(out) + "</section>"


def _table(rows: list[dict], cols: list[str] | None = None, fmt=None) -> str:
    if not rows:
        return "<p class='note'>(none)</p>"
    cols = cols or list(rows[0])
    def cell(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, (dict, list)):
            return html.escape(json.dumps(v)[:300])
        return html.escape("" if v is None else str(v))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


HEADINGS = {"pareto": "Pareto front", "throughput": "Throughput per workload", "cost": "Cost per unit of work",
            "fleet": "Fleet TCO", "roofline": "Roofline", "breakdown": "Latency breakdown", "cost_stack": "Cost stacks",
            "compliance": "Compliance map"}


def build_figures(res: dict) -> list[tuple[str, object]]:
    figs = [
        ("pareto", F.pareto_figure(res)),
        ("throughput", F.throughput_figure(res)),
        ("cost", F.cost_figure(res)),
        ("fleet", F.fleet_figure(res)),
        ("roofline", F.roofline_figure(res)),
        ("breakdown", F.breakdown_figure(res)),
        ("cost_stack", F.cost_stack_figure(res)),
        ("compliance", F.compliance_figure(res)),
    ]
    return figs


def write_report(res: dict, path: Path) -> Path:
    figs = build_figures(res)
    parts = []
    s = res["study"]
    best = res.get("recommendation", {})
    kpis = "".join(f"<span class='kpi'>{html.escape(k)}<b>{html.escape(str(v))}</b></span>" for k, v in best.items())
    parts.append(f"<section><h2>Answer</h2>{kpis}<p>{html.escape(res.get('answer', ''))}</p></section>")
    parts.append("<section><h2>Workload mix</h2>" + _table(res["workloads"], ["name", "kind", "model", "unit", "demand_per_s", "slo", "weight"]) + "</section>")
    parts.append("<section><h2>Chips compared</h2>" + _table(res["chip_summary"]) + "</section>")
    captions = {
        "pareto": "Each point is one custom-NPU design evaluated on the whole mix; diamonds are catalog chips. Both axes are the traffic-weighted geometric mean over workloads, normalised to the reference chip. Infeasible designs are coloured by the first constraint they break (floorplan limits: die edge, package, heat flux, power delivery, rack; econ/floorplan.py).",
        "throughput": "Units of work per second per chip (tokens, queries, clips, audio seconds), from the per-op model; missing bars mean the workload does not fit or misses its SLO (reason in the table below).",
        "cost": "TCO per unit: (capex/amortisation years + power x PUE x price) / annual units. Chip prices are published estimates (catalog) or the cost model's unit cost plus margin (custom designs).",
        "fleet": "Chips needed for the stated traffic x TCO per chip-year.",
        "roofline": "Ops of the largest workload step on each chip; the roof uses calibrated peak FLOP/s and bandwidth.",
        "breakdown": "Fraction of step time whose op is compute-, memory-, communication- or overhead-bound.",
        "cost_stack": "Die (wafer price / good dies incl. yield), HBM, packaging and NRE amortised over the study volume.",
        "compliance": "TPP = dense TOPS x bit length (max over precisions); PD = TPP / applicable die area. Rule version and thresholds in the compliance table.",
    }
    for key, fig in figs:
        parts.append(f"<section><h2>{html.escape(HEADINGS.get(key, key))}</h2>"
                     f"{fig.to_html(full_html=False, include_plotlyjs=False, div_id=f'fig-{key}', config={'displaylogo': False})}"
                     f"<p class='note'>{html.escape(captions.get(key, ''))}</p></section>")
    parts.append("<section><h2>Per workload and chip</h2>" + _table(res["matrix"], [
        "workload", "chip", "units_per_s_per_chip", "unit", "power_w", "latency_s", "bound", "cost_per_unit_usd", "chips_needed",
        "fleet_tco_usd_per_year", "config", "error"]) + "</section>")
    if res.get("chosen_design"):
        parts.append("<section><h2>Chosen custom NPU: spec sheet</h2>" + _table([{"parameter": k, "value": v} for k, v in res["chosen_design"].items()])
                     + "<p class='note'>Floorplan margins (>= 0: the limit is met, by that much): edge_margin_mm = usable die edge - PHY beachfront per die; "
                       "package_margin_mm2 = the packaging technology's largest package - (dies + HBM stacks) x spacing; heat_flux_margin_w_mm2 = cooling class - "
                       "the worse of average and hot-spot heat flux; power_delivery_margin_w = package power and core current; rack_margin_kw = rack power "
                       "(data/econ/floorplan.yaml).</p></section>")
    parts.append(_decision_section(res))
    parts.append("<section><h2>Export compliance</h2><p class='note'>" + html.escape(res.get("compliance_disclaimer", "Not legal advice.")) + "</p>"
                 + _table(res.get("compliance", [])) + "</section>")
    parts.append("<section><h2>Assumptions</h2>" + _table(res.get("assumptions", [])) + "</section>")
    parts.append("<section><h2>Sources</h2>" + _table(res.get("sources", [])) + "</section>")
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(s['name'])} - tapeout report</title>
<style>{CSS}</style><script type="text/javascript">{get_plotlyjs()}</script></head>
<body><header><h1>{html.escape(s['name'])}</h1><div>{html.escape(s.get('description', ''))}</div>
<div class="note" style="color:#cde">tapeout {html.escape(res.get('version', ''))} &middot; generated {html.escape(res.get('generated', ''))}</div></header>
<main>{''.join(parts)}</main></body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
