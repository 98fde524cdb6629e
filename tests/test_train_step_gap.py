"""scripts/train_step_gap.py: the step a training row's measurement implies, from a validation JSON row."""

import pytest

from tests._load import load_script

gap = load_script("scripts", "train_step_gap")


def row(measured, eval_min=0.0, rcp=None, n="64", bench="train-resnet", **det):
    d = {"step_s": 0.01, "samples_per_s": 64 * 50 / 0.01, "samples_to_converge": 64 * 50 * 6000.0,
         "per_chip_batch": 50, "eval_min": eval_min, "chip": "h100-sxm", "fwd_s": 0.003, "bwd_s": 0.006,
         "optimizer_s": 0.0005, "allreduce_s": 0.0007}
    d.update(det)
    if rcp:
        d["rcp_scaling_factor"] = rcp
    return {"id": "T", "benchmark": bench, "accelerator": "NVIDIA H100-SXM", "n_accelerators": n, "measured": measured,
            "predicted": 1.0, "skipped": None, "error_pct": 0.0, "detail": d}


def test_implied_step_closed_form():
    # 6000 steps of the global batch; 1.5 min measured, 0.5 min of it evaluation -> 60 s / 6000 = 10 ms: no gap
    g = gap.row_gap(row(1.5, eval_min=0.5))
    assert g["implied_ms"] == pytest.approx(10.0) and g["gap_ms"] == pytest.approx(0.0, abs=1e-9)
    g = gap.row_gap(row(2.0, eval_min=0.5))  # 90 s / 6000 = 15 ms: 5 ms missing, half the modelled step
    assert g["gap_ms"] == pytest.approx(5.0) and g["share"] == pytest.approx(0.5)
    assert g["exposed_sync_ms"] == pytest.approx(0.5)  # step less fwd + bwd + optimizer: the exposed all-reduce
    assert g["nodes"] == 8


def test_rcp_factor_divides_the_measurement():
    g = gap.row_gap(row(2.0 * 1.25, rcp=1.25, bench="train-stable-diffusion"))
    assert g["bench"] == "stable-diffusion" and g["implied_ms"] == pytest.approx(20.0)


def test_unpriced_rows_are_left_out():
    assert gap.row_gap({**row(1.0), "benchmark": "gpt3"}) is None
    assert gap.row_gap({**row(1.0), "skipped": "no samples"}) is None
    assert gap.row_gap({**row(1.0), "detail": None}) is None


def test_beyond_one_node_removes_the_one_node_share():
    one = gap.row_gap(row(1.2, n="8"))  # 12 ms implied of 10 modelled: one-node share 20%
    big = gap.row_gap(row(2.0, n="512"))  # 20 ms of 10: 10 ms gap, 2 ms of it the one-node share
    (b,) = gap.beyond_one_node([one, big])
    assert one["share"] == pytest.approx(0.2) and b["beyond_ms"] == pytest.approx(8.0)
    assert gap.beyond_one_node([big]) == []  # no one-node reference of its benchmark and chip


def test_report_lists_every_benchmark_it_finds():
    out = gap.report({"rows": [row(1.2, n="8"), row(2.0, n="512"), {**row(1.0), "accelerator": "Google TPU v5p"}]})
    assert "(2 rows)" in out and "| resnet |" in out
    assert "no priced" in gap.report({"rows": [row(1.0)]}, vendor="AMD")
