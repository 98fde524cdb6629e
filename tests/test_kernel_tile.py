"""The nvfp4 GEMM kernel the kernel database's TensorRT-LLM collector times (perf/kernel_tile.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.hardware.catalog import get_chip
from tapeout.hardware.params import ChipParams
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_tile import (collector_tile, fp8_block_math_warpgroups, fp8_block_multicast, fp8_block_quant_rounds,
                                      fp8_block_rule, fp8_block_stages, fp8_block_tile, k_padding, operand_stream_bytes, operand_bytes_per_k, operand_feed, store_fill)
from tapeout.perf.kernels_db import Kernels
from tapeout.perf.opcost import row_tile


def test_k_padding_closed_form():
    # SM 10.3's 768-deep MMA tile: k = 256 is one third of a tile, 1024 one and a third
    assert np.allclose(k_padding([256, 512, 768, 1024, 1536, 4096], 768.0), [3.0, 1.5, 1.0, 1.5, 1.0, 4608 / 4096])
    # SM 10.0's 128-deep tile pads none of the database's K (all multiples of 128)
    assert np.allclose(k_padding([128, 256, 4096, 51200], 128.0), 1.0)


@given(st.integers(1, 10**6), st.sampled_from([64.0, 128.0, 256.0, 768.0]))
def test_padded_k_is_the_next_whole_tile(k, tile_k):
    padded = float(k_padding(k, tile_k)) * k
    assert padded >= k and padded < k + tile_k
    assert abs(padded / tile_k - round(padded / tile_k)) < 1e-9


def test_k_padding_rejects_a_zero_tile():
    with pytest.raises(ValueError, match="tile_k"):
        k_padding(256, 0.0)


def test_collector_tile_follows_the_compute_capability():
    """CUTLASS's default nvfp4 config (fp4Gemm.cpp getDefaultGemmConfig): 128x256 CTA on both
    Blackwell parts, K 128 on SM 10.0 and 3 x 256 on SM 10.3; only TensorRT-LLM's nvfp4 GEMM."""
    for system in ("b200_sxm", "gb200"):
        assert collector_tile(system, "trtllm", "nvfp4") == {"m": 128.0, "n": 256.0, "k": 128.0, "stage_k": 128.0,
                                                             "accum_stages": 1.0}
    for system in ("b300_sxm", "gb300"):
        assert collector_tile(system, "trtllm", "nvfp4") == {"m": 128.0, "n": 256.0, "k": 768.0, "stage_k": 256.0,
                                                             "direct_store_bytes": 16.0, "accum_stages": 1.0}
    assert collector_tile("gb300", "sglang", "nvfp4") is None  # FlashInfer CuTe-DSL kernels, not this one
    assert collector_tile("gb300", "trtllm", "bf16") is None
    assert collector_tile("h200_sxm", "trtllm", "nvfp4") is None  # SM 9.0: no nvfp4 default tile
    assert collector_tile("no_such_system", "trtllm", "nvfp4") is None


def test_every_tile_rule_and_compute_capability_is_sourced():
    cfg = kernels_db.db_config()
    rule = cfg["trtllm_nvfp4_default_tile"]
    assert "fp4Gemm.cpp" in rule["source"] and "nvfp4_nvfp4_gemm_template_sm100.h" in rule["source"]
    ccs = {str(s["compute_capability"]) for s in cfg["systems"].values() if "compute_capability" in s}
    fp8_block = cfg["trtllm_fp8_block_tile"]
    assert "fp8_blockscale_gemm_kernel.cuh" in fp8_block["source"] and "jit_utils.cuh" in fp8_block["source"]
    assert ccs <= set(rule["tiles"]) | set(fp8_block["compute_capabilities"])


def _group(system: str, chip: str, stack: str, m: int, n: int, k: int):
    row = (chip, system, "gemm", "nvfp4", "", m, n, k, 0, 0, 0, 0, 0, 0, 1e-5, stack, "1")
    return kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]


