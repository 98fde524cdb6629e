"""Kernel efficiency of block-scaled GEMM formats relative to the format whose calibrated
efficiency the model scales (issue 16), from NVIDIA's measured kernel database only.

    pip install -e '.[kernels]' && python scripts/fit_format_efficiency.py

For each chip of the database and format f in (nvfp4, fp8_block): on every compute-bound GEMM
shape measured in both f and its reference r (m, n, k >= 4096), the achieved fraction of the
chip's dense peak, (2mnk / t) / peak, is taken in both; the ratio eff_f / eff_r is the median
over shapes. Reference: bf16 for nvfp4 (no chip has an fp4 microbenchmark calibration, so the
model's fp4 efficiency is the bf16 one), fp8 for fp8_block (same FP8 peak and calibration).
A format the model quantizes in a kernel of its own (formats.yaml separate_quantize: nvfp4)
has that kernel's modelled time (workloads/llm.quantize_ops costed by perf/opcost on the chip's
shipped calibration) taken out of each measured latency first: the database times
Linear.forward on a BF16 input, quantize included, and the model charges the quantize as its
own op, so the ratio describes the GEMM alone.
Writes src/tapeout/data/calibration/format_efficiency.csv. No end-to-end row is read.

The same run measures eff(fp8)/eff(bf16) per chip (plain per-tensor FP8, its modelled quantize
kernel taken off as for NVFP4: LAW_QUANTIZE_KERNEL) and writes src/tapeout/data/calibration/format_rate_law.yaml: each pair's fixed-time
fraction a (tapeout.format_prior: the prior for a format never measured on a chip) and the law's
leave-one-format-out check on these kernels: NVFP4/BF16 of every chip predicted from its own
FP8/BF16 pair (no FP4 kernel used), FP8/BF16 of every chip predicted from the other families'
pairs (leave-family-out: Hopper from Blackwell and Ada), each next to the old prior (ratio 1).
"""

import csv
from pathlib import Path

import numpy as np
import yaml

from tapeout import format_prior
from tapeout.formats import separate_quantize
from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpTable
from tapeout.perf.calibration import calibrated_params, load_fitted
from tapeout.perf.kernels_db import read_kernels
from tapeout.perf.opcost import evaluate
from tapeout.workloads.llm import quantize_ops

CAL = Path(__file__).resolve().parents[1] / "src" / "tapeout" / "data" / "calibration"
OUT, LAW = CAL / "format_efficiency.csv", CAL / "format_rate_law.yaml"
# fmt: (reference, peak key, ref peak key); "fp8" only feeds the rate law (not an applied ratio)
PAIRS = {"nvfp4": ("bf16", "fp4", "bf16"), "fp8_block": ("fp8", "fp8", "fp8"), "fp8": ("bf16", "fp8", "bf16")}
MIN_DIM = 4096
# formats whose database latency includes an activation-quantize kernel the law's pairs take off (the
# GEMM alone, like the NVFP4 ratios): TensorRT-LLM FP8QDQLinearMethod.apply runs
# torch.ops.tensorrt_llm.static_quantize_e4m3_per_tensor on a BF16 input
# (https://github.com/NVIDIA/TensorRT-LLM/blob/main/tensorrt_llm/_torch/modules/linear.py), and the
# collector times Linear.forward on a BF16 input (collector/trtllm/collect_gemm.py run_gemm)
LAW_QUANTIZE_KERNEL = ("fp8",)


def main():
    k = read_kernels()
    c = k.cols
    rows, pairs = [], {}
    g = (c["op"] == "gemm") & (c["m"] >= MIN_DIM) & (c["n"] >= MIN_DIM) & (c["k"] >= MIN_DIM)
    for chip in sorted(set(c["chip"][g])):
        chip_obj = get_chip(chip)
        for fmt, (ref, pk, rpk) in PAIRS.items():
            peak, rpeak = chip_obj.peak_tflops(pk) * 1e12, chip_obj.peak_tflops(rpk) * 1e12
            if peak <= 0 or rpeak <= 0:
                continue

            def eff(f, p, sep=False):
                s = g & (c["chip"] == chip) & (c["fmt"] == f)
                t = np.asarray(c["latency_s"][s], dtype=float)
                if sep:  # the GEMM alone: the modelled quantize kernel comes off
                    ops = [q for a, d in zip(c["m"][s], c["k"][s]) for q in quantize_ops("q", float(a * d), 1, f, True)]
                    t = t - np.asarray(evaluate(OpTable.from_ops(ops), calibrated_params(chip_obj)).time, dtype=float)
                return {(int(a), int(b), int(d)): 2.0 * a * b * d / x / p
                        for a, b, d, x in zip(c["m"][s], c["n"][s], c["k"][s], t) if x > 0}

            ef, er = eff(fmt, peak, separate_quantize(fmt) or fmt in LAW_QUANTIZE_KERNEL), eff(ref, rpeak)
            shapes = sorted(set(ef) & set(er))
            if not shapes:
                continue
            ratio = float(np.median([ef[s] / er[s] for s in shapes]))
            if fmt == "fp8":
                x = peak / rpeak
                pairs[chip] = {"family": chip_obj.family, "format": fmt, "relative_to": ref, "rate_ratio": round(x, 4),
                               "ratio": round(ratio, 4), "a": round(float(format_prior.a_from_pair(ratio, x)), 4),
                               "n_shapes": len(shapes), "fp4_rate_ratio": round(chip_obj.peak_tflops("fp4") * 1e12 / rpeak, 4)}
                continue
            rows.append({"chip": chip, "family": chip_obj.family, "format": fmt, "relative_to": ref,
                         "ratio": round(ratio, 4), "n_shapes": len(shapes),
                         "source": f"aiconfigurator-core {k.package_version} gemm_perf (NVIDIA measured kernels), "
                                   f"median over GEMMs with m,n,k >= {MIN_DIM}"
                                   + ("; modelled activation-quantize kernel subtracted" if separate_quantize(fmt) else "")
                                   + "; scripts/fit_format_efficiency.py"})
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(r["chip"], r["format"], "/", r["relative_to"], r["ratio"], r["n_shapes"])
    write_law(pairs, {r["chip"]: float(r["ratio"]) for r in rows if r["format"] == "nvfp4"}, k.package_version)


