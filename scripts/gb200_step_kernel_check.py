"""GB200's three FP4 trtllm-bench serving rows (paper rows PUB-0108 / 0136 / 0144: Llama-3.3-70B TP1 ISL 20000 /
OSL 2000, Llama-3.1-405B TP4 128 / 2048 and 500 / 2000), one Offline steady-state step per op class, as the
`--kernels aiconfigurator` model prices it (GB200's own-kernel fit, formats.RATIO_ONLY_ON_ITS_FIT off and on), next
to the database's measured GB200 kernels at the same shapes and the same step on B200 (its own fit, its kernels):
which op class, if any, is priced too fast on GB200 (docs/notes/issue-24.md, Round stop-39, branch issue-47e).

    python scripts/gb200_step_kernel_check.py                   # ~1 min on one core; needs the kernels extra
    python scripts/gb200_step_kernel_check.py --fit-structure   # with kernel_calibration.FP4_FIT_STRUCTURE on

The step: b decode sequences at the mean context I + O / 2 plus b x I / O prompt tokens through the linears
(scripts/llm_step_kernel_check.step_rows; b is the row's predicted batch, or trtllm-bench's own max_batch_size
heuristic where that is smaller, see TRTLLM_BENCH_BATCH). Generation attention is also compared like with like at
the database's own grid points (its grid stops at batch x length = 65,536 tokens for 405B's TP4 heads, far below
the rows' ~1.2-1.7 M, so the step-table value is clamped). Kernel timings only: no end-to-end result is read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import tapeout.formats as formats  # noqa: E402
import tapeout.perf.kernel_calibration as kernel_calibration  # noqa: E402
import tapeout.perf.mlperf as mlperf  # noqa: E402
from llm_step_kernel_check import step_rows, tables  # noqa: E402
from tapeout.hardware.catalog import get_chip  # noqa: E402
from dataclasses import replace  # noqa: E402

from tapeout.ops import Attention, MatMul, OpTable  # noqa: E402
from tapeout.perf.kernel_fit import quantize_op  # noqa: E402
from tapeout.perf.opcost import evaluate  # noqa: E402
from tapeout.perf.kernel_calibration import build  # noqa: E402
from tapeout.perf.mlperf import step_model  # noqa: E402
from tapeout.perf.serving_sim import serving_costs  # noqa: E402
from tapeout.perf.stacks import stack_for_software  # noqa: E402
from tapeout.precision import get_precision  # noqa: E402
from tapeout.workloads.llm import LLMStep, build_llm_graph  # noqa: E402
from tapeout.workloads.llm_config import load_llm  # noqa: E402

STACK = stack_for_software("TensorRT-LLM (trtllm-bench, PyTorch backend, v1.0-era docs)")
# (row, model, tp, input, output, the row's predicted batch with the database at main 5faf5b3 (tapeout validate
# --kernels aiconfigurator; the same with the switch on), trtllm-bench's max_batch_size for it (see the notes))
ROWS = [("PUB-0108", "llama-3.3-70b", 1, 20000.0, 2000.0, 32, 64),
        ("PUB-0136", "llama-3.1-405b", 4, 128.0, 2048.0, 1501, 1024),
        ("PUB-0144", "llama-3.1-405b", 4, 500.0, 2000.0, 1160, 896)]
SYSTEMS = {"gb200": "gb200", "b200": "b200_sxm"}
GEMMS = ("qkv_proj", "o_proj", "mlp_gate_up", "mlp_down", "lm_head")


def classes(rows: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Op rows grouped: GEMMs, all-reduce, attention (generation / context), the rest (no database entry)."""
    out: dict[str, list[float]] = {}
    for op, (a, x) in rows.items():
        k = ("GEMM (NVFP4, db incl. quantize)" if op in GEMMS else "all-reduce" if "allreduce" in op or "all_reduce" in op
             else op if op.startswith("attention") else "norms / elementwise / other (model only)")
        v = out.setdefault(k, [0.0, 0.0])
        v[0] += a
        v[1] += x if np.isfinite(x) else float("nan")
    return {k: (a, x) for k, (a, x) in out.items()}


def gen_grid(system: str, chip: str, model: str, tp: int, fitted: dict, min_tokens: int = 16384) -> float:
    """Geo-mean model / database of one generation-attention layer (FP8 KV) at the database's grid points with
    batch x length >= min_tokens, the row's heads per GPU."""
    cfg = load_llm(model)
    h, g = cfg.num_attention_heads // tp, cfg.num_key_value_heads // tp
    gen = tables(system)["gen"]
    gen = gen[(gen.h == h) & (gen.g == g) & (gen.b * gen.kv >= min_tokens)].groupby(["b", "kv"]).latency.median()
    sm = step_model(cfg, get_chip(chip), get_precision("fp4"), tp, 1, 1, fitted=fitted, stack=STACK)
    r = []
    for (b, kv), lat in gen.items():
        ct = serving_costs(sm.evaluator(build_llm_graph(cfg, LLMStep("decode", int(b), 1, int(kv), sm.pr, tp, 1)), sm.p),
                           sm.topo, sm.stack)
        t = np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1).max(axis=1)
        att = sum(t[i] * float(ct.table.count[i]) for i, op in enumerate(ct.table.ops) if isinstance(op, Attention))
        r.append(att / cfg.num_hidden_layers / (lat * 1e-3))
    return float(np.exp(np.mean(np.log(r)))) if r else float("nan")


