"""A residual vector made of independent parts, each reading a known subset of the parameters, and a
finite-difference step evaluated on the parts the stepped parameter reaches.

scipy's `least_squares` estimates the Jacobian by forward differences ('2-point'): one residual evaluation
per free parameter, x0 with that one coordinate stepped. A part that does not read the stepped parameter
returns, bit for bit, what it returned at x0, so re-evaluating only the parts that read it gives the same
evaluation and so the same Jacobian, the same iterates and the same fit. scipy (>= 1.16) runs those
evaluations through its documented `workers` hook (`workers(fun, iterable)`, scipy.optimize.least_squares
and approx_derivative: "map-like callable"), with its own step sizes and bound handling; `map` below is that
hook. `reach` must be a superset of what each part reads: a missed read silently changes the fit
(kernel_fit.group_reads; tests/test_kernel_fit_jac.py compares the result with the dense evaluation).
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
from scipy.optimize import least_squares

# least_squares takes `workers` from scipy 1.16; earlier, fall back to the dense evaluation (same answer)
HAS_WORKERS = "workers" in inspect.signature(least_squares).parameters


class PartedResiduals:
    """fun(x) = concatenation of part(i, x) for i in range(n_parts); reach[i, j]: part i may change when x[j] does."""

    def __init__(self, part: Callable[[int, np.ndarray], np.ndarray], reach: np.ndarray):
        self.part, self.reach = part, np.asarray(reach, dtype=bool)
        self.x: np.ndarray | None = None  # the last point evaluated in full, and its parts
        self.parts: list = []
        self.part_evals = 0  # parts evaluated (a full evaluation counts every part)

    def _all(self, x: np.ndarray) -> list:
        self.part_evals += len(self.reach)
        return [self.part(i, x) for i in range(len(self.reach))]

    def __call__(self, x) -> np.ndarray:
        x = np.array(x, dtype=float)
        parts = self._all(x)
        self.x, self.parts = x, parts
        return np.concatenate(parts)

    def step(self, x1) -> np.ndarray:
        """fun(x1) for x1 one coordinate away from the last full evaluation, re-evaluating only the parts
        that coordinate reaches; any other x1 in full (without making it the new base)."""
        x1 = np.asarray(x1, dtype=float)
        moved = np.flatnonzero(x1 != self.x) if self.x is not None and x1.shape == self.x.shape else None
        if moved is None or len(moved) > 1:
            return np.concatenate(self._all(x1))
        parts = list(self.parts)
        for i in np.flatnonzero(self.reach[:, moved[0]]) if len(moved) else ():
            parts[i] = self.part(i, x1)
            self.part_evals += 1
        return np.concatenate(parts)

    def map(self, fun, xs) -> list:
        """scipy's `workers` hook: fun at every x of xs (the finite-difference steps), by `step`."""
        return [self.step(x) for x in xs]

    def solver_options(self) -> dict:
        """least_squares keyword arguments that evaluate its finite differences by `map` (none before scipy 1.16)."""
        return {"workers": self.map} if HAS_WORKERS else {}
