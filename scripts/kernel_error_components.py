"""Bias / scatter split of per-kernel log errors (perf/variance_components.py), and a check of the
step formula sqrt(bias^2 + scatter^2 x spread) on groups of distinct kernels that run at one token
count (what one serving step sums). Reads microbenchmarks and kernel tables only.

    python scripts/kernel_error_components.py [--per-group N]

A. microbenchmark GEMM sweeps, curve borrowed (fit_uncertainty's own_peak_only: the sweep dropped,
   the chip's best-shape rows kept, refit, predict the sweep): per chip, mean and sd of the log
   residuals; groups = the sweep's shapes at one M and dtype (the sweeps are transformer-layer GEMMs:
   QKV, O, gate-up, down of Llama-2-70B / Llama-3-8B); the group's time-weighted log error
   log(sum predicted / sum measured) against the formula with the group's spread.
B. AIConfigurator's measured kernels under the shipped (default) calibration
   (perf/kernel_transfer.py), per op / format: bias = RMS over chips of the chip's mean log error,
   scatter = RMS over chips of the within-chip sd; GEMMs grouped by (chip, format, m) as in A.
Needs the kernels extra for B (pip install -e '.[kernels]').
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict

import numpy as np

from tapeout.perf.variance_components import components, kernel_spread, step_sigma


def group_check(per_chip: dict[str, list[tuple[object, float, float]]]) -> tuple[int, float, float, float]:
    """per_chip: {chip: [(group key, measured time, log error)]} -> (groups, observed RMS of the
    groups' time-weighted log error, RMS the step formula predicts with each chip's own bias /
    scatter, RMS with the scatter taken as fully correlated (spread 1))."""
    obs, pred, full = [], [], []
    for rs in per_chip.values():
        e_all = np.array([e for _, _, e in rs])
        b, s = float(e_all.mean()), float(e_all.std())
        g: dict = defaultdict(list)
        for key, t, e in rs:
            g[key].append((t, e))
        for v in g.values():
            if len(v) < 2:
                continue
            t = np.array([x[0] for x in v])
            e = np.array([x[1] for x in v])
            obs.append(math.log(np.sum(t * np.exp(e)) / np.sum(t)))
            pred.append(step_sigma(b, s, kernel_spread(t * np.exp(e))) ** 2)
            full.append(b * b + s * s)
    return len(obs), float(np.sqrt(np.mean(np.square(obs)))), float(np.sqrt(np.mean(pred))), float(np.sqrt(np.mean(full)))


def microbenchmarks() -> None:
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.fit import fit_all, gemm_log_residuals, read_microbenchmarks
    from tapeout.perf.fit.rows import chip_key, gemm_point

    rows = read_microbenchmarks()
    by: dict[str, list] = defaultdict(list)
    for r in rows:
        cid, _ = chip_key(r["accelerator"])
        if cid:
            by[cid].append(r)
    res, grouped = {}, {}
    for cid, rs in sorted(by.items()):
        sweep = [r for r in rs if gemm_point(r) is not None and "max achievable" not in r["workload"]]
        if not sweep or not any("max achievable" in r["workload"] for r in rs):
            continue
        ids = {r["id"] for r in sweep}
        f_ex = fit_all([r for r in rows if r["id"] not in ids], uncertainty=False)
        e = gemm_log_residuals(get_chip(cid), sweep, f_ex)
        pts = [gemm_point(r) for r in sweep]
        res[cid] = e
        grouped[cid] = [((p[3], p[0]), p[4], x) for p, x in zip(pts, e)]
    bias, scatter = components(res)
    print("A. microbenchmark GEMM sweeps, curve borrowed (own_peak_only)\n")
    print("| chip | shapes | mean log error (bias) | within-chip sd (scatter) | RMS |\n|---|---|---|---|---|")
    for c, e in res.items():
        print(f"| {c} | {len(e)} | {e.mean():+.3f} | {e.std():.3f} | {math.sqrt(np.mean(e ** 2)):.3f} |")
    print(f"| pooled (equal chip weight) | | bias {bias:.3f} | scatter {scatter:.3f} | {math.hypot(bias, scatter):.3f} |\n")
    print("| chip | groups (one M, one dtype) | observed RMS of the group's log error | formula, spread of the group | formula, spread 1 |")
    print("|---|---|---|---|---|")
    for c, rs in grouped.items():
        n, o, p, f = group_check({c: rs})
        if n:
            print(f"| {c} | {n} | {o:.3f} | {p:.3f} | {f:.3f} |")
    print()


def kernel_db(per_group: int) -> None:
    from tapeout.perf.kernel_transfer import default_ratios
    from tapeout.perf.kernels_db import read_kernels

    k = read_kernels(per_group=per_group)
    ratios = default_ratios(k)
    by_op: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for chip, e in ratios.items():
        for g, (r, _) in e["ops"].items():
            by_op[g][chip] = np.log(r)
    print(f"B. aiconfigurator-core {k.package_version} kernels (<= {per_group} per chip, op, format) under the shipped "
          "calibration\n")
    print("| op / format | chips | bias (RMS of chip means) | scatter (RMS of within-chip sd) | per-kernel RMS |")
    print("|---|---|---|---|---|")
    for g in sorted(by_op):
        b, s = components(by_op[g])
        print(f"| {g} | {len(by_op[g])} | {b:.3f} | {s:.3f} | {math.hypot(b, s):.3f} |")
    print("\nGEMMs grouped by (chip, format, m): the group's time-weighted log error vs the formula\n")
    print("| format | groups | observed RMS | formula, spread of the group | formula, spread 1 |\n|---|---|---|---|---|")
    c = k.cols
    for fmt in sorted({g.split("/")[1] for g in by_op if g.startswith("gemm/")}):
        per_chip = {}
        for chip, e in ratios.items():
            if f"gemm/{fmt}" not in e["ops"]:
                continue
            r, meas = e["ops"][f"gemm/{fmt}"]
            idx = np.flatnonzero((c["chip"] == chip) & (c["op"] == "gemm") & (c["fmt"] == fmt))
            per_chip[chip] = list(zip(np.asarray(c["m"])[idx].tolist(), meas.tolist(), np.log(r).tolist()))
        n, o, p, f = group_check(per_chip)
        print(f"| {fmt} | {n} | {o:.3f} | {p:.3f} | {f:.3f} |")


def main() -> None:
    per_group = int(sys.argv[sys.argv.index("--per-group") + 1]) if "--per-group" in sys.argv else 1000
    microbenchmarks()
    kernel_db(per_group)


if __name__ == "__main__":
    main()
