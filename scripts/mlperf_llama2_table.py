"""Predicted vs measured MLPerf Inference v4.1 Llama-2-70B Offline (8 accelerators) for the
README: `python scripts/mlperf_llama2_table.py`. Uses the issue's fixed shape (input 1024,
output 294 tokens, FP8) and, when the MLPerf preset exists, the benchmark's own dataset
statistics. Measured rows come from data/measured/end_to_end.csv (validation only)."""

import csv
import statistics
from importlib import resources

from tapeout.hardware.catalog import resolve_chip_id
from tapeout.perf.llm import serve

rows = list(csv.DictReader(resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv").open()))
meas: dict[str, list[float]] = {}
for r in rows:
    if "v4.1 llama2-70b" in r["workload"] and r["scenario"] == "Offline" and r["n_accelerators"] == "8":
        cid = resolve_chip_id(r["accelerator"])
        if cid in ("h100-sxm", "h200", "mi300x"):
            meas.setdefault(cid, []).append(float(r["value"]))
try:
    from tapeout.perf.mlperf import serve_benchmark
except ImportError:
    serve_benchmark = None
print("| chip | measured tok/s (median of rows) | predicted, I=1024 O=294 | error | predicted, MLPerf preset | error |")
print("|---|---|---|---|---|---|")
for cid in ("h100-sxm", "h200", "mi300x"):
    m = statistics.median(meas[cid])
    p = serve("llama-2-70b", cid, 8, "fp8", 1024, 294).output_tokens_per_s
    cells = [cid, f"{m:,.0f} ({len(meas[cid])} rows)", f"{p:,.0f}", f"{(p / m - 1) * 100:+.0f}%"]
    if serve_benchmark:
        q = serve_benchmark("llama2-70b", cid, 8, scenario="offline")
        q = q["output_tokens_per_s"] if isinstance(q, dict) else q.output_tokens_per_s
        cells += [f"{q:,.0f}", f"{(q / m - 1) * 100:+.0f}%"]
    else:
        cells += ["-", "-"]
    print("| " + " | ".join(cells) + " |")
