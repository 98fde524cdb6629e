"""One transformer layer of an LLM training step, one micro-batch, kernel by kernel, as the training engine
prices it, next to the kernel-level references on file.

    python scripts/train_layer_breakdown.py --benchmark gpt3-175b --chip h100-sxm -n 3584 [--stack S]
    python scripts/train_layer_breakdown.py --model llama-3.1-405b --chip h100-sxm -n 16384 --seq-len 8192 \
        --global-batch-tokens 16777216

The run is priced through `tapeout.train` (the layout it picks, or the one pinned); the engine's own objects for
that layout (perf/training._Fwd and evaluate_layout) are then read back, nothing is re-derived:

  forward    every op of one layer (the graph's op count / layers), its shape, its time at the board's sustained
             rate (perf/train_clock.op_times: the MSMF floor and, where on, SUSTAINED_SCALE; "uncapped": the fitted
             rate alone), its FLOPs or
             bytes and the rate it reaches (each includes one kernel fixed time, ChipParams.kernel_overhead);
             the FP8 recipe's cast / cast-transpose kernels (Transformer Engine, perf/train_recipe) op by op;
  backward   each forward GEMM's dgrad and wgrad at their own shapes (perf/train_backward.gradient_gemms) next to
             the engine's rule (each = the forward GEMM's time), with train_clock.SUSTAINED_SCALE off and on, and
             the kernel database's burst times and those times at the die's sustained clock (/ MSMF / burst MAMF of
             its pair, data/calibration/power_cap_msmf.yaml; the database times bursts, perf/collector_clock.py);
             the fused attention backward (2.5x the forward FLOPs at the chip's fitted backward factor and the
             stack's library ratio, perf/train_attention);
  layer      evaluate_layout's F_layer / B_layer split into the op classes of the _Fwd cost dict; what is left
             ("closure") is the TP collectives' exposure (blocking forward all-reduce / SP reduce-scatter +
             all-gather; the backward's async collectives behind the GEMMs, perf/tp_backward, or userbuffers,
             perf/tp_overlap), the output-layer share and any recompute;
  reference  with the kernel database installed (aiconfigurator-core): each GEMM at its exact shape in NVIDIA's
             measured table (perf/gemm_table.MeasuredGemms; its quantize pass taken off, as the engine prices the
             recipe's casts apart); the attention rows of data/calibration/attention_kernels.csv at the nearest
             measured sequence length for the stack's library (causal forward; backward).

Kernel timings only: no end-to-end result is read.
"""

from __future__ import annotations

import argparse
import contextlib
import math

import numpy as np

from tapeout import api
from tapeout.errors import script_main
from tapeout.ops import Attention, Collective, Elementwise, MatMul
from tapeout.perf import training
from tapeout.perf.train_backward import ATTN_BWD_FLOPS, attention_backward_time, gradient_gemms, wgrad_accumulate_time
from tapeout.perf import train_clock


@contextlib.contextmanager
def spy(obj, name, wrapper):
    """Replace obj.name by wrapper(original) for the block."""
    orig = getattr(obj, name)
    setattr(obj, name, wrapper(orig))
    try:
        yield
    finally:
        setattr(obj, name, orig)


def priced_run(args):
    """The TrainResult and the engine objects (fwd, args of evaluate_layout) of the layout it reports."""
    calls = []

    def wrap(orig):
        def f(cfg, chip, p, topo, pr, lay, *a, **k):
            calls.append((cfg, chip, p, topo, pr, lay, a, k))
            return orig(cfg, chip, p, topo, pr, lay, *a, **k)
        return f

    kw = {k: v for k, v in dict(model=args.model, benchmark=args.benchmark, stack=args.stack, seq_len=args.seq_len,
                                global_batch_tokens=args.global_batch_tokens, tp=args.tp, pp=args.pp, cp=args.cp,
                                vp=args.vp, precision=args.precision).items() if v is not None}
    training.clear_cache()
    with spy(training, "evaluate_layout", wrap):
        r = api.train(chip=args.chip, num_chips=args.num_chips, **kw)
    want = {k: v for k, v in r.layout.items() if k in training.LAYOUT_FIELDS}
    for cfg, chip, p, topo, pr, lay, a, k in reversed(calls):
        if {f: getattr(lay, f) for f in want} == want:
            return r, (cfg, chip, p, topo, pr, lay, a, k)
    raise SystemExit("the reported layout was not priced through evaluate_layout (nothing to itemize)")


