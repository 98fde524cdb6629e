"""Last mapper: an MLPerf row no benchmark mapper claimed gets a skip reason that names the
benchmark, says whether a definition of it is on file, and where to add what is missing
(instead of the harness's generic "no mapper handles this row kind"). Registered after every
other mapper (registry.load_mappers), so it only ever sees rows they all declined.
"""

from __future__ import annotations

import re

from ..perf.mlperf import benchmarks
from . import llm_rows, other_rows, train_rows
from .registry import SkipRow, register

HOW_TO_ADD = {
    "Inference": "add the benchmark's dataset facts (mean input/output tokens, latency bounds) to "
                 "data/mlperf/benchmarks.yaml `inference` and its name to validation/llm_rows.py MLPERF_BENCH "
                 "(LLM), or a graph builder and validation/other_rows.py INF_BENCH entry (other models)",
    "Training": "add the benchmark's definition (model, sequence length or epoch size, evaluation cadence) to "
                "data/mlperf/benchmarks.yaml `training` and validation/train_rows.py BENCH_KEYS (LLM), or a "
                "training graph and validation/other_rows.py TRAIN_BENCH entry (other models)",
}


def known_benchmarks(kind: str) -> list[str]:
    """The MLPerf benchmark names (as results folders spell them) the mappers predict."""
    if kind == "Inference":
        return sorted(llm_rows.MLPERF_BENCH) + sorted({name for _, name in other_rows.INF_BENCH})
    return sorted(train_rows.BENCH_KEYS) + sorted(other_rows.TRAIN_BENCH)


def definition_on_file(kind: str, name: str) -> str | None:
    """Where a definition of this benchmark already lives, though no mapper uses it (None: nowhere)."""
    key = re.sub(r"[-_.]", "", name.lower())
    section = "inference" if kind == "Inference" else "training"
    for k in benchmarks().get(section, {}):
        if re.sub(r"[-_.]", "", k.lower()) == key:
            return f"data/mlperf/benchmarks.yaml {section}.{k}"
    for k in other_rows.workload_facts():
        if re.sub(r"[-_.]", "", k.lower()).removeprefix("train") == key and (kind == "Training") == k.startswith("train"):
            return f"data/mlperf/other_benchmarks.yaml {k}"
    return None


@register("mlperf-unmapped")
def refuse(row: dict, fitted: dict | None = None):
    m = re.match(r"MLPerf (Inference|Training) (v[\d.]+) (\S+)", row.get("workload", ""))
    if not m:
        return None
    kind, rnd, name = m.groups()
    cat = {"Inference": "mlperf-inf", "Training": "mlperf-train"}[kind]
    if row.get("category") != cat:
        raise SkipRow(f"workload '{row['workload']}' is MLPerf {kind} but category is '{row.get('category')}'; "
                      f"set category to {cat}")
    on_file = definition_on_file(kind, name)
    have = f"a definition is on file ({on_file}) but no row mapper uses it" if on_file else "no definition on file"
    raise SkipRow(f"MLPerf {kind} {rnd} benchmark '{name}' is not mapped: {have}; mapped benchmarks: "
                  f"{', '.join(known_benchmarks(kind))}. To predict it, {HOW_TO_ADD[kind]}")
