"""Offline schedule on a paged KV pool (perf/offline_schedule.py, TensorRT-LLM MAX_UTILIZATION):
never more blocks held than the pool, the closed-form batch of equal requests, a larger pool never
slower, and the per-slot schedule wherever the pool never binds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf import mlperf
from tapeout.perf.offline_schedule import KVPool, pool_schedule, slot_schedule
from tapeout.perf.serving_sim import offline_run
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm


def blocks_per_step(seg, pool: KVPool) -> np.ndarray:
    """Blocks held in each step, summed over the segments running in it (prefill step: the prompt;
    decode step m: prompt + m - start tokens)."""
    held = np.zeros(int(seg.end.max()))
    for s, p, e in zip(seg.start, seg.prompt, seg.end):
        held[s:e] += pool.held(p, np.arange(e - s))
    return held


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 120), B=st.integers(1, 64), blk=st.sampled_from([1, 16, 64]),
       spare=st.integers(0, 400), seed=st.integers(0, 10_000))
def test_pool_never_overfull_and_every_token_emitted(n, B, blk, spare, seed):
    rng = np.random.default_rng(seed)
    ins = rng.integers(1, 300, n)
    outs = rng.integers(1, 200, n)
    pool = KVPool(int(-(-(ins + outs).max() // blk)) + spare, blk)  # the longest request fits alone
    seg = pool_schedule(ins, outs, B, pool)
    assert blocks_per_step(seg, pool).max() <= pool.blocks
    # a paused request resumes with its generated tokens as prompt: its segments emit its answer once
    emitted = np.bincount(seg.request, weights=seg.end - seg.start, minlength=n)
    assert np.array_equal(emitted, outs)
    assert np.bincount(seg.request, weights=seg.first, minlength=n).tolist() == [1] * n
    # at most B requests active (running or paused) in any step: each segment keeps its slot
    for m in range(int(seg.end.max())):
        live = seg.slot[(seg.start <= m) & (m < seg.end)]
        assert len(set(live.tolist())) == len(live) <= B


def test_equal_requests_run_floor_pool_over_blocks_at_once():
    """Requests of one block each for their whole life (I + O <= block): the pool holds
    floor(pool / 1) of them, so n requests of O tokens take ceil(n / pool) waves of O steps."""
    pool, n, O = KVPool(blocks=7, tokens_per_block=64), 50, 30
    seg = pool_schedule(np.full(n, 20), np.full(n, O), 32, pool)
    assert seg.pauses == 0
    assert int(seg.end.max()) == -(-n // 7) * O
    assert blocks_per_step(seg, pool).max() == 7
    # three blocks each (I = 130, O = 50 stays in the third block): floor(20 / 3) = 6 at once
    pool = KVPool(blocks=20, tokens_per_block=64)
    seg = pool_schedule(np.full(n, 130), np.full(n, 50), 32, pool)
    assert seg.pauses == 0 and int(seg.end.max()) == -(-n // 6) * 50


def test_growth_past_the_pool_pauses_the_newest_and_recomputes_it():
    """Two requests of 1 block that grow into a second: the pool of 3 blocks cannot hold both
    grown, so the later one is paused when its growth does not fit and resumes, as a context of
    prompt + generated tokens, after the first finishes."""
    pool = KVPool(blocks=3, tokens_per_block=4)
    seg = pool_schedule(np.array([3, 3]), np.array([6, 6]), 2, pool)
    assert seg.pauses >= 1
    r1 = np.flatnonzero(seg.request == 1)
    assert len(r1) == 2 and seg.first[r1].tolist() == [True, False]
    later = r1[1]
    assert seg.prompt[later] == 3 + (seg.end[r1[0]] - seg.start[r1[0]])  # prompt + generated
    assert seg.start[later] >= seg.end[np.flatnonzero(seg.request == 0)[0]] - 1
    assert blocks_per_step(seg, pool).max() <= 3


def test_unbound_pool_is_the_slot_schedule():
    rng = np.random.default_rng(4)
    ins, outs = rng.integers(1, 300, 200), rng.integers(1, 200, 200)
    a, b = slot_schedule(ins, outs, 16), pool_schedule(ins, outs, 16, KVPool(10**6, 16))
    key = np.argsort(b.request)
    assert np.array_equal(a.start, b.start[key]) and np.array_equal(a.end, b.end[key])
    assert np.array_equal(a.slot, b.slot[key])


@pytest.fixture(scope="module")
def sm():
    return mlperf.step_model(load_llm("llama-3.1-8b"), get_chip("h100-sxm"), get_precision("bf16"), 1, 1, 1)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), small=st.integers(60, 200))
def test_larger_pool_never_slower(sm, seed, small):
    """More blocks: fewer pauses (less recompute) and as many or more requests at once, each step
    still the same cost model; the run is never slower."""
    rng = np.random.default_rng(seed)
    ins, outs = rng.integers(20, 400, 600), rng.integers(1, 300, 600)
    rates = [offline_run(sm, 48, ins, outs, pool=KVPool(blocks, 64)).tokens_per_s
             for blocks in (small, 2 * small, 10**6)]
    assert rates[0] <= rates[1] * 1.001 and rates[1] <= rates[2] * 1.001


def test_offline_run_pool_matches_slots_where_it_never_binds(sm):
    rng = np.random.default_rng(5)
    ins, outs = rng.integers(20, 400, 300), rng.integers(1, 300, 300)
    free = offline_run(sm, 32, ins, outs)
    assert offline_run(sm, 32, ins, outs, pool=KVPool(10**6, 64)).tokens_per_s == free.tokens_per_s
    tight = offline_run(sm, 32, ins, outs, pool=KVPool(100, 64))
    assert tight.pauses > 0 and tight.tokens_per_s < free.tokens_per_s
