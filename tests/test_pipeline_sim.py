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


@given(layouts, st.booleans())
@settings(max_examples=80, deadline=None)
def test_closed_forms_of_the_held_sends_against_the_simulation(t, forward_only):
    """perf/pipeline_p2p.pipeline_send_time's blocking warm-up equals the simulated schedule for p >= 3 and is
    at most one hop over at p = 2 (training; forward-only exact); the forward-send wait it adds is the
    simulation's lower bound, within m hops of it, alone and with the blocking warm-up."""
    from tapeout.perf.pipeline_p2p import pipeline_send_time

    pp, vp, m, group, tf, tb, ts = _case(t)
    ideal = (m * vp + pp - 1) * (tf if forward_only else tf + tb)
    kw = {"forward_only": forward_only, "t_fwd_chunk": tf, "t_bwd_chunk": tb, "group": group}
    sim = simulated_step(pp, vp, m, group, tf, tb, ts, forward_only=forward_only, blocking_warmup=True) - ideal
    closed = pipeline_send_time(ts, pp, vp, m, True, blocking_warmup=True, **kw)
    over = 0.0 if forward_only or pp >= 3 else ts
    eps = 1e-9 * max(1.0, ideal)
    assert sim - eps <= closed <= sim + over + eps
    if not forward_only:
        for warm in (False, True):
            sim = simulated_step(pp, vp, m, group, tf, tb, ts, blocking_warmup=warm, forward_send_wait=True,
                                 rendezvous=True) - ideal
            closed = pipeline_send_time(ts, pp, vp, m, True, blocking_warmup=warm, forward_send_wait=True, **kw)
            slack = over if warm else 0.0
            assert closed - slack - eps <= sim <= closed + m * ts + eps


def test_train_shows_what_the_held_sends_would_add_and_prices_them_when_set():
    """At an interleaved layout the default (asynchronous) result names the held sends' cost in its notes; that
    number is the step difference when the stack sets both, at the same layout; a set stack has no such note."""
    from tapeout.perf.training import train

    lay = {"tp": 4, "pp": 8, "vp": 12, "cp": 1, "mbs": 1, "recompute": "none", "zero": 1}
    base = train("gpt3-175b", "h100-sxm", 1024, 512 * 2048, 2048, **lay)
    held = train("gpt3-175b", "h100-sxm", 1024, 512 * 2048, 2048, p2p_blocking_warmup=True, p2p_forward_send_wait=True,
                 **lay)
    note = [n for n in base.notes if n.startswith("pipeline sends:")]
    assert len(note) == 1 and not any(n.startswith("pipeline sends:") for n in held.notes)
    added = float(note[0].split("would add ")[1].split(" s")[0])
    assert held.step_time_s > base.step_time_s
    assert abs((held.step_time_s - base.step_time_s) - added) < 1e-3
    # no pipeline, or no interleaving: nothing to say
    flat = train("gpt3-175b", "h100-sxm", 1024, 512 * 2048, 2048, tp=4, pp=8, vp=1, recompute="none")
    assert not any(n.startswith("pipeline sends:") for n in flat.notes)
