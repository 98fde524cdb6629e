"""The hidden-state dropout of BERT training: two dropout + residual-add kernels per layer.

BERT-Large's MLPerf config sets hidden_dropout_prob 0.1 (mlcommons/training language_model/tensorflow/bert
bert_config.json, the reference every stack trains); in training each layer applies it twice, to the attention
projection's output and to FC2's output, before the residual add. NVIDIA's implementation runs each as one kernel
of its own (`fused_dropout_add` -> `jit_dropout_add`, a torch.jit.script of `dropout(x, p, training=True)` +
`residual`; in `BertTransformerLayer2.forward` after the FP8 attention and in `BertOutput` / `LinearDropoutAdd`
after FC2: mlcommons/training_results_v3.1 @f33f944 ASUSTeK/benchmarks/bert/implementations/pytorch/modeling.py,
NVIDIA's file). The inference graph (workloads/speech.bert_graph) has no dropout and fuses the residual add into
the GEMM epilogue (blocks.FUSE_EPILOGUES), so training's kernel was priced at zero on every chip.

Per element of the T x hidden stream, forward: read x and the residual (2 B each), write the sum (2 B) and the
Bernoulli mask (1 B, torch's bool mask); backward as every other element-wise op of the graph
(perf/train_backward: 2x its forward). The attention-probability dropout runs inside the fused attention kernel
(not here). Habana's and Google's stacks train the same model (same hidden_dropout_prob): the kernel's bytes are
the model's, whichever stack fuses it how; a stack that fuses the mask into the norm would read less (not read).

BERT_HIDDEN_DROPOUT: see docs/notes/issue-18.md, round stop-40 (issue-51g), for the rows as they came out and
why it is on or off. Off: no dropout kernel is priced.
"""

from __future__ import annotations

from dataclasses import replace

from ..ops import Elementwise, OpGraph

BERT_HIDDEN_DROPOUT = True
PER_LAYER = 2  # after the attention projection and after FC2
MASK_BYTES = 1.0  # torch dropout's bool mask, per element
FLOPS_PER_ELEM = 3.0  # compare the uniform draw with p, scale by 1/(1-p), add the residual


def dropout_add_op(g: OpGraph, hidden: int, layers: int) -> Elementwise:
    """The training step's dropout + residual-add kernels of BERT graph `g` (all layers): T x hidden elements,
    T the graph's tokens (batch x seq_len of its meta)."""
    tokens = float(g.meta["batch"]) * float(g.meta["seq_len"])
    # bf16-sized units: read x and residual (2 x 2 B), write the sum (2 B) and the mask (1 B)
    return Elementwise(name="layer.dropout_add", count=PER_LAYER * layers, elems=tokens * hidden,
                       flops_per_elem=FLOPS_PER_ELEM, reads=2.0, writes=1.0 + MASK_BYTES / 2.0, dtype="bf16")


def with_dropout(g: OpGraph, hidden: int, layers: int) -> OpGraph:
    """BERT graph `g` with its training-time hidden dropout kernels."""
    return replace(g, name=f"{g.name}:dropout", ops=[*g.ops, dropout_add_op(g, hidden, layers)])


__all__ = ["BERT_HIDDEN_DROPOUT", "MASK_BYTES", "PER_LAYER", "dropout_add_op", "with_dropout"]
