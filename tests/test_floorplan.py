"""Floorplan limits (econ/floorplan.py): die edge, package per technology and year, heat flux
per cooling class, power delivery, rack; calibrated on catalog chips; in the explorer."""

import subprocess
import sys

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from test_explore_fixtures import SMALL
from tapeout.econ.chip_floorplan import chip_floorplan, floorplan_chips
from tapeout.econ.floorplan import (LIMIT_LABELS, LIMITS, MARGIN_COLUMNS, FloorplanSettings, edge_needed_mm, margins,
                                    package_area_mm2, package_limit_mm2)
from tapeout.econ.nodes import coef
from tapeout.errors import TapeoutError
from tapeout.explore.npu import hardware
from tapeout.explore.search import explore
from tapeout.explore.store import Store
from tapeout.hardware.catalog import get_chip

# chips whose die area, HBM stack count and package are public (issue 23)
CALIBRATION_CHIPS = ["a100-sxm", "h100-sxm", "h200", "b200", "mi300x", "mi325x"]


# ------------------------------------------------------------------ published package facts
def test_package_limits_follow_published_reticle_multiples():
    reticle = 858.0  # 26 x 33 mm field
    assert package_limit_mm2("cowos-s", 2023) == pytest.approx(3.3 * reticle)  # TSMC: CoWoS-S 3.3x
    assert package_limit_mm2("cowos-s", 2020) == pytest.approx(2.0 * reticle)  # 1,700 mm^2 (2020)
    assert package_limit_mm2("cowos-l", 2026) == pytest.approx(5.5 * reticle)
    assert package_limit_mm2("cowos-l", 2030) == pytest.approx(9.5 * reticle)  # the latest row applies
    assert package_limit_mm2("emib", 2028) == pytest.approx(12 * reticle)
    with pytest.raises(TapeoutError, match="not available in 2015"):
        package_limit_mm2("cowos-s", 2015)


def test_blackwell_package_area_matches_the_published_size():
    # TrendForce: Blackwell ~3.3x reticle = 2,739 mm^2 (2 dies, 8 HBM3E stacks)
    assert float(package_area_mm2(1600, 8, "HBM3E")) == pytest.approx(2739, rel=0.01)


def test_edge_needed_is_the_sum_of_the_interfaces():
    got = float(edge_needed_mm(6, "HBM3", 36, 1.0, 2634.0, other_phy_mm=3.0))
    want = (6 * coef("hbm_phy_shoreline_mm", "HBM3") + 36 * coef("serdes_shoreline_mm_per_lane", "112G")
            + coef("pcie_shoreline_mm", "gen5x16") + 2634.0 / coef("d2d_shoreline_bw_gbs_per_mm", "UCIe-A") + 3.0)
    assert got == pytest.approx(want)
    assert 2634.0 / coef("d2d_shoreline_bw_gbs_per_mm", "UCIe-A") == pytest.approx(2.0)  # UCIe-A 1317 GB/s/mm


# ------------------------------------------------------------------ catalog chips
def test_every_catalog_chip_with_public_package_facts_passes_its_own_checks():
    chips = floorplan_chips()
    assert set(CALIBRATION_CHIPS) <= set(chips)
    for cid in chips:
        r = chip_floorplan(get_chip(cid))
        broken = {lim: r[col] for lim, col in MARGIN_COLUMNS.items() if r[col] < 0}
        assert not broken, f"{cid} breaks {broken}"


@pytest.mark.parametrize("cid", CALIBRATION_CHIPS)
def test_edge_and_package_admit_the_real_stack_count_and_reject_twice_that(cid):
    chip = get_chip(cid)
    real = chip_floorplan(chip)
    assert real["edge_margin_mm"] >= 0 and real["package_margin_mm2"] >= 0
    double = chip_floorplan(chip, hbm_stacks=2 * real["hbm_stacks"])
    assert min(double["edge_margin_mm"], double["package_margin_mm2"]) < 0


def test_real_stack_counts_are_the_published_ones():
    # H100/H200/A100: six stack sites; B200, MI300X, MI325X: eight (whitepapers / data sheets)
    got = {c: chip_floorplan(get_chip(c))["hbm_stacks"] for c in CALIBRATION_CHIPS}
    assert got == {"a100-sxm": 6, "h100-sxm": 6, "h200": 6, "b200": 8, "mi300x": 8, "mi325x": 8}


