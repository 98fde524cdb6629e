"""The virtual pipeline sizes the layout search tries come from the model's layers and PP
(perf/train_layout.virtual_stage_options), and pricing only the layouts that fit memory
(evaluate_layout's mem_limit) never changes the pick."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf import training as T
from tapeout.perf.train_layout import TrainLayout, broken_rule, candidate_layouts, even_stages, virtual_stage_options
from tapeout.workloads.llm_config import load_llm


@settings(max_examples=80, deadline=None)
@given(L=st.integers(1, 200), pp=st.integers(1, 64))
def test_options_are_exactly_the_vps_the_layers_rule_admits(L, pp):
    opts = virtual_stage_options(L, pp)
    if pp == 1:
        assert opts == [1]
        return
    assert opts == list(range(1, len(opts) + 1))  # no gaps: Megatron-Core's custom layout places any split
    assert pp * len(opts) <= L + 2 < pp * (len(opts) + 1)  # the last one admitted, the next one refused


def test_405b_pp16_tries_every_vp_up_to_8_and_refuses_9():
    # 126 layers + embedding + loss = 128 = 16 x 8 virtual stages (Llama 3 Sec. 3.3.2)
    assert virtual_stage_options(126, 16) == [1, 2, 3, 4, 5, 6, 7, 8]
    cfg = load_llm("llama-3.1-405b")
    assert broken_rule(cfg, TrainLayout(8, 16, 128, vp=9), 16384, 2048, 8192, 8).startswith("layers")
    cands, _ = candidate_layouts(cfg, 16384, 8, 2048, 8192, {"tp": 8, "pp": 16, "cp": 1, "mbs": 1, "recompute": "none"})
    assert sorted({lay.vp for lay in cands}) == list(range(1, 9))


def test_off_the_old_grid_vps_are_searched():
    # 80 layers on PP4 (20 per stage): VP 5, 10 and 20 split every stage evenly and were outside the
    # old fixed grid 1, 2, 3, 4, 6, 8
    opts = virtual_stage_options(80, 4)
    assert {5, 10, 20} <= set(opts) and all(even_stages(80, 4, v) for v in (5, 10, 20))
    assert max(opts) == 20  # 4 x 21 = 84 > 82


CASES = [("llama-3.1-70b", "h100-sxm", 64, 4194304, 8192), ("gpt3-175b", "h100-sxm", 3584, 1536 * 2048, 2048)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_memory_first_pricing_picks_the_same_layout(case, monkeypatch):
    T.clear_cache()
    fast = T.train(*case)
    full = T.evaluate_layout
    monkeypatch.setattr(T, "evaluate_layout", lambda *a, mem_limit=None, **k: full(*a, **k))  # price every layout
    T.clear_cache()
    slow = T.train(*case)
    T.clear_cache()
    assert fast.parallelism == slow.parallelism
    assert fast.step_time_s == pytest.approx(slow.step_time_s, rel=1e-12)
    assert fast.memory_gib_per_chip == pytest.approx(slow.memory_gib_per_chip, rel=1e-12)
