"""Build-or-buy decision: constraints on every candidate, prices, TCO closed forms, program
volume and break-even, SLOs honoured, seeded Monte Carlo, bad economics input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from _cli import assert_clean, run_cli

from tapeout.econ.program import break_even, nre_breakdown, nre_total, program_volume
from tapeout.econ.tco import HOURS_PER_YEAR, capital_recovery_factor, tco_per_chip_year
from tapeout.hardware.catalog import get_chip
from tapeout.study.constraints import split_candidates
from tapeout.study.schema import Constraints, SLO, Traffic, WorkloadSpec

CATALOG = ["h100-sxm", "h20", "h200", "b200", "mi300x", "l40s", "l20", "a100-sxm", "gaudi3", "ascend-910b", "trainium2"]
RANKING = {"name": "ranking", "kind": "recsys", "model": "dlrmv2", "precision": "bf16",
           "traffic": {"queries_per_s": 2.0e4}, "slo": {"p99_s": 0.03}}


def _study(tmp_path, chips, constraints=None, economics=None, workloads=None):
    d = {"name": "t", "chips": chips, "workloads": workloads or [RANKING], "constraints": constraints or {},
         "economics": {"samples": 200, **(economics or {})}}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def _run(tmp_path, **kw):
    code, out, err = run_cli(["run", _study(tmp_path, **kw), "--out", tmp_path / "out", "--force"])
    assert code == 0, err[-1500:]
    return json.loads((tmp_path / "out" / "results.json").read_text())


def test_export_not_controlled_excludes_every_3a090_chip():
    from tapeout.rules.export import assess_chip

    keep, excluded = split_candidates([get_chip(c) for c in CATALOG], Constraints(export="not-controlled"))
    assert keep and excluded
    for c in keep:
        assert assess_chip(c)["class_3a090"] == "not 3A090"
    for e in excluded:
        assert assess_chip(get_chip(e["candidate"]))["class_3a090"] != "not 3A090" and "export" in e["reason"]


def test_study_not_controlled_never_ranks_a_3a090_chip(tmp_path):
    r = _run(tmp_path, chips=["h100-sxm", "l40s", "h20"], constraints={"export": "not-controlled"})
    ranked = {s["chip"] for s in r["chip_summary"]}
    assert ranked == {"h20"}  # H100 and L40S are 3A090.a.1
    assert {e["candidate"] for e in r["excluded"]} == {"h100-sxm", "l40s"}
    assert r["recommendation"]["lowest fleet TCO"] == "h20"
    assert all(c["class"] == "not 3A090" for c in r["compliance"])


def test_study_tdp_cap_never_chooses_a_chip_above_it(tmp_path):
    r = _run(tmp_path, chips=["h100-sxm", "l40s", "h20"], constraints={"max_tdp_w": 500})
    for s in r["chip_summary"]:
        assert get_chip(s["chip"]).get("tdp_w") <= 500
    assert "h100-sxm" in {e["candidate"] for e in r["excluded"]}
    assert get_chip(r["decision"]["choice"]).get("tdp_w") <= 500
    assert set(r["decision"]["p_best"]) <= {"l40s", "h20"}
    assert sum(r["decision"]["p_best"].values()) == pytest.approx(1.0)


def test_unknown_tdp_is_excluded_under_a_cap():
    keep, excluded = split_candidates([get_chip("tpu-v6e")], Constraints(max_tdp_w=700))
    assert not keep and "unknown" in excluded[0]["reason"]


def test_ranking_slo_is_honoured():
    from tapeout.study.evaluate import evaluate

    def qps(p99):
        w = WorkloadSpec(name="r", kind="recsys", model="dlrmv2", traffic=Traffic(queries_per_s=1e4), slo=SLO(p99_s=p99))
        return evaluate(w, get_chip("h100-sxm"))["units_per_s_per_chip"]

    assert qps(0.002) < qps(0.030)  # a tighter p99 bound admits less load per chip


def test_capital_recovery_factor_closed_form():
    assert capital_recovery_factor(0.0, 4) == pytest.approx(0.25)
    r, n = 0.08, 5
    assert capital_recovery_factor(r, n) == pytest.approx(r * (1 + r) ** n / ((1 + r) ** n - 1))
    # an annuity at the CRF repays the principal: sum of discounted payments = 1
    assert sum(capital_recovery_factor(r, n) / (1 + r) ** k for k in range(1, n + 1)) == pytest.approx(1.0)


def test_tco_parts_closed_form():
    t = tco_per_chip_year(10000, 500, pue=1.0, usd_per_kwh=0.1, years=4, cost_of_capital=0.0, facility_usd_per_kw=8000,
                          facility_years=10, maintenance_fraction=0.05, include_host_power=False, provisioned_w=1000)
    cap = t["capex"]["total"]
    assert t["capex_per_year"] == pytest.approx(cap / 4)
    assert t["facility_per_year"] == pytest.approx(1.0 * 8000 / 10)
    assert t["maintenance_per_year"] == pytest.approx(0.05 * cap)
    assert t["energy_per_year"] == pytest.approx(0.5 * HOURS_PER_YEAR * 0.1)


def test_h100_owned_tco_and_build_cost_match_published_estimates():
    from tapeout.econ.summary import chip_cost_stack
    from tapeout.econ.tco_anchor import owned_tco

    t = owned_tco(get_chip("h100-sxm"))
    # $1.20-2.30 per owned H100-hour (data/econ/anchors_tco.csv, cited there)
    assert 1.20 <= t["per_hour"] <= 2.30
    # Raymond James build cost $3,320 (data/econ/anchors.csv): within 15%
    assert abs(chip_cost_stack(get_chip("h100-sxm"))["manufacturing"] / 3320 - 1) <= 0.15


def test_program_volume_and_break_even_closed_forms():
    assert program_volume(1000, 5, 5, 0.0) == pytest.approx(1000)
    assert program_volume(1000, 3, 1.5, 0.5) == pytest.approx(1000 * 1.5 ** 2 * 2)
    # k x 10 + 30 = k x 16 -> k = 5; never when building's variable cost is not below buying
    assert break_even(16.0, 10.0, 30.0) == pytest.approx(5.0)
    assert break_even(10.0, 10.0, 30.0) is None
    rows = nre_breakdown("N5", 5)
    assert nre_total(rows, "low") <= nre_total(rows) <= nre_total(rows, "high")
    sw = next(r for r in rows if r["item"] == "software_stack")
    assert sw["mid"] == pytest.approx(5 * 35e6)


def test_bought_chips_carry_no_nre_and_prices_have_a_basis(tmp_path):
    r = _run(tmp_path, chips=["h100-sxm", "l40s"])
    for cid, st in r["cost_stacks"].items():
        assert "nre" not in st and st["vendor_margin"] >= 0
    for p in r["prices"]:
        assert p["basis"] and p["price_usd"] > 0
    assert all(c["class"] for c in r["compliance"])


def test_monte_carlo_is_seeded(tmp_path):
    a = _run(tmp_path, chips=["h100-sxm", "h20"], economics={"seed": 3})["decision"]
    b = _run(tmp_path, chips=["h100-sxm", "h20"], economics={"seed": 3})["decision"]
    assert a["p_best"] == b["p_best"] and a["fleet_tco_usd_per_year"] == b["fleet_tco_usd_per_year"]
    for q in a["fleet_tco_usd_per_year"].values():
        assert q["p10"] <= q["p50"] <= q["p90"]
    assert {"input", "low_value", "high_value", "tco_low", "tco_high"} <= set(a["tornado"][0])


@pytest.mark.parametrize("economics, field", [
    ({"prices": {"h100-sxm": -5}}, "economics.prices"),
    ({"nre": {"masks": {"low": 3, "high": 1}}}, "economics.nre.masks"),
    ({"demand_growth": -1.5}, "economics.demand_growth"),
])
def test_bad_economics_input_is_one_line_exit_2(tmp_path, economics, field):
    code, out, err = run_cli(["run", _study(tmp_path, ["h100-sxm"], economics=economics), "--out", tmp_path / "o"])
    assert_clean(code, out, err)
    assert code == 2 and field in err and len(err.strip().splitlines()) == 1


def test_audio_traffic_converts_to_whisper_output_tokens():
    """Study traffic in audio hours meets a Whisper preset that counts output tokens (MLPerf's
    unit): one 30-s window decodes `output_tokens` tokens, so a token stands for 30/100 s of
    audio at the preset's 100 tokens per window; a unit that is neither is refused."""
    from tapeout.errors import TapeoutError
    from tapeout.study.evaluate import _unit_scale

    assert _unit_scale("audio_s", "output token", {"output_tokens": 100}) == pytest.approx(0.3)
    assert _unit_scale("audio_s", "30-s chunk") == 30.0
    with pytest.raises(TapeoutError, match="audio time"):
        _unit_scale("audio_s", "image", {})
