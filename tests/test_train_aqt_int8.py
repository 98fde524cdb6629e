"""Google's AQT int8 training recipe (training_recipes.yaml aqtint8; perf/train_recipe.AQT_INT8_RECIPE).

Sources (in the yaml entry): MaxText quantizations.py _get_quant_config 'int8' -> aqt config_v3(fwd_bits=8,
dlhs_bits=8, drhs_bits=8), use_fwd_quant False, stochastic rounding on the gradient; Pax v3.1
quant_aqt_v2.py fully_quantized(fwd_bits=8, bwd_bits=8, use_fwd_quant=False) on the QKV, attention output and
FFN linears only."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeout.perf.train_recipe as tr
from tapeout.ops import Attention, MatMul
from tapeout.perf.train_recipe import get_recipe, recipe_table, training_graph, weight_cast_bytes_per_param
from tapeout import api
from tapeout.perf.training import clear_cache
from tapeout.precision import Precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

# TRN-v4.0-0050's layout (v5p-1024.sh): 512 chips, ici_fsdp 64 x tensor 8, 32 sequences per TP group, remat full
V5P_512 = dict(model="gpt3-175b", chip="tpu-v5p", num_chips=512, global_batch_tokens=2048 * 2048, benchmark="gpt3-175b",
               tp=8, pp=1, mbs=32, zero=3, recompute="full", stack="maxtext-2024-04", precision="int8")


def _graph():
    cfg = load_llm("llama-3.1-8b")
    return build_llm_graph(cfg, LLMStep("prefill", 1, 2048, 0, Precision("int8", "int8", "bf16", "bf16", "int8"),
                                        1, 1, lm_head_all_tokens=True))


def test_int8_names_the_aqt_recipe_read_from_the_data():
    raw = recipe_table()
    assert raw["gemm_dtype_recipes"]["int8"] == "aqtint8"
    y = raw["recipes"]["aqtint8"]
    r = get_recipe("int8")
    assert r.name == "int8" and r.gemm == "int8" == y["gemm"]  # shown under the dtype the user asked for
    # config_v3 / fully_quantized: X and dY each quantized for two dots (fwd / dlhs along features, drhs along
    # tokens), an abs-max pass before each cast, SR noise on the gradient, W quantized in fwd and dlhs
    assert (r.copies, r.extra_reads, r.grad_flops, r.weight_casts_per_microbatch) == (
        y["copies"], y["extra_reads"], y["grad_flops"], y["weight_casts_per_microbatch"]) == (2, 1, 2, 2)
    assert not r.norm_fused_cast and not r.gather_quantized  # XLA, not Transformer Engine's fused paths
    assert "use_fwd_quant" in r.source and "quantizations.py" in r.source


def test_switch_off_keeps_int8_a_plain_gemm_dtype(monkeypatch):
    monkeypatch.setattr(tr, "AQT_INT8_RECIPE", False)
    assert get_recipe("int8") is None and get_recipe("aqtint8") is None
    pr = tr.gemm_dtype_precision("int8")
    assert pr.compute == "int8" and pr.attention is None  # main's pricing: attention at the GEMM format


def test_attention_and_logits_stay_bf16_and_every_linear_gets_its_casts():
    r = get_recipe("int8")
    g = _graph()
    g2, fwd, bwd = training_graph(g, r)
    assert all(op.math_dtype == "bf16" for op in g2.ops if isinstance(op, Attention))
    assert [op.math_dtype for op in g2.ops if isinstance(op, MatMul) and op.name == "lm_head"] == ["bf16"]
    gemms = [op for op in g.ops if isinstance(op, MatMul) and op.name not in ("lm_head", "router")]
    assert len(fwd.ops) == len(bwd.ops) == len(gemms)
    # per element of X (dY): amax read + cast read of BF16 (2 x 2 B) + two int8 copies (2 x 1 B)
    want_f = sum(op.count * op.m * op.k * (2 * 2 + 2 * 1) for op in gemms)
    want_b = sum(op.count * op.m * op.n * (2 * 2 + 2 * 1) for op in gemms)
    assert sum(op.count * op.bytes for op in fwd.ops) == pytest.approx(want_f)
    assert sum(op.count * op.bytes for op in bwd.ops) == pytest.approx(want_b)
    assert all(op.flops_per_elem == r.quant_flops + r.grad_flops for op in bwd.ops)  # stochastic rounding


@given(m=st.integers(1, 64))
@settings(max_examples=30, deadline=None)
def test_weight_casts_closed_form_per_microbatch(m):
    # AQT: 2 dots x (amax read 2 B + cast read 2 B + write 1 B) per micro-batch; TE fp8: once per step
    a = get_recipe("int8")
    assert weight_cast_bytes_per_param(a, m) == pytest.approx(10.0 * m)
    assert weight_cast_bytes_per_param(a, m + 1) > weight_cast_bytes_per_param(a, m)
    assert weight_cast_bytes_per_param(get_recipe("fp8"), m) == 4.0


def _on_off(monkeypatch):
    """TRN-v4.0-0050's layout priced with AQT_INT8_RECIPE on, then off (results are memoised by the asked
    precision, not by the switch: the cache is cleared around the off run)."""
    on = api.train(**V5P_512).to_dict()
    monkeypatch.setattr(tr, "AQT_INT8_RECIPE", False)
    clear_cache()
    off = api.train(**V5P_512).to_dict()
    clear_cache()
    return on, off


def test_recipe_prices_more_than_the_plain_dtype_on_v5p(monkeypatch):
    on, off = _on_off(monkeypatch)
    assert off["breakdown"]["fp8_cast"] == 0.0 < on["breakdown"]["fp8_cast"]
    assert on["step_time_s"] > off["step_time_s"]
    # the quantize passes are memory-bound kernels well under the GEMM time (sanity bound, not a fit)
    assert on["breakdown"]["fp8_cast"] < 0.2 * on["step_time_s"]


def test_no_quantized_weight_cache_under_aqt(monkeypatch):
    # AQT quantizes the weight inside each dot and keeps no copy across micro-batches, so the recipe adds
    # no device memory over the plain dtype (Transformer Engine's FP8 weight cache is not charged)
    on, off = _on_off(monkeypatch)
    assert on["memory_gib_per_chip"] == pytest.approx(off["memory_gib_per_chip"])
