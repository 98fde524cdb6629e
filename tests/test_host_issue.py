"""Eager layers' host issue time: the per-layer CPU time from host_issue.yaml (perf/host_issue.py), the
segment rule over runs of layers (perf/train_host.blocks_gpu_idle) and its place in the step (perf/training)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.host_issue import layer_issue, resolve_host
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.train_host import blocks_gpu_idle, segment_gpu_idle, step_host_idle
from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.training import TrainLayout, train

secs = st.floats(min_value=0.0, max_value=1e-2, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.tuples(secs, secs, st.integers(min_value=0, max_value=12)), min_size=1, max_size=8))
def test_runs_rule_equals_the_recurrence_on_the_expanded_sequence(runs):
    c = [r[0] for r in runs for _ in range(r[2])]
    g = [r[1] for r in runs for _ in range(r[2])]
    if not c:
        assert blocks_gpu_idle(runs) == 0.0
        return
    assert blocks_gpu_idle(runs) == pytest.approx(segment_gpu_idle(c, g), abs=1e-12)


def test_gpu_bound_step_pays_one_first_issue():
    # CPU 1.1 / 1.5 ms per layer, GPU 2.4 / 3.2 ms, 80 layers, 4 micro-batches: the CPU stays ahead
    assert step_host_idle(1.1e-3, 1.5e-3, 2.4e-3, 3.2e-3, 80, 4) == pytest.approx(1.1e-3)


def test_host_bound_forward_idles_by_the_difference():
    # forward CPU 3 ms vs GPU 1 ms over 4 layers, backward GPU-bound (0.5 vs 5 ms): c + 3 (c - g) = 9 ms
    assert step_host_idle(3e-3, 0.5e-3, 1e-3, 5e-3, 4, 1) == pytest.approx(9e-3)


def test_bad_counts_name_the_field():
    with pytest.raises(TapeoutError, match="micro_batches"):
        step_host_idle(1e-3, 1e-3, 1e-3, 1e-3, 80, 0)
    with pytest.raises(TapeoutError, match="whole number"):
        blocks_gpu_idle([(1e-3, 1e-3, 1.5)])


def test_layer_cpu_time_is_calls_times_the_measured_call():
    # TE #2053: torch Linear forward 13.48 us on the Xeon 8480C; TE / torch 90.53/33.17 (GH200), 99.66/37.08
    # (GB200); TE #761: FP8 2x BF16. Layer (host_issue.yaml mcore-te-gpt), CP2, two adapters, forward:
    # 4 TE modules + 18 glue + 2 x 9 adapter + (6 + 2 x 10) attention calls
    te = (90.53 / 33.17 + 99.66 / 37.08) / 2
    want_fwd = 13.48e-6 * (4 * te * 2.0 + 18 + 2 * 9 + 6 + 2 * 10)
    want_bwd = 13.48e-6 * (4 * te * 2.0 + 18 + 2 * 18 + 6 + 2 * 15)
    li = layer_issue("mcore-te-gpt", chip_id="h100-sxm", fp8=True, adapters=2, cp=2)
    assert li.forward_s == pytest.approx(want_fwd) and li.backward_s == pytest.approx(want_bwd)
    assert li.host_assumed and "assumed" in li.shown()["host_cpu"]  # the run's host is not on file
    # CP 1 uses the single fused-attention call; BF16 drops the FP8 factor
    one = layer_issue("mcore-te-gpt", chip_id="h100-sxm", fp8=False, adapters=0, cp=1)
    assert one.forward_s == pytest.approx(13.48e-6 * (4 * te + 18 + 6 + 3))


def test_grace_host_scales_by_its_measured_call():
    ref = layer_issue("mcore-te-gpt", chip_id="h100-sxm", fp8=True, adapters=2, cp=2)
    gb = layer_issue("mcore-te-gpt", chip_id="gb200", fp8=True, adapters=2, cp=2)
    assert resolve_host(None, "gb200") == ("NVIDIA Grace (GB200)", False)
    assert gb.forward_s / ref.forward_s == pytest.approx(37.08 / 13.48)
    assert gb.host_assumed is False


def test_bad_host_or_layer_is_one_clear_error():
    with pytest.raises(TapeoutError, match="host_cpu 'Pentium'"):
        StackFeatures(host_cpu="Pentium")
    with pytest.raises(TapeoutError, match="eager_layer 'nope'"):
        StackFeatures(eager_layer="nope")
    with pytest.raises(TapeoutError, match="cp >= 1"):
        layer_issue("mcore-te-gpt", cp=0)


BASE = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=16 * 8192, seq_len=8192,
            precision="fp8", lora=LoraAdapters(16))


def test_eager_run_adds_exactly_the_host_idle_at_pp1():
    lay = TrainLayout(tp=4, pp=1, dp=16, zero=0)
    graphs, eager = train(layout=lay, **BASE), train(layout=lay, eager_layer="mcore-te-gpt", **BASE)
    h = eager.breakdown["host_issue"]
    assert eager.step_time_s - graphs.step_time_s == pytest.approx(h["gpu_idle_per_step_ms"] * 1e-3, rel=1e-9)
    assert h["gpu_idle_per_step_ms"] > 0 and "host_issue" not in graphs.breakdown
    # a slower host never makes the step faster
    grace = train(layout=lay, eager_layer="mcore-te-gpt", host_cpu="NVIDIA Grace (GB200)", **BASE)
    assert grace.step_time_s >= eager.step_time_s


def test_eager_run_under_pipeline_parallelism_is_noted_not_priced():
    lay = TrainLayout(tp=4, pp=2, dp=8, zero=0)
    graphs, eager = train(layout=lay, **BASE), train(layout=lay, eager_layer="mcore-te-gpt", **BASE)
    assert eager.step_time_s == graphs.step_time_s
    assert any("host issue time not priced at PP 2" in n for n in eager.notes)


def test_rank_spread_slows_the_gpus_work_not_the_hosts_idle():
    # the per-rank spread is of the GPUs' compute speed; the GPU idle an eager host leaves is CPU time
    # (host_issue.yaml per-call times), so the slowest rank adds the same time whether or not the
    # layers are issued eagerly
    from tapeout.perf.rank_spread import RankSpread

    lay = TrainLayout(tp=4, pp=1, dp=16, zero=0)
    sp = RankSpread(0.03)
    graphs = train(layout=lay, rank_spread=sp, **BASE)
    eager = train(layout=lay, rank_spread=sp, eager_layer="mcore-te-gpt", **BASE)
    assert eager.breakdown["host_issue"]["gpu_idle_per_step_ms"] > 0
    assert eager.breakdown["rank_spread"]["added_s"] == pytest.approx(graphs.breakdown["rank_spread"]["added_s"], rel=1e-9)


def test_recompute_reissues_the_forward_calls_it_reruns():
    # Megatron's full recompute reruns each layer's forward inside its backward (CheckpointFunction.backward
    # calls the forward again from Python): the backward's CPU time grows by one forward's. Selective
    # recompute reruns the core attention only: TEDotProductAttention's forward calls, at CP 1
    # base 6 + no_cp 3 = 9 calls (host_issue.yaml attention_calls.forward) at the reference host's 13.48 us
    base = layer_issue("mcore-te-gpt", chip_id="h100-sxm", fp8=True, adapters=2)
    full = layer_issue("mcore-te-gpt", chip_id="h100-sxm", fp8=True, adapters=2, recompute="full")
    sel = layer_issue("mcore-te-gpt", chip_id="h100-sxm", fp8=True, adapters=2, recompute="selective")
    assert full.forward_s == base.forward_s and sel.forward_s == base.forward_s
    assert full.backward_s == pytest.approx(base.backward_s + base.forward_s)
    assert sel.backward_s - base.backward_s == pytest.approx(9 * 13.48e-6)
    with pytest.raises(TapeoutError, match="recompute"):
        layer_issue("mcore-te-gpt", recompute="some")
