"""Reduce-scatter / all-gather over several scale-up domains: only the domain's 1/g_in share of
the buffer crosses the scale-out network per chip (reduce-scatter inside the domain first), so
the cross-domain bytes are what the cross-domain half of a hierarchical all-reduce moves
(all-reduce = reduce-scatter + all-gather, Thakur et al. 2005) and its bus bandwidth grows
with the chips (NICs) per domain in the group (nccl-tests doc/PERFORMANCE.md). The latency is the
flat ring's: g-1 dependent hops, g_out-1 of them through the NICs (NCCL src/graph/tuning.cc), with
NCCL's per-protocol constants on NVLink systems (perf/nccl_ring.py)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.topology import Topology
from tapeout.perf.collectives import busbw, collective_time
from tapeout.perf import nccl_ring


def _topo() -> Topology:
    # an 8-chip NVSwitch node, one 50 GB/s NIC per chip; no in-switch reduction, no custom kernels
    return Topology(wiring="switch", domain=8, scaleup_bw=450e9, scaleup_latency=3e-6, scaleout_bw=50e9,
                    scaleout_latency=10e-6, eff_link=0.8, in_switch_reduction=False, eff_nvls=0.0, nccl=True)


def _no_latency() -> Topology:
    # the same links without latency (a PCIe-wired domain: no custom kernels, the model's alpha = 0)
    return Topology(wiring="pcie", domain=8, scaleup_bw=450e9, scaleup_latency=0.0, scaleout_bw=50e9,
                    scaleout_latency=0.0, eff_link=0.8, in_switch_reduction=False, eff_nvls=0.0)


@given(S=st.floats(1e5, 1e10))
@settings(max_examples=40, deadline=None)
def test_reduce_scatter_plus_all_gather_is_the_all_reduce_over_two_nodes(S):
    # 16 chips on two nodes: the all-reduce is RS inside + all-reduce of S/8 across + AG inside;
    # the bytes of RS + AG must equal it (latency apart: the flat ring's hops are not the all-reduce's)
    t = _no_latency()
    rs = float(collective_time("reduce_scatter", S, 16, t, algorithm="ring")[0])
    ag = float(collective_time("all_gather", S, 16, t, algorithm="ring")[0])
    ar = float(collective_time("all_reduce", S, 16, t, algorithm="ring")[0])
    assert rs + ag == pytest.approx(ar, rel=1e-9)


def test_cross_node_bytes_per_nic_are_the_domain_share():
    # 4 nodes x 8 chips, 1 GB: inside, (7/8) S over NVLink; across, (3/4) S/8 over each chip's NIC;
    # NCCL's Simple ring latency: base 8.4 us + 28 NVLink hops x 3.4 us + 3 NIC hops x 14 us (at 1 GB
    # Simple beats LL128, whose 0.92 bandwidth share costs more than its lower latency saves)
    t, S = _topo(), 1e9
    want = (8.4 + 28 * 3.4 + 3 * 14.0) * 1e-6 + 7 / 8 * S / (450e9 * 0.8) + 3 / 4 * S / 8 / (50e9 * 0.8)
    got = float(collective_time("reduce_scatter", S, 32, t, algorithm="ring")[0])
    assert got == pytest.approx(want, rel=1e-9)
    # the same links without NCCL (model alpha): g - g_out in-domain hops and g_out - 1 NIC hops
    pc = Topology(wiring="pcie", domain=8, scaleup_bw=450e9, scaleup_latency=3e-6, scaleout_bw=50e9,
                  scaleout_latency=10e-6, eff_link=0.8)
    want = 28 * 3e-6 + 3 * 10e-6 + 7 / 8 * S / (450e9 * 0.8) + 3 / 4 * S / 8 / (50e9 * 0.8)
    assert float(collective_time("reduce_scatter", S, 32, pc)[0]) == pytest.approx(want, rel=1e-9)


def test_small_cross_node_buffers_take_ll128_with_its_latency():
    # 10 MB over 4 x 8 chips: NCCL's LL128 (base 14 + 28 x 1.9 + 3 x 4.0 us) at 0.92 of the bandwidth
    t, S = _topo(), 1e7
    bw = 7 / 8 * S / (450e9 * 0.8) + 3 / 4 * S / 8 / (50e9 * 0.8)
    got, name = collective_time("all_gather", S, 32, t)
    assert "ll128" in name
    assert float(got) == pytest.approx((14.0 + 28 * 1.9 + 3 * 4.0) * 1e-6 + bw / 0.92, rel=1e-9)
    assert nccl_ring.ring_latency(32, 4, "ll128") == pytest.approx((14.0 + 28 * 1.9 + 3 * 4.0) * 1e-6)


@given(S=st.floats(1e8, 1e10), nodes=st.sampled_from([2, 4, 16, 64]))
@settings(max_examples=40, deadline=None)
def test_more_chips_per_node_in_the_group_means_more_cross_node_bandwidth(S, nodes):
    # the same number of nodes; 8, 4 or 1 group members per node (stride 1, 2, 8: DP after TP 1/2/8);
    # the bytes' share (latency apart: a flat ring over 8 x 64 ranks has 511 hops, and at 100 MB NCCL's
    # ring is latency-bound, so busbw there can fall with more ranks per node)
    t = _no_latency()
    bw = [float(busbw("reduce_scatter", S, per * nodes, t, stride=8 // per)) for per in (8, 4, 1)]
    assert bw[0] > bw[1] > bw[2]
    # one member per node: never above its own NIC; 8 members: never above 8 NICs
    assert bw[2] <= 50e9 * 0.8 * (1 + 1e-9)
    assert bw[0] <= 8 * 50e9 * 0.8
