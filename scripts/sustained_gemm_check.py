"""Does a measured GEMM run slower when the tensor cores stay busy longer? (docs/notes/issue-15.md,
Round stop-19 issue-19sg: the clock a long run sustains vs the clock the kernels were measured at.)

The aiconfigurator collector (ai-dynamo/aiconfigurator collector/helper.py benchmark_with_power,
collector/trtllm/collect_gemm.py) times each GEMM in one short burst: 3 eager warm-ups, 3 CUDA-graph
warm-ups and 6 timed replays of the graph, each replay running `copies` GEMMs (copies =
clamp(ceil(L2 / weight bytes), 1, 5)), after host-side set-up of the case (module build, weight
creation). So the tensor cores are busy for about 12 x copies x latency at a time: 3 ms for a 0.25 ms
GEMM, 300 ms for a 25 ms one. A board power limit acts through a controller with a finite response
time and the die's temperature (leakage) follows with a thermal time constant; a GEMM whose burst is
long enough to meet either runs at a lower clock than one that is over before it.

This compares, per chip and format, GEMMs of the SAME weight shape (n, k) that differ only in tokens m
(so in burst length): median rate of the long-burst GEMMs / median rate of the short-burst ones. Only
weights larger than L2 (copies = 1, burst = 12 x latency) and n, k >= 4096 (compute-bound tiles).
Kernel-level only; nothing here is fitted or wired into the model.

Second table (no extra needed): the sustained best-shape rates on file (MSMF rows of
data/measured/microbenchmarks.csv, mamf-finder v4: the board saturated at its power limit) against
their own burst pair (MAMF v4, from the row's notes) and against the best-shape rows the chip's
shipped GEMM calibration is fitted on (fitted.yaml sources), chip and format alike.

    python scripts/sustained_gemm_check.py            # DB table needs tapeout[kernels] (aiconfigurator-core)
"""
from __future__ import annotations

import numpy as np

BURST_KERNELS = 12  # 3 eager + 3 graph warm-ups + 6 timed replays (collector/helper.py)
SHORT_S = (0.006, 0.036)  # bursts of 6-36 ms: 0.5-3 ms kernels
LONG_S = 0.12  # bursts >= 120 ms: kernels >= 10 ms
BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}


def same_shape_ratios(n, k, rate, burst_s, short=SHORT_S, long=LONG_S, min_points=2) -> list[float]:
    """Per weight shape (n, k) with >= min_points GEMMs in each band: median rate of the long-burst
    GEMMs / median rate of the short-burst ones. Arrays are aligned, one entry per measured GEMM."""
    n, k, rate, burst_s = (np.asarray(a, dtype=float) for a in (n, k, rate, burst_s))
    out = []
    for nk in sorted(set(zip(n.tolist(), k.tolist()))):
        g = (n == nk[0]) & (k == nk[1])
        s = rate[g & (burst_s >= short[0]) & (burst_s < short[1])]
        lo = rate[g & (burst_s >= long)]
        if len(s) >= min_points and len(lo) >= min_points:
            out.append(float(np.median(lo) / np.median(s)))
    return out


def msmf_table() -> None:
    """Sustained (MSMF) rows vs their burst pair and vs the calibration's best-shape rows."""
    import re

    from tapeout.hardware.catalog import get_chip
    from tapeout.ops import MatMul, OpTable
    from tapeout.perf.calibration import calibrated_params, load_fitted
    from tapeout.perf.fit.rows import chip_key, gemm_dtype, read_microbenchmarks
    from tapeout.perf.opcost import evaluate

    rows = read_microbenchmarks()
    fitted = load_fitted()["chips"]
    print("chip       fmt   MSMF TF  burst MAMF v4  MSMF/MAMF  calibration rows (best TF)       MSMF/calibration"
          "  model TF at MSMF shape  model/MSMF")
    for r in rows:
        if "MSMF" not in r["metric"]:
            continue
        cid, fmt = chip_key(r["accelerator"])[0], gemm_dtype(r["precision"])
        msmf = float(r["value"])
        pair = re.search(r"pair MAMF ([\d.]+)", r["notes"])
        mamf = float(pair.group(1)) if pair else float("nan")
        src = set(fitted.get(cid, {}).get("sources", []))
        cal = [(c["id"], float(c["value"])) for c in rows if c["id"] in src and "max achievable" in c["workload"]
               and gemm_dtype(c["precision"]) == fmt]
        best = max((v for _, v in cal), default=float("nan"))
        m, n, k = map(int, re.search(r"shape (\d+)x(\d+)x(\d+)", r["model_config"]).groups())
        op = OpTable.from_ops([MatMul(name="msmf", m=m, n=n, k=k, a_dtype=fmt, w_dtype=fmt, out_dtype="bf16",
                                      math_dtype=fmt)])
        t = float(np.asarray(evaluate(op, calibrated_params(get_chip(cid)), check_support=False).time).ravel()[0])
        model = 2.0 * m * n * k / t / 1e12
        print(f"{cid:10s} {fmt:5s} {msmf:7.0f}  {mamf:9.0f}      {msmf / mamf:6.3f}     "
              f"{', '.join(i for i, _ in cal) or '-':24s} {best:6.0f}   {msmf / best:6.3f}"
              f"            {model:7.0f}            {model / msmf:6.3f}")


def main() -> None:
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.kernels_db import read_kernels

    msmf_table()
    print()

    kern = read_kernels(ops=("gemm",), per_group=None)
    c = kern.cols
    print("chip       fmt   TDP W  (n,k) groups  long/short median  [IQR]      short-burst median TF  long-burst median TF")
    for chip in sorted(set(c["chip"])):
        l2 = get_chip(chip).get("onchip_sram_mb") or 50.0
        for fmt in ("bf16", "fp8"):
            sel = (c["chip"] == chip) & (c["fmt"] == fmt) & (c["n"] >= 4096) & (c["k"] >= 4096) & (c["m"] >= 1024)
            sel &= c["n"] * c["k"] * BYTES[fmt] >= l2 * 1e6
            if not sel.any():
                continue
            m, n, k, lat = (np.asarray(c[x][sel], dtype=float) for x in ("m", "n", "k", "latency_s"))
            rate, burst = 2 * m * n * k / lat / 1e12, BURST_KERNELS * lat
            r = same_shape_ratios(n, k, rate, burst)
            if not r:
                continue
            s_tf = np.median(rate[(burst >= SHORT_S[0]) & (burst < SHORT_S[1])])
            l_tf = np.median(rate[burst >= LONG_S])
            print(f"{chip:10s} {fmt:5s} {get_chip(chip).get('tdp_w') or 0:6.0f} {len(r):6d}        "
                  f"{np.median(r):6.3f}       [{np.quantile(r, .25):.3f}, {np.quantile(r, .75):.3f}]   "
                  f"{s_tf:8.0f}              {l_tf:8.0f}")
    print(f"\nkernel database {kern.package_version}; short bursts {SHORT_S[0] * 1e3:.0f}-{SHORT_S[1] * 1e3:.0f} ms, "
          f"long >= {LONG_S * 1e3:.0f} ms (12 x kernel latency)")


if __name__ == "__main__":
    main()
