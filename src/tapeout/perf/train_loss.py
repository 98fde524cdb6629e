"""Language-model loss of a training stack: the memory passes its cross-entropy makes over the logits.

Megatron / NeMo ("vocab_parallel_fp32"): the output layer runs in the parameters' dtype and writes BF16
logits (T tokens x V/TP vocabulary entries per rank; NeMo 1.x `parallel_lm_logits` under megatron_amp_O2,
Megatron-Core's ColumnParallelLinear output layer), and the loss converts them to FP32 first: NeMo 1.x
`post_language_model_processing` calls `vocab_parallel_cross_entropy(output.float(), labels)` unless
fp16_lm_cross_entropy (False in NVIDIA's MLPerf GPT-3 configs), Megatron-Core's
`VocabParallelCrossEntropy.calculate_logits_max` starts with `vocab_parallel_logits.float()`. Then
`_VocabParallelCrossEntropy` (Megatron-LM megatron/core/tensor_parallel/cross_entropy.py), one unfused
kernel per step, each a full pass over the FP32 logits:
    forward   convert BF16 -> FP32 (read 2 B, write 4), max over the vocabulary (read 4), subtract the max
              in place (4 + 4), exp in place (4 + 4), sum (4), divide by the sum in place, kept as the
              softmax for the backward (4 + 4): 38 B
    backward  multiply the softmax (minus one at the target, T elements) by the loss gradient in place
              (4 + 4), cast back to the BF16 the head's dgrad GEMM reads (4 + 2): 14 B
The head GEMM in the training graph writes `logits_dtype(kind)` (perf/training.py). The all-reduces of the
per-token max and sums over TP carry T floats (latency, not priced here). Memory-bound on any chip: its
time is bytes over the chip's memory bandwidth, as every elementwise op (perf/opcost)."""

from __future__ import annotations

from ..errors import TapeoutError
from ..ops import Elementwise

# (forward, backward) passes in FP32 elements per logit: reads, writes (bytes / 4), FLOPs; the forward's
# first pass is the BF16 -> FP32 conversion (read 0.5, write 1)
_PASSES = {"vocab_parallel_fp32": ((5.5, 4.0, 5.0), (2.0, 1.5, 1.0))}
# the dtype the LM head writes the logits in, before the loss converts them
_LOGITS_DTYPE = {"vocab_parallel_fp32": "bf16"}
LOSSES = tuple(_PASSES)


def _check(kind: str) -> None:
    if kind not in _PASSES:
        raise TapeoutError(f"lm_loss '{kind}' is not a known loss; use one of {', '.join(LOSSES)} "
                           f"(data/software/training_stacks.yaml lm_loss) or none.")


def logits_dtype(kind: str) -> str:
    """The dtype the LM head writes its logits in under loss `kind`."""
    _check(kind)
    return _LOGITS_DTYPE[kind]


def loss_ops(kind: str, logits: float) -> tuple[Elementwise, Elementwise]:
    """(forward, backward) elementwise ops of the loss over `logits` elements (tokens x vocabulary per rank)."""
    _check(kind)
    (rf, wf, ff), (rb, wb, fb) = _PASSES[kind]
    return (Elementwise(name="lm_loss", count=1, elems=logits, flops_per_elem=ff, reads=rf, writes=wf, dtype="fp32"),
            Elementwise(name="lm_loss_bwd", count=1, elems=logits, flops_per_elem=fb, reads=rb, writes=wb, dtype="fp32"))