def grid_fp4(system: str, chip: str, model: str, tp: int, tokens: float, fitted: dict) -> list[tuple[str, int, int, int, float]]:
    """[(op, n, k, points, geo-mean model / database)] for the step's NVFP4 GEMMs like with like: the nearest
    measured (n, k) (log distance), every measured m within x1.5 of the step's tokens; the model prices the GEMM as
    serving does (the step model's params and the precision plan's gemm_eff) plus the database's activation-quantize
    pass (kernel_fit.quantize_op), as llm_step_kernel_check.grid_check does for FP8."""
    g = tables(system)["gemm"].query("gemm_dtype == 'nvfp4'")
    cfg = load_llm(model)
    sm = step_model(cfg, get_chip(chip), get_precision("fp4"), tp, 1, 1, fitted=fitted, stack=STACK)
    t = build_llm_graph(cfg, LLMStep("decode", int(round(tokens)), 1, 1, sm.pr, tp, 1)).table
    nk = g[["n", "k"]].drop_duplicates().to_numpy(dtype=float)
    out = []
    for op in t.ops:
        if not isinstance(op, MatMul) or op.name == "lm_head":
            continue
        n, k = (int(v) for v in nk[np.argmin(np.abs(np.log(nk / np.array([op.n, op.k]))).sum(axis=1))])
        meas = g[(g.n == n) & (g.k == k) & (g.m >= tokens / 1.5) & (g.m <= tokens * 1.5)].groupby("m").latency.median()
        ops = []
        for m in meas.index:
            ops += [replace(op, name="g", count=1, m=int(m), n=n, k=k), quantize_op("nvfp4", float(m) * k)]
        tm = np.asarray(evaluate(OpTable.from_ops(ops), sm.p, check_support=False).time, dtype=float)
        tm = tm.reshape(len(meas), -1).sum(axis=1)
        out.append((op.name, n, k, len(meas), float(np.exp(np.mean(np.log(tm / (meas.to_numpy() * 1e-3)))))))
    return out


def main() -> None:
    if "--fit-structure" in sys.argv:
        kernel_calibration.FP4_FIT_STRUCTURE = True
    fits = {c: build(chips=[c]) for c in SYSTEMS}
    for rid, model, tp, i, o, b_row, b_bench in ROWS:
        for b in sorted({b_row, min(b_row, b_bench)}, reverse=True):
            print(f"\n{rid} {model} TP{tp} ISL {i:.0f} OSL {o:.0f}, {b} sequences + {b * i / o:.0f} prompt tokens per "
                  "step: ms per step (one GPU's step; model / database)")
            print("| op class | GB200 off | GB200 on | GB200 db | GB200 on / db | B200 on | B200 db | B200 on / db |")
            print("|---|---|---|---|---|---|---|---|")
            res = {}
            for chip, system in SYSTEMS.items():
                for on in (False, True):
                    formats.RATIO_ONLY_ON_ITS_FIT = on
                    mlperf._SM_CACHE.clear()
                    res[chip, on] = classes(step_rows(system, chip, tp, 1, b, fits[chip], "fp4", model, (i, o), STACK))
            formats.RATIO_ONLY_ON_ITS_FIT = False
            tot = {k: 0.0 for k in res}
            for k in res["gb200", True]:
                (g0, _), (g1, gd), (b1, bd) = res["gb200", False][k], res["gb200", True][k], res["b200", True][k]
                for key in res:
                    tot[key] += res[key][k][0]

                def f(v):
                    return f"{v * 1e3:.2f}" if np.isfinite(v) else "-"

                def q(a, x):
                    return f"{a / x:.2f}" if np.isfinite(x) and x > 0 else "-"
                print(f"| {k} | {f(g0)} | {f(g1)} | {f(gd)} | {q(g1, gd)} | {f(b1)} | {f(bd)} | {q(b1, bd)} |")
            print(f"| step (model) | {tot['gb200', False] * 1e3:.1f} | {tot['gb200', True] * 1e3:.1f} | | | "
                  f"{tot['b200', True] * 1e3:.1f} | | |")
        tokens = min(b_row, b_bench) * (1 + i / o)
        for chip, system in SYSTEMS.items():
            for on in (False, True):
                formats.RATIO_ONLY_ON_ITS_FIT = on
                mlperf._SM_CACHE.clear()
                print(f"{rid}: NVFP4 GEMM + quantize like with like on {chip} (switch {'on' if on else 'off'}, m within "
                      f"x1.5 of {tokens:.0f}): " + ", ".join(f"{op} ({n}, {k}) {pts} pts {r:.2f}"
                                                            for op, n, k, pts, r in grid_fp4(system, chip, model, tp, tokens, fits[chip])))
        for chip, system in SYSTEMS.items():
            formats.RATIO_ONLY_ON_ITS_FIT = True
            print(f"{rid}: generation attention like with like on {chip} (grid points b x kv >= 16,384): model / db "
                  f"{gen_grid(system, chip, model, tp, fits[chip]):.2f}")
            formats.RATIO_ONLY_ON_ITS_FIT = False


if __name__ == "__main__":
    main()
