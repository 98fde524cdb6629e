"""NCCL's in-domain ring reduce-scatter / all-gather (perf/nccl_ring.py, perf/collectives.collective_time): the
stop-32 closed form (tuning.cc latency per protocol + (g-1)/g S / (B eff)) with the switch off, and the ring
loop's load/store traffic (RING_SM_TRAFFIC, issue-33nc) counted from NCCL's runRing primitive sequence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf import nccl_ring
from tapeout.perf.collectives import LIBRARY_ALGORITHMS, bus_factor, collective_time, topology_for_chip
from tapeout.perf.kernels_db import chip_for


@pytest.fixture
def traffic_on(monkeypatch):
    monkeypatch.setattr(nccl_ring, "RING_SM_TRAFFIC", True)


def _nccl_ring(t_bw: float, g: int) -> float:
    """tuning.cc ring, one node (us): LL 6.6 + 0.6/hop at 1/4 bandwidth, LL128 14.0 + 1.9 at 0.92, Simple 8.4 + 3.4."""
    return min(1e-6 * (6.6 + 0.6 * (g - 1)) + t_bw / 0.25, 1e-6 * (14.0 + 1.9 * (g - 1)) + t_bw / 0.92,
               1e-6 * (8.4 + 3.4 * (g - 1)) + t_bw)


@pytest.mark.parametrize("g", [2, 3, 4, 8, 16])
def test_ring_loop_counts(g):
    """One loop: all-gather copySend + (g-2) recvCopySend + recv = 3 + 3(g-2) + 2 chunks; reduce-scatter send +
    (g-2) recvReduceSend + recvReduceCopy = 2 + 3(g-2) + 3; all-reduce both halves with recvReduceCopySend (4)
    between = 6g-4. Link chunks: g-1 and 2(g-1). Ratio (3g-1)/(3g-2)."""
    assert nccl_ring.ring_loop_traffic("all_gather", g) == (3 * g - 1, g - 1)
    assert nccl_ring.ring_loop_traffic("reduce_scatter", g) == (3 * g - 1, g - 1)
    assert nccl_ring.ring_loop_traffic("all_reduce", g) == (6 * g - 4, 2 * (g - 1))
    assert nccl_ring.ring_traffic_ratio("all_gather", g) == pytest.approx((3 * g - 1) / (3 * g - 2))
    assert nccl_ring.ring_traffic_ratio("all_reduce", g) == pytest.approx(1.0)


def test_switch_off_is_the_stop32_closed_form():
    topo, g, S = topology_for_chip(chip_for("b200")), 2, 512.0 * 2**20
    t_bw = bus_factor("all_gather", g) * S / (topo.link_bw_for_group(g) * topo.eff_link)
    t, _ = collective_time("all_gather", S, g, topo, algorithm=LIBRARY_ALGORITHMS)
    assert not nccl_ring.RING_SM_TRAFFIC
    assert float(t) == pytest.approx(_nccl_ring(t_bw, g), rel=1e-9)


@pytest.mark.parametrize("kind", ["all_gather", "reduce_scatter"])
@pytest.mark.parametrize("g", [2, 4, 8])
def test_switch_on_closed_form(traffic_on, kind, g):
    """On: the bandwidth term x (3g-1)/(3g-2), NCCL's latency untouched (a 512 MiB ring runs Simple: 8.4 + 3.4 (g-1) us)."""
    topo, S = topology_for_chip(chip_for("h100-sxm")), 512.0 * 2**20
    t_bw = bus_factor(kind, g) * S / (topo.link_bw_for_group(g) * topo.eff_link) * (3 * g - 1) / (3 * g - 2)
    t, name = collective_time(kind, S, g, topo, algorithm=LIBRARY_ALGORITHMS)
    assert float(t) == pytest.approx(1e-6 * (8.4 + 3.4 * (g - 1)) + t_bw, rel=1e-9) and "simple" in name
    tiny, _ = collective_time(kind, 8.0, g, topo, algorithm=LIBRARY_ALGORITHMS)
    assert float(tiny) == pytest.approx(1e-6 * (6.6 + 0.6 * (g - 1)), rel=1e-3)


def test_switch_on_leaves_all_reduce_and_cross_node(traffic_on, monkeypatch):
    topo = topology_for_chip(chip_for("h100-sxm"))
    on = [float(collective_time("all_reduce", 2.0**26, 8, topo, algorithm=LIBRARY_ALGORITHMS)[0]),
          float(collective_time("all_gather", 2.0**26, 32, topo, algorithm=LIBRARY_ALGORITHMS)[0])]
    monkeypatch.setattr(nccl_ring, "RING_SM_TRAFFIC", False)
    off = [float(collective_time("all_reduce", 2.0**26, 8, topo, algorithm=LIBRARY_ALGORITHMS)[0]),
           float(collective_time("all_gather", 2.0**26, 32, topo, algorithm=LIBRARY_ALGORITHMS)[0])]
    assert on == off


@settings(max_examples=60, deadline=None)
@given(s=st.floats(1.0, 2.0**32), f=st.floats(1.0, 64.0), g=st.integers(2, 7),
       kind=st.sampled_from(["all_gather", "reduce_scatter"]), on=st.booleans())
def test_monotone_in_size_and_ranks(s, f, g, kind, on):
    """More bytes or more ranks never take less time (the ratio's (g-1)(3g-1)/(g(3g-2)) grows with g)."""
    topo = topology_for_chip(chip_for("b200"))
    old = nccl_ring.RING_SM_TRAFFIC
    try:
        nccl_ring.RING_SM_TRAFFIC = on
        t = lambda S, n: float(collective_time(kind, S, n, topo, algorithm=LIBRARY_ALGORITHMS)[0])
        assert t(s * f, g) >= t(s, g) * (1 - 1e-12)
        assert t(s, g + 1) >= t(s, g) * (1 - 1e-12)
    finally:
        nccl_ring.RING_SM_TRAFFIC = old
