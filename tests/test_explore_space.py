"""Design-space files: validation, derived parameters, and the bad-input errors."""

import copy

import numpy as np
import pytest

from test_explore_fixtures import SMALL
from tapeout.errors import TapeoutError
from tapeout.explore.search import explore, grid_design
from tapeout.explore.space import apply_derived, load_space


def test_size_grid_and_derived():
    sp = load_space(SMALL)
    assert sp.size == 3 * 3 * 2 * 2 * 2 * 2
    d = grid_design(sp, 0, sp.size)
    assert np.array_equal(d["array_cols"], d["array_rows"])
    assert len({tuple(v[i] for v in d.values()) for i in range(sp.size)}) == sp.size


def test_range_min_greater_than_max():
    bad = copy.deepcopy(SMALL)
    bad["parameters"]["clock_ghz"] = {"min": 2.0, "max": 1.0}
    with pytest.raises(TapeoutError, match=r"clock_ghz.*min \(2.0\) > max \(1.0\)"):
        load_space(bad)


def test_unknown_metric_in_constraint():
    bad = copy.deepcopy(SMALL)
    bad["constraints"].append({"metric": "tdp_watts", "max": 3})
    with pytest.raises(TapeoutError, match="unknown metric 'tdp_watts'.*tdp_w"):
        load_space(bad)


def test_unknown_parameter_and_outside_template_range():
    bad = copy.deepcopy(SMALL)
    bad["parameters"]["corez"] = [1]
    with pytest.raises(TapeoutError, match="corez"):
        load_space(bad)
    bad = copy.deepcopy(SMALL)
    bad["parameters"]["clock_ghz"] = [9.0]
    with pytest.raises(TapeoutError, match="outside the template range"):
        load_space(bad)


def test_unsafe_derived_expression_rejected():
    bad = copy.deepcopy(SMALL)
    bad["derived"]["array_cols"] = "__import__('os').getcwd()"
    with pytest.raises(TapeoutError, match="derived.array_cols"):
        load_space(bad)


def test_derived_functions():
    sp = load_space({**SMALL, "derived": {"array_cols": "max(array_rows * 2, 64)", "d2d_bw_gbs": "where(cores > 8, 500, 0)"}})
    d = apply_derived(sp, {"array_rows": np.array([16.0, 64.0]), "cores": np.array([8.0, 16.0])})
    assert list(d["array_cols"]) == [64, 128]
    assert list(d["d2d_bw_gbs"]) == [0, 500]


def test_no_feasible_design_names_the_worst_constraint(tmp_path):
    bad = copy.deepcopy(SMALL)
    bad["constraints"] = [{"metric": "tdp_w", "max": 1e6}, {"metric": "unit_cost_usd", "max": 10.0},
                          {"metric": "die_area_mm2", "max": 1e6}]
    with pytest.raises(TapeoutError, match=r"no feasible design.*'unit_cost_usd <= 10' \(144 of 144\)"):
        explore(bad, db=str(tmp_path / "x.duckdb"))
