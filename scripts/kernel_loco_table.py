"""Kernel-level leave-one-chip-out on AIConfigurator's measured kernel database.

    python scripts/kernel_loco_table.py            # print the markdown table
    python scripts/kernel_loco_table.py --write    # replace the generated section of docs/validation.md

Needs the kernels extra (pip install -e '.[kernels]'). For every chip of the database in turn:
fit the shared structural parameters (perf/kernel_fit.py) on the other chips' kernels
(300 per chip, op and format, TensorRT-LLM stack) and predict up to 3,000 kernels per op and
format of the held-out chip; the in-sample column fits on every chip. The measured collectives
(nccl_*, custom_all_reduce; perf/kernel_collectives.py) are priced on each chip's own link
description with nothing fitted to the database, so their two columns agree. The measured fused-MoE
layers (moe/<dtype>, perf/kernel_moe.py: balanced routing; the rest are counted as skipped) are priced at the
serving calibration of the same held-out fit (perf/kernel_holdout.py, as `tapeout calibrate --holdout`); they
have no in-sample column (-): the shared fit on every chip has no serving calibration of its own.
"""

from __future__ import annotations

import sys
import time

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernel_collectives import with_collectives
from tapeout.perf.kernel_floor import read_floors
from tapeout.perf.kernel_holdout import held_out_report
from tapeout.perf.kernels_db import held_out_chips, read_kernels

BEGIN, END = "<!-- kernel-loco:begin (scripts/kernel_loco_table.py --write) -->", "<!-- kernel-loco:end -->"
TRAIN, TEST = 300, 3000


def table(train_per_group: int = TRAIN, test_per_group: int = TEST, chips: tuple[str, ...] | None = None) -> str:
    """The markdown table; `chips` holds out only these (default: every chip of the database)."""
    t0 = time.time()
    train, test = read_kernels(per_group=train_per_group), read_kernels(per_group=test_per_group)
    # every chip's empty GEMMs (perf/kernel_floor.py), where the family fixed-time offsets are measured on them
    floors = read_floors() if kf.FIXED_TIME_BY_FAMILY == "measured" else {}
    x_all = kf.x_of(kf.fit(kf.Groups(train, floors=floors))["params"])
    comm = with_collectives({})  # measured collectives against the engine: nothing fitted, held out = in-sample
    lines = [f"aiconfigurator-core {train.package_version}, stack {train.sources[0]['stack']} "
             f"({', '.join(sorted({s['chip'] + ' ' + s.get('stack_version', '-') for s in train.sources if s['op'] == 'gemm'}))}). "
             f"|error| = |predicted/measured - 1| of each kernel's latency, in %.", "",
             "| held-out chip | op / format | kernels | median (in-sample fit) | median (held out) | p90 (held out) "
             "| median signed (held out) |", "|---|---|---|---|---|---|---|"]
    for chip in sorted(set(train.cols["chip"]) if chips is None else chips):
        mine = test.where(test.cols["chip"] == chip)
        groups = kf.Groups(mine, floors=floors)
        ins = {**kf.errors(groups, x_all).get(chip, {}), **comm.get(chip, {})}
        twins = held_out_chips(chip)  # the chip and its twins (same GPU die and memory: kernels_db.yaml same_silicon)
        systems = sorted({s["system"] for s in train.sources if s["chip"] == chip})
        rep = held_out_report(train, mine, chip, {key: t for key, t in floors.items() if key[0] not in twins},
                              systems=systems)  # floors never the chip's own; its kernels, collectives and MoE layers
        for key, e in rep["errors"].items():
            n = f"{e['n']}" + (f" (+{e['skipped']} skipped)" if e.get("skipped") else "")
            lines.append(f"| {chip} | {key} | {n} | {_pct(ins.get(key))} | {_pct(e)} "
                         f"| {_pct(e, 'p90_abs_err_pct')} | {_pct(e, 'median_signed_err_pct', '+.1f')} |")
        print(f"{chip} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    return "\n".join(lines)


def _pct(e: dict | None, key: str = "median_abs_err_pct", fmt: str = ".1f") -> str:
    """One cell: the statistic, or - where the class has none (no in-sample MoE fit; every layer skipped)."""
    v = (e or {}).get(key)
    return "-" if v is None or v != v else format(v, fmt)


def main() -> None:
    from doc_section import print_or_write

    print_or_write(BEGIN, END, table())


if __name__ == "__main__":
    main()
