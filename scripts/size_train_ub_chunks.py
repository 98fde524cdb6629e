"""Userbuffers chunk GEMMs of training rows: what the engine charges and the bounds around it.

Transformer Engine runs an overlapped TP slot's GEMM as n cuBLASLt kernels of M / n rows (ring exchange: n = TP;
pipeline: n = num_splits; perf/tp_overlap.py "Chunked GEMMs"). Per row, per layer and micro-batch:
  charged   the extra kernels' fixed time the engine adds (breakdown `ub_chunk_launches`): (n - 1) x kernel_overhead
  model     the engine's own tile model at the chunk shape: n x t(M / n) - t(M) over the overlapped slots (the
            chunks' wave quantization included: an upper bound, chunks on TE's compute-stream pool can share
            the cores at their tails)
  measured  the same from the kernel database (aiconfigurator-core gemm_perf, perf/gemm_table.MeasuredGemms; its
            FP8 rows include TensorRT-LLM's activation quantize per kernel), where the chip has one
The backward dgrad slots use the forward shape (the engine's dgrad rule). Kernel times only; no end-to-end value.

Usage: python scripts/size_train_ub_chunks.py TRN-v3.1-0104,TRN-v4.0-0074,TRN-v4.0-0099
(docs/notes/issue-18.md, "Round stop-28 (branch issue-28ig)")."""
import sys
from dataclasses import replace

import numpy as np

import tapeout.perf.training as training
import tapeout.validation.train_rows as train_rows
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul, OpTable
from tapeout.perf.gemm_table import MeasuredGemms
from tapeout.perf.opcost import evaluate
from tapeout.perf.tp_overlap import BWD_SLOTS, FWD_SLOTS, SLOT_OF, chunk_count
from tapeout.validation.harness import default_data, read_rows


def main(ids: list[str]) -> None:
    seen = {}
    run, costs = training.train, training._Fwd._costs

    def spy_train(*a, **k):
        seen["chip"] = get_chip(a[1]).id
        seen["r"] = run(*a, **k)
        return seen["r"]

    def spy_costs(self, pr, tp, ep, mbs, seq, bf16=False, fp8_attention=False):
        seen.setdefault("fwd", (self, pr, tp, mbs, seq))
        return costs(self, pr, tp, ep, mbs, seq, bf16, fp8_attention)

    training.train, training._Fwd._costs = spy_train, spy_costs
    rows = {r["id"]: r for r in read_rows(default_data())}
    for i in ids:
        seen.clear()
        train_rows.map_row(rows[i])
        r, (fwd, pr, tp, mbs, seq) = seen["r"], seen["fwd"]
        b, ov = r.breakdown, fwd.tp_overlap
        if ov is None or tp <= 1:
            print(f"{i} {r.parallelism}: no userbuffers overlap (nothing charged)")
            continue
        g = training.build_llm_graph(fwd.cfg_at(tp), training.LLMStep("prefill", mbs, seq, 0, pr, tp, 1, lm_head_all_tokens=True))
        ops = {SLOT_OF.get(op.name, op.name): op for op in g.ops if isinstance(op, MatMul)}
        try:
            db = MeasuredGemms(seen["chip"])
        except TapeoutError:  # a chip without a database table: no measured column
            db = None

        def t(op, rows_m):
            o = replace(op, m=int(rows_m), batch=1)
            return float(np.max(evaluate(OpTable.from_ops([o]), fwd.p).time))

        k_fix = float(np.max(fwd.p.kernel_overhead))
        charged = model = meas = 0.0
        lines = []
        for name, _, slot, _ in FWD_SLOTS + BWD_SLOTS:
            n = chunk_count(ov.slot(slot), tp)
            if n <= 1 or name not in ops:
                continue
            op = ops[name]
            m = op.m * op.batch
            whole, chunks = t(op, m), n * t(op, m / n)
            charged += (n - 1) * k_fix
            model += chunks - whole
            fmt = op.math_dtype if op.math_dtype in ("fp8", "bf16") else "bf16"
            dw = db.latency(m, op.n, op.k, fmt) if db is not None else None
            dc = db.latency(m / n, op.n, op.k, fmt) if dw is not None else None
            if dc is not None:
                meas = (meas or 0.0) + n * dc - dw
            lines.append(f"    {slot:<11} {name:<12} M={m:<6} n={n} model whole {whole * 1e6:6.0f} us chunks {chunks * 1e6:6.0f} us "
                         f"({chunks / whole:.3f})" + (f"; measured {dw * 1e6:6.0f} / {n * dc * 1e6:6.0f} us ({n * dc / dw:.3f})"
                                                      if dc is not None else "; measured: off the database grid"))
        layers = b["stage_layers"]
        layers = max(layers) if isinstance(layers, (list, tuple)) else layers
        per_layer_mb = (b["F"] + b["B"]) / layers
        print(f"{i} {r.parallelism} step {r.step_time_s:.3f} s; layer F+B per micro-batch {per_layer_mb * 1e3:.2f} ms; "
              f"ub_chunk_launches {b['ub_chunk_launches']:.3f} s/step")
        print("\n".join(lines))
        print(f"  per layer per micro-batch: charged {charged * 1e6:.0f} us ({charged / per_layer_mb:.1%}), tile model "
              f"{model * 1e6:.0f} us ({model / per_layer_mb:.1%})" + (f", measured {meas * 1e6:.0f} us ({meas / per_layer_mb:.1%})"
                                                                       if meas else ""))


if __name__ == "__main__":
    main(sys.argv[1].split(","))
