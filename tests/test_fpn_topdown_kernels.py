"""The FPN top-down pathway's kernels outside the convolutions (validation/conv_unfused_passes.py, FPN sets; issue 18,
round stop-42 issue-65a): the nearest upsample (and RetinaNet's lateral add) per level that receives the top-down path,
their backward (upsample backward + the coarser level's gradient sum), bytes per image by hand, and where they apply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.validation import conv_unfused_passes as rb
from tapeout.validation.other_rows import training_graphs, workload_facts
from tapeout.workloads import maskrcnn, vision
from tapeout.workloads.blocks import as_precision

BF16 = as_precision("bf16")
C = 256  # FPN channels
# (h, w) of the levels that receive the top-down path: RetinaNet 800 x 800 P3, P4; Mask R-CNN 800 x 1344 P2, P3, P4
RETINANET_LEVELS = [(100, 100), (50, 50)]
MASKRCNN_LEVELS = [(200, 336), (100, 168), (50, 84)]


def _bytes(ops):
    return sum(o.elems * (o.reads + o.writes) * 2 for o in ops)


def test_bytes_per_element_follow_the_upsample_and_add():
    q = 0.25  # the coarser level's elements per fine element (stride 2)
    for bench, add in (("retinanet", (2, 1)), ("maskrcnn", (0, 0))):  # Mask R-CNN's add is the graph's fpn.topdown
        s = rb.spec(bench, rb.FPN)
        assert s["vendors"] == ["NVIDIA"]
        for k in s["kernels"].values():
            # forward: upsample reads the coarse level, writes the fine one; (RetinaNet) the add reads 2, writes 1
            assert (k["fwd_reads"], k["fwd_writes"]) == (q + add[0], 1 + add[1])
            # backward: upsample backward reads fine, writes coarse; autograd sums the coarse last_inner's 2 grads
            assert (k["bwd_reads"], k["bwd_writes"]) == (1 + 2 * q, q + q)
        fact = workload_facts()[f"{bench}_train"]["fpn_elementwise"]
        assert "ASSUMPTION" in fact["source"] and "F.interpolate" in fact["source"] and fact["status"] == "derived"
    assert [k["after"] for k in rb.spec("retinanet", rb.FPN)["kernels"].values()] == ["lateral3", "lateral4"]
    assert [k["after"] for k in rb.spec("maskrcnn", rb.FPN)["kernels"].values()] == ["lateral2", "lateral3",
                                                                                      "lateral4"]


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 32))
def test_retinanet_bytes_per_image_closed_form(batch):
    fwd, bwd = rb.passes(vision.retinanet_graph(batch, 800, "bf16"), BF16, "retinanet", rb.FPN)
    e = batch * C * sum(h * w for h, w in RETINANET_LEVELS)
    assert _bytes(fwd) == pytest.approx(2 * e * 4.25)  # 2 B x (2.25 + 2)
    assert _bytes(bwd) == pytest.approx(2 * e * 2.0)  # 2 B x (1.5 + 0.5)
    assert _bytes(fwd) / batch == pytest.approx(2 * C * 12500 * 4.25)  # 27.2 MB per image


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 16))
def test_maskrcnn_bytes_per_image_closed_form(batch):
    fwd, bwd = rb.passes(maskrcnn.maskrcnn_graph(batch, "bf16", train=True), BF16, "maskrcnn", rb.FPN)
    e = batch * C * sum(h * w for h, w in MASKRCNN_LEVELS)
    assert _bytes(fwd) == pytest.approx(2 * e * 1.25)
    assert _bytes(bwd) == pytest.approx(2 * e * 2.0)
    assert {o.name for o in bwd} == {o.name + "_bwd" for o in fwd}


def test_vendor_scope_graphs_and_switch(monkeypatch):
    for bench in ("retinanet", "maskrcnn"):
        assert rb.applies("NVIDIA", bench, rb.FPN) and rb.applies(None, bench, rb.FPN)
        assert not rb.applies("Google", bench, rb.FPN)
    assert not rb.applies("NVIDIA", "resnet", rb.FPN) and not rb.applies("NVIDIA", "stable-diffusion", rb.FPN)
    _, once, _ = training_graphs("retinanet", 4, get_chip("h100-sxm"), 8)
    assert {"fpn.topdown3", "fpn.topdown4"} <= {o.name for o in once.ops}  # forward with the forward-only work
    _, once, _ = training_graphs("maskrcnn", 4, get_chip("tpu-v4"), 8)
    assert not any(o.name.startswith("fpn.upsample") for o in once.ops)
    monkeypatch.setattr(rb, "FPN_TOPDOWN_KERNELS", False)
    for bench in ("retinanet", "maskrcnn"):
        assert not rb.applies("NVIDIA", bench, rb.FPN)
    _, once, _ = training_graphs("retinanet", 4, get_chip("h100-sxm"), 8)
    assert not any(o.name.startswith("fpn.topdown") for o in once.ops)
    assert any(o.name.endswith("bn_relu") for o in once.ops)  # the backbone set stays
