"""Pipeline send/recv exposure (perf/pipeline_p2p.py) and the stack feature that switches it
(overlap_p2p_comm, data/software/training_stacks.yaml)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.perf.pipeline_p2p import pipeline_send_time
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import train


def test_closed_form_without_and_with_overlap():
    # PP 16, VP 6, m 8, one hop 1 ms: blocking = every chunk's forward and backward send of the
    # m micro-batches plus the (p-1)/v fill/drain slots = 2 (v m + p - 1) hops
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 8, overlap=False), 2 * (6 * 8 + 15) * 1e-3)
    # overlapped: only the fill (p-1 forward hops) and the drain (p-1 backward hops)
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 8, overlap=True), 2 * 15 * 1e-3)
    # forward-only (evaluation): forward sends only
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 8, overlap=True, forward_only=True), 15 * 1e-3)
    assert math.isclose(pipeline_send_time(1e-3, 16, 6, 8, overlap=False, forward_only=True), (6 * 8 + 15) * 1e-3)


def test_overlap_needs_virtual_stages_and_pipeline():
    # Megatron-Core's non-interleaved schedule rejects overlap_p2p_comm: VP 1 stays blocking
    assert pipeline_send_time(1e-3, 8, 1, 32, overlap=True) == pipeline_send_time(1e-3, 8, 1, 32, overlap=False)
    assert pipeline_send_time(1e-3, 1, 1, 32, overlap=False) == 0.0


def test_a_send_longer_than_its_chunk_shows_the_excess():
    # steady-state sends hide behind one chunk each: 2 v m sends, each exposed by t_send - t_chunk
    t = pipeline_send_time(3e-3, 4, 2, 10, overlap=True, t_fwd_chunk=1e-3, t_bwd_chunk=2e-3)
    assert math.isclose(t, 2 * 3 * 3e-3 + 2 * 10 * (2e-3 + 1e-3))


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 1e-2), st.integers(1, 63), st.integers(1, 8), st.integers(1, 256), st.booleans(),
       st.floats(1e-6, 1e-1))
def test_monotonic_in_pp_and_overlap_never_slower(t, pp, vp, m, ov, chunk):
    a = pipeline_send_time(t, pp, vp, m, ov, t_fwd_chunk=chunk, t_bwd_chunk=2 * chunk)
    b = pipeline_send_time(t, pp + 1, vp, m, ov, t_fwd_chunk=chunk, t_bwd_chunk=2 * chunk)
    assert b > a >= 0.0
    assert (pipeline_send_time(t, pp, vp, m, True, t_fwd_chunk=chunk, t_bwd_chunk=2 * chunk)
            <= pipeline_send_time(t, pp, vp, m, False) * (1 + 1e-12))


def test_stacks_on_file_and_settings():
    for sw, rnd in (("NeMo Megatron Release 23.04", "v3.0"), ("NeMo Framework Release 23.09", "v3.1"),
                    ("NeMo Framework Release 24.04", "v4.0")):
        assert find_stack(sw, rnd).value("overlap_p2p_comm") is True
    table = {"s": {"software": ["S"], "features": {"overlap_p2p_comm": {"value": False, "wired": True, "source": "t"}}}}
    assert stack_settings(find_stack("S", None, table), {}, {}, False)[1] == {"overlap_p2p": False}


def test_train_charges_only_fill_drain_when_overlapped():
    kw = dict(model="llama-3.1-70b", chip="h100-sxm", num_chips=256, global_batch_tokens=2 ** 22, seq_len=4096,
              tp=8, pp=8, vp=5, cp=1, mbs=1)
    on, off = train(**kw, overlap_p2p=True), train(**kw, overlap_p2p=False)
    e_on, e_off = on.breakdown["exposed_comm_s"]["pp_send_recv"], off.breakdown["exposed_comm_s"]["pp_send_recv"]
    m, p2p = on.breakdown["m"], on.breakdown["p2p"]  # p2p: the 2 v sends of one micro-batch
    assert 0.0 < e_on < e_off
    # blocking: 2 (v m + p - 1) hops; overlapped (chunks far longer than a 1 MB-scale NVLink/IB hop): 2 (p - 1)
    t_send = p2p / (2 * 5)
    # the 2 (p - 1) fill/drain hops also share their NIC with the DP collectives (perf/nic_share.py):
    # the same extra in both schedules
    nic = on.breakdown["pp_nic_shared"]
    assert nic == off.breakdown["pp_nic_shared"]
    assert math.isclose(e_off - nic, 2 * (5 * m + 7) * t_send, rel_tol=1e-9)
    assert math.isclose(e_on - nic, 2 * 7 * t_send, rel_tol=1e-9)
    # nothing else moves: the step shortens by exactly the hidden sends
    assert math.isclose(off.step_time_s - on.step_time_s, e_off - e_on, rel_tol=1e-6)
