"""Where the model puts a convolution's three training kernels (docs/notes/issue-24.md, Round stop-40 issue-51h).

For every trained convolution of an MLPerf training step (validation/other_rows.training_graphs: ResNet-50,
RetinaNet, 3D U-Net, ... at a per-chip batch; no dgrad for a layer whose input needs no gradient), prices fprop, dgrad and wgrad one at a time exactly as the training step does
(perf/conv_kernels.kernel_times: the chip's GEMM calibration at its sustained training clock) and prints the
achieved rate by kind (filter, stride, C_in band, kernel) as TFLOPS and % of the dense peak, next to the plain GEMM
of the same m, n, k (gemm_twin). Then any kernel-level convolution rows of data/measured/microbenchmarks.csv
(perf/conv_kernels.is_conv_row; none on file at stop 40) against the model. Nothing here is fitted or wired in.

    python scripts/conv_kernel_table.py [--chips a100-sxm,h100-sxm] [--model resnet] [--batch 256]
"""
from __future__ import annotations

import argparse
from collections import defaultdict


def band(c: int) -> str:
    return "C<=128" if c <= 128 else ("C 256-512" if c <= 512 else "C>=1024")


def graph_convs(bench: str, batch: int, chip):
    """The trained convolutions of MLPerf benchmark `bench`'s step at `batch` per chip (validation/other_rows
    .training_graphs) and the fnmatch patterns of those whose input needs no gradient (no dgrad kernel runs)."""
    from tapeout.validation.other_rows import fact, training_graphs

    g, _, _ = training_graphs(bench, batch, chip)
    return [o for o in g.ops if hasattr(o, "taps")], tuple(fact("train_no_input_grad", bench))


def table(chip_id: str, model: str, batch: int) -> None:
    from fnmatch import fnmatchcase

    from tapeout.hardware.catalog import get_chip
    from tapeout.ops import OpGraph
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.conv_kernels import conv_class, gemm_twin, kernel_ops, kernel_times
    from tapeout.perf.train_clock import board_power, graph_time

    chip = get_chip(chip_id)
    p, board = calibrated_params(chip), board_power(chip)
    peak = chip.peak_tflops("bf16")
    acc = defaultdict(lambda: [0.0, 0.0, 0.0])  # flops, model s, gemm-twin s (count-weighted)
    convs, no_dgrad = graph_convs(model, batch, chip)
    for op in convs:
        cls = conv_class(op)
        key0 = (cls["filter"] + ("/s%d" % cls["stride"] if cls["stride"] > 1 else ""), band(cls["c_in"]))
        times = kernel_times(op, p, board)
        for kind, g in kernel_ops(op).items():
            if kind == "dgrad" and any(fnmatchcase(op.name, pat) for pat in no_dgrad):
                continue  # the layer reads data / a frozen prefix: the step runs no dgrad for it
            twin = graph_time(OpGraph("twin", [gemm_twin(g)]), p, board)
            a = acc[key0 + (kind,)]
            a[0] += g.flops * op.count
            a[1] += times[kind] * op.count
            a[2] += twin * op.count
    print(f"\n{chip_id} (train-{model} convolutions, batch {batch}/chip, BF16, dense peak {peak:.0f} TFLOPS)")
    print(f"| filter | C_in | kernel | GFLOP | model ms | model TFLOPS | % peak | GEMM-twin TFLOPS |")
    print("|---|---|---|---|---|---|---|---|")
    tot = [0.0, 0.0]
    for (f, b, kind), (fl, t, tw) in sorted(acc.items()):
        tot[0] += fl
        tot[1] += t
        print(f"| {f} | {b} | {kind} | {fl / 1e9:.0f} | {t * 1e3:.2f} | {fl / t / 1e12:.0f} | "
              f"{100 * fl / t / 1e12 / peak:.0f} | {fl / tw / 1e12:.0f} |")
    print(f"| all | | | {tot[0] / 1e9:.0f} | {tot[1] * 1e3:.2f} | {tot[0] / tot[1] / 1e12:.0f} | "
          f"{100 * tot[0] / tot[1] / 1e12 / peak:.0f} | |")


def measured_rows() -> None:
    from tapeout.perf.conv_kernels import is_conv_row
    from tapeout.perf.fit.rows import read_microbenchmarks

    rows = [r for r in read_microbenchmarks() if is_conv_row(r)]
    print(f"\nkernel-level convolution rows in microbenchmarks.csv: {len(rows)}")
    for r in rows:
        print(f"  {r['id']} {r['accelerator']} {r['model_config']}: {r['value']} {r['unit']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", default="a100-sxm,h100-sxm")
    ap.add_argument("--model", default="resnet", help="an MLPerf training benchmark: resnet, retinanet, unet3d, ...")
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args()
    for c in a.chips.split(","):
        table(c.strip(), a.model, a.batch)
    measured_rows()


if __name__ == "__main__":
    main()
