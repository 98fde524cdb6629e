"""Cells people read: human dollar amounts, thousands separators, Yes/No, a reason in place of
a blank, links for URLs, no raw JSON or Python exception text; long tables collapse."""

from __future__ import annotations

import html
import math
import re

URL = re.compile(r"https?://[^\s;,)'\"]+")
# Python exception text that must never reach a reader, with the sentence shown instead
RAW_ERRORS = (("division by zero", "not computable (a zero in the inputs)"),)
COLLAPSE_ROWS = 12


def usd(x: float | None) -> str:
    """$48.0M, $1.2B, $27.5k, $950."""
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"${x / div:,.1f}{suf}"
    return f"${x:,.2f}" if a < 10 else f"${x:,.0f}"


def number(x: float) -> str:
    """Thousands separators, 3-4 significant digits, no scientific notation for everyday sizes."""
    if not math.isfinite(x):
        return "n/a"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 1:
        return f"{x:,.3g}" if a < 100 else f"{x:,.1f}"
    if a >= 1e-3:
        return f"{x:.3g}"
    return f"{x:.2e}"


def text(v, key: str = "") -> str:
    """The plain text of one value (no HTML)."""
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "Yes" if v else "No"
    if isinstance(v, (int, float)):
        if "usd" in key.lower() or key.lower() in ("price", "cost"):
            return usd(float(v))
        if key.startswith("p_") or key in ("p_best", "share"):
            return f"{float(v):.0%}"
        return number(float(v))
    if isinstance(v, dict):
        return "; ".join(f"{k.replace('_', ' ')} {text(x, k)}" for k, x in v.items())
    if isinstance(v, list):
        return "; ".join(text(x, key) for x in v)
    s = str(v)
    for raw, say in RAW_ERRORS:
        if raw in s:
            s = say
    return s


def cell(v, key: str = "", blank: str = "") -> str:
    """One table cell as HTML: URLs become links; an empty value shows `blank` (the reason)."""
    s = text(v, key)
    if not s:
        return f"<span class='na'>{html.escape(blank or 'not applicable')}</span>"
    out, last = [], 0
    for m in URL.finditer(s):
        out.append(html.escape(s[last:m.start()]))
        u = m.group(0).rstrip(".")
        out.append(f"<a href='{html.escape(u)}' rel='noopener'>{html.escape(u)}</a>")
        last = m.start() + len(u)
    out.append(html.escape(s[last:]))
    return "".join(out)


def table(rows: list[dict], cols: list[str] | None = None, labels: dict | None = None, blank=None,
          title: str = "", collapse: int = COLLAPSE_ROWS) -> str:
    """rows -> <table>; `blank(row, col)` gives the reason for an empty cell; tables longer than
    `collapse` rows sit inside a closed <details> naming the row count."""
    if not rows:
        return "<p class='note'>(none)</p>"
    cols = cols or list(rows[0])
    labels = labels or {}
    head = "".join(f"<th>{html.escape(labels.get(c, c.replace('_', ' ')))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c), c, blank(r, c) if blank else '')}</td>" for c in cols) + "</tr>"
                   for r in rows)
    t = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if len(rows) > collapse:
        return f"<details><summary>{html.escape(title or 'Table')} ({len(rows):,} rows): show</summary>{t}</details>"
    return t
