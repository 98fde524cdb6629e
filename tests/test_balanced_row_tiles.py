"""Equal token tiles for a GEMM whose kernel puts the tokens on the MMA's N side
(ChipParams.balanced_row_tiles, opcost.row_tile; kernel_fit.TOKEN_N_FMTS)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tapeout.hardware.params import ChipParams
from tapeout.ops import MatMul, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import Kernels, chip_for
from tapeout.perf.opcost import evaluate, row_tile


class _P:  # the three fields row_tile reads
    def __init__(self, tile_m, step, balanced, min_tile_m=16.0):
        self.tile_m, self.min_tile_m, self.balanced_row_tiles = tile_m, min_tile_m, step if balanced else 0.0


def _rt(m, p):  # a GEMM's rows (token_n)
    return row_tile(np.asarray(m, dtype=float), p, True)


def test_closed_form_token_tiles():
    # 129 tokens on 128-row tiles: two tiles of ceil(64.5 / 8) x 8 = 72 rows (144 computed), not 2 x 128
    p = _P(128.0, 8.0, 1.0)
    assert np.allclose(_rt([129.0, 257.0, 4097.0], p), [72.0, 88.0, 128.0])
    # 257 = 3 tiles of 88 (264 rows); 4097 = 33 tiles of ceil(124.15 / 8) x 8 = 128
    # at or below one tile the flag changes nothing but the step: m padded to 8, not min_tile_m (16)
    assert np.allclose(_rt([1.0, 9.0, 128.0], p), [8.0, 16.0, 128.0])
    # off: every tile of a GEMM above 128 rows is the whole 128 rows, padded to min_tile_m below it
    assert np.allclose(_rt([129.0, 257.0], _P(128.0, 8.0, 0.0)), 128.0)
    assert np.allclose(_rt([1.0, 17.0], _P(128.0, 8.0, 0.0)), [16.0, 32.0])


def test_token_tiles_are_for_gemm_rows_only():
    """An attention op's rows (token_n False: context query tiles) keep min_tile_m whatever the flag."""
    p = _P(128.0, 8.0, 1.0)
    assert np.allclose(row_tile(np.array([9.0, 129.0]), p), [16.0, 128.0])
    assert np.allclose(row_tile(np.array([9.0, 129.0]), p, np.array([False, True])), [16.0, 72.0])


@given(st.integers(1, 20000), st.sampled_from([64.0, 128.0, 256.0]), st.sampled_from([8.0, 16.0]))
def test_equal_tiles_never_pad_more_than_whole_tiles(m, tile_m, step):
    on, off = (float(_rt([float(m)], _P(tile_m, step, f, min_tile_m=step))[0]) for f in (1.0, 0.0))
    count = np.ceil(m / tile_m)
    # as many tiles as whole tiles would take, each at most the chip's tile, a multiple of the step
    assert np.ceil(m / on) == count and on <= tile_m and abs(on / step - round(on / step)) < 1e-9
    # every row computed, less than one step of padding per tile, never more than whole tiles pad
    assert count * on >= m and count * on < m + count * step
    assert count * on <= np.ceil(m / off) * off


def _item(fmt: str, m: int, system: str = "h200_sxm", chip: str = "h200"):
    row = (chip, system, "gemm", fmt, "", m, 8192, 8192, 0, 0, 0, 0, 0, 0, 1e-4, "trtllm", "1")
    return kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]


def _priced(item):  # the ChipParams the fit prices an item with (kernel_fit.item_params)
    return kf.item_params(item, kf.x_of({p[0]: p[1] for p in kf.PARAMS}))


def test_only_the_per_tensor_fp8_gemm_gets_token_tiles():
    assert float(_priced(_item("fp8", 129)).balanced_row_tiles) == kf.MMA_N_STEP
    for fmt in ("bf16", "fp8_block"):
        assert float(_priced(_item(fmt, 129)).balanced_row_tiles) == 0.0
    # the nvfp4 collector kernel keeps its fixed 128-row tile
    nv = _priced(_item("nvfp4", 129, "b200_sxm", "b200"))
    assert float(nv.balanced_row_tiles) == 0.0 and float(nv.min_tile_m) == 128.0


def test_the_default_chip_params_keep_whole_tiles():
    assert ChipParams.__dataclass_fields__["balanced_row_tiles"].default == 0.0


def test_a_compute_bound_gemm_one_token_over_a_tile_costs_its_rows():
    """H200, 129 x 8192 x 8192 FP8, one wave either way (2 x 64 tiles <= 132 SMs, no split-K, no
    per-unit overheads): the MMA time scales with the rows the tiles compute, 2 x 72 against
    2 x 128, so whole tiles take 128 / 72 as long."""
    base = calibrated_params(chip_for("h200")).replace(max_split_k=1.0, tile_k_overhead=0.0, tile_overhead=0.0,
                                                          epilogue_exposed=0.0, mem_overhead=0.0, kernel_overhead=0.0)
    table = OpTable.from_ops([MatMul(name="g", m=129, n=8192, k=8192, a_dtype="fp8", w_dtype="fp8", out_dtype="bf16",
                                     math_dtype="fp8")])
    on = evaluate(table, base.replace(balanced_row_tiles=8.0), check_support=False)
    off = evaluate(table, base, check_support=False)
    ratio = float(np.ravel(off.compute_time)[0]) / float(np.ravel(on.compute_time)[0])
    assert np.isclose(ratio, 128.0 / 72.0, rtol=1e-6)