# ------------------------------------------------------------------ margins: invariants
_KW = dict(edge_needed=50.0, edge_available=80.0, package_mm2=2000.0, hbm_stacks=6, footprint_mm2=800.0, hotspot_w_mm2=0.9)


@settings(max_examples=60, deadline=None)
@given(p=st.floats(50, 3000), dp=st.floats(1, 1000), cooling=st.sampled_from(["air", "cold_plate", "immersion"]))
def test_more_power_never_raises_a_power_margin(p, dp, cooling):
    s = FloorplanSettings(cooling=cooling)
    a, b = margins(s, power_w=p, **_KW), margins(s, power_w=p + dp, **_KW)
    for col in ("heat_flux_margin_w_mm2", "power_delivery_margin_w", "rack_margin_kw"):
        assert float(b[col]) <= float(a[col]) + 1e-12


def test_air_is_the_tightest_package_power_and_organic_cannot_carry_hbm():
    hot = dict(_KW, footprint_mm2=1000.0)
    air = margins(FloorplanSettings(cooling="air"), power_w=1200.0, **hot)
    liquid = margins(FloorplanSettings(cooling="cold_plate"), power_w=1200.0, **hot)
    assert air["power_delivery_margin_w"] < 0 <= liquid["power_delivery_margin_w"]
    org = margins(FloorplanSettings(packaging="organic"), power_w=300.0, **_KW)
    assert org["package_margin_mm2"] < 0
    no_hbm = margins(FloorplanSettings(packaging="organic"), power_w=300.0, **dict(_KW, hbm_stacks=0, package_mm2=1000.0))
    assert no_hbm["package_margin_mm2"] >= 0


def test_unknown_cooling_or_packaging_names_the_choices():
    with pytest.raises(TapeoutError, match="air, cold_plate, immersion"):
        FloorplanSettings(cooling="water")
    with pytest.raises(TapeoutError, match="cowos-s, cowos-l, emib, organic"):
        FloorplanSettings(packaging="foveros")


# ------------------------------------------------------------------ the NPU template
def test_npu_edge_is_closed_form():
    d = {"mem_type": np.array(["HBM3"]), "mem_stacks": np.array([4.0]), "chiplets": np.array([1.0]),
         "scaleup_links": np.array([8.0]), "link_gbps": np.array([50.0])}
    h = hardware(d)
    lanes = np.ceil(8 * 50 * 2 / 2 / 12.5)  # 800 GB/s bidirectional over 12.5 GB/s lanes
    want = 4 * coef("hbm_phy_shoreline_mm", "HBM3") + lanes * coef("serdes_shoreline_mm_per_lane", "112G") \
        + coef("pcie_shoreline_mm", "gen5x16")
    assert float(h["edge_needed_mm"][0]) == pytest.approx(want)
    assert float(h["edge_available_mm"][0]) == pytest.approx(coef("die_edge_usable_fraction") * 4 * np.sqrt(h["die_area_mm2"][0]))
    # package = (die + 4 stacks) x spacing
    assert float(h["package_mm2"][0]) == pytest.approx(float(package_area_mm2(h["silicon_mm2"][0], 4, "HBM3")))


def _space(**floorplan):
    sp = dict(SMALL, constraints=SMALL["constraints"] + [{"limit": lim} for lim in LIMITS])
    sp["parameters"] = dict(SMALL["parameters"], mem_stacks=[2, 4, 8, 16])
    if floorplan:
        sp["floorplan"] = floorplan
    return sp


def test_explorer_rejects_and_stores_the_broken_limit_with_its_margin(tmp_path):
    db = str(tmp_path / "f.duckdb")
    res = explore(_space(), db=db)
    st_ = Store(db, read_only=True)
    d = st_.fetch(["feasible", "reasons", "edge_margin_mm", "package_margin_mm2", "mem_stacks"])
    st_.close()
    edge_bad = d["edge_margin_mm"] < 0
    assert edge_bad.any(), "16 HBM stacks on a small die must break the edge budget"
    assert not (d["feasible"][edge_bad] > 0).any()
    assert all(LIMIT_LABELS["edge"] in r for r in d["reasons"][edge_bad])
    assert all(LIMIT_LABELS["edge"] not in r for r in d["reasons"][~edge_bad])
    assert res.removed[LIMIT_LABELS["edge"]] == int(edge_bad.sum())
    assert all(r == "" for r in d["reasons"][d["feasible"] > 0])


