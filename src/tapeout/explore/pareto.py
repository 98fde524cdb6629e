"""Pareto (non-dominated) sets of objective vectors, all objectives minimized.

Point a dominates b when a <= b in every objective and a < b in at least one. The front is
found by a sort-and-filter sweep: points sorted lexicographically can only be dominated by
points earlier in the order, so each block of points is checked against the front found so
far and against itself (numpy broadcasting; O(N x |front|) work).
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (..., k) dominates b (..., k), broadcast."""
    return np.all(a <= b, axis=-1) & np.any(a < b, axis=-1)


def pareto_mask(F: np.ndarray, block: int = 2048) -> np.ndarray:
    """Boolean mask of the non-dominated rows of F (n, k). Duplicate points are all kept.
    Rows with NaN are never on the front."""
    F = np.asarray(F, dtype=float)
    n = F.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    valid = ~np.isnan(F).any(axis=1)
    idx = np.nonzero(valid)[0]
    order = idx[np.lexsort(F[idx].T[::-1])]
    front = np.empty((0, F.shape[1]))
    front_idx: list[np.ndarray] = []
    for s in range(0, len(order), block):
        bi = order[s:s + block]
        B = F[bi]
        keep = np.ones(len(bi), dtype=bool)
        if len(front):
            keep &= ~dominates(front[None, :, :], B[:, None, :]).any(axis=1)
        # within the block
        dom = dominates(B[None, :, :], B[:, None, :])  # [i, j]: j dominates i
        keep &= ~dom.any(axis=1)
        front = np.concatenate([front, B[keep]])
        front_idx.append(bi[keep])
    if front_idx:
        mask[np.concatenate(front_idx)] = True
    return mask


def pareto_front(F: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of F, in lexicographic order of the objectives."""
    m = pareto_mask(F)
    idx = np.nonzero(m)[0]
    return idx[np.lexsort(np.asarray(F)[idx].T[::-1])]
