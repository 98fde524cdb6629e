"""The LLM training GEMMs of one transformer layer against NVIDIA's measured H100 / H200 kernels.

    python scripts/training_gemm_kernel_check.py [--step] [--kernel-fit [--fit-cache FILE | --holdout CHIP]]

For the layouts the MLPerf training rows run (CASES: GPT-3 175B FP8 at TP4 with 2,048 and 4,096
tokens per micro-batch and TP2; Llama-2-70B LoRA FP8 at TP4, 8,192 tokens, and 4,096 under CP2, BF16
at TP1, FP8 on H200 at TP2; Llama-3.1-405B BF16 at TP8, 8,192 tokens and 2,048 under CP4; Llama-3.1-8B
at TP1) every GEMM of one layer, forward and its two gradient GEMMs at their own
shapes (perf/train_backward.gradient_gemms: dgrad M = tokens, N = K_fwd, K = N_fwd; wgrad M = K_fwd,
N = N_fwd, K = tokens; LoRA's frozen base runs dgrad only), is timed three ways:

  model    the shipped calibration (data/calibration/fitted.yaml) through perf/opcost.evaluate at
           that shape, as the training engine's ChipParams price it;
  engine   what perf/training.evaluate_layout charges: the forward GEMM's time for each of dgrad
           and wgrad (kb = 2; 1 for LoRA), whatever their shape;
  measured aiconfigurator-core's gemm_perf table of the chip (TensorRT-LLM 1.3.0rc20), interpolated
           log-log between the grid neighbours in (m, n, k) by perf/gemm_table.MeasuredGemms, the
           reader `tapeout train --kernels aiconfigurator` prices with. An FP8 row of the database includes its per-tensor
           activation-quantize pass (perf/kernel_fit.quantize_op); the model side adds that pass so
           both sides time the same work (as llm_step_kernel_check.grid_check does).

With `--step`, the share of the step these GEMMs take in the training engine for a few MLPerf rows
(their layouts and stacks as `tapeout validate` maps them; the engine's TrainResult is captured, the
row's measured value is never read): layers on the slowest stage x micro-batches x the layer's GEMM
time (forward + kb x forward, the engine's rule) / step time.

With `--kernel-fit`, a "kernel fit" column is added: the calibration fitted on the kernel database
itself (perf/kernel_calibration.build, what `tapeout validate --kernels aiconfigurator` runs with; its
power-capped clock included), per chip on the cases' chips' own kernels (`--fit-cache FILE` keeps it
for the next run); with `--holdout CHIP`, the shared fit without CHIP's kernels, on CHIP's cases only.

Kernel timings only: no end-to-end result is read.
"""

from __future__ import annotations

import argparse

import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul, OpTable
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.gemm_table import MeasuredGemms
from tapeout.perf.kernel_fit import quantize_op
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_backward import gradient_gemms
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

