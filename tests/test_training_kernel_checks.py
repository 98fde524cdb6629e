"""The training kernel-check scripts (docs/notes/issue-18.md, Round stop-27 issue-27tg): their cases stay
consistent and their measured-table readers interpolate as documented."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    sys.path.insert(0, str(ROOT / "scripts"))  # the non-GEMM script imports the GEMM one by name
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(ROOT / "scripts"))


gemm = _script("training_gemm_kernel_check")
nongemm = _script("training_nongemm_kernel_check")


def test_every_case_has_its_attention_shape():
    # micro-batch sequences x tokens per sequence on the rank = the case's tokens per micro-batch
    assert set(nongemm.SHAPES) == set(range(len(gemm.CASES)))
    for i, case in enumerate(gemm.CASES):
        mbs, seq, cp = nongemm.SHAPES[i]
        assert mbs * seq == case[6], case[0]
        assert (cp > 1) == (" CP" in case[0]), case[0]


def test_step_rows_name_cases_of_their_tensor_parallel_size():
    for rid, ci in gemm.STEP_ROWS + nongemm.STEP_ROWS:
        assert 0 <= ci < len(gemm.CASES), rid


def test_quantize_reader_interpolates_log_log_and_refuses_off_grid():
    tab = {2048: ([1024, 4096], [1e-5, 4e-5])}
    assert nongemm.quant_latency(tab, 2048, 1024) == pytest.approx(1e-5)
    assert nongemm.quant_latency(tab, 2048, 2048) == pytest.approx(2e-5)  # sqrt(1e-5 x 4e-5): the log-log midpoint
    assert nongemm.quant_latency(tab, 2048, 8192) is None  # beyond the grid
    assert nongemm.quant_latency(tab, 4096, 2048) is None  # m not measured


def test_layer_summary_adds_the_quantize_to_the_model_sides_only():
    rows = [{"pass": "fwd", "model_s": 1.0, "engine_s": 1.0, "quant_s": 0.5, "measured_s": 2.0, "kfit_s": 3.0},
            {"pass": "dgrad", "model_s": 2.0, "engine_s": 1.0, "quant_s": 0.0, "measured_s": 2.0, "kfit_s": 1.0}]
    s = gemm.summary(rows)
    assert (s["model_s"], s["engine_s"], s["measured_s"], s["kfit_s"]) == (3.5, 2.5, 4.0, 4.0)
    assert s["by_pass"]["fwd"] == pytest.approx((0.75, 0.75, 1.5)) and s["by_pass"]["dgrad"] == pytest.approx((1.0, 0.5, 0.5))
