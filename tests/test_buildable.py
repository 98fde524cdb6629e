"""Physical limits (econ/buildable.py): a chip that cannot be built is refused by default, with
the limit, its number, source and fix; every real catalog chip passes; chiplets are checked per
die; explore marks unbuildable designs infeasible unless the space opts out."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from test_explore_fixtures import SMALL
from tapeout.econ.buildable import (LABELS, PHYSICAL_LIMITS, check_catalog_chip, check_package, physical_mask,
                                    reticle_limit_mm2, reticle_mask)
from tapeout.econ.floorplan import FloorplanSettings
from tapeout.econ.nodes import coef, node_param
from tapeout.explore.npu import hardware
from tapeout.explore.objectives import floorplan_margins
from tapeout.explore.search import explore
from tapeout.explore.space import load_space
from tapeout.explore.store import Store
from tapeout.hardware.catalog import all_chips, get_chip

RETICLE = 26 * 33  # mm^2: the 0.33-NA scanner exposure field


def test_reticle_on_file_is_the_26_by_33_mm_field():
    assert reticle_limit_mm2() == RETICLE


@pytest.mark.parametrize("chip", [c.id for c in all_chips()])
def test_every_catalog_chip_is_buildable(chip):
    r = check_catalog_chip(get_chip(chip))  # a chip without its die area: unchecked (None), never False
    assert r["buildable"] is not False and r["fits_reticle"] is not False, r["reasons"]
    assert r["violations"] == [] and (r["buildable"] is None) == (r["checked"] == [])


def test_multi_die_parts_are_checked_per_die_with_every_limit():
    for cid in ("b200", "mi300x"):  # two ~800 mm^2 dies; eight 115 mm^2 XCDs on four IODs
        r = check_catalog_chip(get_chip(cid))
        assert r["checked"] == list(PHYSICAL_LIMITS) and r["buildable"]
    # B200's package holds 1,600 mm^2 of logic: twice the reticle, legal only because it is two dies
    assert get_chip("b200").get("logic_die_area_mm2_total") > RETICLE


def test_a_wafer_scale_die_passes_only_because_it_is_stitched():
    area = get_chip("cerebras-wse-3").get("logic_die_area_mm2_total")
    assert not bool(reticle_mask(area)[0])
    assert bool(reticle_mask(area, stitched=True)[0])
    assert "stitched" in " ".join(check_catalog_chip(get_chip("cerebras-wse-3"))["notes"])


def test_a_256_gb_sram_die_is_refused_for_the_reticle_with_source_and_fix():
    # 256 GB of SRAM at the N5 macro density needs 256e3 MB x 8 / density mm^2 before any logic
    sram_mm2 = 256e3 * 8 / float(node_param("sram_macro_mb_per_mm2", "N5"))
    assert sram_mm2 > 50 * RETICLE
    h = hardware({"cores": np.array([1024.0]), "sram_per_core_mb": np.array([250.0]), "sram_shared_mb": np.array([0.0])})
    assert float(h["sram_mb"][0]) == 256e3
    assert float(h["die_area_mm2"][0]) > sram_mm2
    r = check_package(FloorplanSettings(), die_area_mm2=float(h["die_area_mm2"][0]), power_w=float(h["tdp_w"][0]))
    assert not r["buildable"] and not r["fits_reticle"]
    v = {x["limit"]: x for x in r["violations"]}["reticle"]
    assert v["limit_value"] == RETICLE and v["value"] == pytest.approx(float(h["die_area_mm2"][0]))
    assert "26 x 33 mm" in v["source"] and "chiplets" in v["fix"]


def test_four_reticle_sized_chiplets_pass_but_one_five_reticle_die_does_not():
    big = FloorplanSettings(packaging="cowos-l", year=2027, cooling="cold_plate")  # 9.5x reticle package
    four = check_package(big, die_area_mm2=0.99 * RETICLE, n_dies=4, hbm_stacks=8, memory_type="HBM3E")
    assert four["buildable"], four["reasons"]
    mono = check_package(big, die_area_mm2=5 * RETICLE, n_dies=1, hbm_stacks=8, memory_type="HBM3E")
    assert not mono["buildable"] and [v["limit"] for v in mono["violations"]] == ["reticle"]
    # the same four dies do not fit a CoWoS-S interposer (3.3x reticle)
    small = check_package(FloorplanSettings(packaging="cowos-s", year=2025), die_area_mm2=0.99 * RETICLE, n_dies=4)
    assert [v["limit"] for v in small["violations"]] == ["package"]


def test_explorer_chiplets_split_the_area_per_die():
    d = {"cores": np.array([512.0, 512.0]), "array_rows": np.array([128.0, 128.0]), "array_cols": np.array([128.0, 128.0]),
         "chiplets": np.array([1.0, 4.0]), "d2d_bw_gbs": np.array([0.0, 1000.0])}
    h = hardware(d)
    mono, per_die = (float(x) for x in h["die_area_mm2"])
    assert mono > RETICLE and per_die < mono / 3
    ok, _ = reticle_mask(h["die_area_mm2"])
    assert list(ok) == [mono <= RETICLE, per_die <= RETICLE]


@settings(max_examples=40, deadline=None)
@given(cores=st.sampled_from([8, 64, 256, 1024]), rows=st.sampled_from([32, 64, 128, 256]),
       sram=st.floats(0, 200), d_sram=st.floats(0, 56), grow_rows=st.sampled_from([1, 2]),
       chiplets=st.sampled_from([1, 2, 4]))
def test_more_sram_or_larger_arrays_never_make_a_die_fit_the_reticle_or_the_package(cores, rows, sram, d_sram,
                                                                                   grow_rows, chiplets):
    """Area only grows with SRAM and array size, so the reticle and package limits are monotone.
    (The die edge and the heat flux are not: a larger die has more edge and spreads its heat.)"""
    def ok(sram_mb, r):
        d = {"cores": np.array([float(cores)]), "array_rows": np.array([float(r)]), "array_cols": np.array([float(r)]),
             "sram_per_core_mb": np.array([sram_mb]), "chiplets": np.array([float(chiplets)])}
        h = hardware(d)
        m = {**floorplan_margins(FloorplanSettings(), h), "die_area_mm2": h["die_area_mm2"]}
        return bool(physical_mask("reticle", m)[0][0]), bool(physical_mask("package", m)[0][0])

    before = ok(sram, rows)
    after = ok(sram + d_sram, rows * grow_rows)
    assert (after[0] <= before[0]) and (after[1] <= before[1])


# ------------------------------------------------------------------ the explorer
def _space(**extra):
    sp = copy.deepcopy(SMALL)
    # one buildable point (16 MB of SRAM) and one that is not (4 GB: ~6x the reticle)
    sp["parameters"] = {"cores": [16], "array_rows": [64], "mem_type": ["HBM3"], "mem_stacks": [2],
                        "sram_per_core_mb": [1, 256]}
    sp["constraints"] = []
    sp.update(extra)
    return sp


def test_explore_marks_an_unbuildable_point_infeasible_with_the_reason(tmp_path):
    db = str(tmp_path / "a.duckdb")
    res = explore(_space(), db=db)
    s = Store(db, read_only=True)
    d = s.fetch(["sram_per_core_mb", "die_area_mm2", "feasible", "reasons"])
    s.close()
    big = d["sram_per_core_mb"] == 256
    assert d["die_area_mm2"][big][0] > RETICLE and d["die_area_mm2"][~big][0] < RETICLE
    assert d["feasible"][big][0] == 0 and LABELS["reticle"] in d["reasons"][big][0]
    assert d["feasible"][~big][0] == 1 and d["reasons"][~big][0] == ""
    assert res.feasible == 1 and res.removed[LABELS["reticle"]] == 1


def test_explore_opt_out_and_declared_limits_are_not_doubled(tmp_path):
    res = explore(_space(physical_limits=False), db=str(tmp_path / "b.duckdb"))
    assert res.feasible == 2 and set(res.removed) == {"workloads fit in memory"}
    sp = load_space(_space(constraints=[{"reticle": True}, {"limit": "edge"}]))
    labels = [c.label() for c in sp.effective_constraints()]
    assert len(labels) == len(set(labels)) == len(PHYSICAL_LIMITS)
    assert {c.label() for c in load_space(_space(constraints=[{"reticle": False}])).effective_constraints()} \
        == {LABELS[k] for k in PHYSICAL_LIMITS[1:]}
    # the opt-out is part of the store context: the two never share rows
    assert load_space(_space()).context_hash() != load_space(_space(physical_limits=False)).context_hash()


def test_explore_cli_on_an_all_unbuildable_space_says_why_and_how_to_opt_out(tmp_path):
    space = tmp_path / "s.yaml"
    sp = _space()
    sp["parameters"]["sram_per_core_mb"] = [256]
    space.write_text(yaml.safe_dump(sp))
    err = subprocess.run([sys.executable, "-m", "tapeout", "explore", str(space), "--db", str(tmp_path / "c.duckdb")],
                         capture_output=True, text=True)
    assert err.returncode == 2 and "Traceback" not in err.stderr
    assert len(err.stderr.strip().splitlines()) == 1
    assert LABELS["reticle"] in err.stderr and "physical_limits: false" in err.stderr and "chiplets" in err.stderr


# ------------------------------------------------------------------ compliance and show
def test_compliance_of_an_unbuildable_design_warns_naming_the_field(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump({"name": "sram-monster", "die_area_mm2": 5 * RETICLE, "tops": {"bf16": 1000},
                                 "tdp_w": 700}))
    out = subprocess.run([sys.executable, "-m", "tapeout", "compliance", "--design", str(f), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "field 'die_area_mm2'" in out.stderr and "cannot be built" in out.stderr
    b = json.loads(out.stdout)["buildable"]
    assert b["buildable"] is False and b["violations"][0]["limit"] == "reticle"
    f.write_text(yaml.safe_dump({"name": "split", "die_area_mm2": 0.8 * RETICLE, "num_dies": 2, "tops": {"bf16": 1000},
                                 "tdp_w": 700}))
    ok = subprocess.run([sys.executable, "-m", "tapeout", "compliance", "--design", str(f), "--json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "cannot be built" not in ok.stderr
    assert json.loads(ok.stdout)["buildable"]["buildable"] is True


def test_compliance_design_with_unknown_cooling_is_one_line_exit_2(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text(yaml.safe_dump({"die_area_mm2": 500, "tops": {"bf16": 100}, "cooling": "liquid"}))
    err = subprocess.run([sys.executable, "-m", "tapeout", "compliance", "--design", str(f)], capture_output=True, text=True)
    assert err.returncode == 2 and "cooling" in err.stderr and "cold_plate" in err.stderr
    assert len(err.stderr.strip().splitlines()) == 1


def test_show_reports_buildable_and_fits_reticle():
    from tapeout.econ.summary import chip_econ_summary

    s = chip_econ_summary(get_chip("b200"))
    assert s["buildable"] is True and s["fits_reticle"] is True and s["unbuildable_because"] == ""
    assert "package" in s["physical_limits_checked"]
    assert coef("reticle_limit_mm2") == RETICLE


# ------------------------------------------------------------------ register_chip
def test_register_chip_refuses_a_die_beyond_the_reticle_naming_the_field_and_the_opt_out(session_chips):
    import tapeout
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError) as e:
        tapeout.register_chip({"id": "t-mono", "base": "h100-sxm", "specs": {"logic_die_area_mm2_total": 5 * RETICLE}})
    msg = str(e.value)
    assert "chip.specs.logic_die_area_mm2_total" in msg and "num_compute_dies" in msg and "physical_limits: false" in msg
    # the same silicon as five reticle-sized chiplets is a chip on a package that holds them (EMIB-T 12x reticle
    # in 2028; CoWoS-S's 3x of GH100's 2022 is refused since round stop-37); the opt-out registers the monolith
    split = {"logic_die_area_mm2_total": 5 * 0.95 * RETICLE, "num_compute_dies": 5}
    with pytest.raises(TapeoutError, match=r"package fits the packaging technology.*chip\.packaging: cowos-l or emib"):
        tapeout.register_chip({"id": "t-split", "base": "h100-sxm", "specs": split})
    assert tapeout.register_chip({"id": "t-split", "base": "h100-sxm", "packaging": "emib",
                                  "specs": dict(split, year=2028)}).id == "t-split"
    assert tapeout.register_chip({"id": "t-mono", "base": "h100-sxm", "physical_limits": False,
                                  "specs": {"logic_die_area_mm2_total": 5 * RETICLE}}).id == "t-mono"
    with pytest.raises(TapeoutError, match="physical_limits is a switch"):
        tapeout.register_chip({"id": "t-x", "base": "h100-sxm", "physical_limits": "no", "specs": {}})


@pytest.mark.parametrize("chip", ["b200", "mi300x", "cerebras-wse-3", "h100-sxm"])
def test_register_chip_from_any_real_base_with_its_own_dies_is_accepted(chip, session_chips):
    import tapeout

    base = get_chip(chip)
    specs = {"tdp_w": 500}
    if chip == "cerebras-wse-3":  # a wafer-scale base stays stitched when its area is restated
        specs = {"logic_die_area_mm2_total": base.get("logic_die_area_mm2_total"), "memory_bandwidth_tbps": 1.0,
                 "memory_capacity_gb": 44.0}
    assert tapeout.register_chip({"id": f"t-{chip}", "base": chip, "specs": specs}).id == f"t-{chip}"


_H100_LIKE = {"bf16_tflops_dense": 989.0, "memory_bandwidth_tbps": 3.35, "memory_capacity_gb": 80.0, "tdp_w": 700.0,
              "memory_type": "HBM3", "logic_die_area_mm2_total": 814.0, "num_compute_dies": 1, "hbm_stacks": 6,
              "scaleup_bw_gbps_bidir": 900.0, "year": 2023}


def test_register_chip_refuses_hbm_stacks_beyond_the_die_edge_naming_the_field_and_the_fix(session_chips):
    """The same check as a catalog chip's (econ.buildable.check_chip): 12 HBM3 stacks on one 300 mm^2 die need
    12 x the HBM3 PHY shoreline, more than the die's usable edge (die_edge_usable_fraction x 4 sqrt(300))."""
    import tapeout
    from tapeout.errors import TapeoutError

    specs = dict(_H100_LIKE, logic_die_area_mm2_total=300.0, hbm_stacks=12, tdp_w=250.0)
    need = 12 * coef("hbm_phy_shoreline_mm", "HBM3")
    have = coef("die_edge_usable_fraction") * 4 * 300.0 ** 0.5
    assert need > have
    with pytest.raises(TapeoutError) as e:
        tapeout.register_chip({"id": "t-edge", "specs": specs})
    msg = " ".join(str(e.value).split())
    assert LABELS["edge"] in msg and f"{have:.2f} mm" in msg
    assert "chip.specs.hbm_stacks" in msg and "chip.specs.num_compute_dies" in msg and "physical_limits: false" in msg
    # the fix the message names: the same stacks over three such dies fit their edges
    assert tapeout.register_chip({"id": "t-edge", "specs": dict(specs, num_compute_dies=3,
                                                               logic_die_area_mm2_total=900.0)}).id == "t-edge"
    assert tapeout.register_chip({"id": "t-edge2", "physical_limits": False, "specs": specs}).id == "t-edge2"
    # the opt-out registers it; compliance still reports the broken limit (the same facts, the same check)
    b = tapeout.compliance(chip="t-edge2").to_dict()["buildable"]
    assert not b["buildable"] and [v["limit"] for v in b["violations"]] == ["edge"]
    assert b["checked"] == ["reticle", "edge", "package"]  # no cooling class named: no thermal verdict


