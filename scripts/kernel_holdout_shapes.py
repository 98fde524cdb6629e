"""Where a held-out kernel cell's error comes from, by shape (docs/notes/issue-24.md, Round stop-32 issue-32mo).

    python scripts/kernel_holdout_shapes.py b200 gemm nvfp4
    python scripts/kernel_holdout_shapes.py gb300 attention_prefill bf16

Fits the shared parameters without the chip and its twins as `tapeout calibrate --kernels --holdout` does
(300 kernels per chip, op and format), predicts the chip's kernels of one op and format as
scripts/kernel_loco_table.py does (up to 3,000) and prints the signed and absolute median error by shape
bins and by which roofline term bounds the kernel's main op (GEMM / attention, evaluated at the fit)."""

from __future__ import annotations

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernel_floor import read_floors
from tapeout.perf.kernels_db import held_out_chips, read_kernels, without_chips
from tapeout.perf.opcost import evaluate

BINS = {"gemm": {"m": (1, 32, 512, 4096, np.inf), "n": (0, 1024, 4096, 16384, np.inf), "k": (0, 1024, 4096, 16384, np.inf)},
        "attention_prefill": {"q_len": (1, 64, 1024, 4096, np.inf), "head_dim": (0, 65, 129, 257, np.inf),
                              "batch": (1, 4, 64, np.inf)}}
LATENCY_US = (0, 10, 50, 300, np.inf)


def kernel_errors(chip: str, op: str, fmt: str, train_per_group: int = 300, test_per_group: int = 3000):
    """(cols, e, memory_bound) of the chip's op/format kernels held out: their columns, predicted/measured - 1,
    and whether the main op's memory time exceeds its compute time at the held-out fit."""
    twins = held_out_chips(chip)
    # every empty GEMM but the chip's (FIXED_TIME_BY_FAMILY "measured" only), as the hold-out
    floors = read_floors(chip) if kf.FIXED_TIME_BY_FAMILY == "measured" else {}
    f = kf.fit(kf.Groups(without_chips(read_kernels(per_group=train_per_group), twins), floors=floors, held_out=twins))
    x = kf.x_of(f["params"])
    test = read_kernels(per_group=test_per_group, ops=(op,))
    mine = test.where((test.cols["chip"] == chip) & (test.cols["fmt"] == fmt))
    rows, e, mem = [], [], []
    for g in kf.Groups(mine, floors=floors).items:
        cost = evaluate(g["table"], kf.item_params(g, x), check_support=False)
        n = len(g["meas"])
        ct, mt = (np.asarray(a, dtype=float).reshape(n, -1)[:, -1 if op != "gemm" else 0] for a in (cost.compute_time, cost.memory_time))
        rows.append(g["rows"])
        e.append(kf.predict_group(g, x) / g["meas"] - 1.0)
        mem.append(mt > ct)
    idx = np.concatenate(rows)
    return {c: np.asarray(v)[idx] for c, v in mine.cols.items()}, np.concatenate(e), np.concatenate(mem)


def breakdown(cols: dict, e: np.ndarray, mem: np.ndarray, op: str) -> list[str]:
    """Lines of `bin: n, median signed, median |e|` (%) per shape column, latency and bound."""
    def line(label, m):
        return f"  {label:<24} n {int(m.sum()):5d}  signed {np.median(e[m]) * 100:+6.1f}  |e| {np.median(np.abs(e[m])) * 100:5.1f}"

    out = [line("all", np.ones(len(e), dtype=bool))]
    keys = {**BINS.get(op, {}), "latency_us": LATENCY_US}
    for col, edges in keys.items():
        v = np.asarray(cols["latency_s"], dtype=float) * 1e6 if col == "latency_us" else np.asarray(cols[col], dtype=float)
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (v >= lo) & (v < hi)
            if m.any():
                out.append(line(f"{col} [{lo:g}, {hi:g})", m))
    for label, m in (("memory-bound", mem), ("compute-bound", ~mem)):
        if m.any():
            out.append(line(label, m))
    return out


def main() -> None:
    chip, op, fmt = sys.argv[1:4]
    cols, e, mem = kernel_errors(chip, op, fmt)
    print(f"{chip} {op}/{fmt} held out:")
    print("\n".join(breakdown(cols, e, mem, op)))


if __name__ == "__main__":
    main()
