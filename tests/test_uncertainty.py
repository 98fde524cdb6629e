"""Prediction intervals come from leave-one-chip-out on the microbenchmarks only."""

import inspect
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import MatMul, OpGraph
from tapeout.perf import calibration, fit, uncertainty
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.mlperf import interval
from tapeout.perf.opcost import evaluate
from tapeout.perf.uncertainty import Z80, interval_for, shares_from_cost, sigma_for, term_sigmas


def _width(chip, **kw):
    lo, hi = interval_for(100.0, get_chip(chip), **kw)
    return math.log(hi / lo)


def test_uncertainty_reads_no_end_to_end_rows():
    for mod in (fit, uncertainty):
        assert "end_to_end" not in inspect.getsource(mod)


def test_shipped_uncertainty_is_current():
    fresh = fit.fit_all()["uncertainty"]
    shipped = calibration.load_fitted()["uncertainty"]
    for term in uncertainty.TERMS:
        for level, v in fresh[term].items():
            assert shipped[term][level]["sigma"] == v["sigma"], "run `tapeout calibrate`"


def test_every_level_has_a_finite_positive_sigma():
    u = calibration.load_fitted()["uncertainty"]
    for term in uncertainty.TERMS:
        for level, v in u[term].items():
            assert v["sigma"] is not None and 0 < v["sigma"] < 2, (term, level)


def test_chip_without_microbenchmarks_gets_wider_interval_than_chip_with_a_sweep():
    # tpu-v5e: no microbenchmark, generic fallback; mi300x: 46 rows incl. a 42-shape GEMM sweep
    assert calibration_for_origin("tpu-v5e") == "generic mean"
    for shares in (None, {"compute": 1.0}, {"compute": 0.5, "memory": 0.5}, {"memory": 1.0}):
        assert _width("tpu-v5e", shares=shares) > _width("mi300x", shares=shares)


def test_family_fallback_is_wider_than_own_fit_for_compute():
    # h20 borrows the Hopper family mean; h100-sxm has its own best-shape GEMM rows
    assert calibration_for_origin("h20").startswith("family nvidia-hopper")
    assert term_sigmas(get_chip("h20"))["compute"][0] > term_sigmas(get_chip("h100-sxm"))["compute"][0]


def calibration_for_origin(chip):
    return calibration.calibration_for(get_chip(chip)).origin["eff_compute"]


def test_holdout_widens_the_held_out_chip():
    f = fit.fit_all(exclude="mi300x")
    s_own = term_sigmas(get_chip("mi300x"))["compute"][0]
    s_held = term_sigmas(get_chip("mi300x"), fitted=f)["compute"][0]
    assert s_held > s_own
    assert "mi300x" not in f["uncertainty"]["compute"]["family"]["chips"]


def test_unknown_shares_bound_every_known_share():
    chip = get_chip("l40s")
    worst = sigma_for(chip)
    for shares in ({"compute": 1}, {"memory": 1}, {"link": 1}, {"compute": 0.3, "memory": 0.6, "link": 0.1}):
        assert sigma_for(chip, shares) <= worst + 1e-12


def test_split_over_independent_terms_narrows():
    chip = get_chip("tpu-v5e")
    s = {t: v for t, (v, _) in term_sigmas(chip).items()}
    mixed = sigma_for(chip, {"compute": 0.5, "memory": 0.5})
    assert mixed == pytest.approx(math.hypot(0.5 * s["compute"], 0.5 * s["memory"]))
    assert mixed < min(s["compute"], s["memory"]) or mixed < max(s["compute"], s["memory"])


def test_shares_from_cost_table():
    p = calibrated_params(get_chip("h100-sxm"))
    big = evaluate(OpGraph("g", [MatMul(name="g", m=8192, n=8192, k=8192, a_dtype="bf16", w_dtype="bf16",
                                        out_dtype="bf16", math_dtype="bf16")]), p)
    thin = evaluate(OpGraph("g", [MatMul(name="g", m=1, n=8192, k=8192, a_dtype="bf16", w_dtype="bf16",
                                         out_dtype="bf16", math_dtype="bf16")]), p)
    assert shares_from_cost(big)["compute"] > 0.5
    assert shares_from_cost(thin)["memory"] > 0.5
    assert sum(shares_from_cost(thin).values()) == pytest.approx(1.0)


def test_input_sigma_widens():
    chip = get_chip("h100-sxm")
    s_in = uncertainty.sensitivity_sigma(80.0, 125.0)
    assert s_in == pytest.approx(math.log(125 / 80) / math.sqrt(12))
    assert _width("h100-sxm", input_sigma=s_in) > _width("h100-sxm")
    assert sigma_for(chip, input_sigma=s_in) == pytest.approx(math.hypot(sigma_for(chip), s_in))


def test_mlperf_interval_delegates():
    chip = get_chip("h200")
    assert interval(50.0, chip) == pytest.approx(interval_for(50.0, chip))
    lo, hi = interval(50.0, chip, shares={"memory": 1.0})
    assert math.log(hi / 50.0) == pytest.approx(Z80 * term_sigmas(chip)["memory"][0])


CHIPS = ["h100-sxm", "h100-nvl", "a100-sxm", "mi300x", "tpu-v5e", "gaudi2", "l40s", "b200", "trainium"]


@settings(max_examples=60, deadline=None)
@given(value=st.floats(min_value=1e-6, max_value=1e9), chip=st.sampled_from(CHIPS),
       c=st.floats(0, 1), m=st.floats(0, 1), k=st.floats(0, 1), s_in=st.floats(0, 0.5))
def test_interval_contains_point_and_is_log_symmetric(value, chip, c, m, k, s_in):
    shares = {"compute": c, "memory": m, "link": k} if c + m + k > 0 else None
    lo, hi = interval_for(value, chip, shares=shares, input_sigma=s_in)
    assert 0 < lo < value < hi
    assert math.log(value / lo) == pytest.approx(math.log(hi / value), rel=1e-9)
    # never narrower than the narrowest term, never wider than the widest plus the input term
    sig = [v for v, _ in term_sigmas(get_chip(chip)).values()]
    s = math.log(hi / value) / Z80
    assert s <= math.hypot(max(sig), s_in) + 1e-9
    assert s >= s_in - 1e-9


def test_harness_gives_rows_without_a_mapper_interval_the_calibration_interval():
    from tapeout.validation import harness, registry

    registry.load_mappers()
    rows = {r["id"]: r for r in harness.read_rows(harness.default_data())}
    row = next(r for r in rows.values() if harness.predict_row(r).mapper == "mlperf-other-inference"
               and harness.predict_row(r).error_pct is not None)
    res = harness.predict_row(row)
    assert res.low is not None and res.low < res.predicted < res.high
    assert res.inside == (res.low <= res.measured <= res.high)
