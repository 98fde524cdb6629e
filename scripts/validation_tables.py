"""Write the validation tables of docs/validation_tables.md from `tapeout validate --json`.

    tapeout validate --no-rows --json /tmp/validation.json
    python scripts/validation_tables.py /tmp/validation.json > docs/validation_tables.md

Every number is read from the JSON the harness wrote; nothing is edited by hand.
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{v * 100:.0f}%" if pct else f"{v:.1f}"


def stats_table(title: str, groups: dict, coverage: dict | None = None) -> list[str]:
    head = "| group | n | median abs err % | mean abs err % | median signed % | in 80% interval |"
    if coverage:
        head = "| group | rows | predicted | coverage | median abs err % | mean abs err % | median signed % | in 80% interval |"
    out = [f"### {title}", "", head, "|" + "---|" * (head.count("|") - 1)]
    for k, v in groups.items():
        cells = [k]
        if coverage:
            c = coverage.get(k, {"rows": v["n"], "predicted": v["n"], "coverage": 1.0})
            cells += [str(c["rows"]), str(c["predicted"]), _fmt(c["coverage"], pct=True)]
        else:
            cells.append(str(v["n"]))
        cells += [_fmt(v["median_abs_err_pct"]), _fmt(v["mean_abs_err_pct"]), _fmt(v["median_signed_err_pct"]),
                  _fmt(v["interval_coverage"], pct=True)]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


# issue 17's "Done when" for the non-LLM MLPerf inference rows: (scenarios pooled, median abs err % max,
# coverage min); coverage = predicted / rows of those scenarios
NON_LLM_TARGETS = [("Offline + Server", ("offline", "server"), 15.0, 0.95), ("Offline", ("offline",), None, None),
                   ("Server", ("server",), None, None), ("SingleStream", ("singlestream",), 25.0, None),
                   ("MultiStream", ("multistream",), 25.0, None)]


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2) if n else float("nan")


def non_llm_scenario_table(rows: list[dict]) -> list[str]:
    """Non-LLM MLPerf inference rows by LoadGen scenario against issue 17's targets, and by benchmark."""
    mine = [r for r in rows if r.get("mapper") == "mlperf-other-inference"]
    out = ["### Non-LLM MLPerf inference by LoadGen scenario (issue 17 targets)", "",
           "| scenarios | rows | predicted | coverage | median abs err % | median signed % | in 80% interval | target | status |",
           "|---|---|---|---|---|---|---|---|---|"]
    for label, scens, max_err, min_cov in NON_LLM_TARGETS:
        sel = [r for r in mine if r["scenario"] in scens]
        pred = [r for r in sel if r.get("error_pct") is not None]
        if not sel:
            continue
        cov = len(pred) / len(sel)
        err = _median([abs(r["error_pct"]) for r in pred])
        inside = [bool(r["inside"]) for r in pred if r.get("inside") is not None]
        target = " and ".join(t for t in (f"<= {max_err:g}%" if max_err else "",
                                          f"coverage >= {min_cov:.0%}" if min_cov else "") if t) or "-"
        met = (max_err is None or err <= max_err) and (min_cov is None or cov >= min_cov)
        out.append(f"| {label} | {len(sel)} | {len(pred)} | {cov:.1%} | {err:.1f} | "
                   f"{_median([r['error_pct'] for r in pred]):.1f} | {_fmt(sum(inside) / len(inside) if inside else None, True)} | "
                   f"{target} | {'-' if target == '-' else 'met' if met else 'missed'} |")
    out += ["", "Predicted rows by benchmark (skipped rows keep the row's own benchmark token, so they are counted above only):",
            "", "| benchmark | scenario | n | median abs err % | median signed % | in 80% interval |", "|---|---|---|---|---|---|"]
    pred = [r for r in mine if r.get("error_pct") is not None]
    for bench, scen in sorted({(r["benchmark"], r["scenario"]) for r in pred}):
        e = [r["error_pct"] for r in pred if (r["benchmark"], r["scenario"]) == (bench, scen)]
        inside = [bool(r["inside"]) for r in pred if (r["benchmark"], r["scenario"]) == (bench, scen)
                  and r.get("inside") is not None]
        out.append(f"| {bench} | {scen} | {len(e)} | {_median([abs(x) for x in e]):.1f} | {_median(e):.1f} | "
                   f"{_fmt(sum(inside) / len(inside) if inside else None, True)} |")
    return out + [""]


