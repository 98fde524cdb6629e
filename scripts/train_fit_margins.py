"""Per-chip memory need / usable of every predicted non-LLM training row (validation/train_fit.py).

Usage: python scripts/train_fit_margins.py SUB.csv v.json  (v.json: tapeout validate --no-rows --data SUB.csv --json v.json)"""
import csv, json, sys
from tapeout.validation import other_rows as o, train_fit, unet3d_train, unet3d_spatial
from tapeout.validation.system_interconnect import row_node
rows = {r["id"]: r for r in csv.DictReader(open(sys.argv[1]))}
v = json.load(open(sys.argv[2]))
out = []
for r in v["rows"]:
    if r.get("skipped") or r["mapper"] != "mlperf-other-training":
        continue
    row = rows[r["id"]]
    bench = o.benchmark_of(row)[1]
    chip = row_node(row, o._chip(row))
    n = int(float(row["n_accelerators"]))
    gb = o._notes_value(row["notes"], "global_batch_size")
    n_dp = unet3d_train.training_ranks(n, gb) if bench == "unet3d" else n
    sgs = unet3d_spatial.spatial_group(n, gb) if bench == "unet3d" else 1
    per = r["detail"]["per_chip_batch"]
    m = train_fit.check_fits(bench, chip, n_dp, per, gb, sgs)
    out.append((m.total / m.usable, bench, chip.id, n, per, m.passes, m.total / 2**30, m.usable / 2**30))
out.sort(reverse=True)
by = {}
for x in out:
    by.setdefault(x[1], x)
print("rows", len(out), "max need/usable", round(out[0][0], 3))
print("bench | rows | tightest row: chip, chips, per-chip batch, passes, need GiB, usable GiB, need/usable")
for b, x in sorted(by.items(), key=lambda t: -t[1][0]):
    k = sum(1 for y in out if y[1] == b)
    print(f"{b} | {k} | {x[2]}, {x[3]}, {x[4]}, {x[5]}, {x[6]:.1f}, {x[7]:.1f}, {x[0]:.2f}")
