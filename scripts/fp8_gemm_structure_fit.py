"""Which structural form carries the measured FP8 GEMM shape dependence: candidate terms fitted on one chip's measured
FP8 GEMMs, checked held out on others (issue 24, round stop-40 issue-53a).

    python scripts/fp8_gemm_structure_fit.py [--fit h200] [--check h100-sxm b200] [--quant-round-us US]

For each chip, on the database's own grid (M 2,048-32,768, N and K 1,024-16,384; no interpolation), the ratio
r = measured FP8 GEMM time / the fitted model's FP8 GEMM time, both at the burst clock (the database's
aiconfigurator-core gemm_perf median through perf/gemm_table.MeasuredGemms.time, its quantize pass taken off; the fit
= opcost at calibrated_params(chip), the default microbenchmark calibration). BF16 is printed alongside: where its
ratio stays near 1 the fit's tile / wave structure already holds and the FP8 excess is the format's. Candidate
forms of the excess (each a multiplier on the fitted time, parameters fitted by least squares in log on `--fit`):
  A  per-tile fixed   1 + k0 / K     a per-output-tile cost that does not shrink with the FP8 MMA rate (pipeline fill
                                     of the first k stages, the epilogue: dequant scale, BF16 convert, store); per
                                     FLOP it falls as 1 / K and does not depend on N (tiles x fixed / (tiles x K steps))
  C  per-row          1 + c / N      a cost per activation element (M x K: an activation-side pass or re-read) per
                                     FLOP falls as 1 / N and does not depend on K
  D  both             1 + c / N + k0 / K
`--quant-round-us US` (issue 24, round stop-40 issue-54a): the database's dynamic per-tensor quantize pass is taken off
at max(its DRAM stream, its kernels' grid-stride iterations x US) (kernel_tile.fp8_tensor_quant_rounds: TensorRT-LLM's
amax + scalar convert, one element per thread per iteration) instead of the DRAM stream alone; US is the kernel fit's
quant_round_us (`tapeout calibrate --kernels aiconfigurator` with kernel_fit.TENSOR_QUANT_ROUNDS on). Chips the rule
does not cover (no compute capability in kernels_db.yaml: L40S) keep the DRAM price.
Printed: parameters, median / max |error| on the fit chip and on each held-out chip, held-out signed medians by N and
by K. Kernel timings only: no end-to-end result is read. Needs the kernels extra (it reads the installed database).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import least_squares

from tapeout.errors import script_main
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.gemm_table import MeasuredGemms
from tapeout.perf.kernel_tile import fp8_tensor_quant_rounds, fp8_tensor_quant_rule
from tapeout.perf.kernels_db import db_config
from tapeout.perf.opcost import evaluate
from tapeout.perf.training import OpGraph

GRID_M = (2048, 4096, 8192, 16384, 32768)  # the database's own grid values (aiconfigurator-core 0.12.0 gemm_perf)
GRID_SIDE = (1024, 2048, 4096, 8192, 12288, 16384)
FORMS = {  # name -> (parameter names, multiplier on the fitted time)
    "A per-tile fixed: 1 + k0/K": (("k0",), lambda c, n, k: 1 + c[0] / k),
    "C per-row: 1 + c/N": (("c",), lambda c, n, k: 1 + c[0] / n),
    "D both: 1 + c/N + k0/K": (("c", "k0"), lambda c, n, k: 1 + c[0] / n + c[1] / k),
}


def quant_rule(chip_id: str, fmt: str) -> dict | None:
    """The per-tensor quantize rule of the chip's database system (None: not covered)."""
    systems = [s for s, e in db_config()["systems"].items() if e["chip"] == chip_id]
    return fp8_tensor_quant_rule(systems[0], "trtllm", fmt) if systems else None


def ratios(chip_id: str, fmt: str, round_us: float | None = None) -> np.ndarray:
    """Rows (m, n, k, measured / fitted time) on the database's grid for the chip and format (burst clock);
    with `round_us`, the quantize pass taken off at max(DRAM stream, grid-stride iterations x round_us)."""
    chip = get_chip(chip_id)
    p, db = calibrated_params(chip), MeasuredGemms(chip.calibration_id)
    rule = quant_rule(chip_id, fmt) if round_us else None
    rows = []
    for m in GRID_M:
        for n in GRID_SIDE:
            for k in GRID_SIDE:
                op = MatMul(name="g", m=m, n=n, k=k, a_dtype=fmt, w_dtype=fmt, math_dtype=fmt)
                t_db = db.time(op, p)
                if t_db and rule:
                    t_all = db.latency(m, n, k, fmt)
                    rounds = float(fp8_tensor_quant_rounds(m, k, float(p.num_cores), rule))
                    t_db = max(t_all - max(t_all - t_db, rounds * round_us * 1e-6), op.flops / float(np.max(p.peak(fmt))))
                if t_db:
                    t_fit = float(np.max(np.asarray(evaluate(OpGraph(name="g", ops=[op]), p).time, dtype=float)))
                    rows.append((m, n, k, t_db / t_fit))
    return np.array(rows, dtype=float).reshape(-1, 4)


