"""A synchronous step waits for its slowest rank: expected max of n normals (perf/rank_spread.py)
and the default-off switch in the training step."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.perf.rank_spread import (RankSpread, expected_max_normal, max_normal_quantile,
                                      sync_slowdown, sync_slowdown_band)
from tapeout.perf.training import train


def test_closed_forms_of_the_expected_maximum():
    # e_1 = 0; e_2 = 1/sqrt(pi); e_3 = 3/(2 sqrt(pi)) (David & Nagaraja, Order Statistics, ex. 3.2)
    assert expected_max_normal(1) == 0.0
    assert expected_max_normal(2) == pytest.approx(1 / math.sqrt(math.pi), abs=1e-6)
    assert expected_max_normal(3) == pytest.approx(1.5 / math.sqrt(math.pi), abs=1e-6)


@pytest.mark.parametrize("n,e", [(5, 1.16296), (10, 1.53875), (100, 2.50759), (1000, 3.24144)])
def test_matches_harter_tables(n, e):
    # Harter (1961), Biometrika 48:151, "Expected values of normal order statistics", largest of n
    assert expected_max_normal(n) == pytest.approx(e, abs=2e-4)


def blom_max_normal(n: int) -> float:
    """Blom's approximation to e_n, Phi^-1((n - 0.375) / (n + 0.25)): an independent reference."""
    from scipy.special import ndtri

    return float(ndtri((n - 0.375) / (n + 0.25)))


@given(st.integers(10, 200000))
@settings(max_examples=40, deadline=None)
def test_blom_within_one_percent(n):
    assert blom_max_normal(n) == pytest.approx(expected_max_normal(n), rel=0.01)


@given(st.integers(1, 50000), st.integers(1, 50000))
@settings(max_examples=40, deadline=None)
def test_more_ranks_never_faster(n, k):
    assert expected_max_normal(n + k) > expected_max_normal(n)


@given(st.floats(0.0, 0.2), st.floats(0.0, 0.2), st.integers(2, 20000))
@settings(max_examples=40, deadline=None)
def test_slowdown_grows_with_sigma_and_adds_in_quadrature(a, b, n):
    lo, hi = sorted((a, b))
    assert sync_slowdown(RankSpread(persistent=hi), n) >= sync_slowdown(RankSpread(persistent=lo), n)
    both = sync_slowdown(RankSpread(persistent=a, transient=b), n)
    assert both == pytest.approx(math.hypot(a, b) * expected_max_normal(n))
    assert both >= max(sync_slowdown(RankSpread(persistent=a), n), sync_slowdown(RankSpread(transient=b), n))


def test_one_rank_waits_for_nobody():
    assert sync_slowdown(RankSpread(persistent=0.05, transient=0.03), 1) == 0.0


@given(st.integers(2, 100000))
@settings(max_examples=30, deadline=None)
def test_the_mean_lies_inside_the_band(n):
    # P(max <= x) = Phi(x)^n: the 10% and 90% quantiles bracket the mean
    assert max_normal_quantile(n, 0.1) < expected_max_normal(n) < max_normal_quantile(n, 0.9)
    lo, hi = sync_slowdown_band(RankSpread(persistent=0.02), n)
    assert lo < sync_slowdown(RankSpread(persistent=0.02), n) < hi


@pytest.mark.parametrize("kw", [{"persistent": -0.01}, {"transient": 0.7}, {"persistent": float("nan")}])
def test_bad_spread_names_the_field(kw):
    with pytest.raises(TapeoutError, match=next(iter(kw))):
        RankSpread(**kw)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_rank_count(n):
    with pytest.raises(TapeoutError, match="ranks"):
        expected_max_normal(n)


def _dp(n, spread=None):  # fixed work per rank: pure DP, 4 sequences of 2048 per rank
    return train("llama-3.1-8b", "h100-sxm", n, 4 * 2048 * n, 2048, tp=1, pp=1, cp=1, mbs=1, zero=1,
                 rank_spread=spread)


def test_default_is_off_and_zero_spread_changes_nothing():
    off, zero = _dp(64), _dp(64, RankSpread())
    assert "rank_spread" not in off.breakdown
    assert zero.step_time_s == pytest.approx(off.step_time_s, rel=1e-12)


def test_step_never_shrinks_as_ranks_grow_at_fixed_work():
    spread = RankSpread(persistent=0.02, transient=0.01)
    rs = [_dp(n, spread) for n in (8, 64, 512)]
    for a, b in zip(rs, rs[1:]):
        assert b.step_time_s >= a.step_time_s
        assert b.breakdown["rank_spread"]["added_s"] > a.breakdown["rank_spread"]["added_s"]
    for r in rs:  # only the ranks' own work is slowed, by sigma * e_n
        base = _dp(r.num_chips)
        rsd = r.breakdown["rank_spread"]
        assert rsd["ranks"] == r.num_chips
        assert r.step_time_s == pytest.approx(base.step_time_s + rsd["compute_s"] * spread.sigma * expected_max_normal(r.num_chips))
        assert rsd["compute_s"] <= base.step_time_s
        assert r.interval_80[0] < r.step_time_s < r.interval_80[1]


def test_api_rejects_a_negative_spread():
    with pytest.raises(TapeoutError, match="--rank-spread"):
        api.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, rank_spread=-0.02)


@pytest.mark.parametrize("bad", [True, False, float("nan"), float("inf"), 0.5, "0.02"])
def test_spread_rejects_booleans_and_non_numbers(bad):
    # a bool is an int in Python: True must not read as a 100% spread, nor False as a 0% one
    with pytest.raises(TapeoutError, match="--rank-spread"):
        api.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, rank_spread=bad)
    with pytest.raises(TapeoutError, match="persistent"):
        RankSpread(persistent=bad)
