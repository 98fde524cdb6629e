"""Same-shape generation-attention latency of one chip against another, by KV-cache size (no model).

    python scripts/decode_l2_ratio.py [CHIP_A CHIP_B]      # default: h200 h100-sxm

Every generation-attention kernel the database measured on both chips with the same shape (KV
format, batch, KV length, heads, KV heads, head size) gives time_A / time_B; the median per
generation kernel (kernel_fit.decode_kernel on chip A's family), KV-cache bytes and (sequence x KV
head) units. H200 against H100 SXM: same SMs, clock and 50 MB L2, 4.8 / 3.35 TB/s DRAM, so a
DRAM-bound kernel gives 0.70 and an L2-resident one 1.0 (perf/kernel_replay.py).
"""

from __future__ import annotations

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernel_replay import kv_replay_footprint
from tapeout.perf.kernels_db import chip_for, db_config, read_kernels

KV_BANDS_MB = (0, 16, 64, 256, 1000, 1e7)
UNIT_BANDS = (1, 9, 133, 529, 1e9)


def ratios(a: str, b: str):
    systems = [s for s, e in db_config()["systems"].items() if e["chip"] in (a, b)]
    c = read_kernels(per_group=None, systems=systems, ops=("attention_decode",)).cols
    shape = ("kv_fmt", "batch", "kv_len", "heads", "kv_heads", "head_dim")
    t: dict = {}
    for i in range(len(c["chip"])):
        t.setdefault(tuple(c[n][i] for n in shape), {})[c["chip"][i]] = float(c["latency_s"][i])
    keys = [s for s, v in t.items() if a in v and b in v]
    cols = {n: np.array([s[j] for s in keys]) for j, n in enumerate(shape)}
    r = np.array([t[s][a] / t[s][b] for s in keys])
    kernel = kf.decode_kernel(chip_for(a).family, cols["kv_fmt"], cols["heads"], cols["kv_heads"], cols["head_dim"])
    kv_mb = kv_replay_footprint(*(cols[n] for n in ("batch", "kv_len", "heads", "kv_heads", "head_dim", "kv_fmt"))) / 1e6
    units = cols["batch"].astype(float) * cols["kv_heads"].astype(float)
    return r, kernel, kv_mb, units


def main(a: str = "h200", b: str = "h100-sxm") -> None:
    r, kernel, kv_mb, units = ratios(a, b)
    bw = [chip_for(x).specs["memory_bandwidth_tbps"].value for x in (a, b)]
    print(f"{len(r)} shapes on both; DRAM bandwidth ratio {b}/{a} = {bw[1] / bw[0]:.3f}; median {a}/{b} time (shapes)\n")
    print("| kernel | KV footprint MB | " + " | ".join(f"units {lo:g}-{hi - 1:g}" for lo, hi in zip(UNIT_BANDS, UNIT_BANDS[1:])) + " |")
    print("|---|---|" + "---|" * (len(UNIT_BANDS) - 1))
    for kn in sorted(set(kernel)):
        for lo, hi in zip(KV_BANDS_MB, KV_BANDS_MB[1:]):
            cells = []
            for ulo, uhi in zip(UNIT_BANDS, UNIT_BANDS[1:]):
                s = (kernel == kn) & (kv_mb >= lo) & (kv_mb < hi) & (units >= ulo) & (units < uhi)
                cells.append(f"{np.median(r[s]):.3f} ({s.sum()})" if s.any() else "-")
            print(f"| {kn} | {lo:g}-{hi:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
