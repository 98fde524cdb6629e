"""The dtype of the sequence-parallel TP all-gathers (perf/sequence_parallel.TPComm,
perf/train_recipe.gather_bytes): Transformer Engine's FP8 recipe gathers a norm-fed GEMM's input
and a row-parallel GEMM's dY in FP8 (1 B per element), every other collective moves BF16."""

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.perf.sequence_parallel import TPComm, tp_allreduce_time, tp_block_comm
from tapeout.perf.serving_sim import ensure_vector
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.tp_backward import backward_tp_exposed
from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.train_recipe import gather_bytes, get_recipe, resolve, training_graph
from tapeout.perf.training import _Fwd, train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm


def _topo(chip="h100-sxm"):
    c = get_chip(chip)
    p = ensure_vector(calibrated_params(c))
    return c, p, topology_for(p, c.family)


def _ring(S, g, topo):
    # one NCCL ring pass inside the NVSwitch domain: g - 1 steps moving (g - 1)/g S (MB-0136 / MB-0137) at
    # NCCL's ring latency (tuning.cc, one node; Simple at these sizes: 8.4 + 3.4 (g-1) us)
    return 1e-6 * (8.4 + 3.4 * (g - 1)) + (g - 1) / g * S / (topo.link_bw_for_group(g) * topo.eff_link)


@pytest.mark.parametrize("g", [2, 4, 8])
def test_fp8_gathers_move_half_the_bf16_bytes(g):
    _, _, topo = _topo()
    S = 100e6  # bytes of the BF16 activation of one block on one rank
    c = tp_block_comm(S, g, topo, True, input_bytes=0.5, grad_bytes=0.5)
    assert c.reduce_scatter == pytest.approx(_ring(S, g, topo), rel=1e-9)  # partial sums stay BF16
    assert c.gather_input == pytest.approx(_ring(S / 2, g, topo), rel=1e-9)
    assert c.gather_grad == pytest.approx(_ring(S / 2, g, topo), rel=1e-9)
    assert c.forward == pytest.approx(_ring(S, g, topo) + _ring(S / 2, g, topo), rel=1e-9)
    # BF16 gathers: the old all-reduce split, RS + AG of the same S
    assert tp_block_comm(S, g, topo, True).forward == pytest.approx(tp_allreduce_time(S, g, topo, True))
    assert tp_block_comm(S, g, topo, True).gather_grad == pytest.approx(_ring(S, g, topo), rel=1e-9)


def test_without_sequence_parallel_nothing_is_gathered_and_dtypes_do_not_act():
    _, _, topo = _topo()
    ar = float(collective_time("all_reduce", 64e6, 4, topo)[0])
    assert tp_block_comm(64e6, 4, topo, False, 0.5, 0.5) == TPComm.halves(ar)
    assert tp_block_comm(64e6, 1, topo, True, 0.5, 0.5) == TPComm()


def test_other_libraries_halve_the_all_reduce_of_each_tensor():
    _, _, topo = _topo("tpu-v5p")
    assert not topo.nccl
    half = lambda S: float(collective_time("all_reduce", S, 4, topo)[0]) / 2  # noqa: E731
    assert tp_block_comm(64e6, 4, topo, True, 0.5, 1.0) == TPComm(half(64e6), half(32e6), half(64e6))


def _graph(model="llama-2-70b", precision="fp8", tp=4):
    return build_llm_graph(load_llm(model), LLMStep("prefill", 1, 1024, 0, get_precision(precision), tp, 1))


def test_the_fp8_recipe_gathers_norm_fed_inputs_and_every_quantized_dy():
    g, _, _ = training_graph(_graph(), get_recipe("fp8"))
    got = gather_bytes(g, get_recipe("fp8"))
    assert got == {("qkv_proj", "input"): 0.5, ("mlp_gate_up", "input"): 0.5, ("qkv_proj", "grad"): 0.5,
                   ("o_proj", "grad"): 0.5, ("mlp_gate_up", "grad"): 0.5, ("mlp_down", "grad"): 0.5,
                   # the row-parallel GEMMs' FP8 output, where a userbuffer slot is FP8 (test_tp_fp8_reduce_scatter)
                   ("o_proj", "output"): 0.5, ("mlp_down", "output"): 0.5}
    # LoRA's adapter on the QKV module takes the BF16 norm output: that input gather stays BF16
    lora = gather_bytes(g, get_recipe("fp8"), LoraAdapters(16, ("qkv_proj",)))
    assert ("qkv_proj", "input") not in lora and lora[("mlp_gate_up", "input")] == 0.5
    # recipes whose gather path was not read, and BF16, gather BF16
    assert gather_bytes(g, get_recipe("fp8current")) == {} and gather_bytes(g, get_recipe("bf16")) == {}
    assert gather_bytes(g, None) == {}


