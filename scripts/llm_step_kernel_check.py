"""One serving step of llama-2-70b (FP8 weights and KV cache) at a layout, op by op: the DEFAULT
model's time (shipped microbenchmark fit, the engine's own cost tables) next to the time NVIDIA's
measured kernel database (AIConfigurator, TensorRT-LLM stack) gives at the same shapes.

    python scripts/llm_step_kernel_check.py
    python scripts/llm_step_kernel_check.py --b200   # B200 TP1 at FP8 and NVFP4: shipped, own-kernel and held-out fits

Needs the kernels extra. The database is read in place (perf/kernels_db.installed_root). Its grids
are interpolated log-log between the neighbouring measured points (GEMM m, n, k; generation
attention batch and KV length, scaled linearly in batch above the largest measured batch at that
length; context attention batch and prompt length; custom all-reduce message size). A quantized
GEMM of the database includes its activation-quantize pass; elementwise ops (norms, SwiGLU, the QKV
preprocess) have no database entry and keep the model's time on both sides. Kernel timings only:
no end-to-end result is read.

Two checks added at stop 19 (issue-15 note, branch issue-19sc):
- like with like at the database's own grid points: each serving GEMM shape's model time, with the
  dynamic per-tensor quantize pass the database times (perf/kernel_fit.quantize_op), over every
  measured m within a factor 1.5 of the step's tokens at the nearest measured (n, k); no
  interpolation. The step table above compares the database GEMM (quantize pass included) with the
  model's GEMM alone (its fused quantize sits in the elementwise row), which reads 6-16% too low.
- work outside the timed kernels, sized from bytes and the chip's own bandwidths: the logits rows
  the step's LM head computes, the TP all-gather of vocab-parallel logits, the greedy sampler's read.
"""

from __future__ import annotations

import itertools

import duckdb
import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, Collective, MatMul, OpTable
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_fit import quantize_op
from tapeout.perf.kernels_db import db_config, installed_root
from tapeout.perf.mlperf import step_model
from tapeout.perf.opcost import evaluate
from tapeout.perf.serving_sim import serving_costs
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

VERSION = "1.3.0rc20"  # TensorRT-LLM version of the database's tables read here (aiconfigurator-core 0.12.0)
# layouts: (label, database system, chip, tp, pp, sequences per micro-batch); mean MLPerf lengths
LAYOUTS = [("H100-SXM TP2, 896 (NVIDIA's submitted engine)", "h100_sxm", "h100-sxm", 2, 1, 896),
           ("H100-SXM TP1 PP2, 449 per micro-batch (tapeout's automatic)", "h100_sxm", "h100-sxm", 1, 2, 449),
           ("H200 TP1, 684 (tapeout's automatic)", "h200_sxm", "h200", 1, 1, 684)]
I, O = 222.33, 294.45  # data/mlperf/benchmarks.yaml llama2-70b mean input / output tokens
DB_GEMM = {"fp8": "fp8", "fp4": "nvfp4"}  # the database's GEMM table of a step's precision


def interp(df, keys: tuple[str, ...], x: tuple[float, ...], linear_last: bool = False) -> float:
    """Measured latency (s) at x: log-log multilinear between the grid neighbours; with
    `linear_last` the first key is held at its largest measured value <= x and scaled linearly."""
    if linear_last:
        k0 = keys[0]
        for v in sorted(df[k0].unique(), reverse=True):
            if v <= x[0]:
                sub = df[df[k0] == v]
                t = interp(sub, keys[1:], x[1:])
                if np.isfinite(t):
                    return t * x[0] / v
        return float("nan")
    corners = []
    for k, v in zip(keys, x):
        vals = np.sort(df[k].unique())
        lo = vals[vals <= v].max() if (vals <= v).any() else vals.min()
        hi = vals[vals >= v].min() if (vals >= v).any() else vals.max()
        f = 0.0 if hi == lo else (np.log(v) - np.log(lo)) / (np.log(hi) - np.log(lo))
        corners.append(((lo, 1 - f), (hi, f)))
    tot = wsum = 0.0
    for pick in itertools.product(*corners):
        w = float(np.prod([c[1] for c in pick]))
        if w == 0.0:
            continue
        q = df
        for k, (v, _) in zip(keys, pick):
            q = q[q[k] == v]
        if len(q) == 0:
            return float("nan")
        tot += w * np.log(float(q.latency.median()))
        wsum += w
    return float(np.exp(tot / wsum)) * 1e-3  # the database stores milliseconds