def test_fit_prices_the_collectors_kernel():
    """GB300, trtllm: the group carries the 128 x 256 tile, no K splits, and k = 256 at a third
    of the MMA rate; the same kernel under another stack keeps the chip's own tiles."""
    g = _group("gb300", "gb300", "trtllm", 4096, 4096, 256)
    assert g["no_split"] and g["params"].tile_n == 256.0
    # a third of the MMA's work is the GEMM's, at the shared-memory feed (128 B/clk over
    # 8192 BF16 FLOP/clk per SM; FP4 at 15000 / 2500 x BF16's rate needs 384 x 0.5625 B per
    # 2 x 128 x 256 FLOP, i.e. 162 B/clk): 1/3 x 128/162
    assert np.allclose(g["table"].eff_scale[0], 1.0 / 3.0 * 128.0 / 162.0)
    other = _group("gb300", "gb300", "sglang", 4096, 4096, 256)
    assert not other["no_split"] and other["params"].tile_n == 128.0 and np.allclose(other["table"].eff_scale[0], 1.0)


def test_one_output_tile_runs_on_one_sm_without_k_splits():
    """B200, m = 128, n = 256, k = 65536: one 128 x 256 output tile. The generic model splits its
    K over the idle SMs (up to split_nvfp4 = 8 at the start values); the collector's kernel cannot,
    so its math takes at least 8x as long and the GEMM is compute-bound on one SM."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    one = float(kf.predict_group(_group("b200_sxm", "b200", "trtllm", 128, 256, 65536), x)[0])
    split = float(kf.predict_group(_group("b200_sxm", "b200", "sglang", 128, 256, 65536), x)[0])
    assert one > 4.0 * split
    g = _group("b200_sxm", "b200", "trtllm", 128, 256, 65536)
    p = kf.params_for(g["params"], x, "nvfp4")
    one_sm_rate = float(np.asarray(p.peak_flops)[kf.PEAK_KEYS.index("fp4")]) / float(p.num_cores)
    assert one >= 2.0 * 128 * 256 * 65536 / one_sm_rate



def test_few_tokens_compute_the_whole_128_row_tile():
    """The 1-SM nvfp4 MMA is 128 rows (nvfp4_nvfp4_gemm_template_sm100.h: M-mode 128 for a 1-CTA
    cluster): on the collector's kernel one token pads to the 128-row tile, while the generic model
    shrinks the row tile to a multiple of 16 (opcost.row_tile)."""
    rule = _group("b200_sxm", "b200", "trtllm", 1, 4096, 4096)["params"]
    generic = _group("b200_sxm", "b200", "sglang", 1, 4096, 4096)["params"]
    assert np.allclose(row_tile(np.array([1.0, 17.0, 128.0, 129.0]), rule), 128.0)
    assert np.allclose(row_tile(np.array([1.0, 17.0, 128.0, 129.0]), generic), [16.0, 32.0, 128.0, 128.0])


def test_a_pipeline_stage_is_whole_k_tiles_apart():
    """CUTLASS block-scaled collectives: SM 10.0 stages one CTA K tile; SM 10.3 stages 128 bytes of
    K (256 FP4 elements at 4 bits), three to a 768-deep k tile (load_ab BuffersPerKtile = 3)."""
    tiles = kernels_db.db_config()["trtllm_nvfp4_default_tile"]["tiles"]
    assert tiles["10.0"]["stage_k"] == tiles["10.0"]["k"]
    assert tiles["10.3"]["stage_k"] * 4 / 8 == 128 and tiles["10.3"]["k"] == 3 * tiles["10.3"]["stage_k"]
    for t in tiles.values():
        assert t["k"] % t["stage_k"] == 0



def test_operand_bytes_per_k_closed_form():
    # nvfp4: half a byte per element plus one E4M3 scale per 16; bf16: two bytes, no scales
    assert operand_bytes_per_k(128, 256, "nvfp4") == pytest.approx(384 * (0.5 + 1 / 16))
    assert operand_bytes_per_k(128, 128, "bf16") == pytest.approx(512.0)


def _blackwell(bf16: float, fp4: float) -> ChipParams:
    p = calibrated_params(get_chip("b200"))
    return p.with_peak("bf16", bf16 * 1e12).with_peak("fp4", fp4 * 1e12)


def test_feed_reproduces_the_measured_bf16_bound():
    """The source's own statement (SS-mode tcgen05.mma with N < 128 is shared-memory bound at
    ~128 B/clk): a 1-SM BF16 128 x N tile is unbound at N = 128 and 256, bound below."""
    p = calibrated_params(get_chip("b200"))
    assert p.mma_feed_bytes_per_bf16_flop == pytest.approx(128 / 8192)
    assert operand_feed({"m": 128, "n": 256}, "bf16", p) == 1.0
    assert operand_feed({"m": 128, "n": 128}, "bf16", p) == pytest.approx(1.0)
    assert operand_feed({"m": 128, "n": 64}, "bf16", p) == pytest.approx(128 / 192)


def test_feed_binds_only_the_ultra_fp4_rate():
    """B200 (FP4 4x BF16) needs 108 of 128 B/clk on the 128 x 256 tile; the Ultra's 6x needs 162."""
    tile = {"m": 128, "n": 256}
    assert operand_feed(tile, "nvfp4", _blackwell(2250, 9000)) == 1.0
    assert operand_feed(tile, "nvfp4", _blackwell(2500, 15000)) == pytest.approx(128 / 162)


