"""The weight update of the non-LLM MLPerf Training benchmarks (perf/weight_update.py, other_benchmarks.yaml
weight_update; issue 18, round stop-32): bytes per parameter of each optimizer in closed form, invariance to
the batch, growth with the parameter count, sharding, frozen parameters excluded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.weight_update import bytes_per_param, resolved_spec, shard_group, update_ops, weight_update_s
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.validation.other_training import BENCHMARKS, optimizer_s, training_time
from tapeout.workloads import vision

P = calibrated_params(get_chip("h100-sxm"))


@pytest.mark.parametrize("bench, expected", [
    # MXNet LARS, fp16 weights + fp32 master: norms (w16 + g16) + update (r g16, mom, master; w w16, mom, master)
    ("resnet", (2 + 2) + (2 + 4 + 4) + (2 + 4 + 4)),
    # apex DistributedFusedAdam (NeMo SD recipe): grad-norm (r g16) + (r p32, m, v, g16; w p32, m, v, p16)
    ("stable-diffusion", 2 + (12 + 2) + (12 + 2)),
    # torchtitan fused AdamW on fp32 FSDP shards: clip_grad_norm_ (norm r g, foreach_mul_ r+w g) + 7 x 4
    ("flux1", 4 + 8 + 7 * 4),
    # GradScaler unscale (fp16 g r+w) + apex AdamCapturableFunctor2 (r g16, master, m, v; w g16, p16, master, m, v)
    ("retinanet", 4 + (2 + 12) + (2 + 2 + 12)),
    # DistributedFusedLAMB: compute_update_term 26 + update_weights 14 + l2 norms of u and p 8
    ("bert", 26 + 14 + 8),
    # Adagrad, fp32: r g, p, sum; w p, sum
    ("dlrm-dcnv2", 5 * 4),
    # Adam, fp32: r g, p, m, v; w p, m, v
    ("rgat", 7 * 4),
])
def test_bytes_per_parameter_closed_form(bench, expected):
    assert bytes_per_param(resolved_spec(fact("weight_update", bench))) == expected


def test_every_benchmark_has_a_sourced_update():
    for bench in BENCHMARKS:
        spec = resolved_spec(fact("weight_update", bench))
        assert bytes_per_param(spec) > 0 and spec["shard"] in ("none", "all", "domain")


@settings(max_examples=10, deadline=None)
@given(st.floats(1e6, 1e10), st.floats(1.01, 8.0))
def test_update_grows_with_parameters_and_bytes_bounded_by_peak_bandwidth(params, k):
    spec = resolved_spec(fact("weight_update", "stable-diffusion"))
    t1, tk = weight_update_s(spec, params, P), weight_update_s(spec, k * params, P)
    assert tk > t1
    assert t1 >= params * bytes_per_param(spec) / float(P.mem_bw)  # never above the peak DRAM bandwidth


@pytest.mark.parametrize("bench", ["resnet", "stable-diffusion", "flux1"])
def test_update_does_not_depend_on_batch(bench):
    a = training_time(bench, get_chip("h100-sxm"), 8, 64, None)["optimizer_s"]
    b = training_time(bench, get_chip("h100-sxm"), 8, 512, None)["optimizer_s"]
    assert a == b > 0


def test_sharded_update_divides_by_the_shard_group():
    spec = {"bytes": {"g": 4}, "kernels": [{"reads": ["g"], "writes": ["g"]}], "shard": "domain"}
    assert shard_group(spec, 64, 8) == 8 and shard_group(spec, 4, 8) == 4 and shard_group(spec, 1, 8) == 1
    assert shard_group({**spec, "shard": "all"}, 64, 8) == 64
    assert shard_group({**spec, "shard": "none"}, 64, 8) == 1
    # flux1 (HSDP over the 8-GPU node): the same per-rank update at 8 and at 64 GPUs, 8x less than one GPU's
    chip = get_chip("h100-sxm")
    _, _, dense = training_graphs("flux1", 1)
    one, eight, many = (optimizer_s("flux1", chip, P, n, dense) for n in (1, 8, 64))
    assert eight == many and eight < one / 4


def test_frozen_parameters_are_not_updated():
    # RetinaNet: conv1 and layer1 frozen (retinanet_train.frozen_prefix): the update covers only the trained
    # graph's weights, fewer than the whole detector's
    _, _, trained = training_graphs("retinanet", 2)
    full = float(vision.retinanet_graph(2, 800, "bf16").meta["weight_bytes"])
    assert trained < full
    chip = get_chip("h100-sxm")
    assert optimizer_s("retinanet", chip, P, 8, trained) < optimizer_s("retinanet", chip, P, 8, full)
    # Stable Diffusion: the UNet only (~865 M parameters; OpenCLIP and the VAE frozen and not in the graph)
    _, _, unet = training_graphs("stable-diffusion", 1)
    assert 0.8e9 < unet / 2 < 0.9e9


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 2000))
def test_one_launch_per_full_multi_tensor_chunk_table(chunks):
    # apex / PyTorch multi_tensor_apply: 320 blocks x 65,536-element chunks per launch
    spec = fact("weight_update", "flux1")
    assert spec["launch_elems"] == 320 * 65536
    params = chunks * 65536.0
    for op in update_ops(spec, params):
        assert op.count == -(-chunks // 320)  # ceil
        assert op.elems * op.count == pytest.approx(params, rel=1e-12)
    # the launches' per-kernel time is on top of the bytes: more kernels, never less time
    one = {**spec, "launch_elems": None}
    assert weight_update_s(spec, params, P) >= weight_update_s(one, params, P)


def test_tpu_rows_shard_the_update_over_every_replica():
    # Xu et al. 2020 (XLA cross-replica weight-update sharding): a TPU runs 1/n of the update; a GPU row of
    # ResNet (MXNet LARS, replicated) does not divide it
    assert "Google" in fact("weight_update_sharding", "vendors")
    tpu, gpu = get_chip("tpu-v4"), get_chip("h100-sxm")
    p_tpu = calibrated_params(tpu)
    _, _, dense = training_graphs("resnet", 1)
    one = optimizer_s("resnet", tpu, p_tpu, 1, dense)
    assert optimizer_s("resnet", tpu, p_tpu, 64, dense) < one / 8  # bytes / 64, plus the kernels' fixed time
    assert optimizer_s("resnet", gpu, P, 64, dense) == optimizer_s("resnet", gpu, P, 1, dense)
