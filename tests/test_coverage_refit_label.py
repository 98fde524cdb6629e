"""scripts/interval_coverage.py's progress line says "(refit)" only for a held-out group whose calibration was
refitted without it (validation/coverage._refit): a chip with microbenchmarks in the shipped fit, a precision with
microbenchmarks. Since the held-out marker (kernels_db.holding_out) every chip group got a calibration back, and the
label tested only that, so every chip read "(refit)" (review stop-38, issue-43c open risks)."""

from __future__ import annotations

from tapeout.perf.calibration import load_fitted
from tapeout.validation import coverage


def _labels(monkeypatch, split, rows):
    import tapeout.perf.fit as fit

    calls = []
    monkeypatch.setattr(fit, "fit_all", lambda *a, **k: calls.append((a, k)) or {"chips": {}})  # no 8 s refit
    monkeypatch.setattr(coverage.harness, "run", lambda **k: {"results": []})
    monkeypatch.setattr(coverage, "covered", lambda dev: None)
    lines: list[str] = []
    coverage.holdout_results(split, rows, progress=lines.append)
    return lines, calls


def test_only_a_chip_with_microbenchmarks_is_labelled_refit(monkeypatch):
    fitted = set(load_fitted().get("chips", {}))
    assert "h100-sxm" in fitted and "tpu-v5p" not in fitted  # the premise: one chip of each kind
    lines, calls = _labels(monkeypatch, "chip", [{"accelerator": "h100-sxm"}, {"accelerator": "tpu-v5p"}])
    assert sorted(lines) == ["chip h100-sxm: 1 rows (refit)", "chip tpu-v5p: 1 rows"]
    assert calls == [((), {"exclude": "h100-sxm"})]  # the one refit is the labelled one


def test_a_chip_without_microbenchmarks_is_still_held_out():
    fitted, refit = coverage._refit("chip", "tpu-v5p")
    assert refit is False and fitted["held_out"] == "tpu-v5p"  # its kernel-database numbers are not read
    assert coverage._refit("benchmark", "x") == (None, False)
