"""GEMM residuals of the in-sample kernel fit, split by format, m band, weight size band and
whether the collector's replay stays in L2 (issue 24, round stop-20).

    python scripts/gemm_residuals.py [CHIP ...]     # default: l40s

Fits kernel_fit's shared parameters on every chip's kernels (300 per chip, op and format, as
`tapeout calibrate --kernels`), predicts every GEMM of the named chips and prints the median
signed error (predicted / measured - 1, %; > 0 = predicted too slow) with the kernel count, then
the same for m >= 1024 by FLOP band (the compute-bound end). ~3-5 min on the shared cores.
"""

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_replay import WEIGHT_BYTES_PER_ELEM, l2_resident
from tapeout.perf.kernels_db import chip_for, read_kernels

M_BANDS = (1, 16, 128, 1024, 1 << 40)
W_BANDS = (0.0, 2e6, 8e6, 20e6, 96e6, 1e15)  # weight bytes
FLOP_BANDS = (0.0, 1e9, 1e10, 1e11, 1e12, 1e13, 1e18)


def _cell(e: np.ndarray) -> str:
    return f"{100 * np.median(e):+.1f} ({len(e)})" if len(e) else "-"


def main(chips: list[str]) -> None:
    x = kf.x_of(kf.fit(kf.Groups(read_kernels(per_group=300)))["params"])
    k = read_kernels(per_group=None, ops=("gemm",))
    for chip in chips:
        cid = chip_for(chip).id
        kc = k.where(k.cols["chip"] == cid)
        c, groups = kc.cols, kf.Groups(kc)
        rows = np.concatenate([g["rows"] for g in groups.items])
        err = np.concatenate([t / g["meas"] - 1.0 for g, t in zip(groups.items, groups.predict(x))])
        fmt, m, n, kk = c["fmt"][rows], c["m"][rows].astype(float), c["n"][rows].astype(float), c["k"][rows].astype(float)
        l2 = calibrated_params(chip_for(cid)).sram_bytes
        w = np.array([WEIGHT_BYTES_PER_ELEM[f] for f in fmt]) * n * kk
        for f in sorted(set(fmt)):
            s = fmt == f
            res = l2_resident(m[s], n[s], kk[s], f, l2)
            print(f"\n{cid} {f}: median |error| {100 * np.median(np.abs(err[s])):.1f}, signed {100 * np.median(err[s]):+.1f} "
                  f"({s.sum()} kernels); replay in L2 ({l2 / 1e6:.0f} MB): {_cell(err[s][res])}, not: {_cell(err[s][~res])}")
            print("| m \\ weight MB | " + " | ".join(f"[{a / 1e6:g}, {b / 1e6:g})" for a, b in zip(W_BANDS, W_BANDS[1:])) + " |")
            print("|---" * len(W_BANDS) + "|")
            for a, b in zip(M_BANDS, M_BANDS[1:]):
                cells = [_cell(err[s & (m >= a) & (m < b) & (w >= lo) & (w < hi)]) for lo, hi in zip(W_BANDS, W_BANDS[1:])]
                print(f"| [{a}, {b if b < 1 << 40 else 'inf'}) | " + " | ".join(cells) + " |")
            fl = 2.0 * m * n * kk
            print("m >= 1024 by GFLOP: " + ", ".join(f"[{a / 1e9:g}, {b / 1e9:g}): {_cell(err[s & (m >= 1024) & (fl >= a) & (fl < b)])}"
                                                   for a, b in zip(FLOP_BANDS, FLOP_BANDS[1:])))


if __name__ == "__main__":
    main(sys.argv[1:] or ["l40s"])
