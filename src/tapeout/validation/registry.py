"""Row mappers: each workload family registers a function that turns one measured row
(a dict in the schema of data/measured/end_to_end.csv: id, category, workload,
model_config, scenario, accelerator, n_accelerators, precision, metric, value, unit,
software, source, notes) into a prediction in the row's own unit.

A mapper returns None when the row is not its kind, raises SkipRow(reason) when the row
is its kind but cannot be predicted (unknown chip, missing config, ...), and otherwise
returns a RowPrediction. `tapeout validate` tries the mappers in registration order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class SkipRow(Exception):
    """The row belongs to this mapper but cannot be predicted; the message says why."""


@dataclass
class RowPrediction:
    predicted: float
    unit: str
    benchmark: str  # short benchmark name for the error table, e.g. "llama2-70b"
    low: float | None = None  # 80% interval from calibration residuals
    high: float | None = None
    detail: dict = field(default_factory=dict)


Mapper = Callable[[dict, "dict | None"], "RowPrediction | None"]  # (row, fitted calibration or None)
MAPPERS: list[tuple[str, Mapper]] = []


def interactive_variant(row: dict) -> bool:
    """An MLPerf v5.0+ "<bench>-interactive" row: LoadGen runs it in the Server scenario (results
    folders say "Server") under the benchmark's tighter interactive bounds (mlperf.conf
    *-interactive.Server), so a Server or Interactive label of it is the interactive scenario."""
    return (row.get("scenario", "").lower().startswith(("server", "interactive"))
            and "interactive" in row.get("workload", "").lower())


def register(name: str):
    def deco(fn: Mapper) -> Mapper:
        MAPPERS[:] = [(n, f) for n, f in MAPPERS if n != name]
        MAPPERS.append((name, fn))
        return fn

    return deco


def load_mappers() -> None:
    """Import the modules that register mappers (absent optional modules are skipped)."""
    import importlib

    for mod in ("tapeout.validation.llm_rows", "tapeout.validation.train_rows", "tapeout.validation.other_rows",
                "tapeout.validation.paper_inference",
                "tapeout.validation.unmapped_benchmark"):  # last: names what an unclaimed MLPerf row lacks
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