def tables(system: str) -> dict:
    root, _ = installed_root()
    d, con = f"{root}/{system}", duckdb.connect()
    att = "head_dim = 128 AND beam_width = 1 AND window_size = 0 AND kv_cache_dtype = 'fp8'"
    return {
        "gemm": con.sql(f"SELECT gemm_dtype, m, n, k, latency FROM '{d}/gemm/trtllm/{VERSION}/gemm_perf.parquet'").df(),
        "gen": con.sql(f"SELECT batch_size b, isl + step kv, num_heads h, num_key_value_heads g, latency FROM "
                       f"'{d}/attention/trtllm/{VERSION}/generation_attention_perf.parquet' WHERE {att}").df(),
        "ctx": con.sql(f"SELECT batch_size b, isl, num_heads h, num_key_value_heads g, latency FROM "
                       f"'{d}/attention/trtllm/{VERSION}/context_attention_perf.parquet' WHERE {att} "
                       "AND attn_dtype = 'fp8'").df(),
        "ar": con.sql(f"SELECT num_gpus, message_size, latency FROM "
                      f"'{d}/comm/trtllm/{VERSION}/custom_allreduce_perf.parquet'").df(),
    }


def step_rows(system: str, chip: str, tp: int, pp: int, b_dec: int, fitted: dict | None = None,
              fmt: str = "fp8", model: str = "llama-2-70b", lengths: tuple[float, float] = (I, O),
              stack: str | None = None) -> dict[str, tuple[float, float]]:
    """{op: (model s, database s)} for one pipeline stage's step: b_dec decode sequences at the mean
    context plus b_dec * I / O prompt tokens (the Offline steady state), per stage. `fitted`: the model's
    calibration (None: shipped); `fmt`: the GEMM precision (fp8, or fp4 against the database's NVFP4 GEMMs);
    `model`, `lengths` (input, output tokens per request), `stack`: another workload's steady state (default:
    llama-2-70b at the MLPerf mean lengths, the default stack)."""
    T = tables(system)
    cfg, ch = load_llm(model), get_chip(chip)
    I, O = lengths  # noqa: N806 - the module's names for the input / output lengths
    sm = step_model(cfg, ch, get_precision(fmt), tp, 1, pp, fitted=fitted, stack=stack)
    gemms = T["gemm"][T["gemm"].gemm_dtype == DB_GEMM[fmt]]
    c_pre, ctx = b_dec * I / O, I + O / 2
    per_stage = cfg.num_hidden_layers / pp

    def costs(phase, batch, q, c):
        ct = serving_costs(sm.evaluator(build_llm_graph(cfg, LLMStep(phase, batch, q, c, sm.pr, tp, 1)), sm.p),
                           sm.topo, sm.stack)
        return ct.table, np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1).max(axis=1)

    t, times = costs("decode", int(round(b_dec + c_pre)), 1, 1)
    rows = {}
    for i, op in enumerate(t.ops):
        if isinstance(op, Attention):
            continue
        n = float(t.count[i]) if op.name in ("final_norm", "lm_head") else float(t.count[i]) / pp
        db = float("nan")
        if isinstance(op, MatMul):
            db = interp(gemms, ("m", "n", "k"), (op.m, op.n, op.k)) * n
        elif isinstance(op, Collective) and op.group > 1:
            ar = T["ar"][T["ar"].num_gpus == op.group]
            db = interp(ar, ("message_size",), (op.payload_bytes / 2,)) * n  # message_size in BF16 elements
        rows[op.name] = (times[i] * n, db)
    h, g = cfg.num_attention_heads // tp, cfg.num_key_value_heads // tp
    ta, tt = costs("decode", b_dec, 1, int(round(ctx / 64.0) * 64))
    at = float((tt * ta.count)[[isinstance(o, Attention) for o in ta.ops]].sum()) / pp
    gen = T["gen"][(T["gen"].h == h) & (T["gen"].g == g)]
    rows["attention (generation)"] = (at, interp(gen, ("b", "kv"), (b_dec, ctx + 1), linear_last=True) * per_stage)
    nb = c_pre / I
    cx = T["ctx"][(T["ctx"].h == h) & (T["ctx"].g == g)]
    rows["attention (context)"] = (sm.attn_prefill(nb, I),  # already one stage's share
                                   interp(cx, ("b", "isl"), (nb, I)) * per_stage)
    return rows


