"""What the model was developed on, and how far a row is from it (perf/novelty.py terms).

`covered(rows)` reads only the descriptions of the development rows (workload, model_config,
software): the range of total context and the serving stacks the model was checked on (the
architecture-family term is decided by the calibration instead: perf/novelty.py). Never the measured value. By default the development rows are the
packaged end_to_end.csv; a held-out split passes its own.
"""

from __future__ import annotations

from functools import lru_cache

from ..perf.novelty import Covered, arch_family, distance_terms, stack_of, widen
from . import llm_rows, train_rows


@lru_cache(maxsize=None)
def _family_of(model: str) -> str:
    from ..workloads.llm_config import load_llm

    return arch_family(load_llm(model))


def traits(row: dict) -> dict | None:
    """Architecture family, total context (input + output tokens; the sequence length of a
    training row) and software stack of an LLM inference or training row, from its
    description; None for other rows."""
    d = llm_rows.describe(row)
    if d is not None:
        ctx = d["input_len"] + (d["output_len"] or 0.0)
    else:
        d = train_rows.describe(row)
        if d is None:
            return None
        ctx = float(d["seq"])
    return {"model_family": _family_of(d["model"]), "context": ctx, "stack": stack_of(row.get("software", ""))}


def covered(rows: list[dict]) -> Covered:
    ts = [t for t in map(traits, rows) if t]
    if not ts:
        return Covered()
    ctx = [t["context"] for t in ts]
    return Covered((min(ctx), max(ctx)), frozenset(t["stack"] for t in ts if t["stack"]))


@lru_cache(maxsize=1)
def default_covered() -> Covered:
    from .harness import default_data, read_rows

    return covered(read_rows(default_data()))


def apply(result, row: dict, fitted: dict, cov: Covered | None) -> None:
    """Widen an LLM inference or training row's 80% interval by its distance terms (in place)
    and record them in detail['distance']."""
    from ..hardware.catalog import get_chip, resolve_chip_id

    t = traits(row)
    cid = resolve_chip_id(row.get("accelerator", ""))
    if t is None or cid is None or result.low is None:
        return
    prec = (result.detail or {}).get("precision")
    _record(result, distance_terms(get_chip(cid), prec, fitted, t["model_family"], t["context"], t["stack"], cov))


def apply_chip(result, row: dict, fitted: dict) -> None:
    """Widen any other row's interval by the chip-level term alone (chip_family: no chip of the
    row's family has microbenchmarks, so the calibration is the generic one). The workload terms
    need an LLM row's description; the precision term is left to LLM rows, whose format the
    mapper resolves per op class."""
    from ..hardware.catalog import get_chip, resolve_chip_id

    cid = resolve_chip_id(row.get("accelerator", ""))
    if cid is None or result.low is None:
        return
    terms = distance_terms(get_chip(cid), None, fitted)
    if terms:
        _record(result, terms)


def _record(result, terms: dict) -> None:
    base = [result.low, result.high]
    result.low, result.high = widen(result.predicted, result.low, result.high, terms)
    result.detail = {**(result.detail or {}), "interval_base": base,
                     "distance": {k: [round(s, 4), why] for k, (s, why) in terms.items()}}
