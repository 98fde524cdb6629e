#!/usr/bin/env python3
"""Kernel microbenchmarks on one NVIDIA GPU: GEMM by shape and format, fused attention,
grouped (MoE) expert GEMMs, HBM streaming. The source of the rows this project adds to
data/measured/microbenchmarks.csv and data/calibration/{attention,moe}_kernels.csv.

    python scripts/measure_gpu_kernels.py measure --out DIR    # on the GPU machine (torch + CUDA)
    python scripts/measure_gpu_kernels.py append DIR/kernels.jsonl   # here: append rows with ids

Method (what each row means):
  - GEMM: C = A W^T, A (M tokens x K), W (N out-features x K), cuBLAS/cuBLASLt through
    torch.matmul (BF16) and torch._scaled_mm (FP8 E4M3, per-tensor scales, BF16 out). Timed as
    a CUDA-graph replay of `reps` back-to-back GEMMs cycling over enough weight copies that
    the weights stream from HBM (>= 4x the 50 MB L2), random N(0,1) data (zeros draw less
    power and run faster). Value = replay time / reps: device time per GEMM incl. in-graph
    launch gaps, no host launch cost. Median of 5 replays after 2 warm-ups.
  - Attention: torch.nn.functional.scaled_dot_product_attention with one backend forced
    (cuDNN fused attention, FlashAttention-2), BF16, head dim 128, 16 heads, batch x seq =
    16k tokens (the FlashAttention-3 paper's setting), forward causal / non-causal and
    backward non-causal; FLOPs counted as the paper does (4 s^2 d h b, /2 causal, x2.5 bwd).
    Decode attention: one query token over a KV cache (GQA 64/8 heads), bytes = KV read.
  - MoE: torch._grouped_mm over E experts (w13, SiLU-and-mul, w2) at Mixtral-8x7B TP2 shapes,
    tokens routed top-2 uniformly (random routing, as vLLM's benchmark_moe.py), router
    GEMM excluded - the same scope as the published fused_moe rows (moe_kernels.csv).
  - HBM: large-buffer copy (read + write), read (sum) and write (fill), 2 GiB each.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = "scripts/measure_gpu_kernels.py"

# (model, layer, N out-features, K in-features): LLM projections at TP1 and TP8
GEMM_SHAPES = [
    ("llama-2-70b TP1", "qkv", 10240, 8192), ("llama-2-70b TP1", "o", 8192, 8192),
    ("llama-2-70b TP1", "gate_up", 57344, 8192), ("llama-2-70b TP1", "down", 8192, 28672),
    ("llama-2-70b TP8", "qkv", 1280, 8192), ("llama-2-70b TP8", "o", 8192, 1024),
    ("llama-2-70b TP8", "gate_up", 7168, 8192), ("llama-2-70b TP8", "down", 8192, 3584),
    ("llama-3.1-8b TP1", "qkv", 6144, 4096), ("llama-3.1-8b TP1", "o", 4096, 4096),
    ("llama-3.1-8b TP1", "gate_up", 28672, 4096), ("llama-3.1-8b TP1", "down", 4096, 14336),
]
GEMM_M = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
ATT_SEQ = (512, 1024, 2048, 4096, 8192, 16384)
DECODE = [(b, L) for b in (8, 64, 256) for L in (1024, 4096)]
MOE_TOKENS = (1, 8, 64, 256, 1024, 4096, 16384)
L2_BYTES = 50 * 2**20


def _graph_time(torch, fn, reps: int) -> float:
    """Median seconds per call of fn(i) over 5 replays of a CUDA graph of `reps` calls (warmed
    up on a side stream, as torch.cuda.graphs requires; 2 untimed replays first)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(3):
            fn(i)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(reps):
            fn(i)
    for _ in range(2):
        g.replay()
    ts = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) * 1e-3 / reps)
    del g
    return sorted(ts)[2]


