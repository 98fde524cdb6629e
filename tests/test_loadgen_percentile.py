"""LoadGen's latency-scenario percentile (perf/loadgen_percentile.py) and its use on GPT-J SingleStream."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.loadgen_percentile import loadgen_percentile, scenario_percentile
from tapeout.perf.mlperf import inference_benchmark, singlestream_inputs, value_of


def test_scenario_percentiles_are_mlperf_conf_values():
    # mlperf.conf: *.SingleStream.target_latency_percentile = 90, *.MultiStream... = 99
    assert scenario_percentile("SingleStream") == 0.90
    assert scenario_percentile("multistream") == 0.99
    with pytest.raises(TapeoutError, match="latency scenario"):
        scenario_percentile("offline")


def test_percentile_of_known_distribution():
    # LoadGen reports sorted[floor(N p)]: for the latencies 1..1000 ms (shuffled) p90 is 901, p99 991
    lat = np.random.default_rng(0).permutation(np.arange(1, 1001, dtype=float))
    assert loadgen_percentile(lat, 0.9) == 901.0
    assert loadgen_percentile(lat, 0.99) == 991.0
    assert loadgen_percentile(lat, 0.0) == 1.0
    # two equal halves: the p90 query is in the slow half, the mean is not
    two = np.r_[np.full(50, 10.0), np.full(50, 30.0)]
    assert loadgen_percentile(two, 0.9) == 30.0 and two.mean() == 20.0


def test_percentile_broadcasts_over_designs_and_percentiles():
    lat = np.random.default_rng(1).random((3, 200))
    got = loadgen_percentile(lat, [0.5, 0.9])
    assert got.shape == (3, 2)
    for d in range(3):
        assert got[d, 1] == loadgen_percentile(lat[d], 0.9)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_bad_percentile_names_the_rule(p):
    with pytest.raises(TapeoutError, match=r"percentile must be in \[0, 1\)"):
        loadgen_percentile([1.0, 2.0], p)


def test_empty_latencies_is_an_error():
    with pytest.raises(TapeoutError, match="at least one"):
        loadgen_percentile(np.array([]), 0.9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1e6, allow_nan=False), min_size=1, max_size=300),
       st.floats(0.0, 0.999), st.floats(0.0, 0.999))
def test_percentile_is_monotone_and_covers_the_fraction(lat, p1, p2):
    lo, hi = sorted((p1, p2))
    a, b = loadgen_percentile(lat, lo), loadgen_percentile(lat, hi)
    assert a <= b
    assert b in lat
    # at least floor(N p) + 1 queries are at or below the reported latency: a fraction > p
    assert np.mean(np.asarray(lat) <= b) > hi


def test_gptj_singlestream_inputs_keep_the_benchmark_mean_and_limit():
    b = inference_benchmark("gptj")
    ins = singlestream_inputs("gptj")
    assert len(ins) == value_of(b["samples"])  # one prompt per article of the validation split
    assert ins.max() <= value_of(b["max_input_tokens"])
    assert abs(ins.mean() / value_of(b["mean_input_tokens"]) - 1) < 0.01  # only clipping moves it
    assert singlestream_inputs("llama2-70b") is None


def test_gptj_singlestream_row_is_at_least_the_mean_prompt_query():
    """The p90 query of a latency increasing in the prompt length is no faster than the mean prompt's."""
    from tapeout.validation import harness

    row = {"id": "t", "category": "mlperf-inf", "workload": "MLPerf Inference v4.1 gptj-99",
           "model_config": "GPT-J 6B summarization; CNN/DailyMail 13,368 samples; beam 4; max 128 new tokens",
           "scenario": "SingleStream", "accelerator": "NVIDIA L40S", "n_accelerators": "1", "precision": "fp8",
           "metric": "latency", "value": "1000", "unit": "Latency (ms)", "software": "", "source": "", "notes": ""}
    r = harness.run(rows=[row])["results"][0]
    assert r.predicted is not None, r.skipped
    d = r.detail
    assert d["latency_percentile"] == 0.9
    assert d["input_len_at_percentile"] > d["input_len"]
    assert r.predicted > d["mean_input_query_ms"]
