"""The two sustained-clock scripts (docs/notes/issue-15.md, Round stop-19 issue-19sg): the same-shape
burst-length ratio on the kernel database and the summary of a sustained GEMM run."""

import importlib.util
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


check = _script("sustained_gemm_check")
sustained = _script("measure_sustained_gemm")


def _db(drop: float):
    """Two weight shapes, each with 3 short-burst (12 ms) and 3 long-burst (240 ms) GEMMs; the long
    ones run at `drop` x the short ones' rate."""
    n, k, rate, burst = [], [], [], []
    for nk, base in (((8192, 8192), 780.0), ((16384, 16384), 740.0)):
        for b, r in ((0.012, base), (0.24, base * drop)):
            for j in range(3):
                n.append(nk[0]), k.append(nk[1]), rate.append(r * (1 + 0.01 * (j - 1))), burst.append(b)
    return n, k, rate, burst


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 1.2), st.floats(0.1, 10.0))
def test_same_shape_ratio_is_the_long_over_short_rate_and_scale_free(drop, scale):
    n, k, rate, burst = _db(drop)
    r = check.same_shape_ratios(n, k, rate, burst)
    assert len(r) == 2 and np.allclose(r, drop)
    assert np.allclose(check.same_shape_ratios(n, k, np.array(rate) * scale, burst), r)


def test_shapes_short_of_points_in_either_band_are_skipped():
    n, k, rate, burst = _db(0.9)
    burst = [b if i != 3 else 0.05 for i, b in enumerate(burst)]  # one long GEMM of shape 1 moves out of both bands
    burst = [b if i != 4 else 0.05 for i, b in enumerate(burst)]
    r = check.same_shape_ratios(n, k, rate, burst)
    assert len(r) == 1 and np.isclose(r[0], 0.9)
    assert check.same_shape_ratios(n, k, rate, burst, min_points=4) == []


def test_summary_is_relative_to_the_first_window():
    win = [{"t_s": t, "tflops": 1300.0 if t < 10 else 1170.0, "sm_mhz": 1980.0 if t < 10 else 1782.0}
           for t in np.arange(0.0, 400.0, 0.25)]
    s = sustained.summarise(win)
    assert [x["t_s"] for x in s] == [0.0, 60.0, 300.0]  # 600 s is past the run
    assert s[0]["rate_vs_burst"] == 1.0 and np.isclose(s[1]["rate_vs_burst"], 0.9)
    assert np.isclose(s[2]["clock_vs_burst"], 0.9)


def test_summary_without_clock_samples_gives_no_clock_ratio():
    win = [{"t_s": t, "tflops": 700.0, "sm_mhz": None} for t in np.arange(0.0, 70.0, 0.5)]
    s = sustained.summarise(win)
    assert all(x["clock_vs_burst"] is None for x in s) and all(x["rate_vs_burst"] == 1.0 for x in s)
