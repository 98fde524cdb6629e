"""The reference harness's Server batcher (perf/scenarios.py batcher_latencies, issue 17):
hand-computed event traces, the data file's sources, and Server never above Offline."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.scenarios import (_harness_table, batcher_latencies, best_server_rate, dynamic_batching_latencies,
                                    harness_batcher, service_curve)


def test_greedy_zero_delay_trace_by_hand():
    # S(1..3) = 0.2, 0.3, 0.4 s. t=0: {0} runs alone -> 0.2; at 0.2 the queries of 0.1 and 0.15
    # leave together -> 0.5; the query of 0.5 runs alone -> 0.7.
    lat = batcher_latencies(np.array([0.0, 0.1, 0.15, 0.5]), np.array([0.2, 0.3, 0.4]))
    assert lat == pytest.approx([0.2, 0.4, 0.35, 0.2])


def test_two_streams_share_the_device():
    # two queries at t=0, cap 1, S(1) = 1 s: one stream runs them back to back (1, 2 s); two
    # streams run both at once at half speed each (2, 2 s): processor sharing
    s = np.array([1.0])
    assert batcher_latencies(np.zeros(2), s, streams=1) == pytest.approx([1.0, 2.0])
    assert batcher_latencies(np.zeros(2), s, streams=2) == pytest.approx([2.0, 2.0])


def test_a_lone_query_waits_the_full_delay_and_a_full_batch_leaves_at_once():
    s = np.array([0.01, 0.015, 0.02, 0.025])
    lone = np.arange(5) * 10.0  # 10 s apart: never more than one waiting
    assert batcher_latencies(lone, s, max_delay_s=0.002) == pytest.approx(np.full(5, 0.002 + 0.01))
    # CUDA graph captured at the cap: a batch of one costs the full batch
    assert batcher_latencies(lone, s, max_delay_s=0.002, pad_to_cap=True) == pytest.approx(np.full(5, 0.002 + 0.025))
    assert batcher_latencies(np.zeros(4), s, max_delay_s=5.0) == pytest.approx(np.full(4, 0.025))


def test_default_batcher_is_the_greedy_one():
    s = service_curve({1: 1e-3, 8: 3e-3, 32: 9e-3}, 32)
    a = dynamic_batching_latencies(s, 2000.0, n=3000)
    b = dynamic_batching_latencies(s, 2000.0, n=3000, streams=1, max_delay_s=0.0, pad_to_cap=False)
    assert np.array_equal(a, b)


def test_every_harness_setting_has_a_source_and_unknown_benchmarks_get_the_greedy_batcher():
    for bench, row in _harness_table().items():
        for key in ("streams", "max_delay_us", "pad_to_cap"):
            assert row[key]["source"].strip() and row[key]["status"] in ("published", "assumption"), (bench, key)
        assert harness_batcher(bench)["streams"] >= 1
    assert harness_batcher("no-such-benchmark") == {}
    # sources read: SDXL waits up to sdxl_batcher_time_limit = 5 s, LWIS ResNet-50 2,000 us
    assert harness_batcher("sdxl")["max_delay_s"] == pytest.approx(5.0)
    assert harness_batcher("resnet50")["max_delay_s"] == pytest.approx(2e-3)


@settings(max_examples=8, deadline=None)
@given(st.floats(2e-4, 5e-3), st.floats(0.3, 0.95), st.sampled_from(["resnet50", "bert", "retinanet", "sdxl"]))
def test_server_never_beats_offline(s1, scale, bench):
    """A latency bound never raises throughput: the harness batcher's rate stays <= the best
    b / S(b) of the same service times (the Offline rate), whatever the harness settings."""
    times = {b: s1 * b ** scale for b in (1, 4, 16, 64)}
    q, cap = best_server_rate(times, 50 * s1, iters=10, **harness_batcher(bench))
    assert q <= max(b / t for b, t in times.items()) * (1 + 1e-9)


@pytest.mark.parametrize("bench,workload,chip,precision", [
    ("resnet50", "resnet", "NVIDIA H100-SXM-80GB", "int8"), ("bert", "bert-99", "NVIDIA L40S", "int8"),
    ("retinanet", "retinanet", "NVIDIA H200-SXM-141GB", "int8"), ("sdxl", "stable-diffusion-xl", "NVIDIA H100-SXM-80GB", "fp8"),
    ("dlrmv2", "dlrm-v2-99", "NVIDIA H100-SXM-80GB", "int8")])
def test_validated_server_row_never_beats_its_offline_twin(bench, workload, chip, precision):
    """The Server row validate scores (M/M/1 bound) stays <= the Offline row of the same system."""
    from tapeout.validation.other_rows import map_inference

    row = {"category": "mlperf-inf", "workload": f"MLPerf Inference v4.1 {workload}", "accelerator": chip,
           "n_accelerators": "8", "precision": precision, "software": "TensorRT 10.2.0, CUDA 12.4", "notes": ""}
    off = map_inference({**row, "scenario": "Offline"}).predicted
    srv = map_inference({**row, "scenario": "Server"}).predicted
    assert 0 < srv <= off * (1 + 1e-9)
