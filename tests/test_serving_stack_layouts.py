"""The automatic layout search honours the row's serving stack: which parallelism each stack
supports (data/software/serving_stacks.yaml, from the stacks' sources), and which stack a
published row's software field names."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.perf import stacks
from tapeout.perf.mlperf import serve_at_scale

I, O = 222.33, 294.45  # llama2-70b dataset means (data/mlperf/benchmarks.yaml)


@pytest.mark.parametrize("software, key", [
    ("TensorRT 10.2.0, CUDA 12.4", "tensorrt-llm-0.x"),
    ("vLLM 0.5.2", "vllm"),  # PP exists from 0.5.1, AsyncLLMEngine only
    ("vLLM 0.6.5.dev964+mlperf50", "vllm"),
    ("vLLM 0.4.3+rocm614, PyTorch 2.3.0, ROCm 6.1.2", "vllm-0.4"),  # before PP existed
    ("vLLM 0.5.0", "vllm-0.4"),
    ("PyTorch 2.1.1, SynapseAI 1.14.98 (HLS-Gaudi2-PT, 2x Xeon 8380)", "synapseai-pytorch"),
    ("UntetherAI imAIgine SDK v24.07", None),  # no known stack: the default
    ("", None),
])
def test_software_field_names_the_stack(software, key):
    assert stacks.stack_for_software(software) == key


def test_pipeline_support_per_stack_and_scenario():
    # vLLM 0.5.1-0.7 LLMEngine.step raises for pipeline_parallel_size > 1 (offline LLM()); AsyncLLMEngine pipelines
    assert not stacks.pipeline_parallel("vllm", "offline") and stacks.pipeline_parallel("vllm", "server")
    assert not stacks.pipeline_parallel("vllm-0.4", "server")
    assert not stacks.pipeline_parallel("synapseai-pytorch", "offline")  # DeepSpeed inference: tp_size only
    assert stacks.pipeline_parallel("tensorrt-llm-0.x", "offline")  # mNumMicroBatches = pp
    assert stacks.pipeline_parallel(None, "interactive")  # the default stack is TensorRT-LLM 0.x


def test_gaudi_stack_has_no_custom_allreduce_kernels():
    from tapeout.perf.collectives import custom_allreduce_max_bytes

    assert custom_allreduce_max_bytes(8, "synapseai-pytorch") == 0.0
    assert stacks.kv_block_waste_tokens("synapseai-pytorch") == stacks.kv_block_waste_tokens(None)  # unknown: default


@pytest.mark.parametrize("stack", ["vllm", "vllm-0.4", "synapseai-pytorch"])
def test_search_drops_pipeline_layouts_where_the_stack_has_none(stack):
    # 8 x L40S (48 GB) holds llama-2-70b at FP8 only over >= 2 chips: with PP the default stack's search picks it
    assert serve_at_scale("llama-2-70b", "l40s", 8, "fp8", I, O, "offline").pp > 1
    r = serve_at_scale("llama-2-70b", "l40s", 8, "fp8", I, O, "offline", stack=stack)
    assert r.pp == 1 and r.tp * r.dp == 8
    assert all(c["pp"] == 1 for c in r.candidates)


def test_pinned_pipeline_on_a_stack_without_it_names_the_rule():
    with pytest.raises(TapeoutError, match=r"--pp 4: serving stack 'vllm' has no pipeline parallelism in scenario offline"):
        serve_at_scale("llama-2-70b", "l40s", 8, "fp8", I, O, "offline", pp=4, stack="vllm")


def test_server_on_a_stack_that_pipelines_only_online_never_beats_its_offline():
    kw = dict(dataset="llama2-70b")
    off = serve_at_scale("llama-2-70b", "l40s", 8, "fp8", I, O, "offline", stack="vllm", **kw)
    srv = serve_at_scale("llama-2-70b", "l40s", 8, "fp8", I, O, "server", 2.0, 0.2, stack="vllm", **kw)
    assert off.pp == 1
    assert srv.output_tokens_per_s <= off.output_tokens_per_s * (1 + 1e-9)
