"""The fused-MoE layer's kernels around its grouped GEMMs (workloads/moe_kernels.py; TensorRT-LLM moe_kernels.cu runMoe)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.ops import OpTable
from tapeout.perf.grouped_gemm_path import runs_on_path, tma_ws
from tapeout.perf.opcost import evaluate
from tapeout.workloads.llm import prefill_graph
from tapeout.workloads.llm_config import load_llm
from tapeout.workloads import moe_kernels
from tapeout.workloads.moe_kernels import (EXPERT_FFN_OPS, SETUP_READ_WORDS, SETUP_WRITE_WORDS, finalize_op, permute_op,
                                           routing_op, sort_fused, sort_ops)


def test_permute_moves_every_routed_row_in_and_out():
    # T = 4096 tokens, top-2, hidden 4096, BF16: T k h elements read and the same written (2 bytes each)
    op = permute_op(4096 * 2, 4096, "bf16", 1)
    assert op.input_bytes == op.output_bytes == 4096 * 2 * 4096 * 2
    assert op.flops == 0


def test_finalize_reads_routed_rows_writes_one_row_per_token():
    # top-2: reads T k h 16-bit elements, writes T h, one multiply-add per element read
    T, k, h = 1000, 2, 4096
    op = finalize_op(T, T * k, h, "bf16", 1)
    assert op.input_bytes == pytest.approx(T * k * h * 2)
    assert op.output_bytes == pytest.approx(T * h * 2)
    assert op.flops == pytest.approx(2 * T * k * h)


def test_routing_reads_logits_writes_ids_and_weights():
    # 128 tokens x 8 experts of fp32 logits in; 128 x top-2 x (int32 id + fp32 weight) out
    op = routing_op(128, 8, 2, 1)
    assert op.input_bytes == 128 * 8 * 4
    assert op.output_bytes == pytest.approx(128 * 2 * 8)


def test_sort_is_one_cta_kernel_up_to_256_tokens_then_three_kernels():
    # fusedBuildExpertMapsSortFirstTokenBlockSize: <= 256 tokens and top-k in {1,2,4,6,8}; else the three-step path
    assert sort_fused(256, 8, 2) and not sort_fused(257, 8, 2)
    assert not sort_fused(64, 8, 3)  # no fused instantiation for top-3
    assert not sort_fused(64, 512, 8)  # log2(513) + 1 = 10 bits > 9
    assert [o.name for o in sort_ops(64, 8, 2, 1)] == ["experts_sort"]
    assert len(sort_ops(4096, 8, 2, 1)) == 3
    # both row maps written: 2 x T k int32
    assert sort_ops(64, 8, 2, 1)[0].output_bytes == 2 * 64 * 2 * 4


def test_mixtral_layer_has_the_fused_moe_kernels_with_their_bytes():
    # Mixtral-8x7B (h 4096, 8 experts, top-2) at 4096 tokens, TP1 BF16: every expert active, 1024 rows each
    cfg = load_llm("mixtral-8x7b")
    g = prefill_graph(cfg, 1, 4096, "bf16")
    ops = {o.name: o for o in g.ops}
    T, k, h = 4096, 2, cfg.hidden_size
    assert ops["experts_permute"].input_bytes == pytest.approx(T * k * h * 2)
    assert ops["experts_finalize"].input_bytes == pytest.approx(T * k * h * 2)
    assert ops["experts_finalize"].output_bytes == pytest.approx(T * h * 2)
    # the activation is its own kernel (doActivation after GEMM1): a launch, the GEMM's 2f-wide 16-bit rows read
    act = ops["experts_act"]
    assert not act.fused and act.input_bytes == pytest.approx(T * k * 2 * cfg.expert_ffn * 2)
    assert set(EXPERT_FFN_OPS) - {"experts_quantize", "experts_down_quantize"} <= set(ops)


def test_fp8_finalize_reads_the_16_bit_gemm_output():
    # TensorRT-LLM's GEMM2 writes BF16 (OutputType) under FP8 GEMMs: the finalize pass moves 2-byte elements
    g = prefill_graph(load_llm("mixtral-8x7b"), 1, 4096, "fp8")
    fin = next(o for o in g.ops if o.name == "experts_finalize")
    assert fin.output_bytes == pytest.approx(4096 * 4096 * 2)


_P = {}


def _layer_time(chip: str, model: str, tp: int, ep: int, prec: str, tokens: int) -> float:
    """One MoE layer's fused-op time (the experts_* ops, as perf/kernel_moe.py sums them)."""
    p = _P.setdefault(chip, calibrated_params(get_chip(chip)))
    g = prefill_graph(load_llm(model), 1, tokens, prec, tp=tp, ep=ep)
    ct = evaluate(g, p)
    return sum(float(np.asarray(ct.time[i]).max()) for i, o in enumerate(g.ops) if o.name.startswith("experts_"))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["h200", "b200", "l40s"]),
       st.sampled_from([("mixtral-8x7b", 2, 1, "bf16"), ("qwen3-30b-a3b", 1, 1, "fp8"), ("qwen3-30b-a3b", 4, 4, "bf16")]),
       st.integers(1, 16384), st.integers(1, 4096))
