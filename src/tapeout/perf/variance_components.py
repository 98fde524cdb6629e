"""Log error of a sum of kernels from per-kernel log errors: a one-way variance-components model.

A kernel's log error on a chip is split into a part every kernel of that chip shares (the chip's
bias: its peak fraction, clock, library generation) and a part of its own (the scatter of one shape
around the chip's curve):

    e_{c,k} = b_c + u_{c,k},   var(b) = bias^2,  var(u) = scatter^2,  u independent of b

A step that runs distinct kernels k with time shares w_k (sum w_k = 1) is off by, to first order,
sum_k w_k e_{c,k} (perf/uncertainty.py), whose variance is

    bias^2 + scatter^2 * sum_k w_k^2

The bias survives the sum whole; the scatter shrinks with the step's spread sum_k w_k^2 = 1 / n_eff
(Kish's effective number of independent terms). A kernel that repeats (the same GEMM in every
layer) is one term: its error repeats with it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np


def components(groups: Mapping[str, Iterable[float]]) -> tuple[float, float]:
    """(bias, scatter) of per-kernel log errors grouped by chip: bias = RMS over chips of the
    chip's mean error, scatter = sqrt(mean over chips of the within-chip variance, ddof 0). Each
    chip weighs the same, so bias^2 + scatter^2 = mean over chips of the chip's mean squared error
    (the per-chip RMS pooled as fit_uncertainty pools it)."""
    arrs = [np.asarray(list(v), dtype=float) for v in groups.values()]
    arrs = [a for a in arrs if len(a)]
    if not arrs:
        raise ValueError("components: no group has an error")
    means = np.array([a.mean() for a in arrs])
    within = np.array([np.mean((a - a.mean()) ** 2) for a in arrs])
    return float(np.sqrt(np.mean(means**2))), float(np.sqrt(np.mean(within)))


def kernel_spread(weights: Iterable[float]) -> float:
    """sum w^2 / (sum w)^2 of the distinct kernels' times: 1 for one kernel, 1/n for n equal ones."""
    w = np.asarray(list(weights), dtype=float)
    w = w[w > 0]
    if not len(w):
        return 1.0
    return float(np.sum(w**2) / np.sum(w) ** 2)


def step_sigma(bias: float, scatter: float, spread: float = 1.0) -> float:
    """sd of the log error of a step whose kernels have this spread (1: a single kernel)."""
    if not 0.0 < spread <= 1.0:
        raise ValueError(f"spread must lie in (0, 1] (sum of squared time shares), got {spread}")
    return math.sqrt(bias * bias + scatter * scatter * spread)
