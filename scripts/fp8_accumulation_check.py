"""How much slower is a Hopper FP8 GEMM with the split (promoted) accumulator than with fast
accumulation? A kernel-level estimate from the two GEMM sources on file, which time the two modes
(docs/notes/issue-18.md, Round stop-23 issue-23ta). Nothing here is fitted or wired into the model.

Which mode each source times (read in their code):
  microbenchmarks (the shipped calibration, data/calibration/fitted.yaml): stas00/ml-engineering
      mamf-finder.py and this project's scripts/measure_gpu_kernels.py call
      `torch._scaled_mm(A, B, scale_a, scale_b, ...)` without `use_fast_accum`, whose default is False
      (aten native_functions.yaml `_scaled_mm(..., bool use_fast_accum=False)`; CUDABlas.cpp
      `fastAccuMode = use_fast_accum ? 1 : 0` -> CUBLASLT_MATMUL_DESC_FAST_ACCUM 0): SPLIT accumulator.
  kernel database (aiconfigurator-core gemm_perf): collector/trtllm/collect_gemm.py times TensorRT-LLM
      `Linear` with QuantAlgo.FP8, whose FP8QDQLinearMethod.apply calls torch.ops.trtllm.cublas_scaled_mm
      -> cublas_gemm_caller(..., fast_acc=true) (cpp/tensorrt_llm/thop/cublasScaledMM.cpp): FAST accumulation.

The promotion exists only where the FP8 tensor-core accumulator is narrower than FP32 (Hopper
WGMMA; cuBLAS: the flag acts on Ada and Hopper); Blackwell's tcgen05 MMA accumulates FP32 in tensor
memory, so on Blackwell the two sources differ by everything EXCEPT the accumulation mode. Hence a
difference in differences, each source normalised by its own BF16 GEMMs (same machine, clocks,
library):
  R(chip) = [eff(fp8)/eff(bf16) in the microbenchmarks] / [eff(fp8)/eff(bf16) in the kernel database]
  split-accumulator slowdown on Hopper ~ mean R(Blackwell) / R(Hopper chip)
The eff ratios come from data/calibration/format_rate_law.yaml (scripts/fit_format_efficiency.py:
database median over shapes with m, n, k >= 4096, FP8 quantize kernel taken off; microbenchmark rows:
fitted.yaml best-shape efficiencies). Second table (needs tapeout[kernels]): the same with the
database's BEST shape per format instead of its median, closer to the microbenchmarks' best-shape search.

    python scripts/fp8_accumulation_check.py
"""
from __future__ import annotations

import numpy as np
import yaml

from tapeout.formats import data_file
from tapeout.hardware.catalog import get_chip

MIN_DIM = 4096  # compute-bound shapes only, as scripts/fit_format_efficiency.py


def double_ratios(micro: dict[str, float], db: dict[str, float]) -> dict[str, float]:
    """R per chip measured in both sources: micro fp8/bf16 ratio over the database's."""
    return {c: micro[c] / db[c] for c in sorted(set(micro) & set(db)) if db[c] > 0}


def split_slowdown(r: dict[str, float], family: dict[str, str], promoted=("nvidia-hopper",),
                   control=("nvidia-blackwell",)) -> dict[str, float]:
    """Per chip of a promoting family: mean R of the control family's chips / the chip's R (> 1:
    the split-accumulator GEMM is that much slower than the fast-accumulation one)."""
    ref = [v for c, v in r.items() if family[c] in control]
    if not ref:
        return {}
    return {c: float(np.mean(ref)) / v for c, v in r.items() if family[c] in promoted}


def _from_rate_law() -> tuple[dict, dict]:
    law = yaml.safe_load(data_file("calibration", "format_rate_law.yaml").read_text())
    db = {c: float(p["ratio"]) for c, p in law["pairs"].items() if p["format"] == "fp8"}
    micro = {k.split()[0]: float(v["measured"]) for k, v in law["check"]["microbenchmark"]["rows"].items()}
    return micro, db


def _db_best() -> dict:
    """Database eff(fp8)/eff(bf16) from each format's best shape (m, n, k >= MIN_DIM), FP8 quantize
    kernel taken off as in scripts/fit_format_efficiency.py."""
    from tapeout.ops import OpTable
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.kernels_db import read_kernels
    from tapeout.perf.opcost import evaluate
    from tapeout.workloads.llm import quantize_ops

    c = read_kernels(ops=("gemm",), per_group=None).cols
    g = (c["m"] >= MIN_DIM) & (c["n"] >= MIN_DIM) & (c["k"] >= MIN_DIM)
    out = {}
    for chip in sorted(set(c["chip"][g])):
        ch = get_chip(chip)
        if min(ch.peak_tflops("fp8"), ch.peak_tflops("bf16")) <= 0:
            continue
        best = {}
        for fmt in ("bf16", "fp8"):
            s = g & (c["chip"] == chip) & (c["fmt"] == fmt)
            if not s.any():
                break
            m, n, k = (np.asarray(c[x][s], dtype=float) for x in ("m", "n", "k"))
            t = np.asarray(c["latency_s"][s], dtype=float)
            if fmt == "fp8":
                ops = [q for a, d in zip(m, k) for q in quantize_ops("q", float(a * d), 1, fmt, True)]
                t = t - np.asarray(evaluate(OpTable.from_ops(ops), calibrated_params(ch)).time, dtype=float)
            ok = t > 0
            best[fmt] = float(np.max(2.0 * m[ok] * n[ok] * k[ok] / t[ok])) / (ch.peak_tflops(fmt) * 1e12)
        if len(best) == 2:
            out[chip] = best["fp8"] / best["bf16"]
    return out


def _table(title: str, micro: dict, db: dict) -> None:
    r = double_ratios(micro, db)
    fam = {c: get_chip(c).family for c in r}
    slow = split_slowdown(r, fam)
    print(title)
    print("chip       family             micro fp8/bf16  DB fp8/bf16      R   split slowdown (vs Blackwell R)")
    for c in r:
        s = f"{slow[c]:.3f}" if c in slow else "-"
        print(f"{c:10s} {fam[c]:18s} {micro[c]:10.4f}  {db[c]:11.4f}  {r[c]:6.3f}   {s}")
    print()


def main() -> None:
    micro, db = _from_rate_law()
    _table("database median over shapes (format_rate_law.yaml) vs microbenchmark best shape", micro, db)
    try:
        best = _db_best()
    except Exception as e:  # the kernel database is an optional extra
        print(f"(database best-shape table skipped: {e})")
        return
    _table("database best shape vs microbenchmark best shape", micro, best)


if __name__ == "__main__":
    main()
