"""scripts/board_pairs.py (docs/notes/issue-18.md, round stop-41, issue-56c): rows of one die on two boards paired
by (round, benchmark, scenario, submitter, chips), their measured / predicted speed ratios and the quotient, on a
hand-built validation json and end_to_end csv."""

from __future__ import annotations

import csv
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _load import load_script

bp = load_script("scripts", "board_pairs")

SXM, PCIE, SXM40, H100 = "NVIDIA A100-SXM-80GB", "NVIDIA A100-PCIe-80GB", "NVIDIA A100-SXM-40GB", "NVIDIA H100-SXM"


def _rows(spec):
    """spec: (id, board, measured, predicted, submitter, chips, round, unit) -> (json rows, csv rows)."""
    js, cs = [], []
    for i, board, m, p, sub, n, rnd, unit in spec:
        js.append({"id": i, "accelerator": board, "benchmark": "train-bert", "scenario": "training", "unit": unit,
                   "measured": m, "predicted": p})
        cs.append({"id": i, "category": "mlperf-train", "workload": f"MLPerf Training {rnd} bert", "n_accelerators": str(n),
                   "notes": f"submitter={sub}; system=x; nodes=1; acc_per_node={n}"})
    return js, cs


def test_one_pair_by_hand_times_are_inverted():
    # SXM 20 min measured, 16 predicted; PCIe 30 measured, 18 predicted: speed ratios PCIe / SXM 20/30 and 16/18
    js, cs = _rows([("a", SXM, 20.0, 16.0, "Dell", 8, "v3.0", "minutes"),
                    ("b", PCIE, 30.0, 18.0, "Dell", 8, "v3.0", "minutes")])
    (p,) = bp.pairs(js, cs)
    assert (p["board_a"], p["board_b"]) == (PCIE, SXM)  # the SXM 80 GB board is the family's reference
    assert p["measured_ratio"] == pytest.approx(20 / 30)
    assert p["predicted_ratio"] == pytest.approx(16 / 18)
    assert p["quotient"] == pytest.approx((20 / 30) / (16 / 18))  # 0.75: the model rates the PCIe card too fast


def test_throughput_is_not_inverted():
    js, cs = _rows([("a", SXM, 100.0, 110.0, "X", 1, "v4.1", "Samples/s"), ("b", PCIE, 80.0, 99.0, "X", 1, "v4.1", "Samples/s")])
    (p,) = bp.pairs(js, cs)
    assert p["measured_ratio"] == pytest.approx(0.8) and p["predicted_ratio"] == pytest.approx(0.9)


def test_keys_must_match_and_dies_must_match():
    js, cs = _rows([("a", SXM, 20.0, 16.0, "Dell", 8, "v3.0", "minutes"),
                    ("b", PCIE, 30.0, 18.0, "H3C", 8, "v3.0", "minutes"),   # other submitter
                    ("c", PCIE, 30.0, 18.0, "Dell", 4, "v3.0", "minutes"),  # other chip count
                    ("d", PCIE, 30.0, 18.0, "Dell", 8, "v2.0", "minutes"),  # other round
                    ("e", H100, 10.0, 9.0, "Dell", 8, "v3.0", "minutes")])  # other die
    assert bp.pairs(js, cs) == []
    pooled = bp.pairs(js, cs, pool=True)  # submitter dropped: a and b pair, nothing else
    assert [(p["rows_a"], p["rows_b"]) for p in pooled] == [(["b"], ["a"])]


def test_rows_of_one_key_on_one_board_pool_by_geometric_mean():
    js, cs = _rows([("a", SXM, 20.0, 16.0, "Dell", 8, "v3.0", "minutes"),
                    ("b", PCIE, 25.0, 18.0, "Dell", 8, "v3.0", "minutes"),
                    ("c", PCIE, 36.0, 18.0, "Dell", 8, "v3.0", "minutes")])
    (p,) = bp.pairs(js, cs)
    assert p["measured_ratio"] == pytest.approx(20 / math.sqrt(25 * 36))
    assert sorted(p["rows_a"]) == ["b", "c"]


def test_three_boards_give_three_pairs_and_the_summary_takes_the_median():
    js, cs = _rows([("a", SXM, 20.0, 16.0, "Dell", 4, "v2.0", "minutes"), ("b", SXM40, 22.0, 16.5, "Dell", 4, "v2.0", "minutes"),
                    ("c", PCIE, 30.0, 18.0, "Dell", 4, "v2.0", "minutes")])
    prs = bp.pairs(js, cs)
    assert {(p["board_b"], p["board_a"]) for p in prs} == {(SXM, SXM40), (SXM, PCIE), (SXM40, PCIE)}
    s = {(r["board_b"], r["board_a"]): r for r in bp.summary(prs)}
    assert s[(SXM40, PCIE)]["median_quotient"] == pytest.approx((22 / 30) / (16.5 / 18))
    assert "| A100-SXM-80GB |" in bp.render(prs, bp.summary(prs))


@settings(max_examples=40, deadline=None)
@given(m=st.lists(st.floats(1.0, 1e3), min_size=2, max_size=2), p=st.lists(st.floats(1.0, 1e3), min_size=2, max_size=2),
       k=st.floats(0.2, 5.0))
def test_quotient_is_the_ratio_of_the_two_rows_measured_over_predicted_and_blind_to_a_shared_factor(m, p, k):
    """quotient = (m_a / p_a) / (m_b / p_b): a factor both rows share (convergence, pipeline, software) cancels."""
    js, cs = _rows([("a", SXM, m[0], p[0], "S", 8, "v3.0", "minutes"), ("b", PCIE, m[1], p[1], "S", 8, "v3.0", "minutes")])
    (q,) = bp.pairs(js, cs)
    assert q["quotient"] == pytest.approx((m[0] / p[0]) / (m[1] / p[1]), rel=1e-9)
    js2, _ = _rows([("a", SXM, m[0], p[0] * k, "S", 8, "v3.0", "minutes"), ("b", PCIE, m[1], p[1] * k, "S", 8, "v3.0", "minutes")])
    assert bp.pairs(js2, cs)[0]["quotient"] == pytest.approx(q["quotient"], rel=1e-9)


def test_unreadable_input_exits_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "v.json"
    bad.write_text(json.dumps({"summary": {}}))
    assert bp.main([str(bad)]) == 2
    assert "validation_json" in capsys.readouterr().err
    good = tmp_path / "ok.json"
    js, cs = _rows([("a", SXM, 20.0, 16.0, "Dell", 8, "v3.0", "minutes"), ("b", PCIE, 30.0, 18.0, "Dell", 8, "v3.0", "minutes")])
    good.write_text(json.dumps({"rows": js}))
    assert bp.main([str(good), "--csv", str(tmp_path / "missing.csv")]) == 2
    assert "--csv" in capsys.readouterr().err
    f = tmp_path / "e2e.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cs[0]))
        w.writeheader()
        w.writerows(cs)
    assert bp.main([str(good), "--csv", str(f)]) == 0
    assert "0.750" in capsys.readouterr().out
