"""The unfused attention core (perf/unfused_attention.py) against the kernel-level timings of it on file
(docs/notes/issue-18.md, round stop-36): Dao et al. 2022, arXiv:2205.14135, Appendix E.6, A100 40 GB,
FP16, batch 16, 8 heads, head dim 64, no mask (data/measured/microbenchmarks.csv MB-0727..0746).

Table 1: each timed call (forward / backward, with and without dropout) against the model's core at the
same shape on a100-sxm-40gb (no causal mask, torch softmax: the benchmark's setup), kernel by kernel.
Table 2: the dropout kernel alone (with-dropout call minus the same call without) against the model's
dropout forward / backward kernels.

    python scripts/unfused_core_check.py
"""
from __future__ import annotations

import re

from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.fit.rows import read_microbenchmarks
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_clock import op_times
from tapeout.perf.unfused_attention import core_attention_ops

CHIP = "a100-sxm-40gb"
BATCH, HEADS, HEAD_DIM = 16, 8, 64  # Appendix E.6 Setup


def measured() -> dict:
    """(impl, seq, pass, dropout) -> ms, from the microbenchmark rows."""
    out = {}
    for r in read_microbenchmarks():
        if r["accelerator"] != "NVIDIA A100 40GB" or "unfused attention core" not in r["workload"]:
            continue
        impl = "PyTorch" if "PyTorch" in r["workload"] else "Megatron"
        seq = int(re.search(r"sequence (\d+)", r["model_config"]).group(1))
        out[(impl, seq, r["metric"].split()[0], "dropout p = 0.1" in r["model_config"])] = float(r["value"])
    return out


def modelled(seq: int, dropout: bool) -> tuple[dict, dict]:
    """Per kernel ms of the model's core (forward, backward)."""
    p = calibrated_params(get_chip(CHIP))
    res = []
    for ops in core_attention_ops("core", 1, BATCH, seq, HEADS, HEAD_DIM, dropout=dropout):
        ct = evaluate(OpGraph(name="core", ops=ops), p)
        t = op_times(ct, p, None) * ct.table.count * 1e3
        res.append({o.name.removeprefix("core_"): float(x) for o, x in zip(ops, t)})
    return res[0], res[1]


def main() -> None:
    m = measured()
    print("| impl | seq | pass | dropout | measured ms | model ms | model / measured | model kernels (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for (impl, seq, ps, drop), v in sorted(m.items()):
        k = modelled(seq, drop)[ps == "backward"]
        tot = sum(k.values())
        ks = ", ".join(f"{n} {x:.2f}" for n, x in k.items())
        print(f"| {impl} | {seq} | {ps} | {'0.1' if drop else 'none'} | {v:.2f} | {tot:.2f} | {tot / v:.2f} | {ks} |")
    print()
    print("| impl | seq | dropout fwd measured / model ms | dropout bwd measured / model ms |")
    print("|---|---|---|---|")
    for (impl, seq, ps, drop), v in sorted(m.items()):
        if ps != "forward" or not drop or (impl, seq, "backward", False) not in m:
            continue
        f, b = modelled(seq, True)
        df = v - m[(impl, seq, "forward", False)]
        db = m[(impl, seq, "backward", True)] - m[(impl, seq, "backward", False)]
        print(f"| {impl} | {seq} | {df:.2f} / {f['dropout']:.2f} | {db:.2f} / {b['dropout_bwd']:.2f} |")


if __name__ == "__main__":
    main()
