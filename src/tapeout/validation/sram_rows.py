"""Which MLPerf rows of a chip that computes out of on-chip SRAM (hardware/sram_tier.py) the mappers price.

Offline and Server inference are priced: a batch's time on the chip's SRAM bandwidth and matrix peak, as for any
chip. Two things are not, because what decides them on these chips is not in the model:

- SingleStream / MultiStream latency (one sample, one 8-sample query). The engine prices a batch-1 network as a
  sequence of GPU-style matrix kernels, each spread over `num_cores` cores in 128 x 128 output tiles taken in waves
  (matrix_tile_m / _n, the generic CUTLASS default), one after the other. The speedAI240 runs a network as a
  dataflow of layers placed on its 729 memory banks (Hot Chips 34), each bank's two RISC-V cores sequencing its
  rows; how a single sample flows through that pipeline is not described anywhere the model can read. Its batch-1
  latency therefore has no modelled mechanism. SRAM_LATENCY_ROWS off: skipped with that reason. On: priced as the
  kernel sequence (round stop-41, hardware/sram_tier.py SRAM_NO_KERNEL_LAUNCH on: 0.37 ms SingleStream and 0.43 ms
  MultiStream against 0.12 and 0.17-0.29 ms measured, +48% to +212% on the 10 speedAI240 rows; with the generic
  per-kernel launch time, +252% to +712%; docs/notes/issue-18.md).
- Training. The training engine prices data-parallel replicas of a whole step on one chip each. Graphcore's MLPerf
  Training v2.0 ResNet-50 is exactly that: `poprun ... --ipus-per-replica 1 --num-replicas N`
  (mlcommons/training_results_v2.0 Graphcore/benchmarks/resnet/implementations/tensorflow/run_and_time.sh), so its
  rows are priced (SRAM_RESNET_TRAINING). The engine's memory rule is not applied to them: it is PyTorch autograd's
  saved tensors plus a CUDA runtime reserve (validation/train_fit.py, perf/train_reserve.py), which leaves nothing of
  0.9 GB, while Poplar places code, recomputed activations and a micro-batch loop in tile memory by rules that are not
  published; the whole per-chip batch is priced in one pass. Not modelled there: the bulk-synchronous exchange and
  sync phases between the tiles' compute (the 'exchange' of the IPU Programmer's Guide), LARS, the distributed
  batch norm. BERT is skipped: Graphcore's PopART BERT runs each replica as a pipeline over 8 IPUs
  (configs/pod64-closed.json: execution_mode PIPELINE, att_ffn_placement over stages 0-7, replication_factor 8,
  replicated tensor sharding), pipeline parallelism the non-LLM training engine does not model. RNN-T (open
  division) is skipped: its IPU layout was not read, and the RNN-T step is built in BF16 (validation/rnnt_train.py),
  which the IPU lacks.
"""

from __future__ import annotations

from ..hardware.sram_tier import sram_working_memory
from .registry import SkipRow

SRAM_LATENCY_ROWS = False
# price ResNet-50 training on a chip computing out of SRAM (data-parallel, one chip per replica, as Graphcore ran it;
# module docstring). On: the engine describes that layout; the rows' errors are published as they come out
# (docs/notes/issue-18.md, round stop-41). Off: skipped like BERT.
SRAM_RESNET_TRAINING = True
TRAINING_NOT_MODELLED = {
    "bert": "runs each replica as a pipeline over 8 IPUs (Graphcore PopART configs/pod64-closed.json, the PaddlePaddle port not read: execution_mode "
            "PIPELINE, att_ffn_placement), pipeline parallelism the non-LLM training engine does not model",
    "rnnt": "(open division) has a layout that was not read, and the RNN-T step is built in BF16, which the chip lacks",
}

LATENCY_SCENARIOS = ("SingleStream", "MultiStream")


def check_inference(chip, scenario: str) -> None:
    """SkipRow for a latency-scenario row of a chip computing out of SRAM (SRAM_LATENCY_ROWS off)."""
    if SRAM_LATENCY_ROWS or scenario not in LATENCY_SCENARIOS or sram_working_memory(chip) is None:
        return
    raise SkipRow(f"{chip.id} computes out of on-chip SRAM as a dataflow of layers on its memory banks; its {scenario} "
                  f"latency is that pipeline's, which is not modelled (the engine prices a sequence of GPU-style "
                  f"kernels in tile waves over num_cores): not priced (validation/sram_rows.py SRAM_LATENCY_ROWS)")


def check_training(chip, bench: str) -> None:
    """SkipRow for a training row of a chip computing out of SRAM, except ResNet (module docstring)."""
    if sram_working_memory(chip) is None or (bench == "resnet" and SRAM_RESNET_TRAINING):
        return
    why = TRAINING_NOT_MODELLED.get(bench, "its layout on these chips was not read")
    raise SkipRow(f"{chip.id} computes out of on-chip SRAM and its MLPerf {bench} training {why}: not priced "
                  f"(validation/sram_rows.py)")


def memory_rule_applies(chip) -> bool:
    """Whether the training engine's memory rule (validation/train_fit.py: autograd's saved tensors and a CUDA
    runtime reserve) describes `chip`: not for a chip computing out of SRAM (module docstring)."""
    return sram_working_memory(chip) is None


def detail_note(chip) -> dict:
    """What a priced row of a chip computing out of SRAM leaves out, for its detail; {} for any other chip."""
    if sram_working_memory(chip) is None:
        return {}
    return {"working_memory": "on-chip SRAM (hardware/sram_tier.py): every byte at sram_bandwidth_tbps; not modelled: "
                              "the layer-per-bank dataflow and its pipelining over the chip, off-chip DRAM traffic, "
                              "the chip's cost between operations (no per-kernel launch: sram_tier.SRAM_NO_KERNEL_LAUNCH)"}

