"""Thin the design cloud for drawing: every point that matters stays (the explorer's
3-objective front, which holds the chosen designs, and each space's 2-objective front of the
feasible designs); the rest is a seeded random sample, so the same study draws the same points."""

from __future__ import annotations

import numpy as np

from .figures import front_2d

SEED = 20
MAX_FEASIBLE_PER_SPACE = 600
MAX_INFEASIBLE = 600


def _sample(idx: list[int], n: int, rng: np.random.Generator) -> set[int]:
    if len(idx) <= n:
        return set(idx)
    return {idx[i] for i in rng.choice(len(idx), n, replace=False).tolist()}


def decimate(designs: list[dict]) -> tuple[list[dict], dict]:
    """(points to draw, counts {feasible, feasible_shown, infeasible, infeasible_shown})."""
    rng = np.random.default_rng(SEED)
    keep: set[int] = {i for i, d in enumerate(designs) if d.get("on_front")}
    feas = [i for i, d in enumerate(designs) if d.get("feasible", True) and d.get("perf_per_tco")]
    for space in sorted({designs[i]["space"] for i in feas}):
        sel = [i for i in feas if designs[i]["space"] == space]
        keep |= {sel[j] for j in front_2d([designs[i]["perf_per_watt"] for i in sel], [designs[i]["perf_per_tco"] for i in sel])}
        keep |= _sample([i for i in sel if i not in keep], MAX_FEASIBLE_PER_SPACE, rng)
    infeas = [i for i, d in enumerate(designs) if not d.get("feasible", True)]
    # each reason keeps its share of the sample, and at least a few points so it stays visible
    by_reason: dict[str, list[int]] = {}
    for i in infeas:
        by_reason.setdefault(designs[i].get("reason") or "constraints", []).append(i)
    for r in sorted(by_reason):
        sel = by_reason[r]
        keep |= _sample(sel, max(5, round(MAX_INFEASIBLE * len(sel) / max(len(infeas), 1))), rng)
    counts = {"feasible": len(feas), "feasible_shown": sum(1 for i in feas if i in keep),
              "infeasible": len(infeas), "infeasible_shown": sum(1 for i in infeas if i in keep)}
    return [d for i, d in enumerate(designs) if i in keep], counts
