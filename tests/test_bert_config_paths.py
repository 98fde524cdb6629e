"""NVIDIA-code BERT configs whose attention path or encoder format differs from the engine's default, read per config
from other_benchmarks.yaml bert_train.config_settings: FastUnpadBertAttention (`attention: fast_unpad`, priced op by
op per sequence by validation/bert_attention.py) and configs without --use_transformer_engine2 (`fp8_encoder: false`,
validation/bert_fp8.py). Issue 18, round stop-42 (issue-64c)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, Elementwise, MatMul
from tapeout.validation import bert_attention as ba, bert_config_fusions as bcf, bert_fp8
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.validation.other_training import training_time

RULES = fact("bert_train", "config_settings")
HEADS, HEAD_DIM, LAYERS = 16, 64, 24  # BERT-Large


def _rule(*key):
    return bcf.config_rule(RULES, *key)


def test_paths_read_per_config():
    """Sourced settings: Krai's 2 x A5000 (--unpad alone) and xFusion's v3.1 L4 / L40 / L40S (--unpad --fused_mha,
    fused_mha turned off under --unpad) run FastUnpadBertAttention; xFusion's A30s (--unpad_fmha) and every config not
    listed run the fused kernel. NVIDIA's 64 / 96 / 384 / 434-node H100 pack configs pass neither
    --use_transformer_engine2 nor --fused_gemm_gelu; its 1- and 8-node H100 configs are not listed (both flags)."""
    for key in (("v3.1", "Krai", "rtx-a5000", 1, 2), ("v3.1", "xFusion", "l4", 1, 6),
                ("v3.1", "xFusion", "l40", 1, 10), ("v3.1", "xFusion", "l40s", 1, 8)):
        assert bcf.config_attention(_rule(*key)) == "fast_unpad"
    for key in (("v3.1", "xFusion", "a30", 1, 10), ("v3.1", "xFusion", "a30", 1, 8), ("v3.1", "xFusion", "l40", 1, 8),
                ("v3.0", "xFusion", "l4", 1, 6), ("v2.0", "NVIDIA", "a30", 1, 2), (None, None, "l4", None, 6)):
        assert bcf.config_attention(_rule(*key)) is None
    for key in (("v3.0", "NVIDIA", "h100-sxm", 64, 512), ("v3.0", "NVIDIA", "h100-sxm", 96, 768),
                ("v3.0", "NVIDIA_CoreWeave", "h100-sxm", 384, 3072), ("v3.1", "NVIDIA", "h100-sxm", 434, 3472)):
        r = _rule(*key)
        assert bert_fp8.config_fp8(r) is False
        assert bcf.config_flags(r) == frozenset({"fused_bias_fc", "fused_bias_mha", "fused_dropout_add"})
    for key in (("v3.1", "NVIDIA", "h100-sxm", 8, 64), ("v3.0", "NVIDIA", "h100-sxm", 1, 8),
                ("v4.0", "NVIDIA", "h100-sxm", 434, 3472)):
        assert bert_fp8.config_fp8(_rule(*key)) is None
    # xFusion v3.1 GRADIENT_STEPS: L4 40 = 2 x 20, A30 56 = 2 x 28; L40 / L40S 1 (no gradient_steps)
    assert _rule("v3.1", "xFusion", "l4", 1, 6)["gradient_steps"] == 2
    assert _rule("v3.1", "xFusion", "a30", 1, 8)["gradient_steps"] == 2
    assert "gradient_steps" not in _rule("v3.1", "xFusion", "l40s", 1, 8)
    for r in RULES:  # every rule's attention path is a known one, every fp8_encoder a bool
        assert r.get("attention") in (None, *bcf.ATTENTION_PATHS)
        assert r.get("fp8_encoder") in (None, False, True)


def test_bad_values_are_one_clear_error():
    base = {"round": "v3.1", "submitter": "Krai", "chip": "rtx-a5000", "nodes": 1}
    with pytest.raises(TapeoutError, match="config_settings: attention 'unfused'.*fast_unpad"):
        bcf.config_attention({**base, "attention": "unfused"})
    with pytest.raises(TapeoutError, match="config_settings: fp8_encoder 'no'.*true or false"):
        bert_fp8.config_fp8({**base, "fp8_encoder": "no"})


def test_fp8_rule_can_only_turn_fp8_off(monkeypatch):
    """A config's `fp8_encoder: false` turns its stack's FP8 encoder off; it never turns FP8 on where the stack rule
    does not; with BERT_CONFIG_FP8 off the stack rule alone decides."""
    off, on, none = {"fp8_encoder": False}, {"fp8_encoder": True}, None
    assert bert_fp8.runs_fp8_config(True, off) is False
    assert bert_fp8.runs_fp8_config(True, none) is True and bert_fp8.runs_fp8_config(True, on) is True
    assert bert_fp8.runs_fp8_config(False, on) is False
    monkeypatch.setattr(bert_fp8, "BERT_CONFIG_FP8", False)
    assert bert_fp8.runs_fp8_config(True, off) is True


def test_fast_unpad_core_closed_form():
    """One layer of FastUnpadBertSelfAttention at 20 sequences of the graph's mean length S: 20 x 16 score matrices of
    S x S; bmm1 / bmm2 2 x E x 64 FLOPs each; the softmax reads and writes the 16-bit scores; the dropout (torch's CUDA
    kernel, its measured Philox share kept) reads the probabilities and writes them with a 1-byte mask."""
    g, _, _ = training_graphs("bert", 20)
    s = int(g.meta["seq_len"])
    assert s == round(float(fact("bert_train", "mean_tokens")))
    blocks, slots = ba.unpadded_core_shape(20, s)
    fwd, rest, bwd = ba.unfused_attention_split(g, blocks, slots, stream_dropout=False)
    e = 20 * HEADS * s * s
    ops = {o.name: o for o in fwd.ops}
    qk, pv = ops["layer.attn_qk"], ops["layer.attn_pv"]
    assert isinstance(qk, MatMul) and qk.count == LAYERS
    assert qk.flops == pytest.approx(2.0 * e * HEAD_DIM) and pv.flops == pytest.approx(2.0 * e * HEAD_DIM)
    sm, dr = ops["layer.attn_softmax"], ops["layer.attn_dropout"]
    assert sm.input_bytes + sm.output_bytes == pytest.approx(4.0 * e)
    assert dr.input_bytes + dr.output_bytes == pytest.approx(5.0 * e)
    assert dr.stream_share < 1.0  # the CUDA kernel's measured share, not Habana's pure stream
    assert not any(isinstance(o, Attention) for o in fwd.ops + rest.ops)
    assert [o for o in g.ops if not isinstance(o, Attention)] == rest.ops


@settings(max_examples=20, deadline=None)
@given(n=st.integers(min_value=1, max_value=400))
def test_unpadded_scores_scale_with_sequences(n):
    """Score elements = sequences x heads x S^2 per layer: linear in the sequences, whatever their number."""
    g, _, _ = training_graphs("bert", n)
    s = int(g.meta["seq_len"])
    fwd = ba.unfused_attention_split(g, *ba.unpadded_core_shape(n, s), stream_dropout=False)[0]
    sm = next(o for o in fwd.ops if o.name == "layer.attn_softmax")
    assert isinstance(sm, Elementwise) and sm.elems == pytest.approx(n * HEADS * s * s)


def test_rows_priced_on_their_config_and_switches_restore(monkeypatch):
    """The xFusion 8 x L40S row runs the unfused per-sequence core and is slower than the fused price; the 434-node
    H100 row runs 16-bit with the config's unfused GELU; each switch off restores the default for its rows."""
    l40s = get_chip("l40s")
    on = training_time("bert", l40s, 8, 352, None, None, "", "v3.1", 1, "xFusion")
    assert on["bert_graph"]["attention"].startswith("unfused per sequence")
    h100 = get_chip("h100-sxm")
    big = training_time("bert", h100, 3472, 13888, None, None, "", "v3.1", 434, "NVIDIA")
    assert big["bert_graph"]["encoder"].startswith("16-bit") and "passes fused_bias_fc" in big["bert_graph"]["fusions"]
    monkeypatch.setattr(ba, "FAST_UNPAD_ATTENTION", False)
    off = training_time("bert", l40s, 8, 352, None, None, "", "v3.1", 1, "xFusion")
    assert off["bert_graph"]["attention"].startswith("fused") and off["step_s"] < on["step_s"]
    monkeypatch.setattr(bert_fp8, "BERT_CONFIG_FP8", False)
    fp8 = training_time("bert", h100, 3472, 13888, None, None, "", "v3.1", 434, "NVIDIA")
    assert fp8["bert_graph"]["encoder"].startswith("FP8")
    # under the FP8 layers GELU is in FC1's epilogue (te_layers LayerNormMLP): the config's missing flag costs nothing
    assert "fused_gemm_gelu" in fp8["bert_graph"]["fusions"]
