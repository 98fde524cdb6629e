"""Tables of the MLPerf Training rnnt rows of a `tapeout validate --json` file: median |error|, median signed error,
coverage and inside-interval share by chip and by chip count (docs/notes/issue-18.md, Round stop-39 issue-47b).

usage: python scripts/rnnt_rows_table.py v.json
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def _line(label: str, rows: list[dict], total: int) -> str:
    got = [r for r in rows if r.get("error_pct") is not None]
    if not got:
        return f"| {label} | {total} | 0 | - | - | - |"
    err = [r["error_pct"] for r in got]
    inside = sum(1 for r in got if r.get("inside")) / len(got)
    return (f"| {label} | {total} | {len(got)} | {statistics.median(abs(e) for e in err):.1f} | "
            f"{statistics.median(err):+.1f} | {inside:.2f} |")


def main(path: str) -> None:
    # a predicted row names its benchmark train-rnnt; a skipped one the token of its workload (rnnt)
    rows = [r for r in json.load(open(path))["rows"] if r.get("benchmark") in ("train-rnnt", "rnnt")]
    print("| group | rows | predicted | median abs err % | median signed % | inside interval |")
    print("|---|---|---|---|---|---|")
    print(_line("all rnnt rows", rows, len(rows)))
    for key, name in (("accelerator", "chip"), ("n_accelerators", "chips")):
        groups: dict = defaultdict(list)
        for r in rows:
            groups[r.get(key)].append(r)
        order = sorted(groups, key=lambda k: (int(k) if str(k).isdigit() else 0, str(k)))
        for k in order:
            print(_line(f"{name} {k}", groups[k], len(groups[k])))


if __name__ == "__main__":
    main(sys.argv[1])
