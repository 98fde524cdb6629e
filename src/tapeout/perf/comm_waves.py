"""Waves of a kernel's CTAs beside an overlapped collective that holds some of the cores.

An NCCL collective runs one CTA per channel, each resident on its own SM for the whole collective,
and no compute CTA shares that SM: NCCL's kernels use most of the register file (NCCL maintainer,
github.com/NVIDIA/nccl/issues/689, 2023-08-14 and 2024-05-13: "NCCL CTAs won't share an SM with
compute kernels", "NCCL needs to use all registers"; issue #181: up to 640 threads at -maxrregcount
96, i.e. 61,440 of the SM's 65,536 registers). A Hopper GEMM CTA cannot fit beside it either:
CUTLASS SM90 warp-specialized GEMMs (sm90_gemm_tma_warpspecialized_cooperative.hpp / _pingpong.hpp:
MinBlocksPerMultiprocessor = 1, three warpgroups = 384 threads, LoadRegisterRequirement 40 /
MmaRegisterRequirement 232 via setmaxnreg) launch at 65,536 / 384 = 168 registers a thread, 64,512
of the file, and fill the 227 KB of shared memory per block with mainloop stages
(StageCountAutoCarveout; Hopper Tuning Guide: 227 KB per block). So while a collective holds C
cores, a kernel sized for all S cores has F = S - C of them.

Which CTAs wait depends on the kernel's grid:
  per-tile grid (one CTA per work unit, the hardware block scheduler refills freed SMs): U units run
      ceil(U / F) waves instead of ceil(U / S)                               (`waves_per_tile`)
  persistent grid (G = min(U, S) CTAs, each walking units g, g + G, g + 2G, ...: CUTLASS
      PersistentTileSchedulerSm90, tile_scheduler.hpp advance_to_next_work; stream-K likewise splits
      the work evenly over the S CTAs): CTA g carries q = floor(U / G) units, + 1 for g < r = U mod G.
      With G > F, F CTAs start (block order: the r heavy ones first) and the D = G - F others wait
      for an SM; the collective outlasts the kernel, so they start as the first residents finish,
      in launch order, the earliest finish first. Residents with q units: a = F - min(r, F); deferred
      CTAs with q + 1 units: h = max(0, r - F). Deferred CTA j starts at q (j < a) or q + 1, and
      carries q + 1 (j < h) or q units, so the kernel ends at
          max(ceil(U / G), 2 q + e),  e = 2 if a < min(h, D), else 1 if a < D or h > 0, else 0
      (`waves_persistent`): about twice the kernel, however many units each CTA walks.
      Stream-K's balanced split (U units as U / S each) is the same with q = U / S, r = 0: 2 U / S.
Check (not a fit): NVIDIA developer forum thread 337991 (H100, 132 SMs: a 132-CTA GEMM beside a
24-CTA ncclAllGather runs as two waves, ~1.7x the time) -> both rules give 2 waves of 1;
pytorch/pytorch issue 143988 (cuBLAS persistent matmuls on H100 beside NCCL in FSDP: 2x).
A chip whose collectives do not run as kernels on its compute cores (chip data
`collectives_on_cores`: TPUs' ICI DMA, NPUs' collective engines) has C = 0: nothing changes.

The time of a kernel beside the collective is its wave-bound time scaled by waves_beside / waves:
compute-bound kernels by their grid's rule, memory-bound ones only where the grid is persistent
(deferred CTAs start late whatever bounds them; a per-tile memory-bound kernel keeps streaming at
the DRAM rate on the other cores). `window_share` turns the slowed compute into the share rule
perf/comm_contention.contended_exposure takes: compute progressing at rate 1 / (1 + d) while the
collective c runs ends at max(c, g + f c), f = d / (1 + d) = 1 - t_alone / t_beside.
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError


def _check(cores, ctas) -> None:
    cores, ctas = np.asarray(cores, dtype=float), np.asarray(ctas, dtype=float)
    if not np.all((ctas >= 0) & (ctas < 0.5 * cores)):  # written so that nan fails too
        raise TapeoutError(f"comm_ctas = {ctas} beside {cores} cores: give 0 up to below half the cores (one NCCL CTA "
                           f"per channel, at most 32 channels; perf/comm_waves.py).")


def waves_alone(units, cores):
    """Waves of `units` CTAs over all `cores`: ceil(U / S) (>= 1 for any unit)."""
    return np.ceil(np.asarray(units, dtype=float) / np.asarray(cores, dtype=float))


def waves_per_tile(units, cores, ctas):
    """Waves of a per-tile grid of `units` CTAs when a collective holds `ctas` of the `cores`: ceil(U / (S - C))."""
    _check(cores, ctas)
    return np.ceil(np.asarray(units, dtype=float) / (np.asarray(cores, dtype=float) - np.asarray(ctas, dtype=float)))


def waves_persistent(units, cores, ctas):
    """Makespan in units of one CTA's work unit of a persistent grid (G = min(U, S) CTAs, static
    round-robin units) when a collective holds `ctas` of the `cores` for the whole kernel (module
    docstring). Broadcasts."""
    _check(cores, ctas)
    u = np.asarray(units, dtype=float)
    s = np.asarray(cores, dtype=float)
    g = np.minimum(u, s)
    free = s - np.asarray(ctas, dtype=float)
    q = np.floor(u / np.maximum(g, 1.0))
    r = u - q * g
    d = np.maximum(g - free, 0.0)  # deferred CTAs
    a = free - np.minimum(r, free)  # residents with q units (finish first)
    h = np.maximum(r - free, 0.0)  # deferred CTAs with q + 1 units
    e = np.where(a < np.minimum(h, d), 2.0, np.where((a < d) | (h > 0), 1.0, 0.0))
    alone = np.ceil(u / np.maximum(g, 1.0))
    return np.where(d > 0, np.maximum(alone, 2.0 * q + e), alone)


def slowdown(units, cores, ctas, persistent, compute_bound, stream_k=False):
    """Time beside the collective / time alone of kernels of `units` CTAs: the grid's waves ratio
    (module docstring) for compute-bound kernels; for memory-bound ones the persistent ratio where
    `persistent`, else 1. A stream-K kernel (`stream_k`: its work split evenly over a persistent grid
    of S CTAs, opcost.stream_k_tail) takes 2 whenever the collective holds a core (q = U / S, r = 0).
    `persistent`, `compute_bound`, `stream_k`: booleans, broadcast. Units <= 0 (no grid): 1."""
    u = np.maximum(np.asarray(units, dtype=float), 1.0)
    per = np.asarray(persistent, dtype=bool)
    alone = waves_alone(u, cores)
    r_tile = waves_per_tile(u, cores, ctas) / alone
    r_pers = waves_persistent(u, cores, ctas) / alone
    ratio = np.where(per, r_pers, np.where(np.asarray(compute_bound, dtype=bool), r_tile, 1.0))
    ratio = np.where(np.asarray(stream_k, dtype=bool) & (np.asarray(ctas, dtype=float) > 0), 2.0, ratio)
    return np.where(np.asarray(units, dtype=float) > 0, ratio, 1.0)


def window_share(t_alone, t_beside) -> float:
    """Share f of contended_exposure for compute that takes t_alone on its own and t_beside while the
    collective runs: 1 - t_alone / t_beside (0 when nothing slows; the linear rule's C / S when every
    kernel loses exactly its cores' share)."""
    t_alone, t_beside = float(t_alone), float(t_beside)
    if not (t_alone >= 0 and t_beside >= t_alone):
        raise TapeoutError(f"window_share: compute {t_alone:g} s alone and {t_beside:g} s beside the collective: "
                           f"the time beside it must be >= the time alone >= 0 (perf/comm_waves.py).")
    return 0.0 if t_beside <= 0 else 1.0 - t_alone / t_beside