def measure(out_dir: Path, quick: bool = False, extra: bool = False) -> None:
    import torch
    import torch.nn.functional as F

    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    out_dir.mkdir(parents=True, exist_ok=True)
    rows_path = out_dir / "kernels.jsonl"
    fh = open(rows_path, "w")
    env = _environment(torch)
    (out_dir / "environment.json").write_text(json.dumps(env, indent=1))
    print(json.dumps(env), flush=True)
    t_start = time.time()

    def emit(rec: dict) -> None:
        rec["env"] = env["short"]
        fh.write(json.dumps(rec) + "\n")
        fh.flush()

    graph_time = functools.partial(_graph_time, torch)

    def event_time(fn, iters: int = 10) -> float:
        fn()
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) * 1e-3 / iters

    # ---- HBM streaming --------------------------------------------------------------
    n = 2**30  # 2 GiB of bf16
    x = torch.empty(n, dtype=torch.bfloat16, device=dev).normal_()
    y = torch.empty_like(x)
    for kind, fn, nbytes in (("copy", lambda: y.copy_(x), 2 * 2 * n), ("read", lambda: x.sum(), 2 * n),
                             ("write", lambda: y.fill_(1.0), 2 * n)):
        t = event_time(fn)
        emit(dict(kind="hbm", op=kind, bytes=nbytes, time_s=t, gbps=nbytes / t / 1e9))
    del x, y
    torch.cuda.empty_cache()

    # ---- GEMM sweeps ----------------------------------------------------------------
    shapes = GEMM_SHAPES[:3] if quick else GEMM_SHAPES
    ms = GEMM_M[::3] if quick else GEMM_M
    one = torch.ones((), device=dev, dtype=torch.float32)
    for model, layer, N, K in shapes:
        for fmt in ("bf16", "fp8"):
            wbytes = N * K * (2 if fmt == "bf16" else 1)
            copies = max(1, min(32, math.ceil(4 * L2_BYTES / wbytes)))
            w = [torch.randn(N, K, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
            if fmt == "fp8":
                w = [t.to(torch.float8_e4m3fn) for t in w]
            for M in ms:
                a = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
                if fmt == "fp8":
                    a = a.to(torch.float8_e4m3fn)
                    fn = lambda i, a=a: torch._scaled_mm(a, w[i % copies].t(), scale_a=one, scale_b=one,
                                                         out_dtype=torch.bfloat16)
                else:
                    fn = lambda i, a=a: torch.matmul(a, w[i % copies].t())
                try:
                    t1 = event_time(lambda: fn(0), 3)
                    reps = int(min(200, max(copies, 10, math.ceil(3e-3 / max(t1, 1e-7)))))
                    reps = max(copies, reps - reps % copies)
                    t = graph_time(fn, reps)
                    emit(dict(kind="gemm", fmt=fmt, model=model, layer=layer, M=M, N=N, K=K, time_s=t,
                              tflops=2 * M * N * K / t / 1e12, reps=reps, weight_copies=copies))
                except Exception as e:  # a shape the library rejects (e.g. FP8 alignment): recorded, not timed
                    emit(dict(kind="gemm_error", fmt=fmt, model=model, layer=layer, M=M, N=N, K=K, error=str(e)[:200]))
                del a
            del w
            torch.cuda.empty_cache()
        print(f"gemm {model} {layer} done at {time.time() - t_start:.0f}s", flush=True)

    # ---- fused attention (prefill) --------------------------------------------------
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {"cudnn": SDPBackend.CUDNN_ATTENTION, "fa2": SDPBackend.FLASH_ATTENTION}  # SDPA flash = FlashAttention-2 (PyTorch >= 2.2)
    d, h = 128, 16
    for impl, be in backends.items():
        for s in (ATT_SEQ[::2] if quick else ATT_SEQ):
            b = 16384 // s
            q, k, v = (torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
            for causal in (False, True):
                flops = 4.0 * s * s * d * h * b * (0.5 if causal else 1.0)
                try:
                    with sdpa_kernel([be]):
                        t = event_time(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                        emit(dict(kind="attention", impl=impl, direction="fwd", causal=causal, head_dim=d, heads=h,
                                  seq_len=s, batch=b, time_s=t, tflops=flops / t / 1e12))
                        if not causal:
                            o = F.scaled_dot_product_attention(q, k, v, is_causal=False)
                            go = torch.randn_like(o)

                            def bwd():
                                torch.autograd.grad(o, (q, k, v), go, retain_graph=True)
                            t = event_time(bwd)
                            emit(dict(kind="attention", impl=impl, direction="bwd", causal=False, head_dim=d, heads=h,
                                      seq_len=s, batch=b, time_s=t, tflops=2.5 * flops / t / 1e12))
                            del o, go
                except Exception as e:
                    emit(dict(kind="attention_error", impl=impl, seq_len=s, causal=causal, error=str(e)[:200]))
            del q, k, v
            torch.cuda.empty_cache()
    print(f"attention done at {time.time() - t_start:.0f}s", flush=True)

    # ---- decode attention: one query over a KV cache (GQA 64 q / 8 kv heads, d 128) --
    for bsz, L in DECODE:
        q = torch.randn(bsz, 64, 1, 128, device=dev, dtype=torch.bfloat16)
        kv = [torch.randn(bsz, 8, L, 128, device=dev, dtype=torch.bfloat16) for _ in range(2)]
        try:
            t = graph_time(lambda i: F.scaled_dot_product_attention(q, kv[0], kv[1], enable_gqa=True), 20)
            kvb = 2 * bsz * 8 * L * 128 * 2
            emit(dict(kind="decode_attention", impl="sdpa-default", batch=bsz, kv_len=L, q_heads=64, kv_heads=8,
                      head_dim=128, time_s=t, kv_bytes=kvb, gbps=kvb / t / 1e9))
        except Exception as e:
            emit(dict(kind="decode_attention_error", batch=bsz, kv_len=L, error=str(e)[:200]))
        del q, kv
    torch.cuda.empty_cache()

    # ---- grouped expert GEMMs (Mixtral-8x7B TP2: E=8, hidden 4096, ffn 14336/2) --------
    E, H, Fh, topk = 8, 4096, 7168, 2
    w13 = torch.randn(E, 2 * Fh, H, device=dev, dtype=torch.bfloat16)
    w2 = torch.randn(E, H, Fh, device=dev, dtype=torch.bfloat16)
    for T in (MOE_TOKENS[::2] if quick else MOE_TOKENS):
        rows = T * topk
        counts = torch.bincount(torch.randint(0, E, (rows,)), minlength=E)
        offs = torch.cumsum(counts, 0).to(torch.int32).to(dev)
        x = torch.randn(rows, H, device=dev, dtype=torch.bfloat16)

        def moe(i):
            g = torch._grouped_mm(x, w13.transpose(-2, -1), offs=offs)
            a = F.silu(g[:, :Fh]) * g[:, Fh:]
            return torch._grouped_mm(a, w2.transpose(-2, -1), offs=offs)
        try:
            t = graph_time(moe, 20)
            emit(dict(kind="moe", impl="torch-grouped-mm", model="mixtral-8x7b", tp=2, tokens=T, time_s=t,
                      flops=2 * rows * (2 * Fh * H + H * Fh)))
        except Exception as e:
            emit(dict(kind="moe_error", tokens=T, error=str(e)[:200]))
    if extra:
        _extra(torch, F, dev, emit, event_time, graph_time, one)
    fh.close()
    print(f"all done at {time.time() - t_start:.0f}s; rows in {rows_path}", flush=True)


def measure_low_bit(out_dir: Path) -> None:
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    env = _environment(torch)
    with open(out_dir / "kernels_lowbit.jsonl", "w") as fh:
        def emit(rec):
            rec["env"] = env["short"]
            fh.write(json.dumps(rec) + "\n")
            fh.flush()

        _low_bit(torch, torch.device("cuda"), emit, functools.partial(_graph_time, torch))


MAMF_DIMS = tuple(range(1024, 20481, 1024))
MAMF_K = (4096, 8192, 14336)


def _extra(torch, F, dev, emit, event_time, graph_time, one) -> None:
    """Second pass: best-shape (MAMF-style) search per format, attention at other head dims,
    and a repeat of two GEMM sweeps (run-to-run spread)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    t0 = time.time()
    for fmt in ("bf16", "fp8"):
        best = (0.0, None)
        grid = [(K, M, N) for K in MAMF_K for M in MAMF_DIMS for N in MAMF_DIMS]
        random.Random(0).shuffle(grid)  # a search cut short by the time cap still spans the grid
        for K, M, N in grid:
            if time.time() - t0 > 150:  # keep the lease short: stop the search, keep its best
                break
            a = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
            w = torch.randn(N, K, device=dev, dtype=torch.bfloat16)
            if fmt == "fp8":
                a, w = a.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn)
                fn = lambda: torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            else:
                fn = lambda: torch.matmul(a, w.t())
            tf = 2 * M * N * K / event_time(fn, 5) / 1e12
            if tf > best[0]:
                best = (tf, (M, N, K))
        emit(dict(kind="mamf", fmt=fmt, tflops=best[0], shape=best[1], grid=f"M,N in 1024..20480 step 1024, K in {MAMF_K}",
                  searched_s=round(time.time() - t0, 1)))
        t0 = time.time()
    for d, h in ((64, 32), (256, 8)):
        for s in (1024, 4096, 16384):
            b = 16384 // s
            q, k, v = (torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16) for _ in range(3))
            for causal in (False, True):
                flops = 4.0 * s * s * d * h * b * (0.5 if causal else 1.0)
                try:
                    with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                        t = event_time(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                    emit(dict(kind="attention", impl="cudnn", direction="fwd", causal=causal, head_dim=d, heads=h,
                              seq_len=s, batch=b, time_s=t, tflops=flops / t / 1e12))
                except Exception as e:
                    emit(dict(kind="attention_error", impl="cudnn", seq_len=s, head_dim=d, error=str(e)[:200]))
    for model, layer, N, K in GEMM_SHAPES[:2]:
        w = torch.randn(N, K, device=dev, dtype=torch.bfloat16)
        for M in GEMM_M:
            a = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
            t = graph_time(lambda i: torch.matmul(a, w.t()), 20)
            emit(dict(kind="gemm_repeat", fmt="bf16", model=model, layer=layer, M=M, N=N, K=K, time_s=t))


def _low_bit(torch, dev, emit, graph_time) -> None:
    """INT8 GEMM (torch._int_mm, cuBLAS IMMA, int32 out) and INT4 weight-only GEMM (W4A16,
    torch._weight_int4pack_mm: the tinygemm kernel, group size 128, bf16 activations)."""
    for model, layer, N, K in GEMM_SHAPES:
        w8 = torch.randint(-127, 127, (N, K), device=dev, dtype=torch.int8)
        w4 = None
        try:
            wq = torch.randint(0, 16, (N, K // 2), device=dev, dtype=torch.uint8)
            w4 = torch._convert_weight_to_int4pack(wq, 8)  # inner k tiles = 8
            sz = torch.randn(K // 128, N, 2, device=dev, dtype=torch.bfloat16)
        except Exception as e:
            emit(dict(kind="gemm_error", fmt="w4a16", model=model, layer=layer, N=N, K=K, error=str(e)[:200]))
        for M in GEMM_M:
            a8 = torch.randint(-127, 127, (M, K), device=dev, dtype=torch.int8)
            for fmt, fn in (("int8", lambda i: torch._int_mm(a8, w8.t())),
                            ("w4a16", (lambda i: torch._weight_int4pack_mm(abf, w4, 128, sz)) if w4 is not None else None)):
                if fn is None:
                    continue
                abf = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
                try:
                    t = graph_time(fn, 20)
                    emit(dict(kind="gemm", fmt=fmt, model=model, layer=layer, M=M, N=N, K=K, time_s=t,
                              tflops=2 * M * N * K / t / 1e12, reps=20, weight_copies=1))
                except Exception as e:
                    emit(dict(kind="gemm_error", fmt=fmt, model=model, layer=layer, M=M, N=N, K=K, error=str(e)[:200]))


def _environment(torch) -> dict:
    q = "name,driver_version,clocks.max.sm,clocks.max.mem,power.limit,memory.total"
    try:
        smi = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.strip()
    except Exception as e:  # nvidia-smi missing: record why
        smi = f"nvidia-smi unavailable: {e}"
    p = torch.cuda.get_device_properties(0)
    env = dict(gpu=p.name, sms=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1),
               torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
               nvidia_smi=smi, date=time.strftime("%Y-%m-%d"))
    env["short"] = f"torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; nvidia-smi: {smi}"
    return env


# ---- appending rows to the project's data files (run here, not on the GPU) -----------------
DATA = Path(__file__).resolve().parents[1] / "src" / "tapeout" / "data"
SOURCE = f"{SCRIPT} (measured by this project on one NVIDIA H200 SXM 141GB lent for the session)"


def _next_id(ids: list[str], prefix: str) -> int:
    nums = [int(i.split("-")[-1]) for i in ids if i.startswith(prefix)]
    return max(nums, default=0) + 1


GEMM_LIB = {"bf16": ("bf16", "torch.matmul (cuBLAS)"),
            "fp8": ("fp8 e4m3 in / bf16 out (per-tensor scales)", "torch._scaled_mm (cuBLASLt FP8)"),
            "int8": ("int8 in / int32 out", "torch._int_mm (cuBLAS IMMA)"),
            "w4a16": ("int4 weights (group 128, bf16 scales+zeros) / bf16 activations",
                      "torch._weight_int4pack_mm (tinygemm)")}


def _microbench_row(r: dict, accelerator: str) -> dict | None:
    """The microbenchmarks.csv fields of one measured record (None: not a microbenchmark row).
    BF16/FP8 sweeps are 'GEMM latency' rows (fitted by perf/fit.py); INT8 and W4A16 are kept
    as 'GEMM kernel time' rows, data for the formats model, not read by the GEMM fit."""
    if r["kind"] == "gemm":
        prec, lib = GEMM_LIB[r["fmt"]]
        label = "GEMM latency" if r["fmt"] in ("bf16", "fp8") else "GEMM kernel time"
        return dict(
            workload=f"{r['fmt'].upper()} {label} ({lib}, CUDA-graph replay sweep)",
            model_config=(f"GEMM M={r['M']} N={r['N']} K={r['K']} (M=tokens, N=out-features, K=in-features; "
                          f"{r['model']} {r['layer']} proj); weights cycled over {r['weight_copies']} copies "
                          "(stream from HBM), random data"),
            precision=prec, metric="kernel time (CUDA graph replay, per GEMM)", value=f"{r['time_s'] * 1e3:.6g}",
            unit="ms", notes=f"implied throughput {r['tflops']:.1f} TFLOPS (2MNK/t); median of 5 replays of {r['reps']} GEMMs")
    if r["kind"] == "mamf":
        M, N, K = r["shape"]
        prec = "bf16" if r["fmt"] == "bf16" else "fp8 (float8_e4m3fn)"
        peak = 989.4 if r["fmt"] == "bf16" else 1978.9
        return dict(
            workload="dense GEMM (torch.matmul) max achievable TFLOPS (MAMF)",
            model_config=(f"GEMM best shape {M}x{N}x{K} (MxNxK) {r['fmt']}; shape search over {r['grid']} "
                          f"({r['searched_s']} s), mean of 5 iters after 1 warmup, random data"),
            precision=prec, metric="achieved matmul throughput", value=f"{r['tflops']:.1f}", unit="TFLOPS",
            notes=f"theoretical dense peak listed {peak} TFLOPS; efficiency {r['tflops'] / peak:.1%}; "
                  "fp8 via torch._scaled_mm (per-tensor scales, bf16 out)")
    if r["kind"] == "hbm" and r["op"] == "copy":
        return dict(
            workload="HBM bandwidth (streaming copy, torch copy_)",
            model_config="2 GiB bf16 buffer copied device to device; bytes = read + write",
            precision="n/a", metric="achieved fraction of peak HBM bandwidth", value=f"{r['gbps'] / 4800:.4f}",
            unit="fraction of 4.8 TB/s", notes=f"{r['gbps']:.0f} GB/s measured; peak 4.8 TB/s per NVIDIA H200 datasheet")
    if r["kind"] == "decode_attention":
        return dict(
            workload="decode attention kernel time (SDPA, one query token, GQA)",
            model_config=(f"batch {r['batch']}, kv_len {r['kv_len']}, {r['q_heads']} q / {r['kv_heads']} kv heads, "
                          f"head dim {r['head_dim']}, bf16 KV cache; KV bytes read {r['kv_bytes']}"),
            precision="bf16", metric="kernel time (CUDA graph replay)", value=f"{r['time_s'] * 1e3:.6g}", unit="ms",
            notes=f"effective KV read bandwidth {r['gbps']:.0f} GB/s; torch SDPA default backend, enable_gqa=True")
    return None


def append(paths: list[Path], accelerator: str = "NVIDIA H200-SXM", chip: str = "h200") -> None:
    recs = [json.loads(line) for p in paths for line in open(p)]
    mb_path = DATA / "measured" / "microbenchmarks.csv"
    with open(mb_path, newline="") as f:
        reader = csv.DictReader(f)
        fields, mb = reader.fieldnames, list(reader)
    i = _next_id([r["id"] for r in mb], "MB-")
    new = []
    for r in recs:
        row = _microbench_row(r, accelerator)
        if row:
            new.append(dict(id=f"MB-{i:04d}", category="microbench", scenario="single accelerator kernel timing",
                            accelerator=accelerator, n_accelerators=1, software=r["env"], source=SOURCE, **row))
            i += 1
    with open(mb_path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=fields, lineterminator="\n").writerows(new)
    att = [r for r in recs if r["kind"] == "attention"]
    att_path = DATA / "calibration" / "attention_kernels.csv"
    lines = open(att_path).read().splitlines()
    ids = [ln.split(",")[0] for ln in lines if ln.startswith("ATT-")]
    j = _next_id(ids, "ATT-")
    with open(att_path, "a") as f:
        for r in att:
            f.write(f"ATT-{j:03d},{chip},{r['impl']},{r['direction']},{str(r['causal']).lower()},{r['head_dim']},"
                    f"{r['heads']},{r['seq_len']},{r['batch']},bf16,{r['tflops']:.1f}\n")
            j += 1
    moe = [r for r in recs if r["kind"] == "moe"]
    moe_path = DATA / "calibration" / "moe_kernels.csv"
    with open(moe_path, newline="") as f:
        mr = list(csv.DictReader(f))
    k = _next_id([r["id"] for r in mr], "MOE-")
    with open(moe_path, "a", newline="") as f:
        wr = csv.writer(f, lineterminator="\n")
        for r in moe:
            wr.writerow([f"MOE-{k:03d}", chip, r["impl"], r["model"], r["tp"], "bf16", r["tokens"],
                         f"{r['time_s'] * 1e6:.2f}", SOURCE,
                         "torch._grouped_mm w13 + SiLU-and-mul + torch._grouped_mm w2, top-2 uniform random routing, "
                         f"router GEMM excluded, CUDA graph; {r['env']}"])
            k += 1
    print(f"appended {len(new)} microbenchmark rows, {len(att)} attention rows, {len(moe)} MoE rows")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "kernels_out")))
    m.add_argument("--quick", action="store_true", help="a subset, for a smoke test")
    m.add_argument("--extra", action="store_true", help="also best-shape search, other head dims, repeats")
    m.add_argument("--low-bit", action="store_true", help="only the INT8 and INT4 weight-only GEMM sweeps")
    a = sub.add_parser("append")
    a.add_argument("jsonl", type=Path, nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "measure" and args.low_bit:
        measure_low_bit(args.out)
    elif args.cmd == "measure":
        measure(args.out, args.quick, args.extra)
    else:
        append(args.jsonl)


if __name__ == "__main__":
    sys.exit(main())
