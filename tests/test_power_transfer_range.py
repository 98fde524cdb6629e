"""The power-transfer law held at the edge of the densities it was fitted on (perf/calibration.py
POWER_TRANSFER_HELD, perf/fit/power_transfer.py law_range) and the interval term that grows with the
distance outside them (perf/novelty.py power_density)."""

import importlib.util
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf import calibration
from tapeout.perf.calibration import calibration_for, fallback_calibration_notes, load_fitted
from tapeout.perf.fit.power_transfer import held_density, law_range, power_density
from tapeout.perf.novelty import distance_terms, load_novelty, power_density_term, widen

BASE = get_chip("bow-ipu")  # a family without microbenchmarks: it borrows the generic fit


class Variant:
    """bow-ipu's peaks at a chosen power density (W per dense BF16, else FP16, TFLOP/s)."""

    id, family = "pd-variant", BASE.family

    def __init__(self, pd):
        self.tdp = pd * (BASE.peak_tflops("bf16") or BASE.peak_tflops("fp16"))  # power_density's peak

    def get(self, k, d=None):
        return self.tdp if k == "tdp_w" else BASE.get(k, d)

    def peak_tflops(self, k):
        return BASE.peak_tflops(k)


def _generic():
    f = load_fitted()
    return f, f["generic"], law_range(f["generic"], f)


def _closed_form(pd):
    f, gen, (lo, hi) = _generic()
    factor = (min(max(pd, lo), hi) / gen["power_density_w_per_tflops"]) ** f["power_transfer"]["gamma"]
    cap = gen["eff_compute_max"]
    return {dt: min(v * factor, cap[dt]) for dt, v in gen["eff_compute"].items()}


def test_law_range_is_the_span_of_the_pairs_and_the_pool_members():
    f, gen, (lo, hi) = _generic()
    pds = [x for p in f["power_transfer"]["pairs"] for x in p["power_density"]]
    pds += [power_density(get_chip(m)) for m in gen["members"] if not m.startswith("~")]
    assert (lo, hi) == pytest.approx((min(pds), max(pds)))
    assert lo <= gen["power_density_w_per_tflops"] <= hi  # the pool's own density is inside: factor 1 there
    assert law_range({}, {}) is None and held_density(3.0, None) == 3.0


@settings(max_examples=40, deadline=None)
@given(pd=st.floats(0.01, 20.0))
def test_factor_is_the_law_at_the_held_density(pd):
    cal = calibration_for(Variant(pd))
    for dt, v in _closed_form(pd).items():
        assert cal.eff_compute[dt] == pytest.approx(v, rel=1e-9)
    _, _, (lo, hi) = _generic()
    assert cal.power_distance == pytest.approx(abs(math.log(pd / min(max(pd, lo), hi))), abs=1e-12)
    assert ("held at" in cal.origin["eff_compute"]) == (not lo <= pd <= hi)


@settings(max_examples=40, deadline=None)
@given(frac=st.floats(0.0, 1.0), side=st.sampled_from([0, 1]), eps=st.floats(1e-9, 1e-6))
def test_factor_is_continuous_at_the_edges_and_flat_beyond(frac, side, eps):
    _, _, (lo, hi) = _generic()
    edge = (lo, hi)[side]
    outward = 1 - eps if side == 0 else 1 + eps
    at, just_out = calibration_for(Variant(edge)), calibration_for(Variant(edge * outward))
    far = calibration_for(Variant(edge * (outward ** (1e6 * frac + 1))))
    for dt in at.eff_compute:
        assert just_out.eff_compute[dt] == pytest.approx(at.eff_compute[dt], rel=1e-9)
        assert far.eff_compute[dt] == pytest.approx(at.eff_compute[dt], rel=1e-12)  # held: no extrapolation


@settings(max_examples=25, deadline=None)
@given(frac=st.floats(0.0, 1.0))
def test_a_chip_inside_the_range_is_unchanged_by_the_switch(frac):
    _, _, (lo, hi) = _generic()
    chip = Variant(lo * (hi / lo) ** (1e-6 + frac * (1 - 2e-6)))  # strictly inside (float round-off at the edges)
    on = calibration_for(chip)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(calibration, "POWER_TRANSFER_HELD", False)
        off = calibration_for(chip)
    assert on.eff_compute == off.eff_compute and on.origin == off.origin and on.power_distance == 0.0


def test_real_chips_inside_and_outside(monkeypatch):
    bow = calibration_for(BASE)  # 312.5 W / 350 FP16 TFLOPS = 0.89 W/TFLOPS: inside, nothing held
    assert bow.power_distance == 0 and "held" not in bow.origin["eff_compute"]
    xtx = get_chip("rx-7900-xtx")  # 355 W / 122.9 TFLOPS = 2.9 W/TFLOPS: above every fitted chip
    held = calibration_for(xtx)
    assert held.power_distance > 0 and "held at" in held.origin["eff_compute"]
    assert any("held at the range's edge" in n for n in fallback_calibration_notes(xtx))
    assert not any("held" in n for n in fallback_calibration_notes(BASE))
    monkeypatch.setattr(calibration, "POWER_TRANSFER_HELD", False)
    free = calibration_for(xtx)
    assert free.eff_compute["bf16"] > held.eff_compute["bf16"] and free.power_distance == 0
    assert "power_density" not in distance_terms(xtx, None, load_fitted())


@settings(max_examples=40, deadline=None)
@given(d1=st.one_of(st.just(0.0), st.floats(1e-3, 3.0)), dd=st.floats(1e-3, 3.0))
def test_interval_widens_monotonically_with_the_distance(d1, dd):
    _, _, (lo, hi) = _generic()
    k = load_novelty()["power_density"]["sigma_per_log_distance"]
    terms = []
    for d in (d1, d1 + dd):
        t = power_density_term(Variant(hi * math.exp(d)), None)
        terms.append(t)
        if d == 0:  # at the edge (up to the round-off of tdp / peak)
            assert t is None or t[0] < 1e-12
        else:
            assert t[0] == pytest.approx(k * d, rel=1e-6)
    lows, highs = zip(*(widen(100.0, 80.0, 125.0, {"power_density": t} if t else {}) for t in terms))
    assert highs[1] > highs[0] and lows[1] < lows[0]


def test_sigma_per_distance_is_the_leave_one_pair_out_closed_form():
    spec = importlib.util.spec_from_file_location("fit_novelty", Path(__file__).parents[1] / "scripts" / "fit_novelty.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pairs = [{"chips": ["a", "b"], "dtype": "bf16", "gamma": g} for g in (0.1, 0.2, 0.6)]
    out = mod.power_density({"power_transfer": {"gamma": 0.3, "pairs": pairs}})
    # held-out slopes minus the mean of the other two (clipped to [0, 1/3]): 0.1-0.3333, 0.2-0.3333, 0.6-0.15
    res = [0.1 - 1 / 3, 0.2 - 1 / 3, 0.6 - 0.15]
    loo = math.sqrt(sum(r * r for r in res) / 3)
    assert out["loo_rms"] == pytest.approx(loo, abs=1e-4)
    assert out["sigma_per_log_distance"] == pytest.approx(math.hypot(0.3, loo), abs=1e-4)
    shipped = mod.power_density(load_fitted())
    assert load_novelty()["power_density"]["sigma_per_log_distance"] == shipped["sigma_per_log_distance"]
