"""Quality model: published accuracy / perplexity deltas of large models, by scheme and size.

Data: data/quant/published_accuracy.csv (model, params_b, scheme, metric, baseline,
quantized, delta, source, notes), every row with its paper or repository.

Rule (``quality_loss``):

1. Each row becomes a *relative loss* r >= 0: for lower-is-better metrics (perplexity,
   loss) r = (quantized - baseline) / baseline; for higher-is-better metrics (accuracy,
   recovery) r = (baseline - quantized) / baseline. Improvements clamp to 0. A relative
   perplexity increase is a conservative stand-in for an accuracy drop (perplexity moves
   more than downstream accuracy for the same damage, cf. the AWQ vs Qwen rows).
2. Rows of one scheme at the same size are averaged (several methods -> "a typical good
   published method").
3. A power law in model size is fitted by least squares in log space,
   log r = a + b log10(params_b), with the slope clamped to b <= 0 (loss does not grow with
   size: Qwen2 quantization benchmark, Wanda/SparseGPT tables). One size -> constant.
   All-zero rows (FP8) -> 0. Sizes outside the data are clamped to the nearest measured
   size (no extrapolation), and the source string says so.
4. Schemes combining several parts (``w4a16+2:4``) add their parts' losses (independent
   errors; SparseGPT arXiv:2301.00774 reports pruning composes with quantization).
5. ``w4a8`` has no sourced row here: it is derived as loss(w4a16) + [loss(w8a8) -
   loss(w8a16)] (the activation-quantization cost measured at 8 bits added to 4-bit
   weights), and says so. Parts with no data at all return NaN, which ``quality_ok``
   treats as failing (unknown quality is not accepted silently).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

LOWER_IS_BETTER = ("ppl", "loss")

# precision / scheme names that share a published family
ALIASES = {
    "w4a16g128": "w4a16", "int4wo": "w4a16", "awq": "w4a16", "gptq": "w4a16",
    "int8": "w8a8", "smoothquant": "w8a8",
    "mxfp8": "fp8", "fp8e5m2": "fp8", "fp8kvbf16": "fp8", "w8a16fp8": "fp8", "fp8_block128": "fp8",
    "w4a8g128": "w4a8", "w4a8int8": "w4a8",
    "sparsegpt": "2:4", "wanda": "2:4", "unstructured": "unstructured50",
    "bf16": "none", "fp16": "none", "fp32": "none", "dense": "none",
}
# explicit assumptions for parts with no sourced row; each says so in its source string
ASSUMED = {
    "none": (0.0, "reference precision (no loss)"),
    "kv-fp8": (0.001, "ASSUMPTION (no sourced row): FP8 E4M3 KV cache with per-tensor scales, taken as 0.1% relative loss"),
    "kv-bf16": (0.0, "reference KV precision"),
    "kv-fp16": (0.0, "reference KV precision"),
}


@dataclass
class Row:
    model: str
    params_b: float
    scheme: str
    metric: str
    baseline: float
    quantized: float
    delta: float
    source: str
    notes: str

    @property
    def relative_loss(self) -> float:
        if self.baseline == 0:
            return 0.0
        if any(k in self.metric for k in LOWER_IS_BETTER):
            r = (self.quantized - self.baseline) / self.baseline
        else:
            r = (self.baseline - self.quantized) / self.baseline
        return max(0.0, r)


@lru_cache(maxsize=1)
def published_table() -> tuple[Row, ...]:
    path = resources.files("tapeout").joinpath("data", "quant", "published_accuracy.csv")
    rows = []
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            p = r["params_b"].strip()
            rows.append(Row(r["model"], float(p) if p else float("nan"), r["scheme"].strip(), r["metric"],
                            float(r["baseline"]), float(r["quantized"]), float(r["delta"]), r["source"], r.get("notes", "")))
    return tuple(rows)


def _norm(part: str) -> str:
    k = part.strip().lower().replace("_", "").replace(" ", "")
    k = k.replace("kv-fp8e4m3", "kv-fp8")
    return ALIASES.get(k, k)


@lru_cache(maxsize=None)
def _fit(scheme: str):
    """(a, b, sizes, n_rows, sources) of the power-law fit, or None if no rows."""
    rows = [r for r in published_table() if r.scheme == scheme]
    if not rows:
        return None
    sized = [r for r in rows if math.isfinite(r.params_b)]
    sources = sorted({r.source.split(";")[0].split(" (")[0] for r in rows})
    if not sized:  # size-free rows (embedding compression): a constant
        v = float(np.mean([r.relative_loss for r in rows]))
        return (v, None, (), len(rows), sources)
    by_size: dict[float, list[float]] = {}
    for r in sized:
        by_size.setdefault(r.params_b, []).append(r.relative_loss)
    sizes = np.array(sorted(by_size))
    loss = np.array([np.mean(by_size[s]) for s in sizes])
    if np.all(loss <= 1e-6):
        return (0.0, 0.0, tuple(sizes), len(rows), sources)
    y = np.log(np.maximum(loss, 1e-5))
    x = np.log10(sizes)
    if len(sizes) == 1:
        return (float(y[0]), 0.0, tuple(sizes), len(rows), sources)
    b, a = np.polyfit(x, y, 1)
    if b > 0:  # clamp: loss does not grow with size -> constant at the mean
        b, a = 0.0, float(np.mean(y))
    return (float(a), float(b), tuple(sizes), len(rows), sources)


def _part_loss(part: str, params_b: float) -> tuple[float, str]:
    key = _norm(part)
    if key in ASSUMED:
        return ASSUMED[key]
    if key == "w4a8" and _fit("w4a8") is None:
        l4, s4 = _part_loss("w4a16", params_b)
        l88, _ = _part_loss("w8a8", params_b)
        l816, _ = _part_loss("w8a16", params_b)
        v = l4 + max(0.0, l88 - l816)
        return v, f"derived: w4a16 + (w8a8 - w8a16) activation cost [{s4}]"
    fit = _fit(key)
    if fit is None:
        return float("nan"), f"no published rows for '{part}' in data/quant/published_accuracy.csv"
    a, b, sizes, n, sources = fit
    if b is None:
        return a, f"{key}: mean of {n} size-free rows ({'; '.join(sources)})"
    if not sizes or (a == 0.0 and b == 0.0):
        return 0.0, f"{key}: lossless in all {n} rows ({'; '.join(sources)})"
    lo, hi = min(sizes), max(sizes)
    p = float(np.clip(params_b, lo, hi))
    clamped = "" if lo <= params_b <= hi else f", size clamped to {p:g}B (data {lo:g}-{hi:g}B)"
    v = float(math.exp(a + b * math.log10(p)))
    return v, f"{key}: power-law fit over {n} rows, {len(sizes)} sizes{clamped} ({'; '.join(sources)})"


def scheme_parts(scheme) -> list[str]:
    from .transform import CompressionScheme

    if isinstance(scheme, CompressionScheme):
        return list(scheme.quality_keys) or ["none"]
    import re

    return [p for p in re.split(r"[+,]", str(scheme)) if p.strip()] or ["none"]


def quality_loss(scheme, params_b: float) -> tuple[float, str]:
    """(relative quality loss, source) of `scheme` on a model of `params_b` billion params.

    `scheme` is a scheme string ('w4a16', 'fp8', 'w4a16+2:4', 'w8a8+kv-fp8'), a precision
    name, or a CompressionScheme (its quality_keys). See the module docstring for the rule.
    """
    total, srcs = 0.0, []
    for part in scheme_parts(scheme):
        v, s = _part_loss(part, float(params_b))
        total += v
        srcs.append(s)
    return total, " | ".join(srcs)


def quality_ok(scheme, params_b: float, budget: float = 0.01) -> bool:
    """Constraint for the explorer / study runner: predicted relative loss <= budget.
    Unknown quality (no published data) fails."""
    v, _ = quality_loss(scheme, params_b)
    return bool(math.isfinite(v) and v <= budget)
