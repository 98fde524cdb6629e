"""Out-of-sample coverage of the 80% interval on the LLM inference rows of end_to_end.csv:
leave-one-chip-out, leave-one-benchmark-out, leave-one-precision-out and a time split over
MLPerf rounds (tapeout/validation/coverage.py). A few minutes on one core (one calibration
refit per held-out chip with microbenchmarks and per held-out precision).

    python scripts/interval_coverage.py            # print the four tables
    python scripts/interval_coverage.py --write    # and replace the generated section of docs/validation.md

Each share comes with its 95% Wilson interval (coverage.wilson): rows of one chip or benchmark
share their errors, so the rows are not independent draws and the true sampling interval is wider.
"""

from __future__ import annotations

import sys

BEGIN, END = "<!-- interval-coverage:begin (scripts/interval_coverage.py --write) -->", "<!-- interval-coverage:end -->"
TITLES = {"chip": "Leave one chip out (its microbenchmarks removed from the calibration)",
          "benchmark": "Leave one benchmark out (its context range and stack no longer count as validated)",
          "precision": "Leave one precision out (its microbenchmarks removed from the calibration)",
          "round": "Time split (only earlier MLPerf rounds are development rows)"}


def main() -> None:
    from tapeout.validation import coverage, harness

    rows = coverage.llm_inference_rows(harness.read_rows(harness.default_data()))
    parts = []
    for split in coverage.SPLITS:
        groups = coverage.holdout_results(split, rows, progress=lambda m: print(m, file=sys.stderr))
        parts.append(f"**{TITLES[split]}**\n\n" + coverage.markdown(split, coverage.split_table(groups)))
    md = "\n".join(parts)
    print(md)
    if "--write" in sys.argv:
        from doc_section import replace_section

        replace_section(BEGIN, END, md)

if __name__ == "__main__":
    main()
