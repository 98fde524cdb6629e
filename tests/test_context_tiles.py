"""A context FMHA with a fixed work tile (TensorRT-LLM's Hopper warp-specialized fmha_v2 kernels;
perf/context_tiles.py, ChipParams.attn_ctx_q_tile / attn_ctx_kv_tile in perf/opcost.py): closed
forms against a direct enumeration of the kernel's loop bounds, and invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.context_tiles import context_tile, key_tiles

P = calibrated_params(get_chip("h100-sxm"))
# the FlashAttention-2 tiling on, every fixed and per-wave attention cost off: the tiles' work alone
BASE = P.replace(softmax_vflops=0.0, attn_tile_k_overhead=0.0, attn_prefill_fixed=0.0, attn_decode_fixed=0.0,
                 attn_tiling=1.0, attn_unit_time=0.0, attn_unit_flops=0.0, attn_decode_unit_time=0.0,
                 attn_decode_unit_flops=0.0, kernel_overhead=0.0)
HOPPER = {"attn_ctx_q_tile": 128.0, "attn_ctx_kv_tile": 128.0}  # BF16, head size 72-128


def _t(a, **kw):
    return float(evaluate(OpGraph("a", [a]), BASE.replace(**kw)).compute_time[0])


def _ctx(batch=4, s=16, heads=33, kv_heads=None, d=128, prefix=0, causal=True):
    return Attention(name="a", batch=batch, q_len=s, kv_len=s + prefix, heads=heads, kv_heads=kv_heads or heads,
                     d_qk=d, d_v=d, causal=causal, kv_cache=True)


def _enumerated(q, prefix, q_tile, kv_tile, literal=False):
    """Per query tile j of a sequence, the key tiles that cover keys 0..e, e = prefix + q_tile (j + 1) - 1
    its last row's position: e // kv_tile + 1. `literal`: fmha_v2 warpspec/compute.h's expression,
    kv_idx_end = (q_tile_offset_end + STEP_KV - 1) / STEP_KV with q_tile_offset_end = e (the same
    unless e is a multiple of kv_tile, which a prompt without a cached prefix never makes)."""
    ends = [prefix + q_tile * (j + 1) - 1 for j in range(max(-(-q // q_tile), 1))]
    n = [(e + kv_tile - 1) // kv_tile if literal else e // kv_tile + 1 for e in ends]
    return sum(n) / len(n), n[-1]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20000), st.integers(0, 5000), st.sampled_from([64, 128]), st.sampled_from([32, 64, 128, 256, 512]))
def test_key_tiles_closed_form_is_the_kernels_loop_bound(q, prefix, q_tile, kv_tile):
    mean, last = key_tiles(q, prefix, q_tile, kv_tile)
    want_mean, want_last = _enumerated(q, prefix, q_tile, kv_tile)
    assert float(mean) == pytest.approx(want_mean, rel=1e-12)
    assert float(last) == want_last
    if prefix == 0:  # a fresh prompt (the database's context kernels): the kernel's own expression
        assert (float(mean), float(last)) == pytest.approx(_enumerated(q, 0, q_tile, kv_tile, literal=True), rel=1e-12)
    # whole tiles never compute fewer keys than the queries see (last row of the sequence: prefix + q)
    assert float(last) * kv_tile >= prefix + q
    assert float(last) >= float(mean)


def test_hopper_context_tiles_are_fmha_v2_warpspec_steps():
    # cpp/kernels/fmha_v2/setup.py: BF16 kv_loop_step 256 / 128 / 64 for head size <= 64 / <= 128 /
    # <= 256; E4M3 256 / 128 for <= 128 / <= 256; 2 compute warpgroups x STEP_Q 64 = 128 rows
    q, kv = context_tile("nvidia-hopper", ["bf16", "bf16", "bf16", "bf16", "fp8", "fp8", "fp8"],
                         [64, 128, 192, 256, 64, 128, 256])
    assert list(kv) == [256, 128, 64, 64, 256, 256, 128]
    assert set(q) == {128}
    # a head size or family the data does not describe: no fixed tile (the model's own tiling)
    assert context_tile("nvidia-hopper", ["bf16"], [512])[1][0] == 0
    assert context_tile("nvidia-ampere", ["bf16"], [128])[1][0] == 0
    # trtllm-gen's SM100 context kernels: ...VarSeqQ128Kv128...Context for head sizes 64 and 128
    assert [float(v) for v in context_tile("nvidia-blackwell", ["bf16", "fp8", "bf16"], [64, 128, 256])[1]] == [128, 128, 0]


def test_a_short_prompt_computes_the_whole_tile():
    # 4 x 33 = 132 units on 132 cores (one full wave): every prompt up to 128 tokens costs one
    # 128-row x 128-key tile per (sequence, head): 2 GEMMs x 2 FLOPs x d per score, + 5 FLOPs a score
    cores = float(BASE.num_cores)
    assert cores == 132
    peak = float(BASE.peak("bf16")) * float(np.asarray(BASE.eff_compute)[0]) * float(BASE.eff_attention)
    tile = 132 * 128 * 128 * (4 * 128 + 5) / peak
    for s in (1, 16, 100, 128):
        assert _t(_ctx(s=s), **HOPPER) == pytest.approx(tile, rel=1e-9)
    # without the fixed tile a 16-token prompt costs 16 rows x 16 keys (the model's own tiling)
    assert _t(_ctx(s=16)) < tile / 10


def test_the_tile_exponentiates_its_padded_rows():
    a = _ctx(s=16)
    sfu = _t(a, softmax_vflops=8.0, **HOPPER) - _t(a, **HOPPER)
    vec = float(BASE.vector_flops) * BASE.eff_vector
    assert sfu == pytest.approx(132 * 128 * 128 * 8.0 / vec, rel=1e-9)


def test_a_one_token_prompt_is_a_context_tile_a_generation_step_is_not():
    # q = kv = 1 (a query that sees no earlier key) runs the context kernel's tile, per query head
    assert _t(_ctx(s=1, heads=32, kv_heads=8, batch=4), **HOPPER) == pytest.approx(
        _t(_ctx(s=128, heads=32, kv_heads=8, batch=4), **HOPPER), rel=1e-9)
    dec = Attention(name="a", batch=4, q_len=1, kv_len=8192, heads=32, kv_heads=8, kv_cache=True)
    assert _t(dec, softmax_vflops=8.0, **HOPPER) == pytest.approx(_t(dec, softmax_vflops=8.0), rel=1e-12)


def test_long_prompts_on_equal_tiles_keep_the_causal_work():
    # q tile = kv tile = 128: the tiled causal work is the FlashAttention-2 tiling's (diagonal
    # tiles in full), so a long prompt costs what the model's 128-row tiling already gives
    a = _ctx(batch=8, s=8192, heads=32)
    assert _t(a, tile_m=128.0, **HOPPER) == pytest.approx(_t(a, tile_m=128.0), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 16), st.sampled_from([1, 16, 100, 128, 129, 1000, 4096]), st.sampled_from([1, 8, 32]),
       st.sampled_from([64, 128, 256]), st.sampled_from([64, 128, 256]), st.sampled_from([0, 100, 1024]))
def test_whole_tiles_never_cost_less_than_the_exact_work(batch, s, heads, d, kv_tile, prefix):
    a = _ctx(batch=batch, s=s, heads=heads, d=d, prefix=prefix)
    exact = a.flops / (float(BASE.peak("bf16")) * float(np.asarray(BASE.eff_compute)[0]) * float(BASE.eff_attention))
    assert _t(a, attn_ctx_q_tile=128.0, attn_ctx_kv_tile=float(kv_tile)) >= exact * (1 - 1e-9)


def test_kernel_fit_gives_each_hopper_context_kernel_its_tile():
    from tapeout.perf import kernel_fit as kf
    from tapeout.perf import kernels_db
    from tapeout.perf.kernels_db import Kernels

    rows = [("h200", "s", "attention_prefill", "bf16", kv, 0, 0, 0, 4, 512, 512, 32, 8, d, 1e-3, "trtllm", "1")
            for kv in ("bf16", "fp8") for d in (64, 128)]
    rows.append(("a100-sxm", "s", "attention_prefill", "bf16", "bf16", 0, 0, 0, 4, 512, 512, 32, 8, 128, 1e-3, "trtllm", "1"))
    k = Kernels({c: np.array([r[j] for r in rows]) for j, c in enumerate(kernels_db.COLUMNS)}, "t", [])
    by_row = {int(r): (g["params"].attn_ctx_q_tile, g["params"].attn_ctx_kv_tile)
              for g in kf.Groups(k, context_tiles=True).items for r in g["rows"]}
    # BF16 cache: BF16 FMHA (d 64: 256 keys, d 128: 128); FP8 cache: the FP8 FMHA (256 keys for both)
    assert [by_row[i] for i in range(4)] == [(128, 256), (128, 128), (128, 256), (128, 256)]
    assert by_row[4] == (0, 0)  # Ampere's context kernel is not described: the model's own tiling
    # off by default (held out it helps H200, hurts B200 and H100: issue-24 notes, stop-24)
    assert {(g["params"].attn_ctx_q_tile, g["params"].attn_ctx_kv_tile) for g in kf.Groups(k).items} == {(0.0, 0.0)}
