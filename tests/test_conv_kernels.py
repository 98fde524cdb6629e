"""One convolution's fprop / dgrad / wgrad kernels as the training step prices them (perf/conv_kernels.py):
closed-form FLOPs of ResNet-50 layer shapes, the kernels' shapes and bytes by hand, the class read back off an op,
bad input, and the kernel-level convolution rows of microbenchmarks.csv (sourced, when any are on file)."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf import train_backward
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.conv_kernels import KINDS, ConvShape, conv_class, gemm_twin, is_conv_row, kernel_ops, kernel_times
from tapeout.perf.fit.rows import read_microbenchmarks


@pytest.fixture(scope="module")
def a100():
    return calibrated_params(get_chip("a100-sxm"))


@pytest.mark.parametrize("shape, flops", [
    # ResNet-50 v1.5 at batch 256 (torchvision resnet50; CUTLASS test/unit/conv/device/conv2d_problems.h ResNet-50 list)
    (ConvShape(256, 64, 64, 56, 56, 3), 2 * 256 * 56 * 56 * 64 * 64 * 9),  # layer1 3x3: 59.19 GFLOP
    (ConvShape(256, 256, 512, 56, 56, 1, stride=2), 2 * 256 * 28 * 28 * 512 * 256),  # layer2 downsample 1x1/s2
    (ConvShape(256, 128, 128, 56, 56, 3, stride=2), 2 * 256 * 28 * 28 * 128 * 128 * 9),  # layer2 v1.5 3x3/s2
    (ConvShape(256, 3, 64, 224, 224, 7, stride=2), 2 * 256 * 112 * 112 * 64 * 3 * 49),  # stem 7x7/s2, pad 3
    (ConvShape(256, 2048, 512, 7, 7, 1), 2 * 256 * 7 * 7 * 512 * 2048),  # layer4 1x1
])
def test_resnet50_layer_flops(shape, flops):
    assert shape.flops == flops
    assert {k: o.flops for k, o in kernel_ops(shape.op()).items()} == dict.fromkeys(KINDS, flops)


def test_59_gflop_layer():
    assert ConvShape(256, 64, 64, 56, 56, 3).flops == pytest.approx(59.19e9, rel=1e-3)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 64), c=st.sampled_from([3, 8, 64, 256, 2048]), k=st.sampled_from([8, 64, 512]),
       hw=st.sampled_from([7, 14, 28, 56]), r=st.sampled_from([1, 3, 7]), stride=st.sampled_from([1, 2]))
def test_kernels_by_hand(n, c, k, hw, r, stride):
    s = ConvShape(n, c, k, hw, hw, r, stride=stride)
    ho = (hw + 2 * (r // 2) - r) // stride + 1
    assert s.out_hw == (ho, ho)
    ops = kernel_ops(s.op("bf16"))
    f, d, w = (ops[x] for x in KINDS)
    assert (f.m, f.n, f.k) == (n * ho * ho, k, c * r * r)
    assert (d.m, d.n, d.k) == (n * ho * ho, c, k * r * r)
    assert (w.m, w.n, w.k) == (c * r * r, k, n * ho * ho)
    # bf16 bytes: fprop reads x once (implicit GEMM) and writes y; dgrad reads dy and writes dx in x's shape
    assert f.input_bytes == 2 * n * c * hw * hw and f.output_bytes == 2 * n * ho * ho * k
    assert d.input_bytes == 2 * n * ho * ho * k
    assert d.output_bytes == 2 * n * c * hw * hw  # DGRAD_WRITES_INPUT_SHAPE (on)
    assert w.output_bytes == 2 * c * r * r * k  # the weight gradient, m x n
    assert conv_class(f) == {"filter": f"{r}x{r}", "stride": stride, "c_in": c}
    twin = gemm_twin(f)
    assert twin.flops == f.flops and twin.input_bytes == 2 * f.m * f.k  # the im2col matrix, read densely


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 32), c=st.sampled_from([64, 256, 1024]), k=st.sampled_from([64, 256, 2048]),
       hw=st.sampled_from([14, 28, 56]), r=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]))
def test_full_dx_never_faster(n, c, k, hw, r, stride, a100):
    op = ConvShape(n, c, k, hw, hw, r, stride=stride).op()
    on = kernel_times(op, a100)
    assert all(math.isfinite(t) and t > 0 for t in on.values())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_backward, "DGRAD_WRITES_INPUT_SHAPE", False)
        off = kernel_times(op, a100)
    assert on["dgrad"] >= off["dgrad"] and on["fprop"] == off["fprop"] and on["wgrad"] == off["wgrad"]
    if stride == 1:  # 'same' padding, stride 1: dx is m x n, nothing changes
        assert on["dgrad"] == off["dgrad"]


def test_switch_off_writes_gemm_output(monkeypatch):
    monkeypatch.setattr(train_backward, "DGRAD_WRITES_INPUT_SHAPE", False)
    d = kernel_ops(ConvShape(8, 256, 512, 56, 56, 1, stride=2).op())["dgrad"]
    assert d.output_bytes == 2 * 8 * 28 * 28 * 256  # m x n: a quarter of dx


def test_3d_class():
    from tapeout.precision import get_precision
    from tapeout.workloads.blocks import conv3d

    op, _ = conv3d("c", 2, 32, 64, (64, 64, 64), 3, get_precision("bf16"), stride=2)
    assert conv_class(op) == {"filter": "3x3x3", "stride": 2, "c_in": 32}


@pytest.mark.parametrize("field, kw", [("n", {"n": 0}), ("c", {"c": -1}), ("r", {"r": 2.5}), ("stride", {"stride": True})])
def test_bad_shape_names_the_field(field, kw):
    base = dict(n=1, c=8, k=8, h=8, w=8, r=3)
    with pytest.raises(TapeoutError, match=f"ConvShape.{field}="):
        ConvShape(**{**base, **kw})


def test_too_small_input():
    with pytest.raises(TapeoutError, match="too small"):
        ConvShape(1, 8, 8, 2, 2, 7, pad=0)


def test_conv_rows_are_sourced():
    rows = [r for r in read_microbenchmarks() if is_conv_row(r)]
    for r in rows:  # none on file at stop 40 (docs/notes/issue-24.md); every one added must carry its source
        assert r["source"].startswith("http") and r["model_config"] and float(r["value"]) > 0
    assert not is_conv_row({"workload": "dense GEMM (torch.matmul)"})
    assert is_conv_row({"workload": "convolution fprop (cuDNN)"})
