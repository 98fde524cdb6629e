"""A context FMHA whose two compute warpgroups ping-pong (TensorRT-LLM's Hopper warp-specialized
fmha_v2: one warpgroup's softmax under the other's GMMAs; ChipParams.attn_ctx_softmax_overlap,
perf/context_tiles.softmax_overlap): the matrix and softmax times of a context op combine as
max(MMA, softmax) instead of their sum; generation ops and other families are unchanged."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.context_tiles import softmax_overlap
from tapeout.perf.kernel_fit import EXP_FP32_FLOPS, SOFTMAX_OVERLAP

P = calibrated_params(get_chip("h100-sxm"))
# FlashAttention-2 tiling, the softmax at 16 FP32-FLOP equivalents per exponential, every fixed and
# per-wave cost off: the tiles' MMA and softmax work alone
BASE = P.replace(softmax_vflops=EXP_FP32_FLOPS * P.eff_vector, attn_tile_k_overhead=0.0, attn_prefill_fixed=0.0,
                 attn_decode_fixed=0.0, attn_tiling=1.0, attn_unit_time=0.0, attn_unit_flops=0.0,
                 attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0, kernel_overhead=0.0)


def _t(a, **kw):
    return float(evaluate(OpGraph("a", [a]), BASE.replace(**kw)).compute_time[0])


def _att(batch, q, kv, heads, kv_heads, d):
    return Attention(name="a", batch=batch, q_len=q, kv_len=kv, heads=heads, kv_heads=kv_heads, d_qk=d, d_v=d,
                     causal=True, kv_cache=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.sampled_from([2, 17, 128, 1000, 4096]), st.sampled_from([8, 32, 64]),
       st.sampled_from([1, 8]), st.sampled_from([64, 128, 256]))
def test_overlapped_softmax_is_the_max_of_mma_and_softmax(batch, q, heads, group, d):
    a = _att(batch, q, q, heads, max(heads // group, 1), d)
    mma = _t(a, softmax_vflops=0.0)  # the MMAs alone
    serial = _t(a)  # FlashAttention-2 order: MMA + softmax
    soft = serial - mma
    assert soft > 0
    on = _t(a, attn_ctx_softmax_overlap=1.0)
    assert on == pytest.approx(max(mma, soft), rel=1e-9)
    # never slower than in series, never faster than half of it
    assert on <= serial * (1 + 1e-12) and on >= serial / 2 * (1 - 1e-12)


def test_h100_long_prompt_hides_its_softmax_under_the_mma():
    # H100 BF16 at d = 128: per score 4 d = 512 MMA FLOPs at 989 TFLOP/s x eff against one
    # exponential at 16 FP32 FLOPs on the vector rate: the softmax is shorter, so overlapped the
    # kernel takes the MMAs' time (FlashAttention-3 sec. 3.1: the exponentials hidden by ping-pong)
    a = _att(2, 8192, 8192, 32, 8, 128)
    mma = _t(a, softmax_vflops=0.0)
    assert _t(a) > 1.2 * mma
    assert _t(a, attn_ctx_softmax_overlap=1.0) == pytest.approx(mma, rel=1e-9)


def test_a_generation_op_keeps_its_softmax_in_series():
    g = _att(64, 1, 4096, 32, 8, 128)  # one query per sequence: the generation kernel, not the context FMHA
    assert _t(g, attn_ctx_softmax_overlap=1.0) == _t(g)


def test_only_the_hopper_context_kernel_is_described_as_overlapped():
    # kernels_db.yaml context_kernels: fmha_v2 warpspec ENABLE_MUTEX (kernel_traits.h default true)
    assert softmax_overlap("nvidia-hopper") == 1.0
    for fam in ("nvidia-blackwell", "nvidia-ampere", "nvidia-ada", "no-such-family"):
        assert softmax_overlap(fam) == 0.0


def test_the_fit_sets_the_overlap_on_hopper_context_kernels_only():
    from tapeout.perf.kernel_fit import Groups
    from tapeout.perf.kernels_db import read_kernels

    try:
        k = read_kernels(systems=["h200_sxm", "b200_sxm"], per_group=5)
    except Exception as e:  # the database is an optional extra
        pytest.skip(f"kernel database not available: {e}")
    items = Groups(k, softmax_overlap=True).items
    on = {(g["chip"], g["op"]) for g in items if float(g["params"].attn_ctx_softmax_overlap) > 0}
    assert on and on == {(c, "attention_prefill") for c in {g["chip"] for g in items} if c.startswith("h200")}
    # B200's context kernels are in the items, in series
    assert any(g["op"] == "attention_prefill" and g["chip"].startswith("b200") for g in items)
    # with the overlap on, the fixed tile only where the kernel is described whole (Hopper)
    tiled = {g["chip"] for g in items if g["op"] == "attention_prefill" and float(g["params"].attn_ctx_kv_tile) > 0}
    assert tiled and all(c.startswith("h200") for c in tiled)
    # off (the default, SOFTMAX_OVERLAP): neither the overlap nor a tile, main's fit
    if not SOFTMAX_OVERLAP:
        assert not any(float(g["params"].attn_ctx_softmax_overlap) > 0 or float(g["params"].attn_ctx_kv_tile) > 0
                       for g in Groups(k).items)


def test_kernel_database_serving_overlaps_the_softmax_as_the_fit_does():
    # `--kernels` serving takes eff_attention fitted with Hopper's context softmax overlapped; it
    # must price Hopper's context attention the same way (and Blackwell's, Ampere's in series)
    from tapeout.perf import kernel_fit
    from tapeout.perf.kernel_calibration import chip_entry

    params = {n: start for n, start, _, _ in kernel_fit.PARAMS}
    for chip, want in (("h200", 1.0), ("h100-sxm", 1.0), ("b200", 0.0), ("a100-sxm", 0.0)):
        ch = get_chip(chip)
        assert softmax_overlap(ch.family) == want
        # as the fit's default (Groups: kernel_fit.SOFTMAX_OVERLAP)
        assert chip_entry(params, ch, "test")["kernel_library"]["attn_ctx_softmax_overlap"] == want * kernel_fit.SOFTMAX_OVERLAP
