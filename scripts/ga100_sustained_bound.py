"""How much of the Ampere training gap could a sustained-clock GEMM ceiling on the A100 SXM close? Analysis only
(docs/notes/issue-18.md, "Round stop-41 (branch issue-59a)"); nothing here changes a prediction.

No A100 SXM sustained-vs-burst GEMM pair exists on file or in the sources searched (the note lists them), so this
prices the A100 SXM (40 and 80 GB) training GEMMs as if the SXM die had the A100 PCIe's measured pair (MB-0726,
mamf-finder v4: MSMF 258 / burst 285 TFLOPS BF16, ~299 W @ 1326 MHz vs 1395 MHz): perf/train_clock's ceiling
and SUSTAINED_SCALE then act on the SXM exactly as on a chip with a pair. It is an upper bound on the SXM's
throttle, not an estimate: the same GA100 die at 400 W sustains at least what it sustains at 300 W.

    python scripts/ga100_sustained_bound.py run OUT_BASE.json
    python scripts/ga100_sustained_bound.py run OUT_BOUND.json --whatif bf16      # or bf16,fp16
    python scripts/ga100_sustained_bound.py compare OUT_BASE.json OUT_BOUND.json
    python scripts/board_pairs.py OUT_BOUND.json --csv /tmp/ga100_training.csv   # the same-die quotients

`run` validates the GA100 boards' training rows of data/measured/end_to_end.csv (A100 SXM / PCIe 40 / 80 GB,
A30; written to /tmp/ga100_training.csv); `compare` prints, per (board, benchmark), the median signed and
absolute error of the two runs and the rows that moved toward / away from their measurements.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END_TO_END = ROOT / "src" / "tapeout" / "data" / "measured" / "end_to_end.csv"
SUBSET = Path("/tmp/ga100_training.csv")
GA100 = ("NVIDIA A100-SXM-80GB", "NVIDIA A100-SXM-40GB", "NVIDIA A100-PCIe-80GB", "NVIDIA A100-PCIe-40GB", "NVIDIA A30")
PCIE_PAIR = (258.0, 285.0, 312.0)  # MB-0726: MSMF, burst pair MAMF, BF16 dense peak (TFLOPS)


def _write_subset() -> Path:
    with open(END_TO_END, newline="") as f:
        rows = list(csv.DictReader(f))
    keep = [r for r in rows if r["accelerator"] in GA100 and "Training" in r["workload"]]
    with open(SUBSET, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(keep)
    return SUBSET


def _patch_sxm(formats: list[str]) -> None:
    """The A100 SXM boards take the PCIe pair for `formats` (train_clock's two readers of power_cap_msmf.yaml)."""
    import tapeout.perf.train_clock as tc
    from tapeout.ops import PEAK_KEYS

    msmf, burst, peak = PCIE_PAIR

    def vec(value):
        out = [float("nan")] * len(PEAK_KEYS)
        for f in formats:
            out[PEAK_KEYS.index(f)] = value
        return tuple(out)

    ceiling, keep = tc.msmf_ceiling, tc.burst_to_sustained
    sxm = lambda chip: str(getattr(chip, "id", "")).startswith("a100-sxm")  # noqa: E731
    tc.msmf_ceiling = lambda chip: vec(msmf / peak) if sxm(chip) else ceiling(chip)
    tc.burst_to_sustained = lambda chip: vec(msmf / burst) if sxm(chip) else keep(chip)


def run(out: str, whatif: str | None) -> int:
    if whatif:
        _patch_sxm(whatif.split(","))
    from tapeout.cli import main

    return main(["validate", "--no-rows", "--data", str(_write_subset()), "--json", out])


def compare(a_path: str, b_path: str) -> None:
    a = {r["id"]: r for r in json.load(open(a_path))["rows"]}
    b = {r["id"]: r for r in json.load(open(b_path))["rows"]}
    groups = defaultdict(list)
    for i, r in a.items():
        if r.get("skipped") or r.get("error_pct") is None or b.get(i, {}).get("error_pct") is None:
            continue
        groups[(r["accelerator"], r["benchmark"])].append((r["error_pct"], b[i]["error_pct"]))
    print("| board | benchmark | rows | median signed % A | B | median abs % A | B | toward | away |")
    print("|---|---|---|---|---|---|---|---|---|")
    toward = away = 0
    for (acc, bench), v in sorted(groups.items()):
        t = sum(abs(y) < abs(x) - 1e-9 for x, y in v)
        w = sum(abs(y) > abs(x) + 1e-9 for x, y in v)
        toward, away = toward + t, away + w
        print(f"| {acc.replace('NVIDIA ', '')} | {bench} | {len(v)} | {statistics.median(x for x, _ in v):.1f} | "
              f"{statistics.median(y for _, y in v):.1f} | {statistics.median(abs(x) for x, _ in v):.1f} | "
              f"{statistics.median(abs(y) for _, y in v):.1f} | {t} | {w} |")
    pairs = [p for v in groups.values() for p in v]
    print(f"\nall {len(pairs)} rows: median |err| {statistics.median(abs(x) for x, _ in pairs):.1f}% -> "
          f"{statistics.median(abs(y) for _, y in pairs):.1f}%; {toward} toward, {away} away")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out")
    r.add_argument("--whatif", help="formats the SXM takes the PCIe pair for, e.g. bf16 or bf16,fp16")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args()
    if args.cmd == "run":
        sys.exit(run(args.out, args.whatif))
    compare(args.a, args.b)
