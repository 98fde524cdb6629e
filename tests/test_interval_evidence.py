"""A chip's own calibration evidence never widens its interval; a chip whose GEMM curve is a
same-silicon sibling's sweep carries that sweep's error, not an other-silicon curve's
(perf/uncertainty.py SIBLING_SWEEP, docs/notes/issue-24.md "Round stop-39 (branch issue-48e)")."""

import math
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf import calibration, fit, uncertainty
from tapeout.perf.uncertainty import sigma_for, term_sigmas

@pytest.fixture(autouse=True)
def _sibling_sweep_on(monkeypatch):
    """The rule under test, switched on (shipped off: perf/uncertainty.py SIBLING_SWEEP's comment)."""
    monkeypatch.setattr(uncertainty, "SIBLING_SWEEP", True)


# own sweep (h200, mi300x), same-silicon sibling of a sweep (h100-sxm), own best-shape point only
# (mi355x, b200), link rows only besides (b200)
EVIDENCED = ("h100-sxm", "h200", "mi300x", "mi355x", "b200")


@lru_cache(maxsize=None)
def _held_out(cid: str) -> dict:
    """The shipped fit with every microbenchmark row of `cid` removed; the uncertainty tables and
    the power-transfer law stay the shipped ones, so only the chip's own evidence changes."""
    shipped = calibration.load_fitted()
    f = fit.fit_all(exclude=cid, uncertainty=False)
    return {**f, "uncertainty": shipped["uncertainty"], "power_transfer": shipped.get("power_transfer")}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(EVIDENCED), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0.01, 1.0),
       st.booleans())
def test_own_evidence_never_widens_the_interval(cid, c, m, link, spread, known_shares):
    # the model and layout fix the shares and the kernel spread; the same ones are used with and without
    chip = get_chip(cid)
    shares = {"compute": c, "memory": m, "link": link} if known_shares and c + m + link > 0 else None
    own = sigma_for(chip, shares, fitted=calibration.load_fitted(), spread=spread)
    held = sigma_for(chip, shares, fitted=_held_out(cid), spread=spread)
    assert own <= held + 1e-12


def test_h100_carries_the_h200_sweep_residual_and_the_same_silicon_transfer():
    u = calibration.load_fitted()
    want = math.hypot(u["chips"]["h200"]["sigma_log"], u["uncertainty"]["compute"]["same_silicon"]["sigma"])
    for cid in ("h100-sxm", "h800-sxm"):  # own best-shape points pooled / never measured: same die, same curve
        s, how = term_sigmas(get_chip(cid))["compute"]
        assert s == pytest.approx(want, rel=1e-12)
        assert "same-silicon h200" in how
    # an own sweep still wins: h200 keeps its own residual
    assert term_sigmas(get_chip("h200"))["compute"][0] == u["chips"]["h200"]["sigma_log"]


def test_held_out_h200_has_no_sweep_sibling_and_widens():
    # without its rows no Hopper chip has a sweep: the curve is other silicon's, own_peak_only applies
    s_own = term_sigmas(get_chip("h200"))["compute"][0]
    s_held, how = term_sigmas(get_chip("h200"), fitted=_held_out("h200"))["compute"]
    assert "same-silicon" not in how and s_held > 3 * s_own


def test_switch_off_restores_the_borrowed_curve_sigma(monkeypatch):
    monkeypatch.setattr(uncertainty, "SIBLING_SWEEP", False)
    s, how = term_sigmas(get_chip("h100-sxm"))["compute"]
    assert "shape curve borrowed" in how
    assert s == uncertainty.shape_sigma(calibration.load_fitted()["uncertainty"]["compute"])[0]


def test_a_curve_that_is_not_the_siblings_gets_no_sibling_term():
    # a family mean that no longer equals the sibling's own per-kernel overhead (another member's sweep
    # mixed in): the chip's curve is not the one the sibling's residual measured
    f = calibration.load_fitted()
    fam = dict(f["families"]["nvidia-hopper"], kernel_overhead_us=f["families"]["nvidia-hopper"]["kernel_overhead_us"] * 2)
    mixed = {**f, "families": {**f["families"], "nvidia-hopper": fam}}
    assert "same-silicon" not in term_sigmas(get_chip("h100-sxm"), fitted=mixed)["compute"][1]


def test_same_silicon_level_lists_only_chips_that_fell_back_to_a_sibling():
    u = calibration.load_fitted()["uncertainty"]["compute"]
    ss = u["same_silicon"]
    assert set(ss["chips"]) <= set(u["family"]["chips"])  # a subset of the family level (same-silicon counts there)
    vals = list(ss["chips"].values())
    assert ss["sigma"] == pytest.approx(math.sqrt(sum(v * v for v in vals) / len(vals)), abs=1e-4)


def test_a_thin_same_silicon_level_falls_back_to_the_family_level():
    from tapeout.perf.fit.uncertainty_fit import same_silicon_level

    fam = {"a": 0.3, "b": 0.1, "c": 0.05}
    assert same_silicon_level({"c": 0.05, "d": 0.07}, fam)["sigma"] == pytest.approx(math.sqrt((0.05**2 + 0.07**2) / 2), abs=1e-4)
    one = same_silicon_level({"c": 0.05}, fam)  # one of the only pair held out: not a measured level
    assert one["sigma"] == pytest.approx(math.sqrt((0.09 + 0.01 + 0.0025) / 3), abs=1e-4)
    assert same_silicon_level({}, {})["sigma"] is None  # nothing measured: term_sigmas keeps the borrowed-curve rule
