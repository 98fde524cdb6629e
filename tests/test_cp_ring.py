"""TE's context-parallel P2P ring, step by step (perf/cp_ring.py): each of the cp - 1 forward K/V transfers hides
behind one step's attention (AttnFuncWithCP.forward waits on step i's receive before step i's attention); the
backward posts cp transfers, K/V first, dK/dV last, both between, each behind its own step (AttnFuncWithCP.backward)."""

import pytest
from hypothesis import given, strategies as st

from tapeout.perf.cp_ring import backward_blocks, ring_exposed, ring_exposed_backward

pos = st.floats(1e-7, 1e-2, allow_nan=False)


def test_closed_forms():
    # CP4, a 50 us hop against 40 us of attention per step (160 us in all): 3 steps wait 10 us each
    assert ring_exposed(50e-6, 160e-6, 4) == pytest.approx(30e-6)
    # CP2: one transfer behind half the attention, where the whole-layer window would hide it (60 < 80)
    assert ring_exposed(60e-6, 80e-6, 2) == pytest.approx(20e-6)
    assert ring_exposed(1.0, 0.0, 1) == 0.0


def test_backward_closed_forms():
    # CP4 backward, 50 us per K/V block against 80 us per step (320 us): K/V alone (50) and dK/dV alone (50)
    # hide; the two middle steps send both (100) and wait 20 us each
    assert backward_blocks(4) == [1, 2, 2, 1]
    assert ring_exposed_backward(50e-6, 320e-6, 4) == pytest.approx(2 * 20e-6)
    # CP2: K/V in step 0, dK/dV in step 1, 60 us each against 40 us per step: 2 x 20 us (a both-block
    # transfer in one step would wait 120 - 40 = 80 us)
    assert backward_blocks(2) == [1, 1]
    assert ring_exposed_backward(60e-6, 80e-6, 2) == pytest.approx(40e-6)
    assert backward_blocks(1) == [] and ring_exposed_backward(1.0, 0.0, 1) == 0.0


@given(st.integers(1, 64))
def test_backward_moves_twice_the_forward_blocks(cp):
    # every block the forward sends comes back with its gradient: 2 (cp - 1) blocks over cp steps
    assert sum(backward_blocks(cp)) == 2 * max(0, cp - 1)
    assert len(backward_blocks(cp)) == (cp if cp > 1 else 0)


@given(pos, pos, st.integers(2, 16))
def test_bounds(t, a, cp):
    e = ring_exposed(t, a, cp)
    assert max(0.0, (cp - 1) * t - a) - 1e-15 <= e <= (cp - 1) * t + 1e-15  # whole-pass window <= e <= all transfers
    assert (e == 0.0) == (t <= a / cp)
    b = ring_exposed_backward(t, a, cp)
    assert max(0.0, 2 * (cp - 1) * t - a) - 1e-15 <= b <= 2 * (cp - 1) * t + 1e-15
    # never above cp - 1 both-block transfers each behind one step (the schedule before this reading)
    assert b <= (cp - 1) * max(0.0, 2 * t - a / cp) + 1e-15
    assert (b == 0.0) == (max(backward_blocks(cp)) * t <= a / cp)


@given(pos, pos, st.integers(2, 16))
def test_monotone(t, a, cp):
    for f in (ring_exposed, ring_exposed_backward):
        assert f(t * 1.5, a, cp) >= f(t, a, cp)
        assert f(t, a * 1.5, cp) <= f(t, a, cp)
