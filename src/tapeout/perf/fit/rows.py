"""Microbenchmark rows: read the CSVs (data/measured/microbenchmarks.csv, attention and MoE kernel
files) and turn a GEMM row into (M, N, K, dtype, seconds) and its chip.
"""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

from ...hardware.catalog import get_chip, resolve_chip_id


# microbenchmark accelerators that are not catalog chips: family and stated peaks
OFF_CATALOG = {
    "NVIDIA GH200": "nvidia-hopper",
    "NVIDIA B300-SXM": "nvidia-blackwell",
    "NVIDIA A100-PCIe-80GB": "nvidia-ampere",
    "AMD MI210": "amd-cdna2",
}


def read_microbenchmarks(path: Path | None = None) -> list[dict]:
    p = path or resources.files("tapeout").joinpath("data", "measured", "microbenchmarks.csv")
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def read_attention_kernels(path: Path | None = None) -> list[dict]:
    p = path or resources.files("tapeout").joinpath("data", "calibration", "attention_kernels.csv")
    with open(p, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def read_moe_kernels(path: Path | None = None) -> list[dict]:
    p = path or resources.files("tapeout").joinpath("data", "calibration", "moe_kernels.csv")
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def gemm_dtype(prec: str) -> str:
    p = prec.lower()
    if "fp8" in p or "e4m3" in p:
        return "fp8"
    if "bf16" in p:
        return "bf16"
    if "fp16" in p:
        return "fp16"
    return "bf16"


def gemm_point(r: dict):
    """(m tokens, n out-features, k, dtype, seconds) of a GEMM row, or None."""
    w, cfg = r["workload"], r["model_config"]
    dt = gemm_dtype(r["precision"])
    if "max achievable" in w:
        s = re.search(r"shape (\d+)x(\d+)x(\d+)", cfg)
        if not s:
            return None
        M, N, K = map(int, s.groups())
        flops = 2.0 * M * N * K
        return M, N, K, dt, flops / (float(r["value"]) * 1e12)
    if "GEMM latency" in w:
        s = re.search(r"M=(\d+) N=(\d+) K=(\d+)", cfg)
        if not s:
            return None
        M, N, K = map(int, s.groups())
        if "hipBLASLt" in w:  # M = weight out-features, N = tokens
            M, N = N, M
        return M, N, K, dt, float(r["value"]) * 1e-3
    return None


_CLOCK_RULES: list | None = None


def gemm_clock(r: dict) -> str:
    """The clock a GEMM microbenchmark row was timed at, from its source's method
    (data/calibration/gemm_clock.yaml): "burst", "sustained", "mixed" or "unknown" (no rule matches)."""
    global _CLOCK_RULES
    if _CLOCK_RULES is None:
        import yaml

        text = resources.files("tapeout").joinpath("data", "calibration", "gemm_clock.yaml").read_text()
        _CLOCK_RULES = yaml.safe_load(text)["rules"]
    for rule in _CLOCK_RULES:
        if all(rule[f] in r.get(f, "") for f in ("source", "workload") if f in rule):
            return rule["clock"]
    return "unknown"


def stated_peak(r: dict) -> float | None:
    m = re.search(r"theoretical dense peak listed ([\d.]+) TFLOPS", r.get("notes", ""))
    return float(m.group(1)) * 1e12 if m else None


def chip_key(name: str) -> tuple[str | None, str | None]:
    cid = resolve_chip_id(name)
    if cid:
        return cid, get_chip(cid).family
    for k, fam in OFF_CATALOG.items():
        if name.startswith(k):
            return None, fam
    return None, None
