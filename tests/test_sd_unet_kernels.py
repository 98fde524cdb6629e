"""NeMo's Stable Diffusion UNet kernels outside its convolutions (validation/conv_unfused_passes.py, the UNET set; issue
18, round stop-42 issue-64b): ResBlock's timestep-embedding add and residual add, SpatialTransformer's residual add,
and in the backward the emb gradient's H x W sum and autograd's two-gradient accumulation at each block input; the
transformer blocks' packed-QKV stack and residual adds (the TRANSFORMER set); the bytes read off openaimodel.py /
attention.py, element counts by hand over the SD2 UNet."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import board_power, graph_time
from tapeout.validation import conv_unfused_passes as rb
from tapeout.validation.other_rows import sd2_unet_train_ops, training_graphs, workload_facts
from tapeout.validation.other_training import training_time
from tapeout.workloads.blocks import as_precision

FP16 = as_precision("fp16")
SD = "stable-diffusion"
# SD2's UNet on a 64 x 64 latent (model_channels 320, channel_mult 1 2 4 4, 2 ResBlocks down / 3 up per level, the up
# path's inputs concatenated with the skips): (input channels, output channels, H x W) of every ResBlock
RESBLOCKS = ([(320, 320, 4096)] * 2 + [(320, 640, 1024), (640, 640, 1024), (640, 1280, 256), (1280, 1280, 256)]
             + [(1280, 1280, 64)] * 4  # down3's two and the mid block's two
             + [(2560, 1280, 64)] * 3 + [(2560, 1280, 256)] * 2 + [(1920, 1280, 256)]
             + [(1920, 640, 1024), (1280, 640, 1024), (960, 640, 1024)]
             + [(960, 320, 4096), (640, 320, 4096), (640, 320, 4096)])
# SpatialTransformers (channels x H x W): 2 per down level 0-2, 1 mid, 3 per up level 2-0 (transformer depth 1 1 1 0)
TRANSFORMERS = ([320 * 4096] * 2 + [640 * 1024] * 2 + [1280 * 256] * 2 + [1280 * 64]
                + [1280 * 256] * 3 + [640 * 1024] * 3 + [320 * 4096] * 3)


def _graph(batch: int) -> OpGraph:
    return OpGraph("sd", sd2_unet_train_ops(batch, FP16), {"batch": batch})


def test_settings_are_the_sources():
    s = rb.spec(SD, rb.UNET)
    assert s["vendors"] == ["NVIDIA"]
    k = s["kernels"]
    # (after, elems, fwd reads, fwd writes, bwd reads, bwd writes) in 16-bit elements
    want = {"emb_add": ("conv1", "output", 1, 1, 1, 0), "residual_add": ("conv2", "output", 2, 1, 0, 0),
            "input_grad_sum": ("conv1", "input", 0, 0, 2, 1), "transformer_residual": ("proj_out", "output", 2, 1, 2, 1)}
    for name, w in want.items():
        got = k[name]
        assert (got["after"], got.get("elems", "output"), got["fwd_reads"], got["fwd_writes"], got["bwd_reads"],
                got["bwd_writes"]) == w
        assert got["prefix"] == "unet."
    fact = workload_facts()["sd_train"][rb.UNET]
    assert fact["status"] == "published"
    assert all(w in fact["source"] for w in ("h = h + emb_out", "self.skip_connection(x) + h", "return x_in + x",
                                             "apex.contrib.group_norm", "InputBuffer"))


def test_the_sd2_block_table_is_the_graphs():
    g = _graph(1)
    conv1 = [o for o in g.ops if o.name.endswith(".conv1")]
    assert [(o.k // 9, o.n, o.m) for o in conv1] == RESBLOCKS
    assert [o.m * o.n for o in g.ops if o.name.endswith(".proj_out")] == TRANSFORMERS


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 64))
def test_bytes_per_image_closed_form(batch):
    fwd, bwd = rb.passes(_graph(batch), FP16, SD, rb.UNET)
    out = sum(co * hw for _, co, hw in RESBLOCKS)
    inp = sum(ci * hw for ci, _, hw in RESBLOCKS)
    tr = sum(TRANSFORMERS)
    # forward: emb add (1 + 1), residual add (2 + 1) per ResBlock output element, transformer residual (2 + 1); 2 B each
    assert sum(o.elems * o.count * (o.reads + o.writes) * 2 for o in fwd) == pytest.approx(
        batch * 2 * (2 * out + 3 * out + 3 * tr))
    # backward: the emb gradient's sum (1 read), the block inputs' accumulation (2 + 1) over the inputs, x_in's (2 + 1)
    assert sum(o.elems * o.count * (o.reads + o.writes) * 2 for o in bwd) == pytest.approx(
        batch * 2 * (out + 3 * inp + 3 * tr))
    assert len(fwd) == 2 * len(RESBLOCKS) + len(TRANSFORMERS) and len(bwd) == 2 * len(RESBLOCKS) + len(TRANSFORMERS)


def test_transformer_settings_are_the_sources():
    s = rb.spec(SD, rb.TRANSFORMER)
    assert s["vendors"] == ["NVIDIA"]
    want = {"qkv_stack": ("qkv", 1, 1, 0, 0), "attn_residual": ("attn_out", 1, 1, 1, 0),
            "xattn_residual": ("xattn_out", 1, 1, 1, 0), "ff_residual": ("fc2", 2, 1, 1, 0)}
    for name, w in want.items():
        k = s["kernels"][name]
        assert (k["after"], k["fwd_reads"], k["fwd_writes"], k["bwd_reads"], k["bwd_writes"]) == w
    fact = workload_facts()["sd_train"][rb.TRANSFORMER]
    assert fact["status"] == "derived"
    assert all(w in fact["source"] for w in ("torch.stack([q, k, v], dim=2)", "self.attn1(x", "self.ff(x) + x"))


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 64))
def test_transformer_bytes_per_image_closed_form(batch):
    fwd, bwd = rb.passes(_graph(batch), FP16, SD, rb.TRANSFORMER)
    tr = sum(TRANSFORMERS)
    # forward: the q / k / v stack (1 + 1 over 3 x channels), two residuals into the norms (1 + 1), ff residual (2 + 1)
    assert sum(o.elems * o.count * (o.reads + o.writes) * 2 for o in fwd) == pytest.approx(batch * 2 * 13 * tr)
    # backward: each residual's gradient read once more; the stack's backward is slices (no kernel)
    assert sum(o.elems * o.count * (o.reads + o.writes) * 2 for o in bwd) == pytest.approx(batch * 2 * 3 * tr)
    assert len(fwd) == 4 * len(TRANSFORMERS) and len(bwd) == 3 * len(TRANSFORMERS)
    assert not any(o.name.endswith("xkv.qkv_stack") for o in fwd)  # the cross-attention's K / V GEMM is not matched


def test_applies_to_nvidia_stacks_and_the_switch(monkeypatch):
    assert rb.applies("NVIDIA", SD, rb.UNET) and rb.applies(None, SD, rb.UNET)
    assert not rb.applies("Intel", SD, rb.UNET)
    assert rb.all_passes(_graph(2), FP16, "Intel", SD) == ([], [])
    _, once, _ = training_graphs(SD, 8, get_chip("gaudi2"), 64)
    assert not any(o.name.endswith(("emb_add", "residual_add", "transformer_residual")) for o in once.ops)
    _, once, _ = training_graphs(SD, 8, get_chip("h100-sxm"), 64)
    assert sum(o.name.endswith("emb_add") for o in once.ops) == len(RESBLOCKS)
    monkeypatch.setattr(rb, "SD_UNET_KERNELS", False)
    assert rb.all_passes(_graph(2), FP16, "NVIDIA", SD) == rb.passes(_graph(2), FP16, SD, rb.TRANSFORMER)
    monkeypatch.setattr(rb, "SD_TRANSFORMER_KERNELS", False)
    assert rb.all_passes(_graph(2), FP16, "NVIDIA", SD) == ([], [])
    for bench in ("retinanet", "maskrcnn"):  # the other benchmarks keep their own sets only
        assert not rb.applies("NVIDIA", bench, rb.UNET) and not rb.applies("NVIDIA", bench, rb.TRANSFORMER)


def test_step_gains_exactly_the_passes_and_switch_off_restores(monkeypatch):
    chip, n, gb = get_chip("h100-sxm"), 8, 512
    on = training_time(SD, chip, n, gb, None)
    g, _, _ = training_graphs(SD, gb // n, chip, n)
    fwd, bwd = rb.all_passes(g, FP16, "NVIDIA", SD)
    p, board = calibrated_params(chip), board_power(chip)
    t_fwd = graph_time(OpGraph("f", fwd, g.meta), p, board)
    t_bwd = graph_time(OpGraph("b", bwd, g.meta), p, board)
    monkeypatch.setattr(rb, "SD_UNET_KERNELS", False)
    monkeypatch.setattr(rb, "SD_TRANSFORMER_KERNELS", False)
    off = training_time(SD, chip, n, gb, None)
    assert on["once_s"] - off["once_s"] == pytest.approx(t_fwd, rel=1e-6)
    assert on["bwd_s"] - off["bwd_s"] == pytest.approx(t_bwd, rel=1e-6)
    assert on["fwd_s"] == off["fwd_s"]
    # memory-bound passes: no faster than their bytes at the chip's DRAM bandwidth
    assert t_bwd >= sum(o.elems * (o.reads + o.writes) * 2 for o in bwd) / p.mem_bw * 0.999
