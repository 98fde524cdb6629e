"""The 405B frontier layouts against the rules Megatron-Core enforces and the recompute the search adds
(docs/notes/issue-18.md, round stop-28 issue-28la).

Megatron-Core's split with the embedding and the loss counted as layers (NVIDIA/Megatron-LM
megatron/core/transformer/transformer_config.py `__post_init__`, account_for_embedding_in_pipeline_split /
account_for_loss_in_pipeline_split with a virtual pipeline): (L + 2) % PP == 0 and ((L + 2) / PP) % VP == 0;
each virtual stage then holds n = (L + 2) / (PP VP) slots, the first virtual stage of the first device the
embedding and n - 1 layers, the last of the last device n - 1 layers and the loss."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.memory_capacity import GIB
from tapeout.perf.pipeline_p2p import default_group
from tapeout.perf.train_layout import TrainLayout, broken_rule, stage_layers
from tapeout.perf.training import train
from tapeout.workloads.llm_config import LLMConfig

ARGS = ("llama-3.1-405b", "h100-sxm", 16384, 16 * 2 ** 20, 8192, "bf16")


def megatron_accepts(L: int, pp: int, vp: int) -> bool:
    """transformer_config.py's account_for_* check (VP None when vp == 1)."""
    n = L + 2
    if n % pp:
        return False
    return vp == 1 or (n // pp) % vp == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 32), st.integers(1, 16), st.integers(1, 8))
def test_a_split_megatron_core_accepts_is_never_refused_and_matches(pp, vp, slots):
    L = pp * vp * slots - 2  # every layer count Megatron-Core accepts at this PP x VP
    if L < 1:
        return
    assert megatron_accepts(L, pp, vp)
    cfg = LLMConfig(hidden_size=1024, num_hidden_layers=L, num_attention_heads=8, intermediate_size=4096,
                    vocab_size=32000)
    lay = TrainLayout(tp=1, pp=pp, dp=1, vp=vp, recompute="none")
    # 2 pp micro-batches: enough for the interleaved schedule (rule 'interleave')
    assert broken_rule(cfg, lay, pp, 2 * pp, 2048, 8) is None
    n = (L + 2) // (pp * vp)
    # Megatron-Core's per-device layers: v n everywhere, one fewer on the first (embedding) and the last (loss)
    assert stage_layers(L, pp, vp) == [vp * n - 1] + [vp * n] * (pp - 2) + [vp * n - 1]


def test_405b_search_pick_obeys_megatron_core():
    r = train(*ARGS)
    lay = TrainLayout(**r.layout)
    b = r.breakdown
    m = int(b["m"])
    assert m * lay.dp * lay.mbs == 2048  # the global batch, 2048 sequences of 8192
    assert 8 % lay.tp == 0 and 128 % lay.tp == 0  # KV heads and heads
    assert 8192 % (2 * lay.cp) == 0  # TE / Megatron-Core CP: 2 CP load-balanced chunks
    if lay.vp > 1:
        # forward_backward_pipelining_with_interleaving: pp <= N <= m, m % N == 0 or >= pp
        n = default_group(m, lay.pp)
        assert lay.pp <= n <= m and (m % n == 0 or m % n >= lay.pp)
    assert r.memory_gib_per_chip <= b["memory_reserve"]["usable_gib"]
    assert sum(b["stage_layers"]) == 126


def test_metas_layout_shows_what_the_searched_recompute_costs():
    # Llama 3 (arXiv:2407.21783 Table 4): TP8 CP1 PP16 DP128 at 8K, 16 sequences per DP rank (m = PP = 16);
    # Megatron-Core runs every forward first at m = pp (get_pp_rank_microbatches: all micro-batches in
    # warm-up), so each 8-layer device holds all 16 micro-batches of activations
    r = train(*ARGS, tp=8, pp=16, cp=1)
    w = r.breakdown["without_recompute"]
    assert r.layout["recompute"] != "none" and w["recompute"] == r.layout["recompute"]
    per_layer = 31.75 * 8192 * 16384 / 8  # Korthikanti et al. 2022 count for the Llama layer with SP (bytes)
    assert w["act_gib"] == pytest.approx(per_layer * 8 * 16 / GIB, rel=1e-9)
    assert not w["fits"] and w["mem_gib"] > w["usable_gib"]
    assert w["step_s"] < r.step_time_s == pytest.approx(w["step_with_recompute_s"])
    assert w["mfu_had_it_fit"] * w["step_s"] == pytest.approx(r.mfu * r.step_time_s, rel=1e-12)  # same tokens
    assert any(n.startswith(f"recompute {w['recompute']} (searched)") for n in r.notes)


def test_no_recompute_note_when_pinned_or_not_recomputed():
    pinned = train(*ARGS, tp=8, pp=16, cp=1, recompute="full")
    assert "without_recompute" not in pinned.breakdown
    assert not any(n.startswith("recompute ") for n in pinned.notes)
    auto = train(*ARGS)
    if auto.layout["recompute"] == "none":
        assert "without_recompute" not in auto.breakdown
