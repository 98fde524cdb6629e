"""MLPerf Offline run simulation (perf/serving_sim.offline_run) and its use by serve_at_scale."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf import mlperf
from tapeout.perf.serving_sim import length_biased_occupancy, offline_point, offline_run
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm


@pytest.fixture(scope="module")
def sm():
    return mlperf.step_model(load_llm("llama-3.1-8b"), get_chip("h100-sxm"), get_precision("bf16"), 1, 1, 1)


def test_length_biased_occupancy_closed_forms():
    # equal lengths: a slot holds I + O/2 tokens on average
    assert length_biased_occupancy(np.full(10, 100), np.full(10, 50)) == pytest.approx(125.0)
    # O in {1, 3}, I = 0: E[O^2/2]/E[O] = ((1 + 9)/2 / 2) / 2 = 1.25, not E[O]/2 = 1
    assert length_biased_occupancy(np.zeros(2), np.array([1, 3])) == pytest.approx(1.25)


def test_uniform_requests_schedule_in_exact_waves(sm):
    """k waves of B identical requests take exactly k*O steps, and every request emits O tokens."""
    B, O, k = 8, 20, 5
    run = offline_run(sm, B, np.full(k * B, 100), np.full(k * B, O))
    assert run.steps == k * O
    assert run.samples == k * B
    assert run.tokens_per_s == pytest.approx(k * B * O / run.wall_s)
    # decoders per step: B - 1 ... the prefill step of each wave has none, the others B
    assert run.mean_batch <= B


def test_run_ends_with_the_longest_request(sm):
    """One long answer among short ones: the run lasts until it finishes (drain)."""
    outs = np.array([500] + [10] * 63)
    run = offline_run(sm, 16, np.full(64, 64), outs)
    assert run.steps == 500
    assert run.drain_s > 0.5 * run.wall_s


def test_more_samples_dilute_the_drain(sm):
    rng = np.random.default_rng(1)
    ins = rng.integers(20, 400, 4000)
    outs = rng.integers(1, 600, 4000)
    short = offline_run(sm, 64, ins[:256], outs[:256])
    long = offline_run(sm, 64, ins, outs)
    assert long.tokens_per_s > short.tokens_per_s
    assert long.drain_s / long.wall_s < short.drain_s / short.wall_s


@settings(max_examples=15, deadline=None)
@given(B=st.integers(1, 32), waves=st.integers(10, 30), seed=st.integers(0, 10_000))
def test_drain_only_loses_throughput(sm, B, waves, seed):
    """Over many waves the whole run (drain included) is no faster than its full-batch part
    (small slack: the steady window also holds the first prefill burst)."""
    rng = np.random.default_rng(seed)
    n = B * waves
    ins = rng.integers(1, 300, n)
    outs = rng.integers(1, 200, n)
    run = offline_run(sm, B, ins, outs)
    assert run.steps >= int(outs.max())
    assert run.steps >= int(np.ceil(outs.sum() / B))
    assert run.wall_s > 0
    assert run.tokens_per_s <= run.steady_tokens_per_s * 1.05


def test_closed_form_and_simulation_agree_for_narrow_lengths(sm):
    """Many requests whose lengths spread a little (so slots fall out of lock-step): the
    simulation approaches the steady-state closed form at the mean lengths from below. The
    closed form spreads B/O prefills evenly over every step, hiding them under the
    weight-bound decode; the simulation puts each prefill in one step, where the step time
    max(compute, memory) is convex in the work (Jensen): so closed form >= simulation, and the
    gap shrinks as slots de-synchronise (more samples)."""
    rng = np.random.default_rng(3)
    B = 32
    ins = rng.integers(120, 137, 16000)
    outs = rng.integers(56, 73, 16000)
    cf = offline_point(sm, B, float(ins.mean()), float(outs.mean()))
    few = offline_run(sm, B, ins[:400], outs[:400])
    many = offline_run(sm, B, ins[:4000], outs[:4000])
    assert few.tokens_per_s < many.tokens_per_s <= cf.tokens_per_s
    assert many.tokens_per_s == pytest.approx(cf.tokens_per_s, rel=0.10)


def test_lock_step_waves_lose_the_prefill_piggyback(sm):
    """Identical requests stay in lock-step: every O steps all B prompts prefill together in
    one compute-bound step instead of riding on weight-bound decode steps, so the run is
    slower than the closed form (which spreads B/O prefills over every step)."""
    B, I, O = 32, 128, 64
    run = offline_run(sm, B, np.full(40 * B, I), np.full(40 * B, O))
    assert run.tokens_per_s < offline_point(sm, B, I, O).tokens_per_s


def test_offline_sample_count_follows_loadgen():
    # tiny rate: the benchmark's min_query_count; large: 1.1 x 600 s x QPS
    assert mlperf.offline_sample_count("llama2-70b", 10.0, 294.45) == 24576
    qps = 30000 / 294.45
    assert mlperf.offline_sample_count("llama2-70b", 30000.0, 294.45) == int(np.ceil(1.1 * 600 * qps))


def test_dataset_lengths_rescale_reference_outputs_to_generated_mean():
    ins, outs = mlperf.dataset_lengths("llama2-70b")
    assert len(ins) == 24576
    assert outs.mean() == pytest.approx(294.45, rel=0.01)  # GPT-4 answers (218.9) rescaled
    assert outs.max() <= 1024
    ins_m, outs_m = mlperf.dataset_lengths("mixtral-8x7b")
    assert outs_m.mean() == pytest.approx(144.84, abs=0.01)  # Mixtral's own outputs: unchanged
    assert mlperf.dataset_lengths("gptj") is None


def test_benchmark_offline_is_simulated_and_below_the_steady_state():
    # at the batch the engine picks as best (no max_batch: a runtime max_batch is filled, perf/mlperf.py,
    # and a filled batch can be less efficient than the drain's smaller ones); TP1: no all-reduce cliff
    # (the stack's custom all-reduce stops at 16e6 B at TP2, perf/collectives.py)
    r = mlperf.serve_benchmark("llama2-70b", "h200", 8, tp=1)
    run = r.offline_run
    assert run is not None and run["samples_total"] >= 24576
    assert run["samples_per_replica"] * r.dp >= run["samples_total"]
    steady = run["steady_tokens_per_s_per_replica"] * r.dp
    # whole = steady + (r_drain - steady) * drain_share. The drain (no admissions left) runs a shrinking
    # batch that skips the steady window's prefill: at a weight-bound batch it is slower than the
    # window, at a compute-bound one (H200's full batch) faster, by at most the prefill it skips, i.e.
    # under 2x. So the whole run stays within one drain share of the window, and the drain is short.
    share = run["drain_s"] / run["wall_s"]
    assert 0 < share < 0.1
    assert steady * (1 - share) < r.output_tokens_per_s < steady * (1 + share)
    assert any("simulated" in n for n in r.notes)


def test_automatic_layout_search_reports_the_leading_layouts_run():
    """Without a pinned layout the search simulates the leading layouts; the reported run is the
    chosen layout's own (its replica count splits the LoadGen samples)."""
    r = mlperf.serve_benchmark("mixtral-8x7b", "h100-sxm", 8)
    run = r.offline_run
    assert run is not None
    assert run["samples_per_replica"] == -(-run["samples_total"] // r.dp)
    assert r.output_tokens_per_s <= run["steady_tokens_per_s_per_replica"] * r.dp * 1.05


def test_server_queue_is_fed_at_the_datasets_service_rate():
    """Server with the benchmark's per-sample lengths = the mean-length closed form (same layout, batch
    and bounds) times the steady simulated / closed-form service rate at that batch."""
    import math

    import numpy as np

    from tapeout.perf.serving_sim import offline_point, offline_run

    kw = dict(scenario="server", ttft_bound=2.0, tpot_bound=0.2, tp=1, pp=1, batch=600)
    ins, outs = mlperf.dataset_lengths("llama2-70b")
    I, O = float(ins.mean()), float(outs.mean())
    plain = mlperf.serve_at_scale("llama-2-70b", "h200", 8, "fp8", I, O, **kw)
    ds = mlperf.serve_at_scale("llama-2-70b", "h200", 8, "fp8", I, O, dataset="llama2-70b", **kw)
    assert ds.batch_size == plain.batch_size and ds.dp == plain.dp == 8
    sm = mlperf.step_model(mlperf.load_llm("llama-2-70b"), mlperf.get_chip("h200"), mlperf.get_precision("fp8"), 1, 1, 1)
    n = mlperf.offline_sample_count("llama2-70b", plain.output_tokens_per_s, O)
    idx = np.random.default_rng(0).integers(0, len(ins), math.ceil(n / 8))
    ratio = offline_run(sm, ds.batch_size, ins[idx], outs[idx]).steady_tokens_per_s / \
        offline_point(sm, ds.batch_size, I, O).tokens_per_s
    assert ratio < 1.0  # per-sample spread and lumpy prefill cost more than the mean-length step
    assert ds.output_tokens_per_s == pytest.approx(plain.output_tokens_per_s * ratio, rel=1e-9)
