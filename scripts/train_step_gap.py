"""The per-step gap of the non-LLM MLPerf Training rows on NVIDIA, read from `tapeout validate --json`.

    tapeout validate --no-rows --json v.json
    python scripts/train_step_gap.py v.json [more.json ...] [--vendor NVIDIA] [--rows]

Per row (a non-LLM training benchmark with a step breakdown in `detail`) the step the measurement implies,
model-free but for the modelled evaluation time:

    steps     = samples_to_converge / global batch          (global batch = samples_per_s x step_s)
    implied   = (measured minutes / rcp_scaling_factor - eval_min) x 60 / steps
    gap       = implied - step_s                            (> 0: the measured step is longer)

tabulated in ms against nodes (chips / 8, rounded up), per-chip batch and benchmark, with the gap as a share of the modelled
step and the dense trained parameters (the model's own graph, other_rows.training_graphs), so the three readings
of a missing cost can be told apart: the same ms at the same node count across benchmarks (infrastructure:
collective latency, synchronisation, stragglers), a fixed share of the step (compute efficiency), or ms growing
with the parameters (gradient all-reduce bandwidth). Nothing is fitted; every number is the JSON's.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict

# the benchmark names rows carry -> the pricing body's (validation/other_training.BENCHMARKS)
BENCH = {"train-bert": "bert", "bert": "bert", "train-resnet": "resnet", "resnet": "resnet",
         "train-retinanet": "retinanet", "train-maskrcnn": "maskrcnn", "train-unet3d": "unet3d",
         "train-rnnt": "rnnt", "rnnt": "rnnt", "train-dlrm-dcnv2": "dlrm-dcnv2", "train-rgat": "rgat",
         "train-stable-diffusion": "stable-diffusion", "stable_diffusion": "stable-diffusion"}
NODE_BINS = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 8, "5-8"), (9, 16, "9-16"), (17, 32, "17-32"),
             (33, 64, "33-64"), (65, 10**9, ">64"))
BATCH_BINS = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 16, "5-16"), (17, 64, "17-64"), (65, 256, "65-256"),
              (257, 10**9, ">256"))


def _bin(v: float, bins) -> str:
    for lo, hi, name in bins:
        if lo <= v <= hi:
            return name
    return bins[0][2]


def params_m(bench: str) -> float | None:
    """Dense trained parameters (millions) of the model's own training graph; None where tapeout is not importable."""
    try:
        from tapeout.validation.other_rows import training_graphs
    except ImportError:
        return None
    return training_graphs(bench, 1, None)[2] / 2.0 / 1e6


def implied_step_s(row: dict, steps: float) -> float:
    """The step (s) a row's measurement implies over `steps` steps: its minutes (the RCP factor undone where the detail
    records one) less the modelled evaluation minutes, per step."""
    det = row.get("detail") or {}
    measured = float(row["measured"]) / float(det.get("rcp_scaling_factor") or 1.0)
    return (measured - float(det.get("eval_min") or 0.0)) * 60.0 / steps


def row_gap(row: dict) -> dict | None:
    """One row's implied step and gap (s), or None where the row is not a priced non-LLM training row."""
    bench = BENCH.get(row.get("benchmark", ""))
    det = row.get("detail") or {}
    if bench is None or row.get("skipped") or row.get("predicted") is None or "step_s" not in det:
        return None
    step, sps, samples = det["step_s"], det.get("samples_per_s"), det.get("samples_to_converge")
    if not (step and sps and samples):
        return None
    implied = implied_step_s(row, samples / (sps * step))
    n = int(row["n_accelerators"])
    exposed = step - sum(float(det.get(k) or 0.0) for k in
                         ("fwd_s", "bwd_s", "head_grad_s", "recompute_s", "once_s", "optimizer_s"))
    return {"id": row["id"], "bench": bench, "chip": det.get("chip"), "n": n, "nodes": math.ceil(n / 8),
            "per_chip": int(det["per_chip_batch"]), "step_ms": step * 1e3, "implied_ms": implied * 1e3,
            "gap_ms": (implied - step) * 1e3, "share": (implied - step) / step,
            "allreduce_ms": float(det.get("allreduce_s") or 0.0) * 1e3,
            "exposed_sync_ms": max(0.0, exposed) * 1e3, "error_pct": row.get("error_pct")}


