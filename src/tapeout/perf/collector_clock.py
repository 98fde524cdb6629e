"""The clock a kernel of the database's GEMM collector was timed at: boost, or capped by the board's power.

AIConfigurator's GEMM collector times each shape in one short burst (ai-dynamo/aiconfigurator
collector/trtllm/collect_gemm.py `run_gemm`: one dry-run `forward` per weight copy, then
collector/helper.py `benchmark_with_power` at its defaults, COLLECTOR_MEASURE_POWER unset: 3 warm-up
calls, CUDA-graph capture, 3 warm-up replays, 6 timed replays; each call runs every weight copy,
perf/kernel_replay.py). Between shapes the host builds the next weights (the GPU idles). A board
reaches its power cap only after a sustained load: the burst of a short kernel ends before it does,
so the kernel is timed at the boost clock, like mamf-finder's pair MAMF (a burst after an idle gap:
H200 850 TFLOPS BF16 at 1980 MHz and ~160 W, data/calibration/power_cap_msmf.yaml), not at the
sustained clock of MSMF (755 TFLOPS at ~688 W). The database says so itself: its fastest BF16 / FP8
GEMMs on H200 run at 861 / 1534 TFLOPS (above the MSMF 755 / 1354, at the pair MAMF 850 / 1525), its
kernels of 20 ms and more at <= 723 / 1350 (docs/notes/issue-24.md, Round stop-33, issue-33db).

Model: the clock stays at boost for the first `response_s` seconds of the burst and is capped after;
a kernel's time is its boost time plus the capped fraction of its timed window times the cap's extra
time (perf/power_cap.py capped_time). A serving run, minutes at full load, is all capped
(kernel_calibration.chip_entry).
"""

from __future__ import annotations

import numpy as np

from .kernels_db import db_config


def capped_fraction(latency_s, copies) -> np.ndarray:
    """Per measured GEMM (its reported time per call `latency_s`, the collector's weight `copies`): the
    fraction of its timed replays past the power controller's response (kernels_db.yaml collector_timing),
    in [0, 1]: 0 a burst at boost throughout, 1 timed at the capped clock throughout."""
    cfg = db_config()["collector_timing"]
    call = np.asarray(latency_s, dtype=float) * np.asarray(copies, dtype=float)  # one replay runs every copy
    before, timed = float(cfg["calls_before_timing"]), float(cfg["timed_calls"])
    end = (before + timed) * call  # busy seconds from the burst's start to the end of its timed window
    return np.clip((end - float(cfg["power_response_s"])) / np.maximum(timed * call, 1e-30), 0.0, 1.0)
