"""The format a published row's GEMMs ran in, from its declared precision and software.

One rule table, data/precision/declared_rules.yaml, read by both validation mappers (LLM and
non-LLM rows), so the same row text maps to the same format everywhere."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from .registry import SkipRow


@lru_cache(maxsize=1)
def rule_table() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "precision", "declared_rules.yaml").read_text())


def declared_dtype(precision: str) -> str | None:
    """The GEMM dtype a precision field declares: the dtype after 'matmul', else the first named."""
    s = (precision or "").lower()
    t = rule_table()
    m = re.search(t["gemm_dtype_pattern"]["regex"], s)
    if m:
        return m.group(1)
    hits = [(s.find(word), dt) for word, dt in t["dtype_words"] if word in s]
    return min(hits)[1] if hits else None


def _applies(rule: dict, dt: str, software: str, chip) -> bool:
    sw = (software or "").lower()
    if "software_contains" in rule and not any(w in sw for w in rule["software_contains"]):
        return False
    if "declared" in rule and dt not in rule["declared"]:
        return False
    return "chip_runs" not in rule or chip.supports(rule["chip_runs"])


def compute_precision(precision: str, chip, software: str = "") -> str:
    """Format the row's GEMMs ran in on `chip`: first matching rule, widened until the chip runs it."""
    dt = declared_dtype(precision)
    if dt is None:
        raise SkipRow(f"precision '{precision}' names no dtype; state the GEMM format the submission ran "
                      "(e.g. fp8, fp4, int8, bf16, 'matmul fp8') in the row's precision field")
    t = rule_table()
    rule = next(r for r in t["rules"] if _applies(r, dt, software, chip))
    fmt = dt if rule["runs"] == "declared" else rule["runs"]
    for cand in t["widen"][fmt]:
        if chip.supports(cand):
            return "fp32" if cand == "tf32" else cand
    raise SkipRow(f"chip {chip.id} supports none of {t['widen'][fmt]}: the catalog has no sourced matrix peak "
                  f"for them (data/chips/*specs.csv {chip.id} <dtype>_tflops_dense); add it with its source")
