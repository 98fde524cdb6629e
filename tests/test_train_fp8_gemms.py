"""Training's per-tensor FP8 GEMMs from the installed database's kernel table (perf/train_fp8_gemms, MEASURED_FP8_TRAINING,
off by default: the opt-in path reads the tapeout[kernels] extra, never a copy on file)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _db import needs_db
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul
from tapeout.perf import train_clock, train_fp8_gemms
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.training import OpGraph

FP8_PEAK = 1979e12  # H100-SXM dense FP8 TFLOP/s x 1e12 (NVIDIA H100 datasheet, SXM5: 3,958 with sparsity)
# the database's own grid values (aiconfigurator-core 0.12.0 h100_sxm gemm_perf): no interpolation
GRID_M = (2048, 4096, 8192, 16384, 32768)
GRID_SIDE = (1024, 2048, 3072, 4096, 8192, 12288, 16384)


def gemm(m, n, k, fmt):
    return MatMul(name="g", m=m, n=n, k=k, a_dtype=fmt, w_dtype=fmt, math_dtype=fmt)


def train_time(op, chip_id="h100-sxm", on=True, monkeypatch=None):
    chip = get_chip(chip_id)
    old = train_fp8_gemms.MEASURED_FP8_TRAINING
    train_fp8_gemms.MEASURED_FP8_TRAINING = on
    try:
        return train_clock.graph_time(OpGraph(name="g", ops=[op]), calibrated_params(chip), train_clock.board_power(chip))
    finally:
        train_fp8_gemms.MEASURED_FP8_TRAINING = old


def test_switch_off_gives_no_table():
    assert train_fp8_gemms.training_gemms(get_chip("h100-sxm"), on=False) is None


@needs_db
def test_table_only_for_measured_unheld_full_power_chips(session_chips):
    h100 = get_chip("h100-sxm")
    assert train_fp8_gemms.training_gemms(h100, on=True) is not None
    assert train_fp8_gemms.training_gemms(get_chip("h200"), on=True) is not None
    # H100 PCIe: no measured table on file (not a system of the database); a power-capped H100: not what the collector timed
    assert train_fp8_gemms.training_gemms(get_chip("h100-pcie"), on=True) is None
    assert train_fp8_gemms.training_gemms(h100.power_capped(500), on=True) is None
    # a calibration that holds the chip out prices it as if its kernels had never been measured
    assert train_fp8_gemms.training_gemms(h100, {"held_out": "h100-sxm"}, on=True) is None
    # a board variant of the same die (the 4-GPU HGX mesh) takes its die's table
    assert train_fp8_gemms.training_gemms(h100.with_direct_links(4, "test"), on=True) is not None


@needs_db
def test_view_answers_fp8_only():
    view = train_fp8_gemms.training_gemms(get_chip("h100-sxm"), on=True)
    p = calibrated_params(get_chip("h100-sxm"))
    assert view.time(gemm(8192, 4096, 4096, "bf16"), p) is None
    assert view.time(gemm(8192, 4096, 4096, "fp8_block"), p) is None
    assert view.time(gemm(8192, 4096, 4096, "fp8"), p) > 0


@needs_db
def test_fp8_gemm_priced_as_measured_at_sustained_clock():
    """Closed form: the step's FP8 GEMM = the table's quantize-less burst time stretched by 1 / (MSMF / burst MAMF)
    beyond the model's memory time (train_clock.measured_at_sustained); BF16 keeps the fit's time."""
    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    view = train_fp8_gemms.training_gemms(chip, on=True)
    op = gemm(16384, 8192, 1024, "fp8")
    ct = evaluate(OpGraph(name="g", ops=[op]), p)
    t_mem = float(np.max(np.asarray(ct.memory_time, dtype=float)))
    keep = train_clock.burst_to_sustained(chip)[4]  # PEAK_KEYS index of fp8
    t_b = view.time(op, p)
    want = t_b + max(0.0, t_b / keep - max(t_b, t_mem))
    assert train_time(op, on=True) == pytest.approx(want, rel=1e-12)
    bf = gemm(16384, 8192, 1024, "bf16")
    assert train_time(bf, on=True) == pytest.approx(train_time(bf, on=False), rel=1e-12)


@needs_db
@settings(max_examples=25, deadline=None)
@given(m=st.sampled_from(GRID_M), n=st.sampled_from(GRID_SIDE), k=st.sampled_from(GRID_SIDE))
def test_measured_fp8_efficiency_at_most_one_and_fit_never_slower_than_measured_at_narrow_sides(m, n, k):
    """Efficiency <= 1: no FP8 GEMM is priced faster than the dense FP8 peak. And the measured FP8 GEMM is never
    faster than the fit by more than 10% (the fit is the optimistic one, most at narrow N / K: module docstring)."""
    op = gemm(m, n, k, "fp8")
    t_on, t_off = train_time(op, on=True), train_time(op, on=False)
    assert op.flops / t_on <= FP8_PEAK
    assert op.flops / t_off <= FP8_PEAK
    assert t_on >= 0.9 * t_off


@needs_db
@settings(max_examples=25, deadline=None)
@given(m=st.sampled_from(GRID_M), n=st.sampled_from(GRID_SIDE[1:]), k=st.sampled_from(GRID_SIDE[1:]))
def test_fp8_not_slower_than_bf16_where_both_sides_at_least_2048(m, n, k):
    """A chip with a 2x FP8 rate: the FP8 GEMM (measured) is no slower than the BF16 one (fitted) at the same shape
    once N and K are >= 2,048. The stated exception, measured: a 1,024 side, where the database's FP8 GEMM runs at
    about the BF16 kernel's time (24,384 x 1,024 x 1,024: 81.6 us FP8 alone vs 73.9 us BF16, scripts/fp8_gemm_shape_table.py)."""
    assert train_time(gemm(m, n, k, "fp8"), on=True) <= train_time(gemm(m, n, k, "bf16"), on=True)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(256, 65536), n=st.integers(256, 65536), k=st.integers(256, 65536))
