"""CLI: tapeout cost / tapeout compliance."""

import json

import pytest

from tapeout.cli import main


def _run(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cost_json(capsys):
    code, out, _ = _run(["cost", "--chip", "H100", "--volume", "500000", "--json"], capsys)
    assert code == 0
    r = json.loads(out)
    assert r["volume"] == 500000
    assert r["total"] == pytest.approx(r["manufacturing"] + r["nre"])


def test_cost_table(capsys):
    code, out, _ = _run(["cost", "--chip", "h100-sxm"], capsys)
    assert code == 0 and "manufacturing" in out


def test_compliance_json_and_table(capsys):
    code, out, _ = _run(["compliance", "--chip", "h20", "--json"], capsys)
    r = json.loads(out)
    assert code == 0 and r["class_3a090"] == "not 3A090" and "legal advice" in r["disclaimer"]
    code, out, _ = _run(["compliance", "--chip", "l40s"], capsys)
    assert code == 0 and "3A090.a.1" in out


def test_compliance_errors(capsys, tmp_path):
    code, _, err = _run(["compliance"], capsys)
    assert code == 2 and "--chip" in err
    code, _, err = _run(["compliance", "--design", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "not found" in err
    code, _, err = _run(["cost", "--chip", "nosuchchip"], capsys)
    assert code == 2


def test_chip_econ_summary():
    from tapeout.econ import chip_econ_summary
    from tapeout.hardware import get_chip

    s = chip_econ_summary(get_chip("h100-sxm"))
    assert s["export_class"] == "3A090.a.1" and s["logic_area_mm2"] == 814
    assert s["unit_cost_manufacturing_usd"] > 1000
    s = chip_econ_summary(get_chip("tpu-v5p"))  # no node/area in catalog: still returns
    assert s["unit_cost_manufacturing_usd"] is None and s["notes"]
