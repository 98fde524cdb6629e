"""TE's context-parallel P2P ring, step by step (perf/cp_ring.py): each of the cp - 1 K/V transfers hides behind
one step's attention (AttnFuncWithCP.forward waits on step i's receive before step i's attention)."""

import pytest
from hypothesis import given, strategies as st

from tapeout.perf.cp_ring import ring_exposed

pos = st.floats(1e-7, 1e-2, allow_nan=False)


def test_closed_forms():
    # CP4, a 50 us hop against 40 us of attention per step (160 us in all): 3 steps wait 10 us each
    assert ring_exposed(50e-6, 160e-6, 4) == pytest.approx(30e-6)
    # the backward sends K/V and dK/dV: 2 x 50 us against 80 us per step
    assert ring_exposed(50e-6, 320e-6, 4, sends=2) == pytest.approx(3 * 20e-6)
    # CP2: one transfer behind half the attention, where the whole-layer window would hide it (60 < 80)
    assert ring_exposed(60e-6, 80e-6, 2) == pytest.approx(20e-6)
    assert ring_exposed(1.0, 0.0, 1) == 0.0


@given(pos, pos, st.integers(2, 16), st.integers(1, 2))
def test_bounds(t, a, cp, k):
    e = ring_exposed(t, a, cp, k)
    whole = max(0.0, (cp - 1) * k * t - a)  # the transfers against the whole pass: a lower bound
    assert whole - 1e-15 <= e <= (cp - 1) * k * t + 1e-15
    assert (e == 0.0) == (k * t <= a / cp)


@given(pos, pos, st.integers(2, 16))
def test_monotone(t, a, cp):
    assert ring_exposed(t * 1.5, a, cp) >= ring_exposed(t, a, cp)
    assert ring_exposed(t, a * 1.5, cp) <= ring_exposed(t, a, cp)
