"""Kernel efficiency of block-scaled GEMM formats relative to the format whose calibrated
efficiency the model scales (issue 16), from NVIDIA's measured kernel database only.

    pip install -e '.[kernels]' && python scripts/fit_format_efficiency.py

For each chip of the database and format f in (nvfp4, fp8_block): on every compute-bound GEMM
shape measured in both f and its reference r (m, n, k >= 4096), the achieved fraction of the
chip's dense peak, (2mnk / t) / peak, is taken in both; the ratio eff_f / eff_r is the median
over shapes. Reference: bf16 for nvfp4 (no chip has an fp4 microbenchmark calibration, so the
model's fp4 efficiency is the bf16 one), fp8 for fp8_block (same FP8 peak and calibration).
A format the model quantizes in a kernel of its own (formats.yaml separate_quantize: nvfp4)
has that kernel's modelled time (workloads/llm.quantize_ops costed by perf/opcost on the chip's
shipped calibration) taken out of each measured latency first: the database times
Linear.forward on a BF16 input, quantize included, and the model charges the quantize as its
own op, so the ratio describes the GEMM alone.
Writes src/tapeout/data/calibration/format_efficiency.csv. No end-to-end row is read.
"""

import csv
from pathlib import Path

import numpy as np

from tapeout.formats import separate_quantize
from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpTable
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import read_kernels
from tapeout.perf.opcost import evaluate
from tapeout.workloads.llm import quantize_ops

OUT = Path(__file__).resolve().parents[1] / "src" / "tapeout" / "data" / "calibration" / "format_efficiency.csv"
PAIRS = {"nvfp4": ("bf16", "fp4", "bf16"), "fp8_block": ("fp8", "fp8", "fp8")}  # fmt: (reference, peak key, ref peak key)
MIN_DIM = 4096


def main():
    k = read_kernels()
    c = k.cols
    rows = []
    g = (c["op"] == "gemm") & (c["m"] >= MIN_DIM) & (c["n"] >= MIN_DIM) & (c["k"] >= MIN_DIM)
    for chip in sorted(set(c["chip"][g])):
        chip_obj = get_chip(chip)
        for fmt, (ref, pk, rpk) in PAIRS.items():
            peak, rpeak = chip_obj.peak_tflops(pk) * 1e12, chip_obj.peak_tflops(rpk) * 1e12
            if peak <= 0 or rpeak <= 0:
                continue

            def eff(f, p):
                s = g & (c["chip"] == chip) & (c["fmt"] == f)
                t = np.asarray(c["latency_s"][s], dtype=float)
                if separate_quantize(f):  # the GEMM alone: the model's quantize kernel comes off
                    ops = [q for a, d in zip(c["m"][s], c["k"][s]) for q in quantize_ops("q", float(a * d), 1, f)]
                    t = t - np.asarray(evaluate(OpTable.from_ops(ops), calibrated_params(chip_obj)).time, dtype=float)
                return {(int(a), int(b), int(d)): 2.0 * a * b * d / x / p
                        for a, b, d, x in zip(c["m"][s], c["n"][s], c["k"][s], t) if x > 0}

            ef, er = eff(fmt, peak), eff(ref, rpeak)
            shapes = sorted(set(ef) & set(er))
            if not shapes:
                continue
            ratio = float(np.median([ef[s] / er[s] for s in shapes]))
            rows.append({"chip": chip, "family": chip_obj.family, "format": fmt, "relative_to": ref,
                         "ratio": round(ratio, 4), "n_shapes": len(shapes),
                         "source": f"aiconfigurator-core {k.package_version} gemm_perf (NVIDIA measured kernels), "
                                   f"median over GEMMs with m,n,k >= {MIN_DIM}"
                                   + ("; modelled activation-quantize kernel subtracted" if separate_quantize(fmt) else "")
                                   + "; scripts/fit_format_efficiency.py"})
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(r["chip"], r["format"], "/", r["relative_to"], r["ratio"], r["n_shapes"])


if __name__ == "__main__":
    main()
