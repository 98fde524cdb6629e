"""Behavioural leakage guard: no prediction may depend on the measured value it is scored
against. The measured `value` column of a copy of end_to_end.csv is multiplied by random
factors; every predicted value, interval and skip reason must stay exactly the same, and
`tapeout validate --data` on both files must print the same predictions."""

import csv
import json
import random

from tapeout.perf.mlperf import clear_caches
from tapeout.validation import harness

from _cli import run_cli


def _subset() -> list[dict]:
    """A few rows of every kind the harness maps (LLM offline/server/paper, training, other
    inference, unmappable), picked deterministically to keep the test short."""
    rows = harness.read_rows(harness.default_data())
    picked: dict[tuple, list] = {}
    for r in rows:
        key = (r["category"], harness.scenario_class(r), "llama" in r["workload"].lower())
        if len(picked.setdefault(key, [])) < 2 and int(r["n_accelerators"] or 0) <= 64:
            picked[key].append(r)
    return [r for v in picked.values() for r in v]


def _scaled(rows: list[dict], seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{**r, "value": repr(float(r["value"]) * rng.uniform(0.2, 5.0))} for r in rows]


def _fingerprint(results) -> list[tuple]:
    return [(r.id, r.mapper, r.predicted, r.low, r.high, r.skipped) for r in results]


def test_predictions_ignore_the_measured_value():
    rows = _subset()
    assert len(rows) >= 10
    clear_caches()
    before = _fingerprint(harness.run(rows=rows)["results"])
    clear_caches()
    after = harness.run(rows=_scaled(rows, seed=15))["results"]
    assert _fingerprint(after) == before
    assert sum(p is not None for _, _, p, *_ in before) >= 6  # the guard covers real predictions


def test_validate_cli_same_predictions_with_scaled_values(tmp_path):
    rows = [r for r in _subset() if r["category"] == "mlperf-inf"][:6]
    out = {}
    for name, rs in (("orig", rows), ("scaled", _scaled(rows, seed=7))):
        p = tmp_path / f"{name}.csv"
        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            w.writerows(rs)
        j = tmp_path / f"{name}.json"
        code, stdout, err = run_cli(["validate", "--data", str(p), "--no-rows", "--json", str(j)])
        assert code == 0, err
        out[name] = [(r["id"], r.get("predicted"), r.get("low"), r.get("high")) for r in json.loads(j.read_text())["rows"]]
    assert out["orig"] == out["scaled"]
    assert any(p is not None for _, p, _, _ in out["orig"])


def test_predictions_ignore_the_measured_values_of_the_packaged_file(tmp_path, monkeypatch):
    """Stronger than scaling the rows passed in: the packaged end_to_end.csv itself (what
    validation/development.py reads for its distance terms, and anything else that reads the
    default data) is replaced by a copy whose every measured value is scaled."""
    from tapeout.validation import development

    rows = _subset()
    clear_caches()
    before = _fingerprint(harness.run(rows=rows)["results"])
    every = harness.read_rows(harness.default_data())
    scaled = tmp_path / "end_to_end.csv"
    with open(scaled, "w", newline="") as f:
        w = csv.DictWriter(f, list(every[0]))
        w.writeheader()
        w.writerows(_scaled([r for r in every if _is_number(r["value"])], seed=24)
                    + [r for r in every if not _is_number(r["value"])])
    monkeypatch.setattr(harness, "default_data", lambda: scaled)
    development.default_covered.cache_clear()
    clear_caches()
    try:
        assert _fingerprint(harness.run(rows=rows)["results"]) == before
    finally:
        development.default_covered.cache_clear()


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False
