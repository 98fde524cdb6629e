"""NVIDIA's ResNet-50 all-reduces its gradients in one Horovod group after the backward (other_benchmarks.yaml
resnet_train, validation/other_training.RESNET_ALLREDUCE_AFTER_BACKWARD): the whole all-reduce is in its step; other
vendors' stacks keep the DDP rule (only what outlasts the backward)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip, vendor_of
from tapeout.validation import other_training
from tapeout.validation.other_rows import fact
from tapeout.validation.other_training import allreduce_after_backward, training_time


def parts(r):
    return r["fwd_s"] + r["bwd_s"] + r["head_grad_s"] + r["recompute_s"] + r["once_s"] + r["optimizer_s"]


def test_nvidia_resnet_step_carries_the_whole_allreduce():
    r = training_time("resnet", get_chip("h100-sxm"), 64, 64 * 50, None)
    assert r["allreduce_s"] > 0
    assert r["step_s"] == pytest.approx(parts(r) + r["allreduce_s"], rel=1e-9)


def test_switch_off_restores_the_overlapped_rule(monkeypatch):
    monkeypatch.setattr(other_training, "RESNET_ALLREDUCE_AFTER_BACKWARD", False)
    r = training_time("resnet", get_chip("h100-sxm"), 64, 64 * 50, None)
    assert r["step_s"] == pytest.approx(parts(r) + max(0.0, r["allreduce_s"] - r["bwd_s"]), rel=1e-9)


@pytest.mark.parametrize("chip", ["gaudi2", "tpu-v4"])
def test_other_vendors_keep_the_ddp_rule(chip):
    c = get_chip(chip)
    assert vendor_of(c) not in fact("resnet_train", "allreduce_after_backward_vendors")
    r = training_time("resnet", c, 64, 64 * 50, None)
    assert r["allreduce_s"] > 0
    assert r["step_s"] == pytest.approx(parts(r) + max(0.0, r["allreduce_s"] - r["bwd_s"]), rel=1e-9)


def test_one_chip_has_nothing_to_reduce(monkeypatch):
    on = training_time("resnet", get_chip("a100-sxm"), 1, 256, None)
    monkeypatch.setattr(other_training, "RESNET_ALLREDUCE_AFTER_BACKWARD", False)
    off = training_time("resnet", get_chip("a100-sxm"), 1, 256, None)
    assert on["allreduce_s"] == 0 and on["step_s"] == off["step_s"]


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([16, 64, 512, 3584]), st.sampled_from([16, 50, 204]))
def test_exposing_adds_what_the_backward_hid(chips, per_chip):
    """on - off = ar - max(0, ar - bwd) = min(ar, bwd): never negative, never more than the all-reduce."""
    chip = get_chip("a100-sxm")
    on = training_time("resnet", chip, chips, chips * per_chip, None)
    other_training.RESNET_ALLREDUCE_AFTER_BACKWARD = False
    try:
        off = training_time("resnet", chip, chips, chips * per_chip, None)
    finally:
        other_training.RESNET_ALLREDUCE_AFTER_BACKWARD = True
    assert on["step_s"] - off["step_s"] == pytest.approx(min(on["allreduce_s"], on["bwd_s"]), rel=1e-9, abs=1e-15)


def test_which_stacks_reduce_after_the_backward(monkeypatch):
    assert allreduce_after_backward("resnet", "NVIDIA") and allreduce_after_backward("maskrcnn", "NVIDIA")
    assert not allreduce_after_backward("resnet", "Google") and not allreduce_after_backward("maskrcnn", "Google")
    assert not allreduce_after_backward("retinanet", "NVIDIA")  # PyTorch DDP hooks: overlapped with the backward
    monkeypatch.setattr(other_training, "RESNET_ALLREDUCE_AFTER_BACKWARD", False)
    assert not allreduce_after_backward("resnet", "NVIDIA") and allreduce_after_backward("maskrcnn", "NVIDIA")
