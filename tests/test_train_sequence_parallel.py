"""Sequence parallelism in the training step (perf/sequence_parallel.py; Korthikanti et al. 2022
sec. 4.2.2): the norms between the TP blocks on the T/TP shard, TP collective volume unchanged."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.perf.sequence_parallel import SEQUENCE_PARALLEL_OPS, shard_sequence, tp_allreduce_time
from tapeout.perf.serving_sim import ensure_vector
from tapeout.perf.training import TrainLayout, train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm


def _graph(model: str, tp: int, ep: int = 1, mbs: int = 2, seq: int = 1024):
    return build_llm_graph(load_llm(model), LLMStep("prefill", mbs, seq, 0, get_precision("bf16"), tp, ep,
                                                    lm_head_all_tokens=True))


def _norm_bytes(g) -> float:
    return sum(op.count * op.elems * (op.reads + op.writes) for op in g.ops if op.name in SEQUENCE_PARALLEL_OPS)


@pytest.mark.parametrize("model,tp,ep", [("llama-3.1-70b", 8, 1), ("llama-3.1-8b", 2, 1), ("mixtral-8x7b", 4, 4)])
def test_norm_bytes_are_one_tp_th(model, tp, ep):
    g = _graph(model, tp, ep)
    s = shard_sequence(g, tp)
    cfg = load_llm(model)
    T, h, L = 2 * 1024, cfg.hidden_size, cfg.num_hidden_layers
    # two input norms per layer (attention, MLP/MoE) + the final norm, each T x h read and written (bf16)
    assert _norm_bytes(g) == pytest.approx((2 * L + 1) * T * h * 2)
    assert _norm_bytes(s) == pytest.approx(_norm_bytes(g) / tp)
    # every other op (GEMMs, attention, collectives, the LM head) untouched
    assert [op for op in s.ops if op.name not in SEQUENCE_PARALLEL_OPS] == \
           [op for op in g.ops if op.name not in SEQUENCE_PARALLEL_OPS]


def test_names_match_the_graph():
    """A renamed norm in workloads/llm.py would silently leave it on all tokens."""
    names = {op.name for m in ("llama-3.1-8b", "mixtral-8x7b") for op in _graph(m, 2).ops if isinstance(op, Elementwise)}
    assert set(SEQUENCE_PARALLEL_OPS) <= names


def test_tp1_unchanged():
    g = _graph("llama-3.1-8b", 1)
    assert shard_sequence(g, 1) is g
    base = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, global_batch_tokens=64 * 2048, seq_len=2048,
                precision="bf16", layout=TrainLayout(tp=1, pp=1, dp=8, mbs=1))
    assert train(**base).step_time_s == train(sequence_parallel=False, **base).step_time_s


@pytest.mark.parametrize("chip", ["h100-sxm", "mi300x"])
@pytest.mark.parametrize("g", [2, 4, 8])
def test_reduce_scatter_plus_all_gather_is_the_ring_all_reduce(chip, g):
    """SP swaps each TP all-reduce for a reduce-scatter + all-gather of the same S: ring
    2 (g-1) alpha + 2 (g-1)/g S beta either way (Thakur et al. 2005), so the model keeps the all-reduce.
    TP stays inside the scale-up domain (perf/train_layout), the single-tier case checked here."""
    c = get_chip(chip)
    topo = topology_for(ensure_vector(calibrated_params(c)), c.family)
    S = 64e6
    ar = collective_time("all_reduce", S, g, topo, algorithm="ring")[0]
    rs_ag = collective_time("reduce_scatter", S, g, topo, algorithm="ring")[0] + \
        collective_time("all_gather", S, g, topo, algorithm="ring")[0]
    assert float(ar) == pytest.approx(float(rs_ag))


@settings(max_examples=12, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), mbs=st.sampled_from([1, 2]), seq=st.sampled_from([1024, 4096]),
       recompute=st.sampled_from(["none", "selective", "full"]), precision=st.sampled_from(["bf16", "fp8"]))
def test_sequence_parallel_never_slows_the_step(tp, mbs, seq, recompute, precision):
    # on a library whose TP all-reduce is the ring SP's RS + AG equal (RCCL on MI300X's mesh) only the
    # norms change; on an NVSwitch node NCCL's RS + AG ring is slower than its NVLS all-reduce
    # (test_sp_tp_collective_is_nccl_ring_reduce_scatter_plus_all_gather)
    lay = TrainLayout(tp=tp, pp=2, dp=8 // tp, mbs=mbs, recompute=recompute)
    base = dict(model="llama-3.1-8b", chip="mi300x", num_chips=16, global_batch_tokens=(8 // tp) * mbs * 4 * seq,
                seq_len=seq, precision=precision, layout=lay)
    on, off = train(**base), train(sequence_parallel=False, **base)
    # under FP8 delayed scaling TE splits a row-parallel GEMM's fused dY cast-transpose into a cast of
    # the T/TP shard and a transpose of the gathered tensor (train_recipe, issue-22sd): fewer bytes but
    # one more kernel, which can cost more on small layers; any slowdown must come from those kernels
    extra_cast = max(0.0, on.breakdown["fp8_cast"] - off.breakdown["fp8_cast"])
    assert on.step_time_s <= (off.step_time_s + extra_cast) * (1 + 1e-12)
    assert on.memory_gib_per_chip <= off.memory_gib_per_chip * (1 + 1e-12)
    if tp > 1 and precision == "bf16":
        assert on.step_time_s < off.step_time_s  # the norms shrank


def test_stack_feature_reaches_the_run_and_userbuffer_stacks_run_it():
    from tapeout.perf.train_stack import find_stack, stack_settings, stack_table

    table = {"s": {"software": ["S"], "features": {"sequence_parallel": {"value": False, "wired": True, "source": "t"}}}}
    assert stack_settings(find_stack("S", None, table), {}, {}, False)[1] == {"sequence_parallel": False}
    # NeMo runs userbuffers TP overlap only with sequence parallelism (megatron_base_model.py): a stack
    # on file with tp_comm_overlap on must not say sequence_parallel off
    for e in stack_table().values():
        f = e["features"]
        if f.get("tp_comm_overlap", {}).get("value") is True:
            assert f.get("sequence_parallel", {}).get("value", True) is True


def _topo(chip: str):
    c = get_chip(chip)
    return topology_for(ensure_vector(calibrated_params(c)), c.family)


@pytest.mark.parametrize("g", [2, 4, 8])
def test_sp_tp_collective_is_nccl_ring_reduce_scatter_plus_all_gather(g):
    # Megatron SP runs NCCL ReduceScatter + AllGather of the same S; inside one NVSwitch domain
    # each is a ring of g - 1 steps moving (g - 1)/g S (measured algo Ring, MB-0136/0137)
    topo = _topo("h100-sxm")
    assert topo.nccl
    S = 134e6
    bw = topo.link_bw_for_group(g) * topo.eff_link
    # each at NCCL's ring cost model (tuning.cc, one node): Simple at this size, 8.4 + 3.4 (g-1) us
    ring = 2 * (1e-6 * (8.4 + 3.4 * (g - 1)) + (g - 1) / g * S / bw)
    assert tp_allreduce_time(S, g, topo, True) == pytest.approx(ring, rel=1e-9)
    # without SP the topology's all-reduce (NVLS on an NVSwitch node at g > 2), which is faster here
    assert tp_allreduce_time(S, g, topo, False) == pytest.approx(float(collective_time("all_reduce", S, g, topo)[0]))
    if g > 2:
        assert tp_allreduce_time(S, g, topo, False) < tp_allreduce_time(S, g, topo, True)
    assert tp_allreduce_time(S, 1, topo, True) == 0.0


def test_sp_tp_collective_leaves_other_libraries_alone():
    # a family without NCCL (TPU: XLA collectives) keeps the topology's all-reduce under SP
    c = get_chip("tpu-v5p")
    topo = topology_for(ensure_vector(calibrated_params(c)), c.family)
    assert not topo.nccl
    assert tp_allreduce_time(64e6, 4, topo, True) == pytest.approx(float(collective_time("all_reduce", 64e6, 4, topo)[0]))