@given(st.floats(1.0, 16.0), st.sampled_from([64.0, 128.0, 256.0]), st.sampled_from([64.0, 128.0, 256.0]))
def test_feed_is_a_fraction_that_falls_with_the_rate(ratio, tm, tn):
    lo, hi = (operand_feed({"m": tm, "n": tn}, "nvfp4", _blackwell(1000, 1000 * r)) for r in (ratio, 2 * ratio))
    assert 0 < hi <= lo <= 1.0
    assert hi == 1.0 or hi < lo  # once bound, twice the rate gives a smaller share of it


def test_a_chip_without_a_described_feed_is_not_limited():
    p = calibrated_params(get_chip("h200"))  # no shared-memory feed in its family's data
    assert p.mma_feed_bytes_per_bf16_flop == 0.0
    assert operand_feed({"m": 128, "n": 256}, "nvfp4", p.with_peak("fp4", 1e18)) == 1.0


def test_a_negative_feed_is_refused():
    from tapeout.errors import TapeoutError
    from tapeout.hardware import params as hp

    with pytest.raises(TapeoutError, match="smem_mma_bytes_per_clk"):
        hp.mma_feed_ratio(-128, 8192)


def test_direct_store_vector_is_the_templates_128_bit_alignment():
    """SM 10.3's NoSmem epilogue stores VD = min(AlignmentD, run) elements per thread; the template's
    alignment is 128 bits of the BF16 output (AlignmentC = 128 / sizeof_bits<OutElementType>): 8 x 2 B."""
    tiles = kernels_db.db_config()["trtllm_nvfp4_default_tile"]["tiles"]
    assert tiles["10.3"]["direct_store_bytes"] == 128 / 8
    assert "direct_store_bytes" not in tiles["10.0"]  # TMA epilogue: whole lines


def test_store_fill_half_a_sector_on_sm103_whole_lines_on_sm100():
    """One row per thread, 16 B per thread: a warp store touches 32 sectors of 32 B, each half full
    (CUDA C++ Best Practices Guide: 32-byte transactions); the SM 10.0 TMA store fills them."""
    p = calibrated_params(get_chip("b200"))
    assert p.store_sector_bytes == 32.0
    assert store_fill(collector_tile("gb300", "trtllm", "nvfp4"), p) == pytest.approx(0.5)
    assert store_fill(collector_tile("b300_sxm", "trtllm", "nvfp4"), p) == pytest.approx(0.5)
    assert store_fill(collector_tile("b200_sxm", "trtllm", "nvfp4"), p) == 1.0
    assert store_fill(None, p) == 1.0
    g = _group("gb300", "gb300", "trtllm", 4096, 4096, 256)
    assert g["params"].epilogue_store_fill == pytest.approx(0.5)
    assert _group("b200_sxm", "b200", "trtllm", 4096, 4096, 256)["params"].epilogue_store_fill == 1.0
    assert _group("gb300", "gb300", "sglang", 4096, 4096, 256)["params"].epilogue_store_fill == 1.0


@given(st.sampled_from([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]), st.sampled_from([32.0, 64.0, 128.0]))
def test_store_fill_is_a_fraction_of_one_transaction(vec, sector):
    p = calibrated_params(get_chip("b200")).replace(store_sector_bytes=sector)
    f = store_fill({"direct_store_bytes": vec}, p)
    assert 0 < f <= 1.0
    assert f == 1.0 or f == pytest.approx(vec / sector)


def test_a_chip_without_a_described_store_sector_is_not_penalised():
    p = calibrated_params(get_chip("h200"))  # no store transaction in its family's data
    assert p.store_sector_bytes == 0.0
    assert store_fill({"direct_store_bytes": 16.0}, p) == 1.0


def test_a_negative_store_sector_is_refused():
    from tapeout.errors import TapeoutError
    from tapeout.hardware import params as hp

    with pytest.raises(TapeoutError, match="store_sector_bytes"):
        hp.store_sector(-32)


