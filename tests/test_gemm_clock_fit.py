"""GEMM microbenchmark clock tags (data/calibration/gemm_clock.yaml) and the clock-tagged fit
(perf/fit/clock_fit.CLOCK_TAGGED_GEMM_FIT, off): docs/notes/issue-18.md, Round stop-36, issue-38a."""

import pytest
import yaml
from importlib import resources

from tapeout.hardware.catalog import get_chip
from tapeout.perf.fit import calibrate, clock_fit
from tapeout.perf.fit.rows import chip_key, gemm_clock, gemm_point, read_microbenchmarks

TAGS = {"burst", "sustained", "mixed", "unknown"}


def _gemm_rows():
    return [r for r in read_microbenchmarks() if gemm_point(r) is not None]


def test_every_rule_names_a_known_clock_and_its_reason():
    rules = yaml.safe_load(resources.files("tapeout").joinpath("data", "calibration", "gemm_clock.yaml").read_text())["rules"]
    for rule in rules:
        assert rule["clock"] in TAGS and len(rule["reason"]) > 40
        assert {"source", "workload"} & set(rule)


def test_tags_are_read_from_the_sources_methods():
    by_id = {r["id"]: r for r in _gemm_rows()}
    # this project's H200 MAMF search ran back to back for 13-23 s: at the power limit
    assert gemm_clock(by_id["MB-0463"]) == gemm_clock(by_id["MB-0464"]) == "sustained"
    # mamf-finder v2 (30 s warm-up, then every shape back to back with cache clears between): mixed
    assert gemm_clock(by_id["MB-0020"]) == "mixed"
    # the H200 CUDA-graph sweeps: short windows, back to back
    assert gemm_clock(by_id["MB-0145"]) == "mixed"
    # a row no rule matches is unknown
    assert gemm_clock({"source": "nowhere", "workload": "GEMM latency"}) == "unknown"
    assert all(gemm_clock(r) in TAGS for r in by_id.values())


def test_switch_off_reproduces_the_fitted_file():
    assert clock_fit.CLOCK_TAGGED_GEMM_FIT is False
    on_file = yaml.safe_load(resources.files("tapeout").joinpath("data", "calibration", "fitted.yaml").read_text())["chips"]
    fit = calibrate.fit_all(uncertainty=False)["chips"]
    for cid in ("h100-sxm", "h200", "b200", "a100-sxm", "mi300x"):
        assert fit[cid]["eff_compute"] == on_file[cid]["eff_compute"]


def test_at_boost_leaves_everything_but_sustained_rows_with_a_pair():
    rows = [r for r in _gemm_rows() if chip_key(r["accelerator"])[0] == "h200"]
    gemm = [(r, gemm_point(r)) for r in rows]
    assert clock_fit.at_boost(get_chip("h200"), gemm) == gemm  # switch off
    on = clock_fit.at_boost(get_chip("h200"), gemm, on=True)
    for (r, g0), (_, g1) in zip(gemm, on):
        if gemm_clock(r) == "sustained":
            assert g1[4] < g0[4]  # faster at boost, by the die's MSMF / burst pair (< 1)
            assert g1[4] / g0[4] == pytest.approx({"bf16": 755 / 850, "fp8": 1354 / 1525}[g0[3]], rel=1e-9)
        else:
            assert g1 == g0
    # a chip without a measured pair keeps every row
    a100 = [(r, gemm_point(r)) for r in _gemm_rows() if chip_key(r["accelerator"])[0] == "a100-sxm"]
    assert clock_fit.at_boost(get_chip("a100-sxm"), a100, on=True) == a100


@pytest.mark.parametrize("cid", ["h200", "h100-sxm"])
def test_switch_on_fits_at_least_the_sustained_efficiency(monkeypatch, cid):
    off = calibrate.fit_all(uncertainty=False)["chips"][cid]["eff_compute"]
    monkeypatch.setattr(clock_fit, "CLOCK_TAGGED_GEMM_FIT", True)
    on = calibrate.fit_all(uncertainty=False)["chips"][cid]["eff_compute"]
    for fmt in ("bf16", "fp8"):
        assert on[fmt] >= off[fmt]
