"""Habana's MLPerf BERT attention, op by op over the packs' 512 slots (validation/bert_attention.py;
other_benchmarks.yaml bert_train.unfused_attention_vendors). Issue 18, round stop-37 (issue-39a)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, Elementwise, MatMul
from tapeout.validation import bert_attention as ba
from tapeout.validation import other_training as ot
from tapeout.validation.other_rows import fact, training_graphs

LAYERS, HEADS, HEAD_DIM, SLOTS = 24, 16, 64, 512  # BERT-Large; MLPerf max_seq_length 512


def _split(per_chip: int):
    g, _, _ = training_graphs("bert", per_chip)
    packs, slots = ba.packed_core_shape(per_chip, int(fact("bert_train", "max_seq_len")),
                                        float(fact("bert_train", "sequences_per_pack")))
    return g, packs, slots, ba.unfused_attention_split(g, packs, slots)


def test_stack_data_pinned_to_habana_source():
    """Intel's (Habana's) BERT runs the scores materialised, in both frameworks; NVIDIA's runs a fused MHA."""
    assert fact("bert_train", "unfused_attention_vendors") == ["Intel"]
    from tapeout.validation.other_rows import workload_facts

    src = workload_facts()["bert_train"]["unfused_attention_vendors"]["source"]
    for needle in ("TensorFlow/nlp/bert/modeling.py @6450b9c", "tf.nn.softmax",
                   "PyTorch/nlp/bert/pretraining/modeling.py @825d681", "BertSelfAttention.forward",
                   "--enable_packed_data_mode true"):
        assert needle in src
    assert fact("bert_train", "max_seq_len") == 512 and fact("bert_train", "sequences_per_pack") == pytest.approx(1.99895)


def test_one_layer_bytes_and_flops_closed_form_gaudi2_row():
    """One layer of the 8 x Gaudi2 row (per-chip 56 sequences): 56 / 1.99895 packs x 16 heads = 448 score matrices
    of 512 x 512 (E = 117,440,512); 16-bit scores and a 1-byte dropout mask."""
    g, packs, slots, (fwd, rest, bwd) = _split(56)
    bh = round(packs * HEADS)
    assert bh == 448 and slots == SLOTS
    e = bh * SLOTS * SLOTS
    assert e == 117_440_512
    ops = {o.name: o for o in fwd.ops}
    qk, pv = ops["layer.attn_qk"], ops["layer.attn_pv"]
    assert isinstance(qk, MatMul) and qk.count == LAYERS
    assert qk.flops == pytest.approx(2.0 * e * HEAD_DIM) and pv.flops == pytest.approx(2.0 * e * HEAD_DIM)
    sm, dr, cp = ops["layer.attn_softmax"], ops["layer.attn_dropout"], ops["layer.attn_context_copy"]
    assert sm.input_bytes + sm.output_bytes == pytest.approx(4.0 * e)  # read and write the scores
    assert dr.input_bytes + dr.output_bytes == pytest.approx(5.0 * e)  # read probs, write probs + 1-byte mask
    assert cp.input_bytes + cp.output_bytes == pytest.approx(4.0 * bh * SLOTS * HEAD_DIM)
    # the dropout at the chip's streaming rate (no CUDA Philox share on a TPC), forward and backward
    assert all(o.stream_share == 1.0 for o in fwd.ops + bwd.ops if isinstance(o, Elementwise))
    # the fused Attention op is gone from both graphs; nothing else changed
    assert not any(isinstance(o, Attention) for o in fwd.ops + rest.ops)
    assert [o for o in g.ops if not isinstance(o, Attention)] == rest.ops
    # backward: two gradient GEMMs per batched GEMM, dropout / softmax / copy backward
    names = sorted(o.name for o in bwd.ops)
    assert names == sorted(["layer.attn_context_copy_bwd", "layer.attn_pv.dgrad", "layer.attn_pv.wgrad",
                            "layer.attn_dropout_bwd", "layer.attn_softmax_bwd", "layer.attn_qk.dgrad",
                            "layer.attn_qk.wgrad"])


@settings(max_examples=25, deadline=None)
@given(per_chip=st.integers(1, 128))
def test_scores_scale_with_packs_not_sequence_lengths(per_chip):
    """Every pack's scores span all 512 x 512 slot pairs: the score elements are the packs' (per_chip / 1.99895
    packs x 16 heads, rounded) x 512^2, whatever the mean sequence length."""
    _, packs, _, (fwd, _, _) = _split(per_chip)
    sm = next(o for o in fwd.ops if o.name == "layer.attn_softmax")
    assert sm.elems == max(1, round(packs * HEADS)) * SLOTS * SLOTS


def test_only_listed_vendors_move_and_switch_off_restores():
    """Gaudi2's step pays the materialised scores; an A100 (NVIDIA: fused MHA) is untouched; off: the fused op."""
    gaudi, a100 = get_chip("gaudi2"), get_chip("a100-sxm-80gb")
    on_g = ot.training_time("bert", gaudi, 8, 448, None)
    on_a = ot.training_time("bert", a100, 8, 448, None)
    old = ba.UNFUSED_BERT_ATTENTION
    try:
        ba.UNFUSED_BERT_ATTENTION = False
        off_g = ot.training_time("bert", gaudi, 8, 448, None)
        off_a = ot.training_time("bert", a100, 8, 448, None)
    finally:
        ba.UNFUSED_BERT_ATTENTION = old
    assert on_a == off_a
    assert on_g["fwd_s"] > off_g["fwd_s"] and on_g["bwd_s"] > off_g["bwd_s"]
    assert on_g["optimizer_s"] == off_g["optimizer_s"] and on_g["allreduce_s"] == off_g["allreduce_s"]


def test_a_chip_derived_from_gaudi2_runs_habanas_bert_stack(session_chips):
    """A user chip registered with `base: gaudi2` and no vendor has vendor 'custom' but runs its base's software
    stack (hardware/catalog.vendor_of follows the lineage): the same unfused attention core, all-slot MLM head and
    optimizer sharding as Gaudi2, hence the same step; a chip derived from an A100 keeps the fused path."""
    from tapeout.api import register_chip

    register_chip({"id": "test-g2-derived", "base": "gaudi2"})
    register_chip({"id": "test-a100-derived", "base": "a100-sxm-80gb"})
    derived, gaudi = get_chip("test-g2-derived"), get_chip("gaudi2")
    assert derived.vendor != gaudi.vendor  # the derived chip names no vendor of its own
    d = ot.training_time("bert", derived, 8, 448, None)
    g = ot.training_time("bert", gaudi, 8, 448, None)
    assert d["bert_graph"] == g["bert_graph"] and d["bert_graph"]["attention"].startswith("unfused")
    p_d, p_g = ot.calibrated_params(derived, None), ot.calibrated_params(gaudi, None)
    bound = float(max(p_g.eff_compute / p_d.eff_compute))  # the calibration difference, nothing else
    assert g["step_s"] <= d["step_s"] <= g["step_s"] * bound
    old = ba.UNFUSED_BERT_ATTENTION
    try:  # the derived chip's step is the unfused one: off, it drops to the fused price
        ba.UNFUSED_BERT_ATTENTION = False
        assert ot.training_time("bert", derived, 8, 448, None)["fwd_s"] < d["fwd_s"]
    finally:
        ba.UNFUSED_BERT_ATTENTION = old
    a = ot.training_time("bert", get_chip("test-a100-derived"), 8, 448, None)
    assert a["bert_graph"]["attention"].startswith("fused")
