"""The measured sustained ceiling (perf/train_clock.SUSTAINED_CEILING) reaches the non-LLM MLPerf training steps
(validation/other_training.training_time) through the helper the LLM engine uses (train_clock.graph_time)."""

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul, OpGraph
from tapeout.perf import train_clock
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import K_MATMUL, evaluate
from tapeout.validation.other_rows import training_graphs
from tapeout.validation.other_training import training_time

B200_BF16_MSMF = 1439e12  # MB-0724, data/calibration/power_cap_msmf.yaml (mamf-finder v4, 978-987 W)


def _gemm_flops(g) -> float:
    t = evaluate(g, calibrated_params(get_chip("a100-sxm"))).table
    return float((t.flops * t.count)[t.kind == K_MATMUL].sum())


def _step(bench: str, chip: str, on: bool, monkeypatch) -> dict:
    monkeypatch.setattr(train_clock, "SUSTAINED_CEILING", on)
    return training_time(bench, get_chip(chip), 8, 8 * 64, None)  # 64 samples per chip: compute-bound steps


def test_graph_time_without_board_is_the_evaluated_total():
    p = calibrated_params(get_chip("b200"))
    g = OpGraph(name="x", ops=[MatMul(name="a", count=3, m=4096, n=4096, k=4096), MatMul(name="b", count=1, m=8, n=64, k=64)])
    assert train_clock.graph_time(g, p) == pytest.approx(float(evaluate(g, p).total_time), rel=1e-12)
    assert train_clock.graph_time(OpGraph(name="empty", ops=[]), p) == 0.0


@pytest.mark.parametrize("bench", ["flux1", "retinanet", "stable-diffusion"])
def test_b200_forward_and_backward_no_faster_than_its_msmf(bench, monkeypatch):
    """Closed-form bound: with the ceiling on, the forward holds its GEMM FLOPs at no more than B200's measured BF16
    MSMF, and the backward (at least one wgrad of the forward's FLOPs per GEMM) too; never faster than without."""
    on, off = _step(bench, "b200", True, monkeypatch), _step(bench, "b200", False, monkeypatch)
    g = training_graphs(bench, on["per_chip_batch"])[0]
    bound = _gemm_flops(g) / B200_BF16_MSMF
    assert on["fwd_s"] >= bound * (1 - 1e-9)
    assert on["bwd_s"] >= bound * (1 - 1e-9)
    assert on["step_s"] >= off["step_s"] * (1 - 1e-12)


def test_flux1_b200_binds_where_the_fit_is_a_burst_rate(monkeypatch):
    """B200's fitted GEMM rate is its burst (pair MAMF) rate: Flux.1's large GEMMs run above the sustained MSMF
    without the ceiling, so the step must lengthen with it (the wiring is live, not a no-op)."""
    on, off = _step("flux1", "b200", True, monkeypatch), _step("flux1", "b200", False, monkeypatch)
    g = training_graphs("flux1", on["per_chip_batch"])[0]
    p = calibrated_params(get_chip("b200"))
    ct = evaluate(g, p)
    rate = ct.table.flops / train_clock.op_times(ct, p, None)
    assert (rate[ct.table.kind == K_MATMUL] > B200_BF16_MSMF).any()
    assert on["step_s"] > 1.05 * off["step_s"]


def test_chip_without_a_measured_pair_is_unchanged(monkeypatch):
    """GB200 (1,200 W) and A100 SXM (400 W) have no MSMF pair at their TDP: the ceiling does not apply."""
    for chip in ("gb200", "a100-sxm"):
        assert _step("retinanet", chip, True, monkeypatch)["step_s"] == _step("retinanet", chip, False, monkeypatch)["step_s"]
