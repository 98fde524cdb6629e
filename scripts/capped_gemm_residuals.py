"""A chip's own kernel fit against its large GEMMs, split by how much of each GEMM's timed window ran at the power cap.

    python scripts/capped_gemm_residuals.py h100_sxm        # database system name
    python scripts/capped_gemm_residuals.py h100_sxm off    # with silicon_cap.SILICON_CAP_ENERGY off

Needs the kernels extra. Fits kernel_fit on the system's own kernels (300 per op and format), then prices every
measured BF16 / FP8 GEMM with m, n, k >= 2048 and prints predicted / measured (median, n) by the collector's capped
fraction (perf/collector_clock.py: 0 = timed at boost throughout, 1 = at the capped clock throughout). A serving run is
at the cap throughout, so the capped column is the one serving's GEMMs follow (docs/notes/issue-24.md, Round stop-40,
branch issue-51a). Kernel timings only: no end-to-end result is read.
"""

from __future__ import annotations

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf import silicon_cap
from tapeout.perf.kernels_db import read_kernels

BINS = ((0.0, 0.01), (0.01, 0.99), (0.99, 1.01))


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("give a kernel-database system, e.g. h100_sxm (data/calibration/kernels_db.yaml systems), "
                         "and optionally 'off' for silicon_cap.SILICON_CAP_ENERGY off.")
    system = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "off":
        silicon_cap.SILICON_CAP_ENERGY = False
    x = kf.x_of(kf.fit(kf.Groups(read_kernels(per_group=300, systems=[system])))["params"])
    k = read_kernels(per_group=None, systems=[system], ops=("gemm",))
    c = k.cols
    big = (c["m"] >= 2048) & (c["n"] >= 2048) & (c["k"] >= 2048) & np.isin(c["fmt"], ["fp8", "bf16"])
    groups = kf.Groups(k.where(big))
    for item, pred in zip(groups.items, groups.predict(x)):
        capped = np.broadcast_to(np.asarray(item["capped"], dtype=float), pred.shape)
        r = pred / np.asarray(item["meas"])
        cells = [f"{lo:.2f}-{hi:.2f}: {np.median(r[s]):.3f} ({s.sum()})" for lo, hi in BINS
                 if (s := (capped >= lo) & (capped < hi)).any()]
        print(f"{system} {item['fmt']} ({item['cls']}): " + "; ".join(cells))


if __name__ == "__main__":
    main()
