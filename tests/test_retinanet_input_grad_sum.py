"""RetinaNet's block-input gradient sum (validation/conv_unfused_passes.py, retinanet_train.grad_sum_elementwise; issue
18, round stop-42 issue-65a): every trained BottleneckJIT's input gets two gradients (conv1's dgrad and the identity /
downsample branch's), which autograd adds in a kernel of its own; layer2's first block input needs none."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.validation import conv_unfused_passes as rb
from tapeout.validation.other_rows import training_graphs, workload_facts
from tapeout.validation.other_training import training_time
from tapeout.workloads.blocks import as_precision

BF16 = as_precision("bf16")
# ResNeXt-50 at 800 px: the block inputs that need a gradient (channels, blocks, h, w): layer2 blocks 2-4 (512 x
# 100 x 100), layer3's first (C3) and blocks 2-6 (1024 x 50 x 50), layer4's first (C4) and blocks 2-3 (2048 x 25 x 25)
INPUTS = [(512, 3, 100, 100), (512, 1, 100, 100), (1024, 5, 50, 50), (1024, 1, 50, 50), (2048, 2, 25, 25)]


def test_bytes_are_autograds_add():
    s = rb.spec("retinanet", rb.GRAD_SUM)
    assert s["vendors"] == ["NVIDIA"]
    for k in s["kernels"].values():  # backward only: read the two gradients, write their sum
        assert (k["fwd_reads"], k["fwd_writes"], k["bwd_reads"], k["bwd_writes"]) == (0, 0, 2, 1)
        assert (k["after"], k["elems"]) == ("conv1x1a", "input")
    fact = workload_facts()["retinanet_train"]["grad_sum_elementwise"]
    assert "InputBuffer::accumulate" in fact["source"] and "identity = x" in fact["source"]


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 32))
def test_elements_and_bytes_per_image_by_hand(batch):
    g, once, _ = training_graphs("retinanet", batch, get_chip("h100-sxm"), 8)
    fwd, bwd = rb.passes(g, BF16, "retinanet", rb.GRAD_SUM)
    assert fwd == [] and not any("grad_sum" in o.name for o in once.ops)
    e = batch * sum(c * nb * h * w for c, nb, h, w in INPUTS)
    assert sum(o.elems for o in bwd) == e == batch * 38_400_000
    assert sum(o.elems * (o.reads + o.writes) * 2 for o in bwd) == pytest.approx(6 * e)  # 230.4 MB per image
    assert not any(o.name.startswith(("bb.s1", "bb.s2b1.")) for o in bwd)


def test_vendor_scope_and_switch(monkeypatch):
    assert rb.applies("NVIDIA", "retinanet", rb.GRAD_SUM) and rb.applies(None, "retinanet", rb.GRAD_SUM)
    assert not rb.applies("Google", "retinanet", rb.GRAD_SUM)
    assert not any(rb.applies("NVIDIA", b, rb.GRAD_SUM) for b in ("maskrcnn", "resnet", "stable-diffusion"))
    chip, n, gb = get_chip("h100-sxm"), 8, 256
    on = training_time("retinanet", chip, n, gb, None)
    monkeypatch.setattr(rb, "RETINANET_INPUT_GRAD_SUM", False)
    off = training_time("retinanet", chip, n, gb, None)
    assert not rb.applies("NVIDIA", "retinanet", rb.GRAD_SUM)
    assert on["bwd_s"] > off["bwd_s"] and on["fwd_s"] == off["fwd_s"] and on["once_s"] == off["once_s"]
