"""Kernel microbenchmarks timed on part of a chip (perf/fit/core_share.py): the NKI tutorial's BF16 GEMM on one
of a Trainium's two NeuronCore-v2 (MB-0747, AWS Neuron docs), its refit through perf/opcost, the switch
CORE_SHARE_ROWS (off) and bad input. docs/notes/issue-24.md, Round stop-41 (branch issue-56b)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul, OpTable
from tapeout.perf.calibration import Calibration, load_fitted
from tapeout.perf.fit import calibrate, core_share
from tapeout.perf.fit.rows import chip_key, gemm_point, read_microbenchmarks
from tapeout.perf.opcost import evaluate

ROW = "MB-0747"
T_MEAS = 6.97e-3  # s, tutorial table 'Optimization 3', stated to 0.01 ms
M, N, K = 4096, 8192, 8192
COMMITTED = core_share.CORE_SHARE_ROWS  # the switch as committed, read before any test patches it
CORE_PEAK = 190e12 / 2  # one NeuronCore-v2: 190 dense BF16 TFLOPS per two-core chip (AWS Trainium arch page)


def _row():
    return next(r for r in read_microbenchmarks() if r["id"] == ROW)


def _refit(monkeypatch):
    monkeypatch.setattr(core_share, "CORE_SHARE_ROWS", True)
    return calibrate.fit_all([_row()], uncertainty=False)


def test_row_loads_as_a_one_core_trainium_gemm():
    r = _row()
    assert chip_key(r["accelerator"]) == ("trainium", "aws-neuron")
    assert gemm_point(r) == (M, N, K, "bf16", pytest.approx(T_MEAS))
    assert core_share.core_share(r) == 0.5
    assert "awsdocs-neuron" in r["source"] and "Trn1.32xlarge" in r["notes"]


def test_refit_reproduces_the_kernel_time_through_opcost(monkeypatch):
    """The fitted efficiency, put back on the one-core sub-chip, gives the measured time (one row, one
    parameter: exact up to the stated precision, 0.01 ms of 6.97)."""
    eff = _refit(monkeypatch)["chips"]["trainium"]["eff_compute"]["bf16"]
    chip = get_chip("trainium")
    p = Calibration(chip_id="trainium", eff_compute={"bf16": eff}).apply(
        chip.params(calibration=Calibration(chip_id="trainium")))
    p = core_share.sub_chip(p.replace(kernel_overhead=0.0), 0.5)
    op = MatMul(name="g", m=M, n=N, k=K, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16")
    t = float(evaluate(OpTable.from_ops([op]), p, check_support=False).time[0])
    assert t == pytest.approx(T_MEAS, rel=2e-3)


def test_refit_is_the_closed_form_fraction_of_one_core_peak(monkeypatch):
    """A compute-bound GEMM whose dims are multiples of the 128 x 128 Tensor Engine: eff = 2MNK / (t x core peak)
    (83.0%; the tutorial's profiler HFU, 85.24%, is the same order)."""
    eff = _refit(monkeypatch)["chips"]["trainium"]["eff_compute"]["bf16"]
    assert eff == pytest.approx(2.0 * M * N * K / (T_MEAS * CORE_PEAK), rel=5e-3)
    # read as a whole-chip kernel it would be half that: the sub-chip is what the fit must use
    assert eff > 0.8


def test_switch_off_leaves_the_row_out_and_the_packaged_fit_unchanged(monkeypatch):
    monkeypatch.setattr(core_share, "CORE_SHARE_ROWS", False)
    off = calibrate.fit_all([_row()], uncertainty=False)
    assert "trainium" not in off["chips"] and "aws-neuron" not in off["families"]
    # the packaged fitted.yaml was written with the switch at its committed state
    fitted = load_fitted()
    assert ("trainium" in fitted["chips"]) is COMMITTED
    assert COMMITTED is False  # off: the row moves the Neuron rows away from their measurements (issue-24 notes)


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 64), data=st.data())
def test_core_share_parses_any_valid_count(total, data):
    used = data.draw(st.integers(1, total))
    r = {"id": "X", "model_config": f"GEMM ...; on {used} of {total} NeuronCores (an NKI kernel)"}
    assert core_share.core_share(r) == pytest.approx(used / total)


@settings(max_examples=25, deadline=None)
@given(share=st.floats(0.05, 1.0))
def test_sub_chip_scales_throughput_resources_linearly(share):
    p = get_chip("trainium").params(calibration=Calibration(chip_id="trainium"))
    s = core_share.sub_chip(p, share)
    assert (s.peak_flops == pytest.approx(p.peak_flops * share))
    assert float(s.mem_bw) == pytest.approx(float(p.mem_bw) * share)
    assert float(s.sram_bytes) == pytest.approx(float(p.sram_bytes) * share)
    assert float(s.num_cores) >= 1.0
    assert float(s.tile_m) == float(p.tile_m) and float(s.scaleup_bw) == float(p.scaleup_bw)  # the rest stays


def test_bad_core_counts_name_the_row_and_the_fix():
    with pytest.raises(TapeoutError, match=r"MB-9.*on 3 of 2.*1 <= used <= total"):
        core_share.core_share({"id": "MB-9", "model_config": "GEMM M=1 N=1 K=1; on 3 of 2 NeuronCores"})
    with pytest.raises(TapeoutError, match="different core shares"):
        core_share.chip_share([{"id": "A", "model_config": "on 1 of 2 NeuronCores"}, {"id": "B", "model_config": ""}])
    with pytest.raises(TapeoutError, match=r"core share"):
        core_share.sub_chip(get_chip("trainium").params(calibration=Calibration(chip_id="trainium")), 0.0)


def test_whole_chip_rows_have_no_share():
    assert all(core_share.core_share(r) is None for r in read_microbenchmarks() if r["id"] != ROW)
