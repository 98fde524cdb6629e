"""Held-out kernel residuals of one chip against a sibling chip's on the same shapes (issue 24, round stop-22).

    tapeout calibrate --kernels aiconfigurator --holdout h200 --json /tmp/h200.json
    python scripts/kernel_pair_residuals.py /tmp/h200.json [h200_sxm h100_sxm]
    python scripts/kernel_pair_residuals.py preprocess      # no model: does the QKV pass see the DRAM?

Predicts every kernel of both systems (up to 3,000 per op and format, as `calibrate --holdout`) with
the fit's parameters in the JSON and pairs the shapes both were measured on. Per op / format and
regime it prints each chip's median |error| / signed error (%), the median of
(predicted ratio / measured ratio - 1) (%, the part of the error that is the transfer between the two
chips: < 0 = the first chip predicted too fast relative to the second) and the measured time ratio.
For H200 against H100 SXM (same SMs, clock and 50 MB L2; DRAM 4.8 vs 3.35 TB/s) the transfer part
is how the model scales with the DRAM; the rest is error the model makes on both.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernels_db import read_kernels
from tapeout.perf.opcost import evaluate

BOUND = {0: "compute", 1: "memory", 3: "fixed"}
WEIGHT_BYTES = {"bf16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5}


def _band(v, edges, names):
    return names[int(np.searchsorted(edges, v, side="right"))]


def _mb(b):
    return _band(b, [16e6, 64e6, 256e6, 1e9], ["<16MB", "16-64MB", "64-256MB", "256MB-1GB", ">1GB"])


def records(x, system: str) -> dict:
    k = read_kernels(per_group=3000, systems=[system])
    c = k.cols
    out = {}
    groups = kf.Groups(k)
    for g, t in zip(groups.items, groups.predict(x)):
        xx = np.asarray(x, dtype=float).copy()
        if g["fmt"] == "fp8_block":
            xx[kf.NAMES.index("eff_fp8")] = xx[kf.NAMES.index(g["eff"])]
        ct = evaluate(g["table"], kf.params_for(g["params"], xx, g["cls"]), check_support=False)
        bound = np.asarray(ct.bound).reshape(len(g["meas"]), -1)[:, 0 if g["op"] == "gemm" else -1]
        gp = g["params"]  # output tiles per core (the group's tile: the collector's kernel where known)
        cores, tm, tn = (float(np.asarray(v)) for v in (gp.num_cores, gp.tile_m, gp.tile_n))
        for j, i in enumerate(g["rows"]):
            key = tuple(str(c[n][i]) for n in ("op", "fmt", "kv_fmt", "m", "n", "k", "batch", "kv_len", "heads", "kv_heads", "head_dim"))
            units = int(c["batch"][i]) * int(c["kv_heads"][i])
            kv_bytes = 2 * units * int(c["kv_len"][i]) * int(c["head_dim"][i]) * (1 if c["kv_fmt"][i] == "fp8" else 2)
            out[key] = {"e": t[j] / g["meas"][j] - 1, "t": g["meas"][j], "cls": g["cls"], "l2": g["l2"],
                        "bound": BOUND.get(int(bound[j]), "?"), "m": int(c["m"][i]), "n": int(c["n"][i]), "k": int(c["k"][i]),
                        "w": int(c["n"][i]) * int(c["k"][i]) * WEIGHT_BYTES.get(g["fmt"], 2.0),
                        "units": units, "kv_bytes": kv_bytes, "L": int(c["kv_len"][i]),
                        "waves": float(np.ceil(np.ceil(int(c["m"][i]) / tm) * np.ceil(int(c["n"][i]) / tn) / cores))}
    return out


def table(title: str, pairs: list, key) -> None:
    cells: dict = {}
    for a, b in pairs:
        k = key(a)
        if k is not None:
            cells.setdefault(k, []).append((a, b))
    print(f"\n{title}\n| regime | n | first |err| / signed | second |err| / signed | transfer % | measured first/second |\n|---|---|---|---|---|---|")
    for k in sorted(cells, key=str):
        ea = np.array([a["e"] for a, _ in cells[k]])
        eb = np.array([b["e"] for _, b in cells[k]])
        ratio = np.array([a["t"] / b["t"] for a, b in cells[k]])
        print(f"| {' '.join(map(str, k)) if isinstance(k, tuple) else k} | {len(ea)} | {100 * np.median(abs(ea)):.1f} / "
              f"{100 * np.median(ea):+.1f} | {100 * np.median(abs(eb)):.1f} / {100 * np.median(eb):+.1f} | "
              f"{100 * np.median((1 + ea) / (1 + eb) - 1):+.1f} | {np.median(ratio):.3f} |")


def main(path: str, first: str = "h200_sxm", second: str = "h100_sxm") -> None:
    x = kf.x_of(json.load(open(path))["fit"]["params"])
    a, b = records(x, first), records(x, second)
    pairs = [(a[k], b[k]) for k in a if k in b]
    print(f"{first} vs {second}: {len(pairs)} shapes measured on both, fit {path}")
    table("op / format", pairs, lambda r: r["cls"])
    table("GEMM: format, replayed from L2 or DRAM (kernel_replay), bound", pairs,
          lambda r: (r["cls"], "L2" if r["l2"] else "DRAM", r["bound"]) if r["cls"] in kf.GEMM_FMTS else None)
    table("GEMM: format, m, weight bytes", pairs,
          lambda r: (r["cls"], _band(r["m"], [16, 256], ["m<=16", "m17-256", "m>256"]), _mb(r["w"])) if r["cls"] in kf.GEMM_FMTS else None)
    # which regime carries a GEMM residual: few tokens (latency), one padded K tile, deep K
    table("GEMM: format, m, k", pairs,
          lambda r: (r["cls"], _band(r["m"], [16, 128, 1024], ["m<16", "m16-127", "m128-1023", "m>=1024"]),
                     _band(r["k"], [769, 3073, 12288], ["k<=768", "k1024-3072", "k4096-8192", "k>=12288"]))
          if r["cls"] in kf.GEMM_FMTS else None)
    table("GEMM: format, m, n", pairs,
          lambda r: (r["cls"], _band(r["m"], [128, 1024], ["m<128", "m128-1023", "m>=1024"]),
                     _band(r["n"], [2048, 8192], ["n<2048", "n2048-8191", "n>=8192"]))
          if r["cls"] in kf.GEMM_FMTS else None)
    # output-tile waves on the first chip's cores (its group's tile): per-tile costs (epilogue, fill) by wave count
    table("GEMM: format, waves, k", pairs,
          lambda r: (r["cls"], _band(r["waves"], [1.5, 2.5, 8.5], ["w1", "w2", "w3-8", "w>8"]),
                     _band(r["k"], [769, 3073, 12288], ["k<=768", "k1024-3072", "k4096-8192", "k>=12288"]))
          if r["cls"] in kf.GEMM_FMTS else None)
    table("context attention: bound, measured time", pairs,
          lambda r: (r["bound"], _band(r["t"], [3e-5, 3e-4], ["<30us", "30-300us", ">300us"])) if r["cls"] == "prefill" else None)
    table("generation attention: kernel, KV-cache bytes", pairs,
          lambda r: (r["cls"], _mb(r["kv_bytes"])) if r["cls"].startswith("decode_") else None)
    table("generation attention: kernel, (sequence x KV head) units", pairs,
          lambda r: (r["cls"], _band(r["units"], [8, 132, 528], ["u<=8", "u9-132", "u133-528", "u>528"]))
          if r["cls"].startswith("decode_") else None)


def preprocess(first: str = "h200_sxm", second: str = "h100_sxm") -> None:
    """No model: context-attention kernels measured on both chips, by the share of the second chip's
    measured time the QKV preprocessing pass would take streaming its bytes (read the fused BF16 QKV,
    write Q and K/V at the cache width; kernel_fit.qkv_preprocess_op) at the second chip's datasheet
    DRAM bandwidth; the measured time ratio, and the time the first chip saves per pass byte in units of
    (1/bw_second - 1/bw_first): 1.0 if the pass streams at the datasheet bandwidth on both, 0 if it does
    not see the DRAM at all."""
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.kernels_db import chip_for

    k = read_kernels(per_group=None, systems=[first, second], ops=("attention_prefill",))
    c = k.cols
    d: dict = {}
    for i in range(len(k)):
        key = tuple(c[n][i] for n in ("fmt", "kv_fmt", "batch", "kv_len", "heads", "kv_heads", "head_dim"))
        d.setdefault(key, {})[c["system"][i]] = float(c["latency_s"][i])
    keys = [q for q in d if len(d[q]) == 2]
    bw = {s: float(calibrated_params(chip_for(ch)).mem_bw) for s, ch in zip(c["system"], c["chip"])}
    b_pass = np.array([(lambda q: q.input_bytes + q.output_bytes)(kf.qkv_preprocess_op(int(b * L), int(h), int(hk), int(hd), str(kv)))
                       for (_, kv, b, L, h, hk, hd) in keys])
    t1 = np.array([d[q][first] for q in keys])
    t2 = np.array([d[q][second] for q in keys])
    share = b_pass / bw[second] / t2
    saved = (t2 - t1) / b_pass / (1 / bw[second] - 1 / bw[first])
    print(f"{first} vs {second}: {len(keys)} context kernels; pass at datasheet DRAM as a share of {second}'s measured time")
    print("| share | n | measured time ratio | if the pass streams the DRAM | saved per pass byte (1.0 = DRAM) |\n|---|---|---|---|---|")
    for lo, hi in ((0, .05), (.05, .1), (.1, .2), (.2, .4), (.4, 10)):
        m = (share >= lo) & (share < hi)
        if m.any():
            exp = 1 - share[m] * (1 - bw[second] / bw[first])
            print(f"| {lo}-{hi} | {m.sum()} | {np.median(t1[m] / t2[m]):.3f} | {np.median(exp):.3f} | {np.median(saved[m]):.2f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["preprocess"]:
        preprocess(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
