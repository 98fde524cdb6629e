"""Habana's PyTorch MLPerf BERT runs the masked-LM head over every slot of its packs (validation/bert_mlm.py;
other_benchmarks.yaml bert_train.mlm_all_slots). Issue 18, round stop-37 (issue-39a)."""

from __future__ import annotations

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul
from tapeout.validation import bert_mlm
from tapeout.validation import other_training as ot
from tapeout.validation.other_rows import fact, training_graphs, workload_facts

VOCAB, HIDDEN = 30522, 1024  # BERT-Large (MLPerf bert_config.json)


def test_stack_data_pinned_to_the_criterion_source():
    assert fact("bert_train", "mlm_all_slots") == [["Intel", "pytorch"]]
    src = workload_facts()["bert_train"]["mlm_all_slots"]["source"]
    for needle in ("training_results_v3.0 @9f08e30", "BertPretrainingCriterion.forward",
                   "masked_lm_positions + max_seq_length * arange(batch)", "get_masked_lm_output",
                   "gather_indexes(input_tensor, positions) before the transform"):
        assert needle in src


@pytest.mark.parametrize("vendor,software,runs", [
    ("Intel", "PyTorch 2.0.1a0", True), ("Intel", "TensorFlow 2.13.0", False),
    ("NVIDIA", "PyTorch NVIDIA Release 23.09", False), ("Intel", "", False)])
def test_which_rows_run_it(vendor, software, runs):
    assert bert_mlm.runs_all_slots(vendor, software, fact("bert_train", "mlm_all_slots")) is runs


def test_head_over_every_slot_closed_form():
    """Per-chip 56 sequences = 56 / 1.99895 packs of 512 slots: the transform and the decoder run over
    round(28.0147 x 512) = 14,344 rows (Habana's 28 packs: 14,336), 16-bit logits; nothing else changes."""
    g, _, _ = training_graphs("bert", 56)
    packs = 56 / float(fact("bert_train", "sequences_per_pack"))
    h = bert_mlm.all_slot_head(g, packs, 512)
    ops = {o.name: o for o in h.ops}
    dec, tr = ops["mlm_decoder"], ops["mlm_transform"]
    assert isinstance(dec, MatMul) and dec.m == tr.m == 14_344
    assert dec.flops == pytest.approx(2.0 * 14_344 * VOCAB * HIDDEN)
    assert dec.out_dtype == dec.a_dtype == "bf16"
    before = {o.name: o for o in g.ops}
    assert before["mlm_decoder"].m == 56 * 38  # the graph's default: the masked tokens only (round(0.15 x 254))
    assert [o for o in h.ops if o.name not in bert_mlm.HEAD_OPS] == [o for o in g.ops if o.name not in bert_mlm.HEAD_OPS]


def test_step_moves_only_for_the_pytorch_row_and_switch_off_restores():
    gaudi = get_chip("gaudi2")
    pt = ot.training_time("bert", gaudi, 8, 448, None, software="PyTorch 2.0.1a0")
    tf = ot.training_time("bert", gaudi, 8, 448, None, software="TensorFlow 2.13.0")
    assert pt["fwd_s"] > tf["fwd_s"] and pt["bwd_s"] > tf["bwd_s"]
    old = bert_mlm.MLM_ALL_SLOTS
    try:
        bert_mlm.MLM_ALL_SLOTS = False
        assert ot.training_time("bert", gaudi, 8, 448, None, software="PyTorch 2.0.1a0") == tf
    finally:
        bert_mlm.MLM_ALL_SLOTS = old
