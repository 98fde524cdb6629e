"""A unit the row leaves open (per GPU or total) is read as data/measured/unit_readings.yaml settles it, per source."""

from tapeout.validation import harness
from tapeout.validation.unit_reading import open_unit_reading, unit_readings


def _rows():
    return {r["id"]: r for r in harness.read_rows(harness.default_data())}


def test_every_entry_carries_its_evidence_and_a_known_reading():
    for e in unit_readings():
        assert e["reading"] in ("per_gpu",)
        assert len(e["evidence"]) > 100 and e["source_contains"] and e["unit_contains"]


def test_the_trtllm_a100_table_reads_per_gpu_and_rows_with_explicit_units_are_not_touched():
    rows = _rows()
    assert open_unit_reading(rows["PUB-0037"]) == "per_gpu"  # Falcon 180B, 8 x A100, "out tok/s"
    assert open_unit_reading(rows["PUB-0009"]) is None  # the H100 table states "per GPU" itself
    # a row from another source with the same words is not covered
    other = dict(rows["PUB-0037"], source="https://example.org/other-table")
    assert open_unit_reading(other) is None


def test_falcon_row_is_predicted_per_gpu():
    rows = _rows()
    from tapeout.validation import registry

    registry.load_mappers()
    p = harness.predict_row(rows["PUB-0037"])
    assert p.skipped is None
    assert p.detail["unit_reading"].startswith("per_gpu")
    assert abs(p.predicted - p.detail["per_chip"]) < 1e-9 * p.predicted
