"""Habana's v3.0 GPT-3 ran Megatron-DeepSpeed's CoreAttention, not FusedSDPA, with attention dropout 0
(docs/notes/issue-18.md, Round stop-42 issue-62e): the stack settings as the data file gives them, the
dropout-free unfused core in closed form, and the switch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf import unfused_attention
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.train_stack import named_stack, stack_settings, stack_table
from tapeout.perf.training import clear_cache, train
from tapeout.perf.unfused_attention import attention_dropout_runs, core_attention_ops


def test_per_stack_settings_read_from_the_data_file():
    """v3.0: unfused core, no dropout pass, from run_gpt.sh (no --use-fused-sdpa, DROPOUT=0.0) and the fork's
    --use-fused-sdpa default False; v3.1 / v4.0 keep FusedSDPA (no attention_kernel), their probs setting as before."""
    t = stack_table()
    f30 = t["megatron-deepspeed-habana-v3.0"]["features"]
    assert f30["attention_kernel"]["value"] == "unfused" and f30["attention_kernel"]["wired"] is True
    assert "passes no --use-fused-sdpa" in f30["attention_kernel"]["source"] and "@9f08e30" in f30["attention_kernel"]["source"]
    assert "default" in f30["attention_kernel"]["source"] and "@f33f944" in f30["attention_kernel"]["source"]
    assert f30["attention_dropout"]["value"] is False and "DROPOUT=0.0" in f30["attention_dropout"]["source"]
    _, s30, _ = stack_settings(named_stack("megatron-deepspeed-habana-v3.0"), {}, {}, False)
    assert s30["attention_kernel"] == "unfused" and s30["attention_dropout"] is False
    assert s30["sequence_parallel"] is False and "attention_probs_saved" not in s30
    for name, probs in (("megatron-deepspeed-habana-v3.1", True), ("megatron-deepspeed-habana-v4.0", False)):
        _, s, _ = stack_settings(named_stack(name), {}, {}, False)
        assert "attention_kernel" not in s and "attention_dropout" not in s and s["attention_probs_saved"] is probs
    # only the v3.0 Habana stack runs the unfused core among the LLM training stacks
    assert [n for n, e in t.items() if e["features"].get("attention_kernel", {}).get("value") == "unfused"] == \
        ["megatron-deepspeed-habana-v3.0"]


def test_attention_dropout_is_a_yes_no_setting():
    with pytest.raises(TapeoutError, match="attention_dropout"):
        StackFeatures(attention_dropout="no")
    assert StackFeatures().attention_dropout is True  # Megatron-LM's core, as priced before


def test_gpt3_v30_core_without_dropout_closed_form():
    """One GPT-3 layer at TP8, micro-batch 1, s 2048: 96 / 8 = 12 heads, E = 12 x 2048^2 scores; QK^T and PV are
    [12] x (2048 x 2048 x 128) GEMMs; the softmax reads and writes E; no dropout op, forward or backward."""
    fwd, bwd = core_attention_ops("attn", 1, 1, 2048, 12.0, 128, dropout=False, causal=True)
    assert [o.name for o in fwd] == ["attn_qk", "attn_softmax", "attn_pv", "attn_context_copy"]
    assert not any("dropout" in o.name for o in bwd)
    qk, sm, pv, cp = fwd
    assert (qk.batch, qk.m, qk.n, qk.k) == (12, 2048, 2048, 128) and (pv.m, pv.n, pv.k) == (2048, 128, 2048)
    assert sm.elems == 12 * 2048 ** 2 and (sm.reads, sm.writes) == (1.0, 1.0)
    assert cp.elems == 12 * 2048 * 128
    wf, wb = core_attention_ops("attn", 1, 1, 2048, 12.0, 128, dropout=True, causal=True)
    assert [o for o in wf if "dropout" not in o.name] == fwd and [o for o in wb if "dropout" not in o.name] == bwd


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 4), seq=st.sampled_from([128, 512, 1024, 2048, 4096]), heads=st.integers(1, 24),
       d=st.sampled_from([64, 128]))
def test_dropout_free_core_is_the_core_less_its_dropout_ops(batch, seq, heads, d):
    """Whatever the shape: the dropout-free core is the full core with exactly its two dropout ops removed (one forward,
    one backward, each over the E = b h s^2 scores), the GEMMs and the softmax unchanged."""
    f0, b0 = core_attention_ops("a", 1, batch, seq, float(heads), d, dropout=False)
    f1, b1 = core_attention_ops("a", 1, batch, seq, float(heads), d, dropout=True)
    drops = [o for o in f1 + b1 if "dropout" in o.name]
    assert len(drops) == 2 and all(o.elems == batch * heads * seq * seq for o in drops)
    assert [o for o in f1 if o not in drops] == f0 and [o for o in b1 if o not in drops] == b0


def _step(**kw):
    r = train("llama-3.1-8b", "gaudi2", 8, 8 * 2048, 2048, "bf16", tp=1, pp=1, cp=1, mbs=1, zero=1, recompute="selective",
              attention_kernel="unfused", **kw)
    return r.step_time_s


def test_step_drops_at_least_the_dropout_bytes_and_switch_restores(monkeypatch):
    """Gaudi2, Llama-3.1-8B, one 2,048-token sequence per chip, selective recompute (the core runs forward twice, as
    the v3.0 rows ran it): without the dropout pass the step is shorter by at least its bytes at the HBM peak
    (32 layers x 32 heads x 2048^2 scores; each forward reads 2 B and writes 2 B + the 1 B mask, the backward reads
    2 B + 1 B and writes 2 B: 15 B a score) and by no more than 3x that;
    ZERO_DROPOUT_SKIPPED off: the dropout pass is priced whatever the stack says."""
    clear_cache()
    with_drop, without = _step(attention_dropout=True), _step(attention_dropout=False)
    bw = get_chip("gaudi2").specs["memory_bandwidth_tbps"].value * 1e12
    floor = 32 * 32 * 2048 ** 2 * 15.0 / bw
    assert floor <= with_drop - without <= 3 * floor
    with monkeypatch.context() as m:
        m.setattr(unfused_attention, "ZERO_DROPOUT_SKIPPED", False)
        clear_cache()
        assert attention_dropout_runs(False) is True
        assert _step(attention_dropout=False) == pytest.approx(with_drop, rel=1e-12)
    clear_cache()
