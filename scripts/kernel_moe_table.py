"""Measured fused-MoE layers of AIConfigurator's kernel database against the engine's MoE pricing.

    python scripts/kernel_moe_table.py                     # print the markdown table (shipped calibration)
    python scripts/kernel_moe_table.py --write             # replace the generated section of docs/validation.md
    python scripts/kernel_moe_table.py --holdout h200      # that chip at the kernel fit without its kernels (~2 min)
    python scripts/kernel_moe_table.py --by-tokens [--holdout h200]   # also the error by routed tokens per EP rank

Needs the kernels extra. Up to 200 layers per (chip, dtype, kernel, routing distribution), TensorRT-LLM stack,
priced by perf/kernel_moe.py. Default: the shipped microbenchmark calibration (eff_moe from published fused-MoE
kernel timings: not a held-out number); --holdout: kernel_calibration.build(holdout=CHIP), the held-out fit.
"""

from __future__ import annotations

import sys

from tapeout.perf.kernel_moe import layer_errors, moe_errors, routed_bucket_errors
from tapeout.perf.kernels_db import chip_for, db_config, read_moe

BEGIN, END = "<!-- kernel-moe:begin (scripts/kernel_moe_table.py --write) -->", "<!-- kernel-moe:end -->"


def table(holdout: str | None = None, by_tokens: bool = False) -> str:
    fitted, systems = None, None
    if holdout:
        from tapeout.perf.kernel_calibration import build

        hid = chip_for(holdout).id
        fitted, systems = build(holdout=hid), [s for s, e in db_config()["systems"].items() if e["chip"] == hid]
    k = read_moe(systems=systems)
    vers = sorted({f"{s['chip']} {s['stack_version']}" for s in k.sources if "stack_version" in s})
    lines = [f"aiconfigurator-core {k.package_version}, moe_perf of {k.sources[0]['stack']} ({', '.join(vers)}); calibration: "
             + (f"kernel fit without {holdout}'s kernels" if holdout else "shipped (microbenchmark fit)")
             + ". |error| = |predicted/measured - 1| of each layer's latency, in %; skipped: layers the model cannot express "
             "(skewed routing, MX-format experts).", "",
             "| chip | moe / dtype | n | skipped | median | p90 | median signed |", "|---|---|---|---|---|---|---|"]
    err = layer_errors(k, fitted)
    groups = [moe_errors(k, e=err)]
    if by_tokens:  # the same columns by routed tokens per EP rank (T k / ep), every dtype together
        groups.append({chip: {f"routed {key}": s for key, s in d.items()} for chip, d in routed_bucket_errors(k, err).items()})
    for g in groups:
        for chip, d in sorted(g.items()):
            for key, e in d.items():
                lines.append(f"| {chip} | {key} | {e['n']} | {e['skipped']} | {e['median_abs_err_pct']:.1f} "
                             f"| {e['p90_abs_err_pct']:.1f} | {e['median_signed_err_pct']:+.1f} |")
    return "\n".join(lines)


def main() -> None:
    from doc_section import print_or_write

    holdout = sys.argv[sys.argv.index("--holdout") + 1] if "--holdout" in sys.argv else None
    by_tokens = "--by-tokens" in sys.argv
    if holdout or by_tokens:
        print(table(holdout, by_tokens))
        return
    print_or_write(BEGIN, END, table())


if __name__ == "__main__":
    main()
