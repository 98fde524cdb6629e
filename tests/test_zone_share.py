"""Zoned scale-out fabric: group placement by rank order, the uplink share of cross-zone flows,
the collective times it gives, and bad input (hardware/fabric.py, perf/zone_share.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.fabric import MEGATRON_ORDER, Fabric, cluster_fabric, get_fabric, rank_order
from tapeout.hardware.topology import Topology
from tapeout.perf.collectives import collective_time
from tapeout.perf.zone_share import group_ranks, place_groups

LLAMA3 = ("tp", "cp", "pp", "dp")


def _topo(domain=8, bw=50e9, lat=5e-6, eff=0.8):
    return Topology(wiring="switch", domain=domain, scaleup_bw=450e9, scaleup_latency=1e-6, scaleout_bw=bw,
                    scaleout_latency=lat, eff_link=eff)


def test_llama3_paper_example_groups():
    # Llama 3 paper Sec. 3.3.2: 16 GPUs, |TP|=|CP|=|PP|=|DP|=2 in order [TP, CP, PP, DP]: GPU0 shares its TP group
    # with GPU1, CP with GPU2, PP with GPU4, DP with GPU8
    sizes = {"tp": 2, "cp": 2, "pp": 2, "dp": 2}
    for dim, peer in (("tp", 1), ("cp", 2), ("pp", 4), ("dp", 8)):
        rows = group_ranks(sizes, LLAMA3, (dim,))
        assert rows.shape == (8, 2)
        assert [0, peer] in rows.tolist()
        assert sorted(rows.ravel().tolist()) == list(range(16))  # every rank in exactly one group


def test_default_is_megatron_placement_and_non_blocking():
    f = Fabric()
    assert f.rank_order == MEGATRON_ORDER and not f.blocking
    pg = place_groups(f, 8, 2, 128, 8, 8, 8)
    assert (pg.stride_cp, pg.stride_dp, pg.stride_pp) == (8, 8, 8 * 2 * 128)
    assert (pg.share_cp, pg.share_dp, pg.share_pp) == (1.0, 1.0, 1.0)
    topo = _topo()
    assert pg.topology(topo, "pp") is topo


def test_pipeline_sends_closed_form():
    # Megatron order, TP=CP=1, DP=D: stage s holds ranks [sD, (s+1)D); a zone of Z=D chips is one stage, so every
    # chip of a zone sends out of it (and receives into it): Z flows on Z B / o of uplinks -> each gets B / o
    D, P, o = 16, 4, 7.0
    pg = place_groups(Fabric(zone_chips=D, oversubscription=o), 1, 1, D, P, 1, 8)
    assert pg.stride_pp == D and pg.share_pp == pytest.approx(1.0 / o)
    # zone of two stages: only every other stage boundary leaves a zone -> Z/2 flows -> min(1, 2/o)
    pg2 = place_groups(Fabric(zone_chips=2 * D, oversubscription=o), 1, 1, D, P, 1, 8)
    assert pg2.share_pp == pytest.approx(2.0 / o)
    # the send then moves at that share of the NIC: latency + S / (B eff share)
    topo, S = _topo(), 64e6
    t = float(collective_time("send_recv", S, 2, pg.topology(topo, "pp"), stride=pg.stride_pp)[0])
    assert t == pytest.approx(topo.scaleout_latency + S / (topo.scaleout_bw * topo.eff_link / o))


def test_dp_ring_closed_form():
    # order [TP, CP, PP, DP], TP4 on 4-chip nodes, PP2, DP8: DP stride 8, one member per node; 8 DP groups, each
    # ring crosses every zone boundary once (and wraps): 8 flows out of (into) each 16-chip zone on 16 B / o
    o = 4.0
    pg = place_groups(Fabric(zone_chips=16, oversubscription=o, rank_order=LLAMA3), 4, 1, 8, 2, 1, 4)
    assert pg.stride_dp == 8 and pg.stride_pp == 4
    assert pg.share_dp == pytest.approx(min(1.0, 16 / (o * 8)))
    # Megatron order, one DP16 group on 4-chip nodes, zones of 8 chips: node edges 1->2 and 3->0 cross zones, each
    # with the 4 members of its node on it -> 4 flows per zone -> min(1, 8 / (o 4))
    pg = place_groups(Fabric(zone_chips=8, oversubscription=o), 1, 1, 16, 1, 1, 4)
    assert pg.share_dp == pytest.approx(8 / (o * 4))
    # the cross-node term of the reduce-scatter runs at that share of the NIC bandwidth
    topo, S = _topo(domain=4, lat=0.0), 256e6
    slow = float(collective_time("reduce_scatter", S, 16, pg.topology(topo, "dp"), stride=pg.stride_dp)[0])
    fast = float(collective_time("reduce_scatter", S, 16, topo, stride=pg.stride_dp)[0])
    assert slow > fast


def test_groups_inside_one_zone_are_not_slowed():
    # Llama 3's order keeps a TP8 x PP16 block (128 chips) inside one 3,072-GPU pod: its PP sends never leave
    pg = place_groups(get_fabric("meta-rsc-24k"), 8, 1, 128, 16, 1, 8)
    assert pg.stride_pp == 8 and pg.share_pp == 1.0


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 8]), cp=st.sampled_from([1, 2]), dp=st.sampled_from([2, 4, 16]),
       pp=st.sampled_from([1, 2, 4]), vp=st.sampled_from([1, 2]), zone=st.sampled_from([8, 16, 64]),
       o1=st.floats(1.0, 10.0), d=st.floats(0.0, 10.0), order=st.sampled_from([MEGATRON_ORDER, LLAMA3]))
def test_more_oversubscription_never_faster(tp, cp, dp, pp, vp, zone, o1, d, order):
    a = place_groups(Fabric(zone_chips=zone, oversubscription=o1, rank_order=order), tp, cp, dp, pp, vp, 8)
    b = place_groups(Fabric(zone_chips=zone, oversubscription=o1 + d, rank_order=order), tp, cp, dp, pp, vp, 8)
    for g in ("cp", "dp", "pp"):
        sa, sb = getattr(a, "share_" + g), getattr(b, "share_" + g)
        assert 0.0 < sb <= sa <= 1.0
    topo, S = _topo(), 32e6
    ta = float(collective_time("reduce_scatter", S, cp * dp, a.topology(topo, "dp"), stride=a.stride_dp)[0])
    tb = float(collective_time("reduce_scatter", S, cp * dp, b.topology(topo, "dp"), stride=b.stride_dp)[0])
    assert tb >= ta


def test_train_step_monotone_in_oversubscription():
    from tapeout.perf.training import train

    args = ("llama-3.1-8b", "h100-sxm", 64, 64 * 8192, 8192, "bf16")
    kw = {"tp": 8, "pp": 4, "cp": 1}
    base = train(*args, **kw)
    steps = [train(*args, cluster=Fabric(name=f"z{o}", zone_chips=16, oversubscription=o), **kw).step_time_s
             for o in (1.0, 2.0, 8.0)]
    assert steps[0] == pytest.approx(base.step_time_s)  # o = 1 is the non-blocking fabric
    assert steps[0] <= steps[1] <= steps[2] and steps[2] > steps[0]  # PP8 stride 16 = one stage per zone


@pytest.mark.parametrize("kw, field", [({"oversubscription": 0.5}, "oversubscription"),
                                       ({"oversubscription": float("nan")}, "oversubscription"),
                                       ({"zone_chips": 0}, "zone_chips"), ({"zone_chips": 3.5}, "zone_chips"),
                                       ({"rank_order": ("tp", "dp", "pp")}, "rank order"),
                                       ({"total_chips": 0}, "total_chips")])
def test_bad_fabric_refused(kw, field):
    with pytest.raises(TapeoutError, match=field):
        Fabric(**kw)


def test_bad_names_refused():
    with pytest.raises(TapeoutError, match="unknown cluster 'meta-rsc-42k'.*meta-rsc-24k"):
        get_fabric("meta-rsc-42k")
    with pytest.raises(TapeoutError, match="rank order"):
        rank_order("tp,cp,pp")
    assert cluster_fabric("meta-rsc-24k", "tp-cp-dp-pp").rank_order == MEGATRON_ORDER


def test_cluster_file_matches_paper():
    f = get_fabric("meta-rsc-24k")  # Llama 3 paper Sec. 3.3.1 / 3.3.2
    assert (f.zone_chips, f.oversubscription, f.total_chips, f.rank_order) == (3072, 7.0, 24576, LLAMA3)


def test_cli_bad_cluster_exits_2():
    from _cli import assert_clean, run_cli

    base = ["train", "--model", "llama-3.1-8b", "--chip", "h100-sxm"]
    for args, word in ((["-n", "64", "--cluster", "nope"], "unknown cluster 'nope'"),
                       (["-n", "32768", "--cluster", "meta-rsc-24k"], "24576"),
                       (["-n", "64", "--rank-order", "tp,pp"], "rank order")):
        code, out, err = run_cli(base + args)
        assert_clean(code, out, err)
        assert code == 2 and word in err.strip().splitlines()[-1]
