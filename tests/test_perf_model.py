"""Invariants of the per-op model: roofline bounds, monotonicity, vectorization."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import PEAK_KEYS, MatMul, OpGraph
from tapeout.perf import evaluate
from tapeout.perf.calibration import calibrated_params
from tapeout.workloads.llm import decode_graph, prefill_graph
from tapeout.workloads.llm_config import load_llm

H100 = get_chip("h100-sxm")
P = calibrated_params(H100)


def test_time_never_beats_roofline():
    g = decode_graph(load_llm("llama-3.1-8b"), batch=16, context=1000, precision="bf16")
    ct = evaluate(g, P)
    t = ct.table
    peak = np.asarray(P.peak_flops)[t.peak_key]
    assert np.all(ct.time + 1e-15 >= ct.dram_bytes / P.mem_bw)
    mm = t.kind <= 1
    assert np.all(ct.time[mm] >= t.flops[mm] / peak[mm])


def test_decode_moves_at_least_the_weights():
    cfg = load_llm("llama-3.1-8b")
    ct = evaluate(decode_graph(cfg, batch=1, context=128, precision="bf16"), P)
    weights = cfg.param_count() * 2 - cfg.vocab_size * cfg.hidden_size * 2  # input embedding is gathered, not read
    assert float(ct.total_dram_bytes) >= 0.99 * weights
    # and batch-1 decode is memory bound: time within 2x of weights / achievable bandwidth
    t_mem = weights / (P.mem_bw * P.eff_mem)
    assert t_mem <= float(ct.total_time) <= 2.5 * t_mem


def test_prefill_is_compute_bound_at_long_prompts():
    ct = evaluate(prefill_graph(load_llm("llama-3.1-8b"), batch=4, input_len=2048, precision="bf16"), P)
    assert ct.dominant_bound() == "compute"


def test_wave_quantization_penalises_one_extra_tile():
    # 132 cores; 132 tiles fill one wave, 133 need two
    p = P.replace(num_cores=132.0, kernel_overhead=0.0)
    one = MatMul(name="a", m=128 * 12, n=128 * 11, k=8192)
    two = MatMul(name="b", m=128 * 12 + 1, n=128 * 11, k=8192)
    t1 = float(evaluate(OpGraph("1", [one]), p).total_time)
    t2 = float(evaluate(OpGraph("2", [two]), p).total_time)
    assert t2 > 1.5 * t1


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1.1, 8.0), m=st.integers(1, 4096), n=st.integers(64, 8192), k=st.integers(64, 8192))
def test_more_bandwidth_never_slower(scale, m, n, k):
    g = OpGraph("g", [MatMul(name="x", m=m, n=n, k=k)])
    base = float(evaluate(g, P).total_time)
    faster = float(evaluate(g, P.replace(mem_bw=P.mem_bw * scale)).total_time)
    assert faster <= base * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1.1, 8.0), m=st.integers(1, 4096), n=st.integers(64, 8192), k=st.integers(64, 8192))
def test_more_compute_never_slower(scale, m, n, k):
    g = OpGraph("g", [MatMul(name="x", m=m, n=n, k=k)])
    base = float(evaluate(g, P).total_time)
    faster = float(evaluate(g, P.with_peak("bf16", P.peak("bf16") * scale)).total_time)
    assert faster <= base * (1 + 1e-12)


def test_vectorized_1e5_variants_match_scalar():
    g = decode_graph(load_llm("llama-2-70b"), batch=64, context=1500, precision="fp8", tp=8)
    rng = np.random.default_rng(0)
    D = 100_000
    bw = P.mem_bw * rng.uniform(0.5, 2.0, D)
    fp8 = P.peak("fp8") * rng.uniform(0.5, 2.0, D)
    cores = rng.integers(60, 200, D).astype(float)
    pv = P.with_peak("fp8", fp8).replace(mem_bw=bw, num_cores=cores)
    ct = evaluate(g, pv)
    tot = ct.total_time
    assert tot.shape == (D,)
    for i in rng.choice(D, 5, replace=False):
        ps = P.with_peak("fp8", float(fp8[i])).replace(mem_bw=float(bw[i]), num_cores=float(cores[i]))
        assert float(evaluate(g, ps).total_time) == pytest.approx(float(tot[i]), rel=1e-12)


def test_energy_positive_and_bounded_by_tdp():
    g = prefill_graph(load_llm("llama-3.1-8b"), batch=8, input_len=1024, precision="bf16")
    ct = evaluate(g, P)
    avg_power = float(ct.total_energy) / float(ct.total_time)
    assert 0.2 * P.tdp_w < avg_power < 1.5 * P.tdp_w


def test_peak_keys_cover_precisions():
    assert set(PEAK_KEYS) >= {"bf16", "fp16", "fp8", "int8", "int4", "fp4"}


def _attn(d: int, **kw):
    from tapeout.ops import Attention

    a = dict(name="a", batch=8, q_len=4096, kv_len=4096, heads=32, kv_heads=8, d_qk=d, d_v=d, causal=True)
    a.update(kw)
    return Attention(**a)


def test_attention_head_dim_64_pays_no_tile_padding():
    # FlashAttention pads the head dim to a multiple of 32, not to the 128-wide GEMM N tile:
    # without the softmax term, compute time scales exactly with the FLOPs from d=128 to d=64
    p = P.replace(softmax_vflops=0.0, attn_unit_time=0.0, attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0)  # per-wave costs off
    t64, t128 = (float(evaluate(OpGraph("a", [_attn(d)]), p).compute_time[0]) for d in (64, 128))
    f64, f128 = _attn(64).flops, _attn(128).flops
    assert t64 / t128 == pytest.approx(f64 / f128, rel=1e-9)
    # d=80 pads to 96 (a multiple of 32), d=96 does not pad
    t80, t96 = (float(evaluate(OpGraph("a", [_attn(d)]), p).compute_time[0]) for d in (80, 96))
    assert t80 / t96 == pytest.approx(_attn(80).flops / _attn(96).flops * 96 / 80, rel=1e-9)


def test_softmax_adds_one_vector_term_per_score():
    a = _attn(64)
    p = P.replace(attn_tiling=0.0)  # exact causal scores (no full diagonal tiles)
    base = float(evaluate(OpGraph("a", [a]), p.replace(softmax_vflops=0.0)).compute_time[0])
    with_sm = float(evaluate(OpGraph("a", [a]), p.replace(softmax_vflops=20.0)).compute_time[0])
    assert with_sm - base == pytest.approx(a.scores * 20.0 / (P.vector_flops * P.eff_vector), rel=1e-9)


def test_few_work_units_limit_the_streamed_bandwidth():
    # m=1, n=128, k=256: one output tile, no K split -> one unit streams on one core at
    # core_bw_share x mem_bw/cores; with share >= cores the chip's whole bandwidth
    g = OpGraph("g", [MatMul(name="g", m=1, n=128, k=256)])
    p = P.replace(mem_overhead=0.0)
    full = float(evaluate(g, p.replace(core_bw_share=float(P.num_cores))).memory_time[0])
    one = float(evaluate(g, p.replace(core_bw_share=1.0)).memory_time[0])
    four = float(evaluate(g, p.replace(core_bw_share=4.0)).memory_time[0])
    assert one == pytest.approx(full * P.num_cores, rel=1e-9)
    assert four == pytest.approx(full * P.num_cores / 4.0, rel=1e-9)


def test_split_k_cap_limits_the_cores_a_skinny_gemm_fills():
    # one 16x128 output tile with K = 65,536: uncapped, K splits into min(cores, K/256) units
    # (every core busy); capped at 4 splits, 4 units run, so the compute time grows cores/4
    g = OpGraph("g", [MatMul(name="g", m=16, n=128, k=65536)])
    free = float(evaluate(g, P.replace(tile_overhead=0.0)).compute_time[0])
    cap4 = float(evaluate(g, P.replace(max_split_k=4.0, tile_overhead=0.0)).compute_time[0])
    assert P.num_cores <= 65536 / 256
    assert cap4 / free == pytest.approx(P.num_cores / 4.0, rel=1e-9)
    # attention splits its keys (FlashDecoding), not K of a GEMM: the cap leaves it alone
    a = OpGraph("a", [_attn(128, batch=1, q_len=1, kv_len=65536, heads=8, kv_heads=8)])
    assert float(evaluate(a, P.replace(max_split_k=1.0)).time[0]) == float(evaluate(a, P).time[0])


def test_tile_k_overhead_is_k_unit_over_k_unit_plus_overhead():
    # 4096 x 4096 output = 1,024 tiles >> cores: no K split, each tile runs K = 512 deep
    g = OpGraph("g", [MatMul(name="g", m=4096, n=4096, k=512)])
    base = float(evaluate(g, P.replace(tile_overhead=0.0)).compute_time[0])
    slow = float(evaluate(g, P.replace(tile_k_overhead=128.0, tile_overhead=0.0)).compute_time[0])
    assert slow / base == pytest.approx((512 + 128) / 512, rel=1e-9)
    # the attention field applies to attention only, keys per query = (4096 + 1) / 2 causal
    att = OpGraph("a", [_attn(128)])
    # the default carries the fitted prologue, tiling and per-wave CTA latency: off here
    p0 = P.replace(softmax_vflops=0.0, attn_tile_k_overhead=0.0, attn_tiling=0.0, attn_unit_time=0.0)
    assert float(evaluate(g, P.replace(attn_tile_k_overhead=999.0)).time[0]) == float(evaluate(g, P).time[0])
    ta = float(evaluate(att, p0).compute_time[0])
    tb = float(evaluate(att, p0.replace(attn_tile_k_overhead=512.0)).compute_time[0])
    kq = (4096 + 1) / 2.0
    assert tb / ta == pytest.approx((kq + 512) / kq, rel=1e-9)


def test_gqa_group_above_the_pack_limit_reads_the_kv_cache_per_query_head():
    a = _attn(128, batch=16, q_len=1, kv_len=8192, heads=64, kv_heads=1)
    g = OpGraph("a", [a])
    packed = float(evaluate(g, P.replace(attn_head_pack=64.0)).dram_bytes[0])
    unpacked = float(evaluate(g, P.replace(attn_head_pack=32.0)).dram_bytes[0])
    assert packed == pytest.approx(a.weight_bytes + a.input_bytes + a.output_bytes, rel=1e-12)
    assert unpacked - packed == pytest.approx(63 * a.weight_bytes, rel=1e-12)


def test_exposed_epilogue_is_one_tile_store_per_core_per_wave():
    # 8192 x 8192 output = 4,096 tiles of 128 x 128 (> cores: no K split); BF16 output, 2 bytes
    g = OpGraph("g", [MatMul(name="g", m=8192, n=8192, k=4096)])
    p0 = P.replace(tile_overhead=0.0)
    base = float(evaluate(g, p0).compute_time[0])
    exposed = float(evaluate(g, p0.replace(epilogue_exposed=0.5)).compute_time[0])
    tiles = (8192 / P.tile_m) * (8192 / P.tile_n)
    waves = np.ceil(tiles / P.num_cores)
    store = waves * P.num_cores * P.tile_m * P.tile_n * 2.0 / (P.mem_bw * P.eff_mem)
    assert exposed - base == pytest.approx(0.5 * store, rel=1e-9)
    # a time, not a fraction of the math: a matrix engine twice as fast pays the same store
    fast = p0.replace(peak_flops=np.asarray(P.peak_flops) * 2.0)
    d_fast = float(evaluate(g, fast.replace(epilogue_exposed=0.5)).compute_time[0]) - float(evaluate(g, fast).compute_time[0])
    assert d_fast == pytest.approx(exposed - base, rel=1e-9)
    # attention has its own work-unit model (attn_tile_k_overhead): untouched
    att = OpGraph("a", [_attn(128)])
    assert float(evaluate(att, P.replace(epilogue_exposed=1.0)).time[0]) == float(evaluate(att, P).time[0])


def test_a_half_filled_store_transaction_doubles_the_exposed_store():
    # epilogue_store_fill: a direct register store of 16 B per thread into 32-byte sectors moves
    # each sector for half its bytes, so the exposed tile store takes twice as long; the DRAM
    # traffic (L2 merges the halves before write-back) and every other term stay
    g = OpGraph("g", [MatMul(name="g", m=8192, n=8192, k=4096)])
    p0 = P.replace(tile_overhead=0.0, epilogue_exposed=0.5)
    base = float(evaluate(g, p0.replace(epilogue_exposed=0.0)).compute_time[0])
    full = float(evaluate(g, p0).compute_time[0]) - base
    half = float(evaluate(g, p0.replace(epilogue_store_fill=0.5)).compute_time[0]) - base
    assert half == pytest.approx(2.0 * full, rel=1e-9)
    assert float(evaluate(g, p0.replace(epilogue_store_fill=0.5)).dram_bytes[0]) == float(evaluate(g, p0).dram_bytes[0])


def test_a_tile_stores_only_the_rows_inside_the_output():
    # a kernel with a fixed 128-row tile (min_tile_m = tile_m = 128) computes all 128 rows for one
    # token but stores one (predicated stores, TMA clipping): the exposed store is m rows, not 128
    p0 = P.replace(tile_overhead=0.0, min_tile_m=128.0, tile_m=128.0, core_bw_share=1e9, max_split_k=1.0)

    def store(m):
        g = OpGraph("g", [MatMul(name="g", m=m, n=P.tile_n, k=4096)])
        return (float(evaluate(g, p0.replace(epilogue_exposed=1.0)).compute_time[0])
                - float(evaluate(g, p0).compute_time[0]))
    one = P.tile_n * 2.0 / (P.mem_bw * P.eff_mem)  # one active tile (no K split), one row of tile_n BF16
    assert store(1) == pytest.approx(one, rel=1e-9)
    assert store(64) == pytest.approx(64 * one, rel=1e-9)
    assert store(128) == pytest.approx(128 * one, rel=1e-9)


def test_split_k_units_store_fp32_partials():
    # one 16 x 128 tile, K = 65,536: split-K fills the cores; every unit stores a 4-byte partial tile
    g = OpGraph("g", [MatMul(name="g", m=16, n=128, k=65536)])
    p0 = P.replace(tile_overhead=0.0, core_bw_share=1e9)
    d = float(evaluate(g, p0.replace(epilogue_exposed=1.0)).compute_time[0]) - float(evaluate(g, p0).compute_time[0])
    tm = 16.0  # the row tile shrinks to the 16-row MMA for 16 tokens
    assert d == pytest.approx(P.num_cores * tm * P.tile_n * 4.0 / (P.mem_bw * P.eff_mem), rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 16384), st.integers(1, 16384), st.integers(16, 16384), st.floats(0.0, 1.0))
def test_exposed_epilogue_only_adds_time(m, n, k, f):
    g = OpGraph("g", [MatMul(name="g", m=m, n=n, k=k)])
    assert float(evaluate(g, P.replace(epilogue_exposed=f)).time[0]) >= float(evaluate(g, P).time[0])


def _ctx_time(a, **kw):
    # the default model's attention structure (kernel_structure.yaml: per-unit K fill, per-phase
    # fixed time, tiling, per-wave unit costs) off, so the ratios below isolate the tiling and the
    # per-wave unit cost
    base = P.replace(softmax_vflops=0.0, attn_tile_k_overhead=0.0, attn_prefill_fixed=0.0, attn_decode_fixed=0.0,
                     attn_tiling=0.0, attn_unit_time=0.0, attn_unit_flops=0.0, attn_decode_unit_time=0.0,
                     attn_decode_unit_flops=0.0)
    return float(evaluate(OpGraph("a", [a]), base.replace(**kw)).compute_time[0])


def test_context_tiling_computes_the_causal_diagonal_tiles_in_full():
    # q_len 4096 = 32 query tiles of 128 rows; FlashAttention-2 skips the key tiles above the
    # diagonal and computes the diagonal ones masked: query tile i computes i + 1 key tiles, so a
    # query sees (T + 1) / 2 * 128 keys instead of (q_len + 1) / 2. Units (8 x 32 heads x 32
    # tiles = 8 x 8 KV heads x 128 packed tiles) and padding are the same under both tilings.
    a = _attn(128)
    assert _ctx_time(a, attn_tiling=1.0) / _ctx_time(a) == pytest.approx((33 / 2 * 128) / (4097 / 2), rel=1e-9)
    # without a causal mask every key is computed either way; decode (q_len 1) is not tiled by queries
    for b in (_attn(128, causal=False), _attn(128, batch=4, q_len=1, kv_len=8192)):
        assert _ctx_time(b, attn_tiling=1.0) == pytest.approx(_ctx_time(b), rel=1e-12)


def test_attention_pays_a_fixed_unit_cost_per_wave_of_ctas():
    # a 16-token context: 64 sequences x 40 query heads = 2,560 CTAs (one query tile each) under
    # FlashAttention-2 tiling; 64 x 8 KV heads x one packed 80-row tile = 512 without it
    a = _attn(128, batch=64, q_len=16, kv_len=16, heads=40, kv_heads=8)
    cores = P.num_cores
    rate = np.asarray(P.peak_flops)[PEAK_KEYS.index("bf16")] * np.asarray(P.eff_compute)[PEAK_KEYS.index("bf16")] * P.eff_attention
    for tiling, units in ((1.0, 64 * 40), (0.0, 64 * 8)):
        base = _ctx_time(a, attn_tiling=tiling)
        waves = np.ceil(units / cores)
        lat = _ctx_time(a, attn_tiling=tiling, attn_unit_time=3e-6) - base
        assert lat == pytest.approx(waves * 3e-6, rel=1e-9)
        # the work form runs at one core's achieved matrix rate: F * cores / (peak * eff) per wave
        work = _ctx_time(a, attn_tiling=tiling, attn_unit_flops=1e7) - base
        assert work == pytest.approx(waves * 1e7 * cores / rate, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 64), st.integers(1, 4096), st.sampled_from([(8, 8), (32, 8), (64, 1)]),
       st.floats(0.0, 1e-5), st.floats(0.0, 1e-5))
def test_attention_time_never_falls_with_the_unit_cost(batch, s, heads, t1, t2):
    a = _attn(128, batch=batch, q_len=s, kv_len=s, heads=heads[0], kv_heads=heads[1])
    lo, hi = sorted((t1, t2))
    g = OpGraph("a", [a])
    t_lo, t_hi = (float(evaluate(g, P.replace(attn_tiling=1.0, attn_unit_time=t)).time[0]) for t in (lo, hi))
    assert t_hi >= t_lo


def test_default_model_tiles_context_attention_per_query_head():
    # kernel_structure.yaml attn_tiling = 1: a GQA context with a short prompt costs one CTA per
    # query head, so its per-wave latency counts 4 x 32 units, not 4 x 4 packed ones
    a = _attn(128, batch=4, q_len=100, kv_len=100, heads=32, kv_heads=4)
    waves = np.ceil(4 * 32 / P.num_cores)
    assert _ctx_time(a, attn_tiling=1.0, attn_unit_time=3e-6) - _ctx_time(a, attn_tiling=1.0) == pytest.approx(waves * 3e-6, rel=1e-9)
    assert P.attn_tiling == 1.0


def test_attention_unit_cost_is_per_phase():
    # a generation kernel (one query per sequence) pays the decode unit cost only, a context
    # kernel the context one only: 8 sequences x 8 KV heads = 64 units, one wave on any chip here
    dec = _attn(128, q_len=1, kv_len=4096)
    ctx = _attn(128, q_len=512, kv_len=512)
    waves_dec = np.ceil(8 * 8 / P.num_cores)
    assert _ctx_time(dec, attn_decode_unit_time=5e-6) - _ctx_time(dec) == pytest.approx(waves_dec * 5e-6, rel=1e-9)
    assert _ctx_time(dec, attn_unit_time=5e-6) == pytest.approx(_ctx_time(dec), rel=1e-12)
    assert _ctx_time(ctx, attn_decode_unit_time=5e-6) == pytest.approx(_ctx_time(ctx), rel=1e-12)
    assert _ctx_time(ctx, attn_unit_time=5e-6) > _ctx_time(ctx)


def test_kernel_serving_calibration_carries_the_fitted_attention_structure():
    # the --kernels serving calibration hands serving the same attention structure its
    # efficiencies were fitted with (tiling, per-phase unit costs), not the efficiencies alone
    from tapeout.perf import kernel_calibration, kernel_fit

    params = dict(zip(kernel_fit.NAMES, [p[1] for p in kernel_fit.PARAMS]))
    # h200 serves a GQA model with the XQA HMMA generation kernel (kernel_fit.serving_decode_class)
    params.update(unit_prefill=2e7, unit_decode_hmma=3e6, unitlat_prefill=3.1, unitlat_decode_hmma=1.1, attn_tiling=1.0)
    lib = kernel_calibration.chip_entry(params, get_chip("h200"), "test")["kernel_library"]
    assert lib["attn_tiling"] == 1.0
    assert (lib["attn_unit_flops"], lib["attn_decode_unit_flops"]) == (2e7, 3e6)
    assert lib["attn_unit_time"] == pytest.approx(3.1e-6) and lib["attn_decode_unit_time"] == pytest.approx(1.1e-6)
