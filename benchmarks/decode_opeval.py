"""Op-evaluations per second of the decode-step model: perf.opcost.evaluate on a Llama decode
graph against 1e5 chip variants in one call (target >= 1e6 op-evals/s on one core), and the
check that every sampled variant matches a scalar (one-chip) evaluation.

    python benchmarks/decode_opeval.py [--variants 100000] [--model llama-3.1-70b]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from tapeout.perf.calibration import calibrated_params


def variants(base, n: int, seed: int = 0):
    """n chip variants around `base`: bandwidth, peaks, cores, SRAM and TDP scaled per variant."""
    rng = np.random.default_rng(seed)
    s = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    return base.replace(
        peak_flops=np.asarray(base.peak_flops)[:, None] * s(0.25, 2.0)[None, :],
        mem_bw=base.mem_bw * s(0.25, 2.0),
        mem_capacity=base.mem_capacity * s(0.5, 2.0),
        num_cores=np.round(base.num_cores * s(0.25, 2.0)),
        sram_bytes=base.sram_bytes * s(0.1, 4.0),
        scaleup_bw=base.scaleup_bw * s(0.25, 2.0),
        tdp_w=base.tdp_w * s(0.5, 1.5),
        static_w=base.static_w * s(0.5, 1.5),
    )


def scalar(p, i: int):
    """Variant i as a one-chip ChipParams (scalars)."""
    ch = {}
    for f in ("mem_bw", "mem_capacity", "num_cores", "sram_bytes", "scaleup_bw", "tdp_w", "static_w"):
        ch[f] = float(np.asarray(getattr(p, f))[i])
    ch["peak_flops"] = np.asarray(p.peak_flops)[:, i]
    return p.replace(**ch)


def main(argv=None) -> dict:
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.opcost import evaluate
    from tapeout.workloads.llm import decode_graph
    from tapeout.workloads.llm_config import load_llm

    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=100_000)
    ap.add_argument("--model", default="llama-3.1-70b")
    ap.add_argument("--chip", default="h100-sxm")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tp", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    g = decode_graph(load_llm(a.model), a.batch, 2048, "fp8", tp=a.tp)
    t = g.table
    p = variants(calibrated_params(get_chip(a.chip)), a.variants)
    evaluate(t, variants(calibrated_params(get_chip(a.chip)), 16))  # warm-up
    best = float("inf")
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        c = evaluate(t, p)
        tot = np.asarray(c.total_time)
        best = min(best, time.perf_counter() - t0)
    n_ops = len(t)
    rate = n_ops * a.variants / best
    idx = np.random.default_rng(1).choice(a.variants, 50, replace=False)
    err = max(abs(float(evaluate(t, scalar(p, int(i))).total_time) / tot[i] - 1.0) for i in idx)
    r = {"model": a.model, "ops": n_ops, "variants": a.variants, "seconds": best, "op_evals_per_s": rate,
         "target_met": rate >= 1e6, "max_rel_diff_vs_scalar": err, "scalar_checked": len(idx)}
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"decode step of {a.model} (TP{a.tp}, batch {a.batch}): {n_ops} ops x {a.variants:,} chip variants in "
              f"{best:.3f} s = {rate:,.0f} op-evaluations/s on one core (target >= 1,000,000: "
              f"{'met' if rate >= 1e6 else 'NOT met'}); max relative difference vs scalar evaluation of "
              f"{len(idx)} variants: {err:.1e}")
    return r


if __name__ == "__main__":
    main()