# (label, model, chip, DB system (data/calibration/kernels_db.yaml), GEMM format, TP, tokens per micro-batch
# on the rank, LoRA)
CASES = [
    ("GPT-3 175B FP8, H100, TP4 mbs1 (v3.0/v3.1/v4.0 configs)", "gpt3-175b", "h100-sxm", "h100_sxm", "fp8", 4, 2048, False),
    ("GPT-3 175B FP8, H100, TP4 mbs2 (TRN-v3.0-0189, 3,584 chips)", "gpt3-175b", "h100-sxm", "h100_sxm", "fp8", 4, 4096, False),
    ("GPT-3 175B FP8, H100, TP2 mbs1 (TRN-v4.0-0083)", "gpt3-175b", "h100-sxm", "h100_sxm", "fp8", 2, 2048, False),
    ("Llama-2-70B LoRA FP8, H100, TP4, 8,192 tokens", "llama-2-70b", "h100-sxm", "h100_sxm", "fp8", 4, 8192, True),
    ("Llama-2-70B LoRA FP8, H100, TP4 CP2, 4,096 tokens", "llama-2-70b", "h100-sxm", "h100_sxm", "fp8", 4, 4096, True),
    ("Llama-2-70B LoRA BF16, H100, TP1, 8,192 tokens (TRN-v4.0-0067/0068)", "llama-2-70b", "h100-sxm", "h100_sxm", "bf16", 1, 8192, True),
    ("Llama-2-70B LoRA FP8, H200, TP2, 8,192 tokens (TRN-v4.0-0107)", "llama-2-70b", "h200", "h200_sxm", "fp8", 2, 8192, True),
    ("Llama-3.1-405B BF16, H100, TP8, 8,192 tokens (Meta's TP8 PP16)", "llama-3.1-405b", "h100-sxm", "h100_sxm", "bf16", 8, 8192, False),
    ("Llama-3.1-405B BF16, H100, TP8 CP4, 2,048 tokens (the search's layout at 16,384 chips)", "llama-3.1-405b", "h100-sxm", "h100_sxm", "bf16", 8, 2048, False),
    ("Llama-3.1-8B BF16, H100, TP1, 8,192 tokens", "llama-3.1-8b", "h100-sxm", "h100_sxm", "bf16", 1, 8192, False),
    ("Llama-3.1-8B FP8, H100, TP1, 8,192 tokens", "llama-3.1-8b", "h100-sxm", "h100_sxm", "fp8", 1, 8192, False),
]


def layer_gemms(model: str, fmt: str, tp: int, tokens: int) -> list[MatMul]:
    """The GEMMs of one decoder layer as the training engine builds them (prefill graph of one
    micro-batch, LM head excluded), in the recipe's GEMM format."""
    cfg = load_llm(model)
    g = build_llm_graph(cfg, LLMStep("prefill", 1, tokens, 0, get_precision(fmt), tp, 1, lm_head_all_tokens=True))
    return [op for op in g.ops if isinstance(op, MatMul) and op.name != "lm_head"]


def model_time(ops: list, p) -> np.ndarray:
    ct = evaluate(OpTable.from_ops(ops), p, check_support=False)
    return np.asarray(ct.time, dtype=float).reshape(len(ops), -1)[:, 0]


def rows_of(case, fitted: dict | None = None, kfit: dict | None = None) -> list[dict]:
    """Every GEMM of one layer of `case`, each pass at its own shape: the shipped fit ("model",
    or `fitted`), the engine's rule, the database's measured time and, with `kfit` (a kernel-database
    calibration, perf/kernel_calibration.build), that fit's time of the same op ("kfit_s")."""
    label, model, chip, system, fmt, tp, tokens, lora = case
    p = calibrated_params(get_chip(chip), fitted)
    pk = calibrated_params(get_chip(chip), kfit) if kfit is not None else None
    db = MeasuredGemms(chip)
    assert db.system == system, (db.system, system)
    out = []
    for op in layer_gemms(model, fmt, tp, tokens):
        op = MatMul(name=op.name, m=op.m * op.batch, n=op.n, k=op.k, a_dtype=fmt, w_dtype=fmt, out_dtype="bf16",
                    math_dtype=fmt)
        grads = gradient_gemms(op, input_grad=True)
        shapes = [("fwd", op), ("dgrad", grads[0])] + ([] if lora else [("wgrad", grads[1])])
        t_fwd = float(model_time([op], p)[0])
        for kind, g in shapes:
            q = quantize_op(fmt, float(g.m) * g.k)
            t_g = float(model_time([g], p)[0])
            t_q = float(model_time([q], p)[0]) if q is not None else 0.0
            meas = db.latency(g.m, g.n, g.k, fmt)
            row = {"case": label, "gemm": op.name, "pass": kind, "m": g.m, "n": g.n, "k": g.k,
                   "flops": 2.0 * g.m * g.n * g.k, "model_s": t_g, "quant_s": t_q, "engine_s": t_fwd,
                   "measured_s": meas}
            if pk is not None:  # the kernel fit prices the database's quantize pass itself: its own time of it
                row["kfit_s"] = float(model_time([g], pk)[0]) + (float(model_time([q], pk)[0]) if q is not None else 0.0)
            out.append(row)
    return out


