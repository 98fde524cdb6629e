"""The clock a serving step sustains under the board's power cap, from the step's average power.

perf/power_cap.py prices a GEMM that keeps the tensor cores busy at `eff` back to back: its power at
boost busy x e x peak, the clock f / f_boost = (TDP / that)^(1/3). A serving step is not all GEMM: on a
Llama2-70B step ~30 % of the time is decode attention (a KV-cache stream), all-reduces and norms
(docs/notes/issue-24.md, Round stop-33 issue-33db, the TP2 step's terms), whose tensor cores idle. The
board's power controller responds over ~65 ms (kernels_db.yaml collector_timing power_response_s), while a
step's GEMMs and its memory-bound kernels alternate layer by layer (~1-2 ms per layer), so the clock it holds is
set by the step's AVERAGE power, not its GEMMs'. Steps are not averaged with each other.

Per op of the step, at clock c = f / f_boost (the one clock of the step; V proportional to f in the DVFS
range, so the energy per FLOP goes as c^2, econ/power.py):

    time     t_i(c) = max(t_c,i(boost) / c, t_m,i) + t_rest,i   (only compute time stretches: a
             memory-bound op keeps its DRAM time, a collective its link time, a launch its fixed time)
    energy   E_i(c) = FLOPs_i / m(fmt) x e x c^2 + DRAM bytes_i x e_dram

with e the board energy per BF16-equivalent FLOP at boost (the fit's pj_flop_n7 x the node's
energy_scale_vs_n7: power_cap.py's law; m(fmt) the format's rate multiple, kernel_fit.BF16_RATE_MULTIPLE)
and e_dram the DRAM energy per byte (ChipParams.dram_pj_per_byte: HBM 3.97 pJ/bit, O'Connor et al.
MICRO 2017; GDDR6 7.5, family_defaults.yaml). The step's clock is the largest c <= 1 with
sum E_i(c) / sum t_i(c) <= TDP: self-consistent, since a lower clock stretches only the compute-bound
ops. A step of back-to-back compute-bound GEMMs gives power_cap.clock_factor(eff) again
(t ~ 1/c, E ~ c^2, P ~ c^3).

What it leaves out, stated: e is the pairs' board power at a saturated GEMM over its FLOPs (mamf-finder
MSMF, data/calibration/power_cap_msmf.yaml), so it holds the board's static power at that load; an op
without tensor work draws only its DRAM energy here, not the static power the board burns meanwhile
(not sized separately in the fit), which biases the step's clock up. StepPower.floor_w (off by default,
kernel_calibration.STEP_POWER_FLOOR) bounds that: every op draws at least floor_w besides its DRAM energy.
Link (NVLink SerDes) and SRAM energy are not counted (SerDes 5 pJ/bit x 900 GB/s ~ 36 W; the fit's e holds
a GEMM's own SRAM traffic). An attention op's compute time stretches as a whole, its CUDA-core part (the
FP8-cache conversion of the masked-MHA kernel) included, which the clock slows alike. A GEMM's DRAM bytes are counted on top of e, which already holds them at the pairs' shapes: < 1 % of
their energy (8192^3 BF16: 2,730 FLOP per DRAM byte x 31.8 pJ vs ~1 pJ per FLOP).

Used by serving with a kernel-database calibration that carries `step_power` (kernel_calibration.chip_entry,
STEP_POWER_CLOCK); the shipped microbenchmark calibration applies no cap to a chip's own fit, so there is
nothing to relieve there (see docs/notes/issue-24.md, Round stop-34 issue-34pw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the step clock's grid, f / f_boost: a step's time and energy are tabulated on it and the cap solved
# between its points (the capped clocks of the database's chips at eff lie in 0.8-1; 0.3 bounds any board)
CLOCKS = np.linspace(0.3, 1.0, 71)


@dataclass(frozen=True)
class StepPower:
    """What a serving step's power-capped clock needs: the board's power budget `tdp_w`, the board energy per
    BF16-equivalent FLOP at boost `j_per_flop` (J), per PEAK_KEYS format the rate multiple `rate_multiple`
    (FLOPs of the format per BF16 FLOP at equal energy) and the clock its eff_compute already holds
    `ref_clock` (the GEMM's capped clock, kernel_calibration.chip_entry), and the DRAM energy per byte."""

    tdp_w: float
    j_per_flop: float
    rate_multiple: tuple
    ref_clock: tuple
    dram_j_per_byte: float
    floor_w: float = 0.0  # the least power any op draws besides its DRAM energy (0: none; a sensitivity, see above)
    # every row on the step's clock (perf/board_limit.py, a board power limit below the nominal TDP): a non-tensor
    # row's compute time stretches by 1 / c too, a tensor row runs at min(c, ref_clock) (never faster than the clock
    # its own table holds), and DRAM time by mem_slowdown; False: tensor compute only, as described above
    clock_rows: bool = False
    mem_knee: float = 0.0  # DRAM rate ~ min(1, c / mem_knee) under clock_rows (0: the DRAM rate ignores the clock)


def mem_slowdown(clocks, knee: float) -> np.ndarray:
    """DRAM time at clock c over its time at boost: max(1, knee / c) (the achieved DRAM rate ~ min(1, c / knee),
    perf/board_limit.py MEMORY_CLOCK); 1 everywhere for knee <= 0."""
    c = np.asarray(clocks, dtype=float)
    return np.maximum(1.0, knee / c) if knee > 0 else np.ones_like(c)


def _row_curves(cost, rows: np.ndarray, weights: np.ndarray, power: StepPower, boost_rows: np.ndarray | None = None):
    """Per row (columns) over CLOCKS (lines): time, FLOP energy and (per row, clock-free) DRAM energy of the `rows`
    of an evaluated step (opcost.CostTable) counted `weights` times each: compute time of matrix and attention rows stretched by ref_clock / c (at c = ref_clock every
    row's time is the table's), every other part of a row's time fixed; FLOP energy x c^2 plus DRAM energy.
    `boost_rows`: matrix rows whose efficiency is already a boost one (ref clock 1: an FP8 attention op at its
    own MMA efficiency, ChipParams.attn_eff_fp8)."""
    from .opcost import K_ATTN, K_MATMUL

    t = cost.table
    n = len(t.kind)
    ct, mt, time, dram = (np.asarray(a, dtype=float).reshape(n, -1).max(axis=1) for a in
                          (cost.compute_time, cost.memory_time, cost.time, cost.dram_bytes))
    tensor = (t.kind == K_MATMUL) | (t.kind == K_ATTN)
    ref = np.asarray(power.ref_clock, dtype=float)[t.peak_key]
    if boost_rows is not None:
        ref = np.where(boost_rows, 1.0, ref)
    ct_boost = np.where(tensor, ct * ref, 0.0)  # tensor compute time at boost clock
    mt_t = np.where(tensor, mt, 0.0)
    rest = time - np.where(tensor, np.maximum(ct, mt), 0.0)  # fixed time, collectives, vector / memory ops
    flops_bf16 = np.where(tensor, np.asarray(t.flops, dtype=float) / np.asarray(power.rate_multiple)[t.peak_key], 0.0)
    w = np.where(rows, np.asarray(weights, dtype=float), 0.0)
    c = CLOCKS[:, None]
    if power.clock_rows:  # every row on the clock: tensor rows at min(c, ref), DRAM time by mem_slowdown
        c_row = np.where(tensor, np.minimum(c, np.where(tensor, ref, 1.0)), c)
        ct_all = np.where(tensor, ct_boost, ct)
        per_row = np.maximum(ct_all / c_row, mt * mem_slowdown(c, power.mem_knee)) + time - np.maximum(ct, mt)
        flop_e = flops_bf16 * power.j_per_flop * c_row ** 2
    else:
        per_row = np.where(tensor, np.maximum(ct_boost / c, mt_t), 0.0) + rest  # (clocks, rows)
        flop_e = flops_bf16 * power.j_per_flop * CLOCKS[:, None] ** 2
    if power.floor_w > 0:  # a row draws at least floor_w over its time (the FLOP energy holds it at a saturated GEMM)
        flop_e = np.maximum(flop_e, power.floor_w * per_row)
    return per_row * w, flop_e * w, dram * w * power.dram_j_per_byte


def curves(cost, rows: np.ndarray, weights: np.ndarray, power: StepPower, boost_rows: np.ndarray | None = None):
    """(time, energy) over CLOCKS of the `rows` of an evaluated step (opcost.CostTable) counted `weights`
    times each: _row_curves summed over the rows."""
    t, flop_e, dram_e = _row_curves(cost, rows, weights, power, boost_rows)
    return t.sum(axis=1), flop_e.sum(axis=1) + float(dram_e.sum())


def solve(time: np.ndarray, energy: np.ndarray, tdp_w: float) -> tuple[float, float]:
    """(clock, step time) of a step with `time` and `energy` over CLOCKS: the fastest clock whose average
    power meets the budget (linear between grid points; the lowest grid clock if none does)."""
    time, energy = np.asarray(time, dtype=float), np.asarray(energy, dtype=float)
    if time[-1] <= 0:
        return 1.0, 0.0
    over = energy - tdp_w * time  # > 0: above the budget; rises with the clock
    if over[-1] <= 0:
        return 1.0, float(time[-1])
    k = int(np.argmax(over > 0))  # first grid clock above the budget
    if k == 0:
        return float(CLOCKS[0]), float(time[0])
    f = over[k - 1] / (over[k - 1] - over[k])  # over[k-1] <= 0 < over[k]
    return float(CLOCKS[k - 1] + f * (CLOCKS[k] - CLOCKS[k - 1])), float(time[k - 1] + f * (time[k] - time[k - 1]))


def breakdown(cost, weights: np.ndarray, power: StepPower, clock: float,
              boost_rows: np.ndarray | None = None) -> list[dict]:
    """Per row of an evaluated step at `clock`: name, time (s, x weight), FLOP (with the floor) and DRAM power
    (W averaged over the row's own time): the step's power breakdown, for a report."""
    k = int(np.argmin(np.abs(CLOCKS - clock)))
    t, flop_e, dram_e = _row_curves(cost, np.ones(len(cost.table.kind), dtype=bool), weights, power, boost_rows)
    t, flop_e = t[k], flop_e[k]
    pos = t > 0
    flop_w = np.divide(flop_e, t, out=np.zeros_like(t), where=pos)
    dram_w = np.divide(dram_e, t, out=np.zeros_like(t), where=pos)
    return [{"op": str(name), "time_s": float(ti), "flop_w": float(fw), "dram_w": float(dw)}
            for name, ti, fw, dw in zip(cost.table.names, t, flop_w, dram_w)]
