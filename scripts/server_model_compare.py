"""Non-LLM Server rows: the M/M/1 batch bound, the greedy zero-delay batcher, and the reference
harness's batcher (perf/scenarios.py: streams sharing the device, batch timeout, CUDA graph at the
cap; data/mlperf/server_harness.yaml), all on the same service times (issue 17).

    python scripts/server_model_compare.py [--iters 16] [--bench sdxl ...]

Prints, per benchmark, median |error| and median signed error (%) of each, and the model's median
Server/Offline ratio on the same system (per chip: Server qps over the Offline rate at the Offline
batch). Measured values are only compared against, never fitted. About 5-10 minutes on one core."""
import argparse
import collections
import csv
import statistics as st
import time
from importlib import resources

from tapeout.perf.scenarios import best_server_rate, harness_batcher
from tapeout.validation import other_rows as o
from tapeout.validation.harness import predict_row

ap = argparse.ArgumentParser()
ap.add_argument("--iters", type=int, default=16, help="bisection steps per rate search")
ap.add_argument("--bench", nargs="*", default=None, help="only these benchmarks (default: all)")
args = ap.parse_args()
rows = list(csv.DictReader(resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv").open()))
res = collections.defaultdict(list)
t0 = time.time()
memo = {}
for r in rows:
    if r.get("scenario") != "Server":
        continue
    k = o.benchmark_of(r)
    if not k or k[0] != "inf" or (args.bench and k[1] not in args.bench):
        continue
    base = predict_row(r)
    if base.skipped or base.error_pct is None:
        continue
    bench = k[1]
    chip = o.maxq_chip(r, o._chip(r), bench, "server", o._high_accuracy(r))
    prec = base.detail.get("compute_precision")
    sw = r.get("software", "")
    times = o.server_batch_times(bench, chip, prec, sw, o._high_accuracy(r))
    T = o.SERVER_BOUND_S[bench]
    key = (bench, tuple(sorted(times.items())))
    if key not in memo:  # rows of the same chip, precision and software share their service times
        memo[key] = (best_server_rate(times, T, iters=args.iters)[0],
                     best_server_rate(times, T, iters=args.iters, **harness_batcher(bench)))
    greedy, (harness, cap) = memo[key]
    offline = max(times) / times[max(times)]
    n = int(float(r["n_accelerators"]))
    meas = float(r["value"])
    err = lambda q: (n * q - meas) / meas * 100  # noqa: E731
    res[bench].append((base.error_pct, err(greedy), err(harness), base.predicted / n / offline, greedy / offline,
                       harness / offline))
print(f"{time.time() - t0:.0f} s")
names = ("M/M/1 bound", "greedy batcher", "harness batcher")
print("| benchmark | rows | " + " | ".join(f"{m} med abs / signed" for m in names) + " | model Server/Offline (M/M/1, greedy, harness) |")
print("|---|---|" + "---|" * (len(names) + 1))
allv = []
for b, v in sorted(res.items()):
    cells = [f"{st.median(abs(x[i]) for x in v):.1f} / {st.median(x[i] for x in v):+.1f}" for i in range(3)]
    ratios = ", ".join(f"{st.median(x[i] for x in v):.2f}" for i in range(3, 6))
    print(f"| {b} | {len(v)} | " + " | ".join(cells) + f" | {ratios} |")
    allv += v
cells = [f"{st.median(abs(x[i]) for x in allv):.1f} / {st.median(x[i] for x in allv):+.1f}" for i in range(3)]
print(f"| all | {len(allv)} | " + " | ".join(cells) + " | |")
