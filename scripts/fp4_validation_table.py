"""FP4 rows of end_to_end.csv: prediction error with the precision policy (issue 16).

    python scripts/fp4_validation_table.py            # print the markdown table
    python scripts/fp4_validation_table.py --write    # replace the generated section of docs/validation.md

Rows: every row of the packaged end_to_end.csv whose declared precision names FP4 (NVIDIA
Blackwell NVFP4 ModelOpt checkpoints). Columns:
  policy     - as shipped: NVFP4 GEMMs at the kernel-database FP4 efficiency, FP8 attention and
               KV cache, BF16 lm_head (data/precision/policies.yaml, tapeout.formats)
  leave-FP4-out - the same policy with no FP4 information at all in calibration: the NVFP4 GEMM
               efficiency ratios are withheld, so FP4 gets the prior for a format never measured on
               the chip (tapeout.format_prior: the fixed-time rate law from the chip's FP8/BF16
               kernel pair), i.e. FP4 predicted only from BF16/FP8 microbenchmarks
  leave-FP4-out, BF16-fraction prior - the same without the rate law (the prior before it: FP4 at
               the BF16 calibrated fraction of its peak)
  naive      - every op at the FP4 peak with no kernel efficiency ratio, FP4 attention math
               (FP4 = FP8 peak x 2 for the whole step: the model before issue 16)
No end-to-end row feeds any number of the model; this only scores it.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import tapeout.format_prior as format_prior
import tapeout.formats as formats
import tapeout.perf.mlperf as mlperf
import tapeout.precision as precision
from tapeout.validation import harness

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- fp4-rows:begin (scripts/fp4_validation_table.py --write) -->", "<!-- fp4-rows:end -->"


def _run(rows):
    mlperf.clear_caches()
    return {r.id: r for r in harness.run(rows=rows)["results"]}


def main():
    rows = [r for r in harness.read_rows(harness.default_data()) if "fp4" in r["precision"].lower()]
    policy = _run(rows)
    keep = formats._efficiency_rows
    formats._efficiency_rows = lambda: tuple(r for r in keep() if r["format"] != "nvfp4")
    try:
        lopo = _run(rows)
    finally:
        formats._efficiency_rows = keep
    keep_prior = format_prior.prior
    formats._efficiency_rows = lambda: tuple(r for r in keep() if r["format"] != "nvfp4")
    format_prior.prior = lambda *a: None  # the prior before the rate law: FP4 at the BF16 fraction of its peak
    try:
        old = _run(rows)
    finally:
        formats._efficiency_rows, format_prior.prior = keep, keep_prior
    pol = dict(precision.PRECISIONS)
    precision.PRECISIONS["fp4"] = precision.Precision("fp4", "nvfp4", "nvfp4", "fp8", "nvfp4", attention="nvfp4")
    keep_eff = formats.efficiency_origin
    formats.efficiency_origin = lambda fmt, chip: (1.0, "naive", "borrowed")
    try:
        naive = _run(rows)
    finally:
        precision.PRECISIONS.clear()
        precision.PRECISIONS.update(pol)
        formats.efficiency_origin = keep_eff
        mlperf.clear_caches()
    lines = ["| row | chip | workload | measured | policy | leave-FP4-out | leave-FP4-out, BF16-fraction prior | naive FP4 |",
             "|---|---|---|---|---|---|---|---|"]
    cols = {"policy": [], "lopo": [], "old": [], "naive": []}
    fmt = lambda r: "skipped: " + str(r.skipped) if r.error_pct is None else f"{r.error_pct:+.1f}%"  # noqa: E731
    for r in rows:
        a, b, o, c = policy[r["id"]], lopo[r["id"]], old[r["id"]], naive[r["id"]]
        for k, x in (("policy", a), ("lopo", b), ("old", o), ("naive", c)):
            if x.error_pct is not None:
                cols[k].append(abs(x.error_pct))
        lines.append(f"| {r['id']} | {r['accelerator']} | {r['workload'][:60]} | {float(r['value']):,.0f} {r['unit']} | "
                     f"{fmt(a)} | {fmt(b)} | {fmt(o)} | {fmt(c)} |")
    med = {k: (f"{statistics.median(v):.1f}% ({len(v)} rows)" if v else "-") for k, v in cols.items()}
    lines.append(f"| **median abs error** | | | | {med['policy']} | {med['lopo']} | {med['old']} | {med['naive']} |")
    md = "\n".join(lines)
    print(md)
    if "--write" in sys.argv:
        p = ROOT / "docs" / "validation.md"
        text = p.read_text()
        if BEGIN not in text:
            text += "\n## FP4 rows (issue 16)\n\n" + BEGIN + "\n" + END + "\n"
        head, rest = text.split(BEGIN, 1)
        p.write_text(head + BEGIN + "\n" + md + "\n" + END + rest.split(END, 1)[1])


if __name__ == "__main__":
    main()
