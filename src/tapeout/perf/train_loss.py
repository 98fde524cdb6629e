"""Language-model loss of a training stack: the memory passes its cross-entropy makes over the logits.

Megatron / NeMo ("vocab_parallel_fp32"): the LM head's logits (T tokens x V/TP vocabulary entries per rank)
go through `_VocabParallelCrossEntropy` in FP32 (Megatron-LM megatron/core/tensor_parallel/cross_entropy.py;
NeMo 1.x calls it on `output.float()` unless fp16_lm_cross_entropy, False in NVIDIA's MLPerf GPT-3 configs),
one unfused kernel per step, each a full pass over the FP32 logits:
    forward   max over the vocabulary (read 4 B), subtract the max in place (4 + 4), exp in place (4 + 4),
              sum (4), divide by the sum in place, kept as the softmax for the backward (4 + 4): 32 B
    backward  multiply the softmax (minus one at the target, T elements) by the loss gradient in place
              (4 + 4), cast back to the BF16 the head's dgrad GEMM reads (4 + 2): 14 B
The FP32 logits themselves are the head GEMM's output in the training graph (workloads/llm.py lm_head,
out_dtype fp32), so the cast into FP32 is not counted again. The all-reduces of the per-token max and sums
over TP carry T floats (latency, not priced here). Memory-bound on any chip: its time is bytes over the
chip's memory bandwidth, as every elementwise op (perf/opcost)."""

from __future__ import annotations

from ..errors import TapeoutError
from ..ops import Elementwise

# (forward, backward) passes in FP32 elements per logit: reads, writes (bytes / 4), FLOPs
_PASSES = {"vocab_parallel_fp32": ((5.0, 3.0, 5.0), (2.0, 1.5, 1.0))}
LOSSES = tuple(_PASSES)


def loss_ops(kind: str, logits: float) -> tuple[Elementwise, Elementwise]:
    """(forward, backward) elementwise ops of the loss over `logits` elements (tokens x vocabulary per rank)."""
    if kind not in _PASSES:
        raise TapeoutError(f"lm_loss '{kind}' is not a known loss; use one of {', '.join(LOSSES)} "
                           f"(data/software/training_stacks.yaml lm_loss) or none.")
    (rf, wf, ff), (rb, wb, fb) = _PASSES[kind]
    return (Elementwise(name="lm_loss", count=1, elems=logits, flops_per_elem=ff, reads=rf, writes=wf, dtype="fp32"),
            Elementwise(name="lm_loss_bwd", count=1, elems=logits, flops_per_elem=fb, reads=rb, writes=wb, dtype="fp32"))