def forward_ops(fwd, lay, s_local):
    """Per-op forward tables of one micro-batch: the layer graph's ops (MatMul / Attention / Elementwise /
    Collective), the recipe's cast kernels (forward, backward), each with (op, capped s, uncapped s, cost row)."""
    tables, graphs = [], []

    def wrap_times(orig):
        def f(ct, p, board):
            t = orig(ct, p, board)
            tables.append((ct, t, orig(ct, p, None)))
            return t
        return f

    def wrap_time(orig):
        def f(g):
            graphs.append(g)
            return orig(g)
        return f

    fwd.cache.clear()
    with spy(training, "op_times", wrap_times), spy(fwd, "_time", wrap_time):
        fwd._costs(fwd.pr, lay.tp, lay.ep, lay.mbs, s_local, fp8_attention=fwd.fp8_attention,
                   dpa_casts=fwd.dpa_casts(fwd.bf16_ring(lay.cp)))
    del fwd._time  # the instance attribute spy() set; the class method again
    ct, capped, uncapped = tables[-1]
    rows = []
    for i, op in enumerate(ct.table.ops):
        flat = lambda a: float(np.asarray(a, dtype=float).reshape(len(ct.table), -1)[i].max())  # noqa: E731
        rows.append(dict(op=op, t=float(capped[i]), t0=float(uncapped[i]), comp=flat(ct.compute_time),
                         mem=flat(ct.memory_time)))
    casts = {g.name: list(g.ops) for g in graphs if g.name.endswith((":quant_fwd", ":quant_bwd"))}
    return rows, casts


def one_op_time(op, fwd, scaled: bool = False):
    """One op's time (x its count) as the engine's graph_time prices it; `scaled`: with train_clock.SUSTAINED_SCALE."""
    was = train_clock.SUSTAINED_SCALE
    train_clock.SUSTAINED_SCALE = scaled
    try:
        return fwd._time(training.OpGraph(name=op.name, ops=[op]))
    finally:
        train_clock.SUSTAINED_SCALE = was


def burst_to_sustained(chip, fmt: str) -> float | None:
    """MSMF / burst MAMF of the chip's die in `fmt` (perf/train_clock.burst_to_sustained; None: no pair)."""
    from tapeout.ops import PEAK_KEYS

    keep = train_clock.burst_to_sustained(chip)
    k = None if keep is None or fmt not in PEAK_KEYS else keep[PEAK_KEYS.index(fmt)]
    return None if k is None or not np.isfinite(k) else float(k)


def shape(op) -> str:
    if isinstance(op, MatMul):
        return f"{op.m * op.batch} x {op.n} x {op.k} {op.math_dtype}"
    if isinstance(op, Attention):
        return f"b{op.batch} q{op.q_len} kv{op.kv_len} h{op.heads} d{op.d_qk}"
    if isinstance(op, Elementwise):
        return f"{op.elems:.3g} el r{op.reads:g} w{op.writes:g} {op.dtype}"
    if isinstance(op, Collective):
        return f"{op.collective} {op.payload_bytes / 1e6:.1f} MB g{op.group}"
    return ""


def rate(op, t) -> str:
    if t <= 0:
        return ""
    if isinstance(op, (MatMul, Attention)):
        return f"{op.flops / t / 1e12:.0f} TFLOP/s"
    if isinstance(op, Elementwise):
        return f"{(op.input_bytes + op.output_bytes) / t / 1e12:.2f} TB/s"
    return ""


