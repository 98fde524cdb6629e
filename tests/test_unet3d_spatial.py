"""NVIDIA's unet3d spatial parallelism (validation/unet3d_spatial.py): the configs' group sizes, the halo bytes of a
depth-split 3x3x3 conv in closed form, one rank's FLOPs, and sgs 1 leaving the step exactly as before."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.validation import unet3d_spatial as s
from tapeout.validation import unet3d_train as u
from tapeout.validation.other_training import training_time

H100 = get_chip("h100-sxm")


@pytest.fixture
def spatial_on(monkeypatch):
    monkeypatch.setattr(s, "SPATIAL_PARALLEL", True)


def _op(g, name):
    return next(o for o in g.ops if o.name == name)


def test_config_groups_match_main_py_global_batch(spatial_on):
    # main.py: global batch = batch 1 x (chips - nodes_for_eval 12 x 8 GPUs) / sgs, the rows' logged 84
    assert s.spatial_group(768, 84) == 8 and (768 - 12 * 8) // 8 == 84
    assert s.spatial_group(432, 84) == 4 and (432 - 12 * 8) // 4 == 84
    assert s.spatial_group(72, 56) == 1 and s.spatial_group(768, 56) == 1 and s.spatial_group(8, 56) == 1
    assert u.training_ranks(768, 84) == 672 and u.training_ranks(432, 84) == 336


def test_switch_off_is_sgs_one():
    assert not s.SPATIAL_PARALLEL  # off: see the switch's comment
    assert s.spatial_group(768, 84) == 1 and u.training_ranks(768, 84) == 84


def test_halo_bytes_of_one_3x3x3_conv_split_8_ways():
    g = u.train_graph(1, "fp16")
    # enc0.conv2: 128^3 x 32 -> 32, stride 1; an interior rank exchanges one 128 x 128 x 32 FP16 plane with each of
    # its two depth neighbours: 2 x 128 x 128 x 32 x 2 B = 2 MiB per direction (forward activations, backward dy)
    conv = _op(g, "enc0.conv2")
    assert s.conv_geometry(conv) == (128, 128, 32, 1)
    assert s.halo_bytes(conv) == 2 * 128 * 128 * 32 * 2 == 2 * 2 ** 20
    # enc1.conv1: stride 2 from 128^3: one neighbour (the kernel's stride test on even slabs), one input plane
    down = _op(g, "enc1.conv1")
    assert s.conv_geometry(down) == (128, 64, 32, 2)
    assert s.halo_bytes(down) == 128 * 128 * 32 * 2


def test_halo_convolution_flops_closed_form():
    g = s.per_chip_graph(u.train_graph(1, "fp16"), 8)
    halo = _op(g, "enc0.conv2.halo")
    # per received plane: one 128 x 128 output plane, 32 in x 32 out channels, the filter's 3 x 3 edge slice
    assert halo.count * halo.flops == 2 * (2 * 128 * 128 * 32 * 32 * 9)
    assert _op(g, "enc1.conv1.halo").count == 1
    assert not [o for o in g.ops if o.name.startswith(("enc3", "enc4", "enc5", "dec3", "dec4")) and
                o.name.endswith(".halo")]


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([2, 4, 8]))
def test_per_chip_flops_are_one_sgs_th_of_the_spatial_layers(sgs):
    full = u.train_graph(1, "fp16")
    part = s.per_chip_graph(full, sgs)
    flops = {o.name: o.flops * o.count for o in part.ops}
    for o in full.ops:
        want = o.flops * o.count / (sgs if s.is_spatial(o.name) else 1)
        assert flops[o.name] == pytest.approx(want, rel=1e-12)
    # the layers between the gather and the split (16^3 .. 4^3) run whole on every rank
    assert not s.is_spatial("enc3.conv1") and not s.is_spatial("dec3.conv2") and s.is_spatial("dec2.conv1")


def test_sgs_one_reproduces_the_step_exactly(spatial_on):
    g = u.train_graph(1, "fp16")
    assert s.per_chip_graph(g, 1) is g
    # a run no config splits: the same step with the switch on and off
    on = training_time("unet3d", H100, 72, 56, 336000.0)
    s.SPATIAL_PARALLEL = False
    off = training_time("unet3d", H100, 72, 56, 336000.0)
    assert on["step_s"] == off["step_s"] and on["minutes"] == off["minutes"]


def test_split_run_trains_on_groups(spatial_on):
    on = training_time("unet3d", H100, 768, 84, 391440.0)
    assert on["unet3d"]["training_ranks"] == 672 and on["unet3d"]["eval_ranks"] == 96
    s.SPATIAL_PARALLEL = False
    off = training_time("unet3d", H100, 768, 84, 391440.0)
    # one rank's share of the sample: a shorter step, not shorter than 1/8 of the whole-sample one
    assert off["step_s"] / 8 < on["step_s"] < off["step_s"]
    assert on["fwd_s"] < off["fwd_s"] / 2
