"""One Offline serving step of llama-2-70b (FP8, TensorRT-LLM stack) per op class, as the model prices it on a
validation row's system chip (its wiring: PCIe without bridges, HGX mesh), at the layouts given as TP:BATCH:
b decode sequences at the mean context plus b x I / O prompt tokens (the Offline steady state of
scripts/llm_step_kernel_check.py). Model only; no measurement is read.

    python scripts/serving_layout_breakdown.py INF-v4.1-0016 1:233 2:1300

docs/notes/issue-24.md, Round stop-38 (branch issue-43b)."""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from importlib import resources

import numpy as np

from tapeout.ops import Attention, Collective, MatMul
from tapeout.perf.mlperf import step_model
from tapeout.perf.serving_sim import serving_costs
from tapeout.precision import get_precision
from tapeout.validation.llm_rows import _chip, maxq_chip, system_chip
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

I, O = 222.33, 294.45  # data/mlperf/benchmarks.yaml llama2-70b mean input / output tokens
STACK = "tensorrt-llm-0.x"


def row_chip(rid: str):
    """The row's chip as its system wires it (validation/system_interconnect.system_chip)."""
    with resources.files("tapeout.data.measured").joinpath("end_to_end.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["id"] == rid)
    return system_chip(row, maxq_chip(row, _chip(row), "llama2-70b", row["scenario"].lower(), False))


def classes(ch, tp: int, b: int) -> dict[str, list[float]]:
    """{op class: [time, compute time, memory time, DRAM bytes]} of one step (s, s, s, B)."""
    cfg = load_llm("llama-2-70b")
    sm = step_model(cfg, ch, get_precision("fp8"), tp, 1, 1, stack=STACK)
    out: dict[str, list[float]] = defaultdict(lambda: [0.0] * 4)

    def add(phase, batch, q, c, want_attention: bool):
        ct = serving_costs(sm.evaluator(build_llm_graph(cfg, LLMStep(phase, batch, q, c, sm.pr, tp, 1)), sm.p),
                           sm.topo, sm.stack)
        n = len(ct.table)
        cols = [np.asarray(a, dtype=float).reshape(n, -1).max(axis=1)
                for a in (ct.time, ct.compute_time, ct.memory_time, ct.dram_bytes)]
        for i, op in enumerate(ct.table.ops):
            if isinstance(op, Attention) != want_attention:
                continue
            k = ("attention (decode KV)" if want_attention else "gemm" if isinstance(op, MatMul)
                 else "all-reduce" if isinstance(op, Collective) else "norms / elementwise")
            for j in range(4):
                out[k][j] += cols[j][i] * float(ct.table.count[i])

    add("decode", int(round(b + b * I / O)), 1, 1, False)  # every token of the mixed step through the linears
    add("decode", b, 1, int(round((I + O / 2) / 64.0) * 64), True)  # decode attention at the mean context
    return out


def main() -> None:
    ch = row_chip(sys.argv[1])
    for spec in sys.argv[2:]:
        tp, b = (int(x) for x in spec.split(":"))
        cls = classes(ch, tp, b)
        tot = sum(v[0] for v in cls.values())
        print(f"{ch.id} TP{tp} decode b={b} + {b * I / O:.0f} prompt tok/step: step {tot * 1e3:.1f} ms -> "
              f"{b / tot:.0f} output tok/s per replica, {b / tot / tp:.0f} per card")
        for k, v in cls.items():
            print(f"   {k:24s} time {v[0] * 1e3:7.2f} ms ({v[0] / tot * 100:4.1f}%)  compute {v[1] * 1e3:7.2f}  "
                  f"memory {v[2] * 1e3:7.2f}  DRAM {v[3] / 1e9:6.1f} GB")


if __name__ == "__main__":
    main()
