"""The own_peak_only residuals of fit_uncertainty (perf/fit/uncertainty_fit.py), split by the sweep's
format: does the chip keep a best-shape (MAMF) point of that format when its sweep is dropped? Where it
does not, the sweep format's peak fraction is borrowed in the refit and the residual mean (the "bias"
of the variance components) carries that format-transfer error too (issue 15, stop 21).

    python scripts/peak_only_by_format.py      # one refit per sweep chip, a few minutes
"""

from __future__ import annotations

import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.perf.fit import fit_all, read_microbenchmarks
from tapeout.perf.fit.rows import chip_key, gemm_point
from tapeout.perf.fit.uncertainty_fit import gemm_log_residuals


def main() -> None:
    rows = read_microbenchmarks()
    print("| chip | sweep format | best-shape point of that format kept? | rows | mean log err | within sd |")
    print("|---|---|---|---|---|---|")
    for cid in ("mi300x", "a100-sxm", "h200"):  # the chips with a GEMM sweep (fitted.yaml own_peak_only)
        rs = [r for r in rows if chip_key(r["accelerator"])[0] == cid]
        mamf = {gemm_point(r)[3] for r in rs if "max achievable" in r["workload"] and gemm_point(r)}
        sweep = [r for r in rs if gemm_point(r) is not None and "max achievable" not in r["workload"]]
        ids = {r["id"] for r in sweep}
        f_ex = fit_all([r for r in rows if r["id"] not in ids], uncertainty=False)  # as fit_uncertainty does
        for dt in sorted({gemm_point(r)[3] for r in sweep}):
            res = gemm_log_residuals(get_chip(cid), [r for r in sweep if gemm_point(r)[3] == dt], f_ex)
            print(f"| {cid} | {dt} | {'yes' if dt in mamf else 'no'} | {len(res)} | {np.mean(res):+.3f} | {np.std(res):.3f} |")


if __name__ == "__main__":
    main()
