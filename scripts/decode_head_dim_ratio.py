"""Same-shape generation-attention latency at two head sizes, by kernel, units and KV length (no model).

    python scripts/decode_head_dim_ratio.py [SYSTEM CHIP]      # default: h100_sxm h100-sxm

Every generation kernel the database measured at head size d and 2d with the same kernel, KV format,
batch, KV length, GQA group and KV heads gives time(2d) / time(d). Where a CTA's KV stream binds (few
(sequence x KV head) units, long KV), a CTA whose shared-memory buffers hold a fixed number of bytes
(XQA mha.cu: K in 128-byte head parts, V in 64-element tiles, two buffers per warp) takes twice as
long per token of twice the bytes (ratio ~2); one whose buffers hold a fixed number of tokens takes
the same (ratio ~1). Issue 24, round stop-23 (ChipParams.attn_cta_bytes_per_s).
"""

from __future__ import annotations

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernels_db import chip_for, read_kernels

UNIT_BANDS = ((1, 8), (9, 132), (133, 10**9))
KV_BANDS = ((1, 1024), (1024, 8192), (8192, 10**9))


def main(system: str = "h100_sxm", chip: str = "h100-sxm") -> None:
    c = read_kernels(per_group=None, systems=[system], ops=("attention_decode",)).cols
    kern = kf.decode_kernel(chip_for(chip).family, c["kv_fmt"], c["heads"], c["kv_heads"], c["head_dim"])
    t = {}
    for i in range(len(c["chip"])):
        key = (str(kern[i]), str(c["kv_fmt"][i]), int(c["batch"][i]), int(c["kv_len"][i]),
               int(c["heads"][i]) // int(c["kv_heads"][i]), int(c["kv_heads"][i]))
        t[key + (int(c["head_dim"][i]),)] = float(c["latency_s"][i])
    print(f"{system}: median time(2d) / time(d), shapes in ()\n")
    print("| kernel | KV | d | units | " + " | ".join(f"KV len {lo}-{hi if hi < 10**9 else 'inf'}" for lo, hi in KV_BANDS) + " |")
    print("|---|---|---|---|" + "---|" * len(KV_BANDS))
    for kn in sorted(set(kern)):
        for fmt in ("bf16", "fp8"):
            for d in (64, 128):
                for ulo, uhi in UNIT_BANDS:
                    cells = []
                    for llo, lhi in KV_BANDS:
                        r = [t[k[:6] + (2 * d,)] / t[k] for k in t if k[0] == kn and k[1] == fmt and k[6] == d
                             and ulo <= k[2] * k[5] <= uhi and llo <= k[3] < lhi and k[:6] + (2 * d,) in t]
                        cells.append(f"{np.median(r):.2f} ({len(r)})" if r else "-")
                    if any(x != "-" for x in cells):
                        print(f"| {kn} | {fmt} | {d}->{2 * d} | {ulo}-{uhi if uhi < 10**9 else 'inf'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