def _fwd(model, stack, lora=False, tp=4, mbs=1, seq=2048):
    c, p, topo = _topo()
    r, pr, _, _ = resolve(get_recipe("fp8"), c)
    cfg = load_llm(model)
    return cfg, topo, _Fwd(cfg, p, pr, topo, stack, lora=lora, recipe=r)(tp, 1, mbs, seq)


@pytest.mark.parametrize("model", ["llama-2-70b", "gpt3-175b"])  # gated FC1 (mlp_gate_up) and GPT-3's mlp_up
def test_step_costs_carry_fp8_gathers_on_a_te_stack(model):
    cfg, topo, f = _fwd(model, StackFeatures(quantized_gathers=True))
    L, S = cfg.num_hidden_layers, 2048 * cfg.hidden_size * 2.0  # the BF16 activation one block reduces
    for k in ("attn_allreduce", "mlp_allreduce"):
        assert f[f"reduce_scatter:{k}"] / L == pytest.approx(_ring(S, 4, topo), rel=1e-9)
        assert f[f"gather_input:{k}"] / L == pytest.approx(_ring(S / 2, 4, topo), rel=1e-9)
        assert f[f"gather_grad:{k}"] / L == pytest.approx(_ring(S / 2, 4, topo), rel=1e-9)
        assert f[f"c:{k}"] == pytest.approx(f[f"reduce_scatter:{k}"] + f[f"gather_input:{k}"])
    # a stack not on file (quantized_gathers False) gathers BF16
    _, _, b = _fwd(model, StackFeatures())
    assert b["gather_input:attn_allreduce"] / L == pytest.approx(_ring(S, 4, topo), rel=1e-9)
    assert b["comm_tp"] > f["comm_tp"]


def test_lora_keeps_the_adapted_qkv_input_gather_in_bf16():
    cfg, topo, f = _fwd("llama-2-70b", StackFeatures(quantized_gathers=True), lora=LoraAdapters(16, ("qkv_proj",)))
    L, S = cfg.num_hidden_layers, 2048 * cfg.hidden_size * 2.0
    assert f["gather_input:attn_allreduce"] / L == pytest.approx(_ring(S, 4, topo), rel=1e-9)
    assert f["gather_input:mlp_allreduce"] / L == pytest.approx(_ring(S / 2, 4, topo), rel=1e-9)
    assert f["gather_grad:attn_allreduce"] / L == pytest.approx(_ring(S / 2, 4, topo), rel=1e-9)  # frozen o_proj's dY: FP8


def test_backward_exposes_the_fp8_dy_gather_and_hides_the_rest():
    # long GEMMs hide the input re-gather and the reduce-scatter; the blocking dY gather is what remains
    c = {"attn_allreduce": TPComm(2.0, 1.0, 1.0), "mlp_allreduce": TPComm(2.0, 1.0, 1.0)}
    g = {"qkv_proj": 100.0, "mlp_gate_up": 100.0}
    assert backward_tp_exposed(g, c, True, True) == pytest.approx(1.0 + 1.0)
    assert backward_tp_exposed({}, c, True, True) == pytest.approx(2 * (1.0 + 1.0 + 2.0))  # nothing hidden
    assert backward_tp_exposed({}, c, True, False) == pytest.approx(2 * (1.0 + 2.0))  # frozen: no re-gather


def test_fp8_gathers_never_slow_a_step():
    kw = dict(tp=4, pp=8, vp=6, mbs=1, zero=1, recompute="none", sequence_parallel=True)
    on = train("gpt3-175b", "h100-sxm", 512, 256 * 2048, 2048, "fp8", quantized_gathers=True, **kw)
    off = train("gpt3-175b", "h100-sxm", 512, 256 * 2048, 2048, "fp8", **kw)
    assert on.step_time_s < off.step_time_s
    assert on.breakdown["exposed_comm_s"]["tp_allreduce"] < off.breakdown["exposed_comm_s"]["tp_allreduce"]


@pytest.mark.parametrize("model", ["llama-2-70b", "gpt3-175b"])
def test_the_four_tp_gemms_are_every_body_gemm_of_a_dense_model(model):
    # GPT-3's non-gated FC1 (`mlp_up`) fills the FC1 slots (tp_overlap.SLOT_OF): without it its GEMM time
    # was invisible to the userbuffers overlap and to the async backward collectives
    _, _, f = _fwd(model, StackFeatures(quantized_gathers=True))
    gemms = [f[f"g:{k}"] for k in ("qkv_proj", "o_proj", "mlp_gate_up", "mlp_down")]
    assert min(gemms) > 0.0
    assert sum(gemms) == pytest.approx(f["gemm"], rel=1e-12)
