"""LLM serving rows of H100 / H200 with each chip's own kernels (the kernel database's joint fit) under a
setting of kernel_fit's switches: which fit change moves the `--kernels` serving numbers.

    python scripts/kernel_db_serving_switches.py HELD_CAP_ENERGY=0 DEEPGEMM_EFF=1

Prints, per chip, the rows, median |error| % and median signed % (the "with database (own kernels)" column of
scripts/kernel_db_serving_table.py, restricted to these chips). Needs tapeout[kernels]; ~6 min on one core.
"""

from __future__ import annotations

import statistics
import sys

import tapeout.perf.kernel_fit as kernel_fit
from tapeout.hardware.catalog import resolve_chip_id
from tapeout.perf.kernel_calibration import build
from tapeout.validation import harness

CHIPS = ("h100-sxm", "h200")


def main(settings: list[str]) -> None:
    for kv in settings:
        name, _, value = kv.partition("=")
        if not hasattr(kernel_fit, name) or value not in ("0", "1"):
            raise SystemExit(f"{kv}: give SWITCH=0 or SWITCH=1 with a kernel_fit switch name (e.g. DEEPGEMM_EFF=0)")
        setattr(kernel_fit, name, value == "1")
    rows = [r for r in harness.read_rows(harness.default_data()) if resolve_chip_id(r.get("accelerator", "")) in CHIPS]
    results = harness.run(rows=rows, fitted=build())["results"]
    for chip in CHIPS:
        errs = [r.error_pct for r in results if r.mapper == "llm_inference" and r.error_pct is not None
                and resolve_chip_id(r.accelerator) == chip]
        print(f"{' '.join(settings) or 'main'} {chip}: {len(errs)} rows, median |error| "
              f"{statistics.median(abs(e) for e in errs):.1f}%, signed {statistics.median(errs):+.1f}%")


if __name__ == "__main__":
    main(sys.argv[1:])
