"""Pipeline send/recv exposure (perf/pipeline_p2p.py) and the stack feature that switches it
(overlap_p2p_comm, data/software/training_stacks.yaml)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.perf.pipeline_p2p import default_group, pipeline_send_time, schedule_groups
from tapeout.perf.pipeline_sim import simulated_step
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import train


def test_closed_form_without_and_with_overlap():
    # PP 16, VP 6, m 32, one hop 1 ms: blocking = every chunk's forward and backward send of the
    # m micro-batches plus the (p-1)/v fill/drain slots = 2 (v m + p - 1) hops
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 32, overlap=False), 2 * (6 * 32 + 15) * 1e-3)
    # overlapped, Megatron-Core's default group N = PP: the fill and the drain cross every one of
    # the p v - 1 virtual-stage boundaries (the 5 loop-backs to device 0 have no slack)
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 32, overlap=True), 2 * (16 * 6 - 1) * 1e-3)
    # forward-only (evaluation): the fill's p - 1 hops, and each of the 2 groups' 5 loop-backs of p hops
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 32, overlap=True, forward_only=True), (15 + 2 * 5 * 16) * 1e-3)
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 32, overlap=False, forward_only=True), (6 * 32 + 15) * 1e-3)


def test_a_larger_group_hides_the_loop_back():
    # N = 20 > p = 16: a loop-back has (N - p) chunks of slack; 4 x 10 ms covers 16 x 1 ms of hops,
    # leaving only the fill/drain 2 (p - 1) hops (the Llama 3 paper's reason for a tunable N)
    t = pipeline_send_time(1e-3, 16, 6, 40, overlap=True, t_fwd_chunk=10e-3, t_bwd_chunk=20e-3, group=20)
    assert math.isclose(t, 2 * 15 * 1e-3)
    # 4 x 3 ms of slack on the forward loop leaves 16 - 12 = 4 ms per forward loop-back
    t = pipeline_send_time(1e-3, 16, 6, 40, overlap=True, t_fwd_chunk=3e-3, t_bwd_chunk=20e-3, group=20)
    assert math.isclose(t, 2 * 15 * 1e-3 + 5 * 4e-3)


def test_overlap_needs_virtual_stages_and_pipeline():
    # Megatron-Core's non-interleaved schedule rejects overlap_p2p_comm: VP 1 stays blocking
    assert pipeline_send_time(1e-3, 8, 1, 32, overlap=True) == pipeline_send_time(1e-3, 8, 1, 32, overlap=False)
    assert pipeline_send_time(1e-3, 1, 1, 32, overlap=False) == 0.0


def test_a_send_longer_than_its_chunk_shows_the_excess():
    # steady-state sends hide behind one chunk each: 2 v m sends, each exposed by t_send - t_chunk;
    # PP 4, VP 2, m 8 (two groups of 4): fill/drain 2 x 3 hops, one forward and one backward loop-back
    # of 4 hops, the 2 x 8 excesses
    t = pipeline_send_time(3e-3, 4, 2, 8, overlap=True, t_fwd_chunk=1e-3, t_bwd_chunk=2e-3)
    assert math.isclose(t, 2 * 3 * 3e-3 + 2 * 4 * 3e-3 + 2 * 8 * (2e-3 + 1e-3))


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.integers(2, 4), st.integers(0, 3), st.integers(1, 3), st.floats(0.5, 2.0),
       st.floats(1.2, 3.0), st.floats(0.0, 0.95), st.booleans())
def test_closed_form_equals_the_schedule_simulation(pp, vp, extra, groups, tf, kb, ts_share, fwd_only):
    # Megatron-Core's schedule with asynchronous sends, simulated op by op, against the closed form
    # (valid schedules: N in [pp, m], m a multiple of N); sends shorter than a chunk (every layout on file)
    group = pp + extra
    m = group * groups
    tb, ts = kb * tf, ts_share * tf
    ideal = (m * vp + pp - 1) * (tf if fwd_only else tf + tb)  # (m + (p-1)/v) slots of v chunk passes
    sim = simulated_step(pp, vp, m, group, tf, tb, ts, fwd_only) - ideal
    closed = pipeline_send_time(ts, pp, vp, m, True, fwd_only, t_fwd_chunk=tf, t_bwd_chunk=tb, group=group)
    assert math.isclose(closed, sim, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(2, 4), st.integers(1, 3), st.floats(1.0, 4.0))
def test_longer_sends_are_bounded_by_the_simulation(pp, vp, groups, ts):
    # sends longer than a chunk (1 ms forward, 2 ms backward): the closed form is an upper bound
    m = pp * groups
    sim = simulated_step(pp, vp, m, pp, 1.0, 2.0, ts) - (m * vp + pp - 1) * 3.0
    closed = pipeline_send_time(ts, pp, vp, m, True, t_fwd_chunk=1.0, t_bwd_chunk=2.0)
    assert sim - 1e-9 <= closed <= pipeline_send_time(ts, pp, vp, m, False) + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 1e-2), st.integers(1, 63), st.integers(1, 8), st.integers(0, 256), st.booleans(),
       st.floats(1e-6, 1e-1))
def test_bounds_and_monotonic_in_the_hop(t, pp, vp, extra, ov, chunk):
    m = pp + extra  # interleaving needs at least PP micro-batches (train_layout rule 'interleave')
    f = lambda ts, c=chunk: pipeline_send_time(ts, pp, vp, m, ov, t_fwd_chunk=c, t_bwd_chunk=2 * c)
    a = f(t)
    # never below the fill and drain hops, never above the blocking schedule
    assert 2 * (pp - 1) * t * (1 - 1e-12) <= a <= pipeline_send_time(t, pp, vp, m, False) * (1 + 1e-12)
    # a slower hop never hides better; longer chunks never hide worse
    assert f(2 * t) >= a and f(t, 2 * chunk) <= a * (1 + 1e-12)
    if pp > 1:
        assert pipeline_send_time(t, pp + 1, vp, (pp + 1) * m, ov) > pipeline_send_time(t, pp, vp, pp * m, ov)


def test_default_group_is_a_schedule_megatron_core_accepts():
    assert default_group(32, 16) == 16 and default_group(16, 16) == 16
    assert default_group(20, 16) == 20  # 20 mod 16 = 4 < 16 would leave a 4-micro-batch last group
    assert default_group(48, 16) == 16 and default_group(40, 16) == 20
    for m in range(2, 60):
        for pp in range(2, m + 1):
            n = default_group(m, pp)
            assert pp <= n <= m and (m % n == 0 or m % n >= pp)
            assert schedule_groups(m, n)[-1] >= pp


def test_stacks_on_file_and_settings():
    for sw, rnd in (("NeMo Megatron Release 23.04", "v3.0"), ("NeMo Framework Release 23.09", "v3.1"),
                    ("NeMo Framework Release 24.04", "v4.0")):
        assert find_stack(sw, rnd).value("overlap_p2p_comm") is True
    table = {"s": {"software": ["S"], "features": {"overlap_p2p_comm": {"value": False, "wired": True, "source": "t"}}}}
    assert stack_settings(find_stack("S", None, table), {}, {}, False)[1] == {"overlap_p2p": False}


def test_train_charges_fill_drain_and_loop_backs_when_overlapped():
    kw = dict(model="llama-3.1-70b", chip="h100-sxm", num_chips=256, global_batch_tokens=2 ** 22, seq_len=4096,
              tp=8, pp=8, vp=5, cp=1, mbs=1)
    on, off = train(**kw, overlap_p2p=True), train(**kw, overlap_p2p=False)
    e_on, e_off = on.breakdown["exposed_comm_s"]["pp_send_recv"], off.breakdown["exposed_comm_s"]["pp_send_recv"]
    m, p2p = on.breakdown["m"], on.breakdown["p2p"]  # p2p: the 2 v sends of one micro-batch
    assert 0.0 < e_on < e_off
    # blocking: 2 (v m + p - 1) hops; overlapped (chunks far longer than a 1 MB-scale NVLink/IB hop, Megatron-Core's
    # group N = PP): the fill and the drain through all p v - 1 virtual-stage boundaries, 2 (p v - 1)
    t_send = p2p / (2 * 5)
    # the 2 (p - 1) fill/drain hops also share their NIC with the DP collectives (perf/nic_share.py):
    # the same extra in both schedules
    nic = on.breakdown["pp_nic_shared"]
    assert nic == off.breakdown["pp_nic_shared"]
    assert math.isclose(e_off - nic, 2 * (5 * m + 7) * t_send, rel_tol=1e-9)
    assert math.isclose(e_on - nic, 2 * (8 * 5 - 1) * t_send, rel_tol=1e-9)
    # nothing else moves: the step shortens by exactly the hidden sends
    assert math.isclose(off.step_time_s - on.step_time_s, e_off - e_on, rel_tol=1e-6)


@given(st.integers(1, 10**4), st.integers(1, 64))
def test_group_sizes_is_the_schedule_table_in_closed_form(m, n):
    """The closed form gives the same groups as walking Megatron-Core's table group by group."""
    sizes, lo, step = [], 0, max(1, min(n, m))
    while lo < m:
        hi = m if lo + step >= m else lo + step
        sizes.append(hi - lo)
        lo = hi
    assert schedule_groups(m, n) == sizes
    assert sum(sizes) == m


def test_a_step_of_billions_of_micro_batches_is_priced_in_constant_memory():
    """A fuzzed --global-batch-tokens of 1e13 gives ~2e9 micro-batches: the interleaved send time
    is closed form, not a list per group (the suite was OOM-killed before)."""
    t = pipeline_send_time(1e-4, 8, 4, 2_441_406_250, True, t_fwd_chunk=1e-3, t_bwd_chunk=2e-3)
    assert 0 < t <= 2.0 * (4 * 2_441_406_250 + 7) * 1e-4
    assert pipeline_send_time(1e-4, 8, 4, 2_441_406_250, True, forward_only=True, t_fwd_chunk=1e-3) > 0