def test_explore_cli_says_which_limits_and_bad_choices_exit_2(tmp_path):
    space = tmp_path / "s.yaml"
    space.write_text(yaml.safe_dump(_space(cooling="air", packaging="cowos-s", year=2025)))
    out = subprocess.run([sys.executable, "-m", "tapeout", "explore", str(space), "--db", str(tmp_path / "a.duckdb")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert LIMIT_LABELS["edge"] in " ".join(out.stdout.split())
    for field, value, choices in (("cooling", "liquid", "air, cold_plate, immersion"),
                                  ("packaging", "foveros", "cowos-s, cowos-l, emib, organic")):
        space.write_text(yaml.safe_dump(_space(**{field: value})))
        err = subprocess.run([sys.executable, "-m", "tapeout", "explore", str(space), "--db", str(tmp_path / "b.duckdb")],
                             capture_output=True, text=True)
        assert err.returncode == 2 and choices in err.stderr and f"floorplan.{field}" in err.stderr
        assert "Traceback" not in err.stderr and len(err.stderr.strip().splitlines()) == 1


def test_study_with_unknown_cooling_is_one_line_exit_2(tmp_path):
    from test_study_schema import BASE

    for field, value, choices in (("cooling", "liquid", "air, cold_plate, immersion"),
                                  ("packaging", "chiplet-magic", "cowos-s, cowos-l, emib, organic")):
        f = tmp_path / f"{field}.yaml"
        f.write_text(yaml.safe_dump(dict(BASE, constraints={field: value})))
        err = subprocess.run([sys.executable, "-m", "tapeout", "run", str(f), "--out", str(tmp_path / "o"), "--quiet"],
                             capture_output=True, text=True)
        assert err.returncode == 2 and choices in err.stderr and f"constraints.{field}" in err.stderr
        assert "Traceback" not in err.stderr and len(err.stderr.strip().splitlines()) == 1


def test_flagship_chosen_npu_passes_every_limit_and_the_spec_sheet_shows_the_margins(tmp_path):
    from pathlib import Path

    from tapeout.study.runner import run_study

    root = Path(__file__).resolve().parents[1]
    res = run_study(root / "studies" / "flagship.yaml", tmp_path / "fl")
    spec = res["chosen_design"]
    assert spec, "the flagship study picks a custom NPU"
    for col in MARGIN_COLUMNS.values():
        assert spec[col] >= 0, f"{col} = {spec[col]}"
    assert spec["floorplan_cooling"] == "air" and spec["floorplan_packaging"] == "cowos-s"
    page = (tmp_path / "fl" / "report.html").read_text()
    assert all(col in page for col in MARGIN_COLUMNS.values())
    assert "infeasible: " + LIMIT_LABELS["edge"] in page
    # the whole mix runs on some candidate, so the study reaches a decision (a workload that fails
    # on every chip, e.g. a unit mismatch, leaves `decision` empty)
    d = res["decision"]
    assert d and d["choice"] in d["p_best"] and abs(sum(v for v in d["p_best"].values() if v) - 1) < 1e-6


def test_no_liquid_cooling_class_allows_less_heat_flux_than_air():
    """A liquid on the same lid and heat sink convects at least as well as forced air (Incropera & DeWitt
    Table 1.1: liquids 100-20,000 vs gases 25-250 W/m^2K), so neither liquid class may bind before air
    (floorplan.yaml cooling; immersion was 0.8 < 1.0 W/mm^2 before round stop-37)."""
    air = FloorplanSettings(cooling="air")
    for cooling in ("cold_plate", "immersion"):
        s = FloorplanSettings(cooling=cooling)
        for key in ("avg_w_mm2", "hotspot_w_mm2", "package_w"):
            assert s.cooling_value(key) >= air.cooling_value(key), (cooling, key)
