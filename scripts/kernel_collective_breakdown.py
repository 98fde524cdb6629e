"""The kernel database's NCCL collectives against the collective path alone (perf/kernel_collectives.predict), in
seconds rather than the 25 min of scripts/kernel_loco_table.py (the collective rows need no fit):

    python scripts/kernel_collective_breakdown.py          # switch as shipped
    python scripts/kernel_collective_breakdown.py --ring-sm-traffic   # perf/nccl_ring.RING_SM_TRAFFIC on
    python scripts/kernel_collective_breakdown.py --ll-arch-cap       # perf/nccl_ring.RING_LL_ARCH_CAP on

Per chip and op: median |error| / signed (%), then signed medians by GPU count and message size; then the measured
small-message latency (smallest of the first four sizes) and asymptotic bus bandwidth (slope between the two largest
sizes, nccl-tests busbw convention), FP16 rows.
"""

from __future__ import annotations

import sys

import numpy as np

from tapeout.perf import nccl_ring
from tapeout.perf.kernel_collectives import predict
from tapeout.perf.kernels_db import read_collectives

OPS = ("nccl_all_gather", "nccl_reduce_scatter", "nccl_all_reduce")
BINS = ((0, 64e3, "<64K"), (64e3, 1e6, "64K-1M"), (1e6, 16e6, "1-16M"), (16e6, np.inf, ">16M"))
BUS = {"nccl_all_gather": 1.0, "nccl_reduce_scatter": 1.0, "nccl_all_reduce": 2.0}


def main(argv: list[str]) -> None:
    nccl_ring.RING_SM_TRAFFIC = "--ring-sm-traffic" in argv or nccl_ring.RING_SM_TRAFFIC
    nccl_ring.RING_LL_ARCH_CAP = "--ll-arch-cap" in argv or nccl_ring.RING_LL_ARCH_CAP
    k = read_collectives()
    c = k.cols
    e = predict(k) / c["latency_s"] - 1
    print(f"RING_SM_TRAFFIC {nccl_ring.RING_SM_TRAFFIC} RING_LL_ARCH_CAP {nccl_ring.RING_LL_ARCH_CAP}")
    for chip in sorted(set(c["chip"])):
        for op in OPS:
            m = (c["chip"] == chip) & (c["op"] == op) & np.isfinite(e)
            if not m.any():
                continue
            print(f"{chip:12s} {op[5:]:15s} n {m.sum():4d} |e| {np.median(abs(e[m])) * 100:5.1f} "
                  f"signed {np.median(e[m]) * 100:+6.1f}")
            for g in sorted(set(c["num_gpus"][m])):
                cells = []
                for lo, hi, name in BINS:
                    b = m & (c["num_gpus"] == g) & (c["bytes"] >= lo) & (c["bytes"] < hi)
                    cells.append(f"{name} {np.median(e[b]) * 100:+4.0f}" if b.any() else f"{name}    -")
                print(f"    g{int(g):<3d}" + "  ".join(cells))
    print("\nmeasured FP16: small-message latency (us) | asymptotic busbw (GB/s), per GPU count")
    for chip in sorted(set(c["chip"])):
        for op in OPS:
            cells = []
            for g in sorted(set(c["num_gpus"][(c["chip"] == chip) & (c["op"] == op)])):
                m = (c["chip"] == chip) & (c["op"] == op) & (c["num_gpus"] == g) & (c["dtype"] == "half")
                i = np.flatnonzero(m)
                if len(i) < 5:
                    continue
                i = i[np.argsort(c["bytes"][i])]
                S, t = c["bytes"][i], c["latency_s"][i]
                bw = BUS[op] * (g - 1) / g * (S[-1] - S[-2]) / (t[-1] - t[-2])
                cells.append(f"g{int(g)} {np.min(t[:4]) * 1e6:5.1f} us {bw / 1e9:5.0f} GB/s")
            if cells:
                print(f"{chip:12s} {op[5:]:15s} " + " | ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:])
