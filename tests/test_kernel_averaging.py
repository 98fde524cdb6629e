"""A step's interval averages the per-shape scatter of its distinct kernels, never the chip's bias
(perf/variance_components.py, perf/uncertainty.py)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import MatMul, OpTable
from tapeout.perf import calibration, fit, uncertainty
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.uncertainty import interval_for, step_spread, term_sigmas
from tapeout.perf.variance_components import components, kernel_spread, step_sigma

weights = st.lists(st.floats(0.01, 10.0), min_size=1, max_size=12)


def test_components_closed_form():
    # chip c's errors are b_c +- s_c: its mean is b_c and its within-chip variance s_c^2 exactly
    b, s = {"x": 0.3, "y": -0.1, "z": 0.0}, {"x": 0.2, "y": 0.4, "z": 0.1}
    groups = {c: [b[c] + s[c], b[c] - s[c], b[c] + s[c], b[c] - s[c]] for c in b}
    bias, scatter = components(groups)
    assert bias == pytest.approx(math.sqrt((0.09 + 0.01 + 0.0) / 3))
    assert scatter == pytest.approx(math.sqrt((0.04 + 0.16 + 0.01) / 3))


@given(st.lists(st.lists(st.floats(-2, 2), min_size=1, max_size=20), min_size=1, max_size=6))
def test_components_add_up_to_the_pooled_rms(groups):
    bias, scatter = components({str(i): g for i, g in enumerate(groups)})
    pooled = np.mean([np.mean(np.square(g)) for g in groups])  # RMS over chips of the per-chip RMS, squared
    assert bias**2 + scatter**2 == pytest.approx(pooled, abs=1e-9)


def test_spread_of_one_and_of_n_equal_kernels():
    assert kernel_spread([3.0]) == 1.0
    assert kernel_spread([1.0] * 5) == pytest.approx(0.2)
    assert step_sigma(0.3, 0.4, 1.0) == pytest.approx(0.5)  # one kernel: the whole per-shape error
    assert step_sigma(0.3, 0.4, 0.25) == pytest.approx(math.hypot(0.3, 0.2))


@given(weights, st.integers(0, 11), st.floats(0.05, 0.95), st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=200)
def test_more_independent_kernels_never_widen(w, i, frac, bias, scatter):
    i %= len(w)
    split = w[:i] + [w[i] * frac, w[i] * (1 - frac)] + w[i + 1:]  # one kernel's time run as two distinct kernels
    assert kernel_spread(split) <= kernel_spread(w) + 1e-12
    assert step_sigma(bias, scatter, kernel_spread(split)) <= step_sigma(bias, scatter, kernel_spread(w)) + 1e-12


@given(weights, st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_a_larger_bias_never_narrows(w, b1, b2, scatter):
    lo, hi = sorted((b1, b2))
    sp = kernel_spread(w)
    assert step_sigma(hi, scatter, sp) >= step_sigma(lo, scatter, sp)
    assert step_sigma(lo, scatter, sp) >= lo - 1e-12  # the bias survives any number of kernels


def test_spread_must_be_a_share():
    with pytest.raises(ValueError, match="spread"):
        step_sigma(0.1, 0.1, 0.0)
    with pytest.raises(ValueError, match="spread"):
        step_sigma(0.1, 0.1, 1.5)


def _table_times(ops, chip="h100-sxm"):
    t = OpTable.from_ops(ops)
    ct = evaluate(t, calibrated_params(get_chip(chip)), check_support=False)
    return t, np.asarray(ct.time, dtype=float).reshape(len(t), -1).max(axis=1)


def test_repeats_of_one_kernel_are_one_term():
    a = MatMul(name="up", m=256, n=8192, k=8192, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16")
    b = MatMul(name="up_again", m=256, n=8192, k=8192, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16")
    assert step_spread(*_table_times([a, b])) == pytest.approx(1.0)  # same shape, same error: one kernel
    c = MatMul(name="other", m=256, n=4096, k=8192, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16")
    sp = step_spread(*_table_times([a, c]))
    assert 0.5 <= sp < 1.0  # two distinct kernels, the larger one about twice as long


def test_compute_term_at_spread_one_is_the_per_shape_sigma():
    u = calibration.load_fitted()["uncertainty"]["compute"]["own_peak_only"]
    assert math.hypot(u["bias"], u["scatter"]) == pytest.approx(u["sigma"], abs=2e-4)
    own_peak = get_chip("mi355x")  # own best-shape point, curve borrowed (h100-sxm takes its sibling h200's sweep)
    assert term_sigmas(own_peak)["compute"][0] == pytest.approx(u["sigma"], abs=2e-4)
    assert term_sigmas(own_peak, spread=0.2)["compute"][0] == pytest.approx(step_sigma(u["bias"], u["scatter"], 0.2))


def test_a_chip_with_its_own_sweep_does_not_average(monkeypatch):
    # its sigma is its own sweep's fit residual, not the borrowed curve's bias + scatter
    # (nor does h100-sxm under SIBLING_SWEEP, whose curve is the same-silicon h200 sweep: that sweep's residual,
    # perf/uncertainty.py; the switch ships off)
    monkeypatch.setattr(uncertainty, "SIBLING_SWEEP", True)
    for cid in ("h200", "h100-sxm"):
        assert term_sigmas(get_chip(cid), spread=0.1)["compute"] == term_sigmas(get_chip(cid))["compute"]


@pytest.mark.parametrize("chip", ["mi355x", "b200", "tpu-v6e"])
def test_averaging_narrows_but_never_below_the_bias(chip):
    u = calibration.load_fitted()["uncertainty"]["compute"]["own_peak_only"]
    w1 = math.log(interval_for(100.0, chip)[1] / 100.0)
    w2 = math.log(interval_for(100.0, chip, spread=0.2)[1] / 100.0)
    w0 = math.log(interval_for(100.0, chip, spread=1e-9)[1] / 100.0)
    assert w0 <= w2 < w1
    assert w0 >= 1.2815515655446004 * u["bias"] - 1e-9


def test_shipped_components_are_current():
    fresh = fit.fit_all()["uncertainty"]["compute"]["own_peak_only"]
    shipped = calibration.load_fitted()["uncertainty"]["compute"]["own_peak_only"]
    assert (shipped["bias"], shipped["scatter"]) == (fresh["bias"], fresh["scatter"]), "run `tapeout calibrate`"


def test_serving_result_carries_its_step_spread():
    from tapeout.perf.mlperf import serve_at_scale

    r = serve_at_scale("llama2-70b", "b200", 8, "fp8", 1024, 300, "offline")  # a curve borrowed from other silicon
    assert 0.0 < r.kernel_spread < 1.0  # a decode step runs several distinct kernels
    lo, hi = r.interval_80
    assert lo < r.output_tokens_per_s < hi
    assert math.log(hi / r.output_tokens_per_s) < math.log(interval_for(1.0, "b200")[1])


def test_training_step_interval_averages_its_forward_kernels():
    from tapeout.perf.training import train

    r = train("llama2-70b", "h100-sxm", 64, 4 * 1024 * 1024, seq_len=4096, precision="bf16")
    sp = r.breakdown["kernel_spread"]
    assert 0.0 < sp < 1.0
    assert r.interval_80 == pytest.approx(interval_for(r.step_time_s, "h100-sxm", spread=sp))