def intercepts(chip_id: str, fmt: str) -> np.ndarray:
    """Model-free: per (M, K) of the grid, the database latency (quantize included) fitted linear in N over N
    4,096-16,384, its intercept (the part that does not grow with N) per activation element M x K, ps (M x K >= 2^25)."""
    db = MeasuredGemms(get_chip(chip_id).calibration_id)
    ns, out = np.array([4096.0, 8192.0, 12288.0, 16384.0]), []
    for m in GRID_M:
        for k in GRID_SIDE[:-1]:
            if m * k < 2**25:  # a few-us launch would dominate a small activation's per-element intercept
                continue
            t = [db.latency(m, int(n), k, fmt) for n in ns]
            if all(t):
                out.append(np.polyfit(ns, np.array(t), 1)[1] / (m * k) * 1e12)
    return np.array(out)


def err_text(e: np.ndarray) -> str:
    a = np.abs(np.expm1(e)) * 100
    return f"median |err| {np.median(a):.1f}%, max {np.max(a):.0f}% (n {len(e)})"


def by(e, col, values, name):
    return " ".join(f"{name}{v}: {100 * np.median(np.expm1(e[col == v])):+.0f}%" for v in values if np.any(col == v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fit", default="h200", help="chip whose measured FP8 GEMMs fit the parameters")
    ap.add_argument("--check", nargs="+", default=["h100-sxm", "b200"], help="held-out chips")
    ap.add_argument("--quant-round-us", type=float, default=None,
                    help="take the per-tensor quantize pass off at max(DRAM stream, its grid-stride iterations x this, us)")
    args = ap.parse_args()
    data = {c: ratios(c, "fp8", args.quant_round_us) for c in [args.fit, *args.check]}
    for c in [args.fit, *args.check]:
        bf = ratios(c, "bf16")
        print(f"{c}: measured / fitted time, median by N (fp8 | bf16): "
              + " ".join(f"N{n}: {np.median(data[c][data[c][:, 1] == n, 3]):.2f} | "
                         f"{np.median(bf[bf[:, 1] == n, 3]):.2f}" for n in GRID_SIDE if np.any(data[c][:, 1] == n)))
    print("\nintercept of the latency vs N per activation element (M x K), ps, median [p25..p75] (fp8 | bf16; M x K >= 32M):")
    for c in [args.fit, *args.check]:
        f8, bf = intercepts(c, "fp8"), intercepts(c, "bf16")
        print(f"  {c}: {np.median(f8):.2f} [{np.percentile(f8, 25):.2f}..{np.percentile(f8, 75):.2f}] | "
              f"{np.median(bf):.2f} [{np.percentile(bf, 25):.2f}..{np.percentile(bf, 75):.2f}]")
    print("\nsigned error = model / measured - 1 (negative: the model is faster than measured)")
    f = data[args.fit]
    print(f"no term (the fit as is): fit chip {args.fit} {err_text(-np.log(f[:, 3]))}")
    for c in args.check:
        e = -np.log(data[c][:, 3])
        print(f"  held out {c}: {err_text(e)}\n    by N {by(e, data[c][:, 1], GRID_SIDE, 'N')}"
              f"\n    by K {by(e, data[c][:, 2], GRID_SIDE, 'K')}")
    for name, (pars, form) in FORMS.items():
        res = least_squares(lambda x: np.log(form(x, f[:, 1], f[:, 2])) - np.log(f[:, 3]), x0=[500.0] * len(pars),
                            bounds=(0.0, np.inf))
        print(f"{name}: {', '.join(f'{p} {v:.0f}' for p, v in zip(pars, res.x))}; fit chip {args.fit} "
              f"{err_text(res.fun)}")
        for c in args.check:
            d = data[c]
            e = np.log(form(res.x, d[:, 1], d[:, 2])) - np.log(d[:, 3])
            print(f"  held out {c}: {err_text(e)}\n    by N {by(e, d[:, 1], GRID_SIDE, 'N')}"
                  f"\n    by K {by(e, d[:, 2], GRID_SIDE, 'K')}")


if __name__ == "__main__":
    script_main(main)