def summary(rows: list[dict]) -> dict:
    """Sums over the layer: model (its shapes), engine (forward time per pass), measured and, where
    present, the kernel fit (its own quantize pass included)."""
    s = {k: sum(r[k] + (r["quant_s"] if k in ("model_s", "engine_s") else 0.0) for r in rows)
         for k in ("model_s", "engine_s", "measured_s", "kfit_s") if all(k in r for r in rows)}
    by = {}
    for kind in ("fwd", "dgrad", "wgrad"):
        sel = [r for r in rows if r["pass"] == kind]
        if sel:
            meas = sum(r["measured_s"] for r in sel)
            by[kind] = (sum(r["model_s"] + r["quant_s"] for r in sel) / meas,
                        sum(r["engine_s"] + r["quant_s"] for r in sel) / meas,
                        *((sum(r["kfit_s"] for r in sel) / meas,) if "kfit_s" in s else ()))
    return {**s, "by_pass": by}


# rows whose step the --step table splits: (row id, case of CASES whose layer GEMMs it runs)
STEP_ROWS = [("TRN-v3.0-0174", 0), ("TRN-v3.1-0095", 0), ("TRN-v4.0-0074", 0), ("TRN-v3.0-0189", 1),
             ("TRN-v4.0-0083", 2), ("TRN-v4.0-0057", 3), ("TRN-v4.0-0089", 4), ("TRN-v4.0-0067", 5), ("TRN-v4.0-0107", 6)]


def kernel_fit_calibration(chips: list[str], cache: str | None = None) -> dict:
    """The kernel-database calibration with `chips` refitted on their own kernels (perf/kernel_calibration.build,
    in-sample); `cache`: a JSON file to read it from, written after a build when absent."""
    import json
    import os

    from tapeout.perf.kernel_calibration import build

    if cache and os.path.exists(cache):
        with open(cache) as fh:
            return json.load(fh)
    f = build(chips=chips)
    if cache:
        with open(cache, "w") as fh:
            json.dump(f, fh, default=float)
    return f


def engine_result(rid: str, with_args: bool = False):
    """The training engine's TrainResult of validation row `rid` (its layout and stack as `tapeout
    validate` maps it; the train() call is captured, the row's measured value is never read);
    `with_args`: (result, the call's keyword arguments)."""
    import tapeout.perf.training as training
    from tapeout.validation.harness import default_data, read_rows
    from tapeout.validation.train_rows import map_row

    rows = {r["id"]: r for r in read_rows(default_data())}
    got = []
    real = training.train

    def spy(*a, **kw):
        got.append((real(*a, **kw), kw))
        return got[-1][0]

    training.train = spy
    try:
        map_row(rows[rid])
    finally:
        training.train = real
    return got[-1] if with_args else got[-1][0]


