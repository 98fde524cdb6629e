"""Measured collectives of AIConfigurator's kernel database against the collective engine.

    python scripts/kernel_collectives_table.py            # print the markdown table
    python scripts/kernel_collectives_table.py --write    # replace the generated section of docs/validation.md

Needs the kernels extra (pip install -e '.[kernels]'). Every NCCL all-reduce / all-gather /
reduce-scatter / all-to-all and TensorRT-LLM custom all-reduce the database measured (2-8 GPUs of one
system) is priced by perf/kernel_collectives.py on the chip's own link description at its shipped
calibration; nothing is fitted to these rows, so the errors are held-out errors for every chip.
"""

from __future__ import annotations

from tapeout.perf.kernel_collectives import with_collectives
from tapeout.perf.kernels_db import read_collectives

BEGIN, END = "<!-- kernel-collectives:begin (scripts/kernel_collectives_table.py --write) -->", "<!-- kernel-collectives:end -->"


def table() -> str:
    k = read_collectives()
    vers = sorted({f"{s['chip']} {s['stack']} {s['stack_version']}" for s in k.sources if "stack_version" in s})
    lines = [f"aiconfigurator-core {k.package_version} ({'; '.join(vers)}). Sizes: the table's message_size "
             "(elements) x the dtype's bytes. |error| = |predicted/measured - 1| of each collective's latency, in %; "
             "skipped: rows the model cannot express (none expected: 2-8 GPUs in one scale-up domain).", "",
             "| chip | collective / dtype | n | skipped | median | p90 | median signed |", "|---|---|---|---|---|---|---|"]
    for chip, d in sorted(with_collectives({}).items()):
        for key, e in d.items():
            lines.append(f"| {chip} | {key} | {e['n']} | {e['skipped']} | {e['median_abs_err_pct']:.1f} "
                         f"| {e['p90_abs_err_pct']:.1f} | {e['median_signed_err_pct']:+.1f} |")
    return "\n".join(lines)


def main() -> None:
    from doc_section import print_or_write

    print_or_write(BEGIN, END, table())


if __name__ == "__main__":
    main()
