"""Does a row's software match the stack and version its chip's kernels were measured under?

A calibration from the measured kernel database (perf/kernel_calibration.py) records, per chip,
the stack and the stack version of every table it read (perf/kernel_fit.source_of). A published
row states what it ran (its `software` field). Where the two differ, or the row states no
version of that stack, the prediction says so in its detail (issue 24: "when the database's
version differs, say so"). Which software strings name which database stack is data
(data/calibration/kernels_db.yaml `stack_software`).
"""

from __future__ import annotations

import re


def row_stack(software: str, stack_software: dict) -> tuple[str | None, str | None]:
    """(database stack the software string names, the version it states); None where none."""
    sw = (software or "").lower()
    for stack, rule in stack_software.items():
        if re.search(rule["match"], sw):
            m = re.search(rule["version"], sw)
            return stack, m.group(1) if m else None
    return None, None


def stack_note(software: str, source: dict, stack_software: dict) -> dict:
    """The detail a prediction calibrated on the database carries: the database's stack and
    versions, the row's, and `note` (None where they agree). `source`: the chip's entry of the
    calibration's source ({"stack", "stack_versions": {op: version}})."""
    db_stack = source.get("stack")
    db_versions = sorted({v for v in (source.get("stack_versions") or {}).values() if v and v != "absent"})
    stack, version = row_stack(software, stack_software)
    out = {"database_stack": db_stack, "database_versions": db_versions, "row_software": software or "",
           "row_stack": stack, "row_version": version, "note": None}
    measured = f"{db_stack} {', '.join(db_versions) or '(no version)'}"
    if stack != db_stack:
        out["note"] = (f"stack differs: the row ran '{software or 'unstated software'}', its chip's kernels were "
                       f"measured under {measured}")
    elif version is None:
        out["note"] = f"the row states no {db_stack} version; its chip's kernels were measured under {measured}"
    elif version not in db_versions:
        out["note"] = f"version differs: the row ran {db_stack} {version}, its chip's kernels were measured under {measured}"
    return out


def kernel_db_detail(row: dict, chip_id: str | None, fitted: dict | None) -> dict | None:
    """stack_note for a row whose chip a kernel-database calibration covers (its own kernels, or
    with a holdout every other chip's: their versions pooled); None otherwise."""
    kdb = (fitted or {}).get("kernel_db")
    if not kdb or chip_id is None or "kernel_db" not in (fitted.get("chips") or {}).get(chip_id, {}):
        return None
    from ..perf.kernels_db import db_config

    chips = kdb["source"]["chips"]
    if chip_id in chips:
        source = chips[chip_id]
    else:  # held out: fitted on the other chips' kernels
        source = {"stack": next((c["stack"] for c in chips.values()), None),
                  "stack_versions": {f"{c}/{op}": v for c, e in chips.items() for op, v in e["stack_versions"].items()}}
    return stack_note(row.get("software", ""), source, db_config()["stack_software"])
