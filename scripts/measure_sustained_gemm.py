#!/usr/bin/env python3
"""Sustained vs burst GEMM rate and SM clock on one NVIDIA GPU at its default power limit
(docs/notes/issue-15.md, Round stop-19 issue-19sg). Not yet run: no GPU was lent to that task.

What the calibration cannot tell: every GEMM microbenchmark on file (MAMF rows, the aiconfigurator
database, scripts/measure_gpu_kernels.py) times bursts of milliseconds to a fraction of a second;
an MLPerf run keeps the tensor cores busy for 10 minutes (serving) to hours (training). This runs one
compute-bound GEMM (random N(0,1) data: zeros draw less power) back to back for --minutes after a
5 s rest, timing windows of ~0.25 s with CUDA events and sampling nvidia-smi once a second
(SM clock, board power, temperature, throttle reasons). The answer is rate(t) / rate(first window)
and clock(t) / clock(first window) at 1, 5 and 10 minutes: the sustained ratio at the chip's power
limit, for the clock setting the run uses (record `nvidia-smi boost-slider -l` and -q -d CLOCK).

    python scripts/measure_sustained_gemm.py --fmt fp8 --n 8192 --minutes 10 --out DIR   # on the GPU
"""
from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from pathlib import Path

SMI_FIELDS = ("clocks.sm", "power.draw", "temperature.gpu", "clocks_event_reasons.sw_power_cap",
              "clocks_event_reasons.sw_thermal_slowdown", "clocks_event_reasons.hw_slowdown")
MARKS_S = (0.0, 60.0, 300.0, 600.0)


def summarise(windows: list[dict], marks=MARKS_S, span_s: float = 10.0) -> list[dict]:
    """Mean rate and clock over [mark, mark + span) for each mark inside the run, and each as a
    fraction of the first mark's (the burst). windows: dicts with t_s, tflops, sm_mhz (or None)."""
    out = []
    for mk in marks:
        w = [x for x in windows if mk <= x["t_s"] < mk + span_s]
        if not w:
            continue
        clk = [x["sm_mhz"] for x in w if x.get("sm_mhz")]
        out.append({"t_s": mk, "tflops": sum(x["tflops"] for x in w) / len(w),
                    "sm_mhz": sum(clk) / len(clk) if clk else None})
    if out:
        r0, c0 = out[0]["tflops"], out[0]["sm_mhz"]
        for o in out:
            o["rate_vs_burst"] = o["tflops"] / r0
            o["clock_vs_burst"] = o["sm_mhz"] / c0 if c0 and o["sm_mhz"] else None
    return out


def _smi_sampler(samples: list, stop: threading.Event, t0: float) -> None:
    while not stop.is_set():
        r = subprocess.run(["nvidia-smi", "-i", "0", f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True)
        samples.append({"t_s": time.time() - t0, **dict(zip(SMI_FIELDS, (v.strip() for v in r.stdout.split(","))))})
        stop.wait(1.0)


def measure(fmt: str, n: int, minutes: float) -> tuple[list[dict], list[dict]]:
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    if fmt == "fp8":
        one = torch.ones((), device="cuda")
        a, w = a.to(torch.float8_e4m3fn), w.to(torch.float8_e4m3fn)
        gemm = lambda: torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)  # noqa: E731
    else:
        gemm = lambda: a @ w.t()  # noqa: E731
    gemm()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    gemm()
    end.record()
    end.synchronize()
    per = max(1, int(0.25 / (start.elapsed_time(end) * 1e-3)))  # GEMMs per ~0.25 s window
    time.sleep(5.0)  # rest: the first window is a burst on a cool, idle die
    samples, stop, t0 = [], threading.Event(), time.time()
    th = threading.Thread(target=_smi_sampler, args=(samples, stop, t0), daemon=True)
    th.start()
    windows = []
    while time.time() - t0 < minutes * 60:
        start.record()
        for _ in range(per):
            gemm()
        end.record()
        end.synchronize()
        t = time.time() - t0
        clk = [float(s["clocks.sm"]) for s in samples[-2:] if s.get("clocks.sm", "").replace(".", "").isdigit()]
        windows.append({"t_s": t, "tflops": 2 * n**3 * per / (start.elapsed_time(end) * 1e-3) / 1e12,
                        "sm_mhz": clk[-1] if clk else None})
    stop.set()
    th.join()
    return windows, samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fmt", choices=("bf16", "fp8"), default="fp8")
    p.add_argument("--n", type=int, default=8192, help="square GEMM size (compute-bound)")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    windows, samples = measure(args.fmt, args.n, args.minutes)
    env = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,power.limit,clocks.max.sm,clocks.applications.graphics",
                          "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    boost = subprocess.run(["nvidia-smi", "boost-slider", "-l"], capture_output=True, text=True).stdout.strip()
    summary = summarise(windows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sustained_gemm.json").write_text(json.dumps(
        {"fmt": args.fmt, "n": args.n, "env": env, "boost_slider": boost, "summary": summary,
         "windows": windows, "smi": samples}, indent=1))
    for s in summary:
        print(f"t {s['t_s']:5.0f} s  {s['tflops']:7.1f} TFLOP/s  rate/burst {s['rate_vs_burst']:.3f}  "
              f"clock {s['sm_mhz'] or float('nan'):6.0f} MHz  clock/burst {s['clock_vs_burst'] or float('nan'):.3f}")


if __name__ == "__main__":
    main()
