"""One Offline serving step of llama-2-70b (FP8, TensorRT-LLM stack) per op class, as the model prices it on a
validation row's system chip (its wiring: PCIe without bridges, HGX mesh), at the layouts given as TP:BATCH:
b decode sequences at the mean context plus b x I / O prompt tokens (the Offline steady state of
scripts/llm_step_kernel_check.py). Model only; no measurement is read.

    python scripts/serving_layout_breakdown.py INF-v4.1-0016 1:233 2:1300

docs/notes/issue-24.md, Round stop-38 (branch issue-43b)."""
import csv
import sys

import numpy as np
from collections import defaultdict
from tapeout.ops import Attention, Collective, MatMul
from tapeout.perf.mlperf import step_model
from tapeout.perf.serving_sim import serving_costs
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm
I, O = 222.33, 294.45
from tapeout.validation.llm_rows import _chip, system_chip, maxq_chip
rid = sys.argv[1]
row = next(r for r in csv.DictReader(open('src/tapeout/data/measured/end_to_end.csv')) if r['id'] == rid)
ch = system_chip(row, maxq_chip(row, _chip(row), "llama2-70b", row['scenario'].lower(), False)); chip = ch.id
cfg = load_llm("llama-2-70b")
for spec in sys.argv[2:]:
    tp, b = (int(x) for x in spec.split(":"))
    sm = step_model(cfg, ch, get_precision("fp8"), tp, 1, 1, stack="tensorrt-llm-0.x")
    def costs(phase, batch, q, c):
        ct = serving_costs(sm.evaluator(build_llm_graph(cfg, LLMStep(phase, batch, q, c, sm.pr, tp, 1)), sm.p), sm.topo, sm.stack)
        n = len(ct.table)
        f = lambda a: np.asarray(a, dtype=float).reshape(n, -1).max(axis=1)
        return ct.table, f(ct.time), f(ct.compute_time), f(ct.memory_time), f(ct.dram_bytes)
    c_pre = b * I / O
    # GEMMs etc. on all tokens of the mixed step; attention: decode part at mean context (prefill attention small)
    t, tm, ct_, mt, db = costs("decode", int(round(b + c_pre)), 1, 1)
    cls = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for i, op in enumerate(t.ops):
        if isinstance(op, Attention): continue
        k = "gemm" if isinstance(op, MatMul) else "allreduce" if isinstance(op, Collective) else "other(elementwise/norm)"
        n = float(t.count[i])
        cls[k][0] += tm[i]*n; cls[k][1] += ct_[i]*n; cls[k][2] += mt[i]*n; cls[k][3] += db[i]*n
    ta, tma, cta, mta, dba = costs("decode", b, 1, int(round((I + O/2)/64.0)*64))
    for i, op in enumerate(ta.ops):
        if isinstance(op, Attention):
            n = float(ta.count[i]); k = "attention(decode KV)"
            cls[k][0] += tma[i]*n; cls[k][1] += cta[i]*n; cls[k][2] += mta[i]*n; cls[k][3] += dba[i]*n
    tot = sum(v[0] for v in cls.values())
    print(f"{chip} TP{tp} decode b={b} + {c_pre:.0f} prompt tok/step: step {tot*1e3:.1f} ms -> {b/tot:.0f} output tok/s per replica, {b/tot/tp:.0f} per card")
    for k, v in cls.items():
        print(f"   {k:26s} time {v[0]*1e3:7.2f} ms ({v[0]/tot*100:4.1f}%)  compute {v[1]*1e3:7.2f}  memory {v[2]*1e3:7.2f}  DRAM {v[3]/1e9:6.1f} GB")