def write_law(pairs: dict, nvfp4: dict, version: str) -> None:
    """format_rate_law.yaml: the pairs and the law's leave-one-format-out check (see module doc)."""
    check, logs, geos = {}, [], []
    for chip, p in sorted(pairs.items()):
        if chip in nvfp4 and p["fp4_rate_ratio"] > 0:  # NVFP4 from the chip's own FP8/BF16 pair
            pred = float(format_prior.ratio(p["a"], 1.0, p["fp4_rate_ratio"]))
            geo = p["ratio"] ** (np.log2(p["fp4_rate_ratio"]) / np.log2(p["rate_ratio"]))
            check[f"{chip} nvfp4/bf16 from own fp8/bf16"] = _row(pred, nvfp4[chip], logs, geo, geos)
        others = [q for q in pairs.values() if q["family"] != p["family"]]  # FP8 leave-family-out
        pred = float(format_prior.ratio(np.mean([q["a"] for q in others]), 1.0, p["rate_ratio"]))
        geo = np.mean([q["ratio"] ** (1.0 / np.log2(q["rate_ratio"])) for q in others]) ** np.log2(p["rate_ratio"])
        check[f"{chip} fp8/bf16 from other families' pairs"] = _row(pred, p["ratio"], logs, geo, geos)
    mb = _microbenchmark_check()
    law = {
        "about": "Fixed-time rate law for the GEMM efficiency of a format never measured on a chip (tapeout/format_prior.py). "
                 "Written by scripts/fit_format_efficiency.py from kernel microbenchmarks only; do not edit by hand.",
        "law": "eff_f / eff_r = (1 + a x_r) / (1 + a x_f), x = format peak / bf16 peak, a = (1 - rho) / (x rho - 1) "
               "from a measured pair at ratio rho",
        "source": f"aiconfigurator-core {version} gemm_perf (NVIDIA measured kernels, https://pypi.org/project/aiconfigurator-core/), "
                  f"per-shape eff(fp8)/eff(bf16) median over GEMMs with m,n,k >= {MIN_DIM}; modelled FP8 activation-quantize "
                  "kernel subtracted (TensorRT-LLM FP8QDQLinearMethod.apply: static_quantize_e4m3_per_tensor)",
        "pairs": pairs,
        "check": {"rows": check, "rms_log_error": round(float(np.sqrt(np.mean(np.square(logs)))), 4),
                  "rms_log_error_geometric": round(float(np.sqrt(np.mean(np.square(geos)))), 4),
                  "rms_log_error_old_prior": round(float(np.sqrt(np.mean([np.log(v["measured"]) ** 2 for v in check.values()]))), 4),
                  "method": "leave-one-format-out: each measured ratio predicted without it; log(predicted / measured); "
                            "old prior = ratio 1 (the format at the calibrated format's fraction of its peak); geometric = the "
                            "alternative form, a constant efficiency ratio per doubling of the rate (rho^log2 x)",
                  "microbenchmark": mb},
    }
    LAW.write_text(yaml.safe_dump(law, sort_keys=False, width=120))
    for name, v in check.items():
        print(name, v)
    print({k: v for k, v in law["check"].items() if k.startswith("rms")})


def _microbenchmark_check() -> dict:
    """The law on the shipped microbenchmark fit's own FP8/BF16 pairs (format_prior.fit_pairs: what an
    FP8 prior on a chip without FP8 microbenchmarks uses): each chip's FP8 fraction predicted from its
    BF16 fraction with a from the other families' pairs."""
    fitted = load_fitted()
    pairs = format_prior.fit_pairs(fitted)
    rows, logs, old = {}, [], []
    for cid, p in sorted(pairs.items()):
        e, ch = fitted["chips"][cid]["eff_compute"], get_chip(cid)
        x, rho = ch.peak_tflops("fp8") / ch.peak_tflops("bf16"), e["fp8"] / e["bf16"]
        pred = float(format_prior.ratio(np.mean([q["a"] for q in pairs.values() if q["family"] != p["family"]]), 1.0, x))
        logs.append(float(np.log(pred / rho)))
        old.append(float(np.log(1.0 / rho)))
        rows[f"{cid} fp8/bf16 from other families' pairs"] = {"predicted": round(pred, 4), "measured": round(rho, 4),
                                                               "log_error": round(logs[-1], 4)}
    return {"rows": rows, "rms_log_error": round(float(np.sqrt(np.mean(np.square(logs)))), 4),
            "rms_log_error_old_prior": round(float(np.sqrt(np.mean(np.square(old)))), 4),
            "method": "fitted.yaml eff_compute of every chip calibrated in bf16 and fp8 (fp8 peak above bf16 peak); "
                      "leave-family-out; re-run this script after tapeout calibrate"}


def _row(pred: float, measured: float, logs: list, geo: float, geos: list) -> dict:
    logs.append(float(np.log(pred / measured)))
    geos.append(float(np.log(geo / measured)))
    return {"predicted": round(pred, 4), "measured": round(measured, 4), "log_error": round(logs[-1], 4),
            "geometric": round(float(geo), 4)}


if __name__ == "__main__":
    main()
