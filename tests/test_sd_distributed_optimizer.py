"""Stable Diffusion's gradient / parameter sync under NeMo's Apex DistributedFusedAdam (issue 18, round stop-33;
other_benchmarks.yaml sd_train.distributed_optimizer, weight_update.stable-diffusion): reduce-scatter of the FP16
gradients over the node group + all-reduce of the shard across nodes, overlapped with the backward; FP16 parameter
all-gather over the node group after the update, exposed; the update on the node-sharded 1/8 of the UNet."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.perf.dp_buckets import bucket_overlap_exposed
from tapeout.perf.fsdp import hsdp_step_collectives, sharded_dp_collectives
from tapeout.perf.weight_update import _llm_specs, bytes_per_param, resolved_spec, weight_update_s
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.validation.other_training import data_parallel_sync_s, optimizer_s, training_time

CHIP = get_chip("h100-sxm")
P = calibrated_params(CHIP)
TOPO = topology_for(P, CHIP.family)
DENSE = training_graphs("stable-diffusion", 1)[2]  # bf16 bytes of the trained UNet
ELEMS = DENSE / 2.0


def test_recipe_runs_the_distributed_optimizer_from_the_llm_stack_spec():
    d = fact("sd_train", "distributed_optimizer")
    assert d["overlap_grad_sync"] is True and d["overlap_param_sync"] is False
    assert d["grad_sync_bytes"] == d["param_sync_bytes"] == 2  # grad_sync_dtype / param_sync_dtype torch.float16
    spec = resolved_spec(fact("weight_update", "stable-diffusion"))
    apex = _llm_specs()["apex-distributed-fused-adam"]["value"]
    assert spec["kernels"] == apex["kernels"] and spec["shard"] == "domain"  # one library, written once
    assert bytes_per_param(spec) == 2 + 14 + 14


def test_one_node_closed_form():
    # 8 GPUs = one node: reduce-scatter + all-gather inside it, no cross-node all-reduce
    t_fwd, t_bwd = 0.1, 0.2
    total, exposed = data_parallel_sync_s("stable-diffusion", P, CHIP.family, 8, DENSE, t_fwd, t_bwd)
    rs = float(collective_time("reduce_scatter", ELEMS * 2, 8, TOPO)[0])
    ag = float(collective_time("all_gather", ELEMS * 2, 8, TOPO)[0])
    assert total == pytest.approx(rs + ag, rel=1e-12)
    # six Apex buckets of 288 MiB (865.9 M FP16 gradients = 1.73 GB): the last one reduced after the backward
    assert exposed == pytest.approx(bucket_overlap_exposed(rs, t_bwd, 6) + ag, rel=1e-12)


def test_many_nodes_add_the_shard_all_reduce_across_nodes():
    gather, reduce = sharded_dp_collectives(ELEMS, 64, 8, TOPO, 2.0, 2.0)
    rs = float(collective_time("reduce_scatter", ELEMS * 2, 8, TOPO)[0])
    ar = float(collective_time("all_reduce", ELEMS * 2 / 8, 8, TOPO, stride=8)[0])
    assert reduce == pytest.approx(rs + ar, rel=1e-12)
    # HSDP's backward is the same reduction plus a second gather (module perf/fsdp.py): one body
    f, b = hsdp_step_collectives(ELEMS, 64, 8, TOPO, 2.0, 2.0)
    assert f == gather and b == pytest.approx(gather + reduce, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([2, 4, 8, 16, 64, 512]), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_exposed_is_the_gather_plus_what_the_backward_does_not_hide(n, t_fwd, t_bwd):
    total, exposed = data_parallel_sync_s("stable-diffusion", P, CHIP.family, n, DENSE, t_fwd, t_bwd)
    g = min(n, TOPO.domain)
    gather, reduce = sharded_dp_collectives(ELEMS, n, g, TOPO, 2.0, 2.0)
    assert gather + reduce / 6 <= exposed + 1e-15 and exposed <= total + 1e-15
    assert exposed == pytest.approx(gather + bucket_overlap_exposed(reduce, t_bwd, 6), rel=1e-12)


def test_step_adds_only_the_exposed_sync_and_the_sharded_update():
    r = training_time("stable-diffusion", CHIP, 64, 1024, None)
    _, exposed = data_parallel_sync_s("stable-diffusion", P, CHIP.family, 64, DENSE, r["fwd_s"], r["bwd_s"])
    assert r["step_s"] == pytest.approx(r["fwd_s"] + r["bwd_s"] + r["once_s"] + exposed + r["optimizer_s"], rel=1e-12)
    # distribute_within_nodes: the Adam state is sharded over the 8-GPU node, at 8 and at 1024 GPUs alike
    spec = resolved_spec(fact("weight_update", "stable-diffusion"))
    assert optimizer_s("stable-diffusion", CHIP, P, 64, DENSE) == optimizer_s("stable-diffusion", CHIP, P, 1024, DENSE)
    assert optimizer_s("stable-diffusion", CHIP, P, 8, DENSE) == pytest.approx(weight_update_s(spec, ELEMS / 8, P))


def _simulated_tail(comm, compute, n):
    """Event by event: bucket k ready at k/n of the compute, collectives in turn on one stream."""
    end = 0.0
    for k in range(1, n + 1):
        end = max(end, compute * k / n) + comm / n
    return end - compute


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-6, 1.0), st.floats(0.0, 1.0), st.integers(1, 64))
def test_bucket_overlap_matches_the_event_schedule(comm, compute, n):
    t = bucket_overlap_exposed(comm, compute, n)
    assert t == pytest.approx(max(0.0, _simulated_tail(comm, compute, n)), rel=1e-9, abs=1e-15)
    assert comm / n - 1e-15 <= t <= comm + 1e-15
    assert bucket_overlap_exposed(comm, compute, 1) == comm  # one bucket: all after the compute
    assert t >= max(0.0, comm - compute) - 1e-15  # never below the unbucketed overlap


def test_sd_gradient_buckets_are_six():
    from tapeout.perf.dp_buckets import BucketRule, collective_count

    d = fact("sd_train", "distributed_optimizer")
    # distributed_fused_adam.yaml: 'bucket_cap_mb: 288  # 865910724*2/1024**2/6, round up to multiple of 32'
    assert collective_count(ELEMS, 1, BucketRule("apex", float(d["bucket_cap_mb"])), 8, 2.0) == 6