def beyond_one_node(rows: list[dict]) -> list[dict]:
    """The > 8-chip rows with `beyond_ms`: their gap less the one-node share of their modelled step (the median gap /
    step of the rows of the same benchmark and chip at <= 8 chips); rows without such a reference are dropped."""
    ref = defaultdict(list)
    for r in rows:
        if r["n"] <= 8:
            ref[(r["bench"], r["chip"])].append(r["share"])
    return [{**r, "beyond_ms": r["gap_ms"] - statistics.median(ref[(r["bench"], r["chip"])]) * r["step_ms"]}
            for r in rows if r["n"] > 8 and ref.get((r["bench"], r["chip"]))]


def _med(xs):
    return statistics.median(xs) if xs else float("nan")


def table(rows: list[dict], key, keys_order, title: str) -> list[str]:
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    out = [f"### {title}", "",
           "| group | rows | median step ms | median implied ms | median gap ms | p25..p75 gap ms | median gap / step |",
           "|---|---|---|---|---|---|---|"]
    for k in keys_order(groups):
        g = groups[k]
        gaps = sorted(r["gap_ms"] for r in g)
        q = statistics.quantiles(gaps, n=4) if len(gaps) > 1 else [gaps[0]] * 3
        out.append(f"| {k} | {len(g)} | {_med([r['step_ms'] for r in g]):.2f} | {_med([r['implied_ms'] for r in g]):.2f} | "
                   f"{_med(gaps):.2f} | {q[0]:.2f}..{q[2]:.2f} | {_med([r['share'] for r in g]) * 100:.0f}% |")
    return out + [""]


def node_bench_grid(rows: list[dict], value, title: str) -> list[str]:
    """benchmark x node bin grid of `value` (a function of a group's rows), with each cell's row count."""
    names = [b[2] for b in NODE_BINS]
    grid = defaultdict(list)
    for r in rows:
        grid[(r["bench"], _bin(r["nodes"], NODE_BINS))].append(r)
    used = [c for c in names if any((b, c) in grid for b in {r["bench"] for r in rows})]
    out = [f"### {title}", "", "| benchmark | " + " | ".join(f"{c} nodes" for c in used) + " |",
           "|---|" + "---|" * len(used)]
    for b in sorted({r["bench"] for r in rows}):
        cells = [f"{value(grid[(b, c)])} ({len(grid[(b, c)])})" if grid.get((b, c)) else "-" for c in used]
        out.append(f"| {b} | " + " | ".join(cells) + " |")
    return out + [""]


