"""Backward pass of the non-LLM training mappers (perf/train_backward.py): gradient GEMM shapes,
FLOPs and bytes by hand, the no-input-gradient rule, attention and elementwise backward rules."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul, OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_backward import ATTN_BWD_FLOPS, attention_backward_time, backward_time, gradient_gemms
from tapeout.validation.other_rows import TRAIN_BENCH, fact, training_graphs
from tapeout.workloads.blocks import ConvMatMul, as_precision, conv2d, eltwise, transformer_block


@pytest.fixture(scope="module")
def a100():
    return calibrated_params(get_chip("a100-sxm"))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 8), cin=st.sampled_from([4, 8, 64, 256]), cout=st.sampled_from([8, 64, 256, 2376]),
       hw=st.sampled_from([7, 13, 50, 100]), k=st.sampled_from([1, 3, 7]), stride=st.sampled_from([1, 2]),
       groups=st.sampled_from([1, 4]))
def test_conv_gradient_gemms_by_hand(n, cin, cout, hw, k, stride, groups):
    if cout % groups:
        cout *= groups
    op, ho, wo = conv2d("c", n, cin, cout, hw, hw, k, as_precision("bf16"), stride=stride, groups=groups)
    d, w = gradient_gemms(op)
    # dgrad: dy convolved with the flipped filter -> C_in/g outputs over C_out/g x k^2 reduction
    assert (d.m, d.n, d.k, d.groups) == (n * ho * wo, cin // groups, cout // groups * k * k, groups)
    # wgrad: dW (C_in/g k^2 x C_out/g) reduced over every output position of the batch
    assert (w.m, w.n, w.k, w.groups) == (cin // groups * k * k, cout // groups, n * ho * wo, groups)
    assert d.flops == w.flops == op.flops == 2 * n * ho * wo * cout * cin // groups * k * k
    # implicit GEMM reads each tensor once: dy (n ho wo cout) for dgrad, x (n cin h w) for wgrad
    assert d.input_bytes == 2 * n * ho * wo * cout
    assert w.input_bytes == 2 * n * cin * hw * hw
    # dx has the input's shape (DGRAD_WRITES_INPUT_SHAPE): n cin h w elements, stride^2 x the GEMM's m x n
    assert d.output_bytes == 2 * n * cin * hw * hw
    assert [g.name for g in gradient_gemms(op, input_grad=False)] == ["c.wgrad"]


@given(m=st.integers(1, 4096), n=st.integers(1, 4096), k=st.integers(1, 4096), b=st.integers(1, 8))
def test_linear_gradient_gemms(m, n, k, b):
    op = MatMul(name="fc", m=m, n=n, k=k, batch=b)
    d, w = gradient_gemms(op)
    assert (d.m, d.n, d.k, d.batch) == (m, k, n, b)
    assert (w.m, w.n, w.k, w.batch) == (k, n, m * b, 1)  # shared weight: one gradient over the batch
    assert d.flops == w.flops == op.flops
    pair = MatMul(name="bmm", m=m, n=n, k=k, batch=b, shared_weight=False)
    assert gradient_gemms(pair)[1].batch == b and gradient_gemms(pair)[1].flops == pair.flops


def test_taps_must_divide_k():
    with pytest.raises(TapeoutError, match="taps"):
        ConvMatMul(name="bad", m=4, n=8, k=10, taps=9)


def test_elementwise_backward_is_twice_forward(a100):
    pr = as_precision("bf16")
    g = OpGraph("e", [eltwise("relu", 1e8, pr, 1), eltwise("add", 3e7, pr, 1, reads=2)])
    assert backward_time(g, a100) == pytest.approx(2 * float(evaluate(g, a100).total_time), rel=1e-12)


def test_linear_backward_is_the_llm_engine_rule(a100):
    g = OpGraph("l", [MatMul(name="fc1", m=4096, n=1024, k=1024), MatMul(name="fc2", m=4096, n=4096, k=1024)])
    per = [float(evaluate(OpGraph("x", [o]), a100).total_time) for o in g.ops]
    assert backward_time(g, a100) == pytest.approx(2 * sum(per), rel=1e-12)  # dgrad + wgrad
    assert backward_time(g, a100, ("fc1",)) == pytest.approx(per[0] + 2 * per[1], rel=1e-12)  # wgrad only


def test_attention_backward_rule(a100):
    ops = [o for o in transformer_block("t", 8, 4096, 320, 5, 1280, as_precision("bf16")) if o.kind == "attention"]
    g = OpGraph("a", ops)
    t_f = float(evaluate(g, a100).total_time)
    assert backward_time(g, a100) == pytest.approx(ATTN_BWD_FLOPS * t_f * float(a100.attn_bwd_factor), rel=1e-12)
    assert float(attention_backward_time(1.0, a100)) == pytest.approx(2.5 * float(a100.attn_bwd_factor))


def test_no_input_grad_only_removes_dgrad(a100):
    g, _, _ = training_graphs("retinanet", 4)
    full = backward_time(g, a100)
    skip = backward_time(g, a100, ("bb.s2b1.*",))
    first = [o for o in g.ops if o.name.startswith("bb.s2b1.")]
    dgrads = OpGraph("d", [gradient_gemms(o)[0] for o in first if o.kind == "matmul"])
    assert full - skip == pytest.approx(float(evaluate(dgrads, a100).total_time), rel=1e-9)


def test_no_input_grad_patterns_name_real_ops():
    for bench in TRAIN_BENCH.values():
        g, _, _ = training_graphs(bench, 4)
        names = [o.name for o in g.ops if o.kind == "matmul"]
        from fnmatch import fnmatchcase

        for pat in fact("train_no_input_grad", bench):
            assert any(fnmatchcase(nm, pat) for nm in names), (bench, pat)


@pytest.mark.parametrize("bench", ["retinanet", "resnet", "stable-diffusion"])
def test_backward_grows_with_batch(bench, a100):
    nig = tuple(fact("train_no_input_grad", bench))
    t = [backward_time(training_graphs(bench, b)[0], a100, nig) for b in (1, 2, 4, 8)]
    assert all(x < y for x, y in zip(t, t[1:]))


def test_training_step_closed_form():
    from tapeout.validation.other_rows import map_training

    row = {"workload": "MLPerf Training v3.1 ssd", "category": "mlperf-train", "accelerator": "NVIDIA H100-SXM5-80GB",
           "n_accelerators": "8", "notes": "global_batch_size=256 epoch_num=4"}
    d = map_training(row).detail
    # RetinaNet adds the backward's passes over the head outputs and the weight update (tests/test_retinanet_step_terms.py)
    bwd = d["bwd_s"] + d["head_grad_s"]
    assert d["step_s"] == pytest.approx(d["fwd_s"] + bwd + d["once_s"] + max(0.0, d["allreduce_s"] - bwd) + d["optimizer_s"])
    assert d["bwd_s"] > 1.5 * d["fwd_s"]  # two gradient GEMMs per trained GEMM (first layer: one)
    assert math.isfinite(d["step_s"])


def test_retinanet_head_runs_per_level():
    from tapeout.workloads.vision import retinanet_graph

    n = 2
    g = retinanet_graph(n, 800, "bf16")
    levels = [100, 50, 25, 13, 7]  # P3..P7 of an 800 px image (FPN strides 8..128, P6/P7 by stride-2 3x3 convs)
    assert sum(h * h for h in levels) * 9 == 120_087  # anchors per image
    heads = [o for o in g.ops if o.name.startswith("head.")]
    assert sorted({o.m for o in heads}) == sorted(n * h * h for h in levels)
    per_pos = 2 * 2304 * (2 * 4 * 256 + 9 * 264 + 9 * 4)  # 4+4 shared 3x3 convs, class and box outputs
    assert sum(o.flops * o.count for o in heads) == n * 13_343 * per_pos
    # weights shared across levels are counted once: 2 x 4 x (256 x 2304) + 2304 x (2376 + 36), bf16
    head_w = 2 * (2 * 4 * 256 * 2304 + 2304 * (2376 + 36))
    no_head = sum(o.weight_bytes * o.count for o in g.ops if o.kind == "matmul" and not o.name.startswith("head."))
    assert g.meta["weight_bytes"] == no_head + head_w


def test_training_allreduce_is_the_collective_engine():
    from tapeout.perf.collectives import collective_time, topology_for
    from tapeout.validation.other_rows import map_training

    chip = get_chip("h100-sxm")
    topo = topology_for(calibrated_params(chip), chip.family)
    t = {}
    for n in (8, 512, 4096):
        row = {"workload": "MLPerf Training v3.1 resnet", "category": "mlperf-train", "accelerator": "NVIDIA H100-SXM5-80GB",
               "n_accelerators": str(n), "notes": f"global_batch_size={16 * n} epoch_num=40"}
        d = map_training(row).detail
        dense = training_graphs("resnet", 16)[2]
        assert d["allreduce_s"] == pytest.approx(float(collective_time("all_reduce", dense, n, topo)[0]), rel=1e-12)
        t[n] = d["allreduce_s"]
    # hierarchical: inside the 8-GPU node, then a tree over nodes: 8x the nodes adds latency steps
    # (log2), not 8x the time of a flat ring
    assert t[8] < t[512] < t[4096] < 2 * t[512]


def test_stable_diffusion_allreduce_is_exposed_without_the_distributed_optimizer(monkeypatch):
    # NeMo without distributed Adam (USE_DIST_OPTIMIZER False): ddp_overlap False, the all-reduce after the backward
    from tapeout.validation import other_training
    from tapeout.validation.other_rows import map_training

    real = other_training.fact
    monkeypatch.setattr(other_training, "fact",
                        lambda b, k: None if (b, k) == ("sd_train", "distributed_optimizer") else real(b, k))
    row = {"workload": "MLPerf Training v4.0 stable_diffusion", "category": "mlperf-train",
           "accelerator": "NVIDIA H100-SXM5-80GB", "n_accelerators": "64", "notes": "global_batch_size=1024 samples_count=5000000"}
    d = map_training(row).detail
    assert fact("sd_train", "allreduce_overlapped") is False
    assert d["step_s"] == pytest.approx(d["fwd_s"] + d["bwd_s"] + d["once_s"] + d["allreduce_s"] + d["optimizer_s"])  # NeMo ddp_overlap False
