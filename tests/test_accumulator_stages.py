"""Accumulator stages and the exposed GEMM epilogue (perf/opcost.accumulator_stages, epilogue_time).

A core whose matrix unit accumulates in a memory apart from the register file (Blackwell SM100 /
SM103 tensor memory: 128 lanes x 512 columns of 32 bits per SM, CUTLASS sm100_umma_builder.inl)
keeps several output tiles' FP32 accumulators; with two or more, the epilogue of one tile drains
while the MMA fills the next, so no part of the output store is serialised with the math."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware import get_chip
from tapeout.hardware.params import accum_mem_bytes
from tapeout.ops import MatMul, OpGraph
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import Kernels
from tapeout.perf.opcost import accumulator_stages

B200 = calibrated_params(get_chip("b200")).replace(tile_overhead=0.0)
H100 = calibrated_params(get_chip("h100-sxm")).replace(tile_overhead=0.0)


def test_stages_follow_cutlass_builder_formula():
    """sm100_umma_builder.inl: AccumulatorPipelineStageCount = 128 x 512 / (CTA tile M x N)."""
    assert B200.accum_mem_bytes == 128 * 512 * 4
    assert float(accumulator_stages(B200, 128.0, 128.0)) == 4.0
    assert float(accumulator_stages(B200, 128.0, 256.0)) == 2.0
    assert float(accumulator_stages(B200, 256.0, 256.0)) == 1.0
    # accumulators in registers: one tile at a time, whatever the tile
    assert float(accumulator_stages(H100, 64.0, 64.0)) == 1.0
    # a known kernel's own count wins (the block-scaled builder's 1 at N = 256)
    assert float(accumulator_stages(B200.replace(accum_stages=1.0), 128.0, 128.0)) == 1.0


def test_only_the_tensor_memory_families_describe_it():
    for chip in ("b200", "gb200"):
        assert calibrated_params(kernels_db.chip_for(chip)).accum_mem_bytes == 256 * 1024
    for chip in ("b300", "gb300"):  # off-catalog, family nvidia-blackwell (SM 10.3)
        assert calibrated_params(kernels_db.chip_for(chip)).accum_mem_bytes == 256 * 1024
    for chip in ("h100-sxm", "h200", "l40s", "a100-sxm", "rtx-pro-6000"):  # RTX Blackwell: SM 12.0, register MMAs
        assert calibrated_params(kernels_db.chip_for(chip)).accum_mem_bytes == 0.0


def test_a_negative_tensor_memory_is_refused():
    with pytest.raises(TapeoutError, match="tensor_memory_kib"):
        accum_mem_bytes(-256)


def _store(p, m, n):
    """One tile store per core per wave, BF16 output (the closed form of opcost.epilogue_time)."""
    tiles = np.ceil(m / p.tile_m) * np.ceil(n / p.tile_n)
    waves = np.ceil(tiles / p.num_cores)
    return waves * p.num_cores * p.tile_m * p.tile_n * 2.0 / (p.mem_bw * p.eff_mem)


def test_double_buffered_accumulators_hide_the_epilogue():
    # 8192 x 8192 output: 4,096 tiles of 128 x 128 (> cores: no K split)
    g = OpGraph("g", [MatMul(name="g", m=8192, n=8192, k=4096)])
    base = float(evaluate(g, B200).compute_time[0])
    assert float(evaluate(g, B200.replace(epilogue_exposed=0.5)).compute_time[0]) == base
    # the same chip with a one-stage kernel pays the store, as a register-accumulator chip does
    one = float(evaluate(g, B200.replace(epilogue_exposed=0.5, accum_stages=1.0)).compute_time[0])
    assert one - base == pytest.approx(0.5 * _store(B200, 8192, 8192), rel=1e-9)
    h = float(evaluate(g, H100.replace(epilogue_exposed=0.5)).compute_time[0]) - float(evaluate(g, H100).compute_time[0])
    assert h == pytest.approx(0.5 * _store(H100, 8192, 8192), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 16384), st.integers(16, 16384), st.integers(16, 16384), st.floats(0.0, 1.0))
def test_more_accumulator_stages_never_slow_a_gemm(m, n, k, f):
    """With the epilogue overlapped the GEMM is never slower than with it serialised, and never
    faster than the same chip with no epilogue cost at all (its bytes stay in the memory term)."""
    g = OpGraph("g", [MatMul(name="g", m=m, n=n, k=k)])
    serial = float(evaluate(g, B200.replace(epilogue_exposed=f, accum_stages=1.0)).time[0])
    overlap = float(evaluate(g, B200.replace(epilogue_exposed=f)).time[0])
    free = float(evaluate(g, B200.replace(epilogue_exposed=0.0)).time[0])
    assert free == overlap <= serial


def _nvfp4_group(m: int, n: int, k: int):
    row = ("b200", "b200_sxm", "gemm", "nvfp4", "", m, n, k, 0, 0, 0, 0, 0, 0, 1e-5, "trtllm", "1")
    return kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]


def test_the_collectors_nvfp4_kernel_keeps_one_accumulator_stage():
    """CUTLASS sm100_blockscaled_umma_builder.inl: AccumulatorPipelineStageCount = (MMA_N == 256) ? 1 : 2,
    so the TensorRT-LLM default nvfp4 kernel (128 x 256 tile) serialises its epilogue on B200."""
    tiles = kernels_db.db_config()["trtllm_nvfp4_default_tile"]["tiles"]
    assert all(t["accum_stages"] == (1 if t["n"] == 256 else 2) for t in tiles.values())
    g = _nvfp4_group(8192, 8192, 4096)
    assert g["params"].accum_stages == 1.0
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    i = kf.NAMES.index("epilogue_exposed")
    x0, x1 = x.copy(), x.copy()
    x0[i], x1[i] = 0.0, 1.0
    assert float(kf.predict_group(g, x1)[0]) > float(kf.predict_group(g, x0)[0])


def _bf16_group(system: str, chip: str):
    row = (chip, system, "gemm", "bf16", "", 4096, 8192, 1024, 0, 0, 0, 0, 0, 0, 1e-5, "trtllm", "1")
    return kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]


def test_the_fitted_exposed_fraction_prices_only_register_accumulator_chips():
    """In the kernel fit a dense BF16 GEMM on B200 does not see epilogue_exposed; on H200 it does."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    i = kf.NAMES.index("epilogue_exposed")
    x0, x1 = x.copy(), x.copy()
    x0[i], x1[i] = 0.0, 1.0
    b = _bf16_group("b200_sxm", "b200")
    assert float(kf.predict_group(b, x1)[0]) == float(kf.predict_group(b, x0)[0])
    h = _bf16_group("h200_sxm", "h200")
    assert float(kf.predict_group(h, x1)[0]) > float(kf.predict_group(h, x0)[0])


def test_tensor_memory_is_described_only_for_the_tcgen05_parts():
    """Tensor memory exists on SM 10.x (B200, GB200, B300, GB300); the RTX Blackwell parts (SM 12.0)
    accumulate in registers (CUTLASS sm120_mma_builder.inl), so they carry none (same family data)."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params

    for c in ("b200", "gb200", "b300", "gb300"):
        assert calibrated_params(get_chip(c)).accum_mem_bytes == 256 * 1024
    for c in ("rtx-pro-6000", "h200", "h100-sxm"):
        assert calibrated_params(get_chip(c)).accum_mem_bytes == 0.0