def test_moe_layer_time_never_falls_when_tokens_rise(chip, layout, tokens, more):
    model, tp, ep, prec = layout
    assert _layer_time(chip, model, tp, ep, prec, tokens + more) >= _layer_time(chip, model, tp, ep, prec, tokens) * (1 - 1e-9)


# --- per-format kernels of TensorRT-LLM's CUTLASS fused MoE (moe_kernels.FORMAT_KERNELS) ---

def _kernels(prec: str, on: bool, monkeypatch, tokens: int = 4096) -> dict:
    """{name: op} of one Mixtral-8x7B MoE layer's experts_* ops (TP1, EP1) with the switch set."""
    monkeypatch.setattr(moe_kernels, "FORMAT_KERNELS", on)
    g = prefill_graph(load_llm("mixtral-8x7b"), 1, tokens, prec)
    return {o.name: o for o in g.ops if o.name.startswith("experts_")}


def _launches(ops: dict) -> int:
    return sum(1 for o in ops.values() if not getattr(o, "fused", False))


def test_format_kernels_on_by_default_off_is_the_stop_31_kernel_list(monkeypatch):
    # off: no setup kernel; FP8's input quantize fused, NVFP4's GEMM2-input quantize its own kernel (on is the default)
    assert moe_kernels.FORMAT_KERNELS is True
    off = _kernels("fp8", False, monkeypatch)
    assert "experts_gemm_setup" not in off and off["experts_quantize"].fused
    assert not _kernels("nvfp4", False, monkeypatch)["experts_down_quantize"].fused


def test_fp8_input_quantize_is_its_own_kernel(monkeypatch):
    # static_quantize_e4m3_per_tensor before the fused op: reads T h BF16, writes T h FP8 (one byte), one launch
    T, h = 4096, load_llm("mixtral-8x7b").hidden_size
    q = _kernels("fp8", True, monkeypatch, T)["experts_quantize"]
    assert not q.fused
    assert q.input_bytes == pytest.approx(T * h * 2)
    assert q.output_bytes == pytest.approx(T * h * 1)


def test_nvfp4_gemm2_input_is_quantized_inside_the_activation(monkeypatch):
    # doActivationKernel (IsNVFP4) writes E2M1 values and block scales: no kernel, no bytes of its own;
    # the activation still writes GEMM2's input at the format's width
    on = _kernels("nvfp4", True, monkeypatch)
    assert on["experts_down_quantize"].fused and on["experts_down_quantize"].input_bytes == 0
    off = _kernels("nvfp4", False, monkeypatch)
    assert on["experts_act"].output_bytes == pytest.approx(off["experts_act"].output_bytes)


def test_gemm_setup_is_one_thread_per_local_expert(monkeypatch):
    # computeStridesTmaWarpSpecializedKernel: one launch; per local expert SETUP_READ_WORDS + SETUP_WRITE_WORDS
    # 4-byte words; EP 4 over Mixtral's 8 experts leaves 2 per rank
    monkeypatch.setattr(moe_kernels, "FORMAT_KERNELS", True)
    g = prefill_graph(load_llm("mixtral-8x7b"), 1, 256, "bf16", tp=4, ep=4)
    s = next(o for o in g.ops if o.name == "experts_gemm_setup")
    assert not s.fused
    assert s.input_bytes == pytest.approx(2 * SETUP_READ_WORDS * 4)
    assert s.output_bytes == pytest.approx(2 * SETUP_WRITE_WORDS * 4)


