"""Activations a transformer layer keeps for its backward, counted for the layer's own shapes
(Korthikanti et al. 2022 Sec. 4.1 term by term; FlashAttention keeps Q, K, V, O and the
log-sum-exp, Dao et al. 2022)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_memory import (KORTHIKANTI_SAVED, activation_bytes_per_layer, device_memory,
                                       saved_bytes_per_token)
from tapeout.workloads.llm_config import LLMConfig, load_llm


def test_gpt3_with_dropout_is_korthikantis_34():
    # MHA, 4h GELU MLP: Korthikanti's 10 sbh outside + 24 sbh inside the TP regions
    assert saved_bytes_per_token(load_llm("gpt3-175b"), dropout=True) == pytest.approx(KORTHIKANTI_SAVED)
    # NVIDIA's MLPerf GPT-3 config runs without dropout: the two 1-byte masks go
    assert sum(saved_bytes_per_token(load_llm("gpt3-175b"))) == pytest.approx(32.0)


def test_llama_405b_count():
    # h 16384, 128 heads x 128, 8 KV heads, SwiGLU ffn 53248 = 3.25 h, no dropout:
    # norms 8 + Q 2 + K, V 2 x 2/16 + O 2 + gate/up 2 x 2 x 3.25 + SwiGLU output 2 x 3.25 = 31.75
    out, inside = saved_bytes_per_token(load_llm("llama-3.1-405b"))
    assert (out, inside) == pytest.approx((8.0, 23.75))


@settings(max_examples=40, deadline=None)
@given(a=st.sampled_from([8, 16, 32, 64]), kv_div=st.sampled_from([1, 2, 4, 8]),
       ffn_mult=st.sampled_from([2, 3, 4]), gated=st.booleans())
def test_count_is_linear_in_the_shapes(a, kv_div, ffn_mult, gated):
    h = 128 * a
    cfg = LLMConfig(hidden_size=h, num_hidden_layers=4, num_attention_heads=a, num_key_value_heads=a // kv_div,
                    intermediate_size=ffn_mult * h, vocab_size=1000, mlp_type="swiglu" if gated else "gelu")
    out, inside = saved_bytes_per_token(cfg)
    attn = 2 * (2 + 2 / kv_div)  # Q and O at h each, K and V at h / (a / kv) each
    mlp = 2 * ffn_mult * (3 if gated else 2)
    assert out == 8.0 and inside == pytest.approx(attn + mlp)
    # sequence parallelism divides all of it by TP; without it the norm side stays whole
    s, b, tp = 2048, 1, 4
    assert activation_bytes_per_layer(s, b, h, a, tp, fused_attention=True, saved=(out, inside)) == \
        pytest.approx(s * b * h * (out + inside) / tp)
    assert activation_bytes_per_layer(s, b, h, a, tp, fused_attention=True, sequence_parallel=False,
                                      saved=(out, inside)) == pytest.approx(s * b * h * (out + inside / tp))


def test_moe_layer_keeps_its_routed_experts_activations():
    # an MoE layer with top-2 of 8 experts of the dense width keeps twice the dense MLP's activations
    # plus the two dispatched token copies (2 x 2 bytes per hidden unit)
    kw = dict(hidden_size=1024, num_hidden_layers=4, num_attention_heads=8, intermediate_size=4096,
              vocab_size=1000, mlp_type="swiglu")
    dense = saved_bytes_per_token(LLMConfig(**kw))[1]
    moe = saved_bytes_per_token(LLMConfig(**kw, num_experts=8, num_experts_per_tok=2))[1]
    attn = 2 * 4.0
    assert moe - attn == pytest.approx(2 * (dense - attn) + 4.0)


def test_device_memory_uses_the_models_count():
    cfg = load_llm("llama-3.1-405b")
    lay = TrainLayout(tp=8, pp=16, dp=128, recompute="none")
    layers = [8] * 14 + [7, 7]
    mem = device_memory(cfg, lay, layers, m=16, s_local=8192)
    d = mem["device"]
    per_layer = 8192 * 16384 * 31.75 / 8
    assert mem["act"] == pytest.approx(per_layer * layers[d] * min(16, 16 - d))


def test_xla_dots_policy_keeps_the_projection_outputs():
    # MaxText 128B shapes (h 8192, 128 heads x 128 = 2h, MHA, SwiGLU 7h): Q, K, V 3 x 2 x 2, out-proj
    # output 2, gate and up 2 x 2 x 7, FC2 output 2, layer input 2 = 46 bytes per token per h
    from tapeout.perf.train_memory import dot_output_bytes_per_token

    cfg = LLMConfig(hidden_size=8192, num_hidden_layers=64, num_attention_heads=128, head_dim=128,
                    intermediate_size=57344, vocab_size=32000, mlp_type="swiglu")
    assert dot_output_bytes_per_token(cfg) == pytest.approx((2.0, 44.0))
    # never more than the full count: norms, activation output and attention output are recomputed
    assert sum(dot_output_bytes_per_token(cfg)) < sum(saved_bytes_per_token(cfg))


def test_dots_is_pinned_never_searched():
    from tapeout.perf.train_layout import RECOMPUTE, SEARCHED_RECOMPUTE, candidate_layouts

    assert "dots" in RECOMPUTE and "dots" not in SEARCHED_RECOMPUTE
    cands, _ = candidate_layouts(load_llm("llama-3.1-8b"), 64, 8, 512, 8192, {})
    assert cands and all(lay.recompute != "dots" for lay in cands)


def test_te_fp8_saves_the_linear_inputs_in_fp8():
    # TE 1.x FP8: norm inputs 2 x 2 B, the two norm outputs (QKV / FC1 inputs) 1 B each; inside, Q K V O
    # in BF16 (attention), the out-projection's own FP8 copy of O (1 B), the FC1 output(s) in BF16 (the
    # activation's backward), FC2's FP8 input. GPT-3 (MHA, GELU 4h): 6 + (8 + 1 + 8 + 4) = 27
    assert saved_bytes_per_token(load_llm("gpt3-175b"), gemm_input_bytes=1.0) == pytest.approx((6.0, 21.0))
    # Llama 3.1 405B (GQA 8 of 128 heads, SwiGLU 3.25 h): 6 + (2 x 2.125 + 1 + 2 x 6.5 + 3.25) = 6 + 21.5
    assert saved_bytes_per_token(load_llm("llama-3.1-405b"), gemm_input_bytes=1.0) == pytest.approx((6.0, 21.5))


@settings(max_examples=30, deadline=None)
@given(a=st.sampled_from([8, 16, 32]), kv_div=st.sampled_from([1, 4, 8]), ffn_mult=st.sampled_from([2, 3, 4]),
       gated=st.booleans())
def test_fp8_count_drops_by_exactly_the_saved_gemm_input_bytes(a, kv_div, ffn_mult, gated):
    h = 128 * a
    cfg = LLMConfig(hidden_size=h, num_hidden_layers=4, num_attention_heads=a, num_key_value_heads=a // kv_div,
                    intermediate_size=ffn_mult * h, vocab_size=1000, mlp_type="swiglu" if gated else "gelu")
    bf16, fp8 = saved_bytes_per_token(cfg), saved_bytes_per_token(cfg, gemm_input_bytes=1.0)
    # two norm outputs 2 -> 1 B; FC2 input ffn x (2 -> 1); plus the out-projection's 1 B copy of O (h)
    assert bf16[0] - fp8[0] == pytest.approx(2.0)
    assert bf16[1] - fp8[1] == pytest.approx(ffn_mult - 1.0)


def test_train_memory_follows_the_recipe():
    from tapeout.perf.training import train

    lay = TrainLayout(tp=4, pp=8, dp=16, vp=6, zero=1, recompute="none")
    kw = dict(model="gpt3-175b", chip="h100-sxm", num_chips=512, global_batch_tokens=1536 * 2048, seq_len=2048,
              layout=lay)
    bf16, fp8 = train(**kw, precision="bf16").breakdown, train(**kw, precision="fp8").breakdown
    assert fp8["act"] == pytest.approx(bf16["act"] * 27.0 / 32.0)
