"""Generation-attention latency against the number of CTAs, measured only (no model; issue 24,
round stop-20): does a kernel's time step up where its CTAs exceed one wave of resident slots?

    python scripts/decode_waves.py [SYSTEM KV_FMT GROUP_LO GROUP_HI]   # default: h200_sxm bf16 2 8

For head size 128 and the GQA group band given, the median latency per (sequence x KV head units)
at KV lengths ~2048 / 8192 / 32768, with the CTAs the XQA multi-block rule launches
(opcost.gen_kv_splits with kernels_db.yaml decode_kernels multi_block: the rule of the HMMA and
QGMMA kernels; for other kernels the CTA column is only indicative) and the KV bytes per second.
"""

import sys

import numpy as np

from tapeout.perf.kernels_db import chip_for, db_config, read_kernels
from tapeout.perf.opcost import gen_kv_splits


def main(system: str = "h200_sxm", kv_fmt: str = "bf16", lo: str = "2", hi: str = "8") -> None:
    k = read_kernels(per_group=None, ops=("attention_decode",), systems=[system])
    c = k.cols
    cores = float(chip_for(db_config()["systems"][system]["chip"]).get("num_cores"))
    rule = db_config()["decode_kernels"]["multi_block"]["hmma"]
    group = c["heads"] // np.maximum(c["kv_heads"], 1)
    s = (c["kv_fmt"] == kv_fmt) & (c["head_dim"] == 128) & (group >= int(lo)) & (group <= int(hi))
    units = (c["batch"] * c["kv_heads"])[s].astype(float)
    kv, t = c["kv_len"][s].astype(float), c["latency_s"][s]
    ctas = units * gen_kv_splits(kv, units, cores, rule["tokens"], rule["sqrt"], rule["waves"])
    kv_bytes = units * kv * 2 * 128 * (1 if kv_fmt == "fp8" else 2)  # K and V, head 128
    print(f"{system} {kv_fmt} KV, GQA group {lo}-{hi}, head 128, {int(cores)} SMs")
    print("| kv_len | units | CTAs | CTAs per SM | median us | KV TB/s |\n|---|---|---|---|---|---|")
    for ref in (2048, 8192, 32768):
        near = (kv > ref * 0.9) & (kv < ref * 1.15)
        for u in sorted(set(units[near])):
            j = near & (units == u)
            tt = float(np.median(t[j]))
            print(f"| ~{ref} | {int(u)} | {int(ctas[j][0])} | {ctas[j][0] / cores:.2f} | {tt * 1e6:.1f} | "
                  f"{float(np.mean(kv_bytes[j])) / tt / 1e12:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
