"""Habana FusedSDPA without its recompute mode writes the probabilities P forward and reads them back in the
backward (perf/fused_sdpa.py; training_stacks.yaml attention_probs_saved). Issue 18, round stop-37 (issue-40b)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention, OpGraph
from tapeout.perf import fused_sdpa
from tapeout.perf.train_stack import find_stack, stack_table
from tapeout.perf.training import clear_cache, train

BRIDGE = "gaudi-pytorch-bridge hpu_ops/backend/sdpa_gen.cpp @01f1004"


def test_probs_ops_closed_form():
    """GPT-3 175B at TP 8: 12 heads per rank, one 2,048-token sequence, 12 layers: E = 12 x 2048^2 per call,
    written once (2 B) forward and read once backward."""
    g = OpGraph("g", [Attention(name="attn", count=12, batch=1, q_len=2048, kv_len=2048, heads=12, kv_heads=12,
                                d_qk=128, d_v=128)])
    f, b = fused_sdpa.probs_ops(g)
    assert len(f) == len(b) == 1
    assert f[0].elems == b[0].elems == 12 * 2048 ** 2 and f[0].count == b[0].count == 12
    assert (f[0].reads, f[0].writes, b[0].reads, b[0].writes) == (0.0, 1.0, 1.0, 0.0)
    assert f[0].flops_per_elem == b[0].flops_per_elem == 0.0 and f[0].dtype == "bf16"


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 8), h=st.integers(1, 64), q=st.integers(1, 8192), kv=st.integers(1, 8192))
def test_probs_are_the_dense_qk_shape(b, h, q, kv):
    """P has the Q K^T shape [b, h, L, S] whatever the causal mask (SDPAFwdOutputShape's qkt_shape)."""
    for causal in (True, False):
        g = OpGraph("g", [Attention(name="a", batch=b, q_len=q, kv_len=kv, heads=h, kv_heads=1, causal=causal)])
        f, bw = fused_sdpa.probs_ops(g)
        assert f[0].elems == bw[0].elems == float(b) * h * q * kv


def test_stack_data_pinned_to_the_run_scripts_and_bridge():
    t = stack_table()
    v31 = t["megatron-deepspeed-habana-v3.1"]["features"]["attention_probs_saved"]
    v40 = t["megatron-deepspeed-habana-v4.0"]["features"]["attention_probs_saved"]
    lora = t["optimum-habana-v4.0"]["features"]["attention_probs_saved"]
    assert v31["value"] is True and '--use-fused-sdpa true' in v31["source"]
    assert "USE_FUSED_SDPA_WITH_RECOMPUTE_ARG" in v31["source"] and "@f33f944" in v31["source"]
    assert v40["value"] is False and "--use-fused-sdpa-with-recompute true" in v40["source"]
    assert lora["value"] is True and "--flash_attention_recompute_enable false" in lora["source"]
    for spec in (v31, v40, lora):
        assert BRIDGE in spec["source"] and spec["wired"] is True
    # the LoRA row's software picks the new stack on Gaudi2 only, and no other v3.0 / NVIDIA stack has it
    assert find_stack("PyTorch 2.2.0", "v4.0", accelerator="Intel Gaudi2").name == "optimum-habana-v4.0"
    assert find_stack("PyTorch 2.2.0", "v4.0", accelerator="NVIDIA H100-SXM5-80GB") is None
    assert not any("attention_probs_saved" in e["features"] for n, e in t.items() if e.get("vendor") != "Intel")


def _step(chip, recompute="none", **kw):
    r = train("llama-3.1-8b", chip, 8, 8 * 4096, 4096, "bf16", tp=1, pp=1, cp=1, mbs=1, zero=1, recompute=recompute, **kw)
    return r.step_time_s


def test_step_grows_by_the_probs_traffic_and_switch_restores(monkeypatch):
    """Gaudi2, Llama-3.1-8B, one 4,096-token sequence per chip, no recompute: the step grows by at least the
    P bytes at the HBM peak (32 layers x 32 heads x 4096^2 x 2 B, written and read once each); off: unchanged."""
    base = _step("gaudi2")
    with monkeypatch.context() as m:  # train memoises its results: forget them around the switch
        m.setattr(fused_sdpa, "FUSED_SDPA_PROBS", False)
        clear_cache()
        assert _step("gaudi2", attention_probs_saved=True) == pytest.approx(base, rel=1e-12)
    clear_cache()
    on = _step("gaudi2", attention_probs_saved=True)
    from tapeout.hardware.catalog import get_chip

    bw = get_chip("gaudi2").specs["memory_bandwidth_tbps"].value * 1e12  # 2.46 TB/s, Intel
    bytes_ = 2 * 32 * 32 * 4096 ** 2 * 2.0
    assert on - base >= bytes_ / bw * 0.999
    assert on - base <= bytes_ / bw * 2.0  # a streaming kernel, not several passes


def test_unfused_core_takes_precedence():
    """A stack whose core runs unfused has no FusedSDPA: the probs flag adds nothing on top."""
    a = _step("gaudi2", attention_kernel="unfused", recompute="full")
    b = _step("gaudi2", attention_kernel="unfused", recompute="full", attention_probs_saved=True)
    assert a == pytest.approx(b, rel=1e-12)
