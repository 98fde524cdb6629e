"""Beam search in a paged KV cache: TensorRT-LLM and vLLM hold a request's prompt once for all its
beams (shared blocks), its generated tokens once per beam (perf/serving_memory.kv_tokens_per_request)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf import serving_memory as M
from tapeout.perf import stacks
from tapeout.perf.serving_sim import length_biased_occupancy, length_biased_parts


def test_stacks_that_share_the_prompt_among_beams():
    # TensorRT-LLM BlockManager::addSequence (shareAmongBeams), vLLM PagedAttention Sec. 4.4
    assert stacks.kv_beams_share_prompt(None) and stacks.kv_beams_share_prompt("tensorrt-llm-0.x")
    assert stacks.kv_beams_share_prompt("vllm") and stacks.kv_beams_share_prompt("vllm-0.4")
    assert not stacks.kv_beams_share_prompt("synapseai-pytorch")  # static shapes: no shared blocks


@given(st.floats(0, 1e4), st.floats(0, 1e4), st.integers(1, 8), st.floats(0, 64))
def test_shared_prompt_closed_form(prompt, gen, beams, waste):
    shared = M.kv_tokens_per_request(prompt, gen, beams, waste, shared_prompt=True)
    copied = M.kv_tokens_per_request(prompt, gen, beams, waste, shared_prompt=False)
    assert shared == pytest.approx(prompt + beams * (gen + waste))
    assert copied == pytest.approx(beams * (prompt + gen + waste))
    # one prompt copy per extra beam saved (absolute tolerance: the difference of two sums of ~1e4)
    assert copied - shared == pytest.approx((beams - 1) * prompt, abs=1e-6)
    if beams == 1:
        assert shared == copied


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(1, 2000), st.integers(1, 500)), min_size=1, max_size=40))
def test_length_biased_parts_add_up(pairs):
    ins, outs = np.array(pairs, dtype=float).T
    p, g = length_biased_parts(ins, outs)
    assert p + g == pytest.approx(length_biased_occupancy(ins, outs))
    assert p == pytest.approx((ins * outs).sum() / outs.sum())
    assert g == pytest.approx((outs ** 2).sum() / 2 / outs.sum())


def test_equal_lengths_hold_prompt_and_half_the_answer():
    assert length_biased_parts(np.full(5, 800.0), np.full(5, 70.0)) == pytest.approx((800.0, 35.0))


def test_gptj_beam_batch_holds_the_prompt_once():
    """KV-limited batch of GPT-J with 4 beams on one H100 (TensorRT-LLM): free memory /
    (KV bytes per token x (I + 4 x (O/2 + 64/2))), not 4 x (I + O/2 + 32)."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.mlperf import serve_at_scale
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    cfg, pr = load_llm("gpt-j-6b"), get_precision("fp8")
    cap = float(np.max(calibrated_params(get_chip("h100-sxm")).mem_capacity))
    free = cap * (M.USABLE_MEMORY_FRACTION - M.ACTIVATION_RESERVE_FRACTION) - M.weight_bytes_per_chip(cfg, pr, 1, 1)
    I, O, k = 800.0, 70.0, 4
    kv = M.kv_bytes_per_token_per_chip(cfg, pr, 1)
    r = serve_at_scale("gpt-j-6b", "h100-sxm", 1, "fp8", I, O, beams=k, tp=1, pp=1, max_batch=100_000)
    assert r.batch_size == int(free // (kv * (I + k * (O / 2 + 32))))
    assert r.batch_size > 3 * int(free // (kv * k * (I + O / 2 + 32)))  # vs one prompt copy per beam
