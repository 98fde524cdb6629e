"""Export rules: the worked TPP/PD table of shared/data/facts/export_rules.md s5."""

import numpy as np
import pytest

from tapeout.hardware import get_chip
from tapeout.rules.export import (
    assess_chip,
    assess_design,
    case_by_case_2026,
    classify_3a090,
    classify_3a090_code,
    hbm_bandwidth_density,
    performance_density,
    tpp,
)

# (dense peaks by precision, applicable area, expected TPP, expected PD, expected class) from
# the worked table in export_rules.md s5
WORKED = {
    "H100 SXM5": ({"bf16": 989.4, "fp8": 1978.9}, 814, 15831, 19.45, "3A090.a.1"),
    "H800 SXM5": ({"bf16": 989, "fp8": 1979}, 814, 15832, 19.45, "3A090.a.1"),
    "H20": ({"bf16": 148, "fp8": 296}, 814, 2368, 2.91, "not 3A090"),
    "A100": ({"bf16": 312, "int8": 624, "int4": 1248}, 826, 4992, 6.04, "3A090.a.1"),
    "L40S": ({"bf16": 362.05, "fp8": 733, "int4": 733}, 608.5, 5864, 9.64, "3A090.a.1"),
    "L40": ({"bf16": 181.05, "fp8": 362, "int4": 724}, 608.5, 2897, 4.76, "3A090.b.1"),
    "L20": ({"bf16": 119.5, "fp8": 239}, 608.5, 1912, 3.14, "not 3A090"),
    "TPU v5e": ({"bf16": 197, "int8": 393}, 325, 3152, 9.70, "3A090.a.2"),
    "MTIA v1": ({"bf16": 51.2, "int8": 102.4}, 373, 819, 2.20, "not 3A090"),
}


@pytest.mark.parametrize("name", list(WORKED))
def test_worked_table(name):
    tops, area, t_exp, pd_exp, cls = WORKED[name]
    t = tpp(tops)
    assert t == pytest.approx(t_exp, abs=1.0)
    pd = performance_density(t, area)
    assert pd == pytest.approx(pd_exp, abs=0.01)
    assert classify_3a090(t, pd) == cls


@pytest.mark.parametrize(
    "chip,t_exp,pd_exp,cls,band",
    [
        ("h100-sxm", 15832, 19.45, "3A090.a.1", True),
        ("h20", 2368, 2.91, "not 3A090", True),
        ("a100-sxm", 4992, 6.04, "3A090.a.1", True),
        ("l40s", 5864, 9.64, "3A090.a.1", True),
        ("b200", 36000, 22.50, "3A090.a.1", False),
    ],
)
def test_catalog_chips(chip, t_exp, pd_exp, cls, band):
    r = assess_chip(get_chip(chip))
    assert r["tpp"] == pytest.approx(t_exp, abs=1.0)
    assert r["pd"] == pytest.approx(pd_exp, abs=0.01)
    assert r["class_3a090"] == cls
    assert r["case_by_case_2026"] is band
    assert "not legal advice" in r["disclaimer"].lower()
    assert "3A090" in r["rule_version"] and "91 FR 1684" in r["rule_version"]


def test_thresholds_edges():
    assert classify_3a090(4800, 1.0) == "3A090.a.1"
    assert classify_3a090(4799, 5.92) == "3A090.a.2"
    assert classify_3a090(4799, 5.91) == "3A090.b.1"
    assert classify_3a090(2399, 3.2) == "3A090.b.2"
    assert classify_3a090(2399, 3.19) == "not 3A090"
    assert classify_3a090(2400, 1.59) == "not 3A090"
    assert classify_3a090(1599, 50) == "not 3A090"
    assert classify_3a090(5285, 8.68, datacenter=False).startswith("3A090.a")  # RTX 4090
    assert classify_3a090(4000, 8.0, datacenter=False).startswith("not 3A090")


def test_vectorized_classification_and_band():
    t = np.array([15832, 2368, 2897, 36000.0])
    pd = np.array([19.45, 2.91, 4.76, 22.5])
    assert list(classify_3a090_code(t, pd)) == [4, 0, 2, 4]
    assert list(case_by_case_2026(t, np.array([4800, 4000, 864, 8000.0]))) == [True, True, True, False]
    # MI325X: TPP 20,919 and 6,000 GB/s sits inside the band; 21,000 does not
    assert case_by_case_2026(20919, 6000) and not case_by_case_2026(21000, 6000)


def test_hbm_density_table():
    # export_rules.md s3.4: HBM3 819 GB/s / 121 mm^2 = 6.8; HBM2 256 / 92 = 2.8
    assert hbm_bandwidth_density(819, 121) == pytest.approx(6.77, abs=0.01)
    assert hbm_bandwidth_density(256, 92) == pytest.approx(2.78, abs=0.01)


def test_design_file(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("name: npu\ndie_area_mm2: 700\nnum_dies: 2\ntops: {fp8: 290, bf16: 145}\nmemory_bandwidth_tbps: 3.2\n")
    r = assess_design(p)
    assert r["tpp"] == 2320 and r["pd"] == pytest.approx(2320 / 1400)
    assert r["class_3a090"] == "not 3A090"
    assert r["margins"]["tpp_to_2400"] == pytest.approx(80)
    bad = tmp_path / "bad.yaml"
    bad.write_text("die_area_mm2: -3\ntops: {bf16: 10}\n")
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match="die_area_mm2"):
        assess_design(bad)
