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


def _context_group(fmt: str, kv_fmt: str, q_len: int = 512, heads: int = 32, kv_heads: int = 8):
    from tapeout.perf import kernel_fit as kf
    from tapeout.perf import kernels_db
    from tapeout.perf.kernels_db import Kernels

    row = ("h200", "s", "attention_prefill", fmt, kv_fmt, 0, 0, 0, 4, q_len, q_len, heads, kv_heads, 128, 1e-3, "trtllm", "1")
    return kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]


def test_context_fmha_over_an_fp8_cache_is_timed_in_fp8():
    # TensorRT-LLM's paged context FMHA over an FP8 KV cache is the FP8 FMHA (trtllm attention
    # backend: no paged context FMHA on an FP8 cache without FP8 attention): a "bf16" row with an
    # FP8 cache runs its two GEMMs on the FP8 peak, a BF16 cache on the BF16 peak
    from tapeout.ops import PEAK_KEYS

    for kv_fmt, key in (("fp8", "fp8"), ("bf16", "bf16")):
        t = _context_group("bf16", kv_fmt)["table"]
        assert PEAK_KEYS[int(t.peak_key[-1])] == key  # the attention op (after the QKV pass)


def test_kernel_fit_times_tiled_context_kernels_by_their_makespan():
    from tapeout.perf import kernel_fit as kf

    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    g = _context_group("bf16", "bf16")
    assert kf.params_for(g["params"], x, g["cls"]).attn_ctx_makespan == 1.0


def test_one_token_context_kernel_runs_a_cta_per_query_head():
    # the context FMHA's grid is (query tiles, query heads, sequences) with one head per CTA
    # (trtllm-gen computeNumCtas: maxNumHeadsQPerKvInCta = 1 for context kernels): a one-token
    # context of 32 query / 8 KV heads is 4 x 32 units, not the generation kernels' 4 x 8 packed groups
    t = _context_group("bf16", "bf16", q_len=1)["table"]
    assert float(t.parallel[-1]) == 4 * 32 and float(t.q_per_kv[-1]) == 1.0
    assert float(_context_group("bf16", "bf16", q_len=512)["table"].q_per_kv[-1]) == 4.0


def test_context_cta_q_and_o_tiles_are_serialised_per_wave():
    # 8 sequences x 32 heads x 1 query tile of 128 rows (q_len 128) = 256 CTAs = 2 waves of 132:
    # each wave the occupied cores load their Q tile and store their O tile (128 rows x 128 x 2 B
    # each way) at the DRAM rate, serialised with the math
    a = _ctx(batch=8, heads=32, s=128)
    cores = float(BASE.num_cores)
    wave_bytes = [min(256 - w * cores, cores) * 128 * 128 * 2 * 2 for w in range(2)]
    share = float(BASE.core_bw_share)
    expect = sum(b / (float(BASE.mem_bw) * BASE.eff_mem * min(1.0, min(256 - w * cores, cores) / cores * share))
                 for w, b in enumerate(wave_bytes))
    # opcost prices every wave at the occupied cores of a full wave (min(units, cores)): both waves here
    full = 2 * cores * 128 * 128 * 4 / (float(BASE.mem_bw) * BASE.eff_mem * min(1.0, share))
    assert _t(a, attn_ctx_io_exposed=1.0) - _t(a) == pytest.approx(full, rel=1e-9)
    assert full >= expect  # the last, partial wave is priced as full: an upper bound of the exact sum
    # off for a generation kernel and by default
    dec = Attention(name="a", batch=4, q_len=1, kv_len=8192, heads=32, kv_heads=8)
    assert _t(dec, attn_ctx_io_exposed=1.0) == pytest.approx(_t(dec), rel=1e-12)
    assert P.attn_ctx_io_exposed == 0.0


def test_context_cta_tiles_at_one_cores_stream():
    # the same 256 CTAs (2 waves of 132): with the core's stream below its DRAM share each wave's Q and O tiles take
    # one CTA's bytes (128 rows x 128 x 2 B each way) / the core's rate, whatever the chip's DRAM (attn_ctx_io_core_bw)
    a = _ctx(batch=8, heads=32, s=128)
    unit = 128 * 128 * 2 * 2
    for bw in (1e9, 5e9):
        assert _t(a, attn_ctx_io_exposed=1.0, attn_ctx_io_core_bw=bw) - _t(a) == pytest.approx(2 * unit / bw, rel=1e-9)
    # a core stream faster than the DRAM share leaves the DRAM's time; unset (0) is the DRAM's; off without the io flag
    assert _t(a, attn_ctx_io_exposed=1.0, attn_ctx_io_core_bw=1e15) == pytest.approx(_t(a, attn_ctx_io_exposed=1.0), rel=1e-12)
    assert _t(a, attn_ctx_io_core_bw=1e9) == pytest.approx(_t(a), rel=1e-12)
    assert P.attn_ctx_io_core_bw == 0.0


@settings(max_examples=40, deadline=None)
@given(st.floats(1e8, 1e12), st.sampled_from([64, 128, 256]), st.integers(1, 64))
def test_a_slower_core_stream_never_makes_a_context_kernel_faster(bw, d, batch):
    # the core's bound only adds (max with the DRAM's): never below the DRAM-only time, and a slower stream never faster
    a = _ctx(batch=batch, heads=8, s=512, d=d)
    dram = _t(a, attn_ctx_io_exposed=1.0)
    t = _t(a, attn_ctx_io_exposed=1.0, attn_ctx_io_core_bw=bw)
    assert t >= dram * (1 - 1e-12)
    assert _t(a, attn_ctx_io_exposed=1.0, attn_ctx_io_core_bw=bw / 2) >= t * (1 - 1e-12)
