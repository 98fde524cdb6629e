"""Fit the sigmas of the distance-from-calibration terms (perf/novelty.py) on microbenchmarks
only, and write src/tapeout/data/calibration/novelty.yaml.

    python scripts/fit_novelty.py            # needs the `kernels` extra for the software term

Each term is the log-space error a prediction inherits when it leaves what the calibration
covered; none is fitted on end-to-end rows:
  chip_family  leave-one-family-out on the per-chip best-shape GEMM efficiencies of fitted.yaml
               (a family's chips predicted by the mean of the other families' chips), minus the
               generic-level sigma the base interval already carries (in quadrature).
  precision    leave-one-precision-out: a chip's efficiency at a format it was not measured in is
               its bf16 efficiency (perf/calibration.py eff_compute_array); error = log(eff_p/eff_bf16)
               over every chip measured in both.
  model_family spread across kernel families of the fitted efficiency relative to dense GEMM
               (GEMM = 1, fused attention eff_attention, grouped MoE eff_moe; generic level): an
               op mix never validated runs kernels whose efficiency is as uncertain as that spread.
  power_density  leave-one-pair-out on the power-transfer law's same-silicon pairs (fitted.yaml
               power_transfer.pairs): per pair, its slope ln(eff_a/eff_b)/ln(pd_a/pd_b) minus gamma fitted
               on the other pairs; outside the fitted range the slope is unknown between flat (the held
               factor) and the law's, so sigma per unit log distance = sqrt(gamma^2 + loo_rms^2).
  seq_range    leave-one-sequence-length-out on the fused-attention kernel rows
               (attention_kernels.csv): eff_attention fitted without one length vs with it alone.
  software     spread across serving stacks of the same kernel (aiconfigurator-core kernel
               database: vllm / sglang vs trtllm, same chip, format and shape); per (stack, chip,
               format) the median log latency ratio; sigma = 1.4826 x median |ratio| (robust sd).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

OUT = Path(__file__).resolve().parents[1] / "src" / "tapeout" / "data" / "calibration" / "novelty.yaml"
DTYPES = ("bf16", "fp8")


def _rms(x) -> float:
    return float(math.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def chip_family(fitted: dict) -> dict:
    own = {c: e for c, e in fitted["chips"].items() if e.get("eff_compute") and e.get("family")}
    errs, per = [], {}
    for cid, e in own.items():
        others = [o for o in own.values() if o["family"] != e["family"]]
        for dt in DTYPES:
            pool = [o["eff_compute"][dt] for o in others if dt in o["eff_compute"]]
            if dt in e["eff_compute"] and pool:
                r = math.log(e["eff_compute"][dt] / float(np.mean(pool)))
                errs.append(r)
                per[f"{cid} {dt}"] = round(r, 4)
    lofo = _rms(errs)
    base = float(fitted["uncertainty"]["compute"]["generic"]["sigma"])
    return {"sigma": round(math.sqrt(max(lofo ** 2 - base ** 2, 0.0)), 4), "lofo_rms": round(lofo, 4),
            "base_generic_sigma": base, "log_errors": per,
            "method": "leave-one-family-out on fitted.yaml chips' own eff_compute (bf16, fp8); "
                      "sigma = sqrt(lofo_rms^2 - uncertainty.compute.generic.sigma^2)"}


def precision(fitted: dict) -> dict:
    per = {}
    for cid, e in fitted["chips"].items():
        ec = e.get("eff_compute") or {}
        for dt, v in ec.items():
            if dt != "bf16" and "bf16" in ec:
                per[f"{cid} {dt}"] = round(math.log(v / ec["bf16"]), 4)
    return {"sigma": round(_rms(list(per.values())), 4), "log_errors": per,
            "method": "leave-one-precision-out on fitted.yaml: log(eff_p / eff_bf16) for every chip measured "
                      "in both (an unmeasured format borrows bf16); sigma = RMS"}


def model_family(fitted: dict) -> dict:
    g = fitted["generic"]
    logs = {"gemm": 0.0, "attention": math.log(g["eff_attention"]), "moe": math.log(g["eff_moe"])}
    return {"sigma": round(float(np.std(list(logs.values()))), 4), "log_efficiency": {k: round(v, 4) for k, v in logs.items()},
            "method": "population sd across kernel families of log efficiency relative to dense GEMM "
                      "(fitted.yaml generic eff_attention, eff_moe)"}


def power_density(fitted: dict) -> dict:
    pairs = (fitted.get("power_transfer") or {}).get("pairs") or []
    g = [float(p["gamma"]) for p in pairs]
    per, res = {}, []
    for i, p in enumerate(pairs):
        rest = g[:i] + g[i + 1:]
        if rest:
            res.append(g[i] - float(np.clip(np.mean(rest), 0.0, 1.0 / 3.0)))  # gamma as fit_power_exponent
            per[f"{'/'.join(p['chips'])} {p['dtype']}"] = round(res[-1], 4)
    gamma = float(fitted["power_transfer"]["gamma"])
    loo_rms = _rms(res)
    return {"sigma_per_log_distance": round(math.sqrt(gamma ** 2 + loo_rms ** 2), 4), "gamma": gamma,
            "loo_rms": round(loo_rms, 4), "slope_residuals": per,
            "method": "leave-one-pair-out on fitted.yaml power_transfer.pairs (same-silicon microbenchmark pairs): "
                      "slope of the pair minus gamma fitted without it; beyond the law's fitted range the factor is "
                      "held (slope 0) where the law would go on at gamma, so per unit |ln(pd / held pd)| "
                      "sigma = sqrt(gamma^2 + loo_rms^2); the term's sigma is that times the distance"}


def seq_range(fitted: dict) -> dict:
    from tapeout.perf.fit import fit_attention, read_attention_kernels

    rows = [r for r in read_attention_kernels() if r["direction"] == "fwd" and r["causal"].lower() == "true"]
    per = {}
    for cid in sorted({r["chip"] for r in rows}):
        ec = (fitted["chips"].get(cid) or {}).get("eff_compute")
        for impl in sorted({r["impl"] for r in rows if r["chip"] == cid}):
            rs = [r for r in rows if r["chip"] == cid and r["impl"] == impl]
            for s in sorted({r["seq_len"] for r in rs}, key=int):
                held = fit_attention(cid, ec, [r for r in rs if r["seq_len"] == s], impl).get("eff_attention")
                rest = fit_attention(cid, ec, [r for r in rs if r["seq_len"] != s], impl).get("eff_attention")
                if held and rest:
                    per[f"{cid} {impl} s={s}"] = round(math.log(held / rest), 4)
    return {"sigma": round(_rms(list(per.values())), 4), "log_errors": per,
            "method": "leave-one-sequence-length-out on attention_kernels.csv (forward, causal): "
                      "log(eff_attention at the held-out length / eff_attention fitted on the others); sigma = RMS"}


def software() -> dict:
    from tapeout.perf.kernels_db import read_kernels

    keys = ("chip", "fmt", "m", "n", "k")

    def index(stack):
        c = read_kernels(stack=stack, ops=("gemm",), per_group=3000).cols
        return {tuple(c[x][i] for x in keys): float(c["latency_s"][i]) for i in range(len(c["latency_s"]))}

    base = index("trtllm")
    per = {}
    for stack in ("vllm", "sglang"):
        groups: dict = {}
        for key, v in index(stack).items():
            if key in base:
                groups.setdefault(key[:2], []).append(math.log(v / base[key]))
        for (chip, fmt), v in sorted(groups.items()):
            per[f"{stack} {chip} {fmt}"] = round(float(np.median(v)), 4)
    med = float(np.median(np.abs(list(per.values()))))
    return {"sigma": round(1.4826 * med, 4), "median_log_ratio": per,
            "method": "GEMM kernels of aiconfigurator-core 0.12.0 (NVIDIA kernel database, Apache-2.0): per "
                      "(stack, chip, format) median log(latency / trtllm latency) over identical shapes; "
                      "sigma = 1.4826 x median |median log ratio| (robust sd across stacks)",
            "source": "https://pypi.org/project/aiconfigurator-core/0.12.0/"}


def main() -> None:
    from tapeout.perf.calibration import load_fitted

    fitted = load_fitted()
    out = {"about": "Sigmas of the distance-from-calibration terms (tapeout/perf/novelty.py), fitted by "
                    "scripts/fit_novelty.py on microbenchmarks and kernel tables only (never on end_to_end.csv).",
           "chip_family": chip_family(fitted), "precision": precision(fitted), "model_family": model_family(fitted),
           "power_density": power_density(fitted), "seq_range": seq_range(fitted), "software": software()}
    OUT.write_text(yaml.safe_dump(out, sort_keys=False, width=120))
    for k, v in out.items():
        if isinstance(v, dict):
            print(f"{k:13} sigma {v.get('sigma', v.get('sigma_per_log_distance'))}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
