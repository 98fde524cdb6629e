"""The hidden-state dropout of BERT training: two dropout + residual-add kernels per layer.

BERT-Large's MLPerf config sets hidden_dropout_prob 0.1 (mlcommons/training language_model/tensorflow/bert
bert_config.json, the reference every stack trains); in training each layer applies it twice, to the attention
projection's output and to FC2's output, before the residual add. NVIDIA's implementation runs each as one kernel
of its own (`fused_dropout_add` -> `jit_dropout_add`, a torch.jit.script of `dropout(x, p, training=True)` +
`residual`; in `BertTransformerLayer2.forward` after the FP8 attention and in `BertOutput` / `LinearDropoutAdd`
after FC2: mlcommons/training_results_v3.1 @f33f944 ASUSTeK/benchmarks/bert/implementations/pytorch/modeling.py,
NVIDIA's file). The inference graph (workloads/speech.bert_graph) has no dropout and fuses the residual add into
the GEMM epilogue (blocks.FUSE_EPILOGUES), so training's kernel was priced at zero on every chip.

It is the kernel Megatron's bias-dropout-add is (a TorchScript dropout + add), so its bytes are perf/residual_ops'
one rule (round stop-40 issue-54d; before, this module priced its own: the backward as 2x a pure-stream forward,
14 B per element): per element of the T x hidden stream (T the graph's batch x seq_len; BERT has no tensor
parallelism), forward read x and the residual, write the sum and the 1-byte bool mask, the Philox draw at its
measured share (perf/memory_kernels.philox_share, under unfused_attention.DROPOUT_RNG); backward the add where the
branch gradient joins the residual one and the masked gradient (11 B per element). On a stack whose kernels are not
CUDA's (`measured_rng` False: Habana's TPC, the stacks bert_attention prices op by op) the forward is a pure stream,
bert_attention's rule for the attention dropout: the measured Philox share is torch's CUDA kernel on an A100. The
attention-probability dropout runs inside the fused attention kernel (not here). Habana's and Google's stacks train
the same model (same hidden_dropout_prob): the kernel's bytes are the model's, whichever stack fuses it how; a stack
that fuses the mask into the norm would read less (not read).

BERT_HIDDEN_DROPOUT: see docs/notes/issue-18.md, round stop-40 (issue-51g), for the rows as they came out and
why it is on or off (docs/notes/physical-limits.md, round stop-40 issue-54d, for the move to residual_ops' rule).
Off: no dropout kernel is priced.
"""

from __future__ import annotations

from ..ops import OpGraph
from ..perf.residual_ops import residual_ops
from .bert_attention import as_stream

BERT_HIDDEN_DROPOUT = True
PER_LAYER = 2  # after the attention projection and after FC2 (residual_ops: 2 residuals per layer)


def dropout_graphs(g: OpGraph, hidden: int, layers: int, measured_rng: bool = True) -> tuple[OpGraph, OpGraph]:
    """(forward, backward) graphs of the training step's dropout + residual-add kernels of BERT graph `g` (all
    layers, T x hidden elements, T = batch x seq_len of its meta), priced by perf/residual_ops; `measured_rng`
    False: the forward as a pure stream (a non-CUDA stack, module docstring)."""
    tokens = float(g.meta["batch"]) * float(g.meta["seq_len"])
    fwd, bwd = residual_ops(layers, tokens, hidden, tp=1, sequence_parallel=False, hidden_dropout=True)
    if not measured_rng:
        fwd = [as_stream(o) for o in fwd]
    return OpGraph(f"{g.name}:dropout", fwd, g.meta), OpGraph(f"{g.name}:dropout_bwd", bwd, g.meta)


__all__ = ["BERT_HIDDEN_DROPOUT", "PER_LAYER", "dropout_graphs"]
