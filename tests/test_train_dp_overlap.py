"""Data-parallel gradient/parameter collectives under an interleaved pipeline
(perf/training.chunked_exposure: Megatron-Core overlap_grad_reduce / overlap_param_gather per model chunk)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.training import chunked_exposure, train

times = st.floats(0.0, 10.0, allow_nan=False)


@given(times, times)
def test_one_chunk_is_hidden_behind_one_microbatch(t, x):
    assert chunked_exposure(t, x, 1, 1) == pytest.approx(max(0.0, t - x))


def test_closed_form_eight_chunks():
    # 8 chunks, 6 micro-batches per chunk group: chunk k's share waits behind k*6 + 1 chunk passes
    t, x, vp, g = 0.8, 0.1, 8, 6
    assert chunked_exposure(t, x, vp, g) == pytest.approx(max((t - x) / vp, t - (7 * 6 + 1) * x / vp))
    # communication far below compute: only the last chunk's share beyond its own pass shows
    assert chunked_exposure(0.2, 0.1, 8, 6) == pytest.approx((0.2 - 0.1) / 8)


@given(times, st.floats(1e-3, 10.0), st.integers(1, 16), st.integers(1, 32))
@settings(max_examples=200)
def test_bounds_and_monotone(t, x, vp, g):
    e = chunked_exposure(t, x, vp, g)
    # never worse than one chunk, never better than all the compute after the first chunk's finish
    assert e <= max(0.0, t - x) + 1e-12
    assert e >= max(0.0, t - ((vp - 1) * g + 1) * x / vp) - 1e-12
    assert e >= max(0.0, (t - x) / vp) - 1e-12
    # more micro-batches per chunk group hide at least as much
    assert chunked_exposure(t, x, vp, g + 1) <= e + 1e-12


def test_interleaved_layout_exposes_less_data_parallel_time():
    """GPT-3 175B on 10,752 H100 at NVIDIA's v4.0 layout (TP4 PP6 VP8, config_DGXH100_1344x8x6x4x6_mbs1_cg.sh):
    the per-chunk overlap exposes less than the whole device's reduce-scatter + all-gather behind one micro-batch."""
    r = train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", tp=4, pp=6, vp=8, mbs=1, zero=1)
    b = r.breakdown
    one_chunk = max(0.0, b["t_dp"] / 2 - b["B"]) + max(0.0, b["t_dp"] / 2 - b["F"])  # RS and AG halves of t_dp
    assert b["exposed_dp"] < one_chunk
