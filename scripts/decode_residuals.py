"""Generation-attention residuals of the in-sample kernel fit, split by kernel, GQA group band,
(sequence x KV head) units and KV length (issue 24, round stop-19).

    python scripts/decode_residuals.py [CHIP ...]     # default: h100-sxm h200

Fits kernel_fit's shared parameters on every chip's kernels (300 per chip, op and format, as
`tapeout calibrate --kernels`), predicts every decode kernel of the named chips and prints the
median signed error (predicted / measured - 1, %; > 0 = predicted too slow) with the kernel count.
"""

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernels_db import chip_for, read_kernels

GROUPS = ((1, 1), (2, 8), (9, 16), (17, 32), (33, 1 << 30))
UNITS = (0, 8, 32, 132, 528, 1 << 30)
KV = (0, 512, 2048, 8192, 1 << 30)


def band(v, edges):
    i = int(np.searchsorted(edges, v, side="left"))
    hi = edges[min(i, len(edges) - 1)]
    return f"({edges[max(i - 1, 0)]},{hi if hi < 1 << 30 else 'inf'}]"


def main(chips: list[str]) -> None:
    x = kf.x_of(kf.fit(kf.Groups(read_kernels(per_group=300)))["params"])
    k = read_kernels(per_group=None, ops=("attention_decode",))
    k = k.where(np.isin(k.cols["chip"], [chip_for(c).id for c in chips]))
    c = k.cols
    cells: dict = {}
    groups = kf.Groups(k)
    for g, t in zip(groups.items, groups.predict(x)):
        e = t / g["meas"] - 1.0
        r = g["rows"]
        grp = c["heads"][r] // np.maximum(c["kv_heads"][r], 1)
        units = c["batch"][r] * c["kv_heads"][r]
        for j in range(len(r)):
            gb = next(f"{a}-{b}" if b < 1 << 30 else f">{a - 1}" for a, b in GROUPS if a <= grp[j] <= b)
            key = (g["chip"], g["cls"], gb, band(units[j], UNITS), band(c["kv_len"][r][j], KV))
            cells.setdefault(key, []).append(e[j])
    print("| chip | kernel | group | units | kv_len | kernels | median signed % |\n|---|---|---|---|---|---|---|")
    for key in sorted(cells):
        v = np.asarray(cells[key])
        print(f"| {' | '.join(key)} | {len(v)} | {100 * np.median(v):+.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["h100-sxm", "h200"])
