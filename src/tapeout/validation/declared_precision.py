"""The format a published row's GEMMs ran in, from its declared precision and software.

One rule table, data/precision/declared_rules.yaml, read by both validation mappers (LLM and
non-LLM rows), so the same row text maps to the same format everywhere."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from .registry import SkipRow

# NVIDIA's MLPerf Inference Llama 2 70B TensorRT submissions on a chip with FP4 tensor cores (Blackwell) quantize
# the GEMMs to FP4 whatever weight type the row declares (rule `tensorrt_llama2_70b_fp4` of declared_rules.yaml,
# sourced there). On: it is what NVIDIA's v4.1 B200 submission ran by NVIDIA's and the press's account, and the
# database's measured B200 FP8 GEMMs alone reach that row's throughput only at 8,192 tokens per step (before
# attention and the rest); with database its two rows move toward their measurements (own kernels -28 / -32 ->
# -16 / -20 %, held out -33 / -37 -> +1 / -2 %), without it away (-9 / -11 -> +14 / +12 %: the shipped fit prices
# B200's FP8 GEMMs faster than the database measured them). docs/notes/issue-24.md, Round stop-38 (issue-42b).
# Off: such rows run FP8 (rule tensorrt_16bit_to_fp8), as before stop 38. The rule reaches only the rounds (v4.1, v5.1)
# and the datacenter Blackwell chips (its `chips`) its sources name (review round stop-38, issue-44c).
BLACKWELL_LLAMA2_FP4 = True
SWITCHES = {"BLACKWELL_LLAMA2_FP4": lambda: BLACKWELL_LLAMA2_FP4}  # a rule's `switch` key -> whether it is on


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


def _applies(rule: dict, dt: str, software: str, chip, workload: str = "") -> bool:
    if "switch" in rule and not SWITCHES[rule["switch"]]():
        return False
    sw = (software or "").lower()
    if "software_contains" in rule and not any(w in sw for w in rule["software_contains"]):
        return False
    if "workload_match" in rule and not re.search(rule["workload_match"], (workload or "").lower()):
        return False
    if "declared" in rule and dt not in rule["declared"]:
        return False
    if "chips" in rule and chip.calibration_id.lower() not in rule["chips"]:  # the catalog chips its source names
        return False
    return "chip_runs" not in rule or chip.supports(rule["chip_runs"])


def _first_rule(dt: str, chip, software: str, workload: str) -> dict:
    """The first rule of declared_rules.yaml that applies to a row declaring `dt` (the table ends in a catch-all)."""
    return next(r for r in rule_table()["rules"] if _applies(r, dt, software, chip, workload))


def applied_rule(precision: str, chip, software: str = "", workload: str = "") -> str | None:
    """The id of the declared_rules.yaml rule that sets the row's GEMM format (what compute_precision applies), shown
    with the row's prediction so a format other than the declared one names its source; None where the precision
    names no dtype."""
    dt = declared_dtype(precision)
    return None if dt is None else _first_rule(dt, chip, software, workload)["id"]


def compute_precision(precision: str, chip, software: str = "", workload: str = "") -> str:
    """Format the row's GEMMs ran in on `chip`: first matching rule, widened until the chip runs it.
    `workload`: the row's workload text (a rule may name the benchmarks its source covers)."""
    dt = declared_dtype(precision)
    if dt is None:
        raise SkipRow(f"precision '{precision}' names no dtype; state the GEMM format the submission ran "
                      "(e.g. fp8, fp4, int8, bf16, 'matmul fp8') in the row's precision field")
    t = rule_table()
    rule = _first_rule(dt, chip, software, workload)
    fmt = dt if rule["runs"] == "declared" else rule["runs"]
    for cand in t["widen"][fmt]:
        if chip.supports(cand):
            return "fp32" if cand == "tf32" else cand
    raise SkipRow(f"chip {chip.id} supports none of {t['widen'][fmt]}: the catalog has no sourced matrix peak "
                  f"for them (data/chips/*specs.csv {chip.id} <dtype>_tflops_dense); add it with its source")
