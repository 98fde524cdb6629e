"""scripts/fp8_accumulation_check.py (docs/notes/issue-18.md, Round stop-23 issue-23ta): the
difference-in-differences estimate of the Hopper split-accumulator FP8 GEMM slowdown."""

import importlib.util
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fp8_accumulation_check", ROOT / "scripts" / "fp8_accumulation_check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

FAMILY = {"h100": "nvidia-hopper", "h200": "nvidia-hopper", "b200": "nvidia-blackwell", "gb200": "nvidia-blackwell"}


def _world(slowdown, source_bias, base):
    """Two sources that time the same chips: the 'micro' source runs FP8 with the split accumulator,
    the database with fast accumulation. Every chip's FP8/BF16 ratio differs between the sources by a
    common `source_bias` (shape search, library version); Hopper's split-accumulator FP8 GEMMs are
    `slowdown` x slower on top; Blackwell has no promotion, so no slowdown."""
    db = dict(base)
    micro = {c: base[c] * source_bias / (slowdown if FAMILY[c] == "nvidia-hopper" else 1.0) for c in base}
    return micro, db


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 1.3), st.floats(0.8, 1.25),
       st.fixed_dictionaries({c: st.floats(0.6, 1.0) for c in FAMILY}))
def test_recovers_the_hopper_slowdown_whatever_the_common_source_bias(slowdown, bias, base):
    micro, db = _world(slowdown, bias, base)
    r = check.double_ratios(micro, db)
    s = check.split_slowdown(r, FAMILY)
    assert set(s) == {"h100", "h200"}  # only the promoting family is estimated
    assert np.allclose(list(s.values()), slowdown)


def test_no_slowdown_when_hopper_behaves_like_blackwell():
    micro, db = _world(1.0, 1.07, {c: 0.9 for c in FAMILY})
    assert np.allclose(list(check.split_slowdown(check.double_ratios(micro, db), FAMILY).values()), 1.0)


def test_needs_a_control_chip_and_both_sources():
    micro, db = _world(1.05, 1.0, {c: 0.9 for c in FAMILY})
    db.pop("h200")
    r = check.double_ratios(micro, db)
    assert "h200" not in r  # a chip measured in one source only is left out
    hopper_only = {c: v for c, v in r.items() if FAMILY[c] == "nvidia-hopper"}
    assert check.split_slowdown(hopper_only, FAMILY) == {}  # no Blackwell control: no estimate


_mspec = importlib.util.spec_from_file_location("measure_fp8_accumulation", ROOT / "scripts" / "measure_fp8_accumulation.py")
measure = importlib.util.module_from_spec(_mspec)
_mspec.loader.exec_module(measure)


def test_device_script_times_the_three_gemms_of_each_layer_at_equal_flops():
    shapes = measure.training_shapes()
    layers = {}
    for name, m, n, k in shapes:
        layer, gemm_pass = name.rsplit(".", 1)
        layers.setdefault(layer, {})[gemm_pass] = (m, n, k)
        assert min(m, n, k) % 16 == 0  # FP8 cuBLASLt needs 16-byte aligned leading dimensions
    for passes in layers.values():
        assert set(passes) == {"fprop", "dgrad", "wgrad"}
        assert len({m * n * k for m, n, k in passes.values()}) == 1  # dgrad and wgrad: the forward's FLOPs
        m, n, k = passes["fprop"]
        assert passes["dgrad"] == (m, k, n) and passes["wgrad"] == (k, n, m)


def test_device_script_summary_is_the_median_per_pass():
    rows = [{"name": f"x{i}.{p}", "split_over_fast": v} for i, (p, v) in
            enumerate([("fprop", 1.0), ("dgrad", 1.04), ("dgrad", 1.08), ("wgrad", 1.06), ("dgrad", 1.06)])]
    s = measure.ratio_summary(rows)
    assert s == {"dgrad": 1.06, "fprop": 1.0, "wgrad": 1.06, "all": 1.06}
