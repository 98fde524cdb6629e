"""Where a held-out kernel cell's error comes from, by shape (docs/notes/issue-24.md, Round stop-32 issue-32mo).

    python scripts/kernel_holdout_shapes.py b200 gemm nvfp4
    python scripts/kernel_holdout_shapes.py gb300 attention_prefill bf16
    python scripts/kernel_holdout_shapes.py b200 gemm bf16 in-sample   # the same kernels, every chip in the fit
    python scripts/kernel_holdout_shapes.py gb300 attention_prefill bf16 --save OUT.npz   # and keep the per-kernel errors

Fits the shared parameters without the chip and its twins as `tapeout calibrate --kernels --holdout` does
(300 kernels per chip, op and format), predicts the chip's kernels of one op and format as
scripts/kernel_loco_table.py does (up to 3,000) and prints the signed and absolute median error by shape
bins and by which roofline term bounds the kernel's main op (GEMM / attention, evaluated at the fit); for context
attention also by heads, KV heads, GQA group and per (query length, head size) cell (issue-39e; every context kernel
of the database is causal: TensorRT-LLM's context attention, window_size 0) and by the KV cache's format, alone and
per query length (issue-61d); for GEMMs
also by the clock the collector timed them at (perf/collector_clock.py: the part of the timed replays past the
board's power response, 0 = a burst at boost) and the compute-bound ones by FLOPs (issue-36c)."""

from __future__ import annotations

import argparse

import numpy as np

from tapeout.errors import TapeoutError, script_main
from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernel_floor import read_floors
from tapeout.perf.kernels_db import OPS, held_out_chips, read_kernels, without_chips
from tapeout.perf.opcost import evaluate

BINS = {"gemm": {"m": (1, 32, 512, 4096, np.inf), "n": (0, 1024, 4096, 16384, np.inf), "k": (0, 1024, 4096, 16384, np.inf)},
        "attention_prefill": {"q_len": (1, 64, 1024, 4096, np.inf), "head_dim": (0, 65, 129, 257, np.inf),
                              "batch": (1, 4, 64, np.inf), "heads": (1, 8, 32, np.inf), "kv_heads": (1, 2, 8, np.inf),
                              "group": (1, 2, 8, np.inf)}}
# attention: the signed / |e| medians of each (query length, head size) cell as well (issue-39e)
CROSS = {"attention_prefill": (("q_len", "q"), ("head_dim", "d"))}
# and by the KV cache's format, alone and per query-length bin (issue-61d): a BF16 context row over an FP8 cache is the
# FP8 FMHA (kernel_fit.context_math), so one format cell holds two kernels
CATEGORY = {"attention_prefill": (("kv_fmt", "kv"), ("q_len", "q"))}
LATENCY_US = (0, 10, 50, 300, np.inf)
FLOPS = (0, 1e9, 1e10, 1e11, 1e12, 1e13, np.inf)  # a compute-bound GEMM's 2mnk


def kernel_errors(chip: str, op: str, fmt: str, train_per_group: int = 300, test_per_group: int = 3000,
                  held_out: bool = True):
    """(cols, e, memory_bound, capped) of the chip's op/format kernels held out (`held_out` False: fitted with every
    chip, the in-sample fit): their columns, predicted/measured - 1, whether the main op's memory time exceeds its
    compute time at the fit, and the capped fraction of each one's timed replays the fit used (1 where not a GEMM)."""
    if op not in OPS:
        raise TapeoutError(f"op '{op}' is not an op of the kernel database; give one of {', '.join(OPS)}.")
    test = read_kernels(per_group=test_per_group, ops=(op,))  # before the fit: a chip or format it lacks is refused at once
    chips = sorted(set(test.cols["chip"]))
    if chip not in chips:
        raise TapeoutError(f"chip '{chip}' has no {op} kernels in the database; give one of {', '.join(chips)}.")
    mine = test.where((test.cols["chip"] == chip) & (test.cols["fmt"] == fmt))
    if len(mine) == 0:
        fmts = sorted(set(test.where(test.cols["chip"] == chip).cols["fmt"]))
        raise TapeoutError(f"format '{fmt}': {chip} has no {op} kernels in it; give one of {', '.join(fmts)}.")
    twins = held_out_chips(chip) if held_out else frozenset()
    # every empty GEMM but the chip's (FIXED_TIME_BY_FAMILY "measured" only), as the hold-out
    floors = read_floors(chip if held_out else None) if kf.FIXED_TIME_BY_FAMILY == "measured" else {}
    f = kf.fit(kf.Groups(without_chips(read_kernels(per_group=train_per_group), twins), floors=floors, held_out=twins))
    x = kf.x_of(f["params"])
    rows, e, mem, capped = [], [], [], []
    for g in kf.Groups(mine, floors=floors, held_out=twins).items:
        cost = evaluate(g["table"], kf.item_params(g, x), check_support=False)
        n = len(g["meas"])
        ct, mt = (np.asarray(a, dtype=float).reshape(n, -1)[:, -1 if op != "gemm" else 0] for a in (cost.compute_time, cost.memory_time))
        rows.append(g["rows"])
        e.append(kf.predict_group(g, x) / g["meas"] - 1.0)
        mem.append(mt > ct)
        capped.append(np.broadcast_to(np.asarray(g.get("capped", 1.0), dtype=float), (n,)))
    idx = np.concatenate(rows)
    return ({c: np.asarray(v)[idx] for c, v in mine.cols.items()}, np.concatenate(e), np.concatenate(mem),
            np.concatenate(capped))


