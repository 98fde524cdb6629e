"""Row mapper: LLM training rows (MLPerf Training gpt3 / llama2_70b_lora time-to-train,
vendor steady-state throughput tables) -> predictions in the row's unit.

Time-to-train = work to convergence / predicted throughput. The work comes from the row
itself (MLPerf logs the convergence point: `epoch_num` = training tokens for gpt3,
`samples_count` = sequences for llama2_70b_lora), else from data/mlperf/benchmarks.yaml.
Evaluation passes, checkpoint loading and warm-up inside run_start..run_stop are NOT
modelled (named as a cause of misses in docs/validation.md).
Compute precision (benchmarks.yaml `precision_rules.training`): NVIDIA -> FP8 (Transformer
Engine) where supported; Gaudi2 from v3.1 -> FP8; TPU v5e -> INT8 (AQT); else BF16.
"""

from __future__ import annotations

import re

from ..hardware.catalog import get_chip, resolve_chip_id
from .registry import RowPrediction, SkipRow, register


def training_precision(row: dict, chip) -> str:
    acc = row["accelerator"]
    rnd = re.search(r"v(\d+)\.(\d+)", row["workload"])
    ver = (int(rnd.group(1)), int(rnd.group(2))) if rnd else (0, 0)
    if acc.startswith("NVIDIA") and chip.supports("fp8") and row["category"] == "mlperf-train":
        return "fp8"
    if "Gaudi2" in acc and ver >= (3, 1):
        return "fp8"
    if "TPU v5e" in acc and chip.supports("int8") and row["category"] == "mlperf-train":
        return "int8"
    p = row["precision"].lower()
    if "fp8" in p and chip.supports("fp8"):
        return "fp8"
    return "bf16"


def _chip(row):
    cid = resolve_chip_id(row["accelerator"])
    if cid is None:
        raise SkipRow(f"accelerator '{row['accelerator']}' is not in the chip catalog")
    return get_chip(cid)


@register("llm_training")
def map_row(row: dict):
    from ..perf.training import train

    w = row["workload"]
    if row["category"] == "mlperf-train":
        m = re.match(r"MLPerf Training v[\d.]+ (\S+)", w)
        if not m or m.group(1) not in ("gpt3", "llama2_70b_lora", "llama31_405b", "llama31_8b"):
            return None
        bench = m.group(1)
        chip = _chip(row)
        n = int(float(row["n_accelerators"]))
        notes = row["notes"]
        gbs = re.search(r"global_batch_size=(\d+)", notes)
        gbs = int(gbs.group(1)) if gbs else None
        prec = training_precision(row, chip)
        if bench == "gpt3":
            seq = 2048
            tok = re.search(r"epoch_num=([\d.e+]+)", notes)
            tokens = float(tok.group(1)) if tok else 1.21e9
            model, lora = "gpt3-175b", False
        elif bench == "llama2_70b_lora":
            seq = 8192
            sc = re.search(r"samples_count=(\d+)", notes)
            tokens = (int(sc.group(1)) if sc else 3072) * seq
            model, lora = "llama-2-70b", True
        else:
            raise SkipRow(f"{bench}: no convergence data in this schema")
        if gbs is None:
            raise SkipRow("global batch size not stated")
        try:
            r = train(model, chip.id, n, gbs * seq, seq, prec, lora=lora)
        except Exception as e:  # noqa: BLE001
            raise SkipRow(f"no layout fits: {e}") from None
        minutes = tokens / r.tokens_per_s / 60.0
        lo = tokens / (gbs * seq / r.interval_80[0]) / 60.0
        hi = tokens / (gbs * seq / r.interval_80[1]) / 60.0
        return RowPrediction(minutes, row["unit"], bench, min(lo, hi), max(lo, hi),
                             {"precision": prec, "parallelism": r.parallelism, "mfu": r.mfu, "step_s": r.step_time_s})
    if row["category"] == "paper" and "training" in row["scenario"]:
        text = (w + " " + row["model_config"]).lower()
        chip = _chip(row)
        mc = row["model_config"]
        if "deepseek" in text:
            raise SkipRow("MoE pretraining with EP32/PP layouts not mapped (DeepSeek-V3 recipe)")
        m = re.search(r"maxtext (\d+)b dense", text)
        if not m:
            raise SkipRow("model not among the presets")
        raise SkipRow(f"MaxText {m.group(1)}B dense config is not a packaged preset")
    return None
