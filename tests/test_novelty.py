"""Distance-from-calibration interval terms (perf/novelty.py, validation/development.py)."""

import math

from hypothesis import given
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.novelty import Covered, arch_family, distance_terms, stack_of, widen
from tapeout.perf.uncertainty import Z80
from tapeout.workloads.llm_config import load_llm


def test_arch_family_of_published_architectures():
    # Llama-2-70B: GQA with 8 KV heads; Mixtral-8x7B: 8 experts, GQA; GPT-J: MHA; DeepSeek-V3: MoE + MLA
    assert arch_family(load_llm("llama-2-70b")) == "dense-gqa"
    assert arch_family(load_llm("mixtral-8x7b")) == "moe-gqa"
    assert arch_family(load_llm("gpt-j-6b")) == "dense-mha"
    assert arch_family(load_llm("deepseek-v3")) == "moe-mla"


@given(st.floats(0.01, 0.5), st.floats(0.01, 0.5), st.floats(1e-3, 1e6))
def test_widen_adds_sigmas_in_quadrature(s_base, s_term, v):
    lo, hi = v * math.exp(-Z80 * s_base), v * math.exp(Z80 * s_base)
    lo2, hi2 = widen(v, lo, hi, {"t": (s_term, "")})
    assert math.isclose(math.log(hi2 / v), Z80 * math.hypot(s_base, s_term), rel_tol=1e-9)
    assert math.isclose(math.log(v / lo2), Z80 * math.hypot(s_base, s_term), rel_tol=1e-9)
    assert widen(v, lo, hi, {}) == (lo, hi)


def test_terms_fire_only_outside_what_was_covered():
    fitted = {"chips": {"h100-sxm": {"eff_compute": {"bf16": 0.8, "fp8": 0.7}, "eff_attention": 1.1}},
              "families": {}, "generic": {"eff_attention": 1.1}}
    h100 = get_chip("h100-sxm")
    cov = Covered((400.0, 3000.0), frozenset({"trtllm"}))
    assert distance_terms(h100, "fp8", fitted, "dense-gqa", 516.0, "trtllm", cov) == {}
    t = distance_terms(h100, "fp4", fitted, "moe-mla", 5000.0, "vllm", cov)
    assert set(t) == {"precision", "model_family", "seq_range", "software"}  # no MoE kernel measured
    # a chip whose family has no microbenchmarks in this calibration
    t = distance_terms(get_chip("mi300x"), "bf16", fitted, "dense-gqa", 516.0, "trtllm", cov)
    assert set(t) == {"chip_family", "precision"}
    # nothing validated at all: every description term fires
    assert {"seq_range", "software"} <= set(distance_terms(h100, "fp8", fitted, "dense-gqa", 516.0, "trtllm", Covered()))


def test_model_family_term_follows_the_kernel_calibration_not_the_rows():
    """The model_family sigma is the spread of kernel-class efficiencies around dense GEMM: the error of
    running a class at GEMM's efficiency because no microbenchmark measured it. A family whose classes
    are measured (here MoE and attention on H100, as moe_kernels.csv / attention_kernels.csv give the
    shipped fit) does not carry it, validated by rows or not; a class measured nowhere does."""
    h100 = get_chip("h100-sxm")
    measured = {"chips": {"h100-sxm": {"eff_compute": {"bf16": 0.8}, "eff_attention": 1.1, "eff_moe": 0.64}},
                "families": {}, "generic": {}}
    assert "model_family" not in distance_terms(h100, "bf16", measured, "moe-gqa", 516.0, "trtllm", Covered())
    no_moe = {"chips": {"h100-sxm": {"eff_compute": {"bf16": 0.8}, "eff_attention": 1.1}}, "families": {}, "generic": {}}
    s, why = distance_terms(h100, "bf16", no_moe, "moe-gqa", 516.0, "trtllm", Covered())["model_family"]
    assert "moe" in why and "attention" not in why
    assert "model_family" not in distance_terms(h100, "bf16", no_moe, "dense-gqa", 516.0, "trtllm", Covered())
    # another chip borrows the measured class efficiency at generic level: measured, so no term
    generic = {"chips": {}, "families": {}, "generic": {"eff_attention": 1.1, "eff_moe": 0.64}}
    assert "model_family" not in distance_terms(get_chip("mi300x"), None, generic, "moe-gqa", 516.0)
    nothing = {"chips": {}, "families": {}, "generic": {}}
    assert "attention" in distance_terms(get_chip("mi300x"), None, nothing, "dense-mha", 516.0)["model_family"][1]


