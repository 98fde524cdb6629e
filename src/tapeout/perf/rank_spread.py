"""Synchronous training runs at the pace of its slowest rank: the slowdown from per-rank speed spread.

Rank i's compute time in a step is t (1 + X_i) with X_i = P_i + T_i:
  P_i ~ N(0, sp^2)  persistent chip-to-chip spread (silicon, DVFS behaviour under the power cap,
                    cooling position), drawn once per job;
  T_i ~ N(0, st^2)  transient per-step jitter, independent across steps and ranks.
Every step ends with a collective that waits for all n ranks it joins, so the step takes
t (1 + max_i X_i). Averaged over steps and over fleet draws the X_i are i.i.d.
N(0, sp^2 + st^2), hence

    E[step] = t (1 + sqrt(sp^2 + st^2) e_n),   e_n = E[max of n standard normals]
            = integral of x n phi(x) Phi(x)^(n-1) dx          (David & Nagaraja, Order Statistics, 3rd ed., eq. 3.1.1)

e_1 = 0, e_2 = 1/sqrt(pi), e_3 = 3/(2 sqrt(pi)) (closed forms), e_n ~ sqrt(2 ln n) for large n;
Blom's approximation Phi^-1((n - 0.375) / (n + 0.25)) is within 1% for n >= 10 (Harter 1961,
Biometrika 48:151, tables of e_n). The max's own spread (one fleet draw) has the quantiles
P(max <= x) = Phi(x)^n, i.e. x_p = Phi^-1(p^(1/n)).

Which n: a step's gradient reduce-scatter / all-reduce runs over each DP group (one rank per
TP x PP x CP coordinate); each DP replica is gated by its slowest TP member (TP all-reduce in every
layer) and its slowest pipeline stage (the 1F1B steady state runs at the slowest stage's pace), so
the step end waits for the slowest rank of the whole job: n = all ranks (tp x pp x cp x dp).

The size of sp and st for screened data-centre fleets under MLPerf-like conditions is not sourced
(docs/notes/issue-18.md, "Round stop-20 (branch issue-20sa)"): this module is not wired into the
default training path; perf/training.train(rank_spread=...) applies it only when asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri

from ..errors import TapeoutError

_GRID = np.linspace(-12.0, 12.0, 48001)  # standard-normal support; tails beyond 12 sigma weigh < 1e-32


@dataclass(frozen=True)
class RankSpread:
    """Per-rank compute-speed spread, as relative standard deviations (0.02 = 2%)."""

    persistent: float = 0.0
    transient: float = 0.0
    source: str = "user assumption"

    def __post_init__(self):
        for name in ("persistent", "transient"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0.0 <= v < 0.5:
                raise TapeoutError(f"rank spread '{name}' must be a relative standard deviation in [0, 0.5) "
                                   f"(0.02 = 2% chip-to-chip); got {v!r}.")

    @property
    def sigma(self) -> float:
        """Standard deviation of one rank's relative compute time (persistent and transient add in quadrature)."""
        return math.hypot(self.persistent, self.transient)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise TapeoutError(f"ranks must be a whole number >= 1 (the ranks one step's collectives join); got {n!r}.")
    return int(n)


@lru_cache(maxsize=256, typed=True)
def expected_max_normal(n: int) -> float:
    """e_n: expected maximum of n i.i.d. standard normals (numerical integral of x n phi Phi^(n-1))."""
    n = _check_n(n)
    if n == 1:
        return 0.0
    x = _GRID
    log_pdf_max = math.log(n) - 0.5 * x * x - 0.5 * math.log(2.0 * math.pi) + (n - 1) * np.log(np.maximum(ndtr(x), 1e-300))
    return float(np.trapezoid(x * np.exp(log_pdf_max), x))


def max_normal_quantile(n: int, p: float) -> float:
    """p-quantile of the maximum of n standard normals: Phi^-1(p^(1/n))."""
    n = _check_n(n)
    if not 0.0 < p < 1.0:
        raise TapeoutError(f"quantile p must be in (0, 1); got {p!r}.")
    return float(ndtri(p ** (1.0 / n)))


def sync_slowdown(spread: RankSpread, ranks: int) -> float:
    """Expected relative slowdown of per-rank compute when `ranks` ranks wait for each other every step."""
    return spread.sigma * expected_max_normal(ranks)


def sync_slowdown_band(spread: RankSpread, ranks: int, lo: float = 0.1, hi: float = 0.9) -> tuple[float, float]:
    """The lo / hi quantiles of that slowdown over fleet draws (one job's slowest rank)."""
    return spread.sigma * max_normal_quantile(ranks, lo), spread.sigma * max_normal_quantile(ranks, hi)
