"""The masked-MHA kernel's launch (TensorRT-LLM decoderMaskedMultiheadAttentionLaunch.h: block size and multi-block
split, perf/mmha_launch.py), its last partial wave, its multi-block merge, and the XQA Hopper kernel's work per
query-tile element (issue 24, Round stop-29, issue-29dq). Expected values are the source's arithmetic by hand."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import chip_for
from tapeout.perf.mmha_launch import base_blocks_per_sm, block_threads, dh_max, mmha_launch
from tapeout.perf.opcost import evaluate, tail_wave_fill

S = 132  # H100 / H200 SMs


@pytest.mark.parametrize("d, kernel_d", [(16, 32), (64, 64), (80, 128), (128, 128), (192, 256), (256, 256)])
def test_kernel_head_size_is_the_next_power_of_two_from_32(d, kernel_d):
    assert float(dh_max(d)) == kernel_d


def test_registers_hold_four_256_thread_blocks():
    # "The max number of warps we can launch per SM is 32 limited by registers": 32 x 32 / 256
    assert float(base_blocks_per_sm(32)) == 4.0


@pytest.mark.parametrize("pairs, threads", [
    (1, 1024), (132, 1024), (175, 1024),  # ceil(528 / pairs) >= 4: 4 x 256
    (176, 512), (264, 512),  # 3 -> 768, launched as 512
    (265, 512), (527, 512),  # 2 -> 512
    (528, 256), (5000, 256),  # >= SMs x 4: the untuned 256
])
def test_block_size_fills_the_sms_registers(pairs, threads):
    assert float(block_threads(pairs, S, 32)) == threads


@pytest.mark.parametrize("pairs, keys, d, tiles, blocks", [
    (128, 32768, 128, 2, 4),  # ceil(132 / 128) = 2 tiles, 1024 threads
    (4, 131072, 256, 33, 4),  # ceil(132 / 4) = 33 (a KV loop of 1024 / 32 x 8 = 256 keys allows 513)
    (2, 4096, 128, 9, 4),  # ceil(4097 / (1024 / 16 x 8)) = 9 < ceil(132 / 2) = 66
    (8, 128, 64, 1, 4),  # ceil(129 / 1024) = 1: one KV loop, no split
    (200, 8192, 128, 1, 2),  # pairs >= SMs: no multi-block, 512 threads
    (1024, 8192, 128, 1, 1),  # 256 threads
])
def test_launch_follows_the_source(pairs, keys, d, tiles, blocks):
    t, b, _ = mmha_launch(pairs, keys, d, S, 32)
    assert (float(t), float(b)) == (tiles, blocks)


@settings(max_examples=60, deadline=None)
@given(pairs=st.integers(1, 5000), keys=st.integers(1, 200000), d=st.sampled_from([64, 128, 192, 256]))
def test_launch_keeps_at_most_one_wave_of_split_ctas(pairs, keys, d):
    # multi-block: at most ceil(SMs / pairs) tiles (getMaxNumSeqLenTile), so the CTAs stay under SMs + pairs;
    # a block is one of the sizes the launcher instantiates, never wider with more pairs
    t, b, r = mmha_launch(pairs, keys, d, S, 32)
    assert float(t) >= 1 and pairs * float(t) < S + pairs
    assert float(b) in (1.0, 2.0, 4.0) and float(b) * float(r) <= 4.0
    assert float(block_threads(pairs + 1, S, 32)) <= float(block_threads(pairs, S, 32))


def test_tail_wave_fill_closed_form():
    # 3 units of 2 per wave: one whole wave at fill 1, a tail of one unit at its own stream (1 / 4 of the DRAM)
    stream_of = lambda res: 0.25 * res  # noqa: E731
    f = tail_wave_fill(1.0, 1.0, 3.0, 2.0, 1.0, stream_of, 1.0, 0.0)
    assert float(f) == pytest.approx(1.0 / (2.0 / 3.0 / 1.0 + 1.0 / 3.0 / 0.25))
    # whole waves, or one partial wave, keep the full fill
    assert float(tail_wave_fill(0.7, 1.0, 4.0, 2.0, 1.0, stream_of, 1.0, 0.0)) == 0.7
    assert float(tail_wave_fill(0.7, 1.0, 1.0, 2.0, 1.0, stream_of, 1.0, 0.0)) == 0.7


P = calibrated_params(chip_for("h200"))
MMHA = P.replace(attn_cta_bytes_per_s=20e9, attn_ctas_per_core=4.0, core_bw_share=1e9, attn_decode_unit_flops=0.0,
                 attn_decode_unit_time=0.0, attn_gen_launch_warps=32.0)


def _mha(p, batch, heads, kv_len, d=128):
    op = Attention(name="a", batch=batch, q_len=1, kv_len=kv_len, heads=heads, kv_heads=heads, d_qk=d, d_v=d,
                   causal=True, act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    return evaluate(OpTable.from_ops([op]), p)


def test_few_pairs_stream_with_the_launchers_wide_split_ctas():
    # 33 x 2 pairs over 32768 keys: 2 tiles of 1024 threads = 132 CTAs (one wave) x 4 base blocks, against 132
    # 256-thread CTAs with the launch off (one per pair, split to fill the cores): 4 x the CTAs' stream
    p = MMHA.replace(attn_cta_bytes_per_s=1e9)
    on, off = _mha(p, 33, 2, 32768), _mha(p.replace(attn_gen_launch_warps=0.0), 33, 2, 32768)
    assert float(on.memory_time[0]) == pytest.approx(float(off.memory_time[0]) / 4, rel=1e-9)


def test_the_last_partial_wave_streams_with_its_own_ctas():
    # 64 x 2 pairs: 2 tiles = 256 CTAs of 1024 threads, one per SM: a whole wave of 132 (528 base blocks) and a
    # tail of 124 (496), each part's bytes at its own CTAs' stream
    p = MMHA.replace(attn_cta_bytes_per_s=1e9)
    c = _mha(p, 64, 2, 32768)
    f = 124 / 256
    assert float(c.memory_time[0]) == pytest.approx(float(c.dram_bytes[0]) * ((1 - f) / 528e9 + f / 496e9), rel=1e-9)


@pytest.mark.parametrize("batch, heads, kv_len, split", [(1, 12, 4096, True), (64, 2, 32768, True), (4, 64, 4096, False)])
def test_merge_time_is_paid_once_where_the_kv_is_split(batch, heads, kv_len, split):
    t0 = float(_mha(MMHA, batch, heads, kv_len).time[0])
    t1 = float(_mha(MMHA.replace(attn_gen_merge_time=5e-6), batch, heads, kv_len).time[0])
    assert t1 - t0 == pytest.approx(5e-6 if split else 0.0, abs=1e-12)


@pytest.mark.parametrize("batch, waves", [(528, 1), (529, 2), (1600, 4)])
def test_launched_waves_hold_the_sms_base_blocks(batch, waves):
    # >= 4 x SMs pairs: 256-thread CTAs, 4 per SM per wave
    t0 = float(_mha(MMHA, batch, 1, 64).time[0])
    t1 = float(_mha(MMHA.replace(attn_decode_unit_time=3e-6), batch, 1, 64).time[0])
    assert t1 - t0 == pytest.approx(waves * 3e-6, rel=1e-9)


@pytest.mark.parametrize("group, rows", [(2, 8), (8, 8), (12, 16), (32, 32)])
def test_query_tile_work_per_wave_closed_form(group, rows):
    # the XQA Hopper kernel's CTA: padded heads (8-row steps) x head elements x the per-element work at one
    # SM's vector rate, once per wave (8 KV heads x 1 sequence over 2048 keys: 8 x min(16, round(sqrt(128))) = 88 CTAs, one wave)
    p = P.replace(attn_cta_tokens_per_s=1e7, attn_ctas_per_core=2.0, core_bw_share=1e9, attn_gen_q_tile=8.0,
                  attn_gen_split_tokens=128.0, attn_gen_split_sqrt=8.0, attn_gen_split_waves=8.0)
    op = Attention(name="a", batch=1, q_len=1, kv_len=2048, heads=group * 8, kv_heads=8, d_qk=128, d_v=128, causal=True,
                   act_dtype="bf16", kv_dtype="fp8", math_dtype="bf16", kv_cache=True)
    t0 = float(evaluate(OpTable.from_ops([op]), p).time[0])
    t1 = float(evaluate(OpTable.from_ops([op]), p.replace(attn_gen_tile_flops=50.0)).time[0])
    assert t1 - t0 == pytest.approx(rows * 128 * 50.0 * p.num_cores / (float(p.vector_flops) * p.eff_vector), rel=1e-9)


def test_launch_fields_reach_only_the_masked_mha_class():
    v = {n: s for n, s, _, _ in kf.PARAMS}
    assert kf.generation_fields(v, "decode_mmha")["attn_gen_launch_warps"] == 32.0
    assert kf.generation_fields(v, "decode_mmha")["attn_ctas_per_core"] == 4.0  # the source's, not ctas_decode_mmha
    for cls in ("decode_hmma", "decode_qgmma", "decode_trtllmgen", "prefill", "bf16"):
        assert kf.generation_fields(v, cls)["attn_gen_launch_warps"] == 0.0
        assert kf.generation_fields(v, cls)["attn_gen_merge_time"] == 0.0
    assert kf.generation_fields(v, "decode_qgmma")["attn_gen_tile_flops"] == v["tile_decode_qgmma"]
    assert kf.generation_fields(v, "decode_hmma")["attn_gen_tile_flops"] == 0.0
