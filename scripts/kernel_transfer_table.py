"""How the DEFAULT calibration (shipped microbenchmark fit, no --kernels) predicts every chip's
measured kernels in AIConfigurator's database, own-microbenchmark chips vs transferred ones.

    python scripts/kernel_transfer_table.py            # print the markdown table
    python scripts/kernel_transfer_table.py --write    # replace the generated section of docs/validation.md

Needs the kernels extra (pip install -e '.[kernels]'). Up to 3,000 kernels per chip, op and
format (TensorRT-LLM stack); perf/kernel_transfer.py.
"""

from __future__ import annotations

from tapeout.perf.kernel_transfer import CEILING_MIN_DIM, default_errors, gemm_ceilings
from tapeout.perf.kernels_db import read_kernels

BEGIN, END = "<!-- kernel-transfer:begin (scripts/kernel_transfer_table.py --write) -->", "<!-- kernel-transfer:end -->"
PER_GROUP = 3000


def table(fitted: dict | None = None) -> str:
    k = read_kernels(per_group=PER_GROUP)
    lines = [f"aiconfigurator-core {k.package_version}, stack {k.sources[0]['stack']}; shipped fit "
             "(data/calibration/fitted.yaml). |error| = |predicted/measured - 1| of each kernel's latency, in %. "
             "GEMM efficiency from: `chip fit` = the chip's own microbenchmarks; anything else is transferred.", "",
             "| chip | GEMM efficiency from | op / format | kernels | median | p90 | median signed |",
             "|---|---|---|---|---|---|---|"]
    for chip, e in default_errors(k, fitted).items():
        for key, s in e["ops"].items():
            lines.append(f"| {chip} | {e['origin']} | {key} | {s['n']} | {s['median_abs_err_pct']:.1f} "
                         f"| {s['p90_abs_err_pct']:.1f} | {s['median_signed_err_pct']:+.1f} |")
    lines += ["", f"Measured BF16 GEMM ceiling (median of 2mnk / latency / dense BF16 peak over GEMMs with m, n, k >= "
              f"{CEILING_MIN_DIM}) against the calibrated efficiency; power density = TDP / dense BF16 TFLOP/s "
              "(the transfer law's variable).", "",
              "| chip | GEMM efficiency from | W per TFLOP/s | GEMMs | measured ceiling | calibrated eff bf16 | calibrated / measured |",
              "|---|---|---|---|---|---|---|"]
    for chip, g in sorted(gemm_ceilings(k, fitted).items(), key=lambda kv: kv[1]["power_density"]):
        lines.append(f"| {chip} | {g['origin']} | {g['power_density']:.3f} | {g['n']} | {g['measured']:.3f} "
                     f"| {g['calibrated']:.3f} | {g['calibrated'] / g['measured']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    from doc_section import print_or_write

    print_or_write(BEGIN, END, table())


if __name__ == "__main__":
    main()
