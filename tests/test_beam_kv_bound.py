"""scripts/beam_kv_bound.py (docs/notes/issue-24.md, Round stop-24 issue-24gl): the model-free roofline
bound of the MLPerf GPT-J beam-4 Offline rows, and what it says about the L40S."""

import importlib.util
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("beam_kv_bound", ROOT / "scripts" / "beam_kv_bound.py")
bkb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bkb)


@settings(max_examples=25, deadline=None)
@given(I=st.floats(16, 4096), O=st.floats(1, 1024), beams=st.integers(1, 8))
def test_sharing_the_prompt_never_lowers_the_bound_and_is_moot_for_one_beam(I, O, beams):
    no_reuse, shared = bkb.bounds("h100-sxm", I, O, beams)
    assert shared >= no_reuse * (1 - 1e-12)
    if beams == 1:
        assert shared == pytest.approx(no_reuse, rel=1e-12)


def test_l40s_bound_by_hand():
    """GPT-J 6B (HF EleutherAI/gpt-j-6b config: 28 layers, d_model 4096, 6,053,381,344 parameters, untied
    50,400-token embedding and LM head) on the L40S datasheet (0.864 TB/s, 733 TF FP8 dense)."""
    kv = 2 * 28 * 4096  # FP8 bytes per token
    body = 6_053_381_344 - 2 * 50_400 * 4096
    t = 4 * (800 + 35) * kv / 0.864e12 + 2 * body * (4 + 800 / 70) / 733e12
    assert bkb.bounds("l40s", 800, 70, 4)[0] == pytest.approx(1 / t, rel=0.02)


def test_only_the_l40s_runs_at_its_no_reuse_bound():
    """The finding: the L40S rows sit at >= 0.9 of a bound at 100 % of both datasheet peaks, which no run
    reading every beam's context from DRAM can reach; every HBM chip with rows sits well below its own."""
    I, O, beams = bkb.bench_lengths()
    ratio = {c: statistics.median(v) / bkb.bounds(c, I, O, beams)[0] for c, v in bkb.measured_per_chip().items()}
    assert ratio["l40s"] > 0.9
    hbm = {c: r for c, r in ratio.items() if c != "l40s"}
    assert hbm and max(hbm.values()) < 0.85
