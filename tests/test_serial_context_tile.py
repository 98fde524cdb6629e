"""Blackwell's context FMHA (trtllm-gen, 128 x 128 tiles) runs its softmax in series with its MMAs
(kernels_db.yaml context_kernels.nvidia-blackwell softmax_overlap: false); with SERIAL_CONTEXT_TILE the
kernel fit prices it on that tile, padded rows' and masked keys' exponentials included, at the chip's SFU
rate (docs/notes/issue-24.md, Round stop-37 issue-39e)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.context_tiles import context_tile, schedule_described, softmax_overlap

P = calibrated_params(get_chip("b200"))
# FlashAttention-2 tiling, every fixed, per-wave and makespan cost off: the tiles' MMA and softmax work alone
BASE = P.replace(attn_tile_k_overhead=0.0, attn_prefill_fixed=0.0, attn_decode_fixed=0.0, attn_tiling=1.0,
                 attn_unit_time=0.0, attn_unit_flops=0.0, attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0,
                 kernel_overhead=0.0, attn_ctx_makespan=0.0)
TILE = {"attn_ctx_q_tile": 128.0, "attn_ctx_kv_tile": 128.0}  # trtllm-gen Q128Kv128, head size <= 128


def _t(a, exp_flops, **kw):
    return float(evaluate(OpGraph("a", [a]), BASE.replace(softmax_vflops=exp_flops * BASE.eff_vector, **kw)).compute_time[0])


def _ctx(batch, q, heads, d=128):
    return Attention(name="a", batch=batch, q_len=q, kv_len=q, heads=heads, kv_heads=heads, d_qk=d, d_v=d,
                     causal=True, kv_cache=True)


def test_blackwell_context_kernel_is_described_whole_in_series():
    assert schedule_described("nvidia-blackwell") and softmax_overlap("nvidia-blackwell") == 0.0
    assert schedule_described("nvidia-hopper") and softmax_overlap("nvidia-hopper") == 1.0
    q, kv = context_tile("nvidia-blackwell", ["bf16", "fp8", "bf16"], [64, 128, 256])
    assert list(q) == [128.0, 128.0, 0.0] and list(kv) == [128.0, 128.0, 0.0]  # 256: not described, own tiling


@pytest.mark.parametrize("serial", [False, True])
@pytest.mark.parametrize("overlap", [False, True])
def test_which_families_the_fit_tiles(monkeypatch, serial, overlap):
    monkeypatch.setattr(kf, "SERIAL_CONTEXT_TILE", serial)
    # Hopper's tile only with its overlap priced; Blackwell's only with the switch; undescribed families never
    assert kf.tiled_context("nvidia-hopper", overlap) is overlap
    assert kf.tiled_context("nvidia-blackwell", overlap) is serial
    for fam in ("nvidia-ampere", "nvidia-ada", "nvidia-blackwell-rtx"):
        assert kf.tiled_context(fam, overlap) is False


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.sampled_from([1, 16, 64]))
def test_a_short_prompt_exponentiates_its_whole_tile(waves, q):
    # one query tile per (sequence, head): b x h CTAs = `waves` full waves over the SMs. On the tile each CTA
    # exponentiates 128 x 128 scores at EXP_FP32_FLOPS FP32-FLOP equivalents, so halving the exponential's cost
    # (Blackwell Ultra's doubled MUFU.EX2, sfu_exp_speedup 2) saves b h 128^2 (16 - 8) / vector_flops
    cores = int(BASE.num_cores)
    a = _ctx(waves, q, cores)
    saved = _t(a, kf.EXP_FP32_FLOPS, **TILE) - _t(a, kf.EXP_FP32_FLOPS / 2, **TILE)
    want = waves * cores * 128 * 128 * (kf.EXP_FP32_FLOPS / 2) / float(BASE.vector_flops)
    assert saved == pytest.approx(want, rel=1e-9)
    # the model's own tiling exponentiates only the rows the prompt has (a 16-row multiple): far less
    own = _t(a, kf.EXP_FP32_FLOPS) - _t(a, kf.EXP_FP32_FLOPS / 2)
    assert own <= saved * max(q, 16) / 128 * (1 + 1e-9)


def test_sfu_speedup_halves_the_exponential_of_blackwell_ultra():
    # kernels_db.yaml systems b300_sxm / gb300 sfu_exp_speedup 2 (NVIDIA Blackwell Ultra softmax blog)
    from tapeout.perf.kernels_db import chip_for

    assert kf.exp_fp32_flops(chip_for("gb300")) == kf.EXP_FP32_FLOPS / 2
    assert kf.exp_fp32_flops(chip_for("b300")) == kf.EXP_FP32_FLOPS / 2
    assert kf.exp_fp32_flops(chip_for("gb200")) == kf.EXP_FP32_FLOPS


def test_the_switch_is_recorded_fit_only():
    s = kf.model_switches()["SERIAL_CONTEXT_TILE"]
    assert s["value"] is kf.SERIAL_CONTEXT_TILE and s["serving"].startswith("fit only")


@pytest.mark.parametrize("on", [False, True])
def test_softmax_fp32_work_does_not_speed_up_with_the_sfu(monkeypatch, on):
    # FlashAttention-2's online softmax per score: FMNMX + FFMA + FADD + half an F2FP pack = 3.5 FP32
    # instructions, 2 FP32-FLOP equivalents each; the exponential alone halves on Blackwell Ultra
    from tapeout.perf.kernels_db import chip_for

    monkeypatch.setattr(kf, "SOFTMAX_FP32_WORK", on)
    assert kf.SOFTMAX_FP32_FLOPS == 3.5 * 2
    extra = kf.SOFTMAX_FP32_FLOPS if on else 0.0
    assert kf.score_fp32_flops(chip_for("gb200")) == kf.EXP_FP32_FLOPS + extra
    assert kf.score_fp32_flops(chip_for("gb300")) == kf.EXP_FP32_FLOPS / 2 + extra
    # the Ultra's per-score softmax saving is the exponential's half, whatever the FP32 work
    assert kf.score_fp32_flops(chip_for("gb200")) - kf.score_fp32_flops(chip_for("gb300")) == kf.EXP_FP32_FLOPS / 2
    assert kf.model_switches()["SOFTMAX_FP32_WORK"]["value"] is on
