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
efficiency (perf/calibration._power_cap) and no clock here; under the law `--kernels` measured GEMMs keep
their time.

Switch SUSTAINED_CLOCK (off): sized in docs/notes/issue-18.md (Round stop-34, issue-34tr).

A narrower statement needs no law and caps nothing twice: no GEMM of a training step runs faster than the best
GEMM the same board sustains at its power limit, the measured MSMF of its die at its TDP (power_cap_msmf.yaml: the
chip itself or a chip of the same silicon, perf/fit/same_silicon.py: H100-SXM takes H200's). Per format measured:
    t_GEMM >= FLOPs / (MSMF / peak x peak)
(H200 / H100-SXM BF16 0.763 and FP8 0.684 of peak vs fitted 0.780 / 0.710; B200 0.640 / 0.620 vs 0.776 / 0.763;
A100 PCIe 0.827, above its fit). A chip with no measured pair keeps its fit. Switch SUSTAINED_CEILING (on since
round stop-34: a measured physical bound on back-to-back GEMMs, not a fit; it caps nothing twice). Both the LLM
engine (training._Fwd) and the non-LLM MLPerf training steps (validation/other_training.py, train_backward.py) sum
their op graphs through graph_time, so one rule holds for every training step.

Scaled to the sustained rate (switch SUSTAINED_SCALE, on since round stop-36). The floor above binds only on the
shapes the fit prices above the MSMF; a shape the fit prices a few % below its best rate kept its burst-clock time,
although the board holds the same lowered clock under it. With the switch, a GEMM of format f is priced as if the
fit's best rate (eff_compute[f] x peak) were the MSMF, its compute time stretched, its memory time not:
    t_GEMM = t + max(0, t_compute x max(1, eff_compute[f] / (MSMF_f / peak_f)) - max(t_compute, t_memory))
(H100 / H200 FP8 0.7096 / 0.6842 = 1.037, BF16 0.780 / 0.763 = 1.022; B200 1.21 / 1.23; a fit at or below its MSMF,
A100 PCIe, and a chip without a pair: 1). The fit's best shape lands on the MSMF, never below it (nothing capped
twice); the fit's shape dependence is kept. Kernel evidence at the GPT-3 TP4 H100 FP8 training shapes: NVIDIA's
kernel database times each GEMM in a burst at the boost clock (perf/collector_clock.py); its times divided by the
die's MSMF / burst-MAMF pair (H200 FP8 1354 / 1525 = 0.888) give the layer's forward / dgrad / wgrad GEMMs 1.51 /
1.48 / 1.63 ms at the sustained clock, against 1.40 / 1.40 / 1.40 ms priced before and 1.45 / 1.45 / 1.45 ms with
the switch (the engine's backward rule, dgrad = wgrad = forward; at their own shapes 1.45 / 1.45 / 1.51;
scripts/train_layer_breakdown.py; docs/notes/issue-18.md, Round stop-36, issue-36b): the switch closes about a third
of the measured gap, never overshoots it. Limits: a GEMM far below its best rate draws less power and may lose less
clock (an upper bound there: small convolutions of the non-LLM steps); attention kernels keep their
time, as under the floor. With the cap law on (SUSTAINED_CLOCK) the law sets the clock and the scale is not applied.
`--kernels aiconfigurator` (perf/gemm_table): the database's GEMM times are bursts at the boost clock too
(perf/collector_clock.py); under the switch each is stretched by the die's burst-to-sustained ratio, MSMF / pair
MAMF of the same pairs (burst_to_sustained: H100 / H200 FP8 1354 / 1525 = 0.888, BF16 755 / 850), beyond the
model's memory time of the GEMM (measured_at_sustained), so the measured and the fitted GEMMs of one step run at
the same clock (round stop-36, issue-37a). A chip without a pair keeps the database's time. Without `--kernels`, the
installed database's per-tensor FP8 GEMMs price a training step's FP8 GEMMs the same way only under the opt-in
switch perf/train_fp8_gemms.MEASURED_FP8_TRAINING (off; BoardPower.gemms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# price training GEMMs at the power-capped sustained clock (module docstring); False: at the burst clock of the
# fitted calibration (the pricing before round stop-34)
SUSTAINED_CLOCK = False
# no training GEMM above the die's measured sustained MSMF at its TDP (module docstring); False: none
SUSTAINED_CEILING = True
# under the ceiling, every training GEMM's compute time scaled by the fitted efficiency of its format over the
# measured MSMF's fraction of peak where the fit's best rate is above it (module docstring, "Scaled to the
# sustained rate"); False: the floor alone (before round stop-36). On: docs/notes/issue-18.md (Round stop-36, issue-36b)
SUSTAINED_SCALE = True


@dataclass(frozen=True)
class BoardPower:
    """What the cap law needs of one chip: per-PEAK_KEYS power density (W per BF16-equivalent TFLOP/s),
    the board energy per BF16-equivalent FLOP at boost on N7 (pJ) and the node's energy scale vs N7."""
    power_density: tuple | None = None  # None: no cap law (the ceiling alone)
    pj_flop_n7: float = 0.0
    energy_scale: float = 1.0
    ceiling: tuple | None = None  # per PEAK_KEYS, the sustained MSMF's fraction of peak (nan: none measured)
    burst_keep: tuple | None = None  # per PEAK_KEYS, MSMF / burst pair MAMF (burst_to_sustained; nan: none measured)
    # the chip's measured FP8 GEMM table the step prices its FP8 GEMMs from (perf/train_fp8_gemms; None: the fit)
    gemms: object = field(default=None, compare=False)


def _msmf_pairs(chip, column: str) -> tuple | None:
    """Per PEAK_KEYS, MSMF / `column` (a column of the chip's power_cap_msmf.yaml pairs, or of a chip of the same
    silicon: its peak "peak" or its burst "pair_mamf_tflops"); nan where that format has no pair; None when none
    applies."""
    from importlib import resources

    import yaml

    from ..hardware.catalog import get_chip, resolve_chip_id
    from ..ops import PEAK_KEYS
    from .fit.same_silicon import same_silicon, silicon_key

    pairs = yaml.safe_load(resources.files("tapeout").joinpath("data", "calibration", "power_cap_msmf.yaml").read_text())["pairs"]
    key = silicon_key(chip)
    out = [float("nan")] * len(PEAK_KEYS)
    for r in pairs:
        pc = get_chip(resolve_chip_id(r["chip"]))
        if (pc.id == chip.calibration_id and not getattr(chip, "nominal_tdp_w", None)) or same_silicon(silicon_key(pc), key):
            den = float(pc.peak_tflops(r["format"])) if column == "peak" else float(r[column])
            out[PEAK_KEYS.index(r["format"])] = float(r["msmf_tflops"]) / den
    return None if all(np.isnan(out)) else tuple(out)


def msmf_ceiling(chip) -> tuple | None:
    """Per PEAK_KEYS, MSMF / peak of the chip's die at its TDP (power_cap_msmf.yaml pairs of the chip or of a chip of
    the same silicon; nan where that format has no pair); None when no pair applies."""
    return _msmf_pairs(chip, "peak")


def burst_to_sustained(chip) -> tuple | None:
    """Per PEAK_KEYS, MSMF / burst pair MAMF of the chip's die (the same pairs as msmf_ceiling): the share of its
    burst-clock rate a back-to-back GEMM keeps at the board's power limit (H100 / H200 FP8 1354 / 1525 = 0.888);
    nan where that format has no pair; None when none applies."""
    return _msmf_pairs(chip, "pair_mamf_tflops")


def measured_at_sustained(t_burst: float, t_memory: float, keep: float) -> float:
    """A GEMM timed in a burst at the boost clock (`t_burst`, s: the kernel database's collector,
    perf/collector_clock.py), at the board's sustained clock: its time stretched by 1 / `keep` (burst_to_sustained,
    nan or <= 0: none, unchanged) beyond `t_memory` (the model's memory time of the same GEMM, which a lower SM clock
    does not slow): t + max(0, t / keep - max(t, t_memory)), the rule sustained_scale applies to the fitted GEMMs."""
    k = 1.0 / keep if np.isfinite(keep) and keep > 0 else np.nan
    return float(t_burst + clock_stretch(t_burst, t_memory, k))


def clock_stretch(t_compute, t_memory, k):
    """The time a GEMM gains when its compute time `t_compute` (s) is stretched by `k` (a slower clock), beyond
    its memory time `t_memory` (which the clock does not slow): max(0, t_compute k - max(t_compute, t_memory)).
    k below 1 or nan: no stretch; `t_memory` nan: no memory time to hide under (the compute time bounds it).
    Elementwise; the one rule of measured_at_sustained (the measured GEMMs) and sustained_scale (the fitted GEMMs)."""
    k = np.asarray(k, dtype=float)
    k = np.where(np.isnan(k), 1.0, np.maximum(k, 1.0))
    t_c = np.asarray(t_compute, dtype=float)
    return np.maximum(0.0, t_c * k - np.fmax(t_c, np.asarray(t_memory, dtype=float)))


def board_power(chip, on: bool | None = None, ceiling_on: bool | None = None, fitted: dict | None = None) -> BoardPower | None:
    """The chip's BoardPower: the cap law where the switch (`on`, default SUSTAINED_CLOCK) is on and the chip has a
    TDP and a process node, not for a power-limited variant; the measured MSMF ceiling where `ceiling_on` (default
    SUSTAINED_CEILING) is on and a pair applies (module docstring); the chip's measured FP8 GEMM table where
    perf/train_fp8_gemms applies (`fitted`: the calibration in force, for its held-out chips). None when none applies."""
    from .train_fp8_gemms import training_gemms

    gemms = training_gemms(chip, fitted)
    law = ceil = None
    if (SUSTAINED_CLOCK if on is None else on) and not getattr(chip, "nominal_tdp_w", None):
        from .kernel_fit import format_power_density, held_cap_energy
        from .power_cap import node_energy_scale

        tdp = chip.get("tdp_w") if hasattr(chip, "get") else None
        if isinstance(tdp, (int, float)) and tdp > 0 and chip.get("process_node"):
            law = (tuple(float(x) for x in format_power_density(chip)), held_cap_energy(), node_energy_scale(chip))
    keep = None
    if SUSTAINED_CEILING if ceiling_on is None else ceiling_on:
        ceil = msmf_ceiling(chip)
        keep = burst_to_sustained(chip) if ceil is not None else None
    if law is None and ceil is None and gemms is None:
        return None
    return BoardPower(*(law or (None, 0.0, 1.0)), ceiling=ceil, burst_keep=keep, gemms=gemms)


def op_times(cost, p, board: BoardPower | None) -> np.ndarray:
    """Per op of an evaluated table (one design point): its time, every GEMM at the sustained clock when
    `board` is given (power_cap.capped_time), else as evaluated."""
    n = len(cost.table)
    t = np.asarray(cost.time, dtype=float).reshape(n, -1).max(axis=1)
    if board is None:
        return t
    from ..ops import PEAK_KEYS
    from .opcost import K_MATMUL
    from .power_cap import capped_time

    peaks = np.asarray(p.peak_flops, dtype=float).reshape(len(PEAK_KEYS), -1).max(axis=1)
    if board.power_density is not None:
        t = capped_time(cost, peaks, np.asarray(board.power_density), board.pj_flop_n7, board.energy_scale)
    if board.ceiling is not None:  # no GEMM faster than the die's sustained MSMF of its format
        tab = cost.table
        rate = peaks[tab.peak_key] * np.asarray(board.ceiling)[tab.peak_key]
        floor = np.where((tab.kind == K_MATMUL) & (rate > 0), tab.flops / np.where(rate > 0, rate, 1.0), 0.0)
        if SUSTAINED_SCALE and board.power_density is None:  # the fit's best rate brought to the MSMF, every
            # shape alike (module docstring); the cap law, where on, lowers the clock itself: not twice
            t = t + sustained_scale(cost, p, board.ceiling)
        t = np.maximum(t, np.nan_to_num(floor))
    return measured_times(t, cost, p, board.gemms, board)


def measured_times(t, cost, p, gemms, board: BoardPower | None) -> np.ndarray:
    """Per op of an evaluated table, `t` with every GEMM `gemms` (a measured table: perf/gemm_table.MeasuredGemms,
    or perf/train_fp8_gemms.FormatView; None: none) times replaced by its measured burst time at the board's
    sustained clock (measured_gemm_time); a GEMM the table does not answer keeps its time."""
    if gemms is None:
        return t
    from ..ops import MatMul

    t = np.array(t, dtype=float)
    for i, op in enumerate(cost.table.ops):
        measured = gemms.time(op, p) if isinstance(op, MatMul) else None
        if measured is not None:
            t[i] = measured_gemm_time(measured, cost, i, board)
    return t


def sustained_scale(cost, p, ceiling) -> np.ndarray:
    """Per op of an evaluated table: the time a GEMM gains when its format's fitted best rate (eff_compute x peak)
    is brought down to the measured MSMF fraction `ceiling` (per PEAK_KEYS, nan: none measured): its compute time
    stretched by that ratio, beyond its memory time; 0 for other ops, formats without a pair and fits at or below
    their MSMF."""
    from ..ops import PEAK_KEYS
    from .opcost import K_MATMUL

    n, tab = len(cost.table), cost.table
    eff = np.asarray(p.eff_compute, dtype=float).reshape(len(PEAK_KEYS), -1).max(axis=1)
    ceil = np.asarray(ceiling, dtype=float)
    k = np.where(ceil > 0, eff / np.where(ceil > 0, ceil, 1.0), np.nan)  # nan: no pair, no stretch
    comp = np.asarray(cost.compute_time, dtype=float).reshape(n, -1).max(axis=1)
    mem = np.asarray(cost.memory_time, dtype=float).reshape(n, -1).max(axis=1)
    # the slower clock stretches the math; a GEMM bound by its memory traffic hides it up to that traffic's time
    extra = clock_stretch(comp, mem, k[tab.peak_key])
    return np.where(tab.kind == K_MATMUL, extra, 0.0)


def measured_gemm_time(t_burst: float, cost, i: int, board: BoardPower | None) -> float:
    """Op `i` of an evaluated table, a GEMM whose measured burst time (`t_burst`, s: `--kernels`, perf/gemm_table)
    replaces the model's: that time at the board's sustained clock where SUSTAINED_SCALE prices the fitted GEMMs
    there (a board with a measured pair, the cap law off: module docstring), else `t_burst`."""
    if not SUSTAINED_SCALE or board is None or board.burst_keep is None or board.power_density is not None:
        return float(t_burst)
    n = len(cost.table)
    t_mem = float(np.asarray(cost.memory_time, dtype=float).reshape(n, -1)[i].max())
    return measured_at_sustained(t_burst, t_mem, board.burst_keep[int(cost.table.peak_key[i])])


def graph_time(g, p, board: BoardPower | None = None) -> float:
    """Time of op graph `g` on chip `p` (one design point), each op as op_times prices it under `board` (None: as
    evaluated): the one sum the LLM training engine (training._Fwd) and the non-LLM MLPerf training steps
    (validation/other_training.py, perf/train_backward.py) share."""
    if not g.ops:
        return 0.0
    from .opcost import evaluate

    ct = evaluate(g, p)
    return float((op_times(ct, p, board) * ct.table.count).sum())