def test_register_chip_of_a_catalog_chips_facts_passes_every_limit(session_chips):
    """H100 SXM restated from its published facts (no base), on its package and cooling (chip_packaging.csv)."""
    import tapeout

    assert tapeout.register_chip({"id": "t-h100", "packaging": "cowos-s", "cooling": "air", "specs": _H100_LIKE}).id
    # B200's two dies and 8 HBM3E stacks on CoWoS-L in HGX (air, 1,000 W)
    b200 = dict(_H100_LIKE, memory_type="HBM3E", logic_die_area_mm2_total=1600.0, num_compute_dies=2, hbm_stacks=8,
                tdp_w=1000.0, year=2024, memory_capacity_gb=192.0)
    assert tapeout.register_chip({"id": "t-b200", "packaging": "cowos-l", "cooling": "air", "specs": b200}).id


def test_register_chip_thermal_limits_follow_the_named_cooling_class(session_chips):
    """A 1,300 W GH100 breaks air's package power (floorplan.yaml cooling.air.package_w 1,000 W) and heat flux;
    on a cold plate it is a chip. Without a cooling class (no base facts, none named) only reticle, die edge
    and package are checked."""
    import tapeout
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match=r"chip\.cooling: cold_plate") as e:
        tapeout.register_chip({"id": "t-hot", "base": "h100-sxm", "specs": {"tdp_w": 1300}})
    assert "chip.specs.tdp_w" in str(e.value) and "cooling.air.package_w" in str(e.value)
    assert tapeout.register_chip({"id": "t-hot", "base": "h100-sxm", "cooling": "cold_plate",
                                  "specs": {"tdp_w": 1300}}).id == "t-hot"
    assert tapeout.register_chip({"id": "t-hot2", "specs": dict(_H100_LIKE, tdp_w=1300)}).id == "t-hot2"
    with pytest.raises(TapeoutError, match=r"chip\.cooling 'water' is not a known cooling class"):
        tapeout.register_chip({"id": "t-x", "base": "h100-sxm", "cooling": "water", "specs": {}})


