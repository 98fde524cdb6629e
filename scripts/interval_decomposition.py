"""Every term of the 80% interval of a few rows per board, and interval coverage by the compute term's level.

    tapeout validate --no-rows --json v.json
    python scripts/interval_decomposition.py v.json [--boards "NVIDIA A100-SXM-80GB,NVIDIA A30"] [--bench train-bert,train-resnet]

Table 1: per board and benchmark (first row of each, by id), the compute / memory / link sigmas with the rule
that chose each (perf/uncertainty.py term_sigmas, numbers from fitted.yaml `uncertainty`), the term that binds
(unknown shares: the largest), the distance terms (perf/novelty.py), the sigma they combine to and the sigma the
row's stated interval implies (equal where the decomposition closes). Table 2: every row with an interval, grouped
by the rule behind its chip's compute term and by inference / training: share inside, median log half-width,
median signed error. Nothing is fitted; every width is the JSON's or the calibration's.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict

from tapeout.perf.interval_terms import decompose

BOARDS = "NVIDIA A100-SXM-80GB,NVIDIA A100-PCIe-80GB,NVIDIA A100-SXM-40GB,NVIDIA A30,NVIDIA H100-SXM,NVIDIA H200-SXM"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--boards", default=BOARDS)
    ap.add_argument("--bench", default="train-bert,train-resnet")
    a = ap.parse_args()
    rows = sorted(json.load(open(a.json))["rows"], key=lambda r: r["id"])
    boards, benches = a.boards.split(","), a.bench.split(",")
    print("| board | row | benchmark | compute | memory | link | binds | distance | sigma (terms) | sigma (stated) | inside |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b in boards:
        for bench in benches:
            r = next((r for r in rows if r["accelerator"] == b and r.get("benchmark") == bench and decompose(r)), None)
            if r is None:
                continue
            d = decompose(r)
            t = {k: f"{s:.4f} ({how})" for k, (s, how) in d["terms"].items()}
            dist = ", ".join(f"{k} {s:.4f}" for k, s in d["distance"].items()) or "none"
            print(f"| {b} | {r['id']} | {bench} | {t['compute']} | {t['memory']} | {t['link']} | {d['binding']} | {dist} "
                  f"| {d['sigma']:.4f} | {d['stated_sigma']:.4f} | {r['inside']} |")
    groups = defaultdict(list)
    for r in rows:
        d = decompose(r)
        if d is not None:
            level = d["terms"]["compute"][1].split(" (")[0].split(";")[0].split(" + ")[0]
            groups[(level, "training" if r["category"] == "mlperf-train" else "inference")].append((r, d))
    print("\n| compute term rule | rows | class | in 80% interval | median log half-width | median signed % | chips |")
    print("|---|---|---|---|---|---|---|")
    for (level, cls), rs in sorted(groups.items()):
        n = len(rs)
        print(f"| {level} | {n} | {cls} | {sum(bool(r['inside']) for r, _ in rs) / n:.0%} "
              f"| {statistics.median(d['stated_sigma'] for _, d in rs) * 1.2816:.3f} "
              f"| {statistics.median(r['error_pct'] for r, _ in rs):+.1f} | {', '.join(sorted({d['chip'] for _, d in rs}))} |")


if __name__ == "__main__":
    main()
