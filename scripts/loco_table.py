"""Leave-one-chip-out table for every chip with predicted rows in end_to_end.csv.

    python scripts/loco_table.py > /tmp/loco.md

For a chip with its own microbenchmarks the calibration is refitted without them
(`tapeout validate --holdout CHIP`) and its rows predicted from the family/generic means, as
for a chip that was never built; a chip without microbenchmarks already uses those means, so
its two columns are equal by construction. All rows, all mappers.
"""

from __future__ import annotations

import numpy as np

from tapeout.hardware.catalog import resolve_chip_id
from tapeout.perf.calibration import load_fitted
from tapeout.validation import harness


def _stats(rs):
    e = np.array([r.error_pct for r in rs if r.error_pct is not None])
    ins = [r.inside for r in rs if r.inside is not None]
    if not len(e):
        return None
    return np.median(np.abs(e)), np.median(e), (np.mean(ins) if ins else None)


def main() -> None:
    own = harness.run()["results"]
    by_chip: dict[str, list] = {}
    for r in own:
        cid = resolve_chip_id(r.accelerator)
        if cid and r.error_pct is not None:
            by_chip.setdefault(cid, []).append(r)
    calibrated = set(load_fitted().get("chips", {}))
    print("| chip | rows | own microbenchmarks | median abs err % (own fit) | median abs err % (held out) | "
          "median signed % (held out) | in 80% interval (held out) |")
    print("|---|---|---|---|---|---|---|")
    for cid in sorted(by_chip, key=lambda c: -len(by_chip[c])):
        o = _stats(by_chip[cid])
        if cid in calibrated:
            h = _stats([r for r in harness.run(holdout=cid)["results"] if r.error_pct is not None])
        else:
            h = o
        cov = f"{h[2] * 100:.0f}%" if h[2] is not None else "-"
        print(f"| {cid} | {len(by_chip[cid])} | {'yes' if cid in calibrated else 'no (family/generic)'} | {o[0]:.1f} | "
              f"{h[0]:.1f} | {h[1]:+.1f} | {cov} |")


if __name__ == "__main__":
    main()