@pytest.mark.parametrize("chip", [c.id for c in all_chips()])
def test_the_catalog_check_is_check_chip_on_its_package_facts(chip):
    """One code path: a catalog chip's verdict is check_chip's on its chip_packaging.csv facts."""
    from tapeout.econ.buildable import check_chip
    from tapeout.econ.summary import packaging_overrides

    c = get_chip(chip)
    assert check_chip(c, packaging_overrides().get(chip, {})) == check_catalog_chip(c)


# ------------------------------------------------------------------ hostile inputs (round stop-36 review)
@pytest.mark.parametrize("dies", [0, 0.5])
def test_register_chip_refuses_fewer_than_one_compute_die_naming_the_field(dies, session_chips):
    """A package holds at least one compute die: 0 divided the logic area by zero in the cost stack (a traceback)."""
    import tapeout
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match=r"chip\.specs\.num_compute_dies must be a finite number >= 1"):
        tapeout.register_chip({"id": "t-nodie", "base": "h100-sxm",
                               "specs": {"logic_die_area_mm2_total": 500.0, "num_compute_dies": dies}})


def test_explore_refuses_a_nan_parameter_instead_of_calling_it_unbuildable(tmp_path):
    """NaN passes every range comparison; it reached the store as a die beyond the reticle."""
    from tapeout.errors import TapeoutError

    sp = _space()
    sp["parameters"]["sram_per_core_mb"] = [float("nan")]
    with pytest.raises(TapeoutError, match=r"parameters\.sram_per_core_mb: nan is not a finite number"):
        load_space(sp)


