"""MLPerf Training `rnnt` (RNN-T on LibriSpeech 960 h) from its definition: the utterance a training sample costs,
the trained graph of one chip's step, and one evaluation pass (other_training.training_time prices both).

A training sample is one utterance of the training set's mean duration (other_benchmarks.yaml rnnt_train
mean_duration_s: 960.9 h / 281,241 utterances), stretched by the online speed perturbation's mean 1 / rate
(ln(1.15 / 0.85) / 0.30), with tokens_per_s sentencepieces per second (an assumption, sourced bounds there).
The graph (workloads/rnnt.py): the LSTMs' input projections one GEMM per layer, their recurrences a chain of
per-step GEMMs at M = the chip's batch and pointwise cell kernels (each a launch), the packed joint and the fused
transducer loss at the real lengths. Backward: perf/train_backward.py's rule (GEMMs 2x, so a recurrent layer's
backward is the same sequential chain twice; elementwise 2x); the first encoder projection has no data gradient
(train_no_input_grad.rnnt). Weight update: DistributedFusedLAMB (weight_update.rnnt); gradient all-reduce: the DDP
rule of other_training.data_parallel_sync_s.

Evaluation (train-rnnt): every epoch, the whole dev-clean set (2,703 utterances) split over the chips in one batch
each (NVIDIA EVAL_BATCHSIZE = ceil(2703 / GPUs)), greedy decoding inside the timed region: the encoder forward and
T2 + U joint iterations per batch (workloads/rnnt.py rnnt_greedy_decode_graph) at dev-clean's mean duration (5.4 h
/ 2,703) and the same speaking rate.

Switch PADDED_RECURRENCE (on since round stop-39, issue-47b): a batch is a padded tensor, so the LSTMs' recurrent
chains (encoder and prediction network) take as many steps as the batch's longest utterance, not the mean. Read in
NVIDIA's implementation (training_results_v1.0 NVIDIA/benchmarks/rnnt/implementations/pytorch/common/rnn.py): its
LSTM wraps torch.nn.LSTM over a padded tensor (no PackedSequence); with the sequence split (MIN_SEQ_SPLIT_LEN,
PRE_SORT_FOR_SEQ_SPLIT) the batch, sorted by length, runs its first time segment on every sequence and the second
on the longer ones, carrying the hidden state across, so the chain stays the longest utterance's while the input
projections, the packed apex joint and the loss run on about the real lengths (workloads/rnnt.py
rnnt_train_graph). The batch's longest utterance is taken as the training filter's cap (rnnt_train max_duration_s,
16.7 s) times the mean speed stretch, an evaluation batch's as max_eval_duration_s (32.7 s). ASSUMPTION in that
magnitude: no duration distribution of LibriSpeech is on file, so the batch maximum does not fall with a small
per-chip batch (a chip with 4 utterances is priced at the cap, an upper bound there). On the 85 predicted rnnt rows
it moves the median |error| from 25.3% to 9.9% (docs/notes/issue-18.md, Round stop-39 issue-47b); off, every
sequence costs the mean utterance (a lower bound).

Switch MICRO_BATCHES (round stop-39, issue-48c): NVIDIA's train.py runs a per-GPU batch as
--grad_accumulation_steps micro-batches of batch_size // steps, each a whole forward and backward, before the one
optimizer step (run_and_time.sh: --batch_size=$BATCHSIZE --grad_accumulation_steps=$GRAD_ACCUMULATION_STEPS;
config_DGXA100_1x4x192x2.sh: 384 per GPU as 2 x 192). A chip's micro-batch cap is the largest one NVIDIA's configs
run on a GPU of at most its memory (other_benchmarks.yaml rnnt_train.micro_batch: 192 at 80 GB, 128 at 24 GB); a
per-chip batch above it runs ceil(batch / cap) passes of batch / passes utterances, so the recurrent chains (whose
time barely grows with M at these batches) run once per pass: the step graph is the micro-batch's with every op's
count times the passes (micro_batched). Off: one pass at the whole per-chip batch.

Not modelled (docs/notes/issue-18.md, Round stop-39 issue-48c): CUDA graphs (NUM_CG=50 on NVIDIA's multi-node
configs) remove no term here, since the per-kernel fixed time the chain is priced with is already the graph / stream
replay gap (perf/calibration.py kernel_overhead_us), not an eager host launch; cuDNN's persistent LSTM kernels,
which PyTorch selects for single-layer fp16 LSTMs at a batch that is a multiple of 8 up to 128 on 98+ SM GPUs (the
multi-node configs' MULTILAYER_LSTM=false), have no sourced per-step cost on file; the length-bucketing sampler's
batch maximum needs a LibriSpeech duration distribution, none is on file.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..ops import OpGraph
from ..perf.train_clock import graph_time
from ..workloads.rnnt import rnnt_greedy_decode_graph, rnnt_train_graph

PADDED_RECURRENCE = True  # on since round stop-39 (issue-47b): mechanism read in NVIDIA's code; batch maximum = the filter cap (docstring)
MICRO_BATCHES = True  # on since round stop-39 (issue-48c): read in NVIDIA's train.py and configs; the cap by memory (docstring)


def _fact(key: str):
    from .other_rows import fact

    return fact("rnnt_train", key)


def speed_stretch() -> float:
    """Mean length factor of the online speed perturbation: E[1 / r], r uniform on [min_rate, max_rate]."""
    sp = _fact("speed_perturbation")
    lo, hi = float(sp["min_rate"]), float(sp["max_rate"])
    mean = math.log(hi / lo) / (hi - lo) if hi > lo else 1.0 / lo
    p = float(sp.get("p", 1.0))
    return p * mean + (1.0 - p)


def train_utterance() -> tuple[float, float, float]:
    """(mean duration s, sentencepieces, padded duration s the LSTMs run over) of a training sample."""
    d = float(_fact("mean_duration_s")) * speed_stretch()
    tokens = d * float(_fact("tokens_per_s"))
    padded = max(d, float(_fact("max_duration_s")) * speed_stretch()) if PADDED_RECURRENCE else d
    return d, tokens, padded


def dev_utterance() -> tuple[float, float]:
    """(duration s the evaluation batch's encoder and decode loop run over, sentencepieces emitted)."""
    from .other_rows import fact

    mean = float(_fact("dev_hours")) * 3600.0 / float(fact("train-rnnt", "eval_samples"))
    d = max(mean, float(_fact("max_eval_duration_s"))) if PADDED_RECURRENCE else mean
    return d, d * float(_fact("tokens_per_s"))


def micro_batch_cap(chip) -> int | None:
    """Largest per-GPU micro-batch NVIDIA's configs run on a GPU of at most `chip`'s quoted memory (the smallest
    entry below every listed memory); None without a chip or with MICRO_BATCHES off (no split)."""
    if chip is None or not MICRO_BATCHES:
        return None
    table = sorted((float(e["memory_gb"]), int(e["micro_batch"])) for e in _fact("micro_batch"))
    mem = chip.get("memory_capacity_gb", None) if hasattr(chip, "get") else None
    mem = float(mem) if isinstance(mem, (int, float)) else 0.0
    fits = [mb for gb, mb in table if gb <= mem]
    return fits[-1] if fits else table[0][1]


def accumulation(per_chip_batch: int, cap: int | None) -> tuple[int, int]:
    """(passes, utterances per pass) of a per-chip batch under a micro-batch cap (None: one pass)."""
    n = max(1, int(per_chip_batch))
    passes = 1 if cap is None else max(1, math.ceil(n / max(1, int(cap))))
    return passes, math.ceil(n / passes)


def micro_batched(g: OpGraph, passes: int, units: int) -> OpGraph:
    """`g` (one pass) run `passes` times: every op's count times passes; meta units = the per-chip batch."""
    if passes == 1:
        return g
    ops = [replace(op, count=op.count * passes) for op in g.ops]
    return OpGraph(f"{g.name}:x{passes}", ops, {**g.meta, "units": units, "passes": passes,
                                                "micro_batch": g.meta["batch"]})


def training_graph(per_chip_batch: int, chip=None) -> tuple[OpGraph, OpGraph, float]:
    """(trained forward graph, once-per-step graph (none), dense bf16 weight bytes) of one chip's step; on `chip`
    with MICRO_BATCHES, the per-chip batch in passes of at most its micro-batch cap (module docstring)."""
    d, tokens, padded = train_utterance()
    passes, micro = accumulation(per_chip_batch, micro_batch_cap(chip))
    g = rnnt_train_graph(micro, d, tokens, "bf16", recurrent_duration_s=padded)
    g = micro_batched(g, passes, max(1, int(per_chip_batch)))
    return g, OpGraph(f"{g.name}:once", []), float(g.meta["weight_bytes"])


def eval_batch(n_chips: int) -> int:
    """Utterances per chip of one evaluation: the dev set split over the chips in one batch each."""
    from .other_rows import fact

    return max(1, math.ceil(float(fact("train-rnnt", "eval_samples")) / max(1, int(n_chips))))


def eval_pass_s(p, n_chips: int, board=None, chip=None) -> float:
    """Seconds of one evaluation (greedy decoding of the dev set, one batch per chip, the chips in parallel); on
    `chip`, the encoder's recurrent chains as validation/rnnt_recurrence.py prices them (weights on chip)."""
    from . import rnnt_recurrence

    d, tokens = dev_utterance()
    g = rnnt_greedy_decode_graph(eval_batch(n_chips), d, tokens, "bf16")
    rest, chains = rnnt_recurrence.split(g)
    return graph_time(rest, p, board) + rnnt_recurrence.forward_s(chains, p, chip, board)


__all__ = ["MICRO_BATCHES", "PADDED_RECURRENCE", "accumulation", "dev_utterance", "eval_batch", "eval_pass_s", "micro_batch_cap", "micro_batched", "speed_stretch", "train_utterance",
           "training_graph"]
