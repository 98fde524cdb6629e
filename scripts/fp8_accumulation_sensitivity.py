"""What the Hopper FP8 accumulation mechanism could move on the LLM training rows (docs/notes/issue-18.md,
Round stop-23 issue-23ta). A what-if, not a model change and not a fit: the shipped calibration with the
Hopper chips' FP8 GEMM efficiency x S (every FP8 GEMM S x faster), predicted on the GPT-3 / Llama-2-70B
LoRA training rows of NVIDIA Hopper and Ada chips. Transformer Engine runs the forward GEMM with fast
accumulation and dgrad / wgrad with the split accumulator, and the shipped FP8 rates were measured with
the split accumulator (scripts/fp8_accumulation_check.py), so a wired mechanism would speed up the forward
GEMMs only: about 1/3 of the all-GEMM move for full training (fprop, dgrad, wgrad of equal FLOPs) and 1/2
for LoRA (fprop, dgrad). S = 1.045: that script's best-shape estimate.

    python scripts/fp8_accumulation_sensitivity.py [S]
"""
from __future__ import annotations

import copy
import sys

from tapeout.hardware.catalog import get_chip, resolve_chip_id
from tapeout.perf.calibration import load_fitted
from tapeout.validation import harness

FAMILIES = ("nvidia-hopper", "nvidia-ada")  # FP8 tensor-core accumulator promoted by the split mode
BENCHMARKS = ("gpt3", "llama2_70b_lora")


def main(s: float = 1.045) -> None:
    rows = [r for r in harness.read_rows(harness.default_data())
            if r["category"] == "mlperf-train" and r["workload"].split()[-1] in BENCHMARKS
            and resolve_chip_id(r["accelerator"]) and get_chip(resolve_chip_id(r["accelerator"])).family in FAMILIES]
    fitted = copy.deepcopy(load_fitted())
    for cid, e in fitted["chips"].items():
        if e.get("family") in FAMILIES and "fp8" in e.get("eff_compute", {}):
            e["eff_compute"]["fp8"] *= s
    base = {r.id: r for r in harness.run(rows=rows)["results"]}
    new = {r.id: r for r in harness.run(rows=rows, fitted=fitted)["results"]}
    print(f"row            benchmark        chip              error%  all FP8 x{s}  forward only (est.)")
    for i in sorted(base):
        b, n = base[i], new[i]
        if b.error_pct is None:
            continue
        share = 2 if b.benchmark == "llama2_70b_lora" else 3
        print(f"{i:14s} {b.benchmark:16s} {b.accelerator[:16]:16s} {b.error_pct:7.2f}  {n.error_pct:10.2f}  "
              f"{b.error_pct + (n.error_pct - b.error_pct) / share:12.2f}")


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:2]))
