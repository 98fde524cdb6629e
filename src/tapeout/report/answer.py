"""The answer at the top of the report, with its why: the choice, its probability of being the
cheapest fleet and P10-P90 fleet TCO (study/decision.py), the best chip one can buy instead,
the three inputs that could flip it (tornado) and the binding constraint."""

from __future__ import annotations

import html
from collections import Counter

from .fmt import number, usd


def custom_ids(res: dict) -> set[str]:
    return {p["chip"] for p in res.get("program") or []}


def runner_up_buy(res: dict) -> str | None:
    """The catalog chip with the lowest median fleet TCO other than the choice."""
    d = res.get("decision") or {}
    q = d.get("fleet_tco_usd_per_year") or {}
    buy = [c for c in q if c not in custom_ids(res) and c != d.get("choice")]
    return min(buy, key=lambda c: q[c]["p50"]) if buy else None


def flippers(res: dict, n: int = 3) -> list[dict]:
    """Tornado inputs whose 80% range crosses zero margin (the answer flips), largest swing first;
    when fewer than n flip, the next largest swings fill in."""
    # margins are None when the study has no alternative to compare with: such rows never flip
    rows = [r for r in (res.get("decision") or {}).get("tornado") or []
            if r.get("margin_low") is not None and r.get("margin_high") is not None]
    swing = lambda r: abs(r["margin_high"] - r["margin_low"])  # noqa: E731
    flips = sorted([r for r in rows if min(r["margin_low"], r["margin_high"]) < 0], key=swing, reverse=True)
    rest = sorted([r for r in rows if r not in flips], key=swing, reverse=True)
    return (flips + rest)[:n]


def binding_constraint(res: dict) -> str:
    """The study constraint that removed the most catalog chips, and the design-space limit that
    removed the most designs (explore's removed_by)."""
    cnt, who = Counter(), {}
    for e in res.get("excluded") or []:
        for part in e["reason"].split("; "):
            name = part.split(":")[0].strip()
            if name and name[0].isalpha() and " " not in name:
                cnt[name] += 1
                who.setdefault(name, []).append(e["candidate"])
    out = []
    if cnt:
        name, k = sorted(cnt.items(), key=lambda t: (-t[1], t[0]))[0]
        out.append(f"{name} (rules out {', '.join(who[name])})")
    removed = Counter()
    for info in (res.get("explore") or {}).values():
        for lim, k in (info.get("removed_by") or {}).items():
            removed[lim] += k
    if removed:
        lim, k = sorted(removed.items(), key=lambda t: (-t[1], t[0]))[0]
        total = sum(i.get("evaluated", 0) for i in res["explore"].values())
        out.append(f"in the design spaces, '{lim}' removes {number(k)} of {number(total)} designs")
    return "; ".join(out) or "none binds"


def _flip_text(r: dict) -> str:
    v = r.get("flip_value")
    is_usd = "USD" in r["input"]
    fmt = usd if is_usd else (lambda x: f"{x:.2f}")
    rng = f"80% range {fmt(r['low_value'])} to {fmt(r['high_value'])}"
    if v is None:
        return f"{r['input']}: does not flip within its {rng}"
    return f"{r['input']}: flips at {fmt(v)} ({rng})"


def answer_section(res: dict) -> str:
    d = res.get("decision") or {}
    if not d:
        return f"<section id='answer'><h2>Answer</h2><p>{html.escape(res.get('answer', ''))}</p></section>"
    ch = d["choice"]
    q = d["fleet_tco_usd_per_year"]
    alt = runner_up_buy(res)
    design = (res.get("chosen_design") or {}).get("name")
    kpi = lambda k, v: f"<span class='kpi'>{html.escape(k)}<b>{html.escape(v)}</b></span>"  # noqa: E731
    kpis = [kpi("Choice", ch), kpi("P(cheapest fleet)", f"{d['p_best'][ch]:.0%}"),
            kpi("Fleet TCO / year, P10-P90", f"{usd(q[ch]['p10'])} - {usd(q[ch]['p90'])}"),
            kpi("Median", usd(q[ch]["p50"]))]
    if alt:
        kpis.append(kpi("Runner-up to buy", f"{alt} ({d['p_best'].get(alt, 0):.0%}, median {usd(q[alt]['p50'])})"))
    if design and design in q and design != ch:
        kpis.append(kpi("Best custom NPU", f"{design} ({d['p_best'].get(design, 0):.0%}, median {usd(q[design]['p50'])})"))
    why = "".join(f"<li>{html.escape(_flip_text(r))}</li>" for r in flippers(res))
    be = d.get("break_even") or {}
    be_txt = ""
    if be.get("design"):
        be_txt = (f"Building {be['design']} beats {be['versus']} from a program volume of {number(be['volume'])} chips."
                  if be.get("volume") else f"{be['design']} never beats {be['versus']}: {be.get('note', '')}.")
    return ("<section id='answer'><h2>Answer</h2><div class='kpis'>" + "".join(kpis) + "</div>"
            f"<p>{html.escape(res.get('answer', ''))}</p>"
            f"<p><b>Three inputs that could flip it</b> (tornado, fleet TCO margin of the best alternative over {html.escape(ch)}):</p>"
            f"<ol>{why}</ol><p><b>Binding constraint:</b> {html.escape(binding_constraint(res))}.</p>"
            + (f"<p><b>Break-even:</b> {html.escape(be_txt)}</p>" if be_txt else "") + "</section>")
