"""A step's time on a chip run below its nominal TDP (a board power limit: MLPerf MaxQ, nvidia-smi -pl).

calibration._power_cap prices a power-limited chip (Chip.power_capped) by scaling its GEMM efficiency with the
power transfer law, eff x (limit / nominal)^gamma, and nothing else: a memory-bound op, an attention op or a vector
pass keeps its full-power time. The board's limit covers the whole board, so with LIMIT_STEP_POWER a limited chip's
step is priced instead by the step-power rule (perf/step_power.py: the step's clock is the largest whose AVERAGE
power fits the budget; the controller's ~65 ms response spans many kernels) with the budget the limit, and each op
drawing

    static      StepPower.floor_w = static_power_fraction x nominal TDP (family_defaults.yaml: 0.25, an assumption
                from idle power), the least any op draws; a tensor op's board energy per FLOP holds it already
    SM dynamic  the tensor FLOPs x the board energy per BF16-equivalent FLOP at boost x c^2 (power_cap.py's law:
                pj_flop_n7 from the measured MSMF pairs, kernel_fit.held_cap_energy, x the node's energy scale x
                the chip's own-silicon ratio, silicon_cap.energy_ratio)
    DRAM        the op's DRAM bytes x ChipParams.dram_pj_per_byte (family_defaults.yaml dram_pj_per_bit)

Times come from the chip's NOMINAL calibration (its own fit at its nominal TDP, no transfer factor): a tensor op's
compute time there is at the clock its own GEMM sustains at the nominal TDP (ref = min(1, sqrt(pd / (eff e))), the
cap law solved for the sustained efficiency; kernel_calibration.chip_entry reads it the other way), so at clock c a
tensor op runs at min(c, ref) (never faster than its nominal table), any other op's compute at c, and with
MEMORY_CLOCK its DRAM time x max(1, knee / c). At a limit whose budget the step meets at c = 1 every op keeps its
nominal time: a limit at or above the nominal TDP changes nothing (Chip.power_capped returns the chip itself there).
Wired into validation/other_rows (the non-LLM MLPerf inference graphs, dlrm-v2 through recsys_cost) and the LLM
serving step model (mlperf.step_model: its nominal params and this StepPower, each step's clock solved by serving_sim).

What it leaves out, stated: a memory-bound op's SM-side dynamic power (its load/store and L2 traffic) is not counted
beyond the static floor (no source sizes it); NVLink SerDes power neither (step_power.py). The HBM energy is the
family default's HBM2 figure for every HBM generation.
"""

from __future__ import annotations

import numpy as np

from ..ops import PEAK_KEYS

# on: a power-limited chip's step time from the step-power rule at the limit (module docstring) instead of the GEMM
# efficiency transfer factor alone (calibration._power_cap). Sourced parts: the cap law and its measured MSMF energy,
# the HBM pJ/bit (O'Connor et al. MICRO 2017); the static floor is family_defaults' static_power_fraction, an
# assumption. Off: measured over the 17 priced H200 MaxQ rows (docs/notes/physical-limits.md, Round stop-41, branch
# issue-56a) the step's average power at the MaxQ limits leaves most steps at or near their nominal clock, so the
# rows move away from their measurements (median |err| 19.6 -> 25.8 %, 15 of 17 MaxQ / MaxP ratios further from the
# measured ones): the transfer law's per-GEMM throttle is harsher than an average-power one.
LIMIT_STEP_POWER = False
# on (with LIMIT_STEP_POWER): the achieved DRAM rate falls with the SM clock below a knee, rate ~ min(1, c / knee),
# the L2 / crossbar in the clock domain the controller lowers. NOT SOURCED: no stored kernel microbenchmark times a
# DRAM stream on a Hopper part at locked SM clocks (STREAM / nvbandwidth / gpu-benches); knee 1.0 is the assumption
# that the L2 path is just fast enough at boost (the harshest reading), so the switch stays off.
MEMORY_CLOCK = False
MEMORY_CLOCK_KNEE = 1.0


def is_limited(chip) -> bool:
    """A Chip.power_capped variant whose TDP is below its nominal one."""
    nominal = getattr(chip, "nominal_tdp_w", None)
    tdp = chip.get("tdp_w") if hasattr(chip, "get") else None
    return bool(nominal) and isinstance(tdp, (int, float)) and float(tdp) < float(nominal)


def applies(chip, on: bool | None = None) -> bool:
    """Whether a step on `chip` is priced by this rule: the switch on and the chip power-limited."""
    return bool(LIMIT_STEP_POWER if on is None else on) and is_limited(chip)


def nominal_chip(chip):
    """The catalog chip a power-limited variant came from."""
    from ..hardware.catalog import get_chip

    return get_chip(chip.calibration_id)


def ref_clocks(eff, power_density, energy: float) -> np.ndarray:
    """Per format, f / f_boost of a GEMM that sustains `eff` of the format's peak at the board's nominal TDP, for a
    chip with `power_density` (W per BF16-equivalent TFLOP/s) and board energy `energy` (pJ per BF16-equivalent FLOP
    at boost, node scale included): the cap law c = (pd / (busy e))^(1/3) with busy = eff / c at boost, so
    c = min(1, sqrt(pd / (eff e)))."""
    eff = np.clip(np.asarray(eff, dtype=float), 1e-9, None)
    return np.minimum(1.0, np.sqrt(np.asarray(power_density, dtype=float) / (eff * energy)))


def step_power_at(chip, p_nominal, fitted: dict | None = None, knee: float | None = None):
    """step_power.StepPower of a power-limited `chip` (budget its tdp_w) on the nominal chip's calibrated params
    `p_nominal`; None where the chip lacks what the cap law reads (process node, peaks, TDP)."""
    from ..errors import TapeoutError
    from .kernel_fit import BF16_RATE_MULTIPLE, format_power_density, held_cap_energy
    from .power_cap import node_energy_scale
    from .silicon_cap import energy_ratio
    from .step_power import StepPower

    base = nominal_chip(chip)
    try:
        scale = node_energy_scale(base)
    except TapeoutError:
        return None
    shared = held_cap_energy()
    ratio = energy_ratio(base, shared)  # the chip's own-silicon cap energy per format over the shared one
    pd = format_power_density(base)
    eff = np.asarray(p_nominal.eff_compute, dtype=float).reshape(len(PEAK_KEYS))
    ref = ref_clocks(eff, pd, shared * scale * ratio)
    mult = np.array([BF16_RATE_MULTIPLE.get(k, 1.0) for k in PEAK_KEYS]) / ratio
    knee = (MEMORY_CLOCK_KNEE if MEMORY_CLOCK else 0.0) if knee is None else knee
    return StepPower(tdp_w=float(chip.get("tdp_w")), j_per_flop=shared * scale * 1e-12, rate_multiple=tuple(mult),
                     ref_clock=tuple(ref), dram_j_per_byte=float(np.max(p_nominal.dram_pj_per_byte)) * 1e-12,
                     floor_w=float(np.max(p_nominal.static_w)), clock_rows=True, mem_knee=knee)


def limited_time(cost, power) -> tuple[float, float]:
    """(clock, seconds) of one evaluated step (opcost.CostTable on the nominal params, each row counted its count)
    under the board budget of `power` (step_power_at): step_power.solve on the step's curves."""
    from .step_power import curves, solve

    t = cost.table
    time, energy = curves(cost, np.ones(len(t.kind), dtype=bool), np.asarray(t.count, dtype=float), power)
    return solve(time, energy, power.tdp_w)
