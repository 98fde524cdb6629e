"""DeepSpeed BF16_Optimizer's FP32 gradient accumulation pass (perf/bf16_hp_grads.py; docs/notes/issue-18.md, Round
stop-42 issue-62e): the per-stack setting from the data file, the closed form of the pass, the switch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf import bf16_hp_grads
from tapeout.perf.bf16_hp_grads import PASS_BYTES, hp_grad_pass_time
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.train_stack import named_stack, stack_settings, stack_table
from tapeout.perf.training import clear_cache, train
from tapeout.workloads.llm_config import load_llm

HABANA_GPT3 = ("megatron-deepspeed-habana-v3.0", "megatron-deepspeed-habana-v3.1", "megatron-deepspeed-habana-v4.0")


def test_per_stack_setting_read_from_the_data_file():
    """The three Habana Megatron-DeepSpeed GPT-3 stacks run it (v3.0 after each backward, v3.1 from its hooks, v4.0
    assumed from v3.1's defaults); no other stack on file does (NeMo / Megatron accumulate in the wgrad epilogue,
    the ZeRO-3 DeepSpeed stacks reduce-scatter into their FP32 partition)."""
    t = stack_table()
    for name in HABANA_GPT3:
        spec = t[name]["features"]["bf16_optimizer_hp_grads"]
        assert spec["value"] is True and spec["wired"] is True and "update_hp_grad" in spec["source"]
        _, s, _ = stack_settings(named_stack(name), {}, {}, False)
        assert s["bf16_hp_grad_pass"] is True
    assert "no accumulate_grads_via_hooks" in t[HABANA_GPT3[0]]["features"]["bf16_optimizer_hp_grads"]["source"]
    assert "accumulate_grads_via_hooks\\\": true" in t[HABANA_GPT3[1]]["features"]["bf16_optimizer_hp_grads"]["source"] \
        or 'accumulate_grads_via_hooks": true' in t[HABANA_GPT3[1]]["features"]["bf16_optimizer_hp_grads"]["source"]
    assert t[HABANA_GPT3[2]]["features"]["bf16_optimizer_hp_grads"]["source"].startswith("assumption")
    assert sorted(n for n, e in t.items() if "bf16_optimizer_hp_grads" in e["features"]) == sorted(HABANA_GPT3)
    assert StackFeatures().bf16_hp_grad_pass is False
    with pytest.raises(TapeoutError, match="bf16_hp_grad_pass"):
        StackFeatures(bf16_hp_grad_pass=1)


def test_pass_bytes_closed_form():
    """10 B a parameter: the BF16 gradient read, the FP32 accumulator read and written; at 2 TB/s x 0.9 a billion
    parameters take 10 / 1.8 ms."""
    assert PASS_BYTES == 2.0 + 4.0 + 4.0
    p = SimpleNamespace(mem_bw=np.array([2.0e12]), eff_mem=np.array([0.9]))
    assert float(np.max(hp_grad_pass_time(1e9, p))) == pytest.approx(10e9 / 1.8e12, rel=1e-12)
    assert float(np.max(hp_grad_pass_time(1e9, p, on=False))) == 0.0


@settings(max_examples=50, deadline=None)
@given(elems=st.floats(0.0, 1e11), k=st.floats(1.0, 8.0), bw=st.floats(1e11, 1e13), eff=st.floats(0.3, 1.0))
def test_pass_time_linear_in_elements_and_inverse_in_bandwidth(elems, k, bw, eff):
    p = SimpleNamespace(mem_bw=np.array([bw]), eff_mem=np.array([eff]))
    t = float(np.max(hp_grad_pass_time(elems, p)))
    assert t >= 0.0
    assert float(np.max(hp_grad_pass_time(k * elems, p))) == pytest.approx(k * t, rel=1e-9, abs=1e-15)
    q = SimpleNamespace(mem_bw=np.array([k * bw]), eff_mem=np.array([eff]))
    assert float(np.max(hp_grad_pass_time(elems, q))) == pytest.approx(t / k, rel=1e-9, abs=1e-15)


def _step(seqs: int, **kw) -> float:
    return train("llama-3.1-8b", "gaudi2", 8, seqs * 2048, 2048, "bf16", tp=8, pp=1, cp=1, mbs=1,
                 recompute="selective", **kw).step_time_s


def _weights_per_rank() -> float:
    """Llama-3.1-8B's weight-GEMM parameters on one of 8 TP ranks: 32 x (q, k, v, o, gate, up, down) + the LM head."""
    c = load_llm("llama-3.1-8b")
    h, ff = c.hidden_size, c.intermediate_size
    kv = c.num_key_value_heads * h // c.num_attention_heads
    return (c.num_hidden_layers * (h * (h + 2 * kv) + h * h + 3 * h * ff) + c.vocab_size * h) / 8


def test_step_grows_by_one_pass_per_micro_batch_and_only_at_zero0(monkeypatch):
    """TP8 PP1 on 8 Gaudi2 (one pipeline stage: step = m (F + B) + ...): the pass adds m x W x 10 B at the achieved
    HBM bandwidth (between the peak and 0.6 of it), exactly twice as much at twice the micro-batches; nothing at
    ZeRO-1 (DeepSpeed's ZeRO-1 optimizer is not BF16_Optimizer); nothing with the switch off."""
    clear_cache()
    base = {m: _step(m, zero=0) for m in (4, 8)}
    on = {m: _step(m, zero=0, bf16_hp_grad_pass=True) for m in (4, 8)}
    d4, d8 = on[4] - base[4], on[8] - base[8]
    assert d8 == pytest.approx(2.0 * d4, rel=1e-9)
    peak = get_chip("gaudi2").specs["memory_bandwidth_tbps"].value * 1e12
    floor = 4 * _weights_per_rank() * 10.0 / peak
    assert floor <= d4 <= floor / 0.6
    assert _step(4, zero=1, bf16_hp_grad_pass=True) == pytest.approx(_step(4, zero=1), rel=1e-12)
    with monkeypatch.context() as m:
        m.setattr(bf16_hp_grads, "HP_GRAD_PASS", False)
        clear_cache()
        assert _step(4, zero=0, bf16_hp_grad_pass=True) == pytest.approx(base[4], rel=1e-12)
    clear_cache()
