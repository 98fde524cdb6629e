"""Every coefficient lives in a data file with a non-empty source and a status."""

import csv
from importlib import resources

import yaml

STATUSES = {"official", "estimate", "secondary"}


def _rows(name):
    with resources.files("tapeout").joinpath("data", "econ", name).open(newline="") as f:
        return list(csv.DictReader(f))


def test_csv_sources_never_empty():
    for name in ("nodes.csv", "coefficients.csv", "chip_packaging.csv", "anchors.csv"):
        rows = _rows(name)
        assert rows, name
        for r in rows:
            assert r["source"].strip(), (name, r)
            assert r["status"] in STATUSES, (name, r)


def test_every_node_has_every_parameter():
    rows = _rows("nodes.csv")
    nodes = {r["node"] for r in rows}
    params = {r["parameter"] for r in rows}
    have = {(r["node"], r["parameter"]) for r in rows}
    assert nodes == {"N7", "N5", "N4", "N3", "N2", "SF4", "SMIC_N7"}
    assert all((n, p) in have for n in nodes for p in params)


def test_export_yaml_sources():
    d = yaml.safe_load(resources.files("tapeout").joinpath("data", "econ", "export_rules.yaml").read_text())
    for k, v in {**d["thresholds"], **d["bit_length"]}.items():
        assert str(v.get("source", "")).strip(), k