def test_the_feed_is_described_only_for_chips_whose_bf16_peak_it_matches():
    """mma_bf16_flops_per_clk x SMs x clock must give the chip's own dense BF16 peak at a real clock
    (1.0-2.6 GHz): true for the SM 10.x parts it is sourced for; an RTX Blackwell (SM 12.0, no tcgen05,
    ~1/8 the per-SM BF16 rate) or Rubin carries no feed rather than the datacenter part's."""
    from tapeout.hardware.catalog import all_chips

    described = []
    for c in all_chips():
        flops = c.get("mma_bf16_flops_per_clk")
        if flops is None:
            assert calibrated_params(c).mma_feed_bytes_per_bf16_flop == 0.0
            continue
        described.append(c.id)
        clock_ghz = c.peak_tflops("bf16") * 1e12 / (float(c.get("num_cores")) * float(flops)) / 1e9
        assert 1.0 <= clock_ghz <= 2.6, (c.id, clock_ghz)
    assert set(described) >= {"b200", "gb200", "b300", "gb300"}
    assert not {"rtx-pro-6000", "rtx-pro-4500", "rubin"} & set(described)


def test_fp8_block_kernel_only_where_the_database_says_it_ran():
    """TensorRT-LLM's fp8_block GEMM on SM 9.0 is the DeepGEMM kernel (gemm_dispatch); Blackwell's
    block-scaled MMA kernel and the other formats and stacks are not described."""
    assert fp8_block_rule("h200_sxm", "trtllm", "fp8_block") is not None
    assert fp8_block_rule("h100_sxm", "trtllm", "fp8_block") is not None
    assert fp8_block_rule("b200_sxm", "trtllm", "fp8_block") is None
    assert fp8_block_rule("h200_sxm", "trtllm", "fp8") is None
    assert fp8_block_rule("h200_sxm", "vllm", "fp8_block") is None
    assert fp8_block_rule("l40s", "trtllm", "fp8_block") is None


@pytest.mark.parametrize("m, n, tile", [
    (1, 4096, (16, 128)),      # swap-AB below 32 tokens: 128 weight rows x the smallest token block
    (31, 4096, (16, 128)),     # 32 x 2 = 64 tiles fill the wave better than 32 x 1 at block 32
    (32, 4096, (64, 32)),      # normal: 64-row block; 128 tiles of 32 columns is the fewest in one wave
    (65, 7168, (128, 56)),     # 128-row block above 64 rows; 128 tiles of 56 columns in one wave
    (4096, 4096, (128, 128)),  # 8 waves only at block_n 128
])
def test_fp8_block_tile_closed_form(m, n, tile):
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    assert tuple(float(v) for v in fp8_block_tile(m, n, 132.0, rule)) == tile


@given(st.integers(1, 20000), st.integers(128, 70000), st.sampled_from([78.0, 114.0, 132.0]))
def test_fp8_block_tile_takes_the_fewest_waves(m, n, cores):
    """No other N-side block of the rule runs the GEMM in fewer waves of tiles."""
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    tm, tn = (float(v) for v in fp8_block_tile(m, n, cores, rule))
    swap = m < rule["swap_ab_below_m"]
    side_m, side_n, bm, bn = (n, m, tn, tm) if swap else (m, n, tm, tn)
    waves = lambda b: np.ceil(np.ceil(side_m / bm) * np.ceil(side_n / b) / cores)  # noqa: E731
    assert all(waves(bn) <= waves(b) for b in range(16, 129, 8))
    assert bm == (64.0 if side_m <= 64 else 128.0)


@pytest.mark.parametrize("m, tile, k, stages", [
    # get_smem_size: 128 x 128 tiles, 33,296 B a stage + 32 KiB output tile: 5 stages in 232,448 B
    (4096, (128, 128), 4096, 5),
    # swap-AB 16-token x 128-row tile, 18,576 B a stage: all 8
    (8, (16, 128), 7168, 8),
    # N block 56 does not divide 128: at most 6 stages (15,632 B each + 7 KiB output and scales)
    (64, (64, 56), 4096, 6),
])
def test_fp8_block_stages_closed_form(m, tile, k, stages):
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    assert float(fp8_block_stages(m, *tile, k, rule)) == stages