def _priced_launches(prec: str, on: bool, chip: str, monkeypatch) -> int:
    """Kernels of one Mixtral-8x7B MoE layer (experts_* ops, not fused) that cost time on `chip`."""
    from tapeout.perf.kernels_db import chip_for

    ops = list(_kernels(prec, on, monkeypatch).values())
    t = np.asarray(evaluate(OpTable.from_ops(ops), calibrated_params(chip_for(chip)), check_support=False).time)
    return sum(1 for o, x in zip(ops, t) if not o.fused and x > 0)


@pytest.mark.parametrize("chip, prec, more", [
    # Hopper / datacenter Blackwell (TMA warp-specialised grouped GEMMs): + setup, + FP8's input quantize,
    # - NVFP4's GEMM2-input quantize; FP8 block scales: neither (block-scale runner, no TMA-WS setup)
    ("h100-sxm", "bf16", 1), ("h100-sxm", "fp8", 2), ("h100-sxm", "fp8block", 0), ("b200", "nvfp4", 0),
    ("b200", "fp8", 2),
    # Ampere / Ada (SM80 / SM89 grouped GEMM): no setup; FP8 + input quantize + computeFP8DequantScale x 2
    ("a100-sxm", "bf16", 0), ("l40s", "bf16", 0), ("l40s", "fp8", 3),
    # sm_120 (TMA, no async MMA): BF16 / FP8 run the SM80 / SM89 path, NVFP4 the TMA warp-specialised one
    ("rtx-pro-6000", "bf16", 0), ("rtx-pro-6000", "fp8", 3), ("rtx-pro-6000", "nvfp4", 0),
])
def test_format_kernels_launch_count_per_chip_and_format(chip, prec, more, monkeypatch):
    assert _priced_launches(prec, True, chip, monkeypatch) - _priced_launches(prec, False, chip, monkeypatch) == more


# --- which grouped-GEMM path a chip runs (perf/grouped_gemm_path.py; TensorRT-LLM supportsTmaWarpSpecialized) ---

@pytest.mark.parametrize("tma, async_mma, fp4, ws", [
    (1, 1, False, True), (1, 1, True, True),  # sm_90 / sm_100: same-type BF16 / FP8 (/ NVFP4 on sm_100)
    (1, 0, False, False), (1, 0, True, True),  # sm_120: isValidSM120MOESpecialisation is FP4 only
    (0, 0, False, False), (0, 0, True, False), (0, 1, False, False),  # no TMA: the SM80 path, whatever else
])
def test_tma_ws_needs_tma_and_async_mma_or_block_scaled_fp4(tma, async_mma, fp4, ws):
    assert bool(tma_ws(tma, async_mma, fp4)) is ws
    # a "tma_ws" kernel runs exactly where an "sm80" kernel does not; an ungated one everywhere
    assert bool(runs_on_path(1, tma, async_mma, fp4)) is ws and bool(runs_on_path(2, tma, async_mma, fp4)) is not ws
    assert bool(runs_on_path(0, tma, async_mma, fp4))


@pytest.mark.parametrize("chip, tma, async_mma", [
    ("h100-sxm", 1, 1), ("h200", 1, 1), ("b200", 1, 1), ("gb300", 1, 1), ("rtx-pro-6000", 1, 0),
    ("a100-sxm", 0, 0), ("l40s", 0, 0), ("tpu-v5p", 0, 0), ("mi300x", 0, 0),
])
def test_chip_architecture_fields(chip, tma, async_mma):
    # from the chip description (family_defaults.yaml / extra_specs.csv), not its name; the catalog's RTX PRO 6000
    # (nvidia-blackwell, per-chip async_mma 0) and the kernel database's (nvidia-blackwell-rtx) agree
    from tapeout.perf.kernels_db import chip_for

    p = calibrated_params(chip_for(chip))
    assert (p.tma, p.async_mma) == (tma, async_mma)
    if chip == "rtx-pro-6000":
        q = calibrated_params(get_chip(chip))
        assert (q.tma, q.async_mma) == (tma, async_mma)


def test_undeclared_design_has_no_tma():
    # a ChipParams built without chip data (an NPU design point) runs the SM80-style path
    from tapeout.hardware.params import ChipParams
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(ChipParams)}
    assert defaults["tma"] == 0.0 and defaults["async_mma"] == 0.0


