"""A benchmark's RCPs per ruleset (data/mlperf/rcps.yaml lists): a dated result row reads its round's ruleset, a
user's run (LATEST) the newest one, and an undated entry serves every round."""

import pytest

import tapeout.perf.convergence as cv
from tapeout.perf.convergence import LATEST, Rcp, rcp_batches, samples_to_converge


@pytest.fixture
def two_rulesets(monkeypatch):
    old = ((Rcp(100, 1000.0), Rcp(200, 1500.0)), "samples", "old", ("v4.0",))
    new = ((Rcp(300, 2400.0),), "samples", "new", ("v5.0", "v5.1"))
    monkeypatch.setattr(cv, "_entries", lambda: {"t": [old, new], "u": [((Rcp(64, 640.0),), "samples", "u", None)]})


def test_a_row_reads_its_rounds_ruleset_and_a_user_run_the_newest(two_rulesets):
    assert samples_to_converge("t", 150, mlperf_round="v4.0").samples == pytest.approx(1250.0)  # np.interp
    assert samples_to_converge("t", 300, mlperf_round="v5.1").source == "new"
    assert samples_to_converge("t", 300, mlperf_round=LATEST).samples == 2400.0
    assert samples_to_converge("t", 100, mlperf_round="v3.1") is None  # no ruleset of that round on file
    assert samples_to_converge("t", 100) is None  # no undated entry
    assert rcp_batches("t", LATEST) == (300,) and rcp_batches("t", "v4.0") == (100, 200)


def test_an_undated_entry_serves_every_round(two_rulesets):
    for r in (None, LATEST, "v2.0"):
        assert samples_to_converge("u", 64, mlperf_round=r).samples == 640.0


def test_every_non_llm_benchmark_on_file_has_a_newest_ruleset():
    for b in ("retinanet", "rgat", "dlrm-dcnv2", "bert", "resnet", "stable-diffusion"):
        assert rcp_batches(f"train-{b}", LATEST), b
