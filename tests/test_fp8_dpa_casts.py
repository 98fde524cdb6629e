"""Transformer Engine's FP8 dot-product attention without FP8 MHA casts at its boundaries
(perf/fp8_dpa_casts.py): Q, K, V quantized and O dequantized forward, dO quantized and dQ, dK, dV
dequantized backward (TE DelayedScaling docstring; FusedAttnFunc with the separate-QKV layout)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention
from tapeout.perf import fp8_dpa_casts
from tapeout.perf.fp8_dpa_casts import dpa_boundary_casts
from tapeout.api.llm import train as api_train
from tapeout.perf.mlperf import clear_caches
from tapeout.perf.training import train


@pytest.fixture(autouse=True)
def _fresh_results():
    yield
    clear_caches()  # results memoised with the switch off must not outlive the test


def _bytes(ops) -> float:
    # Elementwise reads / writes are in bf16-sized (2-byte) units per element
    return sum(op.count * op.elems * (op.reads + op.writes) * 2.0 for op in ops)


def _attn(batch=1, q=8192, heads=16, kv_heads=2, d=128, count=80):
    return Attention(name="attention", count=count, batch=batch, q_len=q, kv_len=q, heads=heads, kv_heads=kv_heads,
                     d_qk=d, d_v=d)


def test_llama2_70b_tp4_layer_closed_form():
    # Llama-2-70B at TP4: 16 query heads, 2 KV heads of 128 per rank, 8,192 tokens, 80 layers
    f, b = dpa_boundary_casts(_attn())
    assert [op.name for op in f] == ["attention_fp8_dpa_q_quantize", "attention_fp8_dpa_k_quantize",
                                     "attention_fp8_dpa_v_quantize", "attention_fp8_dpa_o_dequantize"]
    assert [op.name for op in b] == ["attention_fp8_dpa_do_quantize", "attention_fp8_dpa_dq_dequantize",
                                     "attention_fp8_dpa_dk_dequantize", "attention_fp8_dpa_dv_dequantize"]
    q, kv = 8192 * 16 * 128, 8192 * 2 * 128
    assert [op.elems for op in f] == [q, kv, kv, q]
    # every element crosses once as 2 B BF16 and once as 1 B FP8: 3 B each, per layer
    assert _bytes(f) == pytest.approx(80 * 3.0 * (2 * q + 2 * kv))
    assert all(op.count == 80 for op in f + b)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 4), q=st.sampled_from([512, 2048, 8192]), heads=st.sampled_from([8, 16, 32]),
       group=st.sampled_from([1, 4, 8]))
def test_backward_moves_what_the_forward_moves_and_scales_with_tokens(batch, q, heads, group):
    a = _attn(batch=batch, q=q, heads=heads, kv_heads=max(1, heads // group))
    f, b = dpa_boundary_casts(a)
    assert len(f) == len(b) == 4
    assert _bytes(f) == pytest.approx(_bytes(b))  # the same four tensors, in the other direction
    f2, _ = dpa_boundary_casts(_attn(batch=2 * batch, q=q, heads=heads, kv_heads=max(1, heads // group)))
    assert _bytes(f2) == pytest.approx(2 * _bytes(f))


def test_switch_off_adds_nothing(monkeypatch):
    monkeypatch.setattr(fp8_dpa_casts, "FP8_DPA_BOUNDARY_CASTS", False)
    assert dpa_boundary_casts(_attn()) == ([], [])


LORA = dict(benchmark="llama2-70b-lora", chip="h100-sxm", pp=1, stack="nemo-24.04", tp_overlap="nemo-lora-fp8-h100-tp4")


def _pair(monkeypatch, **kw):
    on = train_api(**kw)
    monkeypatch.setattr(fp8_dpa_casts, "FP8_DPA_BOUNDARY_CASTS", False)
    off = train_api(**kw)
    monkeypatch.setattr(fp8_dpa_casts, "FP8_DPA_BOUNDARY_CASTS", True)
    return on, off


def train_api(**kw):
    clear_caches()  # results are memoised without the module switch in the key
    return api_train(**kw)


def test_fp8_attention_step_pays_the_casts_in_both_passes(monkeypatch):
    # NVIDIA's 8-H100 LoRA layout (TP4 CP1, FP8 attention at the measured gain): both passes grow by the same
    # kernels' time (equal bytes, equal kernel count), and by less than 2% of the step
    on, off = _pair(monkeypatch, num_chips=8, tp=4, cp=1, **LORA)
    dF = on.breakdown["F"] - off.breakdown["F"]
    dB = on.breakdown["B"] - off.breakdown["B"]
    assert dF > 0 and dB == pytest.approx(dF, rel=1e-3)
    assert 0 < on.step_time_s / off.step_time_s - 1 < 0.02


def test_no_casts_where_the_attention_runs_bf16(monkeypatch):
    # the CP2 layout: TE 1.6's ring runs the attention in BF16 (stack fp8_attention_cp false) -> nothing to cast
    on, off = _pair(monkeypatch, num_chips=64, tp=4, cp=2, **LORA)
    assert on.step_time_s == pytest.approx(off.step_time_s, rel=1e-12)
    # an FP8 run that does not ask FP8 attention
    kw = dict(model="llama3.1-8b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              precision="fp8", tp=2, pp=1, cp=1, mbs=1, zero=1, recompute="none")
    clear_caches()
    a = train(fp8_attention=False, **kw)
    monkeypatch.setattr(fp8_dpa_casts, "FP8_DPA_BOUNDARY_CASTS", False)
    clear_caches()
    assert train(fp8_attention=False, **kw).step_time_s == pytest.approx(a.step_time_s, rel=1e-12)
