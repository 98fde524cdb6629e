"""An eager stack's RMSNorm / RoPE / SwiGLU chains (perf/eager_elementwise.py, data/software/eager_elementwise.yaml):
the per-op traffic of the Hugging Face Llama code the JuniperNetworks LoRA rows ran, in place of the fused kernels."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.ops import Elementwise
from tapeout.perf.eager_elementwise import chain_graph, chain_ops
from tapeout.perf.mlperf import benchmarks
from tapeout.perf.train_lora import adapters_of_benchmark
from tapeout.perf.train_stack import named_stack, stack_settings
from tapeout.perf.training import train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

CHAIN = "hf-llama-custom-4.37"
LORA = adapters_of_benchmark(benchmarks()["training"]["llama2-70b-lora"])

# hand count from modeling_llama.py (mlcommons/training@cc99abb), (bytes read, bytes written) per element, bf16 = 2 B,
# fp32 = 4 B: each PyTorch op one pass over the tensor
RMS_NORM = [(2, 4), (4, 4), (4, 0), (4, 4), (4, 2), (2, 2)]  # to(fp32), pow, mean, * rsqrt, to(bf16), weight *
ROPE = [(1, 1), (2, 2), (2, 2), (2, 2), (4, 2)]  # -x2 (half the elements), cat, q * cos, rot * sin, +
SWIGLU = [(2, 2), (4, 2)]  # silu(gate), * up


def _bytes(g) -> float:
    return sum(op.count * op.elems * (op.reads + op.writes) * 2.0 for op in g.ops if isinstance(op, Elementwise))


def test_chain_is_the_hand_count_of_the_model_code():
    ops = chain_ops(CHAIN)
    for role, hand in (("norm", RMS_NORM), ("rope", ROPE), ("act", SWIGLU)):
        assert ops[role] == (sum(r for r, _ in hand) / 2.0, sum(w for _, w in hand) / 2.0)


def test_extra_bytes_per_token_closed_form():
    """Llama-2-70B, one 8,192-token sequence: the chain adds (36 - 4) B per norm element (2 per layer + the final
    norm), (20 - 4) B per rotated Q / K element and (10 - 6) B per intermediate element, nothing else."""
    cfg = load_llm("llama-2-70b")
    T, h, L = 8192, cfg.hidden_size, cfg.num_hidden_layers
    g = build_llm_graph(cfg, LLMStep("prefill", 1, T, 0, get_precision("bf16"), 1, 1, lm_head_all_tokens=True))
    eager = chain_graph(g, CHAIN)
    rotated = (cfg.num_attention_heads + cfg.kv_heads) * cfg.hd
    want = T * (L * (2 * 32 * h + 16 * rotated + 4 * cfg.intermediate_size) + 32 * h)
    assert _bytes(eager) - _bytes(g) == pytest.approx(want, rel=1e-12)
    assert [op.name for op in eager.ops] == [op.name for op in g.ops]  # same ops, only their traffic
    assert chain_graph(g, None) is g


def test_unknown_chain_is_refused():
    with pytest.raises(TapeoutError, match="eager_elementwise.yaml"):
        chain_ops("torch-compile")
    with pytest.raises(TapeoutError, match="elementwise_chain"):
        train("llama-2-7b", "h100-sxm", 8, 8 * 4096, 4096, "bf16", elementwise_chain="nope")


@pytest.mark.parametrize("recompute, passes", [("full", 3.0), ("none", 2.0)])
def test_backward_carries_the_chain_twice_plus_the_recompute(recompute, passes):
    """The engine's backward runs 2 x the forward elementwise time, a fully recomputed layer its forward once more:
    per layer the backward grows by `passes` x what the forward grows by, and the step by both per micro-batch."""
    kw = dict(lora=LORA, tp=1, pp=1, cp=1, zero=3, recompute=recompute, mbs=1)
    fused = train("llama-2-7b", "h100-sxm", 8, 16 * 4096, 4096, "bf16", **kw)
    eager = train("llama-2-7b", "h100-sxm", 8, 16 * 4096, 4096, "bf16", elementwise_chain=CHAIN, **kw)
    bf, be = fused.breakdown, eager.breakdown
    d_f = be["F_layer"] - bf["F_layer"]
    assert d_f > 0
    assert be["B_layer"] - bf["B_layer"] == pytest.approx(passes * d_f, rel=1e-9)
    assert eager.step_time_s > fused.step_time_s


def test_juniper_stack_runs_the_chain_and_nemo_does_not():
    _, s, _ = stack_settings(named_stack("hf-deepspeed-0.13"), {}, {}, False)
    assert s["elementwise_chain"] == CHAIN
    _, s, _ = stack_settings(named_stack("nemo-24.04"), {}, {}, False)
    assert "elementwise_chain" not in s