def attention_refs(chip_id: str, library: str, seq: int, hd: int):
    """Measured attention rows of the chip (attention_kernels.csv) nearest `seq` for `library` and cuDNN."""
    from tapeout.perf.fit.rows import read_attention_kernels

    out = []
    for r in read_attention_kernels():
        if r["chip"] != chip_id or int(r["head_dim"]) != hd or r["impl"] not in (library, "cudnn"):
            continue
        out.append(r)
    best = {}
    for r in out:
        key = (r["impl"], r["direction"], str(r["causal"]))
        d = abs(math.log(int(r["seq_len"]) / seq))
        if key not in best or d < best[key][0]:
            best[key] = (d, r)
    return [r for _, r in sorted(best.values(), key=lambda x: (x[1]["impl"], x[1]["direction"]))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark")
    ap.add_argument("--model")
    ap.add_argument("--chip", "-c", required=True)
    ap.add_argument("--num-chips", "-n", type=int, default=512)
    ap.add_argument("--stack")
    ap.add_argument("--seq-len", type=int)
    ap.add_argument("--global-batch-tokens", type=float)
    ap.add_argument("--precision")
    for k in ("tp", "pp", "cp", "vp"):
        ap.add_argument(f"--{k}", type=int)
    ap.add_argument("--no-db", action="store_true", help="skip the kernel-database GEMM column")
    args = ap.parse_args()

    r, (cfg, chip, p, topo, pr, lay, a, k) = priced_run(args)
    num_chips, global_seqs, seq, fwd = a[:4]
    lora = k.get("lora", a[4] if len(a) > 4 else False)
    k = {x: v for x, v in k.items() if x not in ("mem_limit", "lora")}
    L = cfg.num_hidden_layers
    s_local = seq // lay.cp
    ev = training.evaluate_layout(cfg, chip, p, topo, pr, lay, num_chips, global_seqs, seq, fwd, lora, **k)
    f = fwd(lay.tp, lay.ep, lay.mbs, s_local)
    rows, casts = forward_ops(fwd, lay, s_local)
    kfix = float(np.max(p.kernel_overhead))
    print(f"# {cfg.name} on {chip.id}, {r.parallelism}, stack {getattr(r, 'stack', None) and r.stack.get('name')}, "
          f"{lay.mbs * s_local} tokens per micro-batch per rank; step {r.step_time_s:.3f} s, MFU {r.mfu:.1%}")
    print(f"# per layer per micro-batch: F_layer {ev['F_layer'] * 1e3:.3f} ms, B_layer {ev['B_layer'] * 1e3:.3f} ms; "
          f"kernel fixed time {kfix * 1e6:.1f} us per kernel (ChipParams.kernel_overhead)\n")

    gem = None
    if not args.no_db:
        try:
            from tapeout.perf.gemm_table import MeasuredGemms
            gem = MeasuredGemms(chip.calibration_id)
        except Exception as e:  # noqa: BLE001 - the column is optional (kernels extra)
            print(f"# kernel database not read ({e}); GEMM reference column empty\n")

    print("## Forward, one layer (op count / layers), per micro-batch\n")
    print("| op | kind | shape | per layer | us (sustained) | us (uncapped) | rate | bound | kernel DB us |")
    print("|---|---|---|---|---|---|---|---|---|")
    head = training.HEAD_OPS
    tot = {}
    for row in rows:
        op = row["op"]
        if op.name in head:
            continue
        n = op.count / L
        kind = type(op).__name__
        db = ""
        if gem is not None and isinstance(op, MatMul):
            t = gem.time(op, p)
            db = f"{t * 1e6:.0f}" if t is not None else "-"
        t_show = 0.0 if isinstance(op, Collective) else row["t"]
        bound = "coll" if isinstance(op, Collective) else ("compute" if row["comp"] >= row["mem"] else "memory")
        print(f"| {op.name} | {kind} | {shape(op)} | {n:g} | {t_show * 1e6:.1f} | {row['t0'] * 1e6:.1f} | "
              f"{rate(op, row['t'])} | {bound} | {db} |")
        tot[kind] = tot.get(kind, 0.0) + n * t_show
    for name, ops in casts.items():
        print(f"\n### {name} (Transformer Engine cast kernels, per layer)\n")
        print("| op | shape | per layer | us | rate |")
        print("|---|---|---|---|---|")
        for op in ops:
            t = one_op_time(op, fwd) / op.count
            print(f"| {op.name} | {shape(op)} | {op.count / L:g} | {t * 1e6:.1f} | {rate(op, t)} |")

    print("\n## Backward GEMMs at their own shapes vs the engine's rule (each = the forward GEMM's time)\n")
    print("| GEMM | pass | M x N x K | model us, scale off | model us, SUSTAINED_SCALE | engine rule us | "
          "kernel DB us (burst) |")
    print("|---|---|---|---|---|---|---|")
    sums = {"fwd": [0, 0, 0, 0], "dgrad": [0, 0, 0, 0], "wgrad": [0, 0, 0, 0]}
    fmt = None
    for row in rows:
        op = row["op"]
        if not isinstance(op, MatMul) or op.name in head:
            continue
        n = op.count / L
        t_f = row["t"]
        fmt = op.math_dtype
        dbf = gem.time(op, p) if gem is not None else None
        sums["fwd"][0] += n * one_op_time(op, fwd, scaled=False) / op.count
        sums["fwd"][1] += n * t_f
        sums["fwd"][2] += n * (dbf or 0.0)
        sums["fwd"][3] += n * one_op_time(op, fwd, scaled=True) / op.count
        for g in gradient_gemms(op, input_grad=True):
            ps = "dgrad" if g.name.endswith("dgrad") else "wgrad"
            if lora and ps == "wgrad":
                continue
            tm = one_op_time(g, fwd, scaled=False) / g.count
            ts = one_op_time(g, fwd, scaled=True) / g.count
            db = gem.time(g, p) if gem is not None else None
            sums[ps][0] += n * tm
            sums[ps][1] += n * t_f
            sums[ps][2] += n * (db or 0.0)
            sums[ps][3] += n * ts
            print(f"| {op.name} | {ps} | {g.m * g.batch} x {g.n} x {g.k} | {tm * 1e6:.0f} | {ts * 1e6:.0f} | "
                  f"{t_f * 1e6:.0f} | {'' if db is None else f'{db * 1e6:.0f}'} |")
    keep = burst_to_sustained(chip, fmt) if fmt else None
    print(f"\nkernel DB at the sustained clock = burst time / (MSMF / burst MAMF of the die, {fmt}: "
          f"{'none on file' if keep is None else f'{keep:.3f}'}; data/calibration/power_cap_msmf.yaml)\n")
    print("| pass | model ms, scale off | engine ms (default) | model ms, SUSTAINED_SCALE | kernel DB ms (burst) | "
          "kernel DB ms (sustained) | "
          "engine / DB burst | engine / DB sustained |")
    print("|---|---|---|---|---|---|---|---|")
    for ps, (m_, e_, d_, s_) in sums.items():
        ds = d_ / keep if keep else float("nan")
        print(f"| {ps} | {m_ * 1e3:.3f} | {e_ * 1e3:.3f} | {s_ * 1e3:.3f} | {d_ * 1e3:.3f} | {ds * 1e3:.3f} | "
              f"{e_ / d_ if d_ else float('nan'):.3f} | {e_ / ds if d_ and keep else float('nan'):.3f} |")

    # the layer's op classes as evaluate_layout sums them (per layer = the _Fwd total / L)
    ratio = fwd.bf16_attn_ratio if fwd.bf16_ring(lay.cp) else fwd.attn_ratio
    attn_f = f["attn"] / L * lay.cp
    attn_b = (f["attn_bwd"] / L * lay.cp if "attn_bwd" in f else float(np.max(attention_backward_time(attn_f, p))))
    attn_f, attn_b = attn_f / ratio[0], attn_b / ratio[1]
    kb = 1.0 if lora else 2.0
    acc = float(np.max(wgrad_accumulate_time(f["wgrad_elems"] / L, fwd.grad_bytes, p)))
    gemm = f["gemm"] / L
    # the FP8 delayed-scaling update kernels, per layer and pass: the engine's per-step sum over its layer slots
    n_fb = ev["stage_layers"][ev["slowest_device"]] * (ev["m"] + (lay.pp - 1) / lay.vp)
    su = ev.get("fp8_scale_update", 0.0) / (2.0 * n_fb) if n_fb else 0.0
    fw = {"GEMMs (fused quantize in the recipe's casts)": gemm, "attention core": attn_f,
          "elementwise (norms, activation, bias, dropout)": f["elt"] / L, "residual adds": f["res"] / L,
          "FP8 cast / cast-transpose kernels": f["cast_fwd"] / L, "FP8 amax / scale update kernels (TE)": su,
          "CP merges": fwd.cp_merge(lay.cp, lay.tp, lay.mbs, s_local)[0]}
    bw = {"GEMMs dgrad + wgrad (engine rule: kb x forward)": kb * gemm, "attention core backward": attn_b,
          "elementwise backward (2 x forward)": 2.0 * f["elt"] / L, "residual adds": f["res"] / L,
          "FP8 cast / cast-transpose kernels": f["cast_bwd"] / L, "FP8 amax / scale update kernels (TE)": su,
          "wgrad accumulate (main_grad)": acc,
          "CP merges": fwd.cp_merge(lay.cp, lay.tp, lay.mbs, s_local)[1]}
    print("\n## The layer as evaluate_layout sums it (ms per layer per micro-batch)\n")
    print(f"TP collectives of one layer, forward, unhidden: {f['comm_tp'] / L * 1e3:.3f} ms; attention library ratio "
          f"(fwd, bwd) {ratio[0]:.3f}, {ratio[1]:.3f}; attention backward = {ATTN_BWD_FLOPS} x forward FLOPs at "
          f"attn_bwd_factor {float(np.max(p.attn_bwd_factor)):.4f}\n")
    print("| pass | item | ms | share |")
    print("|---|---|---|---|")
    for ps, items, total in (("forward", fw, ev["F_layer"]), ("backward", bw, ev["B_layer"])):
        for name, v in items.items():
            print(f"| {ps} | {name} | {v * 1e3:.3f} | {v / total:.1%} |")
        rest = total - sum(items.values())
        print(f"| {ps} | closure: TP collectives exposed (+ recompute, userbuffers chunks) | {rest * 1e3:.3f} | "
              f"{rest / total:.1%} |")
        print(f"| {ps} | **total** | **{total * 1e3:.3f}** | |")

    print("\n## Attention references (data/calibration/attention_kernels.csv, nearest measured sequence length)\n")
    lib = next((s["value"] for s in (r.stack or {}).get("settings", []) if s["setting"] == "attention_kernel"), "cudnn")
    op = next(row["op"] for row in rows if isinstance(row["op"], Attention))
    fl_f = op.flops * op.count / L * lay.cp
    print(f"engine: forward {fl_f / attn_f / 1e12:.0f} TFLOP/s, backward {ATTN_BWD_FLOPS * fl_f / attn_b / 1e12:.0f} "
          f"TFLOP/s (backward FLOPs = {ATTN_BWD_FLOPS} x forward), library {lib}, seq {s_local}, head dim {cfg.hd}\n")
    print("| row | impl | direction | causal | seq | batch x heads | TFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for a_ in attention_refs(chip.calibration_id, lib, s_local, cfg.hd):
        print(f"| {a_['id']} | {a_['impl']} | {a_['direction']} | {a_['causal']} | {a_['seq_len']} | "
              f"{a_['batch']} x {a_['heads']} | {a_['tflops']} |")


if __name__ == "__main__":
    script_main(main)
