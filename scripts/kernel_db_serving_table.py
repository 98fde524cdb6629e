"""LLM serving rows of the kernel database's chips, with and without the database calibration.

    python scripts/kernel_db_serving_table.py            # print the markdown table
    python scripts/kernel_db_serving_table.py --write    # replace the generated section of docs/validation.md
    python scripts/kernel_db_serving_table.py --chips b200,h100-sxm   # only these chips' rows (not with --write)
    python scripts/kernel_db_serving_table.py --step-power   # with kernel_calibration.STEP_POWER_CLOCK on
    python scripts/kernel_db_serving_table.py --chips h100-sxm --silicon-cap-off   # silicon_cap.SILICON_CAP_ENERGY off

Needs the kernels extra (pip install -e '.[kernels]'). Columns (perf/kernel_calibration.py; the
same as `tapeout validate [--kernels aiconfigurator [--holdout CHIP]]`):
- without: the shipped microbenchmark calibration (fitted.yaml);
- with the database: each DB chip refitted on its own measured kernels (TensorRT-LLM stack);
- held out: for each chip in turn, shared parameters fitted on the other chips' kernels, the
  chip's own kernels and microbenchmarks left out (kernel-level leave-one-chip-out).
Nothing is fitted to the end-to-end rows; they are only scored. ~10 min on 2 shared cores.
"""

from __future__ import annotations

import statistics
import sys
import time

from tapeout.hardware.catalog import resolve_chip_id
from tapeout.perf.kernel_calibration import build
from tapeout.validation import harness

BEGIN, END = "<!-- kernel-db-serving:begin (scripts/kernel_db_serving_table.py --write) -->", "<!-- kernel-db-serving:end -->"


def serving(results) -> dict:
    """id -> signed error % of the LLM serving rows the model predicts."""
    return {r.id: (r.accelerator, r.error_pct) for r in results if r.mapper == "llm_inference" and r.error_pct is not None}


def _cell(errs: list[float]) -> str:
    if not errs:
        return "- | -"
    return f"{statistics.median(abs(e) for e in errs):.1f} | {statistics.median(errs):+.1f}"


def table(only: list[str] | None = None) -> str:
    """The markdown table; `only`: these database chips' rows (and own-kernel fits) alone."""
    t0 = time.time()
    with_db = build(chips=only) if only else build()
    chips = sorted(c for c in with_db["kernel_db"]["source"]["chips"] if resolve_chip_id(c) == c)
    chips = [c for c in chips if not only or c in only]
    rows = [r for r in harness.read_rows(harness.default_data()) if resolve_chip_id(r.get("accelerator", "")) in chips]
    base = serving(harness.run(rows=rows)["results"])
    db = serving(harness.run(rows=rows, fitted=with_db)["results"])
    print(f"without/with done ({time.time() - t0:.0f} s)", file=sys.stderr)
    held: dict = {}
    for c in chips:
        mine = [r for r in rows if resolve_chip_id(r["accelerator"]) == c]
        if mine:
            held.update(serving(harness.run(rows=mine, holdout=c, fitted=build(holdout=c))["results"]))
        print(f"{c} held out ({time.time() - t0:.0f} s)", file=sys.stderr)
    src = with_db["kernel_db"]["source"]
    lines = [f"{src['package']} {src['package_version']}, stack {next(iter(src['chips'].values()))['stack']}. "
             "LLM serving rows (Offline and Server) of end_to_end.csv on the database's catalog chips; "
             "median |error| | median signed error, in %.", "",
             "| chip | rows | without database: abs | signed | with database (own kernels): abs | signed "
             "| chip held out (other chips' kernels): abs | signed |", "|---|---|---|---|---|---|---|---|"]
    for c in chips + ["all"]:
        ids = [i for i, (a, _) in base.items() if c == "all" or resolve_chip_id(a) == c]
        if not ids:
            continue
        cols = [[d[i][1] for i in ids if i in d] for d in (base, db, held)]
        lines.append(f"| {c} | {len(ids)} | " + " | ".join(_cell(e) for e in cols) + " |")
    return "\n".join(lines)


def _chips_arg() -> list[str] | None:
    if "--chips" not in sys.argv:
        return None
    i = sys.argv.index("--chips")
    if i + 1 >= len(sys.argv) or "--write" in sys.argv:
        raise SystemExit("--chips needs a comma-separated list of database chip ids (e.g. b200,h100-sxm), "
                         "and does not go with --write (the docs table holds every chip).")
    return [resolve_chip_id(c.strip()) for c in sys.argv[i + 1].split(",") if c.strip()]


def main() -> None:
    from doc_section import print_or_write

    if "--step-power" in sys.argv:  # each step at the clock its average power sustains (perf/step_power.py)
        if "--write" in sys.argv:
            raise SystemExit("--step-power is a switch that is off by default: the docs table is written without it.")
        from tapeout.perf import kernel_calibration

        kernel_calibration.STEP_POWER_CLOCK = True
    if "--silicon-cap-off" in sys.argv:  # the power cap at the shared energy of every pair (perf/silicon_cap.py)
        if "--write" in sys.argv:
            raise SystemExit("--silicon-cap-off turns a switch that is on by default off: the docs table is written with it on.")
        from tapeout.perf import silicon_cap

        silicon_cap.SILICON_CAP_ENERGY = False
    print_or_write(BEGIN, END, table(_chips_arg()))


if __name__ == "__main__":
    main()
