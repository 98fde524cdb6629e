"""NVIDIA's RetinaNet evaluation batch per GPU where its config sets it apart from the training batch (issue 18,
round stop-42 issue-63b: `--eval-batch-size=8` at 1 training image per GPU on 256 / 316 DGX H100 nodes)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import board_power, graph_time
from tapeout.validation import other_training
from tapeout.validation.other_rows import fact, training_graphs, workload_facts
from tapeout.validation.other_training import eval_batch_per_chip, training_time

EVAL_IMAGES = 24781  # OpenImages-MLPerf validation images (single_stage_detector README)
SAMPLES = 10 * 1170301


def test_configs_on_file_are_the_two_large_scale_ones_with_their_sources():
    cfgs = fact("retinanet_train", "eval_batch_per_chip")
    assert {(c["round"], c["nodes"], c["batch_per_chip"], c["eval_batch_per_chip"]) for c in cfgs} == \
        {("v3.1", 256, 1, 8), ("v4.0", 316, 1, 8)}
    src = workload_facts()["retinanet_train"]["eval_batch_per_chip"]["source"]
    for needle in ("config_DGXH100_256x08x001.sh", "config_DGXH100_316x08x001.sh", "--eval-batch-size=8",
                   "args.eval_batch_size or args.batch_size"):
        assert needle in src


def test_rule_matches_round_nodes_and_training_batch_only():
    assert eval_batch_per_chip("retinanet", 1, "v3.1", 256, "NVIDIA") == 8
    assert eval_batch_per_chip("retinanet", 1, "v4.0", 316, "NVIDIA") == 8
    assert eval_batch_per_chip("retinanet", 1, "v3.0", 96, "NVIDIA") == 1  # config_DGXH100_096x08x001_newlr: none
    assert eval_batch_per_chip("retinanet", 2, "v3.1", 256, "NVIDIA") == 2  # another training batch: not that config
    assert eval_batch_per_chip("retinanet", 1, None, None, "NVIDIA") == 1  # `tapeout train`: no round
    assert eval_batch_per_chip("retinanet", 1, "v3.1", 256, "Google") == 1  # not NVIDIA's stack
    assert eval_batch_per_chip("maskrcnn", 1, "v3.1", 256, "NVIDIA") == 1


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["v2.0", "v3.0", "v3.1", "v4.0", "v4.1"]), st.integers(1, 400), st.integers(1, 64))
def test_anything_else_evaluates_at_the_training_batch(rnd, nodes, per_chip):
    listed = {(c["round"], c["nodes"], c["batch_per_chip"]): c["eval_batch_per_chip"]
              for c in fact("retinanet_train", "eval_batch_per_chip")}
    assert eval_batch_per_chip("retinanet", per_chip, rnd, nodes, "NVIDIA") == listed.get((rnd, nodes, per_chip), per_chip)


def test_switch_off_keeps_the_training_batch(monkeypatch):
    monkeypatch.setattr(other_training, "RETINANET_EVAL_BATCH_FROM_CONFIG", False)
    assert eval_batch_per_chip("retinanet", 1, "v3.1", 256, "NVIDIA") == 1


def _eval_forward_s(chip, n, batch):
    g, once, _ = training_graphs("retinanet", batch, chip, n)
    p, board = calibrated_params(chip), board_power(chip)
    return graph_time(g, p, board) + graph_time(once, p, board)


def test_eval_minutes_closed_form_at_the_2048_gpu_config():
    chip, n = get_chip("h100-sxm"), 2048
    r = training_time("retinanet", chip, n, n, SAMPLES, mlperf_round="v3.1", nodes=256, submitter="NVIDIA")
    assert r["eval_batch_per_chip"]["value"] == 8
    forward = r["n_evals"] * math.ceil(EVAL_IMAGES / (n * 8)) * _eval_forward_s(chip, n, 8)
    scoring = r["eval_scoring"]["exposed_s"] if "eval_scoring" in r else 0.0
    assert r["eval_min"] * 60.0 == pytest.approx(forward + scoring, rel=1e-9)
    # the training step is not touched: the same as the run without a round
    plain = training_time("retinanet", chip, n, n, SAMPLES)
    assert r["step_s"] == pytest.approx(plain["step_s"], rel=1e-12)
    assert "eval_batch_per_chip" not in plain


def test_fewer_larger_evaluation_steps_cost_less_than_thirteen_single_image_ones(monkeypatch):
    # 2 steps of 8 images per GPU vs 13 of 1: the batch-8 forward is under 6.5x the batch-1 forward (weights and the
    # fixed per-op costs are paid once per step), so the evaluation's forward time falls
    chip, n = get_chip("h100-sxm"), 2048
    assert math.ceil(EVAL_IMAGES / n) == 13 and math.ceil(EVAL_IMAGES / (8 * n)) == 2
    assert 2 * _eval_forward_s(chip, n, 8) < 13 * _eval_forward_s(chip, n, 1)
    on = training_time("retinanet", chip, n, n, SAMPLES, mlperf_round="v3.1", nodes=256, submitter="NVIDIA")
    monkeypatch.setattr(other_training, "RETINANET_EVAL_BATCH_FROM_CONFIG", False)
    off = training_time("retinanet", chip, n, n, SAMPLES, mlperf_round="v3.1", nodes=256, submitter="NVIDIA")
    assert on["eval_min"] < off["eval_min"] and on["minutes"] < off["minutes"]
