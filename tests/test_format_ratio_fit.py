"""A measured format-efficiency ratio applies on top of the fit it is relative to, not on a fit of the format's own
peak (formats.RATIO_ONLY_ON_ITS_FIT; docs/notes/issue-24.md, Round stop-38, issue-42b)."""

import copy

import pytest

from tapeout import formats
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import load_fitted
from tapeout.precision import get_precision


def _with_own_fp4_fit(cid: str) -> dict:
    f = copy.deepcopy(load_fitted())
    f["chips"][cid]["eff_compute"] = {**f["chips"][cid]["eff_compute"], "fp4": 0.5}
    return f


@pytest.mark.parametrize("on", [True, False])
def test_shipped_calibration_keeps_the_measured_nvfp4_ratio(monkeypatch, on):
    monkeypatch.setattr(formats, "RATIO_ONLY_ON_ITS_FIT", on)
    b200 = get_chip("b200")
    row = next(r for r in formats._efficiency_rows() if r["chip"] == "b200" and r["format"] == "nvfp4")
    assert row["relative_to"] == "bf16"  # the shipped B200 fit has no fp4 entry: the ratio scales its BF16 fit
    assert formats.efficiency_origin("nvfp4", b200)[0] == pytest.approx(float(row["ratio"]))
    assert formats.efficiency_origin("nvfp4", b200, load_fitted())[0] == pytest.approx(float(row["ratio"]))


def test_a_fit_of_the_formats_own_peak_drops_the_ratio_only_when_on(monkeypatch):
    b200, f = get_chip("b200"), _with_own_fp4_fit("b200")
    ratio = formats.efficiency_origin("nvfp4", b200)[0]
    assert ratio < 1.0
    monkeypatch.setattr(formats, "RATIO_ONLY_ON_ITS_FIT", False)
    assert formats.efficiency_origin("nvfp4", b200, f)[0] == pytest.approx(ratio)
    assert formats.plan(get_precision("fp4"), b200, f)[0].gemm_eff == pytest.approx(ratio)
    monkeypatch.setattr(formats, "RATIO_ONLY_ON_ITS_FIT", True)
    assert formats.efficiency_origin("nvfp4", b200, f)[0] == 1.0
    assert formats.plan(get_precision("fp4"), b200, f)[0].gemm_eff == 1.0


def test_a_ratio_relative_to_the_fitted_format_stays(monkeypatch):
    monkeypatch.setattr(formats, "RATIO_ONLY_ON_ITS_FIT", True)
    b200 = get_chip("b200")
    row = next(r for r in formats._efficiency_rows() if r["chip"] == "b200" and r["format"] == "fp8_block")
    assert row["relative_to"] == "fp8"  # FP8-block relative to the per-tensor FP8 fit, which the calibration has
    assert formats.efficiency_origin("fp8_block", b200, _with_own_fp4_fit("b200"))[0] == pytest.approx(float(row["ratio"]))
