"""Software-maturity sensitivity of a recommendation."""

import numpy as np

from test_explore_fixtures import SMALL
from tapeout.explore.maturity import _breakeven, maturity_sensitivity
from tapeout.explore.objectives import Evaluator
from tapeout.explore.space import load_space


def test_immature_stack_lowers_metrics_monotonically():
    design = {"cores": 32, "array_rows": 128, "array_cols": 128, "mem_type": "HBM3", "mem_stacks": 4}
    s = maturity_sensitivity(SMALL, [design], levels=[1.0, 0.8, 0.5])
    lv = s["designs"][0]["levels"]
    ppw = [e["perf_per_watt"] for e in lv]
    assert ppw[0] > ppw[1] > ppw[2]
    assert lv[0]["retained_perf_per_watt"] == 1.0


def test_margin_against_catalog_baseline_and_breakeven():
    design = {"cores": 32, "array_rows": 128, "array_cols": 128, "mem_type": "HBM3", "mem_stacks": 4}
    s = maturity_sensitivity(SMALL, [design], levels=[1.0, 0.7, 0.4], baseline="h100-sxm")
    assert s["baseline"]["chip"] == "h100-sxm"
    lv = s["designs"][0]["levels"]
    m = [e["margin_perf_per_watt"] for e in lv]
    assert m[0] > m[1] > m[2]
    assert _breakeven([(1.0, 0.5), (0.8, 0.1), (0.6, -0.3)]) == 0.8 - 0.2 * 0.1 / 0.4 or abs(
        _breakeven([(1.0, 0.5), (0.8, 0.1), (0.6, -0.3)]) - 0.75) < 1e-12
    assert _breakeven([(1.0, -0.1), (0.5, -0.2)]) is None


def test_per_class_maturity_only_slows_its_class():
    sp = load_space(SMALL)
    d = {"cores": np.array([32.0]), "array_rows": np.array([128.0]), "array_cols": np.array([128.0])}
    d["array_style"] = np.array([1.0])  # tensor-core style: decode GEMMs have no fill/drain
    full = Evaluator(sp, maturity=1.0).metrics(d)
    gemm = Evaluator(sp, maturity={"gemm": 0.5}).metrics(d)
    mem = Evaluator(sp, maturity={"memory": 0.5}).metrics(d)
    # prefill is GEMM-bound: slower; decode at batch 16 is memory-bound: nearly unchanged
    assert gemm["lat_ms_pre"][0] > 1.3 * full["lat_ms_pre"][0]
    assert gemm["lat_ms_dec"][0] < 1.05 * full["lat_ms_dec"][0]
    # and the other way round for the memory class
    assert mem["lat_ms_dec"][0] / full["lat_ms_dec"][0] > mem["lat_ms_pre"][0] / full["lat_ms_pre"][0]
