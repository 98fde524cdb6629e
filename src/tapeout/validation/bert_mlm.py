"""The MLPerf BERT masked-LM head of a stack that runs it over every slot of its packs: Habana's PyTorch BERT.

Habana's PyTorch MLPerf BERT (mlcommons/training_results_v3.0 @9f08e30 Intel-HabanaLabs/benchmarks/bert/
implementations/PyTorch/run_pretraining.py `BertPretrainingCriterion.forward`) takes the model's
`prediction_scores` for every slot and gathers the masked ones afterwards:
`prediction_scores.view(-1, vocab_size)[masked_lm_positions + max_seq_length * arange(batch)]`, so the head's
transform and vocabulary decoder ran over all max_seq_length slots of each pack, not over the masked tokens the
graph prices by default (NVIDIA's `--dense_seq_output` gathers them first). Under autocast (launch_bert_pytorch.sh
`--use_autocast true`) the decoder writes its logits in the activations' 16-bit format. Which stacks:
bert_train.mlm_all_slots (vendor and software of the row; Habana's TensorFlow BERT is the Google BERT code, whose
get_masked_lm_output gathers the positions before the transform, and is not listed).

MLM_ALL_SLOTS: on. Source-pinned (the criterion above); see docs/notes/issue-18.md, round stop-37 (issue-39a), for
the rows as they came out. Off: every stack's head runs over the masked tokens.
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import OpGraph

MLM_ALL_SLOTS = True
HEAD_OPS = ("mlm_transform", "mlm_decoder")  # workloads/speech.bert_graph's masked-LM head


def runs_all_slots(vendor: str, software: str, stacks: list) -> bool:
    """Whether a row of `vendor` on `software` runs a listed stack ([vendor, software substring] pairs)."""
    return any(vendor == v and s.lower() in (software or "").lower() for v, s in stacks)


def all_slot_rows(packs: float, slots: int) -> int:
    """Rows of the head over every slot of `packs` packs of `slots` slots (at least one)."""
    return max(1, round(packs * slots))


def all_slot_head(g: OpGraph, packs: float, slots: int) -> OpGraph:
    """BERT graph `g` with its masked-LM head over every slot of `packs` packs of `slots` slots, 16-bit logits."""
    rows = all_slot_rows(packs, slots)
    return replace(g, name=f"{g.name}:mlm_all_slots", ops=[
        replace(o, m=rows, out_dtype=o.a_dtype) if o.name in HEAD_OPS else o for o in g.ops])


__all__ = ["HEAD_OPS", "MLM_ALL_SLOTS", "all_slot_head", "all_slot_rows", "runs_all_slots"]
