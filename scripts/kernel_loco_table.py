"""Kernel-level leave-one-chip-out on AIConfigurator's measured kernel database.

    python scripts/kernel_loco_table.py            # print the markdown table
    python scripts/kernel_loco_table.py --write    # replace the generated section of docs/validation.md

Needs the kernels extra (pip install -e '.[kernels]'). For every chip of the database in turn:
fit the shared structural parameters (perf/kernel_fit.py) on the other chips' kernels
(300 per chip, op and format, TensorRT-LLM stack) and predict up to 3,000 kernels per op and
format of the held-out chip; the in-sample column fits on every chip. The measured collectives
(nccl_*, custom_all_reduce; perf/kernel_collectives.py) are priced on each chip's own link
description with nothing fitted to the database, so their two columns agree.
"""

from __future__ import annotations

import sys
import time

from tapeout.perf import kernel_fit as kf
from tapeout.perf.kernel_collectives import with_collectives
from tapeout.perf.kernel_floor import read_floors
from tapeout.perf.kernels_db import held_out_chips, read_kernels, without_chips

BEGIN, END = "<!-- kernel-loco:begin (scripts/kernel_loco_table.py --write) -->", "<!-- kernel-loco:end -->"
TRAIN, TEST = 300, 3000


def table() -> str:
    t0 = time.time()
    train, test = read_kernels(per_group=TRAIN), read_kernels(per_group=TEST)
    # every chip's empty GEMMs (perf/kernel_floor.py), where the family fixed-time offsets are measured on them
    floors = read_floors() if kf.FIXED_TIME_BY_FAMILY == "measured" else {}
    x_all = kf.x_of(kf.fit(kf.Groups(train, floors=floors))["params"])
    comm = with_collectives({})  # measured collectives against the engine: nothing fitted, held out = in-sample
    lines = [f"aiconfigurator-core {train.package_version}, stack {train.sources[0]['stack']} "
             f"({', '.join(sorted({s['chip'] + ' ' + s.get('stack_version', '-') for s in train.sources if s['op'] == 'gemm'}))}). "
             f"|error| = |predicted/measured - 1| of each kernel's latency, in %.", "",
             "| held-out chip | op / format | kernels | median (in-sample fit) | median (held out) | p90 (held out) "
             "| median signed (held out) |", "|---|---|---|---|---|---|---|"]
    for chip in sorted(set(train.cols["chip"])):
        mine = test.where(test.cols["chip"] == chip)
        groups = kf.Groups(mine, floors=floors)
        ins = {**kf.errors(groups, x_all).get(chip, {}), **comm.get(chip, {})}
        twins = held_out_chips(chip)  # the chip and its twins (same GPU die and memory: kernels_db.yaml same_silicon)
        rep = kf.holdout_report(without_chips(train, twins), mine, chip,
                                {key: t for key, t in floors.items() if key[0] not in twins})  # never the chip's own
        for key, e in {**rep["errors"], **comm.get(chip, {})}.items():
            lines.append(f"| {chip} | {key} | {e['n']} | {ins[key]['median_abs_err_pct']:.1f} | {e['median_abs_err_pct']:.1f} "
                         f"| {e['p90_abs_err_pct']:.1f} | {e['median_signed_err_pct']:+.1f} |")
        print(f"{chip} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    return "\n".join(lines)


def main() -> None:
    from doc_section import print_or_write

    print_or_write(BEGIN, END, table())


if __name__ == "__main__":
    main()
