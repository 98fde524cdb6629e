"""Check of the GEMM power-transfer law (perf/calibration.py _power_transfer) on chips with their own
best-shape GEMM rows (docs/notes/issue-15.md, Round stop-18).

1. Leave-one-chip-out: refit without the chip's microbenchmarks, so it borrows its family mean x
   (pd / pd_pool)^gamma, and compare with its own fit.
2. With --kernels: held-out kernel-level check against aiconfigurator-core's measured GEMMs (never
   fitted): median signed error of the modelled GEMM time, + = model faster, all shapes and >= 1e12 FLOPs.

    python scripts/power_transfer_check.py [--kernels] [--before OLD_FITTED_YAML]
"""
from __future__ import annotations

import argparse

import numpy as np
import yaml

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params, calibration_for, load_fitted
from tapeout.perf.fit import fit_all, power_density

BOARDS = ("a100-pcie", "h100-pcie", "h100-nvl", "l4", "l40", "l40s")
DB = {"a100_sxm": "a100-sxm", "h100_sxm": "h100-sxm", "h200_sxm": "h200", "l40s": "l40s"}


def held_out_table() -> None:
    full = load_fitted()
    print(f"{'chip':10s} {'pd W/TF':>8s} {'own fit':>8s} {'held out':>8s} {'err %':>7s}  origin")
    for cid in BOARDS:
        chip = get_chip(cid)
        own = full["chips"][cid]["eff_compute"]["bf16"]
        cal = calibration_for(chip, fit_all(exclude=cid, uncertainty=False))
        pred = cal.eff_compute["bf16"]
        print(f"{cid:10s} {power_density(chip):8.3f} {own:8.3f} {pred:8.3f} {100 * (pred / own - 1):+7.1f}  "
              f"{cal.origin['eff_compute']}")


def kernel_check(fits: dict) -> None:
    from tapeout.ops import MatMul, OpTable
    from tapeout.perf.kernels_db import read_kernels
    from tapeout.perf.opcost import evaluate

    cols = read_kernels(systems=list(DB), ops=("gemm",), per_group=400).cols
    for cid in DB.values():
        sel = (cols["chip"] == cid) & (cols["fmt"] == "bf16")
        m, n, k, t = (cols[c][sel] for c in ("m", "n", "k", "latency_s"))
        ops = OpTable.from_ops([MatMul(name=f"g{i}", m=int(a), n=int(b), k=int(c), a_dtype="bf16", w_dtype="bf16",
                                       out_dtype="bf16", math_dtype="bf16") for i, (a, b, c) in enumerate(zip(m, n, k))])
        big = 2.0 * m * n * k >= 1e12
        out = []
        for name, f in fits.items():
            tp = np.asarray(evaluate(ops, calibrated_params(get_chip(cid), f), check_support=False).time, dtype=float)
            e = -np.log(tp / t) * 100
            out.append(f"{name}: {np.median(e):+.1f}% (>=1e12 FLOPs {np.median(e[big]):+.1f}%)")
        print(f"{cid:9s} bf16 {len(t):4d} GEMMs  " + " | ".join(out))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", action="store_true", help="also the aiconfigurator kernel check")
    ap.add_argument("--before", help="an older fitted.yaml to compare in the kernel check")
    a = ap.parse_args()
    held_out_table()
    if a.kernels:
        fits = ({"before": yaml.safe_load(open(a.before))} if a.before else {}) | {"shipped": None}
        kernel_check(fits)
