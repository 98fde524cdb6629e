"""MLPerf LLM harnesses that fix the number of engine replicas (data/mlperf/llm_harness.yaml).

A harness that drives one engine endpoint per node (the MLCommons reference SUT over one
OpenAI-compatible API server) runs the node's accelerators as one model replica: the layout
search then only considers tp x pp = accelerators per node. A property of the harness source,
the same for every chip.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml


@lru_cache(maxsize=1)
def harnesses() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "llm_harness.yaml").read_text())["harnesses"]


def harness_replicas(row: dict) -> int | None:
    """Engine replicas the row's harness runs (replicas per node x nodes), None where no
    harness entry matches (tapeout chooses the data parallelism)."""
    notes, software = row.get("notes", ""), row.get("software", "").lower()
    for h in harnesses().values():
        if re.search(h["notes_match"], notes) and re.search(h["software_match"], software):
            m = re.search(r"\bnodes=(\d+)", notes)
            return int(h["replicas_per_node"]) * (int(m.group(1)) if m else 1)
    return None
