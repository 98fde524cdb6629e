"""The DP parameter all-gather under NeMo's Apex DistributedFusedAdam (overlap_param_sync) on Megatron-Core's
interleaved schedule (perf/dp_buckets.apex_param_gather_exposed): chunk 0 gathered before the first forward,
each later chunk launched as the chunk before it starts and waited for as it starts itself."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.dp_buckets import apex_param_gather_exposed
from tapeout.perf.training import chunked_exposure, train


def _replay(comm, fwd, vp, n, first_bucket=0.0, optim=0.0):
    """The source's launch / wait order replayed event by event (one communication stream, one compute
    stream): apex step() launches the first bucket's gather and runs the other buckets' Adam (`optim`);
    param_sync_func[0] launches chunk 0 (after the first bucket, _finish_bucket_param_sync), [1] waits for
    chunk 0 and launches chunk 1; chunk k's first forward waits for chunk k's gather and launches chunk k+1;
    each chunk runs n forwards of fwd / vp. Returns the compute stream's wait beyond the forwards."""
    g = comm / vp
    b = min(first_bucket, g)
    t = max(b, optim)                    # first bucket behind the Adam; the compute stream waits for it
    done = t + (g - b)                   # the rest of chunk 0, launched by param_sync_func[0]
    t = done                             # param_sync_func[1]: wait for chunk 0, launch chunk 1
    busy = 0.0
    for k in range(vp):
        if k > 0:
            t = max(t, done)             # chunk k's first forward waits for its gather ...
        if k + 1 < vp:
            done = max(t, done) + g      # ... and launches chunk k+1 (chunk 1: already launched at t)
        t += n * fwd / vp
        busy += n * fwd / vp
    return t - busy - optim


def test_closed_form_two_chunks():
    # vp 2, N 2: chunk 0 (0.2) before the first forward; chunk 1 (0.2) behind chunk 0's two forwards (0.1)
    assert apex_param_gather_exposed(0.4, 0.1, 2, 2) == pytest.approx(0.2 + 0.1)
    # a first bucket of 0.05 s launched in step() hides behind the 0.02 s of the other buckets' Adam
    assert apex_param_gather_exposed(0.4, 0.1, 2, 2, first_bucket_s=0.05, optim_s=0.02) == pytest.approx(0.28)
    # gathers far below the forwards: chunk 0's share only
    assert apex_param_gather_exposed(0.08, 1.0, 8, 6) == pytest.approx(0.01)


@given(st.floats(1e-4, 5.0), st.floats(1e-4, 5.0), st.integers(2, 16), st.integers(1, 16),
       st.floats(0.0, 1.0), st.floats(0.0, 1.0))
@settings(max_examples=300, deadline=None)
def test_matches_the_event_replay(comm, fwd, vp, n, fb, opt):
    fb *= comm / vp
    assert apex_param_gather_exposed(comm, fwd, vp, n, fb, opt) == pytest.approx(_replay(comm, fwd, vp, n, fb, opt),
                                                                                 rel=1e-9, abs=1e-12)


@given(st.floats(0.0, 5.0), st.floats(1e-4, 5.0), st.integers(2, 16), st.integers(1, 16))
@settings(max_examples=300, deadline=None)
def test_bounds(comm, fwd, vp, n):
    e = apex_param_gather_exposed(comm, fwd, vp, n)
    assert e <= comm + 1e-12                                  # never more than the gather itself
    assert e >= comm / vp - 1e-12                             # chunk 0's share: nothing runs before it
    # hides no more than the rule that lets every chunk's gather run ahead (chunked_exposure)
    assert e >= float(chunked_exposure(comm, fwd, vp, n)) - 1e-12
    assert apex_param_gather_exposed(comm, fwd, vp, n + 1) <= e + 1e-12


def test_gpt3_v40_layout_under_the_apex_rule():
    """GPT-3 175B on 10,752 H100 at NVIDIA's v4.0 layout (TP4 PP6 VP8, m 6) with the NeMo 24.04 bucket rule:
    the priced all-gather is chunk 0's share or more, and never more than the gather."""
    kw = dict(model="gpt3-175b", chip="h100-sxm", num_chips=10752, global_batch_tokens=2688 * 2048, seq_len=2048,
              precision="fp8", tp=4, pp=6, vp=8, mbs=1, zero=1, grad_sync="bf16")
    apex = train(**kw, dp_bucket={"kind": "apex", "cap_mb": 100, "channels": 4, "nccl_group": "balanced"}).breakdown
    t_ag, ag = apex["t_dp_all_gather"], apex["exposed_comm_s"]["dp_all_gather"]
    assert t_ag / 8 - apex["optimizer"] - 1e-12 <= ag <= t_ag + 1e-12
    # Megatron-Core's own buckets keep the run-ahead rule, which hides at least as much
    mc = train(**kw).breakdown
    assert mc["exposed_comm_s"]["dp_all_gather"] <= float(chunked_exposure(mc["t_dp_all_gather"], mc["F"], 8, 6)) + 1e-9
