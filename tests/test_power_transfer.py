"""Power-limited transfer of a borrowed GEMM efficiency (perf/fit.py fit_power_exponent,
perf/calibration.py _power_transfer): a chip with less TDP per peak FLOP than the pool it
borrows from gets a lower efficiency, by the exponent fitted on same-silicon microbenchmark
pairs; own fits are untouched."""

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf.calibration import calibration_for, load_fitted
from tapeout.perf.fit import fit_power_exponent, power_density


def test_power_density_is_tdp_over_bf16_peak():
    c = get_chip("h100-sxm")
    assert power_density(c) == pytest.approx(float(c.get("tdp_w")) / c.peak_tflops("bf16"))
    assert power_density(SimpleNamespace(id="x", family="generic")) is None


def test_exponent_comes_from_same_silicon_pairs_only():
    f = load_fitted()["power_transfer"]
    assert 0.0 <= f["gamma"] <= 1 / 3
    for p in f["pairs"]:
        a, b = (get_chip(c) for c in p["chips"])
        assert a.family == b.family and a.get("num_cores") == b.get("num_cores")
        assert a.peak_tflops("bf16") == pytest.approx(b.peak_tflops("bf16"), rel=0.02)
        # closed form of each pair's exponent
        ea = load_fitted()["chips"][a.id]["eff_compute"][p["dtype"]]
        eb = load_fitted()["chips"][b.id]["eff_compute"][p["dtype"]]
        assert p["gamma"] == pytest.approx(math.log(ea / eb) / math.log(power_density(a) / power_density(b)), abs=1e-3)
    assert f["gamma"] == pytest.approx(min(max(sum(p["gamma"] for p in f["pairs"]) / len(f["pairs"]), 0), 1 / 3), abs=1e-3)


def test_no_pairs_gives_zero_exponent():
    assert fit_power_exponent({})["gamma"] == 0.0


def test_own_fit_untouched_and_borrowed_fit_scaled_by_power_density():
    fitted = load_fitted()
    assert calibration_for(get_chip("h100-sxm")).eff_compute == fitted["chips"]["h100-sxm"]["eff_compute"]
    pcie = get_chip("h100-pcie")
    cal = calibration_for(pcie)
    fam = fitted["families"][pcie.family]
    factor = (power_density(pcie) / fam["power_density_w_per_tflops"]) ** fitted["power_transfer"]["gamma"]
    assert factor < 1  # 350 W for 756 TFLOPS is a smaller budget per FLOP than the SXM parts
    for dt, v in cal.eff_compute.items():
        assert v == pytest.approx(min(fam["eff_compute"][dt] * factor, fam["eff_compute_max"][dt]))
    assert "power transfer" in cal.origin["eff_compute"]


@settings(max_examples=30, deadline=None)
@given(tdp_lo=st.floats(100, 600), extra=st.floats(1, 500))
def test_more_power_never_lowers_a_borrowed_efficiency(tdp_lo, extra):
    base = get_chip("h100-pcie")

    class Variant:
        id, family = "variant", base.family

        def __init__(self, tdp):
            self.tdp = tdp

        def get(self, k, d=None):
            return self.tdp if k == "tdp_w" else base.get(k, d)

        def peak_tflops(self, k):
            return base.peak_tflops(k)

    lo, hi = calibration_for(Variant(tdp_lo)), calibration_for(Variant(tdp_lo + extra))
    for dt in lo.eff_compute:
        assert hi.eff_compute[dt] >= lo.eff_compute[dt] - 1e-12
