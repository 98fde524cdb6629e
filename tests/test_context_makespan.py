"""A tiled causal context-attention kernel's time from its CTAs on the cores they occupy
(ChipParams.attn_ctx_makespan; perf/opcost.py): closed forms and invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf.calibration import calibrated_params

P = calibrated_params(get_chip("h100-sxm"))
# tiling on, every other attention cost off: the GEMM work alone (or with the softmax where set)
BASE = P.replace(softmax_vflops=0.0, attn_tile_k_overhead=0.0, attn_prefill_fixed=0.0, attn_decode_fixed=0.0,
                 attn_tiling=1.0, attn_unit_time=0.0, attn_unit_flops=0.0, attn_decode_unit_time=0.0,
                 attn_decode_unit_flops=0.0, tile_m=128.0)


def _t(a, **kw):
    return float(evaluate(OpGraph("a", [a]), BASE.replace(**kw)).compute_time[0])


def _ctx(batch=1, s=4096, heads=2, causal=True, d=128):
    return Attention(name="a", batch=batch, q_len=s, kv_len=s, heads=heads, kv_heads=heads, d_qk=d, d_v=d, causal=causal)


def test_one_partial_wave_lasts_its_longest_causal_cta():
    # 1 sequence x 2 heads x 32 query tiles of 128 = 64 CTAs, under one wave of 132 cores: the
    # average CTA computes (32 + 1) / 2 key tiles, the last query tile all 32, so the kernel lasts
    # 32 / 16.5 x the average CTA
    a = _ctx()
    assert _t(a, attn_ctx_makespan=1.0) / _t(a) == pytest.approx(32 / 16.5, rel=1e-9)


def test_many_waves_or_no_mask_keep_the_balanced_time():
    # 64 x 32 heads x 32 tiles = 65,536 CTAs (497 waves): the longest CTA is far below the waves
    # x the average; without a causal mask every CTA computes every key tile
    for a in (_ctx(batch=64, heads=32), _ctx(causal=False)):
        assert _t(a, attn_ctx_makespan=1.0) == pytest.approx(_t(a), rel=1e-12)
    # a generation kernel (one query per sequence) is not a tiled context kernel
    dec = Attention(name="a", batch=4, q_len=1, kv_len=8192, heads=32, kv_heads=8)
    assert _t(dec, attn_ctx_makespan=1.0, softmax_vflops=8.0) == pytest.approx(_t(dec, softmax_vflops=8.0), rel=1e-12)


def test_softmax_runs_on_the_occupied_cores_sfus():
    # non-causal, 1 x 2 heads x 2 query tiles = 4 CTAs on 132 cores: the exponentials run on 4 cores'
    # special-function units, not 132 (the matrix work is wave-quantized the same way already)
    a = _ctx(s=256, causal=False)
    cores = float(BASE.num_cores)
    sfu = lambda **kw: _t(a, softmax_vflops=8.0, **kw) - _t(a, **kw)  # noqa: E731
    exps_time = a.scores * 8.0 / (float(BASE.vector_flops) * BASE.eff_vector)
    assert sfu() == pytest.approx(exps_time, rel=1e-9)
    assert sfu(attn_ctx_makespan=1.0) == pytest.approx(exps_time * cores / 4, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 64), st.sampled_from([16, 100, 128, 1000, 4096, 16384]), st.integers(1, 64),
       st.booleans(), st.sampled_from([64, 128, 256]))
def test_makespan_never_shortens_a_kernel_nor_beats_the_longest_cta(batch, s, heads, causal, d):
    a = _ctx(batch=batch, s=s, heads=heads, causal=causal, d=d)
    on, off = _t(a, attn_ctx_makespan=1.0, softmax_vflops=8.0), _t(a, softmax_vflops=8.0)
    assert on >= off * (1 - 1e-12)
    # and never more than the longest CTA's share: at most 2x the balanced time (T / ((T + 1) / 2) < 2)
    # times the cores / occupied cores of the softmax part
    assert on <= off * 2.0 * float(BASE.num_cores)
