"""perf/fp8_scale_update: Transformer Engine's FP8 delayed-scaling update kernels per layer and pass
(issue 18, round stop-36, issue-37a). Counts from data/software/fp8_scale_update.yaml (the stacks' TE source),
priced at the chip's per-kernel fixed time."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf import fp8_scale_update as fsu
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.train_stack import named_stack, stack_settings
from tapeout.perf.training import clear_cache


def test_counts_read_from_the_source_per_te_line():
    # TE 0.x: 3 modules (LayerNormLinear, Linear, LayerNormMLP) x (copy + reduction/scale + roll + fill_) + the cat
    assert fsu.kernels_per_layer("te-0.x-torchscript", False, 1) == 3 * 4 + 1
    assert fsu.kernels_per_layer("te-0.x-torchscript", True, 2) == 3 * 4 + 0.5
    # TE 1.0 line: one update kernel per module; reduce_amax adds the copy and the region's cat
    assert fsu.kernels_per_layer("te-1.0-09ba842", False, 1) == 3
    assert fsu.kernels_per_layer("te-1.0-09ba842", True, 1) == 3 * 2 + 1
    # later TE 1.x: nothing per module, cat + one multi-tensor update per region
    assert fsu.kernels_per_layer("te-1.6-fused", False, 4) == 0.5


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(fsu.updates())), lpr=st.floats(0.5, 64), k=st.floats(1e-7, 1e-5))
def test_more_layers_per_region_never_more_per_layer_reduce_never_fewer(name, lpr, k):
    assert fsu.kernels_per_layer(name, False, 2 * lpr) <= fsu.kernels_per_layer(name, False, lpr)
    assert fsu.kernels_per_layer(name, True, lpr) >= fsu.kernels_per_layer(name, False, lpr)
    assert fsu.scale_update_time(name, False, lpr, k) == pytest.approx(fsu.kernels_per_layer(name, False, lpr) * k)
    assert fsu.scale_update_time(None, True, lpr, k) == 0.0


def test_bad_names_are_one_clear_error():
    with pytest.raises(TapeoutError, match="fp8_scale_update 'te-9'.*te-0.x-torchscript"):
        fsu.kernels_per_layer("te-9", False, 1)
    with pytest.raises(TapeoutError, match="fp8_scale_update 'te-9'"):
        StackFeatures(fp8_scale_update="te-9")
    with pytest.raises(TapeoutError, match="layers_per_region"):
        fsu.kernels_per_layer("te-1.6-fused", False, 0)


def test_stacks_carry_their_te_line():
    for name, line in (("nemo-megatron-23.04", "te-0.x-torchscript"), ("nemo-23.09", "te-1.0-09ba842"),
                       ("nemo-24.04", "te-1.6-fused")):
        _, s, _ = stack_settings(named_stack(name), {}, {}, False)
        assert s["fp8_scale_update"] == line


def _gpt3(stack):
    clear_cache()
    return api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=3584, stack=stack)


def test_gpt3_3584_forward_and_backward_grow_by_the_counted_kernels():
    was = fsu.SCALE_UPDATE_KERNELS
    try:
        on = _gpt3("nemo-megatron-23.04")
        fsu.SCALE_UPDATE_KERNELS = False
        off = _gpt3("nemo-megatron-23.04")
    finally:
        fsu.SCALE_UPDATE_KERNELS = was
        clear_cache()
    assert on.parallelism == off.parallelism
    k = float(calibrated_params(get_chip("h100-sxm")).kernel_overhead)
    assert on.parallelism.startswith("TP4 PP8(v12)")  # the v3.0 submission's layout
    pp, vp = 8, 12
    layers = 96 // pp  # every device's layers (GPT-3: 96, split evenly under this stack)
    per_layer = fsu.kernels_per_layer("te-0.x-torchscript", False, 96 / (pp * vp)) * k
    assert on.breakdown["F"] - off.breakdown["F"] == pytest.approx(layers * per_layer, rel=1e-6)
    assert on.breakdown["B"] - off.breakdown["B"] == pytest.approx(layers * per_layer, rel=1e-6)
    assert on.breakdown["fp8_scale_update"] > 0 and off.breakdown["fp8_scale_update"] == 0.0


def test_a_bf16_run_launches_no_scale_update():
    clear_cache()
    r = api.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, seq_len=2048, global_batch_tokens=8 * 2048,
                  precision="bf16", stack="nemo-megatron-23.04")
    assert r.breakdown["fp8_scale_update"] == 0.0
