"""The NVFP4 GEMM path of the serving model against NVIDIA's measured kernel database (issue 16).

    pip install -e '.[kernels]' && python scripts/fp4_kernel_check.py

For every Blackwell chip of the database, every measured GEMM (n, k >= 1024) is costed the way
the serving graph costs a linear layer (workloads/llm.py): the GEMM (perf/opcost on the chip's
shipped calibration, the format's efficiency ratio of data/calibration/format_efficiency.csv)
plus its activation-quantize op (workloads/llm.quantize_ops). Prints the median signed error of
predicted / measured latency per m (token) bucket, next to BF16 as the reference, and the same
without the separate quantize kernel. Kernel microbenchmarks only; no end-to-end row is read.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tapeout.formats import gemm_efficiency
from tapeout.ops import OpTable
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_fit import timed_ops
from tapeout.perf.kernels_db import chip_for, read_kernels
from tapeout.perf.opcost import evaluate
from tapeout.workloads.llm import quantize_ops

EDGES = (1, 17, 65, 257, 1025, 4097, 10**9)


def errors(k, chip: str, fmt: str, with_quantize: bool) -> tuple[list[str], float]:
    c = k.cols
    idx = np.flatnonzero((c["op"] == "gemm") & (c["chip"] == chip) & (c["fmt"] == fmt) & (c["n"] >= 1024) & (c["k"] >= 1024))
    ch = chip_for(chip)
    p = calibrated_params(ch)
    ops = timed_ops(k, idx)
    if fmt == "nvfp4":
        ops = [replace(o, eff_scale=gemm_efficiency(fmt, ch)[0]) for o in ops]
    t = np.asarray(evaluate(OpTable.from_ops(ops), p, check_support=False).time, dtype=float)
    if with_quantize:
        q = [o for i in idx for o in quantize_ops("q", float(c["m"][i] * c["k"][i]), 1, fmt)]
        if q:
            t = t + np.asarray(evaluate(OpTable.from_ops(q), p).time, dtype=float)
    m = np.asarray(c["m"][idx])
    e = t / np.asarray(c["latency_s"][idx], dtype=float) - 1.0
    cells = [f"{np.median(e[(m >= lo) & (m < hi)]) * 100:+.0f}%" for lo, hi in zip(EDGES, EDGES[1:])]
    return cells, float(np.median(np.abs(e)) * 100)


def main():
    k = read_kernels()
    heads = [f"m {lo}-{hi - 1}" if hi < 10**9 else f"m >= {lo}" for lo, hi in zip(EDGES, EDGES[1:])]
    print(f"aiconfigurator-core {k.package_version}: median (predicted / measured - 1) of GEMM latency, n, k >= 1024\n")
    print("| chip | format | " + " | ".join(heads) + " | median abs |")
    print("|---|---|" + "---|" * (len(heads) + 1))
    for chip in ("b200", "gb200", "b300", "gb300"):
        for fmt, wq, label in (("bf16", True, "bf16"), ("nvfp4", False, "nvfp4, quantize fused"),
                               ("nvfp4", True, "nvfp4, quantize kernel")):
            cells, med = errors(k, chip, fmt, wq)
            print(f"| {chip} | {label} | " + " | ".join(cells) + f" | {med:.0f}% |")


if __name__ == "__main__":
    main()