def test_fp8_block_multicast_needs_many_tokens_and_whole_clusters():
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    assert float(fp8_block_multicast(4096, 4096, 128, 132.0, rule)) == 2.0
    assert float(fp8_block_multicast(512, 4096, 128, 132.0, rule)) == 1.0  # fewer than 1024 tokens
    assert float(fp8_block_multicast(4096, 4096 + 128, 128, 132.0, rule)) == 1.0  # an odd number of N blocks
    assert float(fp8_block_multicast(4096, 4096, 128, 133.0, rule)) == 1.0  # an odd SM count


def test_operand_stream_closed_form():
    # 256 x 2048 on 128 x 32 tiles: 2 x 64 tiles, each reads 160 rows of 65536 FP8 bytes plus one
    # 4-byte scale per 128 (fp8_block), i.e. 1.34 GB, which the 9.8 TB/s H200 L2 serves in ~137 us
    b = float(operand_stream_bytes(256, 2048, 65536, 128, 32, "fp8_block"))
    assert b == pytest.approx(128 * 65536 * 160 * (1 + 4 / 128))
    # a multicast A tile is read once per two CTAs
    b2 = float(operand_stream_bytes(4096, 4096, 1024, 128, 128, "fp8_block", 2.0))
    assert b2 == pytest.approx(32 * 32 * 1024 * (64 + 128) * (1 + 4 / 128))


@given(st.integers(1, 20000), st.integers(128, 70000), st.integers(128, 60000))
def test_operand_stream_is_at_least_the_operands(m, n, k):
    """Every tile reads its operand rows over the whole K: at least A and B once each."""
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    tm, tn = fp8_block_tile(m, n, 132.0, rule)
    mc = fp8_block_multicast(m, n, tn, 132.0, rule)
    assert float(operand_stream_bytes(m, n, k, tm, tn, "fp8_block", mc)) >= (m + n) * k * (1 + 4 / 128) * (1 - 1e-12)



@pytest.mark.parametrize("m, k, cores, rounds", [
    # scale_1x128_kernel on 132 SMs x 8 CTAs x 256 threads = 8,448 warps, one 1 x 128 block per warp per round
    (8, 7168, 132.0, 1),            # 448 blocks: one round
    (151, 7168, 132.0, 2),          # 8,456 blocks: 8 past one round
    (4096, 51200, 132.0, 194),      # 1,638,400 blocks / 8,448 = 193.9
    (4096, 51200, 78.0, 329),       # H20's 78 SMs: 4,992 warps
])
def test_fp8_block_quant_rounds_closed_form(m, k, cores, rounds):
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    assert float(fp8_block_quant_rounds(m, k, cores, rule)) == rounds


@given(st.integers(1, 70000), st.integers(1, 70000), st.sampled_from([78.0, 114.0, 132.0]))
def test_fp8_block_quant_rounds_cover_every_block_once(m, k, cores):
    """Rounds x the grid's warps hold every 1 x 128 block, one round fewer would not."""
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    warps = cores * 8 * 256 / 32
    blocks = m * -(-k // 128)
    r = float(fp8_block_quant_rounds(m, k, cores, rule))
    assert r * warps >= blocks > (r - 1) * warps


@pytest.mark.parametrize("m, n, wgs", [
    (48, 7168, 1),    # 32..64 tokens: a 64-row M block, one math warpgroup
    (65, 7168, 2),    # above 64 tokens: 128 rows, two
    (8, 7168, 2),     # swap-AB: the M block is the weight rows' 128
    (8, 64, 1),       # swap-AB over at most 64 weight rows: 64
])
def test_fp8_block_math_warpgroups_follow_the_m_block(m, n, wgs):
    rule = fp8_block_rule("h200_sxm", "trtllm", "fp8_block")
    tm, tn = fp8_block_tile(m, n, 132.0, rule)
    assert float(fp8_block_math_warpgroups(m, tm, tn, rule)) == wgs


def test_exposed_promotion_closed_form():
    # one warpgroup: its promotion follows its MMAs; two: only what exceeds the other's MMAs shows
    assert np.allclose(kf.exposed_promotion(np.array([2.0, 2.0, 30.0]), np.array([10.0, 10.0, 10.0]),
                                            np.array([1.0, 2.0, 2.0])), [2.0, 0.0, 10.0])


@given(st.floats(0, 1e3), st.floats(0, 1e3), st.sampled_from([1.0, 2.0, 4.0]))
def test_exposed_promotion_is_between_none_and_all_of_it(promote, mma, wgs):
    e = float(kf.exposed_promotion(promote, mma, wgs))
    assert 0.0 <= e <= promote + 1e-9
    assert e == pytest.approx(promote) if wgs == 1.0 else True
