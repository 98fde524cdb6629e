"""Weight casts of PyTorch autocast (AMP O1) in a training step (workloads/autocast.py) and the
Stable Diffusion step on NVIDIA's NeMo stack, whose UNet weights are FP16 (other_benchmarks.yaml
sd_train.unet_weight_dtype): no casts there (issue 18)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.validation import other_rows
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.workloads.autocast import weight_cast_ops
from tapeout.workloads.blocks import distinct_weight_bytes


def _bytes(ops):
    return sum((o.input_bytes + o.output_bytes) * o.count for o in ops)


@settings(max_examples=25, deadline=None)
@given(st.floats(1.0, 1e10), st.sampled_from(["fp16", "bf16"]))
def test_fp32_weight_costs_six_bytes_each_way(elems, low):
    fwd, bwd = weight_cast_ops("w", elems, "fp32", low)
    # forward cast: read the FP32 weight (4 B), write the 16-bit copy (2 B)
    assert fwd.input_bytes == pytest.approx(4 * elems) and fwd.output_bytes == pytest.approx(2 * elems)
    # backward (ToCopyBackward0): read the 16-bit gradient (2 B), write the FP32 .grad (4 B)
    assert bwd.input_bytes == pytest.approx(2 * elems) and bwd.output_bytes == pytest.approx(4 * elems)
    assert _bytes([fwd, bwd]) == pytest.approx(12 * elems)


@pytest.mark.parametrize("weights", ["fp16", "bf16"])
@pytest.mark.parametrize("low", ["fp16", "bf16"])
def test_sixteen_bit_weights_pay_no_cast(weights, low):
    # AMP O2 / a UNet converted to FP16: autocast's cached_cast leaves an operand already in 16 bits alone
    assert weight_cast_ops("w", 1e9, weights, low) == []


def test_no_cast_without_a_narrower_autocast_dtype():
    assert weight_cast_ops("w", 1e9, "fp32", "fp32") == []


def test_nemo_sd_unet_is_fp16_so_its_step_has_no_weight_cast():
    assert fact("sd_train", "unet_weight_dtype") == "fp16"
    _, once, _ = training_graphs("stable-diffusion", 8)
    assert not any("autocast" in o.name for o in once.ops)


def test_an_fp32_weight_sd_stack_casts_every_trained_weight_once(monkeypatch):
    real = other_rows.fact
    monkeypatch.setattr(other_rows, "fact",
                        lambda b, k: "fp32" if (b, k) == ("sd_train", "unet_weight_dtype") else real(b, k))
    g, once, dense = training_graphs("stable-diffusion", 8)
    casts = [o for o in once.ops if "autocast" in o.name]
    elems = distinct_weight_bytes(g.ops) / 2.0  # the graph's weights are 16-bit
    assert len(casts) == 2 and all(o.elems == pytest.approx(elems) for o in casts)
    assert _bytes(casts) == pytest.approx(12 * elems)
    # per step, not per sample: the same casts at any batch
    _, once16, _ = training_graphs("stable-diffusion", 16)
    assert _bytes([o for o in once16.ops if "autocast" in o.name]) == pytest.approx(_bytes(casts))
