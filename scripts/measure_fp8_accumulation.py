#!/usr/bin/env python3
"""FP8 GEMM time with the split (promoted) accumulator vs fast accumulation, same shapes, same GPU
(docs/notes/issue-18.md, Round stop-23 issue-23ta). Not yet run: no GPU was lent to that task.

Transformer Engine runs the forward GEMM of its FP8 Linear layers with fast accumulation and the
dgrad / wgrad GEMMs with the split accumulator (module/base.py `_2X_ACC_FPROP = False`,
`_2X_ACC_DGRAD = _2X_ACC_WGRAD = True`, passed as `use_split_accumulator`; common/gemm/cublaslt_gemm.cu
sets CUBLASLT_MATMUL_DESC_FAST_ACCUM = !use_split_accumulator). torch._scaled_mm exposes the same
cuBLASLt flag as `use_fast_accum`. This times both settings at the shapes of the training rows'
linear layers (M = tokens per micro-batch, forward / dgrad / wgrad shapes of each layer at the
stack's TP), each pair interleaved (ABAB...) so clocks and temperature affect both alike, and
writes per-shape median times and their ratio split / fast. On Hopper (and Ada) the ratio is the
promotion cost; on Blackwell the flag should change nothing (a control).

    python scripts/measure_fp8_accumulation.py --out DIR       # on the GPU, ~2 min
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

# (name, M, N, K): GPT-3 175B (h 12288, ffn 49152) at TP 4 and Llama-2-70B (h 8192, ffn 28672, GQA 8
# KV heads) at TP 4, 2048 / 8192 tokens per micro-batch; forward (M tokens x N out x K in), dgrad
# (M x K x N) and wgrad (K x N x M, the reduction over tokens) of each linear layer
def training_shapes() -> list[tuple[str, int, int, int]]:
    layers = {"gpt3_tp4": (2048, [("qkv", 3 * 12288 // 4, 12288), ("proj", 12288, 12288 // 4),
                                  ("fc1", 49152 // 4, 12288), ("fc2", 12288, 49152 // 4)]),
              "llama70b_tp4": (8192, [("qkv", (8192 + 2 * 1024) // 4, 8192), ("o", 8192, 8192 // 4),
                                      ("gate_up", 2 * 28672 // 4, 8192), ("down", 8192, 28672 // 4)])}
    out = []
    for model, (m, gemms) in layers.items():
        for g, n, k in gemms:
            out += [(f"{model}.{g}.fprop", m, n, k), (f"{model}.{g}.dgrad", m, k, n), (f"{model}.{g}.wgrad", k, n, m)]
    return out


def ratio_summary(rows: list[dict]) -> dict:
    """Median over shapes of split / fast, per GEMM pass (fprop, dgrad, wgrad) and overall."""
    import statistics

    by = {}
    for r in rows:
        by.setdefault(r["name"].rsplit(".", 1)[1], []).append(r["split_over_fast"])
    out = {p: statistics.median(v) for p, v in sorted(by.items())}
    out["all"] = statistics.median([r["split_over_fast"] for r in rows])
    return out


def measure(reps: int = 20) -> list[dict]:
    import torch

    one = torch.ones((), device="cuda", dtype=torch.float32)
    rows = []
    for name, m, n, k in training_shapes():
        a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn)
        t = {True: [], False: []}
        for fast in (True, False):  # warm-up both kernels
            for _ in range(3):
                torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=fast)
        for _ in range(reps):
            for fast in (True, False):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=fast)
                e.record()
                torch.cuda.synchronize()
                t[fast].append(s.elapsed_time(e) * 1e-3)
        fast_s, split_s = sorted(t[True])[reps // 2], sorted(t[False])[reps // 2]
        rows.append({"name": name, "m": m, "n": n, "k": k, "fast_s": fast_s, "split_s": split_s,
                     "split_over_fast": split_s / fast_s, "fast_tflops": 2.0 * m * n * k / fast_s / 1e12})
        del a, b
    return rows


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    rows = measure(args.reps)
    res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
           "rows": rows, "median_split_over_fast": ratio_summary(rows)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fp8_accumulation.json").write_text(json.dumps(res, indent=1))
    for r in rows:
        print(f"{r['name']:28s} {r['m']:6d} {r['n']:6d} {r['k']:6d}  fast {r['fast_tflops']:7.0f} TF  "
              f"split/fast {r['split_over_fast']:.3f}")
    print(res["median_split_over_fast"])


if __name__ == "__main__":
    main()
