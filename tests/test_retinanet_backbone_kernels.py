"""NVIDIA's RetinaNet backbone kernels outside the convolutions (validation/conv_unfused_passes.py; issue 18, round
stop-42 issue-63b): the bytes read off the source's nvFuser definitions, per block by hand, and where they apply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import board_power, graph_time
from tapeout.validation import conv_unfused_passes as rb
from tapeout.validation.other_rows import training_graphs
from tapeout.validation.other_training import training_time
from tapeout.workloads import vision
from tapeout.workloads.blocks import as_precision

BF16 = as_precision("bf16")
# ResNeXt-50 32x4d at 800 px: (3x3 output channels, block output channels, blocks, map side) per layer
LAYERS = [(128, 256, 3, 200), (256, 512, 4, 100), (512, 1024, 6, 50), (1024, 2048, 3, 25)]


def _by_hand(layers, batch):
    """(bn_relu elements, bn_add_relu elements) over the given layers."""
    relu = sum(w * s * s * nb for w, _, nb, s in layers) * batch
    add = sum(c * s * s * nb for _, c, nb, s in layers) * batch
    return relu, add


def test_bytes_per_element_are_the_nvfuser_definitions():
    k = rb.spec()["kernels"]
    # forward bn_relu: read x, write out + bool mask; backward: read grad + mask, write grad_input
    assert (k["bn_relu"]["fwd_reads"], k["bn_relu"]["fwd_writes"]) == (1, 1.5)
    assert (k["bn_relu"]["bwd_reads"], k["bn_relu"]["bwd_writes"]) == (1.5, 1)
    # forward bn_add_relu: read input1 + input2, write out + mask; backward: read grad + mask, write both grads
    assert (k["bn_add_relu"]["fwd_reads"], k["bn_add_relu"]["fwd_writes"]) == (2, 1.5)
    assert (k["bn_add_relu"]["bwd_reads"], k["bn_add_relu"]["bwd_writes"]) == (1.5, 2)
    assert (k["bn_relu"]["after"], k["bn_add_relu"]["after"]) == ("conv3x3", "conv1x1b")
    assert rb.spec()["vendors"] == ["NVIDIA"]


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 16))
def test_forward_elements_by_hand_over_every_backbone_block(batch):
    fwd, bwd = rb.passes(vision.retinanet_graph(batch, 800, "bf16"), BF16)
    relu, add = _by_hand(LAYERS, batch)
    assert sum(o.elems for o in fwd if o.name.endswith(".bn_relu")) == relu
    assert sum(o.elems for o in fwd if o.name.endswith(".bn_add_relu")) == add
    # bytes: 2.5 x 2 B per bn_relu element, 3.5 x 2 B per bn_add_relu element, forward and backward alike
    assert sum(o.elems * (o.reads + o.writes) * 2 for o in fwd) == pytest.approx(5 * relu + 7 * add)
    assert sum(o.elems * (o.reads + o.writes) * 2 for o in bwd) == pytest.approx(5 * relu + 7 * add)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 16))
def test_backward_covers_the_trained_layers_only(batch):
    g, once, _ = training_graphs("retinanet", batch, get_chip("h100-sxm"), 8)
    _, bwd = rb.passes(g, BF16)
    relu, add = _by_hand(LAYERS[1:], batch)  # layer1 (bb.s1) is frozen: no backward
    assert sum(o.elems for o in bwd if o.name.endswith(".bn_relu_bwd")) == relu
    assert sum(o.elems for o in bwd if o.name.endswith(".bn_add_relu_bwd")) == add
    # the forward passes of all four layers are forward-only work (also run by evaluation)
    relu_all, add_all = _by_hand(LAYERS, batch)
    assert sum(o.elems for o in once.ops if o.name.endswith((".bn_relu", ".bn_add_relu"))) == relu_all + add_all
    assert not any(o.name.endswith((".bn_relu", ".bn_add_relu")) for o in g.ops)


def test_applies_to_nvidia_stacks_and_the_switch():
    assert rb.applies("NVIDIA") and rb.applies(None)
    assert not rb.applies("Google")
    tpu = get_chip("tpu-v4")
    _, once, _ = training_graphs("retinanet", 4, tpu, 8)
    assert not any(o.name.startswith("bb.") and o.name.endswith("bn_relu") for o in once.ops)


def test_step_gains_exactly_the_passes_and_switch_off_restores(monkeypatch):
    chip, n, gb = get_chip("h100-sxm"), 8, 256
    on = training_time("retinanet", chip, n, gb, None)
    g, _, _ = training_graphs("retinanet", gb // n, chip, n)
    fwd, bwd = rb.passes(vision.retinanet_graph(gb // n, 800, "bf16"), BF16)
    p, board = calibrated_params(chip), board_power(chip)
    t_fwd = graph_time(OpGraph("f", fwd, g.meta), p, board)
    t_bwd = graph_time(OpGraph("b", rb.passes(g, BF16)[1], g.meta), p, board)
    monkeypatch.setattr(rb, "RETINANET_BACKBONE_KERNELS", False)
    off = training_time("retinanet", chip, n, gb, None)
    assert on["once_s"] - off["once_s"] == pytest.approx(t_fwd, rel=1e-6)
    assert on["bwd_s"] - off["bwd_s"] == pytest.approx(t_bwd, rel=1e-6)
    assert on["fwd_s"] == off["fwd_s"]
    # memory-bound passes: no faster than their bytes at the chip's DRAM bandwidth
    assert t_fwd >= sum(o.elems * (o.reads + o.writes) * 2 for o in fwd) / (p.mem_bw) * 0.999


def test_other_conv_nets_get_no_backbone_kernels():
    chip = get_chip("h100-sxm")
    for bench in ("maskrcnn", "resnet"):
        g, once, _ = training_graphs(bench, 8, chip, 8)
        assert not any(o.name.endswith(("bn_relu", "bn_add_relu")) for o in list(g.ops) + list(once.ops))
