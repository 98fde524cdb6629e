"""Overlapped collectives occupy cores (perf/comm_contention.py): the compute hiding them slows."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.comm_contention import contended_exposure, core_share
from tapeout.perf.training import train

t = st.floats(0.0, 10.0, allow_nan=False)
share = st.floats(0.0, 0.49, allow_nan=False)


def pair_time(g, c, f, steps=20000):
    """Direct simulation of compute g beside a collective c taking share f of the cores:
    integrate the compute's progress at rate 1 - f while c runs, 1 after."""
    dt = (g + c) / steps if g + c > 0 else 1.0
    done, time = 0.0, 0.0
    while done < g - 1e-12:
        done += dt * ((1.0 - f) if time < c else 1.0)
        time += dt
    return max(time, c)


@given(t, t, share)
@settings(max_examples=200)
def test_one_window_is_the_linear_rule(g, c, f):
    # exposed beyond the compute = T - g with T = max(c, g + f c) (module docstring)
    e = float(contended_exposure(max(0.0, c - g), c, f))
    assert g + e == pytest.approx(max(c, g + f * c))
    # bounds: no faster than either stream alone, no slower than running them one after the other
    assert max(g, c) - 1e-12 <= g + e <= g + c + 1e-12


def test_matches_a_direct_simulation():
    for g, c, f in ((1.0, 0.5, 0.25), (1.0, 1.2, 0.25), (1.0, 2.0, 0.25), (0.3, 0.3, 0.1)):
        assert g + float(contended_exposure(max(0.0, c - g), c, f)) == pytest.approx(pair_time(g, c, f), rel=2e-3)


@given(t, t, share, share)
def test_more_cores_taken_never_faster(x, c, f1, f2):
    lo, hi = sorted((f1, f2))
    assert contended_exposure(x, c, lo) <= contended_exposure(x, c, hi)
    assert contended_exposure(x, c, 0.0) == pytest.approx(x)  # free collectives: the old exposure


def test_share_is_ctas_over_cores_and_bad_input_names_the_field():
    assert core_share(32, 132) == pytest.approx(32 / 132)  # H100 SXM: 132 SMs, NCCL's 32-channel ceiling
    for bad in (-1, 66, 200):
        with pytest.raises(TapeoutError, match="comm_ctas"):
            core_share(bad, 132)


def test_training_step_grows_by_the_hidden_collectives_share():
    """GPT-3 175B, v4.0 NVIDIA layout, ZeRO-1 (distributed optimizer): with the DP collectives on
    k CTAs the step grows, never by more than the share of all the DP time, and 0 CTAs is the default."""
    kw = dict(tp=4, pp=6, vp=8, mbs=1, zero=1)
    base = train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", **kw)
    assert train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", comm_ctas=0, **kw).step_time_s == base.step_time_s
    prev = base.step_time_s
    for k in (8, 16, 32):
        r = train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", comm_ctas=k, **kw)
        b = r.breakdown
        assert r.step_time_s >= prev
        # the DP exposure is at least the lost work of its windows (perf/comm_waves: the forward's share
        # for the all-gather, the backward's for the reduce-scatter), and grows by no more than that
        ws = b["comm_wave_share"]
        assert b["exposed_dp"] >= min(ws.values()) * b["t_dp"] - 1e-9
        assert b["exposed_dp"] <= base.breakdown["exposed_dp"] + max(ws.values()) * b["t_dp"] + 1e-9
        prev = r.step_time_s
    assert prev > base.step_time_s


def test_half_the_chip_is_refused():
    with pytest.raises(TapeoutError, match="comm_ctas"):
        train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", tp=4, pp=6, vp=8, mbs=1, zero=1, comm_ctas=80)


def test_hbm_busy_time_closed_form_and_bad_input():
    # 10 GB received over the network by one H100 (3.35 TB/s HBM3): 5 x 10e9 / 3.35e12 s
    from tapeout.perf.comm_contention import hbm_busy_time
    assert hbm_busy_time(10e9, 3.35e12) == pytest.approx(5 * 10e9 / 3.35e12)
    assert hbm_busy_time(10e9, 3.35e12, "nvlink") == pytest.approx(3 * 10e9 / 3.35e12)
    assert hbm_busy_time(10e9, 3.35e12, "nvlink") < hbm_busy_time(10e9, 3.35e12)  # no NIC FIFO round trip
    with pytest.raises(TapeoutError, match="path"):
        hbm_busy_time(1.0, 1.0, "pcie")
    with pytest.raises(TapeoutError, match="hbm_bw"):
        hbm_busy_time(1.0, 0.0)


def test_nan_inputs_are_refused_not_propagated():
    # nan fails every comparison: a range check written as `x < 0` lets it through into a nan time
    from tapeout.perf.comm_contention import hbm_busy_time
    with pytest.raises(TapeoutError, match="hbm_bw"):
        hbm_busy_time(1.0, float("nan"))
    with pytest.raises(TapeoutError, match="wire_bytes"):
        hbm_busy_time(float("nan"), 3.35e12)
    with pytest.raises(TapeoutError, match="wire_bytes"):
        hbm_busy_time(-1.0, 3.35e12)
    with pytest.raises(TapeoutError, match="comm_ctas"):
        core_share(float("nan"), 132)
