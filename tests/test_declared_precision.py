"""One declared-precision rule table for both validation mappers (issue 16 item 1)."""

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.validation import llm_rows, other_rows
from tapeout.validation.declared_precision import compute_precision, declared_dtype, rule_table
from tapeout.validation.registry import SkipRow

TRT = "TensorRT 10.2, CUDA 12.4"
ROW_TEXTS = ["fp16", "bf16", "int8", "fp8", "float8", "fp4", "fp8/fp16/int8 mixed (per submission)",
             "int8/fp16 mixed (per submission)", "model FP16, matmul autocast Matmult-BF16, weights int8",
             "fp8 UNet (first 18 of 20 steps aggressive FP8) / bf16"]


@pytest.mark.parametrize("chip_id", ["h100-sxm", "a100-sxm", "b200", "l40s", "inferentia2", "mi300x"])
@pytest.mark.parametrize("software", [TRT, "vLLM 0.6", "PyTorch"])
@pytest.mark.parametrize("text", ROW_TEXTS)
def test_llm_and_other_mappers_agree(chip_id, software, text):
    chip = get_chip(chip_id)
    row = {"precision": text, "software": software}
    assert llm_rows.compute_precision(row, chip) == other_rows.compute_precision(text, chip, software)


def test_tensorrt_runs_declared_16bit_in_fp8_only_where_the_chip_has_fp8():
    assert compute_precision("fp16", get_chip("h100-sxm"), TRT) == "fp8"
    assert compute_precision("fp16", get_chip("a100-sxm"), TRT) == "fp16"  # Ampere: no FP8
    assert compute_precision("fp16", get_chip("h100-sxm"), "PyTorch") == "fp16"
    assert compute_precision("int8", get_chip("h100-sxm"), TRT) == "int8"  # explicit quantized type kept


def test_formats_widen_to_what_the_chip_runs():
    assert compute_precision("fp4", get_chip("b200"), TRT) == "fp4"
    assert compute_precision("fp4", get_chip("h100-sxm"), TRT) == "fp8"  # Hopper has no FP4
    assert compute_precision("fp8", get_chip("a100-sxm"), "vLLM") == "fp16"


def test_gemm_dtype_after_matmul_wins_over_the_model_dtype():
    assert declared_dtype("model FP32, autocast Matmult-BF16") == "bf16"
    assert declared_dtype("model FP16, matmul autocast Matmult-BF16, weights int8") == "bf16"
    assert declared_dtype("bfloat16") == "bf16"  # not read as float16
    assert declared_dtype("fp8/fp16/int8 mixed") == "fp8"


def test_a_field_naming_no_dtype_is_skipped_not_guessed():
    with pytest.raises(SkipRow):
        compute_precision("per submission", get_chip("tpu-v5e"), "SAX")


def test_every_rule_carries_a_source():
    t = rule_table()
    assert t["rules"][-1]["runs"] == "declared"  # the last rule always applies
    assert all(r["source"].strip() for r in t["rules"]) and t["gemm_dtype_pattern"]["source"].strip()


LLAMA2_V41 = "MLPerf Inference v4.1 llama2-70b-99/99.9 (identical result submitted for both)"


def test_blackwell_llama2_tensorrt_rows_run_fp4_only_where_sourced(monkeypatch):
    from tapeout.validation import declared_precision

    trt = "TensorRT 10.1.0, CUDA 12.7"
    assert compute_precision("fp16", get_chip("b200"), trt, LLAMA2_V41) == "fp4"
    assert compute_precision("fp16", get_chip("h100-sxm"), trt, LLAMA2_V41) == "fp8"  # Hopper: no FP4 MMA
    assert compute_precision("fp16", get_chip("b200"), trt, "MLPerf Inference v4.1 gptj-99") == "fp8"  # not sourced
    assert compute_precision("fp16", get_chip("b200"), "vLLM 0.6", LLAMA2_V41) == "fp16"  # not TensorRT
    assert compute_precision("fp8", get_chip("b200"), trt, LLAMA2_V41) == "fp8"  # an explicit quantized type stays
    assert compute_precision("fp16", get_chip("b200"), trt, "Llama-2-70B paper row") == "fp8"  # MLPerf only
    monkeypatch.setattr(declared_precision, "BLACKWELL_LLAMA2_FP4", False)
    assert compute_precision("fp16", get_chip("b200"), trt, LLAMA2_V41) == "fp8"


def test_both_mappers_read_the_rows_workload():
    chip, trt = get_chip("b200"), "TensorRT 10.1.0, CUDA 12.7"
    row = {"precision": "fp16", "software": trt, "workload": LLAMA2_V41}
    assert llm_rows.compute_precision(row, chip) == other_rows.compute_precision("fp16", chip, trt, LLAMA2_V41) == "fp4"


def test_every_switched_rule_names_a_switch_that_exists():
    from tapeout.validation.declared_precision import SWITCHES

    assert all(r["switch"] in SWITCHES for r in rule_table()["rules"] if "switch" in r)


def test_a_row_names_the_rule_that_set_its_format():
    """The row detail's precision_rule (llm_rows.precision_rule) is the id of the rule compute_precision applied, so a
    row declaring fp16 and priced FP4 names its source rule where the answer is shown."""
    trt = "TensorRT 10.1.0, CUDA 12.7"
    rule = {"precision": "fp16", "software": trt, "workload": LLAMA2_V41}
    assert llm_rows.precision_rule(rule, get_chip("b200")) == "tensorrt_llama2_70b_fp4"
    assert llm_rows.precision_rule(rule, get_chip("h100-sxm")) == "tensorrt_16bit_to_fp8"
    assert llm_rows.precision_rule({**rule, "software": "vLLM 0.6"}, get_chip("b200")) == "declared"
    assert llm_rows.precision_rule({**rule, "precision": "mixed"}, get_chip("b200")) is None  # no dtype: no rule


def test_the_fp4_rule_reaches_only_the_rounds_and_chips_its_sources_name():
    """Review round stop-38 (issue-44c): the FP4 rule's sources are NVIDIA's v4.1 (B200) and v5.1 (datacenter
    Blackwell / Blackwell Ultra) Llama 2 70B submissions. RTX PRO 6000 (sm_120) has FP4 tensor cores but no source,
    and v5.0 has none read: both take the TensorRT FP8 rule. Before: `chip.supports("fp4")` and any round (v[\\d.]+)."""
    trt = "TensorRT 10.8, CUDA 12.8"
    v50, v51 = "MLPerf Inference v5.0 llama2-70b-99", "MLPerf Inference v5.1 llama2-70b-99"
    assert compute_precision("fp16", get_chip("rtx-pro-6000"), trt, LLAMA2_V41) == "fp8"
    assert compute_precision("fp16", get_chip("rtx-pro-6000"), trt, v51) == "fp8"
    assert compute_precision("fp16", get_chip("gb200"), trt, v50) == "fp8"
    assert llm_rows.precision_rule({"precision": "fp16", "software": trt, "workload": v50},
                                   get_chip("gb200")) == "tensorrt_16bit_to_fp8"
    for cid in ("b200", "gb200", "b300", "gb300"):
        assert compute_precision("fp16", get_chip(cid), trt, v51) == "fp4"
    assert compute_precision("fp16", get_chip("b200").power_capped(700), trt, LLAMA2_V41) == "fp4"  # its catalog chip
