"""Memory-bound kernel kinds below the streaming rate (perf/memory_kernels.py) and the unfused attention
core's dropout / causal softmax refinements (perf/unfused_attention.py), against the kernel-level timings
of Dao et al. 2022 (arXiv:2205.14135, Appendix E.6, A100 40 GB; data/measured/microbenchmarks.csv)."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise, OpGraph
from tapeout.perf import unfused_attention as ua
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.layer_check import layer_times, published_layers
from tapeout.perf.memory_kernels import dropout_forward_share, dropout_pairs, philox_share
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_clock import op_times
from tapeout.perf.training import clear_cache

P40 = calibrated_params(get_chip("a100-sxm-40gb"))


def kernel_ms(ops, p=P40) -> dict:
    ct = evaluate(OpGraph(name="k", ops=ops), p)
    return {o.name: float(t) * 1e3 for o, t in zip(ops, op_times(ct, p, None) * ct.table.count)}


def test_share_is_the_papers_backward_over_forward_dropout_time():
    """Equal bytes both ways (5 per score), so the share is t_bwd / t_fwd of the dropout kernel: from Tables
    15 / 18 and 16 / 19 as printed, (10.77 - 8.82) / (6.56 - 4.32), (41.67 - 33.87) / (25.34 - 16.47) and
    Megatron's (10.80 - 8.86) / (6.56 - 4.28)."""
    by_hand = [(10.77 - 8.82) / (6.56 - 4.32), (41.67 - 33.87) / (25.34 - 16.47), (10.80 - 8.86) / (6.56 - 4.28)]
    assert dropout_forward_share() == pytest.approx(sum(by_hand) / 3, rel=1e-9)
    assert 0.84 < dropout_forward_share() < 0.89
    assert all(abs(p["share"] - dropout_forward_share()) < 0.02 for p in dropout_pairs())  # the pairs agree


def test_dropout_backward_is_a_stream_at_the_fitted_rate():
    """The pure-stream backward reaches 0.885-0.890 of the 1555 GB/s peak: the A100's fitted eff_mem (0.904, from
    GEMM sweeps) within 3%, so the forward's shortfall is its own, not the harness's."""
    for p in dropout_pairs():
        assert p["backward_peak_fraction"] == pytest.approx(float(P40.eff_mem), rel=0.03)
        assert p["forward_peak_fraction"] < p["backward_peak_fraction"]


@pytest.mark.parametrize("seq", [2048, 4096])
def test_model_dropout_kernels_within_5_percent_of_the_measured_pairs(seq):
    f, b = ua.core_attention_ops("c", 1, 16, seq, 8, 64)
    mf, mb = kernel_ms(f), kernel_ms(b)
    for p in dropout_pairs():
        if p["seq"] == seq:
            assert mf["c_dropout"] == pytest.approx(p["forward_s"] * 1e3, rel=0.05)
            assert mb["c_dropout_bwd"] == pytest.approx(p["backward_s"] * 1e3, rel=0.05)


def test_stream_share_divides_the_streaming_time():
    """A memory-bound kernel at share s takes fixed + stream / s: its time is linear in 1 / s, the fixed
    per-kernel terms untouched (t(s) - t(1) = (t(1/2) - t(1)) (1/s - 1))."""
    def t(s):
        return kernel_ms([Elementwise(name="x", elems=5e8, flops_per_elem=1.0, reads=1.0, writes=1.5, stream_share=s)])["x"]
    t1, half = t(1.0), t(0.5)
    assert half > 1.5 * t1  # memory-bound: the stream dominates
    for s in (0.6, 0.8, 0.95):
        assert t(s) - t1 == pytest.approx((half - t1) * (1.0 / s - 1.0), rel=1e-9)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.2, math.nan])
def test_stream_share_outside_0_1_is_refused_naming_the_field(bad):
    with pytest.raises(ValueError, match="stream_share"):
        Elementwise(name="x", elems=1.0, stream_share=bad)


