"""Plotly figures of a study result (each takes the results dict written by study.runner)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from ..study.diagnostics import COMPONENTS

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _layout(fig: go.Figure, title: str, **kw) -> go.Figure:
    fig.update_layout(title=dict(text=title, font=dict(size=13)), template="plotly_white", height=kw.pop("height", 460), margin=dict(l=60, r=20, t=60, b=60), **kw)
    return fig


def front_2d(xs: list[float], ys: list[float]) -> list[int]:
    """Indices of the points no other point beats on both axes (maximise x and y), by x."""
    order = sorted(range(len(xs)), key=lambda i: (-xs[i], -ys[i]))
    keep, best = [], -math.inf
    for i in order:
        if ys[i] > best:
            keep.append(i)
            best = ys[i]
    return sorted(keep, key=lambda i: xs[i])


def _staircase(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """The boundary of the region a 2-objective front (sorted by x, so y falls) dominates: the
    corner between two front points is (x_prev, y_next), itself dominated, never a better point."""
    sx, sy = [], []
    for i, (x, y) in enumerate(zip(xs, ys)):
        if i:
            sx.append(xs[i - 1])
            sy.append(y)
        sx.append(x)
        sy.append(y)
    return sx, sy


TEXT_POS = ("top center", "bottom center", "middle right", "middle left", "top right", "bottom left")


def pareto_figure(res: dict) -> go.Figure:
    """Left: every evaluated candidate on the study's mix (the numbers the decision uses), with
    the 2-objective front among them. Right: the explorer's screening of each design space on
    that space's own workload mix, one front per node; its own 3-objective front (incl. SLO
    ratio) is marked, not joined, since in this plane some of it is dominated."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "Study mix: candidates the decision compares", "Design-space screening (each space's own mix)"))
    custom = {p["chip"] for p in res.get("program") or []}
    choice = (res.get("decision") or {}).get("choice")
    chosen = (res.get("chosen_design") or {}).get("name")
    chips = sorted([c for c in res.get("chip_summary", []) if c.get("perf_per_watt") and c.get("perf_per_tco")],
                   key=lambda c: c["perf_per_watt"])
    xs, ys = [c["perf_per_watt"] for c in chips], [c["perf_per_tco"] for c in chips]
    on = set(front_2d(xs, ys))
    for group, sel, sym in (("catalog chips", [i for i, c in enumerate(chips) if c["chip"] not in custom], "diamond"),
                            ("custom NPUs (study mix)", [i for i, c in enumerate(chips) if c["chip"] in custom], "circle")):
        fig.add_trace(go.Scatter(
            x=[xs[i] for i in sel], y=[ys[i] for i in sel], mode="markers+text", name=group,
            text=[chips[i]["chip"] + (" (choice)" if chips[i]["chip"] == choice else " (chosen design)" if chips[i]["chip"] == chosen else "")
                  for i in sel],
            textposition=[TEXT_POS[k % len(TEXT_POS)] for k in range(len(sel))], textfont=dict(size=10),
            marker=dict(symbol=[sym if i in on else f"{sym}-open" for i in sel], size=[16 if chips[i]["chip"] in (choice, chosen) else 10 for i in sel],
                        color="#d62728" if sym == "diamond" else "#08519c", line=dict(width=2))), row=1, col=1)
    fx = sorted(on, key=lambda i: xs[i])
    sx, sy = _staircase([xs[i] for i in fx], [ys[i] for i in fx])
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", name="2-objective front (study mix)", line=dict(color="#444", dash="dot")),
                  row=1, col=1)
    pts = res.get("designs", [])
    infeas = [d for d in pts if not d.get("feasible", True)]
    reasons = sorted({d.get("reason") or "constraints" for d in infeas}, key=lambda r: (-sum((d.get("reason") or "constraints") == r for d in infeas), r))
    for i, r in enumerate(reasons):
        sel = [d for d in infeas if (d.get("reason") or "constraints") == r]
        fig.add_trace(go.Scatter(x=[d["perf_per_watt"] for d in sel], y=[d["perf_per_tco"] for d in sel], mode="markers",
                                   name=f"infeasible: {r} ({len(sel):,} drawn)", legendgroup="infeasible",
                                   marker=dict(color=GREYS[i % len(GREYS)], size=4), visible=True if i < 2 else "legendonly",
                                   hovertext=[_hover(d) for d in sel]), row=1, col=2)
    for j, space in enumerate(sorted({d["space"] for d in pts})):
        feas = [d for d in pts if d["space"] == space and d.get("feasible", True) and d.get("perf_per_tco")]
        if not feas:
            continue
        col = PALETTE[j % len(PALETTE)]
        fxs, fys = [d["perf_per_watt"] for d in feas], [d["perf_per_tco"] for d in feas]
        f2 = front_2d(fxs, fys)
        fig.add_trace(go.Scatter(x=fxs, y=fys, mode="markers", name=f"{space}: feasible ({len(feas):,} drawn)", marker=dict(color=col, size=4, opacity=0.35),
                                   hovertext=[_hover(d) for d in feas]), row=1, col=2)
        lx, ly = _staircase([fxs[i] for i in f2], [fys[i] for i in f2])
        fig.add_trace(go.Scatter(x=lx, y=ly, mode="lines", name=f"{space}: 2-objective front", line=dict(color=col, width=2)), row=1, col=2)
        three = [d for d in feas if d.get("on_front")]
        fig.add_trace(go.Scatter(x=[d["perf_per_watt"] for d in three], y=[d["perf_per_tco"] for d in three], mode="markers",
                                 name=f"{space}: on its 3-objective front (incl. SLO)", hovertext=[_hover(d) for d in three],
                                 marker=dict(color=col, size=9, symbol="circle-open", line=dict(width=2))), row=1, col=2)
    if xs:
        pad = 0.12 * (max(xs) - min(xs) or 1.0)
        fig.update_xaxes(range=[min(xs) - pad, max(xs) + 2 * pad], row=1, col=1)
    fig.update_xaxes(title_text="mix perf / W (reference chip = 1)", row=1, col=1)
    fig.update_yaxes(title_text="mix perf / TCO $ (reference chip = 1)", row=1, col=1)
    fig.update_xaxes(title_text="space-mix perf / W (reference chip = 1)", row=1, col=2)
    fig.update_yaxes(title_text="space-mix perf / TCO $", row=1, col=2)
    return _layout(fig, "Pareto: perf per watt vs perf per TCO dollar (filled marker = on the 2-objective front, open = dominated)",
                   height=560, legend=dict(font=dict(size=10)))


