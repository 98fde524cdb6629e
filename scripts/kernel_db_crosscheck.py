#!/usr/bin/env python3
"""Cross-check AIConfigurator's measured kernel database against this project's own kernel
measurements of the same shapes on the same chip (H200 GEMM sweeps in
data/measured/microbenchmarks.csv, source scripts/measure_gpu_kernels.py).

    pip install -e '.[kernels]'; python scripts/kernel_db_crosscheck.py [--stack trtllm]

Prints, per format, the median and 90th-percentile |log(db / ours)| over the GEMMs both
measured (same M tokens, N out-features, K in-features). Agreement says the database and an
independent torch/cuBLAS run see the same silicon; a systematic offset says the database's
kernel includes more (or other) work than a bare GEMM.
"""

from __future__ import annotations

import argparse
import re
import sys

import duckdb
import numpy as np

from tapeout.perf.fit import read_microbenchmarks
from tapeout.perf.kernels_db import installed_root, pick_version

DB_DTYPE = {"BF16": "bfloat16", "FP8": "fp8"}


def ours(accelerator: str = "NVIDIA H200-SXM") -> list[tuple[str, int, int, int, float]]:
    out = []
    for r in read_microbenchmarks():
        m = re.match(r"(BF16|FP8) GEMM latency \(torch", r["workload"])
        s = re.search(r"M=(\d+) N=(\d+) K=(\d+)", r["model_config"])
        if r["accelerator"] == accelerator and m and s:
            out.append((m.group(1), *map(int, s.groups()), float(r["value"]) * 1e-3))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", default="trtllm")
    ap.add_argument("--system", default="h200_sxm")
    args = ap.parse_args(argv)
    root, pkg_version = installed_root()
    folder = root / args.system / "gemm" / args.stack
    version, note = pick_version(sorted(p.name for p in folder.iterdir()), None)
    path = folder / version / "gemm_perf.parquet"
    con = duckdb.connect()
    rows = ours()
    print(f"aiconfigurator-core {pkg_version}, {args.system} {args.stack} {version}; {len(rows)} own GEMM rows")
    print("| format | GEMMs in both | median log(db/ours) | median abs | p90 abs |\n|---|---|---|---|---|")
    for fmt in ("BF16", "FP8"):
        d = []
        for f, m, n, k, t in rows:
            if f != fmt:
                continue
            q = con.execute(f"select median(latency) from '{path}' where gemm_dtype=? and m=? and n=? and k=?",
                            [DB_DTYPE[fmt], m, n, k]).fetchone()[0]
            if q is not None:
                d.append(np.log(float(q) * 1e-3 / t))
        if d:
            a = np.abs(d)
            print(f"| {fmt} | {len(d)} | {np.median(d):+.3f} | {np.median(a):.3f} | {np.percentile(a, 90):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