def report(doc: dict, vendor: str = "NVIDIA", show_rows: bool = False) -> str:
    rows = [g for r in doc["rows"] if str(r.get("accelerator", "")).startswith(vendor) and (g := row_gap(r))]
    if not rows:
        return f"no priced non-LLM training rows for vendor {vendor!r}\n"
    out = [f"## Per-step gap, non-LLM training rows, {vendor} ({len(rows)} rows)", "",
           "gap = (measured minutes - modelled evaluation) x 60 / steps - modelled step; > 0: the measured step is "
           "longer. nodes = chips / 8, rounded up.", ""]
    beyond = beyond_one_node(rows)
    grids = (  # (rows, cell of a group, title)
        (rows, lambda g: f"{_med([r['gap_ms'] for r in g]):.1f}", "Median gap (ms) by benchmark and nodes (rows)"),
        (rows, lambda g: f"{_med([r['share'] for r in g]) * 100:.0f}%",
         "Median gap / modelled step by benchmark and nodes (rows)"),
        (rows, lambda g: f"{_med([r['per_chip'] for r in g]):.0f}", "Median per-chip batch by benchmark and nodes (rows)"),
        (rows, lambda g: f"{_med([r['step_ms'] for r in g]):.1f}", "Median modelled step (ms) by benchmark and nodes (rows)"),
        (beyond, lambda g: f"{_med([r['beyond_ms'] for r in g]):.1f}",
         "Median gap beyond the one-node share (ms) by benchmark and nodes, > 8 chips (rows)"),
        (beyond, lambda g: f"{_med([r['beyond_ms'] / r['step_ms'] for r in g]) * 100:.0f}%",
         "Median gap beyond the one-node share / modelled step, > 8 chips (rows)"))
    for i, (rs, cell, title) in enumerate(grids):
        if rs is beyond and i and grids[i - 1][0] is not beyond:
            out += ["Beyond one node: gap - s1 x modelled step, s1 the median gap / step of the same benchmark on the "
                    "same chip at <= 8 chips (the compute-efficiency share the model already misses on one node); what "
                    "is left is the part that comes with the scale-out (rows with no <= 8-chip row of their benchmark "
                    "and chip are left out).", ""]
        out += node_bench_grid(rs, cell, title)
    order_n = lambda gr: [b[2] for b in NODE_BINS if b[2] in gr]  # noqa: E731
    order_b = lambda gr: [b[2] for b in BATCH_BINS if b[2] in gr]  # noqa: E731
    out += table(rows, lambda r: _bin(r["nodes"], NODE_BINS), order_n, "All benchmarks by nodes")
    out += table(rows, lambda r: _bin(r["per_chip"], BATCH_BINS), order_b, "All benchmarks by per-chip batch")
    pm = {b: params_m(b) for b in sorted({r["bench"] for r in rows})}
    out += ["### By benchmark (dense trained parameters: the model's graph)", "",
            "| benchmark | params M | rows | median gap ms 1 node | median gap ms > 1 node | median gap / step 1 node | "
            "median gap / step > 1 node | median modelled all-reduce ms > 1 node |", "|---|---|---|---|---|---|---|---|"]
    for b, m in pm.items():
        one = [r for r in rows if r["bench"] == b and r["n"] <= 8]
        many = [r for r in rows if r["bench"] == b and r["n"] > 8]
        mtxt = "-" if m is None else f"{m:.0f}"
        out.append(f"| {b} | {mtxt} | {len(one) + len(many)} | {_med([r['gap_ms'] for r in one]):.1f} | "
                   f"{_med([r['gap_ms'] for r in many]):.1f} | {_med([r['share'] for r in one]) * 100:.0f}% | "
                   f"{_med([r['share'] for r in many]) * 100:.0f}% | {_med([r['allreduce_ms'] for r in many]):.2f} |")
    out.append("")
    if show_rows:
        out += ["### Rows", "", "| id | benchmark | chip | chips | per-chip batch | step ms | implied ms | gap ms | "
                "gap / step | modelled all-reduce ms | exposed sync ms |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (r["bench"], r["n"], r["per_chip"])):
            out.append(f"| {r['id']} | {r['bench']} | {r['chip']} | {r['n']} | {r['per_chip']} | {r['step_ms']:.2f} | "
                       f"{r['implied_ms']:.2f} | {r['gap_ms']:.2f} | {r['share'] * 100:.0f}% | {r['allreduce_ms']:.2f} | "
                       f"{r['exposed_sync_ms']:.2f} |")
        out.append("")
    return "\n".join(out)


def pooled_rows(paths) -> list[dict]:
    """The rows of the `tapeout validate --json` files, pooled (subset runs)."""
    rows = []
    for path in paths:
        with open(path) as f:
            rows += json.load(f)["rows"]
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+", help="the file(s) `tapeout validate --json` wrote (subset runs: their rows are pooled)")
    ap.add_argument("--vendor", default="NVIDIA", help="accelerator name prefix (default NVIDIA)")
    ap.add_argument("--rows", action="store_true", help="also list every row")
    a = ap.parse_args(argv)
    print(report({"rows": pooled_rows(a.json)}, a.vendor, a.rows))


if __name__ == "__main__":
    main()
