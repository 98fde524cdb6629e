"""The prompts prefilled in one serving step share one context-attention kernel per layer (the
stack enqueues the step's packed context tokens at once; AIConfigurator's database times the context
op at batch b as one kernel): n prompts cost one kernel at batch n."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.mlperf import step_model
from tapeout.perf.opcost import K_ATTN
from tapeout.perf.serving_sim import serving_costs
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm


@pytest.fixture(scope="module")
def sm():
    return step_model(load_llm("llama-2-70b"), get_chip("h100-sxm"), get_precision("fp8"), 2, 1, 1)


def _attention_of_prefill(sm, n: int, I: int) -> float:
    """One stage's attention time of a batch-n prefill of I-token prompts, from the cost table."""
    g = build_llm_graph(sm.cfg, LLMStep("prefill", n, I, 0, sm.pr, sm.tp, sm.ep))
    ct = serving_costs(sm.evaluator(g, sm.p), sm.topo, sm.stack)
    t = ct.table
    w = np.asarray(ct.time, dtype=float).reshape(len(t), -1).max(axis=1) * t.count
    return float(w[t.kind == K_ATTN].sum()) / sm.pp


@pytest.mark.parametrize("n,I", [(1, 224), (2, 224), (3, 224), (4, 512), (8, 112)])
def test_n_prompts_cost_one_kernel_at_batch_n(sm, n, I):
    """n prompts in one step cost the attention ops of one batch-n prefill, not n batch-1 ones."""
    assert sm.attn_prefill(n, I) == pytest.approx(_attention_of_prefill(sm, n, I), rel=1e-9)
    if n > 1:
        assert sm.attn_prefill(n, I) < n * _attention_of_prefill(sm, 1, I)


@settings(max_examples=40, deadline=None)
@given(I=st.integers(16, 2048), n=st.floats(1.0, 64.0))
def test_batched_prompts_cost_at_most_separate_kernels(sm, I, n):
    """Sharing never costs more than separate kernels, never goes negative, and one more prompt
    never makes the step's context attention cheaper."""
    many = sm.attn_prefill(n, I)
    assert 0.0 < many <= n * sm.attn_prefill(1, I) * (1 + 1e-9)
    assert sm.prefill_sharing(n, I) >= -1e-12
    assert sm.attn_prefill(n + 1, I) >= many * (1 - 1e-9)


def test_chunks_below_one_prompt_are_proportional(sm):
    """A chunk of a prompt (fewer tokens than one prompt in the step) pays its token share."""
    for f in (0.1, 0.5, 1.0):
        assert sm.attn_prefill(f, 512) == pytest.approx(f * sm.attn_prefill(1, 512), rel=1e-12)


def test_step_shares_the_context_kernel(sm):
    """A step with 3 prompts of 222 tokens costs less context attention than 3 batch-1 kernels:
    the shared fixed time and waves of two kernels (kernel launch + the paged-attention fixed time
    per layer at least)."""
    p = sm.p
    base = sm.step(896, 369)
    with_pre = sm.step(896, 369, 3 * 222, 222) - sm.linear(896 + 3 * 222) + sm.linear(896)
    shared = 3 * sm.attn_prefill(1, 222) - (with_pre - base)
    fixed = float(np.max(p.kernel_overhead) + np.max(p.attn_prefill_fixed)) * sm.cfg.num_hidden_layers
    assert shared >= 2 * fixed * (1 - 1e-9)


@settings(max_examples=300, deadline=None)
@given(n=st.floats(1.0, 1e5))
def test_interpolation_grid_brackets_every_count(n):
    """The step model's geometric grid interpolates between two integer grid points that bracket n (the
    rounded points once missed it, e.g. 1.75 priced as 2: a flat extrapolation, found by the property above)."""
    from tapeout.perf.serving_sim import StepModel

    from tapeout.perf.serving_sim import _node

    lo, hi, f = StepModel._grid(n)
    assert lo <= n <= hi and 0.0 <= f <= 1.0 and lo + f * (hi - lo) == pytest.approx(n, rel=1e-12)
    # one node set for every n (a piecewise-linear curve over fixed nodes is monotone where its nodes are):
    # lo and hi are consecutive distinct nodes
    nodes = sorted({_node(j) for j in range(0, 80)})
    assert lo in nodes and hi in nodes and nodes.index(hi) == nodes.index(lo) + 1
