"""Round stop-15 review (issue 21): the features merged that round (R-GAT, serving stacks, new
chips, LoRA training, NVFP4) tried with bad input as a new user would; one regression per fix.
Every case: exit 2 with one line naming the field, or a correct answer."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _cli import assert_clean, run_cli
from tapeout.errors import TapeoutError
from tapeout.workloads.blocks import check_batch


def _err(args) -> str:
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("workload", ["rgat", "retinanet", "hstu"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1=2", "abc", "2.5", "0"])
def test_workload_batch_must_be_a_finite_whole_number(workload, value):
    # was a traceback (OverflowError) for inf and a Python comparison message for text
    err = _err(["workload-run", workload, "--chip", "h100-sxm", "--set", f"batch={value}"])
    assert "batch must be a finite whole number > 0" in err


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.text(max_size=5)))
def test_check_batch_accepts_exactly_the_positive_whole_numbers(v):
    try:
        ok = float(v) > 0 and math.isfinite(float(v)) and float(v) == int(float(v))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if ok:
        assert check_batch(v) == int(float(v))
    else:
        with pytest.raises(TapeoutError, match="^batch must be"):
            check_batch(v)


@pytest.mark.parametrize("fanouts", ["nan", "inf,10,5", "15,nan"])
def test_rgat_non_finite_fanout_is_one_line(fanouts):
    assert "fanouts[" in _err(["workload-run", "rgat", "--chip", "h100-sxm", "--set", f"fanouts={fanouts}"])


def test_rgat_unknown_feature_dtype_names_the_parameter():
    assert "feature_dtype: unknown dtype 'int3'" in _err(["workload-run", "rgat", "--chip", "h100-sxm",
                                                          "--set", "feature_dtype=int3"])


def test_empty_stack_is_refused_not_the_default():
    err = _err(["serve", "--benchmark", "llama2-70b", "--chip", "h100-sxm", "--num-chips", "8", "--stack", ""])
    # round stop-35: an empty name is said to be missing (errors.unknown_name_error), still refused with the list
    assert "a serving stack name (text) is required, got ''" in err and "vllm" in err


def test_unknown_kv_precision_names_the_option():
    assert "--kv-precision: unknown dtype 'bogus'" in _err(["serve", "--model", "llama3.1-8b", "--chip", "b200",
                                                             "--kv-precision", "bogus"])


@pytest.mark.parametrize("args,field", [(["--zero", "4"], "--zero"), (["--zero", "-1"], "--zero"),
                                        (["--recompute", "bogus"], "--recompute")])
def test_train_zero_and_recompute_are_checked_before_the_layout_search(args, field):
    # was "no layout ... chip counts with a valid layout: 7, 9": a fix that does not apply
    err = _err(["train", "--benchmark", "llama2-70b-lora", "--chip", "h100-sxm", "--num-chips", "8", *args])
    assert err.startswith(f"error: {field} must be") and "chip counts" not in err


def test_lora_on_a_full_training_benchmark_is_refused():
    # MLPerf gpt3-175b trains every weight (benchmarks.yaml full_finetune: true): its time to train
    # with frozen weights would be an answer to no benchmark
    err = _err(["train", "--benchmark", "gpt3-175b", "--lora", "--chip", "h100-sxm", "--num-chips", "512"])
    assert err.startswith("error: --lora:") and "gpt3-175b" in err


def test_lora_flag_on_the_lora_benchmark_is_accepted():
    code, out, err = run_cli(["train", "--benchmark", "llama2-70b-lora", "--lora", "--chip", "h100-sxm",
                              "--num-chips", "8", "--json"])
    assert_clean(code, out, err)
    assert code == 0 and json.loads(out)["step_time_s"] > 0


def test_missing_matrix_format_lists_what_the_chip_runs():
    # Qualcomm Cloud AI 100 Ultra: FP16 and INT8 only (catalog), no BF16
    err = _err(["workload-run", "resnet50", "--chip", "cloud-ai-100-ultra"])
    assert "no bf16 matrix support" in err and "fp16" in err and "--set precision" in err
    code, out, e = run_cli(["workload-run", "resnet50", "--chip", "cloud-ai-100-ultra", "--set", "precision=fp16"])
    assert_clean(code, out, e)
    assert code == 0


def test_rgat_explain_states_the_feature_read_bound_outside_the_op_table():
    # the op table sums device ops only; with the IGBH-Full features in host memory the batch time
    # is the host feature read, larger than the table's total
    code, out, err = run_cli(["workload-explain", "rgat", "--chip", "h100-sxm"])
    assert_clean(code, out, err)
    assert "ms of device ops per batch" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("workload-run:") and "bound: feature-read" in last
    assert not re.search(r"\d\.\d{6,}", last)  # formatted, not a raw float repr
    code, js, err = run_cli(["workload-run", "rgat", "--chip", "h100-sxm", "--json"])
    d = json.loads(js)
    assert d["bound"] == "feature-read" and d["time_s"] > d["device_s"]


@pytest.mark.parametrize("args,extra", [(["--help"], "tapeout[quant]"), (["calibrate", "--help"], "tapeout[kernels]"),
                                        (["validate", "--help"], "tapeout[kernels]")])
def test_help_shows_the_pip_extra(args, extra):
    # rich markup took "[quant]" / "[kernels]" for a style tag and printed pip install 'tapeout'
    code, out, err = run_cli(args)
    assert code == 0 and extra in re.sub(r"\s*│\s*", " ", out)


@pytest.mark.parametrize("workload,param", [("rgat", "hidden"), ("rgat", "heads"), ("rgat", "in_dim"),
                                            ("rgat", "num_classes"), ("rgat", "feature_rows"), ("hstu", "seq_len"),
                                            ("resnet50", "resolution"), ("sdxl", "steps"), ("wan2.1-14b", "frames")])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_preset_sizes_refuse_nan_and_inf_naming_the_parameter(workload, param, value):
    # were tracebacks (rgat hidden, hstu seq_len) or lines like "use nan or nan" / "needs nan GB"
    err = _err(["workload-run", workload, "--chip", "h100-sxm", "--set", f"{param}={value}"])
    assert err.startswith(f"error: {param} must be") and "nan or nan" not in err and "nan GB" not in err


@pytest.mark.parametrize("args,field", [(["--model", "llama3.1-8b"], "--model"), (["--input-len", "5"], "--input-len"),
                                        (["--output-len", "5"], "--output-len"), (["--batch", "5"], "--batch"),
                                        (["--kv-precision", "fp8"], "--kv-precision"), (["--sparsity", "2:4"], "--sparsity")])
def test_serve_benchmark_refuses_options_it_would_ignore(args, field):
    # were silently ignored: the same tokens/s as without them
    err = _err(["serve", "--benchmark", "llama2-70b", "--chip", "h100-sxm", "--num-chips", "8", *args])
    assert err.startswith(f"error: {field}: --benchmark llama2-70b")


def test_train_benchmark_refuses_another_model_but_takes_an_alias_of_its_own():
    err = _err(["train", "--benchmark", "llama2-70b-lora", "--model", "llama-2-7b", "--chip", "h100-sxm", "--num-chips", "8"])
    assert err.startswith("error: --model: benchmark llama2-70b-lora trains llama-2-70b")
    code, out, e = run_cli(["train", "--benchmark", "llama2-70b-lora", "--model", "llama2-70b", "--chip", "h100-sxm",
                            "--num-chips", "8", "--json"])
    assert_clean(code, out, e)
    assert code == 0 and json.loads(out)["time_to_train_min"] > 0