@settings(max_examples=40, deadline=None)
@given(q=st.integers(5, 512))
def test_causal_read_share_is_the_kernels_row_sum(q):
    """scaled_upper_triang_masked_softmax: row i loads 4-wide vectors while element_index < i + 1."""
    s = 4 * q
    loaded = sum(4 * math.ceil((i + 1) / 4) for i in range(s))
    assert ua.causal_read_share(s) == pytest.approx(loaded / s**2, rel=1e-12)


def test_switch_defaults_and_what_each_acts_on(monkeypatch):
    assert ua.DROPOUT_RNG and not ua.CAUSAL_SOFTMAX
    f, b = ua.core_attention_ops("c", 1, 4, 2048, 8, 128, causal=True)
    assert {o.name: o.stream_share for o in f + b if isinstance(o, Elementwise)} == {
        "c_softmax": 1.0, "c_dropout": dropout_forward_share(), "c_context_copy": 1.0,
        "c_context_copy_bwd": 1.0, "c_dropout_bwd": 1.0, "c_softmax_bwd": 1.0}
    monkeypatch.setattr(ua, "CAUSAL_SOFTMAX", True)
    f2, b2 = ua.core_attention_ops("c", 1, 4, 2048, 8, 128, causal=True)
    soft = {o.name: o for o in f2 + b2 if "softmax" in o.name}
    assert soft["c_softmax"].reads == pytest.approx(2052 / 4096) and soft["c_softmax"].writes == 1.0
    assert soft["c_softmax_bwd"].reads == pytest.approx(2 * 2052 / 4096) and soft["c_softmax_bwd"].writes == 1.0
    # past the fused kernel's 2048 keys, or without a causal mask, every score is read
    for kw in ({"seq": 4096, "causal": True}, {"seq": 2048, "causal": False}):
        f3, _ = ua.core_attention_ops("c", 1, 4, kw["seq"], 8, 128, causal=kw["causal"])
        assert [o.reads for o in f3 if o.name == "c_softmax"] == [1.0]


def test_layer_forward_lengthened_by_exactly_the_dropout_share(monkeypatch):
    """LT-0001: the forward grows by the dropout kernels' (1 / share - 1) of their streaming time (the attention
    dropout and the two residual bias-dropout-adds, hidden_dropout: DROPOUT_RNG is the one switch of the draw) and
    stays below Korthikanti's Table 4; the backward (no recompute) does not move."""
    row = published_layers()[0]
    monkeypatch.setattr(ua, "DROPOUT_RNG", False)
    clear_cache()
    f0, b0 = layer_times(row)
    monkeypatch.setattr(ua, "DROPOUT_RNG", True)
    clear_cache()
    f1, b1 = layer_times(row)
    clear_cache()
    p = calibrated_params(get_chip(row["chip"]))
    # the rank's scores: micro-batch 4 x 64 / 8 heads x 2048^2, one call per layer
    drop = [Elementwise(name="d", elems=4 * 8 * 2048.0**2, flops_per_elem=2.0, reads=1.0, writes=1.5, stream_share=s)
            for s in (1.0, dropout_forward_share())]
    # the two residuals of the layer, all 4 x 2048 tokens x h on every TP rank (no sequence parallelism)
    res = [Elementwise(name="r", count=2, elems=4 * 2048 * 6144.0, flops_per_elem=3.0, reads=2.0, writes=1.5,
                       stream_share=s) for s in (1.0, philox_share(7.0))]
    grow = kernel_ms(drop[1:], p)["d"] - kernel_ms(drop[:1], p)["d"] + kernel_ms(res[1:], p)["r"] - kernel_ms(res[:1], p)["r"]
    assert f1 - f0 == pytest.approx(grow * 1e-3, rel=1e-6)
    assert b1 == pytest.approx(b0, rel=1e-12)
    assert f1 < float(row["forward_ms"]) * 1e-3
