"""NVIDIA's Mask R-CNN kernels outside its convolutions (validation/conv_unfused_passes.py, Mask R-CNN's sets; issue 18,
round stop-42 issue-63c): apex SpatialBottleneck's backward drelu_dscale per trained block and the mask branch's eager
F.relu / NHWC -> NCHW transform, the bytes read off the source, element counts by hand, and where they apply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import board_power, graph_time
from tapeout.validation import conv_unfused_passes as rb
from tapeout.validation.other_rows import training_graphs, workload_facts
from tapeout.validation.other_training import training_time
from tapeout.workloads import maskrcnn
from tapeout.workloads.blocks import as_precision

BF16 = as_precision("bf16")
# ResNet-50 at 800 x 1344: (block output channels, blocks, map h, map w) of the trained layers 2-4 (layer1 frozen)
TRAINED = [(512, 4, 100, 168), (1024, 6, 50, 84), (2048, 3, 25, 42)]
ROIS = 128  # mask RoIs per image: POSITIVE_FRACTION 0.25 x BATCH_SIZE_PER_IMAGE 512 (maskrcnn_train.mask_rois_at_max)


def test_bytes_per_element_are_the_sources():
    k = rb.spec("maskrcnn", rb.BACKBONE)["kernels"]["drelu_dscale"]
    # backward only: read grad_o + the saved block output, write g1 + (dx_relu or g2); the forward is all in cuDNN
    assert (k["fwd_reads"], k["fwd_writes"], k["bwd_reads"], k["bwd_writes"]) == (0, 0, 2, 2)
    assert k["after"] == "conv1x1b"
    h = rb.spec("maskrcnn", rb.HEAD)["kernels"]
    for relu in ("fcn_relu", "deconv_relu"):  # out-of-place relu; threshold_backward reads grad + result
        k = h[relu]
        assert (k["fwd_reads"], k["fwd_writes"], k["bwd_reads"], k["bwd_writes"]) == (1, 1, 2, 1)
    assert (h["fcn_relu"]["after"], h["deconv_relu"]["after"], h["logits_nchw"]["after"]) == ("fcn", "deconv", "logits")
    facts = workload_facts()["maskrcnn_train"]
    for key, words in ((rb.BACKBONE, ("SpatialBottleneckWithFixedBatchNorm", "drelu_dscale")),
                       (rb.HEAD, ("F.relu", "nhwc_to_nchw_transform"))):
        assert rb.spec("maskrcnn", key)["vendors"] == ["NVIDIA"]
        assert facts[key]["status"] == "published" and all(w in facts[key]["source"] for w in words)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 16))
def test_drelu_dscale_elements_by_hand_over_the_trained_blocks(batch):
    g, once, _ = training_graphs("maskrcnn", batch, get_chip("h100-sxm"), 8)
    fwd, bwd = rb.passes(g, BF16, "maskrcnn", rb.BACKBONE)
    assert fwd == []  # nothing outside the convs forward
    assert sum(o.elems for o in bwd) == batch * sum(c * nb * h * w for c, nb, h, w in TRAINED)
    assert all(not o.name.startswith("bb.s1") for o in bwd)  # layer1 runs under no_grad
    # 4 x 2 B per element
    assert sum(o.elems * (o.reads + o.writes) * 2 for o in bwd) == pytest.approx(
        8 * batch * sum(c * nb * h * w for c, nb, h, w in TRAINED))
    assert not any("drelu_dscale" in o.name for o in once.ops)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 16))
def test_mask_branch_elements_by_hand(batch):
    fwd, bwd = rb.passes(maskrcnn.maskrcnn_graph(batch, "bf16", train=True), BF16, "maskrcnn", rb.HEAD)
    by = {o.name: o.elems for o in fwd}
    r = ROIS * batch
    assert by["mask.fcn_relu"] == r * 14 * 14 * 256 * 4  # four 3x3 convs on 14 x 14 x 256
    assert by["mask.deconv_relu"] == r * 28 * 28 * 256  # the 2x2 stride-2 deconvolution's output
    assert by["mask.logits_nchw"] == r * 28 * 28 * 81  # the 81-class logits
    assert {o.name for o in bwd} == {n + "_bwd" for n in by}


def test_applies_to_nvidia_stacks_and_the_switches(monkeypatch):
    for key in (rb.BACKBONE, rb.HEAD):
        assert rb.applies("NVIDIA", "maskrcnn", key) and rb.applies(None, "maskrcnn", key)
        assert not rb.applies("Google", "maskrcnn", key)
    assert not rb.applies("NVIDIA", "unet3d") and not rb.applies("NVIDIA", "retinanet", rb.HEAD)
    assert not rb.applies("NVIDIA", "resnet", rb.HEAD)  # ResNet-50's one kernel is its BN-add-ReLU (issue-64d)
    _, once, _ = training_graphs("maskrcnn", 4, get_chip("tpu-v4"), 8)
    assert not any(o.name.endswith(("_relu", "_nchw")) for o in once.ops)
    monkeypatch.setattr(rb, "MASKRCNN_HEAD_KERNELS", False)
    assert not rb.applies("NVIDIA", "maskrcnn", rb.HEAD) and rb.applies("NVIDIA", "maskrcnn", rb.BACKBONE)
    monkeypatch.setattr(rb, "MASKRCNN_BACKBONE_KERNELS", False)
    monkeypatch.setattr(rb, "FPN_TOPDOWN_KERNELS", False)
    assert rb.all_passes(maskrcnn.maskrcnn_graph(2, "bf16"), BF16, "NVIDIA", "maskrcnn") == ([], [])


def test_step_gains_exactly_the_passes_and_switches_off_restore(monkeypatch):
    chip, n, gb = get_chip("h100-sxm"), 8, 96
    on = training_time("maskrcnn", chip, n, gb, None)
    g, _, _ = training_graphs("maskrcnn", gb // n, chip, n)
    fwd = rb.all_passes(maskrcnn.maskrcnn_graph(gb // n, "bf16", train=True), BF16, "NVIDIA", "maskrcnn")[0]
    bwd = rb.all_passes(g, BF16, "NVIDIA", "maskrcnn")[1]
    p, board = calibrated_params(chip), board_power(chip)
    t_fwd = graph_time(OpGraph("f", fwd, g.meta), p, board)
    t_bwd = graph_time(OpGraph("b", bwd, g.meta), p, board)
    monkeypatch.setattr(rb, "MASKRCNN_BACKBONE_KERNELS", False)
    monkeypatch.setattr(rb, "MASKRCNN_HEAD_KERNELS", False)
    monkeypatch.setattr(rb, "FPN_TOPDOWN_KERNELS", False)
    off = training_time("maskrcnn", chip, n, gb, None)
    assert on["once_s"] - off["once_s"] == pytest.approx(t_fwd, rel=1e-6)
    assert on["bwd_s"] - off["bwd_s"] == pytest.approx(t_bwd, rel=1e-6)
    assert on["fwd_s"] == off["fwd_s"]
    # memory-bound passes: no faster than their bytes at the chip's DRAM bandwidth
    assert t_bwd >= sum(o.elems * (o.reads + o.writes) * 2 for o in bwd) / p.mem_bw * 0.999


def test_retinanet_keeps_its_own_kernel_sets_only():
    g, _, _ = training_graphs("retinanet", 8, get_chip("h100-sxm"), 8)
    assert rb.all_passes(g, BF16, "NVIDIA", "retinanet")[1] == rb.passes(g, BF16)[1] + rb.passes(
        g, BF16, "retinanet", rb.FPN)[1] + rb.passes(g, BF16, "retinanet", rb.GRAD_SUM)[1]