def step_shares() -> list[tuple]:
    """[(row, layout, step s, GEMM s per step on the slowest stage, share, share x (measured/model - 1))]."""
    out = []
    for rid, ci in STEP_ROWS:
        r = engine_result(rid)
        if f"TP{CASES[ci][5]} " not in r.parallelism:
            raise SystemExit(f"{rid}: layout {r.parallelism} is not the TP of case '{CASES[ci][0]}'")
        bd = r.breakdown
        rows_c = rows_of(CASES[ci])
        kb = 1.0 if CASES[ci][7] else 2.0
        fwd = sum(x["model_s"] for x in rows_c if x["pass"] == "fwd")
        meas = sum(x["measured_s"] - x["quant_s"] for x in rows_c)  # the GEMMs alone, at their own shapes
        per_layer = (1.0 + kb) * fwd
        n_slow = bd["stage_layers"][int(bd["slowest_device"])]
        g = per_layer * n_slow * bd["m"]
        out.append((rid, r.parallelism, r.step_time_s, g, g / r.step_time_s, g / r.step_time_s * (meas / per_layer - 1.0)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", action="store_true", help="also the GEMM share of the step of a few MLPerf rows")
    ap.add_argument("--kernel-fit", action="store_true",
                    help="add the kernel-database fit's time of each GEMM (per-chip fit of the cases' chips)")
    ap.add_argument("--holdout", help="with --kernel-fit: the fit without this chip's kernels, for this chip's cases")
    ap.add_argument("--fit-cache", help="with --kernel-fit (in-sample): JSON file holding the fit (written if absent)")
    args = ap.parse_args(argv)
    kfit = None
    cases = CASES
    if args.kernel_fit:
        from tapeout.perf.kernel_calibration import build
        from tapeout.perf.kernels_db import chip_for

        if args.holdout:
            kfit = build(holdout=args.holdout)
            cases = [c for c in CASES if c[2] == chip_for(args.holdout).id]
            print(f"kernel fit: shared parameters without {args.holdout}'s kernels")
        else:
            kfit = kernel_fit_calibration(sorted({c[2] for c in CASES}), args.fit_cache)
            print("kernel fit: per-chip fit on the chip's own kernels (in-sample)")
        for cid in sorted({c[2] for c in cases}):
            e = kfit["chips"][cid]
            print(f"  {cid}: eff_compute {e['eff_compute']} (power-capped clock included, perf/power_cap.py), "
                  f"eff_attention {e.get('eff_attention')}, epilogue_exposed {e['kernel_library']['epilogue_exposed']:.3f}")
    kf = kfit is not None
    for case in cases:
        rows = rows_of(case, None, kfit)
        print(f"\n### {case[0]}\n")
        print("| GEMM | pass | M x N x K | model us (+quant) | model TFLOP/s | engine us | measured us | measured TFLOP/s "
              "| model/measured | engine/measured |" + (" kernel fit us | kernel fit/measured |" if kf else ""))
        print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if kf else ""))
        for r in rows:
            tm, te, tq = r["model_s"] + r["quant_s"], r["engine_s"] + r["quant_s"], r["measured_s"]
            print(f"| {r['gemm']} | {r['pass']} | {r['m']} x {r['n']} x {r['k']} | {tm * 1e6:.0f} ({r['quant_s'] * 1e6:.0f}) "
                  f"| {r['flops'] / r['model_s'] / 1e12:.0f} | {te * 1e6:.0f} | {tq * 1e6:.0f} "
                  f"| {r['flops'] / max(tq - r['quant_s'], 1e-12) / 1e12:.0f} | {tm / tq:.3f} | {te / tq:.3f} |"
                  + (f" {r['kfit_s'] * 1e6:.0f} | {r['kfit_s'] / tq:.3f} |" if kf else ""))
        s = summary(rows)
        by = ", ".join(f"{k} " + " / ".join(f"{x:.3f}" for x in v) for k, v in s["by_pass"].items())
        print(f"\nlayer: model {s['model_s'] * 1e6:.0f} us, engine {s['engine_s'] * 1e6:.0f} us, measured "
              f"{s['measured_s'] * 1e6:.0f} us; model/measured {s['model_s'] / s['measured_s']:.3f}, engine/measured "
              f"{s['engine_s'] / s['measured_s']:.3f}"
              + (f", kernel fit/measured {s['kfit_s'] / s['measured_s']:.3f}" if kf else "")
              + f"; by pass (model / engine{' / kernel fit' if kf else ''} vs measured): {by}")
    if args.step:
        print("\n| row | layout | step s | layer GEMMs x layers x micro-batches (s) | share of step "
              "| step change at the measured GEMM times |")
        print("|---|---|---|---|---|---|")
        for rid, lay, step, g, share, d in step_shares():
            print(f"| {rid} | {lay} | {step:.3f} | {g:.3f} | {share:.1%} | {d:+.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
