"""scripts/llm_step_gap.py: the LLM training step gap split into a per-micro-batch factor k and a per-step extra F."""

import pytest
from hypothesis import given, settings, strategies as st

from tests._load import load_script

gap = load_script("scripts", "llm_step_gap")


def row(rid, m, implied, fb=0.1, fixed=0.2, bubble_share=0.0, eval_min=0.0, rcp=None, stack="nemo-23.09", n=512):
    """A row whose modelled step is m (F + B) (+ bubble) + fixed over 100 steps, measured at `implied` s per step."""
    compute = m * fb
    bubble = bubble_share * compute
    step = compute + bubble + fixed
    train_min = 100 * step / 60.0
    measured = (100 * implied / 60.0 + eval_min) * (rcp or 1.0)
    det = {"step_s": step, "train_min": train_min, "eval_min": eval_min,
           "step_terms": {"m": m, "compute": compute, "bubble": bubble, "pp_sends": fixed, "dp": 0.0, "optimizer": 0.0,
                          "other": 0.0}, "stack": stack, "parallelism": "TP4 PP8(v12)"}
    if rcp:
        det["rcp_scaling_factor"] = rcp
    return {"id": rid, "benchmark": "gpt3", "accelerator": "NVIDIA H100-SXM", "n_accelerators": str(n), "measured": measured,
            "predicted": 1.0, "skipped": None, "error_pct": -20.0, "detail": det}


def test_implied_step_closed_form_with_eval_and_rcp():
    s = gap.row_split(row("a", 8, implied=1.0, eval_min=2.0, rcp=1.1))
    # 100 steps: (measured / 1.1 - 2 min) x 60 / 100 = 1.0 s; W = 8 x 0.1 = 0.8 s, R = 0.2 s
    assert s["implied"] == pytest.approx(1.0) and s["W"] == pytest.approx(0.8) and s["R"] == pytest.approx(0.2)


def test_bubble_counts_with_the_per_micro_batch_work():
    s = gap.row_split(row("a", 8, implied=1.0, bubble_share=0.25))
    assert s["W"] == pytest.approx(1.0) and s["R"] == pytest.approx(0.2)


def test_exact_k_and_f_are_recovered():
    # implied = 1.2 W + R + 0.15 at three micro-batch counts: k = 1.2, F = 0.15 exactly, no residual
    rows = [gap.row_split(row(str(m), m, implied=1.2 * m * 0.1 + 0.2 + 0.15)) for m in (8, 16, 128)]
    s = gap.split_group(rows)
    assert s["k"] == pytest.approx(1.2) and s["F"] == pytest.approx(0.15) and s["rms"] == pytest.approx(0.0, abs=1e-12)
    assert s["k_range"] == pytest.approx((1.2, 1.2)) and s["F_range"] == pytest.approx((0.15, 0.15))
    assert s["rms0"] > 0.0  # the F = 0 reading cannot fit a fixed extra


def test_one_micro_batch_count_is_not_split():
    rows = [gap.row_split(row(str(i), 16, implied=2.0)) for i in range(3)]
    assert gap.split_group(rows) is None
    out = gap.report({"rows": [row(str(i), 16, implied=2.0) for i in range(3)]})
    assert "cannot be split" in out and "| nemo-23.09 | gpt3 |" in out.split("cannot be split")[1]


def test_rows_without_a_breakdown_are_left_out():
    assert gap.row_split({**row("a", 8, 1.0), "detail": {"step_s": 1.0}}) is None
    assert gap.row_split({**row("a", 8, 1.0), "skipped": "no layout"}) is None
    assert "no LLM training rows" in gap.report({"rows": []})


@settings(max_examples=60, deadline=None)
@given(k=st.floats(0.5, 2.0), f=st.floats(-0.5, 1.0), ms=st.lists(st.sampled_from([1, 4, 6, 8, 16, 24, 64, 128]),
                                                                   min_size=2, max_size=6, unique=True))
def test_any_linear_gap_is_recovered(k, f, ms):
    rows = [gap.row_split(row(str(m), m, implied=k * m * 0.1 + 0.2 + f)) for m in ms]
    s = gap.split_group(rows)
    assert s["k"] == pytest.approx(k, rel=1e-6, abs=1e-9) and s["F"] == pytest.approx(f, rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(ys=st.lists(st.floats(0.1, 20.0), min_size=3, max_size=6))
def test_line_fit_is_least_squares(ys):
    xs = [float(i + 1) for i in range(len(ys))]
    k, F = gap.line_fit(xs, ys)
    sse = sum((y - (k * x + F)) ** 2 for x, y in zip(xs, ys))
    for dk, dF in ((1e-3, 0.0), (-1e-3, 0.0), (0.0, 1e-3), (0.0, -1e-3)):  # any nearby line fits worse
        assert sum((y - ((k + dk) * x + F + dF)) ** 2 for x, y in zip(xs, ys)) >= sse
