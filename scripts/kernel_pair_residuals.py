"""Held-out kernel residuals of one chip against a sibling chip's on the same shapes (issue 24, round stop-22).

    tapeout calibrate --kernels aiconfigurator --holdout h200 --json /tmp/h200.json
    python scripts/kernel_pair_residuals.py /tmp/h200.json [h200_sxm h100_sxm]

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
        ct = evaluate(g["table"], kf.params_for(g["params"], g["pd"], xx, g["cls"]), check_support=False)
        bound = np.asarray(ct.bound).reshape(len(g["meas"]), -1)[:, 0 if g["op"] == "gemm" else -1]
        for j, i in enumerate(g["rows"]):
            key = tuple(str(c[n][i]) for n in ("op", "fmt", "kv_fmt", "m", "n", "k", "batch", "kv_len", "heads", "kv_heads", "head_dim"))
            units = int(c["batch"][i]) * int(c["kv_heads"][i])
            kv_bytes = 2 * units * int(c["kv_len"][i]) * int(c["head_dim"][i]) * (1 if c["kv_fmt"][i] == "fp8" else 2)
            out[key] = {"e": t[j] / g["meas"][j] - 1, "t": g["meas"][j], "cls": g["cls"], "l2": g["l2"],
                        "bound": BOUND.get(int(bound[j]), "?"), "m": int(c["m"][i]),
                        "w": int(c["n"][i]) * int(c["k"][i]) * WEIGHT_BYTES.get(g["fmt"], 2.0),
                        "units": units, "kv_bytes": kv_bytes, "L": int(c["kv_len"][i])}
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
    table("context attention: bound, measured time", pairs,
          lambda r: (r["bound"], _band(r["t"], [3e-5, 3e-4], ["<30us", "30-300us", ">300us"])) if r["cls"] == "prefill" else None)
    table("generation attention: kernel, KV-cache bytes", pairs,
          lambda r: (r["cls"], _mb(r["kv_bytes"])) if r["cls"].startswith("decode_") else None)
    table("generation attention: kernel, (sequence x KV head) units", pairs,
          lambda r: (r["cls"], _band(r["units"], [8, 132, 528], ["u<=8", "u9-132", "u133-528", "u>528"]))
          if r["cls"].startswith("decode_") else None)


if __name__ == "__main__":
    main(*sys.argv[1:])
