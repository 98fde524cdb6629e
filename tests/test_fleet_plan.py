"""Fleet plan over years: roadmap price paths, the yearly buy/build plans, payback year."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from _cli import assert_clean, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.econ.roadmap import price_path, roadmap_entry
from tapeout.errors import TapeoutError
from tapeout.study.fleet_plan import compare, payback_year, simulate

RANKING = {"name": "ranking", "kind": "recsys", "model": "dlrmv2", "precision": "bf16",
           "traffic": {"queries_per_s": 2.0e4}, "slo": {"p99_s": 0.03}}


def _opt(chip, from_year, ups, tco_by_year):
    return {"chip": chip, "from_year": from_year, "ups": {"w": ups}, "tco": {"w": tco_by_year}}


def test_price_path_is_geometric_and_refuses_a_negative_path():
    assert price_path(27500, 2023, 0.12, 2026) == pytest.approx(27500 * 0.88 ** 3)
    assert price_path(50000, 2026, 0.12, 2025) == 50000  # no back-extrapolation
    with pytest.raises(TapeoutError, match="zero or negative"):
        price_path(1000, 2026, 1.5, 2027)


def test_roadmap_has_the_announced_successors_with_sources():
    for c in ("b300", "gb300", "rubin"):
        e = roadmap_entry(c, 2026)
        assert e.price_usd > 0 and e.source and e.decline_low <= e.decline <= e.decline_high
    assert roadmap_entry("rubin", 2026).status == "announced"
    assert roadmap_entry("b300", 2026).available_year > roadmap_entry("b200", 2026).available_year
    assert roadmap_entry("h100-sxm", 2026, declines={"default": 0.3}).decline == 0.3


def test_two_year_plan_closed_form():
    # demand 100 units/s growing 50%; GPU 10 units/s per chip, TCO 1000 then 900 per chip-year;
    # NPU ready in year 2, 20 units/s per chip, TCO 300; NRE 3000 spent in year 1.
    gpu = _opt("gpu", 2026, 10.0, {2026: 1000.0, 2027: 900.0})
    npu = _opt("npu", 2027, 20.0, {2026: 300.0, 2027: 300.0})
    r = compare([gpu], npu, 3000.0, {"w": 100.0}, {"w": 0.5}, 2026, 2)
    buy, build = r["buy"], r["build"]
    assert [x["bought"] for x in buy] == [{"gpu": 10}, {"gpu": 5}]
    assert [x["cumulative_usd"] for x in buy] == [10 * 1000, 10 * 1000 + (10 * 1000 + 5 * 900)]
    assert [x["bought"] for x in build] == [{"gpu": 10}, {"npu": 3}]  # ceil(50 / 20)
    assert [x["cumulative_usd"] for x in build] == [13000, 13000 + 10 * 1000 + 3 * 300]
    assert r["payback_year"] == 2027  # 23,900 <= 24,500
    r = compare([gpu], npu, 4000.0, {"w": 100.0}, {"w": 0.5}, 2026, 2)
    assert r["payback_year"] is None  # 24,900 > 24,500: never within the plan
    assert all(x["capacity_vs_demand"] >= 1 for x in buy + build)


@settings(max_examples=60, deadline=None)
@given(st.floats(10, 1e4), st.floats(-0.3, 1.0), st.floats(1, 50), st.floats(0.05, 0.4), st.floats(0, 1e5),
       st.floats(1, 100), st.integers(0, 5), st.integers(0, 5))
def test_later_npu_never_pays_back_earlier(demand, growth, ups, decline, nre, npu_ups, r1, r2):
    years, start = 6, 2026
    gpu = _opt("gpu", start, ups, {start + t: 1000.0 * (1 - decline) ** t for t in range(years)})

    def pb(ready):
        npu = _opt("npu", start + ready, npu_ups, {start + t: 400.0 for t in range(years)})
        p = compare([gpu], npu, nre, {"w": demand}, {"w": growth}, start, years)["payback_year"]
        return math.inf if p is None else p

    early, late = sorted((r1, r2))
    assert pb(late) >= pb(early)


def test_payback_needs_the_build_plan_to_stay_below():
    rows = lambda xs: [{"year": 2026 + i, "cumulative_usd": x} for i, x in enumerate(xs)]  # noqa: E731
    assert payback_year(rows([5, 3, 9]), rows([4, 4, 8])) is None  # dips below, then above again
    assert payback_year(rows([5, 3, 7]), rows([4, 4, 8])) == 2027
    # a build plan equal to the buy plan every year (design never bought, no NRE) pays nothing back;
    # hypothesis found it as "a later NPU pays back earlier" (ready in the plan's last years: plans tie)
    assert payback_year(rows([4, 4, 8]), rows([4, 4, 8])) is None


def test_simulate_never_buys_before_availability():
    late = _opt("late", 2028, 100.0, {y: 1.0 for y in range(2026, 2030)})
    early = _opt("early", 2026, 10.0, {y: 1000.0 for y in range(2026, 2030)})
    plan = simulate([late, early], {"w": 100.0}, {"w": 1.0}, 2026, 4)
    assert [list(r["bought"]) for r in plan] == [["early"], ["early"], ["late"], ["late"]]


def _study(tmp_path, chips, economics=None, workloads=None, constraints=None):
    d = {"name": "t", "chips": chips, "workloads": workloads or [RANKING], "constraints": constraints or {},
         "economics": {"samples": 200, "plan_years": 3, **(economics or {})}}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_study_plan_buys_only_compliant_chips_and_says_why_not(tmp_path):
    code, out, err = run_cli(["run", _study(tmp_path, ["h100-sxm", "h20", "rubin"], constraints={"export": "not-controlled"}),
                              "--out", tmp_path / "o", "--force"])
    assert code == 0, err[-1500:]
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    assert len(r["fleet_plan"]) == 3
    for row in r["fleet_plan"]:
        assert set(row["chips"]) == {"h20"} and row["capacity_vs_demand"] >= 1
        assert {"year", "chips", "cost_usd", "cumulative_usd"} <= set(row)
    why = {x["chip"]: x["reason"] for x in r["fleet_plans"]["roadmap"] if not x["in_plan"]}
    assert "announced" in why["rubin"] and "export" in why["h100-sxm"]
    assert "not among the study's chips" in why["b300"]


@pytest.mark.parametrize("economics, workloads, field", [
    ({"price_decline": {"h100-sxm": 1.5}}, None, "economics.price_decline"),
    ({}, [{**RANKING, "growth": -1.2}], "workloads.0.growth"),
])
def test_bad_plan_input_is_one_line_exit_2(tmp_path, economics, workloads, field):
    code, out, err = run_cli(["run", _study(tmp_path, ["h100-sxm"], economics=economics, workloads=workloads),
                              "--out", tmp_path / "o"])
    assert_clean(code, out, err)
    assert code == 2 and field in err and len(err.strip().splitlines()) == 1
