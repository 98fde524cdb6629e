"""A chip's GEMM times read from NVIDIA's measured kernel database instead of the fitted model.

`MeasuredGemms(chip)` holds aiconfigurator-core's gemm_perf table of the chip (perf/kernels_db;
TensorRT-LLM's GEMMs timed on the real part, per format on a grid of m (tokens), n, k) and answers
the time of one dense GEMM:
- on the grid: the median of the measured latencies at that (m, n, k);
- between grid points: log-log multilinear interpolation between the 8 neighbouring grid points
  (a GEMM's time is close to a power law of each dimension between neighbours, the way
  scripts/llm_step_kernel_check.py reads the same table);
- beyond the largest measured value of a dimension: the time at that edge times x / edge, i.e.
  linear in that dimension (past the grid every dimension is >= 16,384 for n, k and 32,768 for m,
  where the kernels are compute-bound and the work, 2 m n k, grows linearly in each).
A quantized (FP8, NVFP4) row of the database includes its activation-quantize kernel (TensorRT-LLM
quantizes the BF16 activation dynamically before the GEMM; perf/kernel_fit.quantize_op). A caller
that prices that cast itself (the training engine's Transformer Engine cast kernels) takes the
GEMM alone: the latency less the model's time of that quantize pass, never below the GEMM's time at
the chip's dense peak of the format (2 m n k / peak: no kernel beats the tensor cores' rate).
A grouped (MoE) or independent-batched GEMM has no row in the table, and a shape next to a grid
point the database did not measure (aiconfigurator-core 0.12.0 H100: no n = k = 65,536, no m = 32,768
with a 65,536 side) has no interpolation: `time` returns None and the caller keeps the fitted
model's time.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from ..errors import TapeoutError
from ..ops import MatMul, OpTable
from ..precision import COMPUTE_PEAK_FIELD

OPTION = "aiconfigurator"  # the only kernel database: the value of `--kernels`


class MeasuredGemms:
    """Measured dense-GEMM times of one chip of the kernel database (module docstring)."""

    def __init__(self, chip_id: str, stack: str | None = None, stack_version: str | None = None):
        from .kernels_db import db_config, read_kernels

        systems = [s for s, v in db_config()["systems"].items() if v["chip"] == chip_id]
        if not systems:
            known = sorted({v["chip"] for v in db_config()["systems"].values()})
            raise TapeoutError(f"--kernels {OPTION}: chip '{chip_id}' has no measured GEMMs in the kernel database; "
                               f"use one of {', '.join(known)}, or drop --kernels to price GEMMs with the fitted model.")
        k = read_kernels(stack=stack, stack_version=stack_version, systems=systems[:1], ops=("gemm",), per_group=None)
        if len(k) == 0:
            raise TapeoutError(f"--kernels {OPTION}: the database has no GEMM table of {chip_id} ({systems[0]}) for "
                               f"stack {stack or 'default'}; drop --kernels" + (" or choose another stack." if stack else "."))
        self.chip_id, self.system = chip_id, systems[0]
        src = next(s for s in k.sources if s["op"] == "gemm")
        self.source = {"package": db_config()["package"], "package_version": k.package_version, "system": self.system,
                       "stack": src["stack"], "stack_version": src.get("stack_version"), "note": src.get("note", "")}
        self.tables: dict[str, tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict]] = {}
        import pandas as pd

        c = k.cols
        df = pd.DataFrame({"fmt": c["fmt"], "m": c["m"].astype(int), "n": c["n"].astype(int), "k": c["k"].astype(int),
                           "t": c["latency_s"].astype(float)})
        for fmt, sub in df.groupby("fmt"):
            med = {(int(a), int(b), int(d)): float(t) for (a, b, d), t in sub.groupby(["m", "n", "k"]).t.median().items()}
            axes = tuple(np.array(sorted({key[i] for key in med}), dtype=float) for i in range(3))
            self.tables[str(fmt)] = (axes, med)

    def formats(self) -> list[str]:
        return sorted(self.tables)

    def latency(self, m: float, n: float, k: float, fmt: str) -> float | None:
        """Measured latency (s) of an m x n x k GEMM in `fmt` (module docstring), quantize pass
        included for a quantized format; None when the format or a neighbouring grid point is missing."""
        if fmt not in self.tables:
            return None
        axes, med = self.tables[fmt]
        corners, scale = [], 1.0
        for v, vals in zip((m, n, k), axes):
            v = float(v)
            if v >= vals[-1]:  # past the grid: linear in the dimension from the edge
                scale *= v / vals[-1]
                corners.append(((vals[-1], 1.0),))
                continue
            v = max(v, vals[0])
            i = int(np.searchsorted(vals, v, side="right")) - 1
            lo, hi = vals[i], vals[i + 1]
            f = 0.0 if v == lo else (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
            corners.append(((lo, 1.0 - f), (hi, f)))
        log_t = 0.0
        for pick in itertools.product(*corners):
            w = math.prod(c[1] for c in pick)
            if w == 0.0:
                continue
            t = med.get(tuple(int(c[0]) for c in pick))
            if t is None:
                return None
            log_t += w * math.log(t)
        return math.exp(log_t) * scale

    def time(self, op: MatMul, p, cast_priced: bool = True) -> float | None:
        """Measured time (s) of one instance of `op` on chip params `p`, or None (grouped or
        batched GEMM, format not measured). `cast_priced`: the caller prices the activation
        quantize itself, so the database's quantize pass is taken off (module docstring)."""
        if op.groups != 1 or (op.batch != 1 and not op.shared_weight):
            return None
        fmt = op.math_dtype
        rows = op.m * op.batch
        t = self.latency(rows, op.n, op.k, fmt)
        if t is None or not cast_priced:
            return t
        from .kernel_fit import quantize_op
        from .opcost import evaluate

        q = quantize_op(fmt, float(rows) * op.k) if fmt in ("fp8", "fp8_block", "nvfp4") else None
        if q is None:
            return t
        tq = float(np.max(np.asarray(evaluate(OpTable.from_ops([q]), p, check_support=False).time, dtype=float)))
        floor = op.flops / float(np.max(p.peak(COMPUTE_PEAK_FIELD.get(op.compute_dtype, "bf16"))))
        return max(t - tq, floor)


def measured_gemms(kernels: str | None, chip_id: str) -> MeasuredGemms | None:
    """The table `--kernels` names for the chip (None without the option); one clear error otherwise.
    Read once per chip (the installed database does not change within a process; nothing mutates it)."""
    if kernels is None:
        return None
    check_kernels(kernels)
    return _table(chip_id)


def check_kernels(kernels: str | None) -> None:
    """One error naming `--kernels` when it names no kernel database (None: not given); every command
    and API call that takes the option checks it here, before its work."""
    if kernels is not None and kernels != OPTION:
        raise TapeoutError(f"--kernels '{kernels}': the only kernel database is '{OPTION}'; give --kernels {OPTION}, "
                           "or drop --kernels to price GEMMs with the fitted model.")


@lru_cache(maxsize=8)
def _table(chip_id: str) -> MeasuredGemms:
    return MeasuredGemms(chip_id)


__all__ = ["OPTION", "MeasuredGemms", "check_kernels", "measured_gemms"]
