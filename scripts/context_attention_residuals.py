"""Held-out context-attention (prefill) residuals by shape and by the model's time components (issue 24, stop-23).

    tapeout calibrate --kernels aiconfigurator --holdout h200 --json /tmp/h200.json
    python scripts/context_attention_residuals.py /tmp/h200.json h200_sxm [h100_sxm ...]
    python scripts/context_attention_residuals.py formats h200_sxm b200_sxm gb300   # no model

Predicts every context-attention kernel of each system (up to 3,000 per format, as `calibrate
--holdout` tests) with the fit's parameters in the JSON and prints, per regime (format, batch, query
length, query heads, GQA group, head dim, CTA waves, the share of the predicted time each component
takes), n, median |error| and median signed error (%, > 0 = predicted too slow). Components of the
model's time: the two attention GEMMs (mma), the softmax exponentials (sfu), the per-wave CTA cost
(cta), the QKV preprocessing pass (pre) and the fixed per-kernel time (ovh).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernels_db import read_kernels
from tapeout.perf.opcost import evaluate

BANDS = {
    "batch": ([1, 4, 16, 64, 1e9], ["1-3", "4-15", "16-63", "64-255", ">=256"]),
    "q_len": ([16, 128, 1024, 4096, 1e9], ["1-15", "16-127", "128-1023", "1024-4095", ">=4096"]),
    "waves": ([1.01, 2.01, 4.01, 16.01, 64.01, 1e12], ["1", "2", "3-4", "5-16", "17-64", ">64"]),
    "time": ([30e-6, 100e-6, 300e-6, 1e-3, 1e9], ["<30us", "30-100us", "0.1-0.3ms", "0.3-1ms", ">1ms"]),
    "share": ([0.1, 0.25, 0.5, 1.01], ["<0.1", "0.1-0.25", "0.25-0.5", ">=0.5"]),
    "bh": ([16, 64, 256, 1024, 4096, 1e12], ["bh 1-15", "bh 16-63", "bh 64-255", "bh 256-1023", "bh 1024-4095", "bh >=4096"]),
}


def band(v, name: str) -> str:
    edges, names = BANDS[name]
    return names[int(np.searchsorted(edges, v, side="right"))]


def components(g: dict, x) -> dict:
    """Per kernel of a context group: predicted total and the time of each model component (s)."""
    x = np.asarray(x, dtype=float)
    p = kf.params_for(g["params"], x, g["cls"])
    n = len(g["meas"])

    def attn_time(q):
        return np.asarray(evaluate(g["table"], q, check_support=False).time).reshape(n, -1)

    full = attn_time(p)
    mma = attn_time(p.replace(softmax_vflops=0.0, attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0,
                              attn_unit_time=0.0, attn_unit_flops=0.0, kernel_overhead=0.0))[:, -1]
    sfu = attn_time(p.replace(attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0, attn_unit_time=0.0,
                              attn_unit_flops=0.0, kernel_overhead=0.0))[:, -1] - mma
    noovh = attn_time(p.replace(kernel_overhead=0.0))
    ct = evaluate(g["table"], p, check_support=False)
    from tapeout.ops import Attention  # noqa: F401  (documentation: row -1 of each kernel is the Attention op)
    return {"total": full.sum(axis=1), "mma": mma, "sfu": sfu, "cta": noovh[:, -1] - mma - sfu,
            "pre": noovh[:, 0], "ovh": np.full(n, p.kernel_overhead),
            "waves": np.asarray(ct.tile_time).reshape(n, -1)[:, -1]}


def records(x, system: str) -> list[dict]:
    k = read_kernels(per_group=3000, systems=[system])
    k = k.where(k.cols["op"] == "attention_prefill")
    c = k.cols
    out = []
    groups = kf.Groups(k)
    for g, t in zip(groups.items, groups.predict(x)):
        comp = components(g, x)
        v = dict(zip(kf.NAMES, x))
        unit = v["unitlat_prefill"] * 1e-6
        for j, i in enumerate(g["rows"]):
            r = {n: c[n][i] for n in ("fmt", "kv_fmt", "batch", "q_len", "heads", "kv_heads", "head_dim")}
            r.update(e=t[j] / g["meas"][j] - 1.0, t=g["meas"][j], pred=t[j],
                     **{f"s_{n}": comp[n][j] / t[j] for n in ("mma", "sfu", "cta", "pre", "ovh")},
                     waves=comp["waves"][j] / unit if unit > 0 else 0.0)
            out.append(r)
    return out


def table(title: str, rs: list[dict], key) -> None:
    cells: dict = {}
    for r in rs:
        cells.setdefault(key(r), []).append(r["e"])
    print(f"\n{title}\n| regime | n | median abs % | median signed % |\n|---|---|---|---|")
    for kk in sorted(cells, key=lambda s: (len(str(s)), str(s))):
        e = np.array(cells[kk])
        print(f"| {kk} | {len(e)} | {100 * np.median(abs(e)):.1f} | {100 * np.median(e):+.1f} |")


def main(path: str, systems: list[str]) -> None:
    x = kf.x_of(json.load(open(path))["fit"]["params"])
    for system in systems:
        rs = records(x, system)
        e = np.array([r["e"] for r in rs])
        print(f"\n## {system}: {len(rs)} context kernels, median |error| {100 * np.median(abs(e)):.1f} %, "
              f"signed {100 * np.median(e):+.1f} %")
        table("format / KV format", rs, lambda r: f"{r['fmt']}/{r['kv_fmt']}")
        table("batch", rs, lambda r: band(r["batch"], "batch"))
        table("query length", rs, lambda r: band(r["q_len"], "q_len"))
        table("head dim", rs, lambda r: r["head_dim"])
        table("GQA group", rs, lambda r: r["heads"] // max(r["kv_heads"], 1))
        table("CTA waves", rs, lambda r: band(r["waves"], "waves"))
        table("measured time", rs, lambda r: band(r["t"], "time"))
        for comp in ("mma", "sfu", "cta", "pre", "ovh"):
            table(f"share of the predicted time in {comp}", rs, lambda r, c=comp: band(r[f"s_{c}"], "share"))
        table("format x query length x batch*heads", rs,
              lambda r: f"{r['fmt']} q {band(r['q_len'], 'q_len')} {band(r['batch'] * r['heads'], 'bh')}")
        table("head dim x query length (>= 128)", [r for r in rs if r["q_len"] >= 128],
              lambda r: f"d{r['head_dim']} {band(r['q_len'], 'q_len')} {r['fmt']}")


def formats(systems: list[str]) -> None:
    """No model: measured time of the same context shape with a BF16 and an FP8 KV cache (BF16
    activations), and FP8 activations over the FP8 cache, median ratio per query-length band."""
    for system in systems:
        c = read_kernels(per_group=None, systems=[system]).cols
        t: dict = {}
        for i in np.flatnonzero(c["op"] == "attention_prefill"):
            key = tuple(int(c[n][i]) for n in ("batch", "q_len", "heads", "kv_heads", "head_dim"))
            t.setdefault(key, {})[(str(c["fmt"][i]), str(c["kv_fmt"][i]))] = float(c["latency_s"][i])
        print(f"\n{system}\n| query length | bf16 act, fp8 KV / bf16 KV | fp8 act / bf16 act (fp8 KV) |\n|---|---|---|")
        for lo, hi, name in ((1, 2, "1"), (2, 256, "2-255"), (256, 1024, "256-1023"), (1024, 4096, "1024-4095"), (4096, 1e9, ">=4096")):
            v = [x for k, x in t.items() if lo <= k[1] < hi]
            r1 = [x["bf16", "fp8"] / x["bf16", "bf16"] for x in v if ("bf16", "fp8") in x and ("bf16", "bf16") in x]
            r2 = [x["fp8", "fp8"] / x["bf16", "fp8"] for x in v if ("fp8", "fp8") in x and ("bf16", "fp8") in x]
            print(f"| {name} | {np.median(r1):.3f} ({len(r1)}) | {np.median(r2):.3f} ({len(r2)}) |")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "formats":
        sys.exit(formats(sys.argv[2:]))
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
