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
from tapeout.perf import calibration
from tapeout.perf.fit import fit_all, fit_power_exponent, power_density
from tapeout.perf.fit.power_transfer import held_density, law_range


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
    assert calibration_for(get_chip("h100-sxm")).eff_compute == load_fitted()["chips"]["h100-sxm"]["eff_compute"]
    pcie = get_chip("h100-pcie")
    fitted = fit_all(exclude=pcie.id, uncertainty=False)  # held out: it borrows the family mean
    cal = calibration_for(pcie, fitted)
    fam = fitted["families"][pcie.family]
    # at the density the law is held at (perf/calibration.py POWER_TRANSFER_HELD): 0.463 W/TFLOPS lies just
    # below the held-out family's and the pairs' 0.479..1.28
    pd = held_density(power_density(pcie), law_range(fam, fitted) if calibration.POWER_TRANSFER_HELD else None)
    factor = (pd / fam["power_density_w_per_tflops"]) ** fitted["power_transfer"]["gamma"]
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


def test_power_capped_chip_keeps_its_own_fit_scaled_by_the_cap():
    h200 = get_chip("h200")
    capped = h200.power_capped(500)
    assert capped.id == "h200@500w" and get_chip("h200@500w") is capped
    assert capped.calibration_id == "h200" and capped.get("tdp_w") == 500
    assert h200.power_capped(10_000) is h200  # a cap above TDP changes nothing
    g = load_fitted()["power_transfer"]["gamma"]
    full, cap = calibration_for(h200).eff_compute, calibration_for(capped).eff_compute
    for dt in full:
        assert cap[dt] == pytest.approx(full[dt] * (500 / float(h200.get("tdp_w"))) ** g)


def test_power_limit_must_be_positive():
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match="power limit"):
        get_chip("h100-sxm").power_capped(0)


def test_maxq_rows_use_the_sourced_limit_or_are_skipped():
    from tapeout.validation.maxq import maxq_chip, power_limits
    from tapeout.validation.registry import SkipRow

    row = {"accelerator": "NVIDIA H200-SXM", "notes": "system=NVIDIA H200 (8x H200-SXM-141GB, MaxQ, TensorRT)"}
    limit = power_limits()["h200"]["llama2-70b"]["Offline"]
    assert limit["source"].startswith("https://github.com/mlcommons/inference_results_v4.1")
    c = maxq_chip(row, get_chip("h200"), "llama2-70b", "offline")
    assert c.get("tdp_w") == limit["value"]
    assert maxq_chip({**row, "notes": "system=x"}, get_chip("h200"), "llama2-70b", "offline").id == "h200"
    with pytest.raises(SkipRow, match="MaxQ"):
        maxq_chip(row, get_chip("h200"), "retinanet", "offline")


def test_serve_cli_power_limit_lowers_throughput(capsys):
    import json

    from tapeout.cli import main

    main(["serve", "-m", "llama-2-7b", "-c", "h100-sxm", "-p", "fp8", "--input-len", "512", "--output-len", "128", "--json"])
    full = json.loads(capsys.readouterr().out)["output_tokens_per_s"]
    main(["serve", "-m", "llama-2-7b", "-c", "h100-sxm", "-p", "fp8", "--input-len", "512", "--output-len", "128",
          "--power-limit", "350", "--json"])
    capped = json.loads(capsys.readouterr().out)
    assert capped["chip"] == "h100-sxm@350w" and capped["output_tokens_per_s"] < full
