"""How a measured row's unit is read where the row leaves it open (data/measured/unit_readings.yaml).

A vendor table may print "out tok/s" without saying per GPU or in total; the row keeps the source's words and says
the reading is open. An entry of the file settles it for one source page, with the evidence from that page; a row
no entry covers is read as its words say (a total)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml


@lru_cache(maxsize=1)
def unit_readings() -> list[dict]:
    text = resources.files("tapeout").joinpath("data", "measured", "unit_readings.yaml").read_text()
    return yaml.safe_load(text) or []


def open_unit_reading(row: dict) -> str | None:
    """'per_gpu' where an entry covers the row's source and open unit, else None."""
    for e in unit_readings():
        if e["source_contains"] in row.get("source", "") and e["unit_contains"] in row.get("unit", ""):
            return e["reading"]
    return None