GRID_SPAN = 1.5  # measured m within [M / 1.5, M x 1.5] of the step's tokens


def grid_check(system: str, chip: str, tp: int, tokens: float) -> list[tuple[str, int, int, int, float]]:
    """[(op, n, k, points, geo-mean model / database)] for the step's GEMMs at the nearest measured
    (n, k) (log distance), over the database's measured m near `tokens`; the model times the GEMM
    plus the database's dynamic quantize pass, as perf/kernel_transfer.default_errors does."""
    g = tables(system)["gemm"].query("gemm_dtype == 'fp8'")
    cfg, ch = load_llm("llama-2-70b"), get_chip(chip)
    p = calibrated_params(ch)
    t = build_llm_graph(cfg, LLMStep("decode", int(round(tokens)), 1, 1, get_precision("fp8"), tp, 1)).table
    out = []
    for op in t.ops:
        if not isinstance(op, MatMul) or op.name == "lm_head":
            continue
        nk = g[["n", "k"]].drop_duplicates().to_numpy(dtype=float)
        n, k = (int(v) for v in nk[np.argmin(np.abs(np.log(nk / np.array([op.n, op.k]))).sum(axis=1))])
        sel = g[(g.n == n) & (g.k == k) & (g.m >= tokens / GRID_SPAN) & (g.m <= tokens * GRID_SPAN)]
        meas = sel.groupby("m").latency.median()
        ops = []
        for m in meas.index:
            ops += [MatMul(name="g", m=int(m), n=n, k=k, a_dtype="fp8", w_dtype="fp8", out_dtype="bf16", math_dtype="fp8"),
                    quantize_op("fp8", float(m) * k)]
        tm = np.asarray(evaluate(OpTable.from_ops(ops), p, check_support=False).time, dtype=float).reshape(len(meas), -1).sum(axis=1)
        out.append((op.name, n, k, len(meas), float(np.exp(np.mean(np.log(tm / (meas.to_numpy() * 1e-3)))))))
    return out


def outside_kernels(chip: str, tp: int, b_dec: float, prompts: float, tokens: float) -> dict[str, float]:
    """Seconds per step of work the step table does not time, from bytes and the chip's bandwidths:
    - LM head rows: TensorRT-LLM computes logits for each generation token and the LAST token of
      each context request only (gather_context_logits off by default, trtllm-build), the engine
      for every token of the step (StepModel.linear(b + c)): its surplus, the model's own lm_head
      time scaled by the surplus rows;
    - vocab-parallel logits all-gather at tp > 1 (lm_head ColumnLinear(gather_output=True)): each
      rank receives (tp - 1) / tp of rows x vocab FP32 logits over its scale-up link;
    - greedy sampling: one read of the FP32 logits (top-1) at the HBM bandwidth."""
    cfg, ch = load_llm("llama-2-70b"), get_chip(chip)
    sm = step_model(cfg, ch, get_precision("fp8"), tp, 1, 1)
    rows = b_dec + prompts
    ct = serving_costs(sm.evaluator(build_llm_graph(cfg, LLMStep("decode", int(round(tokens)), 1, 1, sm.pr, tp, 1)), sm.p),
                       sm.topo, sm.stack)
    i = list(ct.table.names).index("lm_head")
    head = float(np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1).max(axis=1)[i])
    logits = rows * cfg.vocab_size * 4.0  # FP32 logits
    link = sm.topo.link_bw_for_group(tp) * sm.topo.eff_link  # per direction, toward the group's peers
    return {"LM head on every token (surplus)": head * (1.0 - rows / tokens),
            "logits all-gather (not in the step)": logits * (tp - 1) / tp / link if tp > 1 else 0.0,
            "greedy sampling read (not in the step)": logits / (float(np.asarray(sm.p.mem_bw).ravel()[0]) * sm.p.eff_mem)}


