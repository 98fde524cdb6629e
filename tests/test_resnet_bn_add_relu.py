"""NVIDIA's MXNet ResNet-50 block-ending BatchNormAddRelu kernel (validation/conv_unfused_passes.py, issue 18, round
stop-42 issue-64d): its bytes read from the data, the block outputs it covers counted by hand, the generic BN rule
for every other conv, NVIDIA-only, and the switch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import board_power, graph_time
from tapeout.validation import conv_unfused_passes as cu
from tapeout.validation.other_rows import bn_training_ops, training_graphs
from tapeout.validation.other_training import training_time
from tapeout.workloads import vision
from tapeout.workloads.blocks import ConvMatMul, as_precision

BF16 = as_precision("bf16")
# ResNet-50 v1.5 at 224 px: (block output channels, blocks, map side) per stage (He et al. 2016, Table 1)
STAGES = [(256, 3, 56), (512, 4, 28), (1024, 6, 14), (2048, 3, 7)]


def _access(ops) -> float:
    return sum(o.elems * (o.reads + o.writes) * o.count for o in ops)


def test_kernel_bytes_are_the_mxnet_kernel_parameters():
    s = cu.spec("resnet")
    assert s["vendors"] == ["NVIDIA"]
    k = s["kernels"]["bn_add_relu_nhwc"]
    # forward: X twice (statistics, normalize) + the addend; writes Y. Backward: X and dY twice; writes dX, dAddend
    assert (k["fwd_reads"], k["fwd_writes"], k["bwd_reads"], k["bwd_writes"]) == (3, 1, 4, 2)
    assert k["after"] == "conv1x1b"


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 64))
def test_covered_outputs_are_every_block_output_by_hand(batch):
    g = vision.resnet50_graph(batch, 224, "bf16")
    names = cu.covered(g, "NVIDIA", "resnet")
    assert names and all(n.endswith(".conv1x1b") and n.startswith("s") for n in names)
    elems = sum(cu.output_elems(o) for o in g.ops if o.name in names)
    assert elems == batch * sum(c * s * s * nb for c, nb, s in STAGES)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 64))
def test_step_traffic_is_the_generic_rule_plus_the_addend(batch):
    # generic BN: 8 accesses of each conv output (2 + 1 forward, 4 + 1 backward); the BN-add-ReLU outputs take
    # 3 + 1 forward and 4 + 2 backward: 2 more accesses of each block output, nothing else changes
    g = vision.resnet50_graph(batch, 224, "bf16")
    outs = sum(o.m * o.n * o.groups * o.count for o in g.ops if isinstance(o, ConvMatMul))
    blocks = batch * sum(c * s * s * nb for c, nb, s in STAGES)
    names = cu.covered(g, "NVIDIA", "resnet")
    fwd, bwd = cu.all_passes(g, BF16, "NVIDIA", "resnet")
    total = _access(bn_training_ops(g, BF16, names)) + _access(fwd) + _access(bwd)
    assert total == pytest.approx(8 * outs + 2 * blocks, rel=1e-12)


def test_nvidia_only_and_the_switch(monkeypatch):
    g = vision.resnet50_graph(8, 224, "bf16")
    assert cu.covered(g, "Habana", "resnet") == set() and cu.all_passes(g, BF16, "Habana", "resnet") == ([], [])
    _, once_gaudi, _ = training_graphs("resnet", 8, get_chip("gaudi2"), 8)
    assert [o.name for o in once_gaudi.ops] == ["bn_train.fwd", "bn_train.bwd"]
    _, once_on, _ = training_graphs("resnet", 8, get_chip("h100-sxm"), 8)
    assert any(o.name.endswith("bn_add_relu_nhwc") for o in once_on.ops)
    monkeypatch.setattr(cu, "RESNET_BN_ADD_RELU", False)
    _, once_off, _ = training_graphs("resnet", 8, get_chip("h100-sxm"), 8)
    assert [o.name for o in once_off.ops] == ["bn_train.fwd", "bn_train.bwd"]
    assert _access(once_off.ops) == _access(bn_training_ops(g, BF16))


def test_step_gains_the_backward_kernel_and_switch_off_restores(monkeypatch):
    chip, n, gb = get_chip("a100-sxm"), 8, 3264
    on = training_time("resnet", chip, n, gb, None)
    g, _, _ = training_graphs("resnet", gb // n, chip, n)
    p, board = calibrated_params(chip), board_power(chip)
    t_bwd = graph_time(OpGraph("b", cu.all_passes(g, BF16, "NVIDIA", "resnet")[1], g.meta), p, board)
    monkeypatch.setattr(cu, "RESNET_BN_ADD_RELU", False)
    off = training_time("resnet", chip, n, gb, None)
    assert on["bwd_s"] - off["bwd_s"] == pytest.approx(t_bwd, rel=1e-6)
    assert on["fwd_s"] == off["fwd_s"]
    # the block outputs' generic BN (forward and backward, run once per step) leaves `once`; the kernel's forward
    # takes its place there, its backward goes to bwd_s: more bytes in all
    assert on["once_s"] + on["bwd_s"] > off["once_s"] + off["bwd_s"]
    assert on["step_s"] > off["step_s"]
