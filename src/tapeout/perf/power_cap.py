"""The tensor clock a matrix kernel sustains under the board's power cap.

A GEMM that keeps the tensor cores busy draws power in proportion to the FLOPs it runs per second:
P_dyn = e(node) x (FLOP/s) with e the energy per FLOP. At the boost clock the datasheet peak is
reached, so a kernel busy a fraction `busy` of that peak draws busy x e x peak. Past the cap the
power controller lowers the clock; with V proportional to f in the DVFS range P_dyn ~ f^3
(econ/power.py power_capped_clock, coefficients.csv dvfs_exponent), so the sustained clock is

    f / f_boost = min(1, (TDP / (busy x e x peak))^(1/3))

and the kernel's compute time grows by f_boost / f (a memory-bound kernel hides it). Inputs per
chip: TDP and per-format dense peak (format_power_density: TDP per BF16-equivalent TFLOP/s, the
pJ per FLOP the board can afford at full rate, with a datapath that doubles its rate per halving
of the operand width at the same energy per cycle) and the process node (econ nodes.csv
energy_scale_vs_n7: the foundry's iso-speed power ratio). One constant is shared by every chip:
`pj_flop_n7`, the board-level energy per BF16-equivalent FLOP at boost clock on N7, fitted on the
kernel database (perf/kernel_fit.py). Static power is inside it (not sized separately).

Sourced check of the mechanism (docs/notes/issue-15.md, round stop-19 19sg; stas00/ml-engineering
mamf-finder v4 MSMF): a saturated dense GEMM holds an H200 at 685-688 W and 1860-1918 MHz (boost
1980), a B200 at 978-987 W and 1399-1447 MHz (boost 1965): the chip with less power per peak FLOP
(0.44 vs 0.71 W per BF16 TFLOP/s) loses far more clock.
"""

from __future__ import annotations

import numpy as np

from ..econ.nodes import coef, node_param, parse_node
from ..econ.power import power_capped_clock
from ..errors import TapeoutError


def node_energy_scale(chip) -> float:
    """Dynamic energy per op of the chip's process node relative to N7 (econ nodes.csv)."""
    node = chip.get("process_node") if hasattr(chip, "get") else None
    if not node:
        raise TapeoutError(f"chip '{getattr(chip, 'id', chip)}' has no process_node: the power-capped tensor clock "
                           "needs it (add process_node, e.g. 'TSMC N4', to the chip's specs).")
    return float(node_param("energy_scale_vs_n7", parse_node(str(node))))


def clock_factor(busy, power_density, pj_flop_n7: float, energy_scale: float) -> np.ndarray:
    """f / f_boost of a kernel that keeps the tensor cores `busy` (fraction of the format's peak at
    boost clock) on a chip with `power_density` (W per BF16-equivalent dense TFLOP/s of the format)
    and node `energy_scale`, at `pj_flop_n7` pJ per BF16-equivalent FLOP on N7: in (0, 1]."""
    busy = np.clip(np.asarray(busy, dtype=float), 0.0, None)
    # per TFLOP/s of peak: the kernel's dynamic power at boost vs the board's power (both in W / (TFLOP/s))
    _, scale = power_capped_clock(busy * pj_flop_n7 * energy_scale, 0.0, np.asarray(power_density, dtype=float), 1.0)
    return np.where(busy > 0, scale, 1.0)


def cap_energy(busy: float, power_density: float, energy_scale: float, sustained_ratio: float) -> float:
    """The pj_flop_n7 at which clock_factor(busy, power_density, ., energy_scale) equals `sustained_ratio`: the
    inverse of the cap law on one measured pair, a GEMM busy a fraction `busy` of its format's peak at boost that
    sustains `sustained_ratio` of that throughput at the board's cap (< 1: the cap binds), so
    e = power_density / (busy x energy_scale x ratio^n), n the DVFS exponent (econ/power.py)."""
    if not 0.0 < sustained_ratio < 1.0 or busy <= 0.0:
        raise TapeoutError(f"cap_energy: a capped / boost throughput ratio in (0, 1) and busy > 0 are needed, got "
                           f"{sustained_ratio}, {busy}.")
    return float(power_density) / (busy * energy_scale * sustained_ratio ** coef("dvfs_exponent"))


def capped_time(cost, peak_flops, power_density, pj_flop_n7: float, energy_scale: float) -> np.ndarray:
    """Per op of an evaluated table (opcost.CostTable, one design point), its time with every GEMM's
    compute time at the power-capped clock: busy = FLOPs / (peak x max(compute, memory)) at boost,
    compute time / clock_factor, then the roofline again. `peak_flops` and `power_density` are the
    chip's per-PEAK_KEYS arrays. Non-GEMM ops (quantize passes, attention) keep their time."""
    from .opcost import K_MATMUL

    t = cost.table
    ct, mt, time = (np.asarray(a, dtype=float).reshape(len(t)) for a in (cost.compute_time, cost.memory_time, cost.time))
    busy_t = np.maximum(ct, mt)
    peak = np.asarray(peak_flops, dtype=float)[t.peak_key]
    busy = np.where((t.kind == K_MATMUL) & (busy_t > 0) & (peak > 0), t.flops / (peak * np.maximum(busy_t, 1e-30)), 0.0)
    c = clock_factor(busy, np.asarray(power_density, dtype=float)[t.peak_key], pj_flop_n7, energy_scale)
    return time + np.maximum(ct / c, mt) - busy_t
