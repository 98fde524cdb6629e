"""A split-K GEMM's in-order reduction (perf/opcost.split_k_reduction_time, ChipParams.split_k_serial_time).

cuBLASLt's in-place reduction scheme (CUBLASLT_REDUCTION_SCHEME_INPLACE, cuBLAS docs,
cublasLtReductionScheme_t: "parts are added up in the output data type. Workspace is only used for
counters that guarantee sequentiality"; TensorRT-LLM's cublasMMWrapper::getTactics restricts cuBLASLt
to it) adds the K slices' partial sums one after the other once their main loops are done: a chain of
(splits - 1) hand-offs after the GEMM's roofline time, whatever the shape's bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import Attention, MatMul, OpGraph
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import split_k_reduction_time

H100 = calibrated_params(get_chip("h100-sxm")).replace(tile_overhead=0.0, tile_k_overhead=0.0, kernel_overhead=0.0)
LINK = 0.3e-6
SER = H100.replace(split_k_serial_time=LINK)


def _t(p, op):
    return float(evaluate(OpGraph("g", [op]), p).time[0])


def _gemm(m, n, k):
    return MatMul(name="g", m=m, n=n, k=k)


def test_the_chain_is_one_hand_off_per_k_slice_past_the_first():
    # 128 x 1024 output = 8 tiles of 128 x 128 on 132 SMs: floor(132 / 8) = 16 slices of 512 (k / 256 = 32 allows them)
    assert H100.tile_m == 128 and H100.tile_n == 128 and H100.num_cores == 132
    op = _gemm(128, 1024, 8192)
    assert _t(SER, op) - _t(H100, op) == pytest.approx(15 * LINK, rel=1e-9)
    # the library's split limit caps the slices, and so the chain: 4 slices, 3 hand-offs
    assert _t(SER.replace(max_split_k=4.0), op) - _t(H100.replace(max_split_k=4.0), op) == pytest.approx(3 * LINK, rel=1e-9)


def test_no_chain_without_a_k_split():
    # as many tiles as cores (no split), a data-parallel kernel (max_split_k 1), K too short for two 256-deep slices
    for p0, p1, op in ((H100, SER, _gemm(1536, 11 * 128, 4096)),
                       (H100.replace(max_split_k=1.0), SER.replace(max_split_k=1.0), _gemm(128, 1024, 8192)),
                       (H100, SER, _gemm(128, 1024, 384))):
        assert _t(p1, op) == _t(p0, op)


def test_attention_kv_splits_are_not_gemm_reductions():
    op = Attention(name="a", batch=2, q_len=1, kv_len=8192, heads=32, kv_heads=8, d_qk=128, d_v=128, causal=True)
    assert _t(SER, op) == _t(H100, op)
    assert float(split_k_reduction_time(np.array(5.0), np.array(False), SER)) == 0.0


def test_the_default_model_has_no_chain():
    assert calibrated_params(get_chip("b200")).split_k_serial_time == 0.0 and H100.split_k_serial_time == 0.0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8192), st.integers(16, 16384), st.integers(16, 65536))
def test_the_chain_adds_between_nothing_and_one_hand_off_per_256_deep_slice(m, n, k):
    """Never faster; and never more than the most slices opcost allows (k / 256 of them, and the cores)."""
    op = _gemm(m, n, k)
    added = _t(SER, op) - _t(H100, op)
    most = max(min(math.floor(k / 256), H100.num_cores) - 1, 0)
    assert -1e-15 <= added <= most * LINK * (1 + 1e-9) + 1e-15


def test_the_fit_and_serving_price_the_same_chain():
    base = calibrated_params(get_chip("b200"))
    x = np.array([p[1] for p in kf.PARAMS])
    x[kf.NAMES.index("split_serial_us")] = 0.25
    assert kf.SPLIT_K_SERIAL
    assert kf.params_for(base, x, "bf16").split_k_serial_time == pytest.approx(0.25e-6)
    assert kf.params_for(base, x, "fp8").split_k_serial_time == pytest.approx(0.25e-6)
    # attention classes and the SM 9.0 fp8_block kernel (no K split) have none
    assert kf.params_for(base, x, "prefill").split_k_serial_time == 0.0
    assert kf.params_for(base, x, kf.FP8_BLOCK_SM90).split_k_serial_time == 0.0
    from tapeout.perf.kernel_calibration import chip_entry

    params = dict(zip(kf.NAMES, x))
    assert chip_entry(params, get_chip("b200"), "test")["kernel_library"]["split_k_serial_time"] == pytest.approx(0.25e-6)
    assert "SPLIT_K_SERIAL" in kf.model_switches()


def test_switched_off_the_chain_is_held_at_zero(monkeypatch):
    monkeypatch.setattr(kf, "SPLIT_K_SERIAL", False)
    base = calibrated_params(get_chip("b200"))
    x = np.array([p[1] for p in kf.PARAMS])
    assert kf.params_for(base, x, "bf16").split_k_serial_time == 0.0
    assert kf.split_serial_time({"split_serial_us": 1.0}) == 0.0
