"""MLPerf's RCP normalisation (mlperf_logging rcp_checker `_find_norm_factor`: score = run time x
RCP Mean / submission mean epochs, >= 1) is applied to the prediction of rows measured at their own
convergence point only."""

import pytest
from hypothesis import given, strategies as st

from tapeout.validation.rcp import apply_rcp, rcp_factor
from tapeout.validation.registry import RowPrediction

NOTES = "submitter=NVIDIA; runs_valid=10/10 (dropped=0); RCP scaling_factor=1.0347; median last-eval samples_count=3072"


def test_factor_is_read_from_the_notes():
    assert rcp_factor({"notes": NOTES}) == pytest.approx(1.0347)
    assert rcp_factor({"notes": "RCP scaling_factor=1.0000"}) == 1.0
    assert rcp_factor({"notes": "no factor here"}) == 1.0
    assert rcp_factor({}) == 1.0


@given(f=st.floats(1.0001, 1.5), t=st.floats(1.0, 1e4))
def test_throughput_rows_carry_the_factor_time_to_train_rows_do_not(f, t):
    row = {"notes": f"RCP scaling_factor={f:.4f}"}
    fr = float(f"{f:.4f}")
    thr = RowPrediction(t, "minutes", "b", t * 0.8, t * 1.2, {"measures": "throughput"})
    apply_rcp(thr, row)
    assert thr.predicted == pytest.approx(t * fr) and thr.low == pytest.approx(0.8 * t * fr)
    assert thr.high == pytest.approx(1.2 * t * fr) and thr.detail["rcp_scaling_factor"] == fr
    ttt = RowPrediction(t, "minutes", "b", None, None, {"measures": "time-to-train"})
    apply_rcp(ttt, row)
    assert ttt.predicted == t and "rcp_scaling_factor" not in ttt.detail


def test_harness_error_uses_the_scaled_prediction():
    """A LoRA row with factor 1.0347: its error is (prediction x 1.0347 - measured) / measured."""
    from tapeout.validation import registry
    from tapeout.validation.harness import predict_row, read_rows, default_data

    registry.load_mappers()
    row = next(r for r in read_rows(default_data()) if r["id"] == "TRN-v4.0-0008")
    assert rcp_factor(row) == pytest.approx(1.0347)
    r = predict_row(row)
    assert r.detail["rcp_scaling_factor"] == pytest.approx(1.0347)
    assert r.error_pct == pytest.approx((r.predicted - r.measured) / r.measured * 100)
