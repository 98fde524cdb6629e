"""Masked-MHA generation kernels of the kernel database, no model (issue 24, round stop-24).

    python scripts/mmha_group_stream.py [CHIP ...]     # default: h100-sxm h200 b200 gb200 gb300 a100-sxm

For the kernels TensorRT-LLM runs on its masked-MHA fallback (perf/kernel_fit.decode_kernel: "mmha";
one CTA per (query head, sequence)), prints the median KV stream per KV-cache format, GQA group band,
KV-length band and whether the packed K and V fit the chip's L2 (kernel_replay.decode_l2_resident):
the packed bytes (each KV head once) / time, and the group-fold bytes (each query head's CTA reading
its KV head) / time. Kernels under 40 us are left out (fixed time).
"""

import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_replay import decode_l2_resident, kv_replay_footprint
from tapeout.perf.kernels_db import chip_for, read_kernels


def main(chips: list[str]) -> None:
    k = read_kernels(per_group=None, ops=("attention_decode",))
    c = k.cols
    print("| chip | KV cache | group | KV length | L2-resident | kernels | packed TB/s | group-fold TB/s |\n|---|---|---|---|---|---|---|---|")
    for chip in chips:
        cid = chip_for(chip).id
        m = c["chip"] == cid
        if not m.any():
            continue
        p = calibrated_params(chip_for(cid))
        cls = kf.decode_kernel(chip_for(cid).family, c["kv_fmt"][m], c["heads"][m], c["kv_heads"][m], c["head_dim"][m])
        b, L, h, hk, d = (c[n][m].astype(float) for n in ("batch", "kv_len", "heads", "kv_heads", "head_dim"))
        packed = kv_replay_footprint(b, L, h, hk, d, c["kv_fmt"][m]) - 4.0 * b * h * d  # K and V only
        res = decode_l2_resident(b, L, h, hk, d, c["kv_fmt"][m], p.sram_bytes)
        g, t = h / hk, c["latency_s"][m].astype(float)
        for fmt in ("bf16", "fp8"):
            for gl, gh, gname in ((1, 1, "1"), (33, np.inf, ">32")):
                for ll, lh, lname in ((2048, 8192, "2k-8k"), (8192, np.inf, ">=8k")):
                    for r in (True, False):
                        s = ((cls == "mmha") & (c["kv_fmt"][m] == fmt) & (g >= gl) & (g <= gh) & (L >= ll) & (L < lh)
                             & (t > 40e-6) & (res == r))
                        if s.sum() >= 3:
                            print(f"| {chip} | {fmt} | {gname} | {lname} | {'yes' if r else 'no'} | {int(s.sum())} "
                                  f"| {np.median(packed[s] / t[s]) / 1e12:.2f} | {np.median(packed[s] * g[s] / t[s]) / 1e12:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["h100-sxm", "h200", "b200", "gb200", "gb300", "a100-sxm"])
