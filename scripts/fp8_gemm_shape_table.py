"""H100-SXM training GEMMs, FP8 and BF16: the fitted model as the training step prices it next to NVIDIA's measured
kernel database, by shape.

    python scripts/fp8_gemm_shape_table.py [--chip h100-sxm] [--grid]

For each GEMM (forward, and its dgrad / wgrad at their own shapes, perf/train_backward.gradient_gemms):
  fit burst      opcost at calibrated_params(chip) (the default, microbenchmark fit), no clock term
  fit train      the same through train_clock.graph_time with the chip's board (the MSMF floor and SUSTAINED_SCALE):
                 what the training step charges
  DB burst       aiconfigurator-core's gemm_perf of the chip (perf/gemm_table.MeasuredGemms.time): TensorRT-LLM's
                 Linear (static per-tensor quantize + cublas_scaled_mm for FP8; torch BF16 GEMM), its quantize
                 pass taken off (cast_priced), timed in a burst at the boost clock (perf/collector_clock.py)
  DB train       that time at the sustained clock (train_clock.measured_gemm_time: / MSMF / burst MAMF of the die)
  fit / DB       fit train / DB train (below 1: the fit prices the GEMM faster than the measured kernel)
The database holds one layout (TN, x[m, k] @ W[n, k]^T); a dgrad / wgrad is read at its (m, n, k), as the engine's
`--kernels aiconfigurator` reads it: a layout difference (NN / NT) is not in the table.
`--grid`: the ratio on the database's own grid points (no interpolation) by shape class, FP8 and BF16.
Kernel timings only: no end-to-end result is read.
"""

from __future__ import annotations

import argparse

import numpy as np

from tapeout.errors import script_main
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul
from tapeout.perf import train_clock
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.gemm_table import MeasuredGemms
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_backward import gradient_gemms
from tapeout.perf.training import OpGraph

# (workload, layer GEMM, M, N, K): M the tokens per chip per GEMM, N the output features, K the reduction.
# BERT-large (h 1024, FFN 4096), the MLPerf H100 rows' per-GPU batch: 48 packed samples x 2 x 254.2 tokens
# (v3.1 config_DGXH100_8x8x36x1_pack.sh: BATCHSIZE 48, packing 2) = 24,384; GPT-3 175B (h 12288, FFN 49152) at the
# layout `tapeout train --benchmark gpt3-175b --chip h100-sxm -n 512` picks (TP4, mbs 1, seq 2048); Llama-2-70B LoRA
# (h 8192, FFN 28672, GQA 8 KV heads) at the layout `-n 8` picks (TP2 CP2: 4,096 tokens per rank).
SHAPES = [
    ("bert", "qkv", 24384, 3072, 1024), ("bert", "proj", 24384, 1024, 1024),
    ("bert", "fc1", 24384, 4096, 1024), ("bert", "fc2", 24384, 1024, 4096),
    ("gpt3 tp4", "qkv", 2048, 9216, 12288), ("gpt3 tp4", "proj", 2048, 12288, 3072),
    ("gpt3 tp4", "fc1", 2048, 12288, 12288), ("gpt3 tp4", "fc2", 2048, 12288, 12288),
    ("lora70b tp2cp2", "qkv", 4096, 5120, 8192), ("lora70b tp2cp2", "proj", 4096, 8192, 4096),
    ("lora70b tp2cp2", "fc1", 4096, 28672, 8192), ("lora70b tp2cp2", "fc2", 4096, 8192, 14336),
]


class Pricer:
    """One chip's fitted training GEMM time and its measured counterpart."""

    def __init__(self, chip_id: str):
        self.chip = get_chip(chip_id)
        self.p = calibrated_params(self.chip)
        self.board = train_clock.board_power(self.chip)
        self.db = MeasuredGemms(self.chip.calibration_id)

    def row(self, op: MatMul) -> dict:
        ct = evaluate(OpGraph(name=op.name, ops=[op]), self.p)
        fit_burst = float(np.max(np.asarray(ct.time, dtype=float)))
        fit_train = train_clock.graph_time(OpGraph(name=op.name, ops=[op]), self.p, self.board)
        db = self.db.time(op, self.p)
        db_train = train_clock.measured_gemm_time(db, ct, 0, self.board) if db is not None else None
        return dict(fit_burst=fit_burst, fit_train=fit_train, db=db, db_train=db_train,
                    ratio=(fit_train / db_train) if db_train else None)


def gemm(name, m, n, k, fmt) -> MatMul:
    return MatMul(name=name, m=m, n=n, k=k, a_dtype=fmt, w_dtype=fmt, math_dtype=fmt)


def tf(op, t):
    return f"{op.flops / t / 1e12:.0f}" if t else "-"


def shape_table(pr: Pricer):
    print("| workload | GEMM | pass | M x N x K | fmt | fit burst TFLOP/s | fit train | DB burst | DB train | "
          "fit / DB (time) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for wl, name, m, n, k in SHAPES:
        for fmt in ("fp8", "bf16"):
            fwd = gemm(name, m, n, k, fmt)
            for op in [fwd] + gradient_gemms(fwd):
                r = pr.row(op)
                pas = op.name.split(".")[-1] if "." in op.name else "fwd"
                print(f"| {wl} | {name} | {pas} | {op.m} x {op.n} x {op.k} | {fmt} | {tf(op, r['fit_burst'])} | "
                      f"{tf(op, r['fit_train'])} | {tf(op, r['db'])} | {tf(op, r['db_train'])} | "
                      + (f"{r['ratio']:.3f} |" if r["ratio"] else "- |"))


def grid_table(pr: Pricer):
    """fit train / DB train on the database's grid points, median [min..max] by shape class."""
    ms = (2048, 4096, 8192, 16384, 32768)
    sides = (1024, 2048, 4096, 8192, 12288, 16384)
    print("\n| fmt | M | min(N, K) | n shapes | fit / DB median | min | max |")
    print("|---|---|---|---|---|---|---|")
    for fmt in ("fp8", "bf16"):
        for m in ms:
            for lo, hi in ((1024, 1024), (2048, 4096), (8192, 16384)):
                rs = [pr.row(gemm("g", m, n, k, fmt))["ratio"] for n in sides for k in sides if lo <= min(n, k) <= hi]
                rs = [r for r in rs if r]
                if rs:
                    print(f"| {fmt} | {m} | {lo}-{hi} | {len(rs)} | {np.median(rs):.3f} | {min(rs):.3f} | "
                          f"{max(rs):.3f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chip", default="h100-sxm")
    ap.add_argument("--grid", action="store_true", help="also the ratio on the database's grid by shape class")
    args = ap.parse_args()
    pr = Pricer(args.chip)
    shape_table(pr)
    if args.grid:
        grid_table(pr)


if __name__ == "__main__":
    script_main(main)
