"""A `--benchmark` run's global batch, chosen the way a submitter chooses it: among the batches the
benchmark allows (benchmarks.yaml global_batch_range) that split over the chips with a layout that
fits, the one with the smallest time to train, each batch trained to its own convergence point
(perf/convergence.py: the benchmark's RCPs, rcp_checker's rule).

Which batches split: GBS must be a multiple of DP x micro-batch (perf/train_layout rule `batch`), so
a batch splits only at multiples of a data-parallel width DP = chips / (TP PP CP) that some split of
the chips admits (candidate_layouts at a batch every width divides, 4 x chips). Each split (TP, PP,
CP) is priced by the engine (which searches VP, micro-batch, ZeRO, recompute) at its width's
multiples on a grid (consecutive ones at most 25% apart, GRID, plus the multiples next to each RCP
batch, where the convergence per batch bends), skipping splits that cannot win (`choose`), so the
choice is the best of those, not of every multiple; the chosen batch is then run with the whole
layout search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TapeoutError
from ..perf.chip_count import Unholdable
from ..perf.train_layout import candidate_layouts, even_stages

GRID = 1.25  # search resolution: a width's batches are tried at most 25% apart (not a model parameter)


def _multiples(d: int, lo: int, hi: int, knots: tuple[int, ...]) -> set[int]:
    """Multiples of `d` in [lo, hi]: the smallest, then a geometric grid (ratio GRID), the largest, and
    the ones either side of each `knot`."""
    k0, k1 = math.ceil(lo / d), hi // d
    if k1 < k0:
        return set()
    ks, k = {k0, k1}, k0
    while k < k1:
        k = max(k + 1, math.ceil(k * GRID))
        ks.add(min(k, k1))
    for b in knots:
        ks.update(x for x in (b // d, math.ceil(b / d)) if k0 <= x <= k1)
    return {d * x for x in ks}


@dataclass(frozen=True)
class Shape:
    """How a layout splits the chips: TP x PP x CP model-parallel, DP data-parallel."""
    tp: int
    pp: int
    cp: int
    dp: int

    def pins(self) -> dict:
        return {"tp": self.tp, "pp": self.pp, "cp": self.cp}


def shapes(cfg, num_chips: int, domain: int, seq_len: int, pins: dict, even: bool) -> list[Shape]:
    """The splits of `num_chips` the rules admit (the user's layout pins held; with `even`, the stack's even
    pipeline stages), at a batch every width divides (4 x chips: DP x micro-batch divides it)."""
    L = cfg.num_hidden_layers
    lays, _ = candidate_layouts(cfg, num_chips, domain, 4 * num_chips, seq_len,
                                {"vp": 1, "mbs": 1, "zero": 1, "recompute": "full", **pins})
    return sorted({Shape(lay.tp, lay.pp, lay.cp, lay.dp) for lay in lays if not even or even_stages(L, lay.pp, lay.vp)},
                  key=lambda s: (-s.dp, s.tp, s.pp, s.cp))


def multiples(s: Shape, lo: int, hi: int, knots: tuple[int, ...] = ()) -> list[int]:
    """The batches (sequences) a split is priced at: its width's multiples on the grid."""
    return sorted(_multiples(s.dp, lo, hi, tuple(b for b in knots if lo <= b <= hi)))


@dataclass(frozen=True)
class Priced:
    sequences: int
    result: object  # perf/training.TrainResult with time_to_train_min
    samples: float  # sequences to converge at this batch (perf/convergence.py)


def choose(price, split: list[Shape], lo: int, hi: int, knots: tuple[int, ...] = (), samples=None,
           keep: int = 3, refused: dict | None = None) -> tuple[list[Priced], int]:
    """(the `keep` fastest batches to train, one entry per batch, best first; how many runs were priced).
    `refused` (if given) collects, per split, the first batch it was refused at and the engine's reason; an
    Unholdable refusal (the chips hold no layout's states, perf/chip_count) is raised at once.

    `price(g, shape)` -> Priced, or raises TapeoutError (no layout of that split fits at batch g); `samples(g)`:
    sequences to converge at batch g. Each split is priced at the first and the last batch of its grid; the
    rest of its grid only where it can still win: a pipeline step over m micro-batches is (m + c) t_mb + f
    (c, f >= 0: fill / drain and the per-step work), so one more sequence at a fixed split costs at least
    u = (step(g1) - step(g0)) / (g1 - g0), and no batch g of the split trains faster than samples(g) x u. A
    split whose bound already exceeds the best time found is not priced further."""
    best, runs = {}, 0
    refused = {} if refused is None else refused

    def take(g, s):
        nonlocal runs
        runs += 1
        try:
            p = price(g, s)
        except Unholdable:  # the chips hold no layout's states at any batch or split: no other one is priced
            raise
        except TapeoutError as e:
            refused.setdefault(s, (g, str(e)))
            return None
        if p.sequences not in best or p.result.time_to_train_min < best[p.sequences].result.time_to_train_min:
            best[p.sequences] = p
        return p

    todo = []
    for s in split:
        grid = multiples(s, lo, hi, knots)
        first = take(grid[0], s) if grid else None
        if first is None:
            continue
        last = take(grid[-1], s) if len(grid) > 1 else None
        u = ((last.result.step_time_s - first.result.step_time_s) / (last.sequences - first.sequences)
             if last is not None else 0.0)
        bound = min(samples(g) for g in grid) * max(u, 0.0) / 60.0 if samples is not None else 0.0
        todo.append((bound, s, grid[1:-1]))
    for bound, s, grid in sorted(todo, key=lambda t: t[0]):
        if best and bound >= min(p.result.time_to_train_min for p in best.values()):
            continue
        for g in grid:
            take(g, s)
    return sorted(best.values(), key=lambda p: (p.result.time_to_train_min, p.sequences))[:keep], runs


def no_batch_refusal(key: str, num_chips: int, chip: str, lo: int, hi: int, split: list[Shape], refused: dict,
                     even: bool, at_reference: str) -> TapeoutError:
    """The refusal when no batch in [lo, hi] runs: the widths the chip count leaves DP (the batch rule), why the
    layouts at them do not run (the engine's reason at the most model-parallel split's batch), and the engine's
    refusal at the benchmark's own batch (`at_reference`: the rule there and the chip counts that run)."""
    widths = sorted({s.dp for s in split})
    s = min(split, key=lambda x: (x.dp, x.tp))
    g, why = refused.get(s, (None, "no batch of its width lies in the range"))
    why = why.rstrip(".")
    return TapeoutError(
        f"no global batch of {key} within {lo:,}-{hi:,} sequences (benchmarks.yaml global_batch_range) runs on "
        f"{num_chips} x {chip}: a batch splits only at multiples of DP x micro-batch, and the splits TP x PP x CP the "
        f"rules admit{' under the stack' + chr(39) + 's even pipeline stages' if even else ''} leave DP "
        f"{', '.join(map(str, widths))}; the most model-parallel, TP{s.tp} PP{s.pp}" + (f" CP{s.cp}" if s.cp > 1 else "")
        + f" DP{s.dp}" + (f", at {g:,} sequences: {why}" if g else f": {why}")
        # a refusal that no batch changes (perf/training._refuse_unholdable) is said once
        + (". The same at the benchmark's own batch." if at_reference.rstrip(".") == why
           else f". At the benchmark's own batch: {at_reference}"))
