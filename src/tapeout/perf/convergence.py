"""Samples to converge at a global batch, from an MLPerf benchmark's Reference Convergence Points.

MLPerf Training checks a run's convergence against RCPs set per global batch and scores a run that
converged faster than the RCP mean at the RCP mean (data/mlperf/rcps.yaml; mlcommons/logging
mlperf_logging/rcp_checker/rcp_checker.py @e6ba2a93). The rule, as rcp_checker runs it with the package
checker's rcp_pass 'pruned_rcps':
  mean(BS)  olympic mean of the runs' convergence points (fastest and slowest dropped; compute_rcp_stats)
  pruning   drop every BS below the fastest-converging one; then, left to right, drop a middle point
            whose mean exceeds the interpolation of its neighbours (_prune_rcps)
  lookup    an RCP's BS: its mean; between two pruned RCPs: linear interpolation of their means
            (_create_interp_rcp, np.interp); below the smallest: the smallest one's mean; above the
            largest: none ("Missing RCP"), the benchmark cannot score that batch (check_directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml


@dataclass(frozen=True)
class Rcp:
    bs: int
    mean: float  # olympic mean, in the entry's unit


@dataclass(frozen=True)
class Convergence:
    """The samples (sequences) a run at global batch `bs` trains, and how the RCPs gave them."""
    bs: int
    samples: float
    how: str  # "RCP at BS 2048", "interpolated between the RCPs at BS 2048 and 3072", ...
    source: str

    def as_dict(self) -> dict:
        return {"global_batch": self.bs, "samples_to_converge": self.samples, "rule": self.how, "source": self.source}


def olympic_mean(values, dropped: int = 1) -> float:
    """Mean without the `dropped` smallest and largest values (rcp_checker compute_rcp_stats)."""
    v = sorted(values)
    return float(np.mean(v[dropped:len(v) - dropped]))


def _interp(bs: int, lo: Rcp, hi: Rcp) -> float:
    return float(np.interp(bs, [lo.bs, hi.bs], [lo.mean, hi.mean]))


def pruned(points: tuple[Rcp, ...]) -> tuple[Rcp, ...]:
    """rcp_checker _prune_rcps: the RCPs the package checker compares against."""
    pts = sorted(points, key=lambda p: p.bs)
    fastest = min(pts, key=lambda p: p.mean)
    pts = [p for p in pts if p.bs >= fastest.bs]
    i = 1
    while i < len(pts) - 1:
        if pts[i].mean > _interp(pts[i].bs, pts[i - 1], pts[i + 1]):
            del pts[i]
            i -= 1
        i += 1
    return tuple(pts)


@lru_cache(maxsize=1)
def _entries() -> dict:
    raw = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "rcps.yaml").read_text())
    return {k: (tuple(Rcp(int(p["bs"]), olympic_mean(p["converge"], int(e.get("dropped", 1)))) for p in e["points"]),
                e["unit"], e["source"]) for k, e in raw.items()}


def has_rcps(benchmark: str) -> bool:
    return benchmark in _entries()


def rcp_batches(benchmark: str) -> tuple[int, ...]:
    """The global batches the benchmark's RCPs were run at (empty: none on file)."""
    e = _entries().get(benchmark)
    return tuple(sorted(p.bs for p in e[0])) if e else ()


def samples_to_converge(benchmark: str, bs: int, seq_len: int) -> Convergence | None:
    """Sequences to train at global batch `bs` (rcp_checker's lookup on the pruned RCPs), or None when the
    benchmark has no RCPs on file or `bs` lies above its largest RCP."""
    e = _entries().get(benchmark)
    if e is None:
        return None
    points, unit, source = e
    per = float(seq_len) if unit == "tokens" else 1.0
    pts = pruned(points)
    exact = next((p for p in pts if p.bs == bs), None)
    below = [p for p in pts if p.bs < bs]
    above = [p for p in pts if p.bs > bs]
    if exact is not None:
        mean, how = exact.mean, f"RCP at BS {bs}"
    elif below and above:
        mean, how = _interp(bs, below[-1], above[0]), f"interpolated between the RCPs at BS {below[-1].bs} and {above[0].bs}"
    elif above:
        low = pts[0]
        dropped = sorted(p.bs for p in points if p.bs < low.bs)
        mean = low.mean
        how = (f"below the smallest pruned RCP: BS {low.bs}'s" + (f" (BS {', '.join(map(str, dropped))} pruned: BS "
               f"{low.bs} converged faster)" if dropped else ""))
    else:
        return None
    return Convergence(bs, mean / per, how + f" (olympic mean, {unit}" + (f" / {seq_len}" if per != 1.0 else "") + ")",
                       source)
