"""Reduce-scatter / all-gather over several scale-up domains: only the domain's 1/g_in share of
the buffer crosses the scale-out network per chip (reduce-scatter inside the domain first), so
the cross-domain part costs what the cross-domain half of a hierarchical all-reduce costs
(all-reduce = reduce-scatter + all-gather, Thakur et al. 2005) and its bus bandwidth grows
with the chips (NICs) per domain in the group (nccl-tests doc/PERFORMANCE.md)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.topology import Topology
from tapeout.perf.collectives import busbw, collective_time


def _topo() -> Topology:
    # an 8-chip NVSwitch node, one 50 GB/s NIC per chip; no in-switch reduction, no custom kernels
    return Topology(wiring="switch", domain=8, scaleup_bw=450e9, scaleup_latency=3e-6, scaleout_bw=50e9,
                    scaleout_latency=10e-6, eff_link=0.8, in_switch_reduction=False, eff_nvls=0.0)


@given(S=st.floats(1e5, 1e10))
@settings(max_examples=40, deadline=None)
def test_reduce_scatter_plus_all_gather_is_the_all_reduce_over_two_nodes(S):
    # 16 chips on two nodes: the all-reduce is RS inside + all-reduce of S/8 across + AG inside;
    # over two domains the cross ring and tree take the same single step, so RS + AG must equal it
    t = _topo()
    rs = float(collective_time("reduce_scatter", S, 16, t, algorithm="ring")[0])
    ag = float(collective_time("all_gather", S, 16, t, algorithm="ring")[0])
    ar = float(collective_time("all_reduce", S, 16, t, algorithm="ring")[0])
    assert rs + ag == pytest.approx(ar, rel=1e-9)


def test_cross_node_bytes_per_nic_are_the_domain_share():
    # 4 nodes x 8 chips, 1 GB: inside, (7/8) S over NVLink; across, (3/4) S/8 over each chip's NIC
    t, S = _topo(), 1e9
    want = 7 * 3e-6 + 7 / 8 * S / (450e9 * 0.8) + 3 * 10e-6 + 3 / 4 * S / 8 / (50e9 * 0.8)
    got = float(collective_time("reduce_scatter", S, 32, t, algorithm="ring")[0])
    assert got == pytest.approx(want, rel=1e-9)


@given(S=st.floats(1e8, 1e10), nodes=st.sampled_from([2, 4, 16, 64]))
@settings(max_examples=40, deadline=None)
def test_more_chips_per_node_in_the_group_means_more_cross_node_bandwidth(S, nodes):
    # the same number of nodes; 8, 4 or 1 group members per node (stride 1, 2, 8: DP after TP 1/2/8)
    t = _topo()
    bw = [float(busbw("reduce_scatter", S, per * nodes, t, stride=8 // per)) for per in (8, 4, 1)]
    assert bw[0] > bw[1] > bw[2]
    # one member per node: never above its own NIC; 8 members: never above 8 NICs
    assert bw[2] <= 50e9 * 0.8 * (1 + 1e-9)
    assert bw[0] <= 8 * 50e9 * 0.8
