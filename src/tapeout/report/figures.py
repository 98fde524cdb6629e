"""Plotly figures of a study result (each takes the results dict written by study.runner)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=13)), template="plotly_white", height=kw.pop("height", 460), margin=dict(l=60, r=20, t=60, b=60), **kw)
    return fig


def pareto_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    pts = res.get("designs", [])
    feas = [d for d in pts if d.get("feasible", True) and not d.get("on_front")]
    front = sorted([d for d in pts if d.get("on_front")], key=lambda d: d["perf_per_watt"])
    infeas = [d for d in pts if not d.get("feasible", True)]
    hover = lambda d: "<br>".join(f"{k}: {v}" for k, v in d.get("params", {}).items())  # noqa: E731
    # infeasible designs apart, one trace per reason (the first constraint each breaks)
    reasons = sorted({d.get("reason") or "" for d in infeas}, key=lambda r: -sum((d.get("reason") or "") == r for d in infeas))
    greys = ["#bdbdbd", "#fdae6b", "#c994c7", "#a1d99b", "#fc9272", "#9ebcda", "#d9d9d9", "#fdd0a2", "#bcbddc", "#c7e9c0"]
    for i, r in enumerate(reasons):
        sel = [d for d in infeas if (d.get("reason") or "") == r]
        fig.add_trace(go.Scattergl(x=[d["perf_per_watt"] for d in sel], y=[d["perf_per_tco"] for d in sel], mode="markers",
                                   name=f"infeasible: {r or 'constraints'} ({len(sel)})", marker=dict(color=greys[i % len(greys)], size=4),
                                   text=[hover(d) for d in sel]))
    if feas:
        fig.add_trace(go.Scattergl(x=[d["perf_per_watt"] for d in feas], y=[d["perf_per_tco"] for d in feas], mode="markers",
                                   name="feasible designs", marker=dict(color="#9ecae1", size=5), text=[hover(d) for d in feas]))
    if front:
        fig.add_trace(go.Scatter(x=[d["perf_per_watt"] for d in front], y=[d["perf_per_tco"] for d in front], mode="lines+markers",
                                 name="Pareto front (custom NPU)", marker=dict(color="#08519c", size=9), text=[hover(d) for d in front]))
    chips = [c for c in res.get("chip_summary", []) if c.get("perf_per_watt")]
    fig.add_trace(go.Scatter(x=[c["perf_per_watt"] for c in chips], y=[c["perf_per_tco"] for c in chips], mode="markers+text",
                             name="catalog chips", text=[c["chip"] for c in chips], textposition="top center",
                             marker=dict(color="#d62728", size=11, symbol="diamond")))
    return _layout(fig, "Pareto front: workload-mix throughput per watt vs per TCO dollar (relative to the reference chip = 1)",
                   xaxis_title="mix perf / W (relative)", yaxis_title="mix perf / TCO $ (relative)")


def throughput_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    rows = res.get("matrix", [])
    wls = [w["name"] for w in res.get("workloads", [])]
    chips = [c["chip"] for c in res.get("chip_summary", [])]
    ref = res.get("reference_chip")
    for i, wl in enumerate(wls):
        refv = next((r["units_per_s_per_chip"] for r in rows if r["workload"] == wl and r["chip"] == ref and r.get("units_per_s_per_chip")), None)
        ys = []
        for c in chips:
            r = next((r for r in rows if r["workload"] == wl and r["chip"] == c), None)
            v = r.get("units_per_s_per_chip") if r else None
            ys.append(v / refv if (v and refv) else None)
        fig.add_trace(go.Bar(x=chips, y=ys, name=wl, marker_color=PALETTE[i % len(PALETTE)]))
    return _layout(fig, f"Per-workload throughput per chip, relative to {ref}", barmode="group", yaxis_title=f"throughput / {ref}")


def cost_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    rows = res.get("matrix", [])
    wls = [w["name"] for w in res.get("workloads", [])]
    chips = [c["chip"] for c in res.get("chip_summary", [])]
    for i, wl in enumerate(wls):
        unit = next((w["cost_unit"] for w in res["workloads"] if w["name"] == wl), "")
        ys = []
        for c in chips:
            r = next((r for r in rows if r["workload"] == wl and r["chip"] == c), None)
            ys.append(r.get("cost_per_unit_usd") if r else None)
        fig.add_trace(go.Bar(x=chips, y=ys, name=f"{wl} ($ {unit})", marker_color=PALETTE[i % len(PALETTE)]))
    return _layout(fig, "Cost per unit of work (TCO: capex amortised + power)", barmode="group", yaxis_type="log", yaxis_title="USD per unit (log)")


def fleet_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    rows = res.get("matrix", [])
    chips = [c["chip"] for c in res.get("chip_summary", [])]
    for i, w in enumerate(res.get("workloads", [])):
        ys = []
        for c in chips:
            r = next((r for r in rows if r["workload"] == w["name"] and r["chip"] == c), None)
            ys.append(r.get("fleet_tco_usd_per_year") / 1e6 if r and r.get("fleet_tco_usd_per_year") else None)
        fig.add_trace(go.Bar(x=chips, y=ys, name=w["name"], marker_color=PALETTE[i % len(PALETTE)]))
    return _layout(fig, "Fleet TCO per year to serve the stated traffic (stacked by workload)", barmode="stack", yaxis_title="M USD / year")


def roofline_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    for i, rf in enumerate(res.get("rooflines", [])):
        peak, bw = rf["peak_tflops"], rf["bandwidth_tbps"]
        xs = [0.5, peak / bw, 1e5]
        fig.add_trace(go.Scatter(x=xs, y=[min(peak, x * bw) for x in xs], mode="lines", name=f"{rf['chip']} roof ({rf['dtype']})",
                                 line=dict(color=PALETTE[i % len(PALETTE)], dash="dash")))
        pts = rf.get("points", [])
        fig.add_trace(go.Scatter(x=[p["intensity"] for p in pts], y=[p["tflops"] for p in pts], mode="markers",
                                 name=f"{rf['chip']} ops", text=[p["label"] for p in pts],
                                 marker=dict(color=PALETTE[i % len(PALETTE)], size=[max(5, min(18, 4 + 3 * math.log10(1 + p['time_share'] * 100))) for p in pts])))
    return _layout(fig, "Roofline: achieved TFLOP/s of each op vs arithmetic intensity (marker size ~ share of step time)",
                   xaxis_type="log", yaxis_type="log", xaxis_title="FLOP per DRAM byte", yaxis_title="TFLOP/s")


def breakdown_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    rows = [r for r in res.get("matrix", []) if r.get("time_by_bound")]
    labels = [f"{r['workload']} @ {r['chip']}" for r in rows]
    for i, b in enumerate(("compute", "memory", "comm", "overhead", "fixed")):
        ys = [r["time_by_bound"].get(b, 0.0) for r in rows]
        if any(ys):
            fig.add_trace(go.Bar(x=labels, y=ys, name=b, marker_color=PALETTE[i]))
    return _layout(fig, "Latency breakdown: share of step time by what bounds each op", barmode="stack", yaxis_title="share of step time",
                   height=520)


def cost_stack_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    stacks = res.get("cost_stacks", {})
    items = sorted({k for s in stacks.values() for k in s})
    for i, item in enumerate(items):
        fig.add_trace(go.Bar(x=list(stacks), y=[stacks[c].get(item, 0.0) for c in stacks], name=item, marker_color=PALETTE[i % len(PALETTE)]))
    return _layout(fig, "Unit manufacturing cost stack (model estimate; see sources)", barmode="stack", yaxis_title="USD per chip")


def compliance_figure(res: dict) -> go.Figure:
    fig = go.Figure()
    pts = [p for p in res.get("compliance", []) if p.get("tpp") is not None and p.get("pd") is not None]
    fig.add_trace(go.Scatter(x=[p["tpp"] for p in pts], y=[p["pd"] for p in pts], mode="markers+text", text=[p["chip"] for p in pts],
                             textposition="top center", marker=dict(size=10, color=[PALETTE[hash(p["class"]) % 10] for p in pts]),
                             hovertext=[p["class"] for p in pts], name="chips / designs"))
    xmax = max([p["tpp"] for p in pts] + [30000]) * 1.1
    ymax = max([p["pd"] for p in pts] + [25]) * 1.1
    for x, label in ((4800, "TPP 4800 (3A090.a)"), (1600, "TPP 1600"), (21000, "TPP 21,000 (2026 band)")):
        fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=ymax, line=dict(dash="dot", color="#555"))
        fig.add_annotation(x=x, y=ymax, text=label, showarrow=False, textangle=-90, xanchor="left", yanchor="top")
    for y, label in ((5.92, "PD 5.92"), (1.6, "PD 1.6")):
        fig.add_shape(type="line", x0=0, x1=xmax, y0=y, y1=y, line=dict(dash="dot", color="#999"))
        fig.add_annotation(x=xmax, y=y, text=label, showarrow=False, xanchor="right", yanchor="bottom")
    return _layout(fig, "Export-control map: TPP vs performance density (not legal advice)", xaxis_title="TPP", yaxis_title="PD (TPP / mm^2)")
