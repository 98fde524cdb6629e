"""Beam search's decode attention over one shared prompt (perf/beam_prompt.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.perf import beam_prompt as bp


def test_dram_fraction_closed_forms():
    assert bp.dram_fraction(1, 800, 835) == 1.0  # one beam: every read is its own
    assert bp.dram_fraction(4, 0, 835) == 1.0  # nothing shared
    assert bp.dram_fraction(4, 835, 835) == pytest.approx(0.25)  # all shared: one beam's reads
    # GPT-J in MLPerf: 4 beams, 800 prompt tokens, 35 generated on average: (800 + 4 x 35) / (4 x 835)
    assert bp.dram_fraction(4, 800, 835) == pytest.approx(940 / 3340)
    assert bp.dram_fraction(4, 2000, 835) == pytest.approx(0.25)  # a prompt longer than the context is clipped


@given(st.integers(1, 16), st.floats(0, 4096), st.floats(1, 8192))
def test_dram_fraction_between_one_beam_and_all(beams, prompt, ctx):
    f = bp.dram_fraction(beams, prompt, ctx)
    assert 1.0 / beams - 1e-12 <= f <= 1.0 + 1e-12


def test_shared_prompt_time_scales_only_the_dram_term():
    # memory-bound op (compute 1, memory 4, fixed 0.5): the DRAM term shrinks to its unique bytes
    assert bp.shared_prompt_time(1.0, 4.0, 4.5, 0.5) == pytest.approx(2.5)
    # ... but never below the vector work every beam still does
    assert bp.shared_prompt_time(1.0, 4.0, 4.5, 0.1) == pytest.approx(1.5)
    # compute-bound op: unchanged
    assert bp.shared_prompt_time(5.0, 4.0, 5.5, 0.25) == pytest.approx(5.5)


def test_prompt_sharing_is_off_by_default_and_needs_a_sharing_cache():
    assert bp.BEAM_PROMPT_L2 is False
    assert bp.prompt_sharing(4, 800.0, True) == (1, 0.0)
    assert bp.prompt_sharing(4, 800.0, True, on=True) == (4, 800.0)
    assert bp.prompt_sharing(4, 800.0, False, on=True) == (1, 0.0)  # a stack that copies the prompt per beam
    assert bp.prompt_sharing(1, 800.0, True, on=True) == (1, 0.0)


def test_step_model_decode_attention_reads_the_prompt_once():
    """GPT-J on the L40S (DRAM-bound masked MHA over an FP8 cache): with the beams' prompt shared
    the decode attention is no slower, and no faster than its unique bytes (f x the unshared DRAM
    time) allow; an H200 step, bound by the kernel's vector work on the FP8 cache, does not move."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.mlperf import step_model
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    cfg, pr = load_llm("gpt-j-6b"), get_precision("fp8")
    f = bp.dram_fraction(4, 800.0, 832.0)
    plain = step_model(cfg, get_chip("l40s"), pr, 1, 1, 1, stack="tensorrt-llm-0.x")
    shared = step_model(cfg, get_chip("l40s"), pr, 1, 1, 1, stack="tensorrt-llm-0.x", beam_prompt=(4, 800.0))
    a0, a1 = plain.attn_decode(400, 832), shared.attn_decode(400, 832)
    assert f * a0 * 0.99 <= a1 < 0.5 * a0
    assert shared.linear(400) == plain.linear(400)  # only the attention's reads change
    h0 = step_model(cfg, get_chip("h200"), pr, 1, 1, 1, stack="tensorrt-llm-0.x").attn_decode(1584, 832)
    h1 = step_model(cfg, get_chip("h200"), pr, 1, 1, 1, stack="tensorrt-llm-0.x",
                    beam_prompt=(4, 800.0)).attn_decode(1584, 832)
    assert h1 == pytest.approx(h0, rel=1e-9)


def test_no_saving_off_a_cta_stream():
    """Where the generation kernel's KV stream is its CTAs' Little's-law stream (the --kernels
    calibration sets attn_cta_tokens_per_s), that stream, measured at DRAM latency, bounds the
    L2-served re-reads too: the shared prompt takes nothing off."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.kernel_calibration import serving_decode_params
    from tapeout.perf.mlperf import step_model
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    cfg, pr, chip = load_llm("gpt-j-6b"), get_precision("fp8"), get_chip("l40s")
    p = serving_decode_params(calibrated_params(chip, None), chip, cfg, pr, 1, None).replace(attn_cta_tokens_per_s=2e8)
    plain = step_model(cfg, chip, pr, 1, 1, 1, params=p)
    shared = step_model(cfg, chip, pr, 1, 1, 1, params=p, beam_prompt=(4, 800.0))
    assert shared.attn_decode(400, 832) == pytest.approx(plain.attn_decode(400, 832), rel=1e-12)
