"""The shared typer app and output helpers used by every command module."""

from __future__ import annotations

import json
import math

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..api.results import jsonable  # noqa: F401 (re-exported for the command modules)

app = typer.Typer(
    name="tapeout",
    help="AI-chip co-design: predict speed, power, cost and legality of chips for your workloads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True)


def print_json(obj) -> None:
    """Machine-readable output on stdout (no rich markup)."""
    print(json.dumps(jsonable(obj), indent=2))


def table(title: str, columns: list[str], rows: list[list], caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:  # cells are data, not markup: "FLUX.1 [dev]" must print its brackets
        t.add_row(*[Text(fmt(v)) for v in r])
    return t


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1e6 or a < 1e-3:
            return f"{v:.3g}"
        if a >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return str(v)
