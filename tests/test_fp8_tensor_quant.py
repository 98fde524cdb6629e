"""The dynamic per-tensor FP8 quantize pair the database's TensorRT-LLM collector runs before its FP8 GEMM
(kernel_tile.fp8_tensor_quant_rule / fp8_tensor_quant_rounds, kernels_db.yaml trtllm_fp8_tensor_quantize) and its
price in the kernel fit (kernel_fit.TENSOR_QUANT_ROUNDS, with_quant_rounds): issue 24, round stop-40 issue-54a."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_tile import fp8_tensor_quant_rounds, fp8_tensor_quant_rule
from tapeout.perf.opcost import evaluate
from tapeout.perf.training import OpGraph


def test_the_rule_covers_the_collectors_per_tensor_fp8_only():
    rule = fp8_tensor_quant_rule("h100_sxm", "trtllm", "fp8")
    # fp8Op.cpp -> cudaFp8Utils.cu: amax on 1024 x 1024, the scalar convert on 1024 x 256, one element per thread
    assert [(k["grid"], k["threads"]) for k in rule["kernels"]] == [(1024, 1024), (1024, 256)]
    assert rule["elements_per_thread"] == 1 and rule["threads_per_sm"] == 2048.0  # CC 9.0: 2048 resident threads
    assert fp8_tensor_quant_rule("b200_sxm", "trtllm", "fp8")["threads_per_sm"] == 2048.0
    assert fp8_tensor_quant_rule("h100_sxm", "trtllm", "fp8_block") is None  # the 1x128 pair has its own kernel
    assert fp8_tensor_quant_rule("h100_sxm", "vllm", "fp8") is None           # another stack's quantize
    assert fp8_tensor_quant_rule("l40s", "trtllm", "fp8") is None              # no compute capability on file


@pytest.mark.parametrize("system, cores, rounds", [
    # 8,192 x 8,192 = 67,108,864 elements. amax: min(1024, 132 x 2) CTAs x 1024 = 270,336 threads -> 249 iterations;
    # convert: min(1024, 132 x 8) x 256 = 262,144 (the whole grid) -> 256
    ("h100_sxm", 132.0, 249 + 256),
    # B200's 148 SMs hold 296 amax CTAs (303,104 threads -> 222); the convert grid is the same 262,144 threads
    ("b200_sxm", 148.0, 222 + 256),
])
def test_rounds_closed_form(system, cores, rounds):
    rule = fp8_tensor_quant_rule(system, "trtllm", "fp8")
    assert float(fp8_tensor_quant_rounds(8192, 8192, cores, rule)) == rounds


@given(st.integers(1, 70000), st.integers(1, 70000), st.sampled_from([78.0, 132.0, 148.0, 160.0]))
def test_rounds_cover_every_element_once_per_kernel(m, k, cores):
    """Per kernel, its iterations x its resident threads hold every element, one iteration fewer would not."""
    rule = fp8_tensor_quant_rule("h100_sxm", "trtllm", "fp8")
    amax = min(1024.0, cores * 2) * 1024
    conv = min(1024.0, cores * 8) * 256
    r = float(fp8_tensor_quant_rounds(m, k, cores, rule))
    ra, rc = -(-m * k // int(amax)), -(-m * k // int(conv))
    assert r == ra + rc
    assert ra * amax >= m * k > (ra - 1) * amax and rc * conv >= m * k > (rc - 1) * conv


@given(st.integers(1, 40000), st.integers(1, 40000), st.integers(1, 40000))
def test_rounds_are_monotone_in_elements(m, k, extra):
    rule = fp8_tensor_quant_rule("h100_sxm", "trtllm", "fp8")
    assert fp8_tensor_quant_rounds(m, k + extra, 132.0, rule) >= fp8_tensor_quant_rounds(m, k, 132.0, rule)


def _pass_time(elems: float, rounds: float, round_s: float) -> tuple[float, float]:
    """(DRAM-stream price, price with the rounds floor) of the per-tensor quantize pass of `elems` on H100."""
    p = calibrated_params(get_chip("h100-sxm"))
    cost = evaluate(OpGraph(name="q", ops=[kf.quantize_op("fp8", elems)]), p)
    floored = kf.with_quant_rounds(cost, np.array([rounds]), round_s)
    return float(np.sum(cost.time)), float(np.sum(floored.time))


def test_rounds_floor_closed_form():
    # a pass whose iterations take longer than its DRAM stream takes iterations x one iteration's time
    elems = 8192.0 * 8192.0
    rounds = float(fp8_tensor_quant_rounds(8192, 8192, 132.0, fp8_tensor_quant_rule("h100_sxm", "trtllm", "fp8")))
    dram, floored = _pass_time(elems, rounds, 1e-6)
    assert dram < rounds * 1e-6
    assert floored == pytest.approx(rounds * 1e-6, rel=1e-9)


@given(st.floats(1e3, 1e9), st.floats(0.0, 5e-6))
def test_rounds_floor_is_never_faster_than_the_dram_stream(elems, round_s):
    rule = fp8_tensor_quant_rule("h100_sxm", "trtllm", "fp8")
    rounds = float(fp8_tensor_quant_rounds(1, elems // 1, 132.0, rule))
    dram, floored = _pass_time(elems, rounds, round_s)
    assert floored >= dram * (1 - 1e-12)
    assert floored == pytest.approx(max(dram, rounds * round_s), rel=1e-9)


def test_switch_and_round_parameters():
    assert kf.TENSOR_QUANT_ROUNDS is False  # off: see docs/notes/issue-24.md, Round stop-40 issue-54a
    assert kf.round_param({"cls": "fp8"}) == "tensor_round_us"
    assert kf.round_param({"cls": kf.FP8_BLOCK_SM90}) == "quant_round_us"
    assert "tensor_round_us" in kf.NAMES
