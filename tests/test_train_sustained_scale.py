"""Training GEMMs scaled to the die's measured sustained rate (perf/train_clock.SUSTAINED_SCALE): the fit's best
rate brought to the MSMF (data/calibration/power_cap_msmf.yaml), every GEMM shape alike."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.formats import data_file
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise, MatMul, OpGraph
from tapeout.perf import train_clock
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.serving_sim import ensure_vector


def _times(chip_id: str, op) -> tuple[float, float, float]:
    """(switch off, switch on, compute time) of one op under the chip's default board (the MSMF ceiling)."""
    chip = get_chip(chip_id)
    p = ensure_vector(calibrated_params(chip))
    ct = evaluate(OpGraph(name="x", ops=[op]), p)
    board = train_clock.board_power(chip)
    was = train_clock.SUSTAINED_SCALE
    try:
        train_clock.SUSTAINED_SCALE = False
        off = float(train_clock.op_times(ct, p, board)[0])
        train_clock.SUSTAINED_SCALE = True
        on = float(train_clock.op_times(ct, p, board)[0])
    finally:
        train_clock.SUSTAINED_SCALE = was
    return off, on, float(ct.compute_time.max())


def _gemm(m, n, k, fmt="fp8"):
    return MatMul(name="g", m=m, n=n, k=k, a_dtype=fmt, w_dtype=fmt, math_dtype=fmt)


def _fit_over_msmf(chip: str, silicon: str, fmt: str) -> float:
    """eff_compute of the shipped fit / (MSMF / peak) of the die's pair, read from the data files."""
    eff = float(yaml.safe_load(data_file("calibration", "fitted.yaml").read_text())["chips"][chip]["eff_compute"][fmt])
    pairs = yaml.safe_load(data_file("calibration", "power_cap_msmf.yaml").read_text())["pairs"]
    msmf = next(float(r["msmf_tflops"]) for r in pairs if r["chip"] == silicon and r["format"] == fmt)
    return eff / (msmf / get_chip(silicon).peak_tflops(fmt))


def test_on_by_default():
    """On since round stop-36 (kernel evidence: docs/notes/issue-18.md, issue-36b)."""
    assert train_clock.SUSTAINED_SCALE is True


def test_h100_gpt3_gemm_closed_form():
    """H100 SXM takes H200's pair (same die): FP8 fit 0.7096 of peak vs MSMF 1354 / 1979 = 0.684, so a
    compute-bound GEMM's compute time grows by 0.7096 / 0.684 - 1 = 3.7% (the GPT-3 TP4 MLP GEMM)."""
    k = _fit_over_msmf("h100-sxm", "h200", "fp8")
    assert k == pytest.approx(0.7096 / (1354.0 / 1979.0), rel=1e-3)
    off, on, comp = _times("h100-sxm", _gemm(2048, 12288, 12288))
    assert on - off == pytest.approx(comp * (k - 1.0), rel=1e-6)
    assert 1.02 < on / off < 1.04


def test_best_shape_lands_on_the_msmf_b200():
    """B200's fit is its burst rate (pair MAMF 1737, fit 0.776 of 2250): with the switch its fastest BF16 GEMM runs
    at the measured MSMF 1439 TFLOP/s (within 3%: the fit's large-shape rate is just below its asymptote), and an
    8192^3 GEMM at the fit's rate there x 1439 / (0.776 x 2250) (below the floor's 1439: the fit has it 4% slower
    than its best shape)."""
    op = _gemm(16384, 16384, 16384, "bf16")
    _, on, _ = _times("b200", op)
    assert op.flops / on / 1e12 == pytest.approx(1439.0, rel=0.03)
    op = _gemm(8192, 8192, 8192, "bf16")
    chip = get_chip("b200")
    p = ensure_vector(calibrated_params(chip))
    burst = op.flops / float(train_clock.op_times(evaluate(OpGraph(name="x", ops=[op]), p), p, None)[0])
    _, on, comp = _times("b200", op)
    k = _fit_over_msmf("b200", "b200", "bf16")
    assert k == pytest.approx(0.776 * 2250.0 / 1439.0, rel=0.01)
    assert op.flops / on == pytest.approx(burst / k, rel=0.01)


@pytest.mark.parametrize("chip_id", ["a100-sxm", "gb200"])
def test_no_pair_no_change(chip_id):
    """A chip with no sustained pair on file at its TDP keeps its fit."""
    off, on, _ = _times(chip_id, _gemm(8192, 8192, 8192, "bf16"))
    assert on == off


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 32768), n=st.sampled_from([256, 1024, 3072, 9216, 12288, 28672]),
       k=st.sampled_from([512, 2048, 8192, 12288]), fmt=st.sampled_from(["bf16", "fp8"]))
def test_never_faster_never_beyond_the_ratio(m, n, k, fmt):
    """Invariant: the switch never speeds a GEMM up, slows it at most by the fit / MSMF ratio of its format, and
    leaves a memory-bound op alone."""
    ratio = _fit_over_msmf("h100-sxm", "h200", fmt)
    off, on, _ = _times("h100-sxm", _gemm(m, n, k, fmt))
    assert off <= on <= off * ratio * (1 + 1e-9)
    norm = Elementwise(name="norm", count=1, elems=float(m * n), flops_per_elem=5.0, reads=1.0, writes=1.0)
    off, on, _ = _times("h100-sxm", norm)
    assert on == off


@pytest.mark.parametrize("fmt", ["bf16", "fp8"])
def test_memory_bound_gemm_keeps_its_time(fmt):
    """A one-token GEMM streams its weights: its memory time hides the slower clock (same on B200, ratio 1.2)."""
    for chip_id in ("h100-sxm", "b200"):
        off, on, _ = _times(chip_id, _gemm(1, 8192, 8192, fmt))
        assert on == off
