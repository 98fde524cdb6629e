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
- Training. The training engine prices data-parallel replicas of a whole step held in one memory (PyTorch autograd's
  saved activations, a CUDA runtime reserve; validation/train_fit.py). Graphcore's MLPerf submissions on the Bow IPU
  pipeline the model over several IPUs, recompute activations and hold optimizer state in Streaming Memory (IPU
  Programmer's Guide, 'Model parallelism and pipelining', 'Recomputation'; the SDK's offchip optimizer state), and
  the exchange phases of its bulk-synchronous execution are not priced: none of that is modelled, and a step does
  not fit 0.9 GB In-Processor-Memory as the engine lays it out. Always skipped, naming what is missing.
"""

from __future__ import annotations

from ..hardware.sram_tier import sram_working_memory
from .registry import SkipRow

SRAM_LATENCY_ROWS = False

LATENCY_SCENARIOS = ("SingleStream", "MultiStream")


def check_inference(chip, scenario: str) -> None:
    """SkipRow for a latency-scenario row of a chip computing out of SRAM (SRAM_LATENCY_ROWS off)."""
    if SRAM_LATENCY_ROWS or scenario not in LATENCY_SCENARIOS or sram_working_memory(chip) is None:
        return
    raise SkipRow(f"{chip.id} computes out of on-chip SRAM as a dataflow of layers on its memory banks; its {scenario} "
                  f"latency is that pipeline's, which is not modelled (the engine prices a sequence of GPU-style "
                  f"kernels in tile waves over num_cores): not priced (validation/sram_rows.py SRAM_LATENCY_ROWS)")


def check_training(chip) -> None:
    """SkipRow for a training row of a chip computing out of SRAM (module docstring)."""
    if sram_working_memory(chip) is None:
        return
    raise SkipRow(f"{chip.id} computes out of on-chip SRAM: its MLPerf training runs pipeline the model over several "
                  f"chips, recompute activations and keep optimizer state in off-chip Streaming Memory, between "
                  f"bulk-synchronous exchange phases; the training engine models none of these (data-parallel replicas "
                  f"of a whole step in one memory): not priced (validation/sram_rows.py)")


def detail_note(chip) -> dict:
    """What a priced row of a chip computing out of SRAM leaves out, for its detail; {} for any other chip."""
    if sram_working_memory(chip) is None:
        return {}
    return {"working_memory": "on-chip SRAM (hardware/sram_tier.py): every byte at sram_bandwidth_tbps; not modelled: "
                              "the layer-per-bank dataflow and its pipelining over the chip, off-chip DRAM traffic, "
                              "the chip's cost between operations (no per-kernel launch: sram_tier.SRAM_NO_KERNEL_LAUNCH)"}

