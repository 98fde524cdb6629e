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


# ---- pipeline bubbles: the cyclic flow shop of pp stages and pp micro-batches
import numpy as np  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from tapeout.perf.serving_sim import pipeline_cycle_ends  # noqa: E402


@pytest.mark.parametrize("pp", [2, 4, 8])
def test_balanced_pipeline_has_no_bubble_after_the_fill(pp):
    t = 0.01
    d = pipeline_cycle_ends(np.full((50, pp), t))
    assert d[0] == pytest.approx((2 * pp - 1) * t)  # fill: the last micro-batch leaves after 2pp - 1 stage times
    assert np.allclose(d[1:], pp * t)  # then every sequence advances once per pp stage times


@pytest.mark.parametrize("pp", [2, 4, 8])
def test_one_heavy_micro_batch_sets_the_period(pp):
    # its next step waits for its own pass through all pp stages: pp x h per step, the others idle behind it
    h, t = 0.05, 0.01
    stage = np.full((60, pp), t)
    stage[:, 0] = h
    assert np.allclose(pipeline_cycle_ends(stage)[5:], pp * h)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 12), st.data())
def test_pipeline_wall_between_busy_stage_and_slowest_micro_batch_bounds(pp, n, data):
    stage = np.array(data.draw(st.lists(st.lists(st.floats(0.0, 1.0), min_size=pp, max_size=pp), min_size=n, max_size=n)))
    wall = pipeline_cycle_ends(stage).sum()
    # stage 0 processes every micro-batch of every step. Upper bound: when step m-1 has left the
    # last stage every micro-batch of step m is ready and every stage free, so step m is a flow shop
    # of pp jobs on pp machines: makespan <= (jobs + machines - 1) x its slowest. The fill can
    # recur in every step (a near-empty step re-aligns the micro-batches: [[1,1],[0,0],[1,1]] at
    # pp=2 takes 3 + 0 + 3), so (2pp - 1) per step, not pp per step plus one fill.
    assert wall >= stage.sum() - 1e-9
    assert wall <= (2 * pp - 1) * stage.max(axis=1).sum() + 1e-9


def _flow_shop(stage):
    """Reference: start(m, k, s) = max(finish(m, k, s-1), finish of the stage's previous job,
    finish(m-1, k, last stage)); returns the last exit time."""
    n, pp = stage.shape
    free = [0.0] * pp
    ready = [0.0] * pp
    for m in range(n):
        for k in range(pp):
            t_prev = ready[k]
            for s in range(pp):
                t_prev = max(t_prev, free[s]) + stage[m, k]
                free[s] = t_prev
            ready[k] = t_prev
    return max(ready)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 10), st.data())
def test_pipeline_matches_the_flow_shop_recursion(pp, n, data):
    stage = np.array(data.draw(st.lists(st.lists(st.floats(0.0, 1.0), min_size=pp, max_size=pp), min_size=n, max_size=n)))
    assert pipeline_cycle_ends(stage).sum() == pytest.approx(_flow_shop(stage), rel=1e-9, abs=1e-12)


def test_offline_run_pipelines_its_micro_batches():
    from tapeout.perf.mlperf import step_model
    from tapeout.hardware.catalog import get_chip
    from tapeout.precision import get_precision
    from tapeout.perf.serving_sim import offline_run
    from tapeout.workloads.llm_config import load_llm

    sm = step_model(load_llm("llama-2-70b"), get_chip("h100-sxm"), get_precision("fp8"), 1, 1, 4)
    r = offline_run(sm, 16, np.full(64, 200), np.full(64, 100))
    # 16 slots, 4 per micro-batch, four waves of 100 steps: step 0 of a wave prefills 4 x 200 tokens per
    # micro-batch (4 prompts in one context kernel per layer, one stage's share of the layers), steps
    # 1..99 decode 4 per micro-batch at context 200 + j; every micro-batch alike
    pre = sm.linear(800) + sm.attn_prefill(4, 200) + sm.pp_p2p(800)
    wave = [pre] + [sm.linear(4) + sm.attn_decode(4, 200 + j) + sm.pp_p2p(4) for j in range(1, 100)]
    stage = np.repeat(np.array(wave * 4)[:, None], 4, axis=1)
    assert r.steps == 400
    assert r.wall_s == pytest.approx(_flow_shop(stage), rel=1e-9)
    # a whole-prompt prefill in one micro-batch stalls the rest: uneven prompts cost more than even ones
    uneven = offline_run(sm, 16, np.array([800, 0, 0, 0] * 16)[np.r_[0:64]] + 1, np.full(64, 100))
    even = offline_run(sm, 16, np.full(64, 201), np.full(64, 100))
    assert uneven.wall_s > even.wall_s


# ---- static-shape KV cache (TGI-gaudi / optimum-habana on HPU graphs)
def test_static_kv_slot_holds_the_longest_request():
    """KV-limited batch = free memory / (KV bytes per token x (max input + max output)) where the
    stack pads every slot's cache to MAX_TOTAL_TOKENS, whatever the request's own length."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf import serving_memory as M
    from tapeout.perf.calibration import calibrated_params
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    assert stacks.kv_static("synapseai-pytorch") and not stacks.kv_static("vllm") and not stacks.kv_static(None)
    cfg, pr = load_llm("llama-2-70b"), get_precision("fp8")
    cap = float(np.max(calibrated_params(get_chip("gaudi2")).mem_capacity))
    free = cap * (M.USABLE_MEMORY_FRACTION - M.ACTIVATION_RESERVE_FRACTION) - M.weight_bytes_per_chip(cfg, pr, 4, 1)
    r = serve_at_scale("llama-2-70b", "gaudi2", 4, "fp8", 300.0, 100.0, tp=4, max_in=1024, max_out=1024,
                       max_batch=100_000, stack="synapseai-pytorch")
    assert r.batch_size == int(free // (M.kv_bytes_per_token_per_chip(cfg, pr, 4) * 2048))


def test_static_kv_decode_attends_over_the_whole_padded_cache():
    from tapeout.perf.mlperf import step_model
    from tapeout.hardware.catalog import get_chip
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    args = (load_llm("llama-2-70b"), get_chip("gaudi2"), get_precision("fp8"), 8, 1, 1)
    paged = step_model(*args, stack="synapseai-pytorch")
    static = step_model(*args, stack="synapseai-pytorch", static_ctx=2048)
    for ctx in (100, 700, 2048):
        assert static.attn_decode(64, ctx) == pytest.approx(paged.attn_decode(64, 2048))
    assert paged.attn_decode(64, 300) < paged.attn_decode(64, 2048)


# ---- `tapeout serve --stack`
def test_cli_stack_option_reaches_the_engine_and_refuses_unknown_names():
    import json

    from _cli import assert_clean, run_cli

    args = ["serve", "--benchmark", "llama2-70b", "--chip", "l40s", "-n", "8", "-p", "fp8", "--json"]
    code, out, err = run_cli(args + ["--stack", "vllm"])
    assert code == 0, err
    d = json.loads(out)
    assert "PP" not in d["parallelism"]  # vLLM's offline engine has no pipeline stages
    r = serve_at_scale("llama2-70b", "l40s", 8, "fp8", I, O, "offline", dataset="llama2-70b", stack="vllm")
    assert d["output_tokens_per_s"] == pytest.approx(r.output_tokens_per_s)
    code, out, err = run_cli(args + ["--stack", "no-such-stack"])
    assert_clean(code, out, err)
    assert code == 2 and "serving stack 'no-such-stack'" in err and "vllm" in err
