"""MLPerf Training unet3d (3D U-Net on KiTS19, issue 18): the definition's arithmetic (validation/unet3d_train.py,
other_benchmarks.yaml train-unet3d: mlcommons/training image_segmentation/pytorch, NVIDIA's MXNet implementation),
3D convolution FLOPs forward and backward against closed forms, the row mapper and `tapeout train --benchmark
unet3d`, and the step's monotonicity in chips and batch."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from _cli import refusal
from tapeout import api
from tapeout.hardware.catalog import get_chip
from tapeout.perf.train_backward import gradient_gemms
from tapeout.validation import unet3d_train as u
from tapeout.validation.other_rows import fact, map_training, training_graphs
from tapeout.validation.other_training import training_time
from tapeout.validation.registry import SkipRow
from tapeout.workloads import vision

CH = (32, 64, 128, 256, 320, 320)  # reference model/unet3d.py filters (nnU-Net 3D, MLPerf KiTS19)


def _op(g, name):
    return next(o for o in g.ops if o.name == name)


def test_definition_facts_are_the_sources_values():
    """README / arguments.py / NVIDIA configs: 168 training cases, 128^3 crops, DICE 0.908, evaluation every 20
    epochs from epoch 1000 over 42 volumes at overlap 0.5, FP16 (--static_cast)."""
    assert fact("train-unet3d", "epoch_samples") == 168
    assert fact("train-unet3d", "patch") == 128
    assert "0.908" in fact("train-unet3d", "quality_target")
    assert (fact("train-unet3d", "evaluate_every_epochs"), fact("train-unet3d", "start_eval_at_epoch")) == (20, 1000)
    assert (fact("train-unet3d", "eval_cases"), fact("train-unet3d", "eval_overlap")) == (42, 0.5)
    assert fact("unet3d_train", "precision") == "fp16"
    # one assumption, shared with the inference graph (workloads/vision.py): the two may not drift apart
    assert fact("train-unet3d", "eval_windows_per_case") == vision.UNET3D_PATCHES_PER_CASE


def test_one_3d_conv_forward_and_backward_flops_closed_form():
    """enc1.conv1: 32 -> 64 channels, 3^3 kernel, stride 2, 128^3 -> 64^3: forward 2 x 64^3 x 64 x 32 x 27 FLOPs per
    sample; its backward (dgrad + wgrad) twice that; the first conv (reads the image) its wgrad only."""
    b = 3
    g, _, _ = training_graphs("unet3d", b)
    conv = _op(g, "enc1.conv1")
    fwd = 2 * 64 ** 3 * 64 * 32 * 27
    assert conv.flops * conv.count == pytest.approx(b * fwd, rel=1e-12)
    grads = gradient_gemms(conv)
    assert sum(o.flops * o.count for o in grads) == pytest.approx(2 * b * fwd, rel=1e-12)
    first = _op(g, "enc0.conv1")
    assert fact("train_no_input_grad", "unet3d") == ["enc0.conv1"]
    only_w = gradient_gemms(first, input_grad=False)
    assert [o.name for o in only_w] == ["enc0.conv1.wgrad"]
    assert only_w[0].flops * only_w[0].count == pytest.approx(b * 2 * 128 ** 3 * 32 * 1 * 27, rel=1e-12)


def test_trained_weights_closed_form_and_no_sliding_window_in_training():
    """Parameters (no biases, norms): encoder 2 convs per level, decoder transposed conv 2^3 + 2 convs, 1x1 head;
    FP16 weights: 2 bytes each. The training graph has no Gaussian accumulation (evaluation only)."""
    params, cin = 0, 1
    for c in CH:
        params += 27 * (cin * c + c * c)
        cin = c
    for lvl in range(len(CH) - 2, -1, -1):
        c = CH[lvl]
        params += 8 * cin * c + 27 * (2 * c * c + c * c)
        cin = c
    params += CH[0] * 3
    g, once, dense = training_graphs("unet3d", 2)
    assert dense == pytest.approx(2 * params, rel=1e-12)
    assert not once.ops and all(o.name != "gaussian_accumulate" for o in g.ops)
    assert any(o.name == "gaussian_accumulate" for o in u.eval_case_graph("fp16").ops)


@pytest.mark.parametrize("epochs, passes", [(999, 0), (1000, 1), (1019, 1), (1020, 2), (2200, 61), (2010, 51)])
def test_eval_pass_count_from_the_cadence(epochs, passes):
    assert u.eval_passes(epochs) == passes


@given(st.integers(min_value=0, max_value=20_000).map(lambda k: k / 2))
def test_eval_passes_count_the_evaluated_epochs(e):
    """An evaluation at every epoch k <= e with k >= 1000 and k % 20 == 0 (runtime/training.py); e whole or a
    half (a row's median of two runs' epochs)."""
    assert u.eval_passes(e) == sum(1 for k in range(1, int(math.floor(e)) + 1) if k >= 1000 and k % 20 == 0)


@pytest.mark.parametrize("epoch_num, gb, samples", [
    (2200, 56, 2200 * 168),           # epochs, 168 = 3 x 56
    (1720, 48, 1720 * 4 * 48),        # epochs, ceil(168 / 48) = 4 whole batches of 48 per epoch
    (10_000, 8, 10_000 * 168),        # the largest epoch count NVIDIA's configs allow
    (337_680, 56, 337_680),           # a v3.1+ logger's sample count, read as logged
])
def test_epoch_num_to_samples(epoch_num, gb, samples):
    assert u.row_samples(epoch_num, gb) == samples


@pytest.mark.parametrize("epoch_num", [999, 10_001, 167_999])
def test_epoch_num_before_the_first_evaluation_is_refused(epoch_num):
    """Below epoch 1000 (epochs) or 168,000 (samples) no evaluation has run: the row cannot have converged."""
    with pytest.raises(SkipRow, match="before the first evaluation"):
        u.row_samples(epoch_num, 56)


@given(st.integers(min_value=1000, max_value=10_000), st.integers(min_value=1, max_value=256))
def test_samples_and_epochs_invert(e, gb):
    s = u.samples_of_epochs(e, gb)
    assert s % gb == 0 and s >= e * 168
    assert u.epochs_of_samples(s, gb) == pytest.approx(e, rel=1e-12)


def test_dedicated_eval_ranks_and_exposed_evaluation():
    """More chips than samples: one sample per training chip, the rest evaluate, asynchronously: the last pass
    and each pass's excess over the training between two are exposed."""
    assert u.training_ranks(72, 56) == 56 and u.training_ranks(8, 56) == 8
    assert u.eval_pass_s(2.0, 16) == 3 * 2.0 and u.eval_pass_s(2.0, 8) == 6 * 2.0 and u.eval_pass_s(2.0, 64) == 2.0
    assert u.exposed_eval_s(10, 3.0, 5.0, dedicated=False) == 30.0
    assert u.exposed_eval_s(10, 3.0, 5.0, dedicated=True) == 3.0
    assert u.exposed_eval_s(10, 7.0, 5.0, dedicated=True) == 7.0 + 9 * 2.0
    assert u.exposed_eval_s(0, 7.0, 5.0, dedicated=True) == 0.0


