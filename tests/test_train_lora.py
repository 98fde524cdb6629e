"""LoRA adapter kernels (perf/train_lora.py): closed-form element counts and their cost."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.perf.train_lora import LoraAdapters, adapter_ops
from tapeout.perf.training import train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm


def test_adapter_elements_are_sharded_one_tp_th_on_every_side():
    cfg = load_llm("llama-2-70b")  # h 8192, 64 heads, 8 KV heads of 128: qkv width 10240
    s, tp = 8192, 4
    g = build_llm_graph(cfg, LLMStep("prefill", 1, s, 0, get_precision("bf16"), tp, 1, lm_head_all_tokens=True))
    ops = {op.name: op for op in adapter_ops(g, LoraAdapters(16, ("qkv_proj", "o_proj"), 0.1), tp)}
    assert ops["qkv_proj_lora_a"].elems == s * 8192 / tp
    assert ops["qkv_proj_lora_b_add"].elems == s * 10240 / tp
    assert ops["o_proj_lora_a"].elems == s * 8192 / tp
    assert ops["o_proj_lora_b_add"].elems == s * 8192 / tp
    assert ops["qkv_proj_lora_a"].flops_per_elem == 32 and ops["qkv_proj_lora_a"].count == 80
    assert "qkv_proj_lora_dropout" in ops
    assert not any("dropout" in n for n in (op.name for op in adapter_ops(g, LoraAdapters(16), tp)))


def test_adapters_cost_time_and_bad_specs_are_errors():
    kw = dict(model="llama-2-70b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              precision="fp8", tp=4, pp=1, cp=1, zero=0)
    bare = train(lora=True, **kw)
    with_adapters = train(lora=LoraAdapters(16, ("qkv_proj", "o_proj"), 0.1), **kw)
    assert with_adapters.step_time_s > bare.step_time_s
    with pytest.raises(TapeoutError, match="rank"):
        LoraAdapters(0)
    with pytest.raises(TapeoutError, match="targets"):
        LoraAdapters(16, ("lm_head",))


def test_benchmark_command_runs_the_benchmark_adapters_at_its_own_length():
    """`tapeout train --benchmark llama2-70b-lora` runs at the benchmark's 8192 tokens (its
    definition, beyond Llama-2-70B's 4096 positions) with the adapters its rows are scored with."""
    from tapeout import api

    pins = dict(tp=4, pp=1, cp=1, zero=0)
    r = api.train(benchmark="llama2-70b-lora", chip="h100-sxm", num_chips=8, precision="fp8", **pins)
    bare = train("llama-2-70b", "h100-sxm", 8, 8 * 8192, 8192, "fp8", lora=True, **pins)
    assert r.seq_len == 8192 and r.time_to_train_min > 0
    assert r.step_time_s > bare.step_time_s
    with pytest.raises(TapeoutError, match="maximum context"):
        api.train(model="llama-2-70b", chip="h100-sxm", num_chips=8, seq_len=8192)
