"""GEMM microbenchmarks brought to the boost clock before the fit (switch CLOCK_TAGGED_GEMM_FIT, off).

Each GEMM row carries the clock its source's method timed it at (rows.gemm_clock,
data/calibration/gemm_clock.yaml). A row timed at the board's power limit ("sustained") ran at the clock the
controller holds there; at boost the same GEMM, compute-bound, takes its time times the die's MSMF / burst pair
MAMF of its format (perf/train_clock.burst_to_sustained: H200 BF16 755 / 850, FP8 1354 / 1525 = 0.888), so the
fitted eff_compute is the burst one, and a training step brings it down again by train_clock.sustained_scale.
Burst, mixed and unknown rows, and a die without a pair for the format, keep their time (as before the switch).
The sustained rows on file are best-of-search MAMF rows (compute-bound), so the whole time is scaled.
With the switch on, serving, which prices the fitted efficiency at face value, would read the burst rate on those
chips (H200 / H100-SXM) where it reads today's partly throttled one. Round stop-36, issue-38a (docs/notes/issue-18.md).
"""

from __future__ import annotations

import numpy as np

# fit eff_compute at the boost clock from the clock-tagged GEMM rows (module docstring); False: every row as
# timed (the fit before round stop-36). Off: docs/notes/issue-18.md (Round stop-36, issue-38a)
CLOCK_TAGGED_GEMM_FIT = False


def at_boost(chip, gemm: list, on: bool | None = None) -> list:
    """[(row, point)] of one chip with each sustained-tagged point's time at the boost clock where the switch
    (`on`, default CLOCK_TAGGED_GEMM_FIT) is on and the chip (a catalog chip, or None: unchanged) has a pair for
    the point's format; the list unchanged otherwise."""
    if not (CLOCK_TAGGED_GEMM_FIT if on is None else on) or chip is None:
        return gemm
    from ...ops import PEAK_KEYS
    from ..train_clock import burst_to_sustained
    from .rows import gemm_clock

    keep = burst_to_sustained(chip)
    if keep is None:
        return gemm
    out = []
    for r, g in gemm:
        k = keep[PEAK_KEYS.index(g[3])]
        if gemm_clock(r) == "sustained" and np.isfinite(k) and 0 < k < 1:
            g = (*g[:4], g[4] * float(k))
        out.append((r, g))
    return out
