"""MLPerf Training maskrcnn (Mask R-CNN ResNet-50-FPN, COCO 2017) from its definition: workloads/maskrcnn.py, the
row mapper (validation/other_rows.py) and `tapeout train --benchmark maskrcnn` (api/other_train.py)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise, MatMul
from tapeout.validation import other_rows
from tapeout.validation.other_rows import benchmark_of, map_training, samples_to_converge, training_graphs
from tapeout.validation.other_training import training_time
from tapeout.workloads import maskrcnn
from tapeout.workloads.blocks import as_precision

ROW = {  # the shape of an end_to_end.csv maskrcnn row (its values are not asserted here)
    "id": "T", "category": "mlperf-train", "workload": "MLPerf Training v3.0 maskrcnn",
    "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "unit": "minutes",
    "notes": "submitter=X; nodes=1; acc_per_node=8; global_batch_size=96; median last-eval epoch_num=14 (per-run)"}


def _gemm_flops(ops) -> float:
    return sum(2.0 * o.m * o.n * o.k * o.count * getattr(o, "groups", 1) for o in ops if isinstance(o, MatMul))


@pytest.mark.parametrize("rois", [1, 128, 1536])
def test_mask_head_flops_closed_form(rois):
    """4 3x3 convs 256->256 on 14x14, the 2x2 stride-2 deconv 256->256 (to 28x28), the 1x1 conv to 81 masks:
    2 R (4 x 196 x 256 x 2304 + 196 x 256 x 1024 + 784 x 256 x 81) FLOPs."""
    expected = 2.0 * rois * (4 * 196 * 256 * 256 * 9 + 196 * 256 * 4 * 256 + 784 * 256 * 81)
    ops = maskrcnn.mask_head_ops(rois, as_precision("bf16"))
    assert _gemm_flops(ops) == pytest.approx(expected, rel=1e-12)
    assert maskrcnn.mask_head_flops(rois) == pytest.approx(expected, rel=1e-12)


def test_roi_align_bytes_closed_form():
    """RoIAlign 7x7 x 256 of R RoIs at sampling ratio 2: each output element gathers 4 x 2^2 bf16 inputs and writes
    one: R x 49 x 256 x (16 + 1) x 2 bytes."""
    op = maskrcnn.roi_align("a", 512, 7, as_precision("bf16"))
    assert isinstance(op, Elementwise)
    assert op.elems * (op.reads + op.writes) * 2 == pytest.approx(512 * 49 * 256 * 17 * 2, rel=1e-12)


def test_anchor_counts_per_level_800x1344():
    """3 anchors per position at strides 4, 8, 16, 32 and P6 = ceil(P5 / 2) of the padded 800 x 1344 image."""
    assert maskrcnn.anchors_per_level(800, 1344) == [200 * 336 * 3, 100 * 168 * 3, 50 * 84 * 3, 25 * 42 * 3, 13 * 21 * 3]


def test_epoch_to_samples():
    assert samples_to_converge("maskrcnn", "median last-eval epoch_num=14") == 14 * 117266


def test_parameter_count_of_mask_rcnn_r50_fpn():
    """Mask R-CNN R50-FPN has ~44.4 M parameters (torchvision maskrcnn_resnet50_fpn: 44,401,393 with 91 classes;
    81 classes here): the graph's distinct weights within 1%."""
    g = maskrcnn.maskrcnn_graph(1)
    assert g.meta["weight_bytes"] / 2 == pytest.approx(44.4e6, rel=0.01)


def test_frozen_layers_are_forward_only():
    g, once, _ = training_graphs("maskrcnn", 2)
    assert not any(o.name.startswith(("stem.", "bb.s1", "decode.")) for o in g.ops)
    assert any(o.name.startswith("bb.s1") for o in once.ops) and any(o.name.startswith("stem.") for o in once.ops)


def test_row_maps_and_switch(monkeypatch):
    assert benchmark_of(ROW) == ("train", "maskrcnn")
    p = map_training(ROW)
    assert p.unit == "minutes" and p.predicted > 0 and p.detail["per_chip_batch"] == 12
    assert p.detail["n_evals"] == 14  # one evaluation per epoch
    monkeypatch.setattr(other_rows, "MASKRCNN_ROWS", False)
    assert benchmark_of(ROW) is None


def test_allreduce_after_backward_is_exposed_on_nvidia_only():
    """NVIDIA's trainer all-reduces the flat gradient after the backward: the whole all-reduce is in the step; a
    TPU row keeps the DDP rule (only what outlasts the backward). The NVIDIA step also carries the eager host term
    (validation/maskrcnn_host.py), the TPU step none."""
    def parts(r):
        return r["fwd_s"] + r["bwd_s"] + r["once_s"] + r["optimizer_s"] + r["head_grad_s"]

    r = training_time("maskrcnn", get_chip("h100-sxm"), 16, 16 * 4, None)
    host = r["host_issue"]["host_idle_s"]
    assert r["allreduce_s"] > 0 and r["step_s"] == pytest.approx(parts(r) + r["allreduce_s"] + host, rel=1e-9)
    t = training_time("maskrcnn", get_chip("tpu-v4"), 16, 16 * 4, None)
    assert t["step_s"] == pytest.approx(parts(t) + max(0.0, t["allreduce_s"] - t["bwd_s"]), rel=1e-9)


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 8), st.integers(1, 3))
def test_more_images_per_chip_longer_step(per_chip, extra):
    chip = get_chip("a100-sxm")
    a = training_time("maskrcnn", chip, 8, 8 * per_chip, None)["step_s"]
    b = training_time("maskrcnn", chip, 8, 8 * (per_chip + extra), None)["step_s"]
    assert b > a


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([2, 4, 8]), st.sampled_from([16, 32, 64]))
def test_more_chips_same_per_chip_batch_not_slower_beyond_allreduce(per_chip, chips):
    """At a fixed per-chip batch, doubling the chips changes a step only by its gradient all-reduce."""
    chip = get_chip("h100-sxm")
    a = training_time("maskrcnn", chip, chips, chips * per_chip, None)
    b = training_time("maskrcnn", chip, 2 * chips, 2 * chips * per_chip, None)
    assert b["step_s"] - b["allreduce_s"] <= a["step_s"] - a["allreduce_s"] + 1e-12


def test_train_benchmark_api_and_bad_input():
    from tapeout.api.other_train import train_benchmark

    r = train_benchmark("maskrcnn", "h100-sxm", num_chips=8)
    assert r.benchmark == "maskrcnn" and r.global_batch in (8, 48, 64, 96, 128, 256, 272)  # an RCP batch on file
    assert r.time_to_train_min > 0 and r.samples_to_converge > 12 * 117266
    assert "0.377" in r.quality_target["value"] and "0.339" in r.quality_target["value"]
    with pytest.raises(TapeoutError, match="global-batch"):
        train_benchmark("maskrcnn", "h100-sxm", num_chips=16, global_batch=8)
