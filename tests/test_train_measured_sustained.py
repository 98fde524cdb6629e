"""`--kernels aiconfigurator` training GEMMs at the board's sustained clock (issue 18, round stop-36, issue-37a).

The kernel database times each GEMM in a burst at the boost clock (perf/collector_clock.py); under
train_clock.SUSTAINED_SCALE the fitted GEMMs run at the die's sustained clock, so the measured ones must too:
stretched by MSMF / burst pair MAMF of the die (data/calibration/power_cap_msmf.yaml) beyond their memory time."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import PEAK_KEYS
from tapeout.perf import train_clock
from tapeout.perf.train_clock import board_power, burst_to_sustained, measured_at_sustained


def test_h100_takes_h200s_burst_to_sustained_pairs():
    # H100-SXM has no pair of its own; the same silicon's (H200): FP8 1354 / 1525, BF16 755 / 850
    keep = burst_to_sustained(get_chip("h100-sxm"))
    assert keep[PEAK_KEYS.index("fp8")] == pytest.approx(1354.0 / 1525.0)
    assert keep[PEAK_KEYS.index("bf16")] == pytest.approx(755.0 / 850.0)
    assert np.array_equal(board_power(get_chip("h100-sxm")).burst_keep, keep, equal_nan=True)


def test_no_pair_no_ratio():
    assert burst_to_sustained(get_chip("a100-sxm")) is None
    b = board_power(get_chip("a100-sxm"))
    assert b is None or b.burst_keep is None


def test_compute_bound_burst_is_divided_by_the_ratio_memory_bound_kept():
    k = 1354.0 / 1525.0
    assert measured_at_sustained(1e-3, 1e-5, k) == pytest.approx(1e-3 / k)
    # memory time above the stretched time: the clock does not show
    assert measured_at_sustained(1e-3, 2e-3, k) == pytest.approx(1e-3)
    assert measured_at_sustained(1e-3, 1e-5, float("nan")) == 1e-3


@settings(max_examples=200, deadline=None)
@given(t=st.floats(1e-7, 1.0), tm=st.floats(0.0, 2.0), k=st.floats(0.3, 1.0))
def test_never_faster_never_slower_than_the_ratio(t, tm, k):
    s = measured_at_sustained(t, tm, k)
    assert t <= s <= t / k * (1 + 1e-12)


def test_train_kernels_path_follows_the_switch():
    pytest.importorskip("duckdb")
    from tapeout.perf.gemm_table import measured_gemms
    from tapeout.perf.training import clear_cache, train

    try:
        measured_gemms("aiconfigurator", "h100-sxm")
    except Exception:  # noqa: BLE001 - the kernels extra is optional
        pytest.skip("aiconfigurator-core not installed")
    kw = dict(tp=1, pp=1, cp=1, mbs=1, zero=3, recompute="none")
    was = train_clock.SUSTAINED_SCALE
    try:
        on = train("llama-3.1-8b", "h100-sxm", 8, 8 * 2048, 2048, "bf16", kernels="aiconfigurator", **kw)
        train_clock.SUSTAINED_SCALE = False
        clear_cache()  # results are memoised per call, not per switch
        off = train("llama-3.1-8b", "h100-sxm", 8, 8 * 2048, 2048, "bf16", kernels="aiconfigurator", **kw)
    finally:
        train_clock.SUSTAINED_SCALE = was
        clear_cache()
    # the 8B's GEMMs at 2,048 tokens are compute-bound: the measured forward GEMMs grow by about 850 / 755 - 1
    # (12.6%), the rest of the forward not at all, so the forward grows by less than that and more than nothing
    r = on.breakdown["F"] / off.breakdown["F"]
    assert 1.0 < r < 850.0 / 755.0


class _Table:
    def __init__(self, kind, peak_key):
        self.kind, self.peak_key = np.asarray(kind), np.asarray(peak_key)

    def __len__(self):
        return len(self.kind)


class _Cost:
    def __init__(self, table, compute, memory):
        self.table, self.compute_time, self.memory_time = table, np.asarray(compute), np.asarray(memory)


class _Params:
    def __init__(self, eff):
        self.eff_compute = np.asarray(eff)


@settings(max_examples=300, deadline=None)
@given(t=st.floats(1e-9, 1.0), tm=st.floats(0.0, 2.0), eff=st.floats(0.05, 1.0), ceil=st.floats(0.01, 1.2),
       fmt=st.sampled_from(PEAK_KEYS))
def test_measured_and_fitted_paths_stretch_alike(t, tm, eff, ceil, fmt):
    """One rule (train_clock.clock_stretch) for both: a measured burst time t under keep = MSMF / fit rate gains
    what sustained_scale adds to a fitted GEMM of compute time t at fit rate eff and ceiling MSMF."""
    from tapeout.perf.opcost import K_MATMUL

    i = PEAK_KEYS.index(fmt)
    effs = np.full(len(PEAK_KEYS), 0.5)
    effs[i] = eff
    ceiling = np.full(len(PEAK_KEYS), np.nan)
    ceiling[i] = ceil
    cost = _Cost(_Table([K_MATMUL], [i]), [t], [tm])
    fitted = float(train_clock.sustained_scale(cost, _Params(effs), ceiling)[0])
    measured = measured_at_sustained(t, tm, ceil / eff) - t
    assert measured == pytest.approx(fitted, rel=1e-12, abs=1e-18)
    # the closed form of the docstrings: t + max(0, t k - max(t, tm)), k = max(1, eff / ceil)
    k = max(1.0, eff / ceil)
    assert fitted == pytest.approx(max(0.0, t * k - max(t, tm)), rel=1e-12, abs=1e-18)


def test_clock_stretch_no_pair_no_stretch():
    assert train_clock.clock_stretch(1e-3, 0.0, np.nan) == 0.0
    assert train_clock.clock_stretch(1e-3, 0.0, 0.5) == 0.0  # a faster clock never speeds a GEMM here
    assert train_clock.clock_stretch(1e-3, 0.0, 2.0) == pytest.approx(1e-3)