GREYS = ["#bdbdbd", "#fdae6b", "#c994c7", "#a1d99b", "#fc9272", "#9ebcda", "#d9d9d9", "#fdd0a2", "#bcbddc", "#c7e9c0"]


def _hover(d: dict) -> str:
    return "<br>".join(f"{k}: {v}" for k, v in d.get("params", {}).items())


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


OP_SYMBOL = {"matmul": "circle", "attention": "diamond", "elementwise": "square", "embedding": "triangle-up"}


def roofline_figure(res: dict) -> go.Figure:
    """Every evaluated chip's roof and ops; the choice, the best buy and the chosen design are
    shown, the others one legend click away."""
    fig = go.Figure()
    shown = set(focus_chips(res))
    for i, rf in enumerate(res.get("rooflines", [])):
        vis = True if rf["chip"] in shown else "legendonly"
        peak, bw = rf["peak_tflops"], rf["bandwidth_tbps"]
        xs = [0.5, peak / bw, 1e5]
        fig.add_trace(go.Scatter(x=xs, y=[min(peak, x * bw) for x in xs], mode="lines", name=f"{rf['chip']} roof ({rf['dtype']})", visible=vis, legendgroup=rf["chip"],
                                 line=dict(color=PALETTE[i % len(PALETTE)], dash="dash")))
        pts = rf.get("points", [])
        fig.add_trace(go.Scatter(x=[p["intensity"] for p in pts], y=[p["tflops"] for p in pts], mode="markers",
                                 name=f"{rf['chip']} ops", visible=vis, legendgroup=rf["chip"], text=[p["label"] for p in pts],
                                 marker=dict(color=PALETTE[i % len(PALETTE)], symbol=[OP_SYMBOL.get(p.get("op_class"), "circle") for p in pts],
                                             size=[max(5, min(18, 4 + 3 * math.log10(1 + p['time_share'] * 100))) for p in pts])))
    return _layout(fig, "Roofline: achieved TFLOP/s per op class and workload vs arithmetic intensity (o matmul, diamond attention, square elementwise, triangle embedding; size ~ share of step time)",
                   xaxis_type="log", yaxis_type="log", xaxis_title="FLOP per DRAM byte", yaxis_title="TFLOP/s")


