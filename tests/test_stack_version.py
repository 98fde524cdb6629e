"""A prediction calibrated on the kernel database says when the row's stack or version is not the
one its chip's kernels were measured under (issue 24 item 4; validation/stack_version.py)."""

import pytest

from tapeout.perf.kernels_db import db_config
from tapeout.validation import harness, registry
from tapeout.validation.stack_version import kernel_db_detail, row_stack, stack_note

RULES = db_config()["stack_software"]
TRT = {"stack": "trtllm", "stack_versions": {"gemm": "1.3.0rc20", "attention_prefill": "1.3.0rc20"}}


@pytest.mark.parametrize("software,expected", [
    ("TensorRT 10.2.0, CUDA 12.4", ("trtllm", None)),  # the MLPerf harness names TensorRT, not the TRT-LLM release
    ("TensorRT-LLM v0.6.1 (gptSessionBenchmark, static batching)", ("trtllm", "0.6.1")),
    ("vLLM 0.4.3+rocm614, PyTorch 2.3.0, ROCm 6.1.2", ("vllm", "0.4.3")),
    ("vLLM docker rocm/vllm:rocm6.3.1_vllm_0.8.5_20250521", ("vllm", "0.8.5")),
    ("SGLang v0.5.14", ("sglang", "0.5.14")),
    ("SAX (TPU-v5e-4_SAX)", (None, None)),
    ("", (None, None)),
])
def test_row_stack_and_version(software, expected):
    assert row_stack(software, RULES) == expected


def test_note_only_where_stack_or_version_differs():
    assert stack_note("TensorRT-LLM 1.3.0rc20", TRT, RULES)["note"] is None  # the database's own version
    n = stack_note("TensorRT-LLM v0.6.1", TRT, RULES)
    assert n["note"].startswith("version differs") and "0.6.1" in n["note"] and "1.3.0rc20" in n["note"]
    assert "states no trtllm version" in stack_note("TensorRT 10.2.0, CUDA 12.4", TRT, RULES)["note"]
    assert stack_note("vLLM 0.5.2", TRT, RULES)["note"].startswith("stack differs")
    assert stack_note("vLLM 0.5.2", TRT, RULES)["database_versions"] == ["1.3.0rc20"]


def _fitted(chips_with_entry=("h200", "b200")):
    return {"chips": {c: {"kernel_db": "x"} for c in chips_with_entry},
            "kernel_db": {"source": {"chips": {"h200": TRT, "h100-sxm": {"stack": "trtllm", "stack_versions": {"gemm": "1.0.0"}}}}}}


def test_detail_only_for_chips_the_database_calibrates():
    row = {"software": "TensorRT-LLM v0.6.1"}
    assert kernel_db_detail(row, "h200", None) is None  # shipped calibration
    assert kernel_db_detail(row, "mi300x", _fitted()) is None  # not calibrated from the database
    assert kernel_db_detail(row, "h200", _fitted())["database_versions"] == ["1.3.0rc20"]
    held_out = kernel_db_detail(row, "b200", _fitted())  # fitted on the other chips' kernels: their versions
    assert held_out["database_versions"] == ["1.0.0", "1.3.0rc20"] and held_out["note"].startswith("version differs")


def test_validation_row_detail_carries_the_note(monkeypatch):
    def mapper(row, fitted=None):
        return registry.RowPrediction(100.0, "Tokens/s", "x", 80.0, 120.0, {"layout_source": "automatic"})

    registry.load_mappers()  # registered into the real list before it is swapped (imports register mappers)
    monkeypatch.setattr(registry, "MAPPERS", [("fake", mapper)])
    row = {"id": "r", "category": "paper", "workload": "w", "scenario": "Offline", "model_config": "",
           "accelerator": "NVIDIA H200-SXM-141GB", "n_accelerators": "8", "precision": "fp8", "metric": "",
           "value": "90", "unit": "Tokens/s", "software": "TensorRT-LLM v0.6.1", "source": "", "notes": ""}
    r = harness.predict_row(row, _fitted())
    assert r.detail["kernel_db"]["note"].startswith("version differs") and r.detail["layout_source"] == "automatic"
    assert "kernel_db" not in (harness.predict_row(row).detail or {})  # the shipped fit: nothing to say
