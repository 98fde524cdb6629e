"""The serial context kernels' FP32-pipe work per score (kernel_fit.SERIAL_SCORE_WORK, docs/notes/issue-24.md, Round
stop-42 issue-62c): SOFTMAX_FP32_FLOPS per computed score at the chip's vector rate, in series with the MMAs, on the
context kernels of a family described with its softmax in series (Blackwell's trtllm-gen) only: the same clocks per
score per SM whatever the MMA format (3.5 FP32 instructions / 128 lanes)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _db import needs_db
from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params

P = calibrated_params(get_chip("b200"))
# exact causal keys, no fixed tile, no makespan: each score computed once
BASE = P.replace(attn_ctx_makespan=0.0, attn_ctx_q_tile=0.0, attn_ctx_kv_tile=0.0, attn_tiling=0.0, softmax_vflops=0.0)


def _ctx(batch, q, heads, fmt="bf16", d=128):
    return Attention(name="a", batch=batch, q_len=q, kv_len=q, heads=heads, kv_heads=heads, d_qk=d, d_v=d, causal=True,
                     kv_cache=True, act_dtype=fmt, kv_dtype=fmt, math_dtype=fmt)


def _added(a, p_on, p_off):
    return (float(evaluate(OpGraph("a", [a]), p_on).compute_time[0])
            - float(evaluate(OpGraph("a", [a]), p_off).compute_time[0]))


@pytest.mark.parametrize("work", [False, True])
@pytest.mark.parametrize("on", [False, True])
def test_only_the_serial_families_context_kernels(monkeypatch, on, work):
    # Blackwell's trtllm-gen is described in series (softmax_overlap: false), Hopper's fmha_v2 as a ping-pong, Ada's
    # kernels not at all; SOFTMAX_FP32_WORK already adds the work to every kernel (never twice)
    monkeypatch.setattr(kf, "SERIAL_SCORE_WORK", on)
    monkeypatch.setattr(kf, "SOFTMAX_FP32_WORK", work)
    assert kf.serial_score_flops("nvidia-blackwell") == (kf.SOFTMAX_FP32_FLOPS if on and not work else 0.0)
    assert kf.serial_score_flops("nvidia-hopper") == 0.0
    assert kf.serial_score_flops("nvidia-ada") == 0.0
    assert kf.model_switches()["SERIAL_SCORE_WORK"]["value"] is on


@needs_db
@pytest.mark.parametrize("on", [False, True])
def test_the_groups_price_it_on_blackwell_context_kernels_in_every_format(monkeypatch, on):
    from tapeout.perf.kernels_db import read_kernels

    monkeypatch.setattr(kf, "SERIAL_SCORE_WORK", on)
    groups = kf.Groups(read_kernels(systems=["b200_sxm", "h200_sxm"], per_group=4,
                                    ops=("attention_prefill", "attention_decode")))
    seen = set()
    for g in groups.items:
        ch = kf.chip_for(g["chip"])
        extra = on and g["cls"] == "prefill" and ch.family == "nvidia-blackwell"
        p = g["params"]
        assert float(p.softmax_vflops) / float(p.eff_vector) == pytest.approx(
            kf.score_fp32_flops(ch) + (kf.SOFTMAX_FP32_FLOPS if extra else 0.0), rel=1e-12)
        if extra:
            seen.add(g["fmt"])
    assert seen == ({"bf16", "fp8"} if on else set())


@pytest.mark.parametrize("fmt", ["bf16", "fp8"])
def test_closed_form_per_score_whatever_the_format(fmt):
    # b x h x T (T + 1) / 2 causal scores, each SOFTMAX_FP32_FLOPS at the chip's vector rate (FP32 FLOP/s), added
    # to the MMAs: the same seconds for BF16 and FP8 (FP8's MMA twice as fast, its softmax not)
    b, h, T = 2, 16, 3000
    on = BASE.replace(softmax_vflops=kf.SOFTMAX_FP32_FLOPS * BASE.eff_vector)
    expect = b * h * T * (T + 1) / 2 * kf.SOFTMAX_FP32_FLOPS / float(BASE.vector_flops)
    assert _added(_ctx(b, T, h, fmt), on, BASE) == pytest.approx(expect, rel=1e-9)
    # = 7 / 256 = 0.027 clocks per score per SM: seconds per score x cores x clock, the clock = vector_flops / (cores
    # x 128 FP32 lanes x 2 FLOP per FMA)
    clk_per_score = expect / (b * h * T * (T + 1) / 2) * float(BASE.vector_flops) / (2 * 128)
    assert clk_per_score == pytest.approx(kf.SOFTMAX_FP32_FLOPS / 256, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8192), st.integers(1, 8192), st.sampled_from(["bf16", "fp8"]), st.sampled_from([64, 128, 256]))
def test_monotone_in_prompt_length_and_format_free(q1, q2, fmt, d):
    on = BASE.replace(softmax_vflops=kf.SOFTMAX_FP32_FLOPS * BASE.eff_vector)
    lo, hi = sorted((q1, q2))
    a_lo, a_hi = _added(_ctx(1, lo, 8, fmt, d), on, BASE), _added(_ctx(1, hi, 8, fmt, d), on, BASE)
    assert 0.0 <= a_lo <= a_hi * (1 + 1e-9)
    other = "fp8" if fmt == "bf16" else "bf16"
    assert a_hi == pytest.approx(_added(_ctx(1, hi, 8, other, d), on, BASE), rel=1e-9)


@needs_db
@pytest.mark.parametrize("fit", [False, True])
def test_the_fitted_per_score_work_reaches_the_serial_context_kernels_only(monkeypatch, fit):
    # SERIAL_SCORE_FIT: ctx_score_flops replaces the instruction count (never both) on Blackwell's context kernels,
    # whatever their format, and only there is the parameter read (fitted)
    from tapeout.perf.kernels_db import read_kernels

    monkeypatch.setattr(kf, "SERIAL_SCORE_WORK", True)
    monkeypatch.setattr(kf, "SERIAL_SCORE_FIT", fit)
    groups = kf.Groups(read_kernels(systems=["b200_sxm", "h200_sxm"], per_group=4,
                                    ops=("attention_prefill", "attention_decode")))
    x = np.array([p[1] for p in kf.PARAMS])
    x[kf.NAMES.index("ctx_score_flops")] = 3.0
    for g in groups.items:
        ch = kf.chip_for(g["chip"])
        serial = g["cls"] == "prefill" and ch.family == "nvidia-blackwell"
        p = kf.item_params(g, x)
        extra = (3.0 if fit else kf.SOFTMAX_FP32_FLOPS) if serial else 0.0
        assert float(p.softmax_vflops) / float(p.eff_vector) == pytest.approx(kf.score_fp32_flops(ch) + extra, rel=1e-12)
        assert kf.group_reads(g, "ctx_score_flops") is (fit and serial)
    old = {n: 0.0 for n in kf.NAMES if n != "ctx_score_flops"}  # a fit from before it: the instruction count
    assert kf.x_of(old)[kf.NAMES.index("ctx_score_flops")] == kf.SOFTMAX_FP32_FLOPS
