"""MLPerf MaxQ rows: the same chips run at a board power limit chosen per benchmark.

A row whose system name says MaxQ is predicted on `chip.power_capped(limit)` with the limit
NVIDIA's submission config sets (data/mlperf/maxq_power_limits.yaml, sourced per benchmark and
scenario); the calibrated efficiency follows the limit through the power transfer law
(perf/calibration.py). A MaxQ row whose limit is not in the file is skipped with that reason:
predicting it at full power would compare two different machine settings. An entry with `missing:`
instead of `value:` records a limit that was looked for and not found; the skip reason carries it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from .registry import SkipRow


@lru_cache(maxsize=1)
def power_limits() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "maxq_power_limits.yaml").read_text()) or {}


def is_maxq(row: dict) -> bool:
    return bool(re.search(r"\bMaxQ\b", row.get("notes", "") + " " + row.get("accelerator", "")))


def maxq_chip(row: dict, chip, bench: str, scenario: str, high_accuracy: bool = False):
    """The chip a row ran on: power-capped for a MaxQ system, else unchanged."""
    if not is_maxq(row):
        return chip
    entry = power_limits().get(chip.calibration_id, {}).get(bench, {}).get(scenario.capitalize() if scenario != "server" else "Server")
    if entry is None or "value" not in entry:
        why = f": {entry['missing']}" if entry and entry.get("missing") else ""
        raise SkipRow(f"MaxQ (power-capped) system: no sourced power limit for {chip.calibration_id} {bench} {scenario} "
                      f"in data/mlperf/maxq_power_limits.yaml{why}")
    if high_accuracy and isinstance(entry.get("high_accuracy"), dict):
        entry = entry["high_accuracy"]
    return chip.power_capped(float(entry["value"]))