@given(n=st.integers(1, 512), fmt=st.sampled_from(["bf16", "fp8", "nvfp4"]),
       chip=st.sampled_from(["h100-sxm", "b200", "l40s", "a100-sxm"]))
@settings(max_examples=25, deadline=None)
def test_a_kernel_off_its_path_costs_nothing_and_on_it_costs_as_ungated(n, fmt, chip):
    import dataclasses

    from tapeout.ops import Elementwise

    gated = [Elementwise(name="k", elems=float(n), flops_per_elem=0, reads=1, writes=10, dtype="fp32", gemm_path=path,
                         gemm_format=fmt) for path in ("tma_ws", "sm80")]
    free = dataclasses.replace(gated[0], gemm_path="")
    p = calibrated_params(get_chip(chip))
    c = evaluate(OpTable.from_ops(gated + [free]), p, check_support=False)
    ws = bool(tma_ws(p.tma, p.async_mma, fmt == "nvfp4"))
    ran, off = (0, 1) if ws else (1, 0)
    assert c.time[off] == 0 and c.energy[off] == 0 and c.dram_bytes[off] == 0
    assert c.time[ran] == pytest.approx(c.time[2]) and c.energy[ran] == pytest.approx(c.energy[2]) and c.energy[2] > 0


def test_fp8_dequant_scale_writes_one_pointer_per_local_expert(monkeypatch):
    # computeFP8DequantScale: alpha_scale_ptr_array[expert] = fp8_dequant + expert, before GEMM1 and GEMM2;
    # EP 4 over Mixtral's 8 experts leaves 2 per rank; nothing read
    monkeypatch.setattr(moe_kernels, "FORMAT_KERNELS", True)
    g = prefill_graph(load_llm("mixtral-8x7b"), 1, 256, "fp8", tp=4, ep=4)
    a = [o for o in g.ops if o.name in ("experts_gate_up_alpha", "experts_down_alpha")]
    assert len(a) == 2 and all(o.gemm_path == "sm80" for o in a)
    assert all(o.input_bytes == 0 and o.output_bytes == pytest.approx(2 * 8) for o in a)
    assert not [o for o in prefill_graph(load_llm("mixtral-8x7b"), 1, 256, "bf16", tp=4, ep=4).ops if o.name.endswith("_alpha")]


def test_training_step_keeps_the_stop_31_kernel_list(monkeypatch):
    # TensorRT-LLM's per-format kernels are a serving stack's: a training step (logits for every token) builds
    # Megatron-Core's MoE layer, which the switch leaves alone
    from tapeout.precision import get_precision
    from tapeout.workloads.llm import LLMStep, build_llm_graph

    cfg = load_llm("mixtral-8x7b")

    def names(on: bool) -> list[str]:
        monkeypatch.setattr(moe_kernels, "FORMAT_KERNELS", on)
        g = build_llm_graph(cfg, LLMStep("prefill", 1, 4096, 0, get_precision("fp8"), lm_head_all_tokens=True))
        return [(o.name, o.fused) for o in g.ops if o.name.startswith("experts_")]

    assert names(True) == names(False)
    assert "experts_gemm_setup" in _kernels("fp8", True, monkeypatch)  # the serving step's layer does get them


def test_a_registered_chip_declares_tma_as_a_switch(session_chips):
    # no TMA unless declared; a declared value must be true / false (api.catalog switch rule)
    from tapeout.api.catalog import register_chip
    from tapeout.errors import TapeoutError

    base = {"bf16_tflops_dense": 500, "memory_bandwidth_tbps": 2, "memory_capacity_gb": 96, "tdp_w": 500}
    register_chip({"id": "tma-test-npu", "name": "T", "vendor": "X", "family": "generic", "specs": base})
    register_chip({"id": "tma-test-npu-tma", "name": "T2", "vendor": "X", "family": "generic", "specs": dict(base, tma=True)})
    assert calibrated_params(get_chip("tma-test-npu")).tma == 0.0
    assert calibrated_params(get_chip("tma-test-npu-tma")).tma == 1.0
    with pytest.raises(TapeoutError, match="tma is a switch"):
        register_chip({"id": "tma-test-npu-bad", "name": "T3", "vendor": "X", "family": "generic", "specs": dict(base, tma=3)})