def test_shipped_calibration_measures_every_class_it_prices():
    """The shipped fit has attention and MoE kernel microbenchmarks (Hopper, generic level): no chip's
    dense or MoE model runs a class at the GEMM default, so the model_family term never fires on it."""
    from tapeout.perf.calibration import load_fitted
    from tapeout.perf.novelty import unmeasured_classes

    fitted = load_fitted()
    for cid in ("h100-sxm", "h200", "mi300x", "gaudi2", "b200", "l40s"):
        assert unmeasured_classes(get_chip(cid), "moe-gqa", fitted) == []


def test_stack_names():
    assert stack_of("TensorRT 10.2.0, CUDA 12.4") == "trtllm"
    assert stack_of("vLLM 0.4.3+rocm614, PyTorch 2.3.0") == "vllm"
    assert stack_of("") == ""


def test_precision_split_leaves_rows_without_a_named_precision_out():
    """Leave-one-precision-out groups rows by the precision they ran; a row that names none
    ("per submission", which validate skips) belongs to no group instead of stopping the table."""
    from tapeout.validation import coverage

    row = {"precision": "per submission", "accelerator": "Google TPU v5e", "category": "mlperf-inf",
           "workload": "MLPerf Inference v4.1 gptj-99", "software": ""}
    assert coverage.group_key("precision", row) is None


def test_training_rows_carry_the_same_distance_terms():
    """An LLM training row is described like a serving row (family, sequence length, stack) and is
    widened when the development rows never covered it."""
    from tapeout.validation import development
    from tapeout.validation.harness import predict_row

    row = {"id": "T", "category": "mlperf-train", "workload": "MLPerf Training v4.0 llama2_70b_lora",
           "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "precision": "per submission",
           "software": "NVIDIA NeMo Framework Release 24.04", "value": "30", "unit": "minutes",
           "scenario": "time-to-train (closed)", "model_config": "",
           "notes": "global_batch_size=8; median last-eval samples_count=3072"}
    assert development.traits(row) == {"model_family": "dense-gqa", "context": 8192.0, "stack": "nemo"}
    covered = development.covered([row])
    near = predict_row(row, covered=covered)
    far = predict_row(row, covered=Covered())  # nothing validated: sequence and stack terms fire
    assert near.detail["distance"] == {}
    assert set(far.detail["distance"]) == {"seq_range", "software"}
    assert far.low < near.low and far.high > near.high and far.predicted == near.predicted


def test_non_llm_rows_widen_by_chip_family_only():
    """A row of any other kind (here a ResNet-50 offline row) on a chip whose family has no
    microbenchmarks gets the chip_family term, recorded in its detail; on a calibrated family it
    keeps its interval. The workload terms stay with LLM inference rows."""
    from types import SimpleNamespace

    from tapeout.perf.novelty import load_novelty
    from tapeout.validation.development import apply_chip

    fitted = {"chips": {"h100-sxm": {"eff_compute": {"bf16": 0.8}}}, "families": {}}
    row = {"accelerator": "Qualcomm Cloud AI 100 Ultra", "workload": "MLPerf Inference v4.0 resnet50"}
    res = SimpleNamespace(predicted=100.0, low=80.0, high=125.0, detail={"compute_precision": "int8"})
    apply_chip(res, row, fitted)
    sigma = float(load_novelty()["chip_family"]["sigma"])
    assert set(res.detail["distance"]) == {"chip_family"} and res.detail["interval_base"] == [80.0, 125.0]
    assert (res.low, res.high) == widen(100.0, 80.0, 125.0, {"chip_family": (sigma, "")})
    assert res.low < 80.0 and res.high > 125.0
    same = SimpleNamespace(predicted=100.0, low=80.0, high=125.0, detail={})
    apply_chip(same, {"accelerator": "NVIDIA H100-SXM-80GB"}, fitted)
    assert (same.low, same.high, same.detail) == (80.0, 125.0, {})
