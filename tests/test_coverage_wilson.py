"""95% Wilson score interval of an interval-coverage share (validation/coverage.py)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.validation.coverage import markdown, wilson


@pytest.mark.parametrize("k, n, lo, hi", [
    # Newcombe 1998 (Stat. Med. 17:857) Table I, method 3 (score interval without continuity correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_published_examples(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=5e-5) and b == pytest.approx(hi, abs=5e-5)


def test_all_inside_has_closed_form_lower_end():
    # k = n: the lower end solves (1 - p) = z^2 p / n ... i.e. p = n / (n + z^2); the upper end is 1
    n, z = 50, 1.959963984540054
    assert wilson(n, n) == (pytest.approx(n / (n + z * z)), 1.0)


@given(st.integers(1, 5000), st.data())
def test_contains_the_share_and_mirrors(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    lo2, hi2 = wilson(n - k, n)  # the interval of the complement is the mirror image
    assert math.isclose(lo, 1 - hi2, abs_tol=1e-12) and math.isclose(hi, 1 - lo2, abs_tol=1e-12)


@given(st.integers(2, 2000))
def test_more_rows_at_the_same_share_narrow_it(n):
    a, b = wilson(n // 2, n), wilson(2 * (n // 2), 2 * n)
    assert b[1] - b[0] < a[1] - a[0]


@pytest.mark.parametrize("k, n", [(3, 2), (-1, 5), (0, 0)])
def test_bad_counts_are_named(k, n):
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(k, n)


def test_table_prints_the_interval():
    t = [{"group": "v4.1", "n": 178, "coverage": 166 / 178, "coverage_ci95": wilson(166, 178), "coverage_base": 0.9,
          "median_abs_err_pct": 9.7, "median_signed_err_pct": 5.5, "terms": ["software"]}]
    assert "| v4.1 | 178 | 93% | 89%-96% | 90% |" in markdown("round", t)
