"""How the DEFAULT calibration (the shipped microbenchmark fit, no kernel fit) predicts the
measured kernels of the database: per chip, op and format, with where the chip's GEMM
efficiency came from (its own microbenchmarks, a family / same-silicon / generic mean, the
power-transfer law). The chips without microbenchmarks of their own measure the transfer.

Each kernel is the op the database timed (perf/kernel_fit.py `timed_ops`: a quantized GEMM with its
activation-quantize pass, a context attention with its QKV preprocessing), costed by
perf/opcost.py on calibrated_params(chip) exactly as every command without --kernels does.
"""

from __future__ import annotations

import numpy as np

from ..ops import OpTable
from .calibration import calibrated_params, calibration_for
from .kernel_fit import error_stats, timed_ops
from .kernels_db import Kernels, chip_for
from .opcost import evaluate


def default_ratios(k: Kernels, fitted: dict | None = None) -> dict:
    """{chip: {"origin": eff_compute origin, "ops": {"op/fmt": (predicted / measured latency of each
    kernel, measured latency s)}}} with `fitted` (None: the shipped fit) as every command applies it."""
    c = k.cols
    out: dict = {}
    for chip in sorted(set(c["chip"])):
        ch = chip_for(chip)
        p = calibrated_params(ch, fitted)
        entry = out.setdefault(chip, {"origin": calibration_for(ch, fitted).origin.get("eff_compute", ""), "ops": {}})
        for op, fmt in sorted(set(zip(c["op"][c["chip"] == chip], c["fmt"][c["chip"] == chip]))):
            idx = np.flatnonzero((c["chip"] == chip) & (c["op"] == op) & (c["fmt"] == fmt))
            t = np.asarray(evaluate(OpTable.from_ops(timed_ops(k, idx)), p, check_support=False).time, dtype=float)
            pred = t.reshape(len(idx), -1).sum(axis=1)  # kernel + its preceding pass
            meas = np.asarray(c["latency_s"][idx], dtype=float)
            entry["ops"][f"{op}/{fmt}"] = (pred / meas, meas)
    return out


def default_errors(k: Kernels, fitted: dict | None = None) -> dict:
    """{chip: {"origin": eff_compute origin, "ops": {"op/fmt": error_stats}}} (default_ratios summarised)."""
    return {chip: {"origin": e["origin"], "ops": {g: error_stats(r - 1.0) for g, (r, _) in e["ops"].items()}}
            for chip, e in default_ratios(k, fitted).items()}


CEILING_MIN_DIM = 2048  # m, n, k all >= this: compute-bound on every chip of the database (BF16 ridge <= 420 FLOP/B)


def gemm_ceilings(k: Kernels, fitted: dict | None = None) -> dict:
    """Per chip: the measured BF16 GEMM ceiling (median achieved fraction of the dense BF16 peak
    over GEMMs with m, n, k >= CEILING_MIN_DIM: 2mnk / latency / peak) next to the calibrated
    eff_compute["bf16"], its origin and the chip's power density (TDP per peak TFLOP/s). BF16
    only: a quantized GEMM of the database also times its activation-quantize pass."""
    from .fit.power_transfer import power_density

    c = k.cols
    m, n, kk = (np.asarray(c[x], dtype=float) for x in ("m", "n", "k"))
    big = (c["op"] == "gemm") & (c["fmt"] == "bf16") & (np.minimum(np.minimum(m, n), kk) >= CEILING_MIN_DIM)
    out = {}
    for chip in sorted(set(c["chip"][big])):
        ch = chip_for(chip)
        sel = big & (c["chip"] == chip)
        achieved = 2.0 * m[sel] * n[sel] * kk[sel] / np.asarray(c["latency_s"][sel], dtype=float) / (ch.peak_tflops("bf16") * 1e12)
        cal = calibration_for(ch, fitted)
        out[chip] = {"n": int(sel.sum()), "measured": float(np.median(achieved)), "calibrated": float(cal.eff_compute["bf16"]),
                     "origin": cal.origin.get("eff_compute", ""), "power_density": power_density(ch)}
    return out
