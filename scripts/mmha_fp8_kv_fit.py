"""Size the vector work of TensorRT-LLM's masked-MHA generation kernel over an FP8 KV cache.

    python scripts/mmha_fp8_kv_fit.py [--fit-chip h200]

Reads AIConfigurator's measured generation-attention kernels (aiconfigurator-core, stack trtllm;
tapeout[kernels]) of vanilla MHA (query heads = KV heads: the masked-MHA kernel, XQA excludes it)
with an FP8 cache, in the streaming regime (batch x KV tokens x KV heads >= 2^21), times each as one
serving attention op of the default model (perf/opcost.py, the chip's shipped calibration) and scans
ChipParams.attn_gen_vflops_per_kv_byte / _per_score for the least median |log(model / measured)| on
`--fit-chip` (the chip whose DRAM outruns the kernel: H200). Prints the values that go into
data/calibration/kernel_structure.yaml (mmha_fp8_kv_vflops_*) and the error of every database chip
at them and at 0 (the other chips are held out of the scan). Kernel microbenchmarks only.
"""

from __future__ import annotations

import argparse

import duckdb
import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import db_config, installed_root
from tapeout.perf.opcost import K_ATTN, evaluate

SYSTEMS = {"h200": "h200_sxm", "h100-sxm": "h100_sxm", "l40s": "l40s"}
MIN_STREAM = 2 ** 21  # batch x KV tokens x KV heads: every core busy, fixed costs < 5% of the op


def kernels(system: str) -> np.ndarray:
    """(batch, kv_len, heads, head_dim, latency_s) of the MHA FP8-cache generation kernels."""
    root, _ = installed_root()
    d = root / system / "attention" / db_config()["default_stack"]
    f = sorted(d.glob("*/generation_attention_perf.parquet"))[-1]
    q = (f"SELECT batch_size, isl + step, num_key_value_heads, head_dim, latency * 1e-3 FROM read_parquet('{f}') "
         f"WHERE num_heads = num_key_value_heads AND kv_cache_dtype = 'fp8' AND beam_width = 1 AND window_size = 0 "
         f"AND head_dim IN (64, 128, 256) AND batch_size * (isl + step) * num_key_value_heads >= {MIN_STREAM}")
    return np.array(duckdb.sql(q).fetchall(), dtype=float)


def model_times(rows: np.ndarray, p) -> np.ndarray:
    ops = [Attention(name=f"a{i}", batch=int(b), q_len=1, kv_len=int(kv), heads=int(h), kv_heads=int(h), d_qk=int(d),
                     d_v=int(d), act_dtype="bf16", kv_dtype="fp8", math_dtype="bf16", kv_cache=True)
           for i, (b, kv, h, d, _) in enumerate(rows)]
    ct = evaluate(OpGraph("mmha", ops), p)
    assert np.all(ct.table.kind == K_ATTN)
    return np.asarray(ct.time, dtype=float)


def log_err(rows, p, per_byte, per_score) -> np.ndarray:
    return np.log(model_times(rows, p.replace(attn_gen_vflops_per_kv_byte=per_byte,
                                              attn_gen_vflops_per_score=per_score)) / rows[:, 4])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit-chip", default="h200")
    a = ap.parse_args()
    data = {c: (kernels(s), calibrated_params(get_chip(c))) for c, s in SYSTEMS.items()}
    rows, p = data[a.fit_chip]
    grid = [(b, s) for b in np.arange(0.0, 16.01, 0.25) for s in np.arange(0.0, 2001.0, 50.0)]
    score = [float(np.median(np.abs(log_err(rows, p, b, s)))) for b, s in grid]
    best = grid[int(np.argmin(score))]
    print(f"fit on {a.fit_chip} ({len(rows)} kernels): per KV byte {best[0]:.2f}, per score {best[1]:.0f} "
          f"FP32-FLOP equivalents")
    for c, (r, q) in data.items():
        for vals in ((0.0, 0.0), best):
            e = np.expm1(log_err(r, q, *vals))
            by_d = " ".join(f"d{int(d)} {np.median(e[r[:, 3] == d]) * 100:+.1f}%" for d in np.unique(r[:, 3]))
            print(f"  {c:9s} at {vals[0]:5.2f} / {vals[1]:4.0f}: n {len(r)}, median |err| {np.median(np.abs(e)) * 100:.1f}%, "
                  f"signed {np.median(e) * 100:+.1f}% ({by_d})")


if __name__ == "__main__":
    main()
