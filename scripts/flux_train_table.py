"""Predictions of MLPerf Training flux1 (issue 18, stop-31): step time, samples/s, MFU and time to train on
H100 / B200 / MI300X at 8 and 64 chips at the definition's batch (the newest ruleset's smallest RCP batch).
MFU: 3 x the forward's model FLOPs (GEMMs + attention, no recompute) per sample x samples/s over the chips'
dense BF16 peak. Predictions only: end_to_end.csv holds no Flux rows.  Usage: python scripts/flux_train_table.py"""

from __future__ import annotations

from tapeout import api
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.validation.other_rows import training_graphs


def model_flops_per_sample() -> float:
    g, _, _ = training_graphs("flux1", 1)
    return 3.0 * sum(o.flops * o.count for o in g.ops if o.kind in ("matmul", "attention"))


def main() -> None:
    f = model_flops_per_sample()
    print(f"model FLOPs per training sample (3 x forward): {f / 1e12:.2f} TFLOP")
    print("| chip | chips | global batch | step (s) | samples/s | MFU | recompute (s) | exposed sync (s) | eval (min) | time to train (min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for chip in ("h100-sxm", "b200", "mi300x"):
        peak = float(calibrated_params(get_chip(chip)).peak("bf16"))
        for n in (8, 64):
            r = api.train_benchmark("flux1", chip, n)
            b = r.breakdown
            exposed = max(0.0, r.step_time_s - b["fwd_s"] - b["bwd_s"] - b["recompute_s"] - b["once_s"])
            mfu = f * r.samples_per_s / (n * peak)
            print(f"| {chip} | {n} | {r.global_batch} | {r.step_time_s:.3f} | {r.samples_per_s:,.0f} | {mfu:.1%} | "
                  f"{b['recompute_s']:.3f} | {exposed:.3f} | {b['eval_min']:.1f} | {r.time_to_train_min:,.1f} |")


if __name__ == "__main__":
    main()
