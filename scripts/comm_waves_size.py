"""The step of the rows' own runs with the overlapped collective's CTAs priced by waves (perf/comm_waves.py).

For each row (validation/train_rows.map_row's train call; no measured value is read): the step at
comm_ctas 0 and at the stack's own cap (and 16 / 24 / 32, what an uncapped NCCL could take), with per-tile
GEMM grids (the point) and persistent GEMM grids (the interval's one-sided term), and the forward /
backward shares lost while the DP collectives run.

Usage: PYTHONPATH=src python scripts/comm_waves_size.py [ROW_ID ...]
"""

from __future__ import annotations

import sys

from tapeout.perf import training as T
from tapeout.validation.harness import default_data, read_rows

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from comm_contention_size import captured_call  # noqa: E402

ROWS = ("TRN-v3.1-0104", "TRN-v3.1-0096", "TRN-v3.1-0095", "TRN-v4.0-0074", "TRN-v3.0-0189")


def size(row: dict) -> None:
    a, k = captured_call(row)
    own = k.get("comm_ctas", 0)
    base = None
    print(f"{row['id']}: stack comm_ctas {own}")
    for ctas in sorted({0, own, 16, 24, 32}):
        r = T.train(*a, **{**k, "comm_ctas": ctas})
        base = base or r.step_time_s
        ws = r.breakdown["comm_wave_share"]
        hi = [n for n in r.notes if "persistent grids" in n]
        print(f"  {ctas:>2} CTAs  {r.parallelism:<40} step {r.step_time_s:8.4f} s ({r.step_time_s / base - 1:+6.2%})  "
              f"share fwd {ws['forward']:.3f} bwd {ws['backward']:.3f}  t_dp {r.breakdown['t_dp']:.3f} exposed "
              f"{r.breakdown['exposed_dp']:.3f}  interval {r.interval_80[0]:.3f}-{r.interval_80[1]:.3f}"
              + (f"  [{hi[0].split('the step is ')[1].split(',')[0]}]" if hi else ""))


def main(ids) -> None:
    rows = {r["id"]: r for r in read_rows(default_data())}
    for i in ids or ROWS:
        size(rows[i])


if __name__ == "__main__":
    main(sys.argv[1:])