def b200() -> None:
    """B200 TP1 (the MLPerf v4.1 B200 row's layout), 1,053 sequences per step: the step op by op at FP8 and at
    NVFP4 under the shipped, own-kernel and held-out calibrations against the database's B200 kernels (the
    database's generation-attention grid stops at batch x length = 131,072 tokens: its value here is clamped)."""
    from tapeout.perf.kernel_calibration import build

    fits = {"shipped": None, "own kernels": build(chips=["b200"]), "held out": build(holdout="b200")}
    for fmt in DB_GEMM:
        res = {k: step_rows("b200_sxm", "b200", 1, 1, 1053, f, fmt) for k, f in fits.items()}
        print(f"\nB200 TP1, {fmt} (database {DB_GEMM[fmt]} GEMMs), 1,053 sequences: ms per step")
        print("| op | " + " | ".join(fits) + " | database | own / database |\n|---|---|---|---|---|---|")
        for op, (a, x) in res["own kernels"].items():
            cells = " | ".join(f"{res[k][op][0] * 1e3:.2f}" for k in fits)
            print(f"| {op} | {cells} | " + (f"{x * 1e3:.2f} | {a / x:.2f} |" if np.isfinite(x) else "- | - |"))


def main() -> None:
    import sys

    if "--b200" in sys.argv:
        return b200()
    print(f"AIConfigurator database, TensorRT-LLM {VERSION} tables; default model = shipped fit. Per pipeline stage, "
          f"one Offline steady-state step at the MLPerf mean lengths (I = {I}, O = {O}).")
    assert db_config()["default_stack"] == "trtllm"
    for label, system, chip, tp, pp, b in LAYOUTS:
        rows = step_rows(system, chip, tp, pp, b)
        m = sum(a for a, _ in rows.values())
        d = sum(x if np.isfinite(x) else a for a, x in rows.values())
        print(f"\n{label}: model {m * 1e3:.1f} ms, with the database's kernels {d * 1e3:.1f} ms, model / database {m / d:.3f}")
        print("| op | model ms | database ms | model / database |\n|---|---|---|---|")
        for k, (a, x) in rows.items():
            if np.isfinite(x):
                print(f"| {k} | {a * 1e3:.2f} | {x * 1e3:.2f} | {a / x:.2f} |")
        rest = sum(a for a, x in rows.values() if not np.isfinite(x))
        print(f"| elementwise (norms, SwiGLU, quantize, QKV preprocess; no database entry) | {rest * 1e3:.2f} | - | - |")
        tokens = b + b * I / O
        print(f"\nGEMM + dynamic quantize pass, model / database at measured grid points (m within x{GRID_SPAN} of {tokens:.0f}):")
        print("| op | measured (n, k) | points | model / database |\n|---|---|---|---|")
        for op, n, k, pts, r in grid_check(system, chip, tp, tokens):
            print(f"| {op} | ({n}, {k}) | {pts} | {r:.3f} |")
        print("\nOutside the timed kernels (ms per step, from bytes and bandwidths):")
        for k, v in outside_kernels(chip, tp, b, b * I / O / I, tokens).items():
            print(f"| {k} | {v * 1e3:.3f} |")


if __name__ == "__main__":
    main()
