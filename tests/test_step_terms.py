"""perf/step_terms: a training step split by schedule term (the validation rows' `step_terms`)."""

import csv

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.step_terms import step_terms
from tapeout.perf.training import train

ARGS = ("llama-3.1-8b", "h100-sxm", 64)
PINS = dict(tp=2, pp=4, vp=2, mbs=1, cp=1)  # DP 8: m = GBS / 8


def _run(m: int):
    r = train(*ARGS, m * 8 * 4096, 4096, "bf16", **PINS)
    return r, step_terms(r.breakdown, r.step_time_s)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([4, 6, 8, 12, 16, 32, 64]))
def test_terms_close_to_the_step_and_bubble_is_the_interleaved_closed_form(m):
    r, t = _run(m)
    assert t["m"] == m
    total = sum(v for k, v in t.items() if k != "m")
    assert total == pytest.approx(r.step_time_s, rel=1e-9)
    # Narayanan et al. 2021: the interleaved 1F1B bubble is (p - 1) / (v m) of the ideal m (F + B)
    assert t["bubble"] == pytest.approx((4 - 1) / (2 * m) * t["compute"], rel=1e-9)
    assert abs(t["other"]) < 1e-6 * r.step_time_s + 1e-9  # nothing else in this layout's step


def test_only_the_micro_batch_work_grows_with_m():
    (_, a), (_, b) = _run(4), _run(64)
    assert b["compute"] == pytest.approx(16 * a["compute"], rel=1e-9)  # m (F + B)
    assert b["bubble"] == pytest.approx(a["bubble"], rel=1e-9)  # (p - 1)(F + B) / v: paid once per step
    assert b["bubble"] / (b["compute"] + b["bubble"]) < a["bubble"] / (a["compute"] + a["bubble"])


def test_validation_rows_carry_the_terms():
    from tapeout.validation.harness import default_data
    from tapeout.validation.train_rows import map_row

    rows = {r["id"]: r for r in csv.DictReader(open(default_data()))}
    p = map_row(rows["TRN-v3.0-0163"])  # 512 H100, TP4 PP8(v12), m = 128
    t = p.detail["step_terms"]
    assert t["m"] == 128
    assert sum(v for k, v in t.items() if k != "m") == pytest.approx(p.detail["step_s"], rel=1e-9)
    assert t["bubble"] == pytest.approx(7 / (12 * 128) * t["compute"], rel=1e-9)


def test_scale_diagnosis_recovers_a_and_b():
    """scripts/train_error_vs_scale.split: rows priced a m + b and measured 1.25 a m + 2 b give back both factors."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_error_vs_scale.py"
    spec = importlib.util.spec_from_file_location("train_error_vs_scale", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a, b = 0.07, 0.2

    def row(m):
        pred = a * m + b
        return {"m": m, "step": pred, "ratio": (1.25 * a * m + 2 * b) / pred}

    a_mod, a_meas, b_mod, b_meas = mod.split(row(8), row(128))
    assert (a_mod, b_mod) == (pytest.approx(a), pytest.approx(b))
    assert (a_meas / a_mod, b_meas / b_mod) == (pytest.approx(1.25), pytest.approx(2.0))