def breakdown(cols: dict, e: np.ndarray, mem: np.ndarray, op: str, capped: np.ndarray | None = None) -> list[str]:
    """Lines of `bin: n, median signed, median |e|` (%) per shape column, latency and bound; for GEMMs the
    compute-bound ones by FLOPs, and by the collector's clock where `capped` (kernel_errors) is given."""
    def line(label, m):
        return f"  {label:<24} n {int(m.sum()):5d}  signed {np.median(e[m]) * 100:+6.1f}  |e| {np.median(np.abs(e[m])) * 100:5.1f}"

    def values(col):  # a bin column: latency in us, the GQA group (query heads per KV head), or the kernel's own
        if col == "latency_us":
            return np.asarray(cols["latency_s"], dtype=float) * 1e6
        if col == "group":
            return np.asarray(cols["heads"], dtype=float) / np.asarray(cols["kv_heads"], dtype=float)
        return np.asarray(cols[col], dtype=float)

    out = [line("all", np.ones(len(e), dtype=bool))]
    keys = {**BINS.get(op, {}), "latency_us": LATENCY_US}
    for col, edges in keys.items():
        v = values(col)
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (v >= lo) & (v < hi)
            if m.any():
                out.append(line(f"{col} [{lo:g}, {hi:g})", m))
    if op in CROSS:  # every cell of two shape columns' bins
        (a, sa), (b, sb) = CROSS[op]
        ea, eb, va, vb = BINS[op][a], BINS[op][b], values(a), values(b)
        for alo, ahi in zip(ea[:-1], ea[1:]):
            for blo, bhi in zip(eb[:-1], eb[1:]):
                m = (va >= alo) & (va < ahi) & (vb >= blo) & (vb < bhi)
                if m.any():
                    out.append(line(f"{sa} {alo:g}-{ahi:g} {sb} {blo:g}-{bhi:g}", m))
    if op in CATEGORY and CATEGORY[op][0][0] in cols:  # a categorical column, alone and crossed with a shape column's bins
        (c, sc), (b, sb) = CATEGORY[op]
        kinds, eb, vb = np.asarray(cols[c], dtype=str), BINS[op][b], values(b)
        for kind in sorted(set(kinds)):
            out.append(line(f"{sc} {kind}", kinds == kind))
        for kind in sorted(set(kinds)):
            for blo, bhi in zip(eb[:-1], eb[1:]):
                m = (kinds == kind) & (vb >= blo) & (vb < bhi)
                if m.any():
                    out.append(line(f"{sb} {blo:g}-{bhi:g} {sc} {kind}", m))
    for label, m in (("memory-bound", mem), ("compute-bound", ~mem)):
        if m.any():
            out.append(line(label, m))
    if op == "gemm":
        flops = 2.0 * np.prod([np.asarray(cols[c], dtype=float) for c in "mnk"], axis=0)
        for lo, hi in zip(FLOPS[:-1], FLOPS[1:]):
            m = ~mem & (flops >= lo) & (flops < hi)
            if m.any():
                out.append(line(f"compute {lo:.0e}-{hi:.0e} FLOP", m))
    if capped is not None:
        for label, m in (("clock: burst", capped <= 0.0), ("clock: partly capped", (capped > 0.0) & (capped < 1.0)),
                         ("clock: capped", capped >= 1.0)):
            if m.any():
                out.append(line(label, m))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chip", help="a chip of the kernel database, e.g. b200")
    ap.add_argument("op", choices=OPS)
    ap.add_argument("fmt", help="a format the chip has for that op, e.g. bf16, fp8, fp8_block, nvfp4")
    ap.add_argument("fit", nargs="?", choices=("held-out", "in-sample"), default="held-out",
                    help="in-sample: every chip in the fit (default held-out: without the chip and its twins)")
    ap.add_argument("--save", metavar="OUT.npz", help="also keep the per-kernel errors, for splits the bins do not print")
    args = ap.parse_args(argv)
    chip, op, fmt, held_out = args.chip, args.op, args.fmt, args.fit == "held-out"
    cols, e, mem, capped = kernel_errors(chip, op, fmt, held_out=held_out)
    if args.save:  # the per-kernel errors, for splits the bins do not print
        np.savez(args.save, e=e, mem=mem, capped=capped, **cols)
    print(f"{chip} {op}/{fmt} {'held out' if held_out else 'in-sample (every chip in the fit)'}:")
    print("\n".join(breakdown(cols, e, mem, op, capped if op == "gemm" else None)))


if __name__ == "__main__":
    script_main(main)
