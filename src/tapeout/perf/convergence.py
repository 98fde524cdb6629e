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
Units: tokens, samples, epochs (x the training set), epochs_from_1, steps (Stable Diffusion's ruleset 3.1.0
step_num: each run's optimizer steps at the list's BS; read as samples, steps x BS, before the rule runs, see
_as_samples: rcp_checker 3.1.0 would prune in steps, where the largest batch takes the fewest).
"""

from __future__ import annotations

import re

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


UNITS = ("tokens", "samples", "epochs", "epochs_from_1", "steps")  # what an rcps.yaml list counts
LATEST = "latest"  # mlperf_round for "the newest ruleset on file" (a user's run, not a dated result row)


def _round_key(r: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", r))


def _as_samples(point: dict, unit: str) -> list:
    """A list in `steps` (optimizer steps at the list's own BS) as samples, each run's steps x BS: the same reference
    runs that the next ruleset lists in samples (data/mlperf/rcps.yaml train-stable-diffusion). Left in steps, the
    pruning would rank the largest batch fastest (fewest steps) and floor a smaller batch at its step count, a bound
    its own runs never reach and no convergence estimate."""
    return [v * point["bs"] for v in point["converge"]] if unit == "steps" else point["converge"]


@lru_cache(maxsize=1)
def _entries() -> dict:
    """{key: [(RCPs, unit, source, rounds), ...]}, one per ruleset; rounds: the MLPerf rounds whose ruleset holds
    these RCPs (None: every round the benchmark ran)."""
    raw = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "rcps.yaml").read_text())
    return {k: [(tuple(Rcp(int(p["bs"]), olympic_mean(_as_samples(p, e["unit"]), int(e.get("dropped", 1))))
                       for p in e["points"]),
                 e["unit"], e["source"], tuple(e["rounds"]) if "rounds" in e else None)
                for e in (v if isinstance(v, list) else [v])] for k, v in raw.items()}


def _entry(benchmark: str, mlperf_round: str | None):
    """The ruleset entry that scores a run of `mlperf_round` (None: an entry for every round; LATEST: that, else
    the newest ruleset's), or None."""
    es = _entries().get(benchmark) or []
    undated = [e for e in es if e[3] is None]
    if mlperf_round is None or (mlperf_round == LATEST and undated):
        return undated[0] if undated else None
    if mlperf_round == LATEST:
        return max(es, key=lambda e: max(_round_key(r) for r in e[3]))
    return next((e for e in es if e[3] is not None and mlperf_round in e[3]), undated[0] if undated else None)


def has_rcps(benchmark: str) -> bool:
    return benchmark in _entries()


def rcp_batches(benchmark: str, mlperf_round: str | None = None) -> tuple[int, ...]:
    """The global batches the benchmark's RCPs (of `mlperf_round`'s ruleset) were run at (empty: none on file)."""
    e = _entry(benchmark, mlperf_round)
    return tuple(sorted(p.bs for p in e[0])) if e else ()


def samples_to_converge(benchmark: str, bs: int, seq_len: int = 1, mlperf_round: str | None = None,
                        epoch_samples: float | None = None) -> Convergence | None:
    """Samples (sequences) to train at global batch `bs` (rcp_checker's lookup on the pruned RCPs), or None when
    the benchmark has no RCPs on file for `mlperf_round` (e.g. "v4.0"; an entry limited to some rounds holds
    for those only) or `bs` lies above its largest RCP. Units: tokens / seq_len; epochs x epoch_samples (the
    benchmark's training-set size, needed for an entry in epochs)."""
    e = _entry(benchmark, mlperf_round)
    if e is None:
        return None
    points, unit, source, _ = e
    if unit not in UNITS:
        raise ValueError(f"{benchmark}: RCP unit {unit!r} unknown; rcps.yaml units: {', '.join(UNITS)}")
    epochs = unit in ("epochs", "epochs_from_1")
    if epochs and not epoch_samples:
        raise ValueError(f"{benchmark}: RCPs in epochs need the training set's epoch_samples")
    per = float(seq_len) if unit == "tokens" else 1.0 / epoch_samples if epochs else 1.0
    # epochs_from_1: a logger that counts epochs from 1 (dlrm: epoch_num = 1 + the epochs trained)
    first = 1.0 if unit == "epochs_from_1" else 0.0
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
    scale = (f" / {seq_len}" if unit == "tokens" else (" - 1" if first else "") + f" x {epoch_samples:,.0f}" if epochs
             else " x the list's BS" if unit == "steps" else "")
    return Convergence(bs, (mean - first) / per, how + f" (olympic mean, {unit}{scale})", source)


def no_rcp_reason(benchmark: str, bs: int, mlperf_round: str | None = None) -> str | None:
    """Why `samples_to_converge` gives none for this batch and round (None: it gives one)."""
    e = _entry(benchmark, mlperf_round)
    if e is None:
        rounds = sorted({r for x in _entries().get(benchmark) or [] for r in (x[3] or ())}, key=_round_key)
        return (f"no RCPs of {benchmark} on file for {mlperf_round or 'an undated run'} (data/mlperf/rcps.yaml"
                + (f" holds rounds {', '.join(rounds)}" if rounds else " holds none") + ")")
    top = max(p.bs for p in pruned(e[0]))
    if bs > top:
        return (f"global batch {bs:,} is above the largest RCP ({top:,}) of {benchmark}'s "
                f"{mlperf_round or 'undated'} ruleset: rcp_checker 'Missing RCP', no convergence point defined")
    return None
