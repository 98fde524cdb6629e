"""Number formats and precision policies per op class (issue 16): block-scale bytes from the
format specs, per-chip resolution with visible fallback, bad input, sliding-window attention,
the new model presets and --model-config."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tapeout.errors import TapeoutError
from tapeout.formats import format_bits, native_formats, plan, policy_table, quant_flops
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, OpTable
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph, quantize_ops
from tapeout.workloads.llm_config import SUPPORTED_MODEL_TYPES, load_llm

from _cli import run_cli



@pytest.mark.parametrize("fmt, bits", [
    ("nvfp4", 4 + 8 / 16),  # E2M1 + one E4M3 scale per 16 (NVIDIA NVFP4)
    ("mxfp4", 4 + 8 / 32),  # OCP MX v1.0: one E8M0 per 32
    ("mxfp6", 6 + 8 / 32),
    ("mxfp8", 8 + 8 / 32),
])
def test_block_scale_bits_follow_the_format_specs(fmt, bits):
    assert format_bits(fmt) == pytest.approx(bits)
    assert get_precision(fmt).weight_bytes == pytest.approx(bits / 8)


def test_nvfp4_policy_on_b200_runs_fp4_gemms_and_fp8_attention():
    pr, choices = plan(get_precision("nvfp4"), get_chip("b200"))
    by = {c.op_class: c for c in choices}
    assert by["dense_gemm"].ran == "nvfp4" and by["expert_gemm"].ran == "nvfp4"
    assert by["attention"].ran == "fp8" and by["kv_cache"].ran == "fp8" and by["lm_head"].ran == "bf16"
    assert not any(c.fell_back for c in choices)
    assert by["dense_gemm"].bits == pytest.approx(4.5)
    assert 0 < pr.gemm_eff < 1  # FP4 kernels reach a lower fraction of peak (kernel database)


def test_nvfp4_falls_back_visibly_to_mxfp4_on_cdna4():
    pr, choices = plan(get_precision("nvfp4"), get_chip("mi355x"))
    assert pr.compute == "mxfp4" and pr.weights == "mxfp4"
    dense = next(c for c in choices if c.op_class == "dense_gemm")
    assert dense.fell_back and "fell back to mxfp4" in dense.note


def test_block_scaled_formats_need_native_support():
    assert "nvfp4" in native_formats(get_chip("b200"))
    assert "nvfp4" not in native_formats(get_chip("mi355x")) and "mxfp4" in native_formats(get_chip("mi355x"))
    assert not any(f in native_formats(get_chip("h100-sxm")) for f in ("nvfp4", "mxfp4", "mxfp6"))


def test_a_width_the_chip_lacks_is_bad_input():
    with pytest.raises(TapeoutError, match="--precision.*h100-sxm.*nvfp4.*formats it runs: .*fp8"):
        plan(get_precision("nvfp4"), get_chip("h100-sxm"))


@pytest.mark.parametrize("args, words", [
    (["serve", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--precision", "nvfp4"], ["--precision", "formats it runs"]),
    (["serve", "--model", "llama-3.1-8b", "--chip", "b200", "--precision", "fp5"], ["precision", "nvfp4"]),
])
def test_bad_format_is_one_line_exit_2(args, words):
    code, out, err = run_cli(args)
    assert code == 2
    out = (out + err).strip()
    assert len(out.splitlines()) == 1 and all(w in out for w in words)


def test_every_policy_row_names_every_gemm_class_and_a_source():
    for key, pol in policy_table().items():
        assert {"dense_gemm", "expert_gemm", "attention", "kv_cache", "lm_head"} <= set(pol), key
        assert pol["source"].strip(), key


def test_quantize_work_is_charged_for_quantized_activations_only():
    cfg = load_llm("llama-3.1-8b")
    g4 = build_llm_graph(cfg, LLMStep("prefill", 1, 512, 0, get_precision("nvfp4")))
    g16 = build_llm_graph(cfg, LLMStep("prefill", 1, 512, 0, get_precision("bf16")))
    q = [o for o in g4.ops if o.name == "qkv_quantize"]
    assert q and q[0].flops == pytest.approx(512 * cfg.hidden_size * quant_flops("nvfp4"))
    assert not [o for o in g16.ops if o.name.endswith("quantize")]
    att = next(o for o in g4.ops if o.kind == "attention")
    assert att.math_dtype == "fp8" and att.kv_dtype == "fp8"
    assert next(o for o in g4.ops if o.name == "lm_head").math_dtype == "bf16"


@given(elems=st.integers(1, 10**9))
def test_nvfp4_quantize_is_its_own_kernel_reading_16_bit_and_writing_4_5_bits(elems):
    """TRT-LLM's NVFP4 linear quantizes a BF16 input with its own fp4_quantize kernel: a launch
    that reads 2 bytes and writes 4 + 8/16 bits per element. FP8 stays fused (vector work only)."""
    (q,) = quantize_ops("q", elems, 1, "nvfp4")
    assert not q.fused
    assert q.input_bytes == pytest.approx(2.0 * elems)
    assert q.output_bytes == pytest.approx(elems * (4 + 8 / 16) / 8)
    (f,) = quantize_ops("q", elems, 1, "fp8")
    assert f.fused and f.input_bytes == 0 and f.output_bytes == 0
    assert quantize_ops("q", elems, 1, "bf16") == []


def test_nvfp4_quantize_kernels_lengthen_a_decode_step():
    """Four quantized GEMM inputs per dense layer (QKV, O, gate/up, down), each a launch of its own:
    the step with them costs at least 4 x layers x the kernel overhead more than without."""
    from dataclasses import replace as dc_replace

    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.opcost import evaluate

    cfg = load_llm("llama-3.1-8b")
    g = build_llm_graph(cfg, LLMStep("decode", 64, 1, 1024, plan(get_precision("nvfp4"), get_chip("b200"))[0]))
    q = [o for o in g.ops if o.name.endswith("quantize")]
    assert len(q) == 4 and all(not o.fused for o in q)
    p = calibrated_params(get_chip("b200"))
    def step_time(ops):
        t = OpTable.from_ops(ops)
        return float((evaluate(t, p).time * t.count).sum())

    with_q = step_time(g.ops)
    without = step_time([dc_replace(o, fused=True, reads=0, writes=0) if o in q else o for o in g.ops])
    assert with_q - without >= 4 * cfg.num_hidden_layers * p.kernel_overhead * 0.999


@given(kv=st.integers(1, 100_000), q=st.integers(1, 4096), w=st.integers(1, 8192))
def test_sliding_window_caps_keys_and_kv_reads(kv, q, w):
    q = min(q, kv)
    full = Attention(name="a", q_len=q, kv_len=kv)
    win = Attention(name="a", q_len=q, kv_len=kv, window=w)
    assert win.keys_per_query <= min(w, full.keys_per_query) + 1e-9
    assert win.weight_bytes == pytest.approx(full.weight_bytes * min(kv, w) / kv)


def test_gpt_oss_half_the_layers_read_only_the_window():
    cfg = load_llm("gpt-oss-120b")
    assert ('attention_sliding', 0.5, 128) in cfg.attention_kinds() and cfg.sliding_window == 128
    g = build_llm_graph(cfg, LLMStep("decode", 8, 1, 8191, get_precision("bf16")))
    att = {o.name: o for o in g.ops if o.kind == "attention"}
    assert att["attention"].count == att["attention_sliding"].count == 18
    assert att["attention_sliding"].weight_bytes == pytest.approx(att["attention"].weight_bytes * 128 / 8192)


@pytest.mark.parametrize("name, published_b", [
    ("llama-3.3-70b", 70.55), ("llama-4-scout", 109), ("llama-4-maverick", 400), ("deepseek-r1", 671),
    ("gpt-oss-120b", 116.8), ("gpt-oss-20b", 20.9), ("qwen3-8b", 8.2), ("qwen3-32b", 32.8),
])
def test_new_presets_match_published_parameter_counts(name, published_b):
    cfg = load_llm(name)
    assert cfg.param_count() / 1e9 == pytest.approx(published_b, rel=0.03)


def test_models_lists_the_new_presets():
    code, out, _ = run_cli(["models", "--json"])
    assert code == 0
    for n in ("llama-4-maverick", "gpt-oss-120b", "deepseek-r1", "qwen3-32b", "llama-3.3-70b"):
        assert n in out


def test_model_config_serves_any_supported_hf_config(tmp_path):
    cfg = {"model_type": "qwen3", "hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
           "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 3072, "vocab_size": 32000}
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    code, out, err = run_cli(["serve", "--model-config", str(p), "--chip", "h100-sxm", "--json"])
    assert code == 0, err
    assert json.loads(out)["output_tokens_per_s"] > 0


def test_unsupported_architecture_is_one_line_listing_supported(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 2}))
    code, out, err = run_cli(["serve", "--model-config", str(p), "--chip", "h100-sxm"])
    assert code == 2
    out = (out + err).strip()
    assert len(out.splitlines()) == 1 and "model_type" in out and "mamba" in out
    assert all(t in out for t in SUPPORTED_MODEL_TYPES)
