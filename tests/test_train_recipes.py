"""Training precision recipes (data/precision/training_recipes.yaml, perf/train_recipe.py)."""

import json
from dataclasses import replace

import pytest

from tapeout.cli import main
from tapeout.errors import TapeoutError
from tapeout.ops import MatMul
from tapeout.perf.train_recipe import copy_bytes, get_recipe, training_graph, weight_cast_bytes_per_param
from tapeout.perf.training import train
from tapeout.precision import Precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

LAYOUT = dict(tp=2, pp=4, cp=1, vp=1, mbs=1, zero=1, recompute="selective")


def _graph(fmt):
    cfg = load_llm("llama-3.1-8b")
    pr = Precision(fmt, fmt, "bf16", "bf16", fmt)
    return build_llm_graph(cfg, LLMStep("prefill", 1, 2048, 0, pr, 1, 1, lm_head_all_tokens=True))


def test_block_scale_bytes_closed_form():
    # OCP MX v1.0: one 8-bit E8M0 scale per 32 FP8 elements; NVFP4: one 8-bit E4M3 scale per 16 FP4 elements
    assert copy_bytes("mxfp8", 3200) == (3200.0, 100.0)
    assert copy_bytes("nvfp4", 3200) == (1600.0, 200.0)
    assert copy_bytes("fp8", 3200) == (3200.0, 0.0)
    # weights once per step: read bf16 (2 B) + rowwise and columnwise copies
    assert weight_cast_bytes_per_param(get_recipe("fp8")) == 4.0
    assert weight_cast_bytes_per_param(get_recipe("mxfp8")) == pytest.approx(2 + 2 * (1 + 1 / 32))
    assert weight_cast_bytes_per_param(get_recipe("nvfp4")) == pytest.approx(2 + 2 * (0.5 + 1 / 16))
    assert weight_cast_bytes_per_param(get_recipe("bf16")) == 0.0


@pytest.mark.parametrize("name,per_elem", [
    ("fp8", 2 + 2 * 1.0),  # delayed: read bf16, write fp8 + fp8 transpose
    ("fp8-current", 2 * 2 + 2 * 1.0),  # + amax pass over the bf16 tensor
    ("mxfp8", 2 + 2 * (1 + 1 / 32)),  # rowwise + columnwise MXFP8 copies with E8M0 scales
    ("nvfp4", 2 * 2 + 2 * (0.5 + 1 / 16)),  # tensor amax pass + two NVFP4 copies with E4M3 scales
])
def test_quantize_kernel_bytes_closed_form(name, per_elem):
    # every GEMM with a standalone cast (the norm-fused QKV / FC1 input of `fp8` is
    # tests/test_training_fp8_eval.py::test_norm_fed_gemms_take_their_fp8_input_from_the_norm)
    r = replace(get_recipe(name), norm_fused_cast=False)
    g = _graph(r.gemm)
    g2, fwd, bwd = training_graph(g, r)
    gemms = [op for op in g.ops if isinstance(op, MatMul) and op.name not in ("lm_head", "router")]
    assert len(fwd.ops) == len(gemms)
    want_f = sum(op.count * op.m * op.k * per_elem for op in gemms)
    want_b = sum(op.count * op.m * op.n * per_elem for op in gemms)
    assert sum(op.count * op.bytes for op in fwd.ops) == pytest.approx(want_f)
    assert sum(op.count * op.bytes for op in bwd.ops) == pytest.approx(want_b)
    head = [op for op in g2.ops if isinstance(op, MatMul) and op.name == "lm_head"][0]
    assert head.math_dtype == "bf16"


def test_nvfp4_wgrad_hadamard_and_gradient_rounding_flops():
    r = get_recipe("nvfp4")
    _, fwd, bwd = training_graph(_graph("nvfp4"), r)
    assert all(op.flops_per_elem == r.quant_flops + 32 for op in fwd.ops)  # 16x16 RHT: 2 x 16 per element
    assert all(op.flops_per_elem == r.quant_flops + 32 + r.grad_flops for op in bwd.ops)
    assert r.bf16_fraction == pytest.approx(10 / 62)  # first 2 + last 8 of 62 blocks (arXiv:2509.25149)


def test_current_scaling_costs_more_than_delayed():
    a = train("llama-3.1-8b", "h100-sxm", 64, 256 * 4096, 4096, "fp8", **LAYOUT)
    b = train("llama-3.1-8b", "h100-sxm", 64, 256 * 4096, 4096, "fp8-current", **LAYOUT)
    assert b.breakdown["fp8_cast"] > a.breakdown["fp8_cast"]
    assert b.step_time_s > a.step_time_s


def test_nvfp4_faster_than_fp8_but_not_twice_on_b300():
    # B300 dense FP4 peak is 3.3x its FP8 peak; the measured NVFP4 kernel efficiency, the
    # quantize kernels, the BF16 layers and BF16 attention keep the step from halving
    a = train("llama-3.1-70b", "b300", 64, 256 * 4096, 4096, "fp8", **LAYOUT)
    b = train("llama-3.1-70b", "b300", 64, 256 * 4096, 4096, "nvfp4", **LAYOUT)
    assert a.step_time_s / 2 < b.step_time_s < a.step_time_s
    assert b.breakdown["quant_scale_bytes"] > 0 and a.breakdown["quant_scale_bytes"] == 0


def test_nvfp4_on_b200_not_twice_fp8():
    a = train("llama-3.1-70b", "b200", 64, 256 * 4096, 4096, "fp8", **LAYOUT)
    b = train("llama-3.1-70b", "b200", 64, 256 * 4096, 4096, "nvfp4", **LAYOUT)
    assert b.step_time_s > a.step_time_s / 2


def test_mxfp8_falls_back_visibly_on_h100_and_nvfp4_is_an_error():
    r = train("llama-3.1-8b", "h100-sxm", 64, 256 * 4096, 4096, "mxfp8", **LAYOUT)
    assert any("mxfp8 not native on h100-sxm" in n and "fp8" in n for n in r.notes)
    ran = {c["op_class"]: c for c in r.breakdown["precision"]["op_classes"]}
    assert ran["dense_gemm"]["ran"] == "fp8" and ran["dense_gemm"]["fell_back"]
    assert r.breakdown["precision"]["scaling"] == "current"
    with pytest.raises(TapeoutError, match="nvfp4"):
        train("llama-3.1-8b", "h100-sxm", 64, 256 * 4096, 4096, "nvfp4", **LAYOUT)



def test_cli_nvfp4_on_h100_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "-m", "llama-3.1-8b", "-c", "h100-sxm", "-n", "64", "--seq-len", "4096",
              "--global-batch-tokens", str(256 * 4096), "--precision", "nvfp4"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "nvfp4" in err and len(err.strip().splitlines()) == 1


def test_json_names_the_format_each_op_class_ran(capsys):
    main(["train", "-m", "llama-3.1-8b", "-c", "b200", "-n", "64", "--seq-len", "4096",
          "--global-batch-tokens", str(256 * 4096), "--precision", "mxfp8", "--tp", "2", "--pp", "4", "--json"])
    d = json.loads(capsys.readouterr().out)
    ran = {c["op_class"]: c["ran"] for c in d["breakdown"]["precision"]["op_classes"]}
    assert ran["dense_gemm"] == "mxfp8" and ran["attention"] == "bf16" and ran["lm_head"] == "bf16"
    assert d["breakdown"]["precision"]["recipe"] == "mxfp8"