def test_compliance_design_with_packaging_not_yet_available_names_package_year(tmp_path):
    d = tmp_path / "d.yaml"
    d.write_text(yaml.safe_dump({"name": "t", "process_node": "N5", "die_area_mm2": 800, "tops": {"bf16": 1000},
                                 "packaging": "cowos-l", "package_year": 2020}))
    r = subprocess.run([sys.executable, "-m", "tapeout", "compliance", "--design", str(d)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "package_year" in r.stderr and "cowos-l" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_area_reticle_check_is_buildables():
    """econ.area's check_reticle and die_area's fits_reticle are econ.buildable.reticle_mask: the same bound,
    inclusive at the field, and a NaN area is an error, not a silent pass."""
    from tapeout.econ.area import check_reticle, die_area
    from tapeout.errors import TapeoutError

    check_reticle(RETICLE)  # a die filling the exposure field exactly is buildable
    with pytest.raises(TapeoutError, match="reticle"):
        check_reticle([100.0, RETICLE + 1])
    with pytest.raises(TapeoutError, match="finite"):
        check_reticle(float("nan"))
    big = die_area({"bf16": np.array([100.0, 5000.0])}, 1.5, "N5")
    assert list(big["fits_reticle"]) == list(reticle_mask(big["total"])[0])


def test_a_buildable_study_checks_the_reticle_even_over_a_space_that_opts_out(tmp_path):
    """constraints.buildable: true of a study means every physical limit, the reticle included: a space file's own
    `physical_limits: false` dropped the reticle (the study adds only the floorplan limits)."""
    from types import SimpleNamespace

    from tapeout.study.explore_bridge import space_dict
    from tapeout.study.schema import Constraints

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(_space(physical_limits=False)))
    search = SimpleNamespace(seed=0, budget=10, method="auto")
    on = load_space(space_dict(SimpleNamespace(constraints=Constraints(), search=search), tmp_path, "s.yaml"))
    assert LABELS["reticle"] in {c.label() for c in on.effective_constraints()}
    off = load_space(space_dict(SimpleNamespace(constraints=Constraints(buildable=False), search=search), tmp_path,
                                "s.yaml"))
    assert off.effective_constraints() == []
