"""The event simulation of Megatron-Core's interleaved schedule (perf/pipeline_sim.py): the send behaviours
of later Megatron-Core releases that perf/pipeline_p2p.py does not price, bounded."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.perf.pipeline_sim import megatron_order, simulated_step, warmup_forwards

layouts = st.tuples(st.integers(2, 6), st.integers(2, 4), st.integers(0, 3), st.integers(1, 3),
                    st.floats(1.5, 2.5), st.floats(0.0, 0.5))


def _case(t):
    pp, vp, extra, groups, kb, share = t
    group = pp + extra
    return pp, vp, group * groups, group, 1.0, kb, share


def test_every_op_once_and_warmup_as_megatron_core_counts():
    """Each device runs every (micro-batch, chunk) forward and backward once; its first backward comes after
    the 2 (pp - rank - 1) + (vp - 1) N warm-up forwards (get_pp_rank_microbatches) and the steady state's first
    forward, or after all m vp forwards when the warm-up reaches them."""
    for pp, vp, m, group in ((4, 3, 8, 4), (2, 2, 6, 3), (8, 16, 32, 8)):
        for d in range(pp):
            order = megatron_order(pp, vp, m, group, d)
            assert sorted(order) == sorted({(k, mb, c) for k in "FB" for mb in range(m) for c in range(vp)})
            first_b = next(i for i, op in enumerate(order) if op[0] == "B")
            w = min(m * vp, 2 * (pp - d - 1) + (vp - 1) * group)
            assert warmup_forwards(pp, vp, m, group, d) == w
            assert first_b == w + (w < m * vp)


@given(layouts, st.booleans())
@settings(max_examples=60, deadline=None)
def test_forward_send_wait_costs_at_least_one_hop_per_later_group_chunk(t, rendezvous):
    """Megatron-LM 260cba71 waits for each steady-state forward send before the device goes on. The step
    grows by at least (vp - 1)(m - N) hops (the chunk-1..vp-1 forwards of every group after the first), and
    by at most m hops more; never by less than zero."""
    pp, vp, m, group, tf, tb, ts = _case(t)
    base = simulated_step(pp, vp, m, group, tf, tb, ts)
    held = simulated_step(pp, vp, m, group, tf, tb, ts, forward_send_wait=True, rendezvous=rendezvous)
    low = (vp - 1) * max(0, m - group) * ts
    assert low - 1e-9 <= held - base <= low + m * ts + 1e-9


@given(layouts)
@settings(max_examples=60, deadline=None)
def test_blocking_warmup_adds_at_most_its_held_sends(t):
    """A hold of ts on one device can lengthen any chain of the schedule by at most ts (max-plus): the
    blocking warm-up / cool-down adds at least nothing and at most ts per held send over all devices."""
    pp, vp, m, group, tf, tb, ts = _case(t)
    base = simulated_step(pp, vp, m, group, tf, tb, ts)
    blocked = simulated_step(pp, vp, m, group, tf, tb, ts, blocking_warmup=True)
    S = pp * vp
    held = 0
    for d in range(pp):
        w = warmup_forwards(pp, vp, m, group, d)
        order = megatron_order(pp, vp, m, group, d)
        fwd = [op for op in order if op[0] == "F"][:w]
        cool = order[len(order) - w:]
        held += sum(c * pp + d < S - 1 for _, _, c in fwd) + sum(c * pp + d > 0 for _, _, c in cool)
    assert -1e-9 <= blocked - base <= held * ts + 1e-9


def test_no_send_time_no_cost():
    """With instantaneous sends every behaviour is the asynchronous schedule: Narayanan's
    (m + (pp - 1)/vp)(F + B) for equal chunks."""
    pp, vp, m, tf, tb = 4, 3, 8, 1.0, 2.0
    ideal = (m * vp + pp - 1) * (tf + tb)
    for kw in ({}, {"blocking_warmup": True}, {"forward_send_wait": True, "rendezvous": True}):
        assert abs(simulated_step(pp, vp, m, pp, tf, tb, 0.0, **kw) - ideal) < 1e-9
