"""The clock a training step's GEMMs run at: the board's power-capped sustained clock, not the burst clock.

A training step keeps the tensor cores busy back to back for seconds to minutes, so the board sits at its
power limit and its power controller holds the clock below boost. The GEMM microbenchmarks the fitted
calibration (data/calibration/fitted.yaml, `tapeout calibrate`) reads are short bursts: mamf-finder's MAMF
(B200 1745 TFLOPS fitted vs its burst pair MAMF 1737 and its sustained MSMF 1439, H200 850 vs 755, A100 PCIe
285 vs 258; stas00/ml-engineering mamf-finder v4, data/calibration/power_cap_msmf.yaml) and the CUDA-graph
replay sweeps. The same law serving's --kernels calibration prices (perf/power_cap.py, not changed here):

    f / f_boost = min(1, (TDP / (busy x e x peak))^(1/3)),   busy = the GEMM's FLOP rate / peak at boost,

e = pj_flop_n7 x the node's energy scale, pj_flop_n7 held at the sustained-vs-boost pairs' geometric mean
(perf/kernel_fit.held_cap_energy, microbenchmarks only); a GEMM's compute time grows by f_boost / f, a
memory-bound one hides it (power_cap.capped_time).

What it does not know, so the term is an upper bound where it binds: a step also runs collectives, memory-bound
kernels and bubbles at lower power, which a controller averaging over its window gives back as clock; and
a fitted efficiency read from a benchmark that ran long enough to throttle (mamf-finder v1-3's brute-force
search: H100 MAMF 794.5 vs H200 pair MAMF 850) would be capped twice. Attention kernels (kind attention) keep
their time, as in the serving law; a power-limited variant (chip nominal_tdp_w) keeps its transfer-law
efficiency (perf/calibration._power_cap) and no clock here; `--kernels` measured GEMMs keep their time.

Switch SUSTAINED_CLOCK (off): sized in docs/notes/issue-18.md (Round stop-34, issue-34tr).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# price training GEMMs at the power-capped sustained clock (module docstring); False: at the burst clock of the
# fitted calibration (the pricing before round stop-34)
SUSTAINED_CLOCK = False


@dataclass(frozen=True)
class BoardPower:
    """What the cap law needs of one chip: per-PEAK_KEYS power density (W per BF16-equivalent TFLOP/s),
    the board energy per BF16-equivalent FLOP at boost on N7 (pJ) and the node's energy scale vs N7."""
    power_density: tuple
    pj_flop_n7: float
    energy_scale: float


def board_power(chip, on: bool | None = None) -> BoardPower | None:
    """The chip's BoardPower where the switch (`on`, default SUSTAINED_CLOCK) is on and the chip has a TDP and a
    process node; None otherwise (no cap priced) and for a power-limited variant (module docstring)."""
    if not (SUSTAINED_CLOCK if on is None else on) or getattr(chip, "nominal_tdp_w", None):
        return None
    from .kernel_fit import format_power_density, held_cap_energy
    from .power_cap import node_energy_scale

    tdp = chip.get("tdp_w") if hasattr(chip, "get") else None
    if not isinstance(tdp, (int, float)) or tdp <= 0 or not chip.get("process_node"):
        return None
    return BoardPower(tuple(float(x) for x in format_power_density(chip)), held_cap_energy(), node_energy_scale(chip))


def op_times(cost, p, board: BoardPower | None) -> np.ndarray:
    """Per op of an evaluated table (one design point): its time, every GEMM at the sustained clock when
    `board` is given (power_cap.capped_time), else as evaluated."""
    n = len(cost.table)
    if board is None:
        return np.asarray(cost.time, dtype=float).reshape(n, -1).max(axis=1)
    from .power_cap import capped_time

    peaks = np.asarray(p.peak_flops, dtype=float).reshape(len(board.power_density), -1).max(axis=1)
    return capped_time(cost, peaks, np.asarray(board.power_density), board.pj_flop_n7, board.energy_scale)
