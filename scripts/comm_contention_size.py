"""How much the collectives a training step overlaps slow the compute beside them, at the rows' own runs.

Two terms (perf/comm_contention.py; docs/notes/issue-18.md, Round stop-25 issue-25cc):
  cores: the DP / CP collective's NCCL CTAs, one SM each, for the collective's duration (the model's share
         rule; a stack's MEGATRON_CORE_DP_MAX_CTAS wires comm_ctas). Printed: the step at 0, the NCCL
         floor the stack sets (NCCL_MIN_NCHANNELS=4), its cap (8), and 16 / 32 (NCCL's ceiling of
         32 channels: what an uncapped stack could take).
  HBM:   the collective's bytes through HBM (hbm_busy_time: 5 HBM bytes per byte received over the
         network, 3 over NVLink). Not charged in the step; sized two ways:
         ceiling   all the HBM time the DP bytes occupy, as if every overlapped kernel were memory-bound;
         estimate the step's growth when HBM runs at (1 - h) of its bandwidth, h = the collective's
                   HBM busy time / its duration, for the share t_dp / step of the step the DP
                   collectives run (the model's own memory-bound time decides how much of that shows).
Also printed: one micro-batch's forward + backward compute (F + B) on S - k cores against S (perf/opcost's
waves and stream-K over the cores the collective leaves: what a non-persistent kernel's CTAs see), next to
the linear rule's k / (S - k). A persistent kernel launched for S cores is not covered (its displaced CTAs
run as a second wave: docs/notes/issue-18.md, Round stop-25 issue-25cc).
The row's own run (its stack, pinned layout, settings) comes from validation/train_rows.map_row; no
measured value is read or used.

Usage: PYTHONPATH=src python scripts/comm_contention_size.py [ROW_ID ...]
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from tapeout.perf import training as T
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.comm_contention import hbm_busy_time
from tapeout.hardware.catalog import get_chip
from tapeout.validation.harness import default_data, read_rows
from tapeout.validation.train_rows import map_row

ROWS = ("TRN-v3.1-0104", "TRN-v3.1-0096", "TRN-v3.1-0095", "TRN-v4.0-0074")
GRAD_BYTES = {"fp32": 4.0, "bf16": 2.0}


def captured_call(row: dict) -> tuple:
    """(args, kwargs) of the train call map_row makes for the row."""
    seen = {}
    real = T.train

    def spy(*a, **k):
        seen["call"] = (a, dict(k))
        return real(*a, **k)
    T.train = spy
    try:
        map_row(row)
    finally:
        T.train = real
    return seen["call"]


def size(row: dict) -> None:
    a, k = captured_call(row)
    chip = get_chip(a[1])
    k.pop("comm_ctas", None)
    base_k = dict(k)
    steps = {n: T.train(*a, comm_ctas=n, **base_k) for n in (0, 4, 8, 16, 32)}
    r0 = steps[0]
    b = r0.breakdown
    # DP bytes one GPU receives per step: the gradient reduce-scatter at the stack's grad dtype and the
    # BF16 parameter all-gather (ZeRO-1), ring: (n - 1)/n of the local shard's source each (about all of it)
    grad = GRAD_BYTES.get(base_k.get("grad_sync", "fp32"), 4.0)
    wire = b["params_dense"] * (grad + 2.0)
    p = calibrated_params(chip)
    hbm_bw = float(np.max(p.mem_bw))
    busy = float(hbm_busy_time(wire, hbm_bw, "network"))
    h = min(0.9, busy / max(b["t_dp"], 1e-12))
    slow = dataclasses.replace(p, mem_bw=p.mem_bw * (1.0 - h))
    r_slow = T.train(*a, params=slow, comm_ctas=0, **{x: v for x, v in base_k.items() if x != "params"})
    est = (r_slow.step_time_s - r0.step_time_s) * min(1.0, b["t_dp"] / r0.step_time_s)
    # the per-micro-batch compute on S - k cores (perf/opcost's waves and stream-K over the free cores: a
    # non-persistent kernel's CTAs fill the SMs the collective leaves), vs the linear share k / S
    S = float(np.max(p.num_cores))
    waves = {}
    for n in (8, 16):
        few = dataclasses.replace(p, num_cores=p.num_cores - n)
        rf = T.train(*a, params=few, comm_ctas=0, **{x: v for x, v in base_k.items() if x != "params"})
        waves[n] = ((rf.breakdown["F"] + rf.breakdown["B"]) / (b["F"] + b["B"]) - 1.0, n / (S - n))
    s0 = r0.step_time_s
    print(f"{row['id']} {chip.id} x{row['n_accelerators']} {r0.parallelism}: step {s0:.4f} s, t_dp {b['t_dp']:.3f} s, "
          f"exposed DP {b['exposed_dp']:.4f} s")
    print("  cores: " + ", ".join(f"{n} CTAs {steps[n].step_time_s / s0 - 1:+.2%}" for n in (4, 8, 16, 32))
          + f" ({chip.id}: {float(np.max(p.num_cores)):.0f} cores)")
    print(f"  HBM: {wire / 1e9:.1f} GB received per step -> {busy * 1e3:.1f} ms of HBM at {hbm_bw / 1e12:.2f} TB/s "
          f"(h = {h:.1%} of HBM while DP runs); ceiling {busy / s0:+.2%}, estimate {est / s0:+.2%} of the step")
    print("  compute F + B on S - k cores vs S (linear k / (S - k)): "
          + ", ".join(f"k {n}: {w:+.2%} ({lin:+.2%})" for n, (w, lin) in waves.items()))


def main(ids) -> None:
    rows = {r["id"]: r for r in read_rows(default_data())}
    for i in ids:
        size(rows[i])


if __name__ == "__main__":
    main(sys.argv[1:] or ROWS)