def test_fitted_fp8_never_slower_than_fitted_bf16(m, n, k):
    """The fit alone (switch off): the FP8 GEMM is never slower than the BF16 one, its rate never above peak."""
    t8, t16 = train_time(gemm(m, n, k, "fp8"), on=False), train_time(gemm(m, n, k, "bf16"), on=False)
    assert t8 <= t16 * (1 + 1e-12)
    assert 2.0 * m * n * k / t8 <= FP8_PEAK


@needs_db
def test_llm_training_step_slower_with_measured_fp8():
    """Llama-2-70B LoRA on 8 H100 (FP8): its GEMMs are 3-10% slower measured than fitted at the rows' shapes, so the
    step is slower, by less than the GEMM share of the step could make it (< 10%)."""
    from tapeout import api
    from tapeout.perf import training

    steps = {}
    for on in (False, True):
        old = train_fp8_gemms.MEASURED_FP8_TRAINING
        train_fp8_gemms.MEASURED_FP8_TRAINING = on
        training.clear_cache()
        try:
            steps[on] = api.train(chip="h100-sxm", num_chips=8, benchmark="llama2-70b-lora").step_time_s
        finally:
            train_fp8_gemms.MEASURED_FP8_TRAINING = old
            training.clear_cache()
    assert steps[False] < steps[True] < 1.10 * steps[False]
    assert math.isfinite(steps[True])


def test_default_is_off_and_reads_no_copy():
    """Issue 24: the default prices FP8 GEMMs with the fit (the switch is off), and no copy of the database's GEMM
    table is on file (data/calibration holds fitted numbers, not the database's rows)."""
    from importlib import resources

    assert train_fp8_gemms.MEASURED_FP8_TRAINING is False
    assert train_fp8_gemms.training_gemms(get_chip("h100-sxm")) is None
    assert not resources.files("tapeout").joinpath("data", "calibration", "fp8_training_gemms.csv").is_file()
