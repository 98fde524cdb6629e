"""Habana FusedSDPA without its recompute mode: the attention probabilities go through HBM.

Intel Gaudi's fused attention (habana_frameworks.torch.hpex.kernels.FusedSDPA) has two forward
kernels, chosen by the caller's recompute flag (HabanaAI/gaudi-pytorch-bridge
hpu_ops/backend/sdpa_gen.cpp @01f1004):
- recompute off: guid "sdpa_fwd" (SDPAFwd::AddNode) outputs the context [.., L, Ev] AND the
  probabilities P of the Q K^T shape [.., L, S] in the query's dtype (SDPAFwdOutputShape's qkt_shape;
  plus a 1-byte dropout mask of that shape when the dropout p > 0); the backward "sdpa_bwd"
  (SDPABwd::AddNode) takes P back as an input. So every score element is written once in the
  forward and read once in the backward, at 16 bits (BF16 activations), the causal mask
  notwithstanding (the output shape is the dense L x S).
- recompute on: "sdpa_recomp_fwd" outputs the context and two softmax statistics of shape
  [.., L, 1] only (SDPARecompFwdOutputShape): the flash-attention scheme the fused price already
  describes (its backward recomputes the scores).
`probs_ops` prices the recompute-off traffic as two memory-bound kernels (perf/opcost.py at the
chip's streaming rate: nothing fitted), beside the fused attention op's own price. A forward that
runs again under activation recompute (selective: the core; full: the layer) writes P again: the
engine's recompute terms re-run the forward attention, these bytes included.
Which stacks call FusedSDPA with recompute off is stack data (training_stacks.yaml
`attention_probs_saved`, with its launch-script source).

FUSED_SDPA_PROBS: on. The two kernels and their tensors are read from the bridge source; the stacks'
flag from their run scripts; see docs/notes/issue-18.md round stop-37 (issue-40b) for the rows as
they came out. Off: a FusedSDPA stack's attention is the fused op alone, whatever its recompute flag.
"""

from __future__ import annotations

from ..ops import Attention, Elementwise, OpGraph

FUSED_SDPA_PROBS = True


def probs_ops(g: OpGraph) -> tuple[list, list]:
    """(forward, backward) memory-bound ops of the probabilities P that FusedSDPA's non-recompute
    kernels write and read for every fused Attention op of `g`: batch x heads x q_len x kv_len
    elements of the op's activation dtype, written once forward, read once backward."""
    fwd, bwd = [], []
    for op in g.ops:
        if isinstance(op, Attention):
            e = float(op.batch) * op.heads * op.q_len * op.kv_len
            fwd.append(Elementwise(name=f"{op.name}_probs_write", count=op.count, elems=e, dtype=op.act_dtype,
                                   flops_per_elem=0.0, reads=0.0, writes=1.0))
            bwd.append(Elementwise(name=f"{op.name}_probs_read", count=op.count, elems=e, dtype=op.act_dtype,
                                   flops_per_elem=0.0, reads=1.0, writes=0.0))
    return fwd, bwd


__all__ = ["FUSED_SDPA_PROBS", "probs_ops"]
