"""The LLM training step's non-GEMM kernels against NVIDIA's measured kernel database.

    python scripts/training_nongemm_kernel_check.py [--kernel-fit]

Companion of scripts/training_gemm_kernel_check.py (same cases, CASES there). Two kernel kinds of
one training layer have measured counterparts in aiconfigurator-core (TensorRT-LLM 1.3.0rc20):

  attention  the forward fused attention the training engine prices (perf/training._Fwd: the
             graph's Attention op through perf/opcost at the shipped calibration, the cuDNN rate;
             a stack's library ratio, perf/train_attention.library_ratio, divides it afterwards and
             is shown apart) against `context_attention_perf` at the same batch, sequence length,
             heads / TP, KV heads / TP, head dim and dtype (causal; a grid point of the database, no
             interpolation). The database's op includes TensorRT-LLM's QKV preprocessing kernel
             (RoPE + KV-cache write, kernel_fit.qkv_preprocess_op): the engine side adds the
             model's time of that pass so both sides time the same work ("+pre"). CP layouts are
             left out: a CP rank's ring runs q != kv blocks the database does not measure.
  quantize   the FP8 recipe's activation casts: one static-scale BF16 -> FP8 cast of an m x k
             activation (read 2 B, write 1 B per element; Elementwise priced by the engine's
             calibration, recipe FLOPs per element) against `scale_matrix_perf` (TensorRT-LLM's
             per-tensor static quantize, torch op) at the same m x k, log-log between the k grid
             points; and, beside it, what the engine charges for Transformer Engine's cast of that
             GEMM input (FP8 row-wise + transposed copies; perf/train_recipe._kernel). The measured
             rate of this streaming kernel is the DRAM rate of every elementwise pass (norms,
             activations, residual adds) the engine prices with the same eff_mem.

With `--kernel-fit`, each engine time is also priced with the kernel-database calibration of the
chip (perf/kernel_calibration.build, per-chip in-sample fit; what `--kernels aiconfigurator`
calibrations run with).

Kernel timings only: no end-to-end result is read.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import duckdb
import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, Elementwise, OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_fit import qkv_preprocess_op
from tapeout.perf.kernels_db import db_config, installed_root, read_kernels
from tapeout.perf.train_attention import fp8_attention_speedup, library_ratio
from tapeout.perf.train_recipe import get_recipe, resolve, training_graph
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm
from training_gemm_kernel_check import CASES, engine_result, kernel_fit_calibration, model_time

# per case of CASES: (micro-batch sequences, tokens per sequence on the rank, CP); CP > 1 has no DB shape
SHAPES = {0: (1, 2048, 1), 1: (2, 2048, 1), 2: (1, 2048, 1), 3: (1, 8192, 1), 4: (1, 4096, 2), 5: (1, 8192, 1),
          6: (1, 8192, 1), 7: (1, 8192, 1), 8: (1, 2048, 4), 9: (1, 8192, 1), 10: (1, 8192, 1)}


def engine_graphs(case, mbs: int, seq: int, fp8_attention: bool = False):
    """(forward graph, forward casts, backward casts) of one micro-batch as the training engine builds
    them: the recipe resolved on the chip (activations BF16, GEMMs in the recipe's format)."""
    _, model, chip, _, fmt, tp, _, lora = case
    c = get_chip(chip)
    recipe, pr, _, _ = resolve(get_recipe(fmt), c, fp8_attention)
    g = build_llm_graph(load_llm(model), LLMStep("prefill", mbs, seq, 0, pr, tp, 1, lm_head_all_tokens=True))
    return training_graph(g, recipe, fp8_attention, lora) if recipe.quantized else (g, OpGraph("f", []), OpGraph("b", []))


def db_attention(system: str) -> dict:
    """{(batch, q_len, heads, kv_heads, head_dim, fmt, kv_fmt): median latency s} of the system's context attention."""
    k = read_kernels(systems=[system], ops=("attention_prefill",), per_group=None)
    c = k.cols
    out: dict = {}
    for i in range(len(k)):
        key = (int(c["batch"][i]), int(c["q_len"][i]), int(c["heads"][i]), int(c["kv_heads"][i]), int(c["head_dim"][i]),
               str(c["fmt"][i]), str(c["kv_fmt"][i]))
        out.setdefault(key, []).append(float(c["latency_s"][i]))
    return {key: float(np.median(v)) for key, v in out.items()}


def attention_rows(cases, kfit: dict | None = None) -> list[dict]:
    out = []
    tables: dict = {}
    for ci, case in enumerate(cases):
        label, model, chip, system, fmt, tp, _, lora = case
        mbs, seq, cp = SHAPES[CASES.index(case)]
        if cp > 1:
            continue
        tables.setdefault(system, db_attention(system))
        cfg = load_llm(model)
        p = calibrated_params(get_chip(chip))
        pk = calibrated_params(get_chip(chip), kfit) if kfit is not None else None
        for adt in ("bf16", "fp8") if fmt == "fp8" else ("bf16",):
            g, _, _ = engine_graphs(case, mbs, seq, fp8_attention=adt == "fp8")
            att = [op for op in g.ops if isinstance(op, Attention)]
            assert len(att) == 1, [op.name for op in att]
            a = att[0]
            # FP8 attention: the engine's calibrated BF16 kernel sped up by the chip's measured gain
            gain = fp8_attention_speedup(get_chip(chip).calibration_id) if adt == "fp8" else 1.0
            a_bf16 = replace(a, math_dtype="bf16")
            t_eng = float(model_time([a_bf16], p)[0]) / (gain or 1.0)
            heads, kvh = int(a.heads), int(a.kv_heads)
            pre = qkv_preprocess_op(mbs * seq, heads, kvh, cfg.hd, adt)
            t_pre = float(model_time([pre], p)[0])
            key = (mbs, seq, heads, kvh, cfg.hd, adt, adt)
            meas = tables[system].get(key)
            flops = float(a.flops)
            row = {"case": label, "dtype": adt, "shape": f"b{mbs} s{seq} h{heads}/{kvh} d{cfg.hd}", "engine_s": t_eng,
                   "pre_s": t_pre, "measured_s": meas, "flops": flops, "fa2": library_ratio(get_chip(chip).calibration_id, "fa2"),
                   "gain": gain}
            if pk is not None:
                # the fit prices the database's op: the paged-KV attention of serving (its fixed time) + its pre-pass
                row["kfit_s"] = float(model_time([replace(a, kv_cache=True)], pk)[0]) + float(model_time([pre], pk)[0])
            out.append(row)
    return out


def scale_matrix(system: str) -> dict:
    """{m: (k grid, median latency s)} of the system's static FP8 quantize kernel (scale_matrix_perf)."""
    root, _ = installed_root()
    stack = db_config()["default_stack"]
    d = root / system / "quantize" / stack
    ver = sorted(p.name for p in d.iterdir() if (p / "scale_matrix_perf.parquet").is_file())[-1]
    f = str(d / ver / "scale_matrix_perf.parquet").replace("'", "''")
    rows = duckdb.sql(f"SELECT m, k, median(latency) * 1e-3 FROM read_parquet('{f}') WHERE quant_dtype = 'fp8' "
                      "AND latency > 0 GROUP BY m, k ORDER BY m, k").fetchall()
    out: dict = {}
    for m, k, t in rows:
        out.setdefault(int(m), ([], []))
        out[int(m)][0].append(int(k))
        out[int(m)][1].append(float(t))
    return out


def quant_latency(tab: dict, m: int, k: int) -> float | None:
    """Measured at (m, k): a grid m, k log-log between its neighbours on the k grid (None off the grid)."""
    if m not in tab:
        return None
    ks, ts = np.log(tab[m][0]), np.log(tab[m][1])
    if not ks[0] <= math.log(k) <= ks[-1]:
        return None
    return float(np.exp(np.interp(math.log(k), ks, ts)))


def quantize_rows(cases, kfit: dict | None = None) -> list[dict]:
    out = []
    tabs: dict = {}
    for case in cases:
        label, model, chip, system, fmt, tp, tokens, lora = case
        if fmt != "fp8":
            continue
        mbs, seq, cp = SHAPES[CASES.index(case)]
        tabs.setdefault(system, scale_matrix(system))
        c = get_chip(chip)
        recipe, _, _, _ = resolve(get_recipe(fmt), c)
        p = calibrated_params(c)
        pk = calibrated_params(c, kfit) if kfit is not None else None
        _, gf, _ = engine_graphs(case, mbs, seq)
        for op in gf.ops:  # the forward casts of the GEMM inputs the norm does not write (proj, FC2)
            m = mbs * seq
            k = int(round(op.elems / m))
            one = Elementwise(name="cast", count=1, elems=op.elems, flops_per_elem=op.flops_per_elem, reads=1.0,
                              writes=0.5, dtype="bf16")  # read BF16, write one FP8 copy (bf16-sized units)
            t_one = float(model_time([one], p)[0])
            row = {"case": label, "kernel": op.name, "m": m, "k": k, "engine_s": float(model_time([op], p)[0]),
                   "writes": op.writes, "one_copy_s": t_one, "measured_s": quant_latency(tabs[system], m, k),
                   "bytes": 3.0 * op.elems, "mem_bw": float(np.max(p.mem_bw)), "eff_mem": float(np.max(p.eff_mem))}
            if pk is not None:
                row["kfit_s"] = float(model_time([one], pk)[0])
            out.append(row)
    return out


# rows whose step the --step table splits: (row id, case of CASES whose attention shape it runs)
STEP_ROWS = [("TRN-v3.0-0174", 0), ("TRN-v3.1-0104", 0), ("TRN-v4.0-0074", 0), ("TRN-v3.0-0189", 1), ("TRN-v4.0-0083", 2),
             ("TRN-v4.0-0057", 3), ("TRN-v4.0-0067", 5), ("TRN-v4.0-0107", 6)]


def attention_step(rows: list[dict]) -> list[tuple]:
    """Per row: (row, layout, attention library, dtype, step s, engine attention F+B per layer us, at the
    database's kernel us, step change). The engine's forward is the calibrated op over the stack's library
    ratio (FP8: over the measured FP8 gain too); its backward attention_backward_time over the library's
    backward ratio. "At the database's kernel": the forward = the measured op less the modelled
    preprocessing, the backward = the engine's calibrated backward x (that forward / the calibrated
    forward), i.e. the measured kernel's rate change carried to the backward (an assumption: the
    database has no backward kernel). Full recompute runs the forward twice."""
    from tapeout.perf.train_backward import attention_backward_time

    out = []
    for rid, ci in STEP_ROWS:
        r, kw = engine_result(rid, with_args=True)
        lib = kw.get("attention_kernel", "cudnn")
        adt = "fp8" if kw.get("fp8_attention") and " CP" not in r.parallelism else "bf16"
        a = next(x for x in rows if x["case"] == CASES[ci][0] and x["dtype"] == adt)
        chip = get_chip(CASES[ci][2])
        p = calibrated_params(chip)
        ratio = library_ratio(chip.calibration_id, lib) or (1.0, 1.0)
        cal = a["engine_s"] * a["gain"]  # the calibrated BF16 forward (FP8: before its gain)
        bwd_cal = float(np.max(attention_backward_time(cal, p)))
        f_eng, b_eng = a["engine_s"] / ratio[0], bwd_cal / a["gain"] / ratio[1]
        f_db = a["measured_s"] - a["pre_s"]
        b_db = bwd_cal / a["gain"] * f_db / a["engine_s"]
        rec = 2.0 if "recompute=full" in r.parallelism else 1.0
        d_layer = rec * (f_db - f_eng) + (b_db - b_eng)
        bd = r.breakdown
        n = bd["stage_layers"][int(bd["slowest_device"])] * bd["m"]
        out.append((rid, r.parallelism, lib, adt, r.step_time_s, (rec * f_eng + b_eng) * 1e6, (rec * f_db + b_db) * 1e6,
                    n * d_layer / r.step_time_s))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel-fit", action="store_true", help="add the kernel-database fit's time (per-chip fit)")
    ap.add_argument("--fit-cache", help="with --kernel-fit: JSON file holding the fit (written if absent)")
    ap.add_argument("--step", action="store_true", help="also the attention's step change at the database's kernel rate")
    args = ap.parse_args(argv)
    kfit = None
    if args.kernel_fit:
        kfit = kernel_fit_calibration(sorted({c[2] for c in CASES}), args.fit_cache)
    kf = kfit is not None
    print("\n### Forward attention (engine at the calibrated cuDNN rate) vs TensorRT-LLM context attention\n")
    print("| case | dtype | shape | engine us | +pre us | engine+pre TFLOP/s | measured us | measured TFLOP/s | engine+pre / measured "
          "| FA2 ratio (v3.1) |" + (" kernel fit us | kernel fit / measured |" if kf else ""))
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if kf else ""))
    att = attention_rows(CASES, kfit)
    for r in att:
        te = r["engine_s"] + r["pre_s"]
        tm = r["measured_s"]
        fa2 = r["fa2"][0] if r["fa2"] else float("nan")
        print(f"| {r['case']} | {r['dtype']} | {r['shape']} | {r['engine_s'] * 1e6:.0f} | {r['pre_s'] * 1e6:.0f} "
              f"| {r['flops'] / te / 1e12:.0f} | " + (f"{tm * 1e6:.0f} | {r['flops'] / tm / 1e12:.0f} | {te / tm:.3f}" if tm else "- | - | -")
              + f" | {fa2:.3f} |" + (f" {r['kfit_s'] * 1e6:.0f} | {r['kfit_s'] / tm:.3f} |" if kf and tm else (" - | - |" if kf else "")))
    print("\n### FP8 activation casts: one static-scale cast priced by the engine vs TensorRT-LLM scale_matrix\n")
    print("| case | GEMM input cast | m x k | engine TE cast us (writes, bf16 units) | one-copy cast us | measured us "
          "| measured TB/s | one-copy / measured |" + (" kernel fit us | kernel fit / measured |" if kf else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|---|" if kf else ""))
    for r in quantize_rows(CASES, kfit):
        tm = r["measured_s"]
        print(f"| {r['case']} | {r['kernel']} | {r['m']} x {r['k']} | {r['engine_s'] * 1e6:.1f} ({r['writes']:g}) "
              f"| {r['one_copy_s'] * 1e6:.1f} | " + (f"{tm * 1e6:.1f} | {r['bytes'] / tm / 1e12:.2f} | {r['one_copy_s'] / tm:.3f} |"
                                                      if tm else "- | - | - |")
              + (f" {r['kfit_s'] * 1e6:.1f} | {r['kfit_s'] / tm:.3f} |" if kf and tm else (" - | - |" if kf else "")))
    if args.step:
        print("\n| row | layout | attention library | dtype | step s | engine attention F+B per layer us "
              "| at the database kernel's rate us | step change |")
        print("|---|---|---|---|---|---|---|---|")
        for rid, lay, lib, adt, step, e, d, ch in attention_step(att):
            print(f"| {rid} | {lay} | {lib} | {adt} | {step:.3f} | {e:.0f} | {d:.0f} | {ch:+.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
