"""Prior for a GEMM format never measured on a chip: the fixed-time rate law (tapeout.format_prior)."""

import json
import math
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tapeout.formats as formats
from tapeout import format_prior
from tapeout.cli import main
from tapeout.hardware.catalog import all_chips, get_chip
from tapeout.ops import PEAK_KEYS
from tapeout.perf.calibration import calibration_for
from tapeout.perf.novelty import distance_terms, load_novelty
from tapeout.precision import get_precision


def test_rule_in_closed_form_two_x_rate():
    # BF16 at rate 1 reaching 0.75 of peak, FP8 at rate 2 reaching 0.60: rho = 0.8 ->
    # a = (1 - 0.8) / (2 * 0.8 - 1) = 1/3. A format at 2x the FP8 rate (x = 4):
    # eff_fp4 = eff_fp8 (1 + 2a) / (1 + 4a) = 0.60 * (5/3) / (7/3) = 0.60 * 5/7 = 3/7,
    # the same from BF16: 0.75 * (1 + a) / (1 + 4a) = 0.75 * 4/7 = 3/7
    a = float(format_prior.a_from_pair(0.8, 2.0))
    assert math.isclose(a, 1 / 3, rel_tol=1e-12)
    assert math.isclose(0.60 * float(format_prior.ratio(a, 2.0, 4.0)), float(Fraction(3, 7)), rel_tol=1e-12)
    assert math.isclose(0.75 * float(format_prior.ratio(a, 1.0, 4.0)), float(Fraction(3, 7)), rel_tol=1e-12)


@given(st.floats(0.0, 5.0), st.floats(1.01, 16.0))
def test_pair_inverts_the_law(a, x):
    rho = float(format_prior.ratio(a, 1.0, x))
    assert math.isclose(float(format_prior.a_from_pair(rho, x)), a, rel_tol=1e-6, abs_tol=1e-9)


@given(st.floats(0.0, 5.0), st.floats(0.5, 8.0), st.floats(1.0, 4.0), st.floats(1.0, 4.0))
def test_faster_format_never_gets_a_higher_fraction(a, x_ref, f1, f2):
    x1, x2 = x_ref * f1, x_ref * f1 * f2
    r1, r2 = float(format_prior.ratio(a, x_ref, x1)), float(format_prior.ratio(a, x_ref, x2))
    assert r1 <= 1.0 + 1e-12 and r2 <= r1 + 1e-12
    # a measured pair at or above 1 means no fixed time: the old prior (ratio 1)
    assert float(format_prior.a_from_pair(1.05, 2.0)) == 0.0


def test_no_prior_is_above_a_slower_calibrated_format_on_any_catalog_chip():
    for chip in all_chips():
        cal = calibration_for(chip)
        peaks = [chip.peak_tflops(k) for k in PEAK_KEYS]
        eff = dict(zip(PEAK_KEYS, cal.eff_compute_array(peaks)))
        for fmt in formats.format_table()["formats"]:
            pk = formats._peak_key(fmt)
            if not chip.supports(pk):
                continue
            r, _, kind = formats.efficiency_origin(fmt, chip)
            if kind != "prior":
                continue
            assert r < 1.0, (chip.id, fmt)
            for k, e in eff.items():
                if k in cal.eff_compute and 0 < chip.peak_tflops(k) < chip.peak_tflops(pk):
                    assert eff[pk] * r <= e + 1e-12, (chip.id, fmt, k)


def test_leave_fp4_out_on_the_kernels_themselves():
    # the NVFP4/BF16 ratio each Blackwell chip measured, predicted from its FP8/BF16 pair alone
    pairs = format_prior.law_table()["pairs"]
    measured = {r["chip"]: float(r["ratio"]) for r in formats._efficiency_rows() if r["format"] == "nvfp4"}
    assert {"b200", "gb200", "b300", "gb300"} <= set(measured)
    for cid, ratio in measured.items():
        ch = get_chip(cid)
        a, _ = format_prior.fixed_fraction(ch, pairs)
        pred = float(format_prior.ratio(a, 1.0, ch.peak_tflops("fp4") / ch.peak_tflops("bf16")))
        assert abs(math.log(pred / ratio)) < 0.15, (cid, pred, ratio)  # the old prior (1) is off by 0.38-0.76
    chk = format_prior.law_table()["check"]
    assert chk["rms_log_error"] < chk["rms_log_error_geometric"] < chk["rms_log_error_old_prior"]


def test_measured_chip_keeps_its_ratio_and_prior_shows_when_withheld(monkeypatch):
    b200 = get_chip("b200")
    ran, choices = formats.plan(get_precision("nvfp4"), b200)
    own = next(r for r in formats._efficiency_rows() if r["chip"] == "b200" and r["format"] == "nvfp4")
    assert ran.gemm_eff == float(own["ratio"])
    assert choices[0].efficiency == "measured" and not formats.fallback_notes(choices)
    keep = formats._efficiency_rows()
    monkeypatch.setattr(formats, "_efficiency_rows", lambda: tuple(r for r in keep if r["format"] != "nvfp4"))
    ran, choices = formats.plan(get_precision("nvfp4"), b200)
    p = format_prior.law_table()["pairs"]["b200"]
    assert math.isclose(ran.gemm_eff, float(format_prior.ratio(p["a"], 1.0, 4.0)))
    assert choices[0].efficiency == "prior"
    notes = formats.fallback_notes(choices)
    assert notes and "fixed-time rate law" in notes[0] and "b200" in notes[0]


def test_serve_prints_the_prior(capsys):
    main(["serve", "--model", "llama-3.1-8b", "--chip", "rtx-pro-4500", "--num-chips", "1", "--precision", "nvfp4",
          "--input-len", "512", "--output-len", "64", "--json"])
    d = json.loads(capsys.readouterr().out)
    gemm = next(f for f in d["formats"] if f["op_class"] == "dense_gemm")
    assert gemm["efficiency"] == "prior" and "fixed-time rate law" in gemm["note"]
    assert any("fixed-time rate law" in n for n in d["notes"])


def test_precision_interval_term_follows_the_prior():
    fitted = {"chips": {}, "families": {}}
    nov = load_novelty()
    # FP4 measured in the kernel database on B200: no precision term; never measured on the
    # RTX PRO 4500: the rate law's own leave-one-format-out error, and the rule named
    assert "precision" not in distance_terms(get_chip("b200"), "fp4", fitted)
    s, why = distance_terms(get_chip("rtx-pro-4500"), "fp4", fitted)["precision"]
    assert s == format_prior.prior_sigma("kernel-database") and "rate law" in why
    assert s < nov["precision"]["sigma"]
    # a format with no prior (FP8 at the chip's BF16 rate on Gaudi 3): the fitted borrow-BF16 sigma
    assert distance_terms(get_chip("gaudi3"), "fp8", fitted)["precision"][0] == nov["precision"]["sigma"]


def test_fp8_prior_uses_the_microbenchmark_pairs():
    # FP8 on a chip with no FP8 microbenchmark (MI355X): a from the fit's own FP8/BF16 pairs
    mi = get_chip("mi355x")
    r, src, kind = formats.efficiency_origin("fp8", mi)
    assert kind == "prior" and "microbenchmark" in src
    from tapeout.perf.calibration import load_fitted

    a = np.mean([p["a"] for p in format_prior.fit_pairs(load_fitted()).values()])
    assert math.isclose(r, float(format_prior.ratio(a, 1.0, mi.peak_tflops("fp8") / mi.peak_tflops("bf16"))))
