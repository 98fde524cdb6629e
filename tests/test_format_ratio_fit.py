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


def test_serves_deployment_view_resolves_the_format_under_the_calibration_in_use(monkeypatch):
    """perf/llm.serve's per-step view (prefill_s_per_request, decode_step_s, energy) resolves the precision under
    the calibration it serves with, as the engine's step model does (mlperf.step_model: plan(pr, chip, fitted)).
    Before, it resolved it under the shipped one: with RATIO_ONLY_ON_ITS_FIT on and a fit of B200's own FP4 peak,
    the throughput dropped the NVFP4 ratio while the view kept it (its prefill then as slow as with the switch off)."""
    from tapeout.perf.llm import serve

    f = _with_own_fp4_fit("b200")
    monkeypatch.setattr(formats, "RATIO_ONLY_ON_ITS_FIT", False)
    off = serve("llama-3.1-8b", "b200", 1, "fp4", 1024, 256, fitted=f)
    monkeypatch.setattr(formats, "RATIO_ONLY_ON_ITS_FIT", True)
    on = serve("llama-3.1-8b", "b200", 1, "fp4", 1024, 256, fitted=f)
    assert on.prefill_s_per_request < off.prefill_s_per_request  # ratio < 1 dropped: the GEMMs run faster