TRAIN_MAPPERS = ("mlperf-other-training", "llm_training")
CHIP_BUCKETS = ((1, 8, "1-8"), (9, 64, "9-64"), (65, 512, "65-512"), (513, float("inf"), "> 512"))


def training_vendor_scale_table(rows: list[dict]) -> list[str]:
    """Training rows by the accelerator's vendor and by chip count: a bias shared by one vendor's stacks, or
    growing with scale, shows here rather than in a per-benchmark median."""
    pred = [r for r in rows if r.get("mapper") in TRAIN_MAPPERS and r.get("error_pct") is not None]
    out = ["### Training rows by vendor and chip count", "",
           "Signed error < 0: predicted faster than measured. Vendor = the accelerator name's first word.", "",
           "| vendor | chips | n | median abs err % | median signed % | in 80% interval |", "|---|---|---|---|---|---|"]
    for vendor in sorted({r["accelerator"].split()[0] for r in pred}):
        for lo, hi, label in CHIP_BUCKETS:
            sel = [r for r in pred if r["accelerator"].split()[0] == vendor and lo <= float(r["n_accelerators"]) <= hi]
            if not sel:
                continue
            e = [r["error_pct"] for r in sel]
            inside = [bool(r["inside"]) for r in sel if r.get("inside") is not None]
            out.append(f"| {vendor} | {label} | {len(e)} | {_median([abs(x) for x in e]):.1f} | {_median(e):.1f} | "
                       f"{_fmt(sum(inside) / len(inside) if inside else None, True)} |")
    return out + [""]


def _readings(r: dict) -> tuple[dict | None, dict | None]:
    """A training row's (throughput, time-to-train) readings, each {"error_pct", "inside"} or None: throughput where
    the row's own convergence point priced it; time-to-train where the benchmark definition's did (the row itself,
    measures "time-to-train", or its detail["time_to_train"] block at the RCP for its batch)."""
    d = r.get("detail") or {}
    own = {"error_pct": r["error_pct"], "inside": r.get("inside")}
    if d.get("measures") == "time-to-train":
        return None, own
    t = d.get("time_to_train") or {}
    return own, ({"error_pct": t["error_pct"], "inside": t.get("inside")} if t.get("error_pct") is not None else None)


def _cells(xs: list[dict]) -> str:
    if not xs:
        return "0 | - | - | -"
    e = [x["error_pct"] for x in xs]
    inside = [bool(x["inside"]) for x in xs if x.get("inside") is not None]
    return (f"{len(e)} | {_median([abs(v) for v in e]):.1f} | {_median(e):.1f} | "
            f"{_fmt(sum(inside) / len(inside) if inside else None, True)}")


