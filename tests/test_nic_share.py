"""Pipeline sends and DP collectives on one NIC (perf/nic_share.py): fair sharing halves a flow's
bandwidth while both are active, and the link moves every byte of both."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.nic_share import fill_drain_share, shared_finish_times


@given(x=st.floats(1e3, 1e9), y=st.floats(1e3, 1e10), bw=st.floats(1e9, 1e11))
@settings(max_examples=60, deadline=None)
def test_two_flows_share_the_link_fairly(x, y, bw):
    tx, ty = shared_finish_times(x, y, bw)
    small, big = min(x, y), max(x, y)
    t_small, t_big = (tx, ty) if x <= y else (ty, tx)
    assert t_small == pytest.approx(2 * small / bw)  # half the bandwidth while both are active
    assert t_big == pytest.approx((x + y) / bw)  # the link moves every byte of both
    assert t_big >= big / bw and t_small >= small / bw  # never faster than alone


def test_a_flow_alone_keeps_the_whole_link():
    assert shared_finish_times(5e6, 0.0, 1e9) == pytest.approx((5e-3, 0.0))


def test_fill_and_drain_hops_pay_their_bytes_twice_only_with_dp_traffic():
    S, bw = 16.8e6, 40e9  # 405B TP8 send (4096 x 16384 x 2 B / 8), NIC at 40 GB/s achieved
    pp_extra, dp_extra = fill_drain_share(S, bw, 8, True)
    assert pp_extra == pytest.approx(2 * 7 * S / bw)  # 2 (p - 1) hops, each S/B longer
    assert dp_extra == pytest.approx(2 * 7 * S / bw)
    assert fill_drain_share(S, bw, 8, False) == (0.0, 0.0)
    assert fill_drain_share(S, bw, 1, True) == (0.0, 0.0)


def test_train_charges_the_shared_hops_when_dp_crosses_the_nic():
    from tapeout.perf.training import TrainLayout, train

    # TP8: one DP rank per node, DP 4 crosses NICs, PP 2 sends across nodes
    r = train("llama-2-70b", "h100-sxm", 64, 64 * 4096, 4096, layout=TrainLayout(tp=8, pp=2, dp=4, zero=1))
    assert r.breakdown["pp_nic_shared"] > 0
    # one pipeline stage: nothing to share
    r1 = train("llama-3.1-8b", "h100-sxm", 64, 64 * 4096, 4096, layout=TrainLayout(tp=8, pp=1, dp=8, zero=1))
    assert r1.breakdown["pp_nic_shared"] == 0.0