ROW = {"id": "T-unet3d", "category": "mlperf-train", "workload": "MLPerf Training v2.0 unet3d",
       "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "software": "MXNet",
       "notes": "nodes=1; acc_per_node=8; global_batch_size=56; median last-eval epoch_num=2200"}


def test_a_row_maps_with_the_definitions_facts():
    r = map_training(dict(ROW))
    d = r.detail
    f = d["unet3d"]
    assert r.unit == "minutes" and r.benchmark == "train-unet3d"
    assert d["per_chip_batch"] == 7 and d["samples_to_converge"] == 2200 * 168
    assert (f["epochs"], f["epoch_samples"], f["eval_cases"], f["training_ranks"]) == (2200, 168, 42, 8)
    assert "0.908" in f["quality_target"] and f["precision"] == "fp16" and not f["eval_dedicated"]
    assert d["n_evals"] == u.eval_passes(2200) == 61
    steps = 2200 * 3
    assert r.predicted == pytest.approx((steps * d["step_s"] + 61 * f["eval_pass_s"]) / 60.0, rel=1e-9)
    assert f["eval_pass_s"] == pytest.approx(u.eval_pass_s(f["eval_pass_s"] / 6, 8), rel=1e-12)  # ceil(42 / 8) = 6


def test_a_row_with_more_chips_than_samples_evaluates_apart():
    row = dict(ROW, n_accelerators="72", notes=ROW["notes"].replace("nodes=1; acc_per_node=8", "nodes=9; acc_per_node=8"))
    d = map_training(row).detail
    assert d["per_chip_batch"] == 1
    assert (d["unet3d"]["training_ranks"], d["unet3d"]["eval_ranks"], d["unet3d"]["eval_dedicated"]) == (56, 16, True)


H100 = get_chip("h100-sxm")


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=6))
def test_more_chips_same_per_chip_batch_not_slower_beyond_the_allreduce(b, n1, extra):
    n2 = n1 + extra
    t1 = training_time("unet3d", H100, n1, b * n1, None)
    t2 = training_time("unet3d", H100, n2, b * n2, None)
    assert t2["step_s"] <= t1["step_s"] + t2["allreduce_s"] + 1e-12
    assert t2["samples_per_s"] >= t1["samples_per_s"] * (n2 / n1) * t1["step_s"] / (t1["step_s"] + t2["allreduce_s"]) - 1e-9


@settings(max_examples=12, deadline=None)
@given(st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=6))
def test_bigger_per_chip_batch_longer_step(n, b, extra):
    small = training_time("unet3d", H100, n, b * n, None)
    big = training_time("unet3d", H100, n, (b + extra) * n, None)
    assert big["step_s"] > small["step_s"]


def test_api_and_cli_train_unet3d():
    r = api.train_benchmark("unet3d", "h100-sxm", 8, global_batch=56)
    d = r.to_dict()
    assert d["samples_to_converge"] > 0 and d["time_to_train_min"] > 0
    assert d["definition"]["quality_target"]["value"].startswith("mean DICE 0.908")
    # chips beyond one per sample evaluate (NVIDIA's --nodes_for_eval): accepted for unet3d
    wide = api.train_benchmark("unet3d", "h100-sxm", 72, global_batch=56).to_dict()
    assert wide["breakdown"]["unet3d"]["eval_ranks"] == 16
    msg = refusal(["train", "--benchmark", "unet3d", "--chip", "h100-sxm", "--num-chips", "8", "--global-batch", "0"])
    assert "global-batch" in msg.lower().replace("_", "-")