def time_to_train_table(rows: list[dict]) -> list[str]:
    """Issue 18 item 4: per training benchmark, the error as a time-to-train (convergence from the benchmark
    definition: the RCP at the row's global batch) and as a throughput (convergence from the row's own log), both
    published; `no RCP`: throughput rows whose detail["time_to_train"] block says why there is none."""
    pred = [r for r in rows if r.get("error_pct") is not None and (r.get("detail") or {}).get("measures")]
    out = ["### Time-to-train (benchmark definition) vs throughput (row's convergence)", "",
           "Per benchmark: `time-to-train` = predicted at the benchmark definition's convergence point (the MLPerf RCP",
           "at the row's global batch, data/mlperf/rcps.yaml), compared with the reported score as is; `throughput` =",
           "predicted at the row's own logged convergence (x the score's RCP factor). A row with both readings counts in",
           "both; `no RCP` = throughput rows without a time-to-train reading (no RCP for their round or batch).", "",
           "| benchmark | time-to-train rows | median abs err % | median signed % | in 80% interval | throughput rows | "
           "median abs err % | median signed % | in 80% interval | no RCP |", "|---|---|---|---|---|---|---|---|---|---|"]
    for bench in sorted({r["benchmark"] for r in pred}):
        sel = [_readings(r) for r in pred if r["benchmark"] == bench]
        tp, tt = [a for a, _ in sel if a], [b for _, b in sel if b]
        out.append(f"| {bench} | {_cells(tt)} | {_cells(tp)} | {sum(1 for a, b in sel if a and not b)} |")
    return out + [""]


def main(path: str) -> None:
    d = json.load(open(path))
    s, rows = d["summary"], d["rows"]
    pred = [r for r in rows if r.get("error_pct") is not None]
    inside = [r["inside"] for r in pred if r.get("inside") is not None]
    llm = [r["inside"] for r in pred if r["mapper"].startswith("llm") and r.get("inside") is not None]
    lines = ["# Validation tables (generated)", "",
             "Generated by `scripts/validation_tables.py` from `tapeout validate --no-rows --json` on the packaged",
             f"end_to_end.csv ({len(rows)} rows, {len(pred)} predicted). Do not edit by hand.", "",
             f"Overall: median abs error {_fmt(s['overall']['median_abs_err_pct'])}% over {s['overall']['n']} rows; "
             f"measured value inside the 80% interval for {_fmt(sum(inside) / len(inside) if inside else None, True)} of all predicted rows, "
             f"{_fmt(sum(llm) / len(llm) if llm else None, True)} of the {len(llm)} LLM rows.", ""]
    lines += stats_table("By class (issue targets)", s["by_class"], s["coverage"])
    lines += ["Training rows: `throughput` = the row's own convergence point (samples to converge) is used, so",
              "only throughput is predicted; `time-to-train` = the convergence point comes from the benchmark definition:",
              "the rows that log none, plus every throughput row whose benchmark has an MLPerf Reference Convergence Point",
              "(RCP) at its global batch, predicted again at the RCP (data/mlperf/rcps.yaml) and compared with the reported",
              "score as is (time x the RCP factor: a run converging faster than the RCP mean is scored at the mean, a",
              "slower one at its own time; validation/rcp.py). `(RCP rows)`: those rows alone, under both measures; the",
              "time-to-train interval has the throughput prediction's relative width.", ""]
    lines += stats_table("Training: throughput vs time-to-train", s.get("by_training_measure", {}))
    lines += time_to_train_table(rows)
    lines += training_vendor_scale_table(rows)
    lines += stats_table("By benchmark", s["by_benchmark"])
    lines += stats_table("By scenario", s["by_scenario"])
    lines += non_llm_scenario_table(rows)
    lines += stats_table("By accelerator", s["by_accelerator"])
    lines += ["### Ten worst predicted rows", "",
              "| id | benchmark | scenario | accelerator | n | measured | predicted | unit | err % |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(pred, key=lambda r: -abs(r["error_pct"]))[:10]:
        lines.append(f"| {r['id']} | {r['benchmark']} | {r['scenario']} | {r['accelerator']} | {r['n_accelerators']} | "
                     f"{r['measured']:.4g} | {r['predicted']:.4g} | {r['unit']} | {r['error_pct']:+.0f} |")
    lines += ["", "### Skipped rows by reason", "", "| reason | rows |", "|---|---|"]
    for k, v in Counter(f"{r['mapper']}: {r['skipped']}" for r in rows if r.get("skipped")).most_common():
        lines.append(f"| {k.replace('|', '/')} | {v} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
