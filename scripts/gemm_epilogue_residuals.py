"""Held-out GEMM residuals by the output's share of the kernel's bytes (issue 24, round stop-24).

    python scripts/gemm_epilogue_residuals.py FIT.json SYSTEM [FMT]     # FMT default bf16

FIT.json is `tapeout calibrate --kernels aiconfigurator --holdout CHIP --json FIT.json`. Predicts
every GEMM of SYSTEM (a kernel-database system, e.g. b200_sxm, h200_sxm, gb300) of one format with
the fit's shared parameters and prints the median |error| / median signed error (%; > 0 = predicted
too slow) with the kernel count: all, by measured time, and, for kernels of >= 4 us, by the
output's share of the compulsory bytes (m n / (m n + m k + n k) at equal element sizes), split by
whether the collector's replay stays in L2 (perf/kernel_replay.py). A GEMM with a large output
share is one whose per-tile epilogue (the output store) is long against its main loop: where the
epilogue is priced as exposed but the kernel overlaps it, that column is predicted too slow.
"""

import json
import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernels_db import read_kernels

SHARE = (0.0, 0.1, 0.3, 0.6, 0.9, 1.01)
TIME_US = (0.0, 2.5, 4.0, 8.0, 16.0, 50.0, 1e9)


def _cell(e: np.ndarray) -> str:
    return f"{100 * np.median(np.abs(e)):.1f} / {100 * np.median(e):+.1f} ({len(e)})" if len(e) else "-"


def main(fit_json: str, system: str, fmt: str = "bf16") -> None:
    x = kf.x_of(json.load(open(fit_json))["fit"]["params"])
    k = read_kernels(per_group=None, ops=("gemm",), systems=[system])
    k = k.where(k.cols["fmt"] == fmt)
    groups = kf.Groups(k)
    rows = np.concatenate([g["rows"] for g in groups.items])
    pred = np.concatenate(groups.predict(x))
    meas = np.concatenate([g["meas"] for g in groups.items])
    l2 = np.concatenate([np.full(len(g["meas"]), g["l2"]) for g in groups.items])
    m, n, kk = (k.cols[c][rows].astype(float) for c in ("m", "n", "k"))
    e, us = pred / meas - 1.0, meas * 1e6
    share = m * n / (m * n + m * kk + n * kk)
    print(f"{system} {fmt}: all {_cell(e)}; replay in L2 {_cell(e[l2])}; not {_cell(e[~l2])}")
    print("| measured us | " + " | ".join(f"[{a:g}, {b:g})" for a, b in zip(TIME_US, TIME_US[1:])) + " |")
    print("|---" * len(TIME_US) + "|")
    for name, s in (("L2", l2), ("DRAM", ~l2)):
        print(f"| {name} | " + " | ".join(_cell(e[s & (us >= a) & (us < b)]) for a, b in zip(TIME_US, TIME_US[1:])) + " |")
    print("\n| >= 4 us, output share | " + " | ".join(f"[{a:g}, {b:g})" for a, b in zip(SHARE, SHARE[1:])) + " |")
    print("|---" * len(SHARE) + "|")
    for name, s in (("L2", l2), ("DRAM", ~l2)):
        print(f"| {name} | " + " | ".join(_cell(e[s & (us >= 4) & (share >= a) & (share < b)]) for a, b in zip(SHARE, SHARE[1:])) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:4])
