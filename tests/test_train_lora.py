"""LoRA adapter kernels (perf/train_lora.py): closed-form element counts and their cost."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.train_lora import LoraAdapters, adapter_ops, adapter_params
from tapeout.perf.training import train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm


def test_adapter_elements_follow_nemo_sharding():
    """NeMo ParallelLinearAdapter under sequence parallelism: the QKV adapter reads the gathered
    layernorm output (every token x h on every TP rank), the output-projection adapter the rank's
    h/TP slice; both write 1/TP of their output (the projection's after the all-to-all)."""
    cfg = load_llm("llama-2-70b")  # h 8192, 64 heads, 8 KV heads of 128: qkv width 10240
    s, tp, r = 8192, 4, 16
    g = build_llm_graph(cfg, LLMStep("prefill", 1, s, 0, get_precision("bf16"), tp, 1, lm_head_all_tokens=True))
    ops = {op.name: op for op in adapter_ops(g, LoraAdapters(r, ("qkv_proj", "o_proj"), 0.1), tp)}
    assert ops["qkv_proj_lora_a"].elems == s * 8192
    assert ops["qkv_proj_lora_dropout"].elems == s * 8192
    assert ops["qkv_proj_lora_b_add"].elems == s * 10240 / tp
    assert ops["o_proj_lora_a"].elems == s * 8192 / tp
    assert ops["o_proj_lora_b_add"].elems == s * 8192 / tp
    # A's FLOPs: 2 k r per token in all, split over the TP ranks either way
    for name in ("qkv_proj", "o_proj"):
        a = ops[f"{name}_lora_a"]
        assert a.elems * a.flops_per_elem == 2 * s * 8192 * r / tp
    assert ops["qkv_proj_lora_a"].count == 80
    # B, the alpha/r scale and the add: 3 reads, 3 writes of the output
    assert (ops["o_proj_lora_b_add"].reads, ops["o_proj_lora_b_add"].writes) == (3.0, 3.0)
    # TP collectives: tokens x r (bf16) all-gather / all-reduce, tokens x h/TP all-to-all
    assert ops["qkv_proj_lora_allgather"].payload_bytes == s * r * 2
    assert ops["o_proj_lora_allreduce"].collective == "all_reduce" and ops["o_proj_lora_allreduce"].payload_bytes == s * r * 2
    assert ops["o_proj_lora_a2a"].payload_bytes == s * 8192 / tp * 2 and ops["o_proj_lora_a2a"].group == tp
    assert not any("dropout" in n for n in (op.name for op in adapter_ops(g, LoraAdapters(r), tp)))
    g1 = build_llm_graph(cfg, LLMStep("prefill", 1, s, 0, get_precision("bf16"), 1, 1, lm_head_all_tokens=True))
    assert not any(op.kind == "collective" for op in adapter_ops(g1, LoraAdapters(r), 1))


@given(st.sampled_from([1, 2, 4, 8]), st.integers(1, 256))
@settings(max_examples=25, deadline=None)
def test_adapter_params_closed_form(tp, r):
    """Hu et al. 2021: an adapter on a k -> n layer trains r (k + n) parameters; Llama-2-70B's QKV
    (8192 -> 10240) and output projection (8192 -> 8192) over 80 layers, split over TP."""
    cfg = load_llm("llama-2-70b")
    g = build_llm_graph(cfg, LLMStep("prefill", 1, 128, 0, get_precision("bf16"), tp, 1, lm_head_all_tokens=True))
    want = 80 * r * ((8192 + 10240) + (8192 + 8192))
    assert adapter_params(g, LoraAdapters(r), tp) * tp == pytest.approx(want)
    assert adapter_params(g, LoraAdapters(r, ("qkv_proj",)), tp) * tp == pytest.approx(80 * r * (8192 + 10240))


def test_step_grows_with_rank_and_dropout():
    kw = dict(model="llama-2-70b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              precision="fp8", tp=4, pp=1, cp=1, zero=0)
    steps = [train(lora=LoraAdapters(r, ("qkv_proj", "o_proj"), 0.0), **kw).step_time_s for r in (8, 64, 512)]
    assert steps[0] <= steps[1] <= steps[2]
    assert train(lora=LoraAdapters(16, ("qkv_proj", "o_proj"), 0.1), **kw).step_time_s > \
        train(lora=LoraAdapters(16, ("qkv_proj", "o_proj"), 0.0), **kw).step_time_s


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


try:
    import importlib.metadata as _md

    _md.version("aiconfigurator-core")
    _HAVE_DB = True
except Exception:
    _HAVE_DB = False


@pytest.mark.skipif(not _HAVE_DB, reason="aiconfigurator-core (tapeout[kernels]) not installed")
@pytest.mark.parametrize("rows, width", [(4, 8192), (16, 8192), (16, 2048)])
def test_adapter_a_gemm_is_priced_as_the_memory_pass_the_chip_measures(rows, width):
    """The adapter's A GEMM (tokens x k input, r or r/TP outputs) is a skinny GEMM: transposed, it
    is a decode-shaped GEMM streaming a width x tokens operand past `rows` rows, which NVIDIA's
    kernel database measures on H100 (BF16, TensorRT-LLM) at 2.2-2.8 TB/s, i.e. a memory pass. The
    model's memory-bound `_lora_a` pass over the same input is within [0.8, 1.5] of that kernel
    (not the tensor-core time of an N = 16 tile, a tiny fraction of peak)."""
    import numpy as np

    from tapeout.hardware.catalog import get_chip
    from tapeout.ops import OpGraph
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.kernels_db import read_kernels
    from tapeout.perf.opcost import evaluate

    tokens = 8192
    c = read_kernels(systems=["h100_sxm"], ops=("gemm",), per_group=None).cols
    s = (c["m"] == rows) & (c["n"] == tokens) & (c["k"] == width) & (c["fmt"] == "bf16")
    measured = float(np.median(c["latency_s"][s]))
    # the adapter pass of the model on a graph whose target GEMM has that input: o_proj at TP 4 reads
    # tokens x 2048, the QKV adapter the gathered tokens x 8192
    tp = 4
    cfg = load_llm("llama-2-70b")
    g = build_llm_graph(cfg, LLMStep("prefill", 1, tokens, 0, get_precision("bf16"), tp, 1, lm_head_all_tokens=True))
    name = "o_proj" if width == 8192 // tp else "qkv_proj"
    a = next(op for op in adapter_ops(g, LoraAdapters(16, (name,)), tp) if op.name.endswith("_lora_a"))
    assert a.elems == tokens * width
    t = float(np.max(evaluate(OpGraph(name="a", ops=[a]), calibrated_params(get_chip("h100-sxm"))).time))
    assert 0.8 <= t / measured <= 1.5
