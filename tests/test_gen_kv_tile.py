"""A generation CTA's sequence loop in whole KV tiles and its head padded (XQA mha.cu: 256-token CTA tiles, the
head padded to 64 / 128 / 256; perf/opcost.py gen_tile_rounding, gen_padded_head; ChipParams.attn_gen_kv_tile,
attn_gen_head_pad; issue 24, Round stop-29)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import chip_for
from tapeout.perf.opcost import evaluate, gen_padded_head, gen_tile_rounding

P = calibrated_params(chip_for("h200"))


def test_a_loop_runs_whole_tiles_round_robin_over_its_splits():
    # 128 keys on one CTA: one 256-token tile, twice the keys' share
    assert gen_tile_rounding(128, 1, 256) == 2.0
    # 1024 keys over 8 CTAs: 4 tiles, so the busy CTAs run one tile (256) against 128 keys each
    assert gen_tile_rounding(1024, 8, 256) == 2.0
    # 2048 keys over 11 CTAs: 8 tiles, one each: 256 against 2048 / 11
    assert gen_tile_rounding(2048, 11, 256) == pytest.approx(256 / (2048 / 11), rel=1e-12)
    # 4096 keys over 16 CTAs: one whole tile each; 8192 over 23: ceil(32 / 23) = 2 tiles against 356.2 keys
    assert gen_tile_rounding(4096, 16, 256) == 1.0
    assert gen_tile_rounding(8192, 23, 256) == pytest.approx(512 / (8192 / 23), rel=1e-12)
    assert gen_tile_rounding(100, 3, 0.0) == 1.0  # off


@settings(max_examples=60, deadline=None)
@given(keys=st.integers(1, 1 << 18), splits=st.integers(1, 128), tile=st.sampled_from([64.0, 128.0, 256.0]))
def test_rounding_never_shortens_and_whole_tiles_on_one_cta_are_exact(keys, splits, tile):
    r = float(gen_tile_rounding(keys, splits, tile))
    assert r >= 1.0
    # at most one tile per CTA more than its share, and never more than the whole tile a CTA must run
    assert r * keys / splits <= max(keys / splits + tile, tile) * (1 + 1e-12)
    assert gen_tile_rounding(tile * keys, 1, tile) == pytest.approx(1.0, rel=1e-12)


def test_the_head_pads_to_the_next_power_of_two_from_64():
    # mha.h headElems: <= 64 -> 64, <= 128 -> 128, else 256
    np.testing.assert_array_equal(gen_padded_head([32, 64, 80, 128, 192, 256], 64), [64, 64, 128, 128, 256, 256])
    np.testing.assert_array_equal(gen_padded_head([80, 192], 0), [80, 192])  # off


def _cost(p, kv_len, head):
    op = Attention(name="a", batch=1, q_len=1, kv_len=kv_len, heads=8, kv_heads=1, d_qk=head, d_v=head, causal=True,
                   act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    c = evaluate(OpTable.from_ops([op]), p)
    return float(c.memory_time[0]), float(c.dram_bytes[0])


def _stream_time(p, kv_len, head):
    return _cost(p, kv_len, head)[0]


# one CTA's stream of a fixed byte buffer per round trip (XQA's head parts), far below the DRAM's
CTA = P.replace(attn_cta_bytes_per_s=1e9, attn_ctas_per_core=16.0, core_bw_share=1e9, attn_cta_stream_knee=0.0,
                attn_gen_split_tokens=128.0, attn_gen_split_sqrt=8.0, attn_gen_split_waves=8.0, mem_overhead=0.0)


def test_a_part_filled_tile_takes_the_whole_tiles_time():
    tiled = CTA.replace(attn_gen_kv_tile=256.0)
    for kv, splits in ((2, 1), (100, 1), (256, 2)):
        # one sequence of <= 256 keys (multi-block: one sub-sequence per 128 keys): one tile, which one CTA runs:
        # its bytes at the CTA's byte rate, stretched by the whole tile over its keys (the K + V bytes per token
        # cancel); off, the keys' share of each of the splits
        t, dram = _cost(tiled, kv, 128)
        assert t == pytest.approx(dram / 1e9 * 256 / kv, rel=1e-9)
        assert _stream_time(CTA, kv, 128) == pytest.approx(dram / 1e9 / splits, rel=1e-9)
    # 4096 keys: 32 tiles over 16 CTAs (multi-block: 32 sub-sequences, at most round(sqrt(256))), 2 whole tiles each
    assert _stream_time(tiled, 4096, 128) == pytest.approx(_stream_time(CTA, 4096, 128), rel=1e-9)


def test_a_padded_head_waits_on_the_padded_parts_but_the_dram_reads_the_real_bytes():
    padded = CTA.replace(attn_gen_head_pad=64.0)
    # CTA-bound: a 192 head takes the 256 head's time; off, 3 / 4 of it
    assert _stream_time(padded, 4096, 192) == pytest.approx(_stream_time(padded, 4096, 256), rel=1e-9)
    assert _stream_time(CTA, 4096, 192) / _stream_time(CTA, 4096, 256) == pytest.approx(0.75, rel=1e-9)
    assert _cost(padded, 4096, 192)[1] == pytest.approx(4096 * 2 * 2 * 192 + 2 * 8 * 192 * 2, rel=1e-12)  # KV + Q and O


def test_the_fields_come_from_the_kernels_source_under_their_switches(monkeypatch):
    v = {n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}
    monkeypatch.setattr(kf, "GEN_KV_TILE", True)
    monkeypatch.setattr(kf, "GEN_HEAD_PAD", True)
    f = kf.generation_fields(v, "decode_hmma")
    assert (f["attn_gen_kv_tile"], f["attn_gen_head_pad"]) == (256.0, 64.0)
    for cls in ("decode_mmha", "decode_qgmma", "decode_trtllmgen", "prefill", "bf16"):
        f = kf.generation_fields(v, cls)
        assert (f["attn_gen_kv_tile"], f["attn_gen_head_pad"]) == (0.0, 0.0)
    monkeypatch.setattr(kf, "GEN_KV_TILE", False)
    monkeypatch.setattr(kf, "GEN_HEAD_PAD", False)
    f = kf.generation_fields(v, "decode_hmma")
    assert (f["attn_gen_kv_tile"], f["attn_gen_head_pad"]) == (0.0, 0.0)
    assert P.attn_gen_kv_tile == 0.0 and P.attn_gen_head_pad == 0.0  # off by default


def test_a_byte_buffer_kernel_has_no_token_rate_and_the_fit_holds_it(monkeypatch):
    v = {n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}
    monkeypatch.setattr(kf, "GEN_BYTE_BUFFERS", True)
    assert kf.byte_buffer_classes() == {"decode_hmma"}
    assert kf.generation_fields(v, "decode_hmma")["attn_cta_tokens_per_s"] == 0.0
    assert kf.generation_fields(v, "decode_qgmma")["attn_cta_tokens_per_s"] == v["tokrate_decode_qgmma"] * 1e6
    # with no token rate a CTA's seconds per token are its bytes over its byte rate alone
    p = CTA.replace(attn_cta_tokens_per_s=0.0)
    t, dram = _cost(p, 4096, 128)
    assert t == pytest.approx(dram / 1e9 / 16, rel=1e-9)  # 16 CTAs, each its share of the bytes at 1 GB/s
    monkeypatch.setattr(kf, "GEN_BYTE_BUFFERS", False)
    assert kf.byte_buffer_classes() == set()
    assert kf.generation_fields(v, "decode_hmma")["attn_cta_tokens_per_s"] == v["tokrate_decode_hmma"] * 1e6
