"""NCCL's ring protocol choice with the LL bandwidth of NCCL >= 2.25's tuner (perf/nccl_ring.RING_LL_ARCH_CAP, off):
LL at min(llMaxBws[arch], Simple busBw / 2) (src/graph/tuning.cc ncclTopoTuneModel), the protocol of least
lat + bytes / bw, and the crossover sizes that follow in closed form from tuning.cc's ring latencies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf import nccl_ring
from tapeout.perf.collectives import LIBRARY_ALGORITHMS, collective_time, topology_for_chip
from tapeout.perf.kernels_db import chip_for

US = 1e-6


@pytest.fixture
def cap_on(monkeypatch):
    monkeypatch.setattr(nccl_ring, "RING_LL_ARCH_CAP", True)


def test_arch_rows_and_llmaxbw():
    """tuning.cc compCapIndex per family; llMaxBws inside one node (Ampere 87.7, Hopper 141, Blackwell 2 x 141 GB/s)
    and across nodes the Intel host row (39.0 at 2 nodes, 20.4 beyond) whatever the GPU."""
    assert [topology_for_chip(chip_for(c)).nccl_arch for c in ("a100-sxm", "h100-sxm", "b200", "gb300")] == \
        ["ampere", "hopper", "blackwell", "blackwell"]
    assert nccl_ring.ll_max_bw("ampere", 1) == pytest.approx(87.7e9)
    assert nccl_ring.ll_max_bw("hopper", 1) == pytest.approx(141e9)
    assert nccl_ring.ll_max_bw("blackwell", 1) == pytest.approx(282e9)
    assert nccl_ring.ll_max_bw("blackwell", 2) == pytest.approx(39e9)
    assert nccl_ring.ll_max_bw("hopper", 8) == pytest.approx(20.4e9)
    assert np.isinf(nccl_ring.ll_max_bw("", 1))


def test_switch_off_keeps_quarter_ll():
    assert not nccl_ring.RING_LL_ARCH_CAP
    t, p = nccl_ring.ring_time(1e-6, 8, 1, bus_bytes=1e6, arch="hopper")
    t0, p0 = nccl_ring.ring_time(1e-6, 8, 1)
    assert (float(t), p) == (float(t0), p0)


def _crossover_check(chip, g, lo, hi):
    """Protocols `lo` / `hi` of tuning.cc's ring (latency a + b (g-1) us; bandwidth LL min(llMaxBw, B/2), LL128
    0.92 B, Simple B) cross at bus bytes x* = (lat_hi - lat_lo) / (1/bw_lo - 1/bw_hi); NCCL's model runs `lo` 3 %
    below x* and `hi` 3 % above, at exactly that closed form."""
    topo = topology_for_chip(chip_for(chip))
    B = topo.link_bw_for_group(g) * topo.eff_link
    lat = {"ll": (6.6 + 0.6 * (g - 1)) * US, "ll128": (14.0 + 1.9 * (g - 1)) * US, "simple": (8.4 + 3.4 * (g - 1)) * US}
    bw = {"ll": min(nccl_ring.ll_max_bw(topo.nccl_arch, 1), B / 2), "ll128": 0.92 * B, "simple": B}
    x_star = (lat[hi] - lat[lo]) / (1 / bw[lo] - 1 / bw[hi])
    for f, proto in ((0.97, lo), (1.03, hi)):
        x = f * x_star
        t, name = collective_time("all_gather", x * g / (g - 1), g, topo, algorithm=LIBRARY_ALGORITHMS)
        assert f"nccl ring {proto} " in name
        assert float(t) == pytest.approx(lat[proto] + x / bw[proto], rel=1e-9)
    return x_star, B


@pytest.mark.parametrize("chip", ["a100-sxm", "h100-sxm", "b200"])
@pytest.mark.parametrize("g", [2, 3, 4])
def test_ll_simple_crossover_closed_form(cap_on, chip, g):
    """g <= 4: LL128's latency 14 + 1.9 (g-1) us is at least Simple's 8.4 + 3.4 (g-1) (5.6 >= 1.5 (g-1)) at a lower
    bandwidth, so it never runs; LL hands over to Simple."""
    _crossover_check(chip, g, "ll", "simple")


@pytest.mark.parametrize("chip", ["a100-sxm", "h100-sxm", "b200"])
def test_ll_ll128_crossover_at_8_ranks(cap_on, chip):
    """g = 8: LL128 (27.3 us) starts below Simple (32.2 us); LL hands over to LL128 at x* = 16.5 us / (1/bw_LL -
    1/(0.92 B)), and LL128 to Simple where 4.9 us = x (1/(0.92 B) - 1/B), i.e. x = 56.35 us x B, above x*."""
    x_star, B = _crossover_check(chip, 8, "ll", "ll128")
    assert x_star < 4.9 * US / (1 / (0.92 * B) - 1 / B)
    _crossover_check(chip, 8, "ll128", "simple")


def test_cap_binds_only_where_half_exceeds_llmaxbw(cap_on):
    """H100 (B eff ~363 GB/s): LL at 141 GB/s (the cap, < B/2); an unknown architecture keeps B/2."""
    t_bw, x = 1e-3, 363e6  # 363 MB of bus bytes in 1 ms: B = 363 GB/s
    assert float(nccl_ring.protocol_bw_time(t_bw, "ll", 8, 1, x, "hopper")) == pytest.approx(x / 141e9)
    assert float(nccl_ring.protocol_bw_time(t_bw, "ll", 8, 1, x, "")) == pytest.approx(2 * t_bw)
    assert float(nccl_ring.protocol_bw_time(t_bw, "simple", 8, 1, x, "hopper")) == pytest.approx(t_bw)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["a100-sxm", "h100-sxm", "b200"]), st.sampled_from([2, 3, 4, 8]),
       st.floats(1.0, 2.0**31), st.floats(1.0, 4.0), st.booleans())
def test_monotone_in_size_and_ranks(chip, g, S, k, on):
    """More bytes never take less time (each protocol's time rises with S, and the minimum of rising functions
    rises); more ranks at the same buffer never take less time (latency and (g-1)/g S both rise with g)."""
    old = nccl_ring.RING_LL_ARCH_CAP
    nccl_ring.RING_LL_ARCH_CAP = on
    try:
        topo = topology_for_chip(chip_for(chip))
        t1 = float(collective_time("reduce_scatter", S, g, topo, algorithm=LIBRARY_ALGORITHMS)[0])
        t2 = float(collective_time("reduce_scatter", S * k, g, topo, algorithm=LIBRARY_ALGORITHMS)[0])
        t3 = float(collective_time("reduce_scatter", S, 2 * g, topo, algorithm=LIBRARY_ALGORITHMS)[0])
    finally:
        nccl_ring.RING_LL_ARCH_CAP = old
    assert t2 >= t1 * (1 - 1e-12)
    assert t3 >= t1 * (1 - 1e-12)
