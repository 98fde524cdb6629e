"""Where the kernel-level fit misses, per shape bucket, and what the measurements say without a model.

    python scripts/kernel_residuals.py ratio b200:nvfp4:gb300:nvfp4 h200:fp8:h200:fp8_block
        same-shape latency ratio (second / first) of two (chip, format) GEMM tables, by FLOPs decade
    python scripts/kernel_residuals.py buckets b200 h200 gb300
        fit on every chip (300 kernels per chip, op and format), then median |error| / signed error
        of each chip's GEMMs (up to 1,500 per format) by FLOPs decade, output tiles per core, k, m, n

Needs the kernels extra (pip install -e '.[kernels]').
"""

from __future__ import annotations

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernels_db import read_kernels

DECADES = [0, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, np.inf]


def _gemms(k, chip: str, fmt: str) -> dict:
    c = k.cols
    s = (c["chip"] == chip) & (c["op"] == "gemm") & (c["fmt"] == fmt)
    return {(int(a), int(b), int(d)): float(t) for a, b, d, t in zip(c["m"][s], c["n"][s], c["k"][s], c["latency_s"][s])}


def ratio(pairs: list[str]) -> None:
    k = read_kernels(per_group=10**6)
    for pair in pairs:
        ca, fa, cb, fb = pair.split(":")
        a, b = _gemms(k, ca, fa), _gemms(k, cb, fb)
        keys = [s for s in a if s in b]
        r = np.array([b[s] / a[s] for s in keys])
        fl = np.array([2.0 * s[0] * s[1] * s[2] for s in keys])
        print(f"{cb} {fb} / {ca} {fa}: {len(keys)} shapes, median ratio {np.median(r):.3f}")
        for lo, hi in zip(DECADES[:-1], DECADES[1:]):
            s = (fl >= lo) & (fl < hi)
            if s.any():
                q = np.percentile(r[s], [25, 50, 75])
                print(f"  FLOPs [{lo:.0e}, {hi:.0e}) n={s.sum():5d}  p25/p50/p75 {q[0]:.3f} {q[1]:.3f} {q[2]:.3f}")


def _line(name: str, v: np.ndarray, edges, e: np.ndarray) -> str:
    cells = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        s = (v >= lo) & (v < hi)
        if s.any():
            cells.append(f"[{lo:g},{hi:g}) {np.median(np.abs(e[s])) * 100:.1f}/{np.median(e[s]) * 100:+.1f} n={s.sum()}")
    return f"  {name}: " + " | ".join(cells)


def buckets(chips: list[str]) -> None:
    x = kf.x_of(kf.fit(kf.Groups(read_kernels(per_group=300)))["params"])
    test = read_kernels(per_group=1500)
    for chip in chips:
        k = test.where((test.cols["chip"] == chip) & (test.cols["op"] == "gemm"))
        groups = kf.Groups(k)
        for g, t in zip(groups.items, groups.predict(x)):
            s = k.cols["fmt"] == g["fmt"]
            m, n, kk = (k.cols[c][s].astype(float) for c in "mnk")
            e = t / g["meas"] - 1.0
            p = g["params"]
            tiles = np.ceil(m / np.minimum(p.tile_m, np.maximum(16.0, np.ceil(m / 16.0) * 16.0))) * np.ceil(n / p.tile_n)
            print(f"{chip} {g['fmt']}: median |error| {np.median(np.abs(e)) * 100:.1f}, signed {np.median(e) * 100:+.1f} (%)")
            print(_line("FLOPs", 2 * m * n * kk, DECADES, e))
            print(_line("tiles/cores", tiles / p.num_cores, [0, 0.25, 1, 4, 16, np.inf], e))
            for name, v in (("k", kk), ("m", m), ("n", n)):
                print(_line(name, v, [0, 16, 128, 1024, 4096, 16384, np.inf], e))


if __name__ == "__main__":
    {"ratio": ratio, "buckets": buckets}[sys.argv[1]](sys.argv[2:])