def focus_chips(res: dict) -> list[str]:
    """The choice, the chosen custom design and the best chip one can buy (the catalog chip with
    the lowest median fleet TCO; without a decision, the lowest deterministic fleet TCO)."""
    from .answer import custom_ids, runner_up_buy

    d = res.get("decision") or {}
    cat = sorted((s for s in res.get("chip_summary", []) if s["chip"] not in custom_ids(res) and s.get("fleet_tco_usd_per_year")),
                 key=lambda s: s["fleet_tco_usd_per_year"])
    out = [d.get("choice"), (res.get("chosen_design") or {}).get("name"), runner_up_buy(res) or (cat[0]["chip"] if cat else None)]
    return [c for i, c in enumerate(out) if c and c not in out[:i]]


def focus_rows(res: dict) -> list[dict]:
    focus = focus_chips(res)
    wls = [w["name"] for w in res.get("workloads", [])]
    rows = [r for r in res.get("diagnostics", []) if r["chip"] in focus]
    return sorted(rows, key=lambda r: (wls.index(r["workload"]) if r["workload"] in wls else 99, focus.index(r["chip"])))


def breakdown_figure(res: dict) -> go.Figure:
    """Step time of every workload with an op graph on the focus chips, split into what the
    time is spent on (study/diagnostics.py components)."""
    fig = go.Figure()
    rows = focus_rows(res)
    labels = [f"{r['workload']} @ {r['chip']}" for r in rows]
    for i, b in enumerate(COMPONENTS):
        ys = [r["components_s"].get(b, 0.0) / r["step_s"] for r in rows]
        if any(ys):
            fig.add_trace(go.Bar(x=labels, y=ys, name=b, marker_color=PALETTE[i],
                                 hovertext=[f"{r['components_s'].get(b, 0.0) * 1e3:,.3g} ms of a {r['step_s'] * 1e3:,.4g} ms {r['step']}"
                                            for r in rows]))
    return _layout(fig, "Step-time breakdown of the choice, the chosen design and the best buy, every workload (share of one step)",
                   barmode="stack", yaxis_title="share of step time", height=520)


def energy_memory_figure(res: dict) -> go.Figure:
    """Energy per unit of work and memory per chip of the focus chips, every workload."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "Energy per unit of work (J, log)", "Memory per chip: used (bar) vs capacity (line)"))
    rows = focus_rows(res)
    for i, chip in enumerate(focus_chips(res)):
        sel = [r for r in rows if r["chip"] == chip]
        col = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Bar(x=[r["workload"] for r in sel], y=[r["energy_per_unit_j"] for r in sel], name=chip,
                             legendgroup=chip, marker_color=col, hovertext=[f"J per {r['unit']}" for r in sel]), row=1, col=1)
        fig.add_trace(go.Bar(x=[r["workload"] for r in sel], y=[r["memory_gb"] for r in sel], name=f"{chip}: GB used",
                             legendgroup=chip, marker_color=col, showlegend=False), row=1, col=2)
        if sel:
            fig.add_trace(go.Scatter(x=[r["workload"] for r in sel], y=[r["capacity_gb"] for r in sel], mode="lines+markers",
                                     name=f"{chip}: capacity", legendgroup=chip, line=dict(color=col, dash="dot")), row=1, col=2)
    fig.update_yaxes(type="log", title_text="J per unit (token, query, clip, audio s)", row=1, col=1)
    fig.update_yaxes(title_text="GB per chip", row=1, col=2)
    return _layout(fig, "Energy per unit of work and memory per chip (choice, chosen design, best buy)", barmode="group", height=480)


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
    # fixed palette by sorted class name: the same study gives the same colours on every run
    class_colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(sorted({p["class"] for p in pts}))}
    fig.add_trace(go.Scatter(x=[p["tpp"] for p in pts], y=[p["pd"] for p in pts], mode="markers+text", text=[p["chip"] for p in pts],
                             textposition="top center", marker=dict(size=10, color=[class_colour[p["class"]] for p in pts]),
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
