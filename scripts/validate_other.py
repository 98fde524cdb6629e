#!/usr/bin/env python
"""Coverage and median absolute error of the non-LLM MLPerf mappers over end_to_end.csv.

Usage: python scripts/validate_other.py [PATH_TO_end_to_end.csv] [--rows]
Coverage = predicted rows / rows the mappers own (benchmark matched), per benchmark and
scenario; also reported over rows whose accelerator is in the chip catalog. Error =
|predicted - measured| / measured. Nothing here feeds back into the model.
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict
from importlib import resources

from tapeout.validation.other_rows import benchmark_rows, map_inference, map_training
from tapeout.validation.registry import SkipRow
from tapeout.hardware.catalog import resolve_chip_id


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    path = args[0] if args else str(resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv"))
    show_rows = "--rows" in argv
    rows = list(csv.DictReader(open(path, newline="")))
    stats = defaultdict(lambda: {"owned": 0, "in_catalog": 0, "predicted": 0, "errors": [], "skips": defaultdict(int)})
    for r, bench in benchmark_rows(rows):
        key = (bench, r["scenario"])
        s = stats[key]
        s["owned"] += 1
        s["in_catalog"] += resolve_chip_id(r["accelerator"]) is not None
        try:
            pred = (map_training if bench.startswith("train-") else map_inference)(r)
        except SkipRow as e:
            s["skips"][str(e)[:70]] += 1
            continue
        if pred is None:
            continue
        meas = float(r["value"])
        err = abs(pred.predicted - meas) / meas
        s["predicted"] += 1
        s["errors"].append(err)
        if show_rows:
            print(f"{r['id']:16s} {bench:18s} {r['scenario'][:12]:12s} {r['accelerator'][:22]:22s} n={r['n_accelerators']:>4s} "
                  f"{r['precision'][:8]:8s} meas={meas:12.4g} pred={pred.predicted:12.4g} err={err:6.1%}")
    print(f"{'benchmark':20s} {'scenario':24s} {'rows':>5s} {'cat':>4s} {'pred':>5s} {'cov':>6s} {'cov|cat':>7s} {'med|err|':>9s}")
    for (bench, scen), s in sorted(stats.items()):
        cov = s["predicted"] / s["owned"] if s["owned"] else 0.0
        covc = s["predicted"] / s["in_catalog"] if s["in_catalog"] else 0.0
        med = statistics.median(s["errors"]) if s["errors"] else float("nan")
        print(f"{bench:20s} {scen[:24]:24s} {s['owned']:5d} {s['in_catalog']:4d} {s['predicted']:5d} {cov:6.0%} {covc:7.0%} {med:9.1%}")
    off = [(k, s) for k, s in stats.items() if k[1] == "Offline"]
    owned = sum(s["owned"] for _, s in off)
    incat = sum(s["in_catalog"] for _, s in off)
    pred = sum(s["predicted"] for _, s in off)
    errs = [e for _, s in off for e in s["errors"]]
    if owned:
        print(f"\nOffline overall: rows={owned} predicted={pred} coverage={pred / owned:.0%} "
              f"(of rows with a catalog chip: {pred / max(incat, 1):.0%}) median |err|={statistics.median(errs) if errs else float('nan'):.1%}")
    skips = defaultdict(int)
    for s in stats.values():
        for k, v in s["skips"].items():
            skips[k] += v
    if skips:
        print("\nskipped rows by reason:")
        for k, v in sorted(skips.items(), key=lambda kv: -kv[1])[:12]:
            print(f"  {v:4d}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
