"""DP collectives bucket by bucket (perf/dp_buckets.py) and NCCL's ring latency (perf/nccl_ring.py):
closed forms from Megatron-Core's / Apex's bucket rules and NCCL's tuning model, invariants, bad input."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.topology import Topology
from tapeout.perf import nccl_ring
from tapeout.perf.collectives import collective_time
from tapeout.hardware.memory_capacity import MIB
from tapeout.perf.dp_buckets import (BucketRule, bucket_params, bucket_rule, bucketed_collective_time,
                                     collective_count, group_passes, ring_passes)
from tapeout.perf.train_stack import find_stack, stack_settings


def _pcie(a_in=3e-6, a_out=10e-6) -> Topology:
    # model alpha (no NCCL constants): 8 chips per domain, one 50 GB/s NIC each
    return Topology(wiring="pcie", domain=8, scaleup_bw=450e9, scaleup_latency=a_in, scaleout_bw=50e9,
                    scaleout_latency=a_out, eff_link=0.8)


def _nvlink() -> Topology:
    return Topology(wiring="switch", domain=8, scaleup_bw=450e9, scaleup_latency=3e-6, scaleout_bw=50e9,
                    scaleout_latency=10e-6, eff_link=0.8, nccl=True)


# ---- ring latency: (p - 1) dependent steps per collective --------------------------------------

@given(nodes=st.integers(2, 600))
@settings(max_examples=30, deadline=None)
def test_ring_over_one_rank_per_node_pays_p_minus_1_nic_hops(nodes):
    # one rank per node (stride = domain): every one of the p - 1 steps crosses a NIC
    t = _pcie()
    lat = float(collective_time("reduce_scatter", 0.0, nodes, t, stride=8)[0])
    assert lat == pytest.approx((nodes - 1) * 10e-6, rel=1e-9)
    # NCCL's tuning model, Simple: base 8.4 + (p - 1) x 14 us; LL128: 14 + (p - 1) x 4 us
    assert nccl_ring.ring_latency(nodes, nodes, "simple") == pytest.approx((8.4 + (nodes - 1) * 14.0) * 1e-6)
    assert nccl_ring.ring_latency(nodes, nodes, "ll128") == pytest.approx((14.0 + (nodes - 1) * 4.0) * 1e-6)


@given(per=st.sampled_from([2, 4, 8]), nodes=st.integers(2, 300))
@settings(max_examples=30, deadline=None)
def test_flat_ring_counts_every_rank_not_only_the_nodes(per, nodes):
    # per ranks on each of `nodes` nodes: p - 1 steps, nodes - 1 of them through the NICs
    g = per * nodes
    lat = float(collective_time("all_gather", 0.0, g, _pcie(), stride=8 // per)[0])
    assert lat == pytest.approx((g - nodes) * 3e-6 + (nodes - 1) * 10e-6, rel=1e-9)
    # NCCL (Simple): intraLat = max(3.4, 3 x 1.0 us net overhead) across nodes
    want = (8.4 + (g - nodes) * 3.4 + (nodes - 1) * 14.0) * 1e-6
    assert nccl_ring.ring_latency(g, nodes, "simple") == pytest.approx(want)


def test_nccl_picks_the_protocol_of_least_time():
    # 448 ranks on 224 nodes: LL128 latency 14 + 224 x 1.9 + 223 x 4.0 = 1,331.6 us against Simple's
    # 8.4 + 224 x 3.4 + 223 x 14 = 3,892.0 us; LL128 wins while its 8 % bandwidth loss costs less
    t_ll128 = nccl_ring.ring_latency(448, 224, "ll128")
    t_simple = nccl_ring.ring_latency(448, 224, "simple")
    assert t_ll128 == pytest.approx(1331.6e-6) and t_simple == pytest.approx(3892.0e-6)
    small, big = 1e-3, 1.0  # Simple bandwidth times (s)
    t, p = nccl_ring.ring_time(small, 448, 224)
    assert p == "ll128" and float(t) == pytest.approx(t_ll128 + small / 0.92)
    t, p = nccl_ring.ring_time(big, 448, 224)
    assert p == "simple" and float(t) == pytest.approx(t_simple + big)
    # one rank per node: LL128 at 0.7 of the bandwidth (tuning.cc: same GPU sends and receives via the NIC)
    assert nccl_ring.bw_share("ll128", 1) == 0.7 and nccl_ring.bw_share("ll128", 2) == 0.92


# ---- bucket counts from the stacks' rules --------------------------------------------------------

def test_megatron_bucket_is_40m_or_1m_per_dp_rank():
    r = BucketRule("megatron")
    assert bucket_params(r, 16, 4.0) == 40e6  # max(40M, 16M)
    assert bucket_params(r, 128, 4.0) == 128e6
    assert bucket_params(r, 256, 2.0) == 256e6  # parameters, whatever the grad dtype
    # 5e9 parameters, DP 128, no virtual stages: ceil(5e9 / 128e6) = 40 collectives
    assert collective_count(5e9, 1, r, 128, 4.0) == 40
    # four chunks: only the first is bucketed (get_model disable_bucketing=(model_chunk_idx > 0))
    assert collective_count(5e9, 4, r, 128, 4.0) == math.ceil(1.25e9 / 128e6) + 3


def test_apex_bucket_is_cap_megabytes_of_the_grad_dtype():
    r = BucketRule("apex", 100.0)
    assert bucket_params(r, 336, 2.0) == 1024 * 1024 * 100 / 2  # 52,428,800 bf16 gradients
    assert bucket_params(r, 336, 4.0) == 1024 * 1024 * 100 / 4
    # GPT-3 175B on TP4 PP8: 5.47e9 parameters per chip in 6 chunks of 0.91e9 -> 18 buckets each
    assert collective_count(5.47e9, 6, r, 336, 2.0) == 6 * math.ceil(5.47e9 / 6 / 52428800)
    assert collective_count(0.0, 6, r, 336, 2.0) == 0


@given(S=st.floats(1e6, 1e10), n=st.integers(1, 200), g=st.sampled_from([16, 64, 336]))
@settings(max_examples=40, deadline=None)
def test_n_buckets_cost_the_single_collective_plus_n_minus_1_latencies(S, n, g):
    t = _pcie()
    one = float(collective_time("reduce_scatter", S, g, t, stride=4)[0])
    lat = float(collective_time("reduce_scatter", 0.0, g, t, stride=4)[0])
    got = bucketed_collective_time("reduce_scatter", S, n, g, t, stride=4)
    assert got == pytest.approx(one + (n - 1) * lat, rel=1e-9)
    # with NCCL's protocol choice, more buckets are never faster
    nv = _nvlink()
    assert bucketed_collective_time("all_gather", S, n + 1, g, nv, stride=4) >= \
        bucketed_collective_time("all_gather", S, n, g, nv, stride=4) * (1 - 1e-12)


def test_train_pays_more_for_smaller_buckets():
    from tapeout.perf.training import TrainLayout, train

    lay = TrainLayout(tp=4, pp=4, dp=8, vp=1, zero=1)
    kw = dict(layout=lay)
    t = [train("llama-2-70b", "h100-sxm", 128, 128 * 4096, 4096, dp_bucket={"kind": "apex", "cap_mb": c}, **kw)
         .breakdown["t_dp"] for c in (1e6, 100.0, 10.0)]
    assert t[0] < t[1] < t[2]


# ---- bad input and the stacks ----------------------------------------------------------------------

def test_bad_rules_name_the_field():
    with pytest.raises(TapeoutError, match="bucket rule 'deepspeed'"):
        BucketRule("deepspeed")
    with pytest.raises(TapeoutError, match="cap_mb"):
        bucket_rule({"kind": "apex", "cap_mb": -5})
    with pytest.raises(TapeoutError, match="not a rule"):
        bucket_rule(42)
    assert bucket_rule(None) == BucketRule("megatron")
    from tapeout.perf.training import train

    with pytest.raises(TapeoutError, match="DP bucket rule"):
        train("llama-3.1-8b", "h100-sxm", 8, 8 * 4096, 4096, dp_bucket="zero-bubble")


@pytest.mark.parametrize("software, rnd", [("NeMo Megatron Release 23.04", "v3.0"),
                                           ("NeMo Framework Release 23.09", "v3.1"),
                                           ("NeMo Framework Release 24.04", "v4.0")])
def test_nvidia_gpt3_stacks_run_apex_100mb_buckets(software, rnd):
    st_ = find_stack(software, rnd)
    _, settings_, _ = stack_settings(st_, {}, {}, False)
    r = bucket_rule(settings_["dp_bucket"])
    assert (r.kind, r.cap_mb) == ("apex", 100.0)


@pytest.mark.parametrize("software, rnd, channels, group", [
    ("NeMo Megatron Release 23.04", "v3.0", 1, "per_op"),  # no channel count on file: buckets one after another
    ("NeMo Framework Release 23.09", "v3.1", 8, "per_op"),  # DP CTA cap 8; NGC 23.09 predates NCCL 2.19
    ("NeMo Framework Release 24.04", "v4.0", 4, "balanced")])  # NCCL 2.19-2.21; 4 channels assumed
def test_nvidia_gpt3_stacks_state_their_bucket_group(software, rnd, channels, group):
    _, settings_, _ = stack_settings(find_stack(software, rnd), {}, {}, False)
    r = bucket_rule(settings_["dp_bucket"])
    assert (r.channels, r.nccl_group) == (channels, group)


# ---- a chunk's coalesced Apex group: ring passes of its busiest channel ---------------------------

BUCKET_BF16 = 100 * MIB  # an Apex 100 MB bucket of bf16 gradients / parameters, in bytes


@pytest.mark.parametrize("n, C, want", [
    (18, 4, 5),  # 4.5 buckets per channel: ranges [0, 4.5) and [4.5, 9) each meet 5 buckets
    (18, 8, 3),  # 2.25 per channel: [0, 2.25) meets 3
    (16, 8, 2),  # boundaries on bucket edges: 2 each
    (9, 8, 2),   # [0, 1.125) meets buckets 0 and 1
    (8, 8, 1),
    (2, 8, 1),   # each bucket spread over 4 channels, none meets two
    (3, 4, 2),   # [0.75, 1.5) meets buckets 0 and 1
])
def test_balanced_group_passes_closed_form(n, C, want):
    assert group_passes(n, BUCKET_BF16, 448, BucketRule("apex", channels=C, nccl_group="balanced")) == want


@pytest.mark.parametrize("n, C, ranks, want", [
    (9, 8, 336, 5),   # 100 MiB over DIVUP(100 MiB, 2 MiB x 16) = 4 of 8 channels: ceil(9 x 4 / 8)
    (9, 4, 336, 9),   # 4 channels: every bucket on all of them, one after another
    (18, 8, 448, 9),  # 18 x 4 / 8
    (9, 8, 4, 9),     # 4 ranks: 8 MiB per channel, 13 channels wanted, all 8 taken by each bucket
    (1, 8, 336, 1),
])
def test_per_op_group_passes_closed_form(n, C, ranks, want):
    assert group_passes(n, BUCKET_BF16, ranks, BucketRule("apex", channels=C, nccl_group="per_op")) == want


@given(n=st.integers(1, 300), C=st.integers(1, 64), sched=st.sampled_from(["per_op", "balanced"]),
       b=st.floats(1e5, 1e9), ranks=st.integers(2, 1024))
@settings(max_examples=200, deadline=None)
def test_group_passes_bounds(n, C, sched, b, ranks):
    got = group_passes(n, b, ranks, BucketRule("apex", channels=C, nccl_group=sched))
    # no channel can run less than its share of the buckets, nor more than all of them
    assert math.ceil(n / C) <= got <= n
    if sched == "balanced":  # a byte range of n / C buckets meets at most one bucket more
        assert got <= math.ceil(n / C) + 1
    assert group_passes(n, b, ranks, BucketRule("apex", channels=1, nccl_group=sched)) == n


def test_ring_passes_keeps_megatron_and_single_channel_buckets():
    P, gb = 7.4e9, 2.0
    for rule in (BucketRule("megatron"), BucketRule("apex"), BucketRule("apex", channels=1, nccl_group="balanced"),
                 BucketRule("megatron", channels=8, nccl_group="balanced")):  # Megatron-Core DDP: no group
        assert ring_passes(P, 8, rule, 448, gb, gb, 448) == collective_count(P, 8, rule, 448, gb)
    # apex over 4 balanced channels: 8 chunks x 5 passes for 18 buckets each
    per_chunk = math.ceil(P / 8 / (100 * MIB / gb))
    assert per_chunk == 18
    assert ring_passes(P, 8, BucketRule("apex", channels=4, nccl_group="balanced"), 448, gb, gb, 448) == 8 * 5


def test_coalesced_group_saves_exactly_the_skipped_ring_latencies():
    # n x t(S / n) = t_bw(S) + n x latency: passes p < n save (n - p) NCCL ring latencies of the protocol run
    nv = _nvlink()
    S, g, n, p = 14.8e9, 448, 144, 40
    t_n = bucketed_collective_time("all_gather", S, n, g, nv, stride=4)
    t_p = bucketed_collective_time("all_gather", S, p, g, nv, stride=4)
    proto = collective_time("all_gather", S / n, g, nv, stride=4)[1].split()[2]
    assert proto == collective_time("all_gather", S / p, g, nv, stride=4)[1].split()[2]
    assert t_n - t_p == pytest.approx((n - p) * nccl_ring.ring_latency(g, g // 2, proto), rel=1e-9)


@pytest.mark.parametrize("spec, match", [
    ({"kind": "apex", "cap_mb": "100MB"}, "cap_mb must be a number"),  # float() would raise a bare ValueError
    ({"kind": "apex", "cap_mb": True}, "cap_mb must be a number"),  # a YAML yes is not 1 MB
    ({"kind": "apex", "cap_MB": 50}, "unknown key.*cap_MB"),  # a misspelt key must not fall back to 100 MB
    ({"kind": "apex", "channels": 0}, "channels must be a whole number"),
    ({"kind": "apex", "channels": 4.5}, "channels must be a whole number"),
    ({"kind": "apex", "channels": True}, "channels must be a whole number"),
    ({"kind": "apex", "nccl_group": "ring"}, "nccl_group 'ring' is not one of"),
])
def test_malformed_stack_bucket_values_are_named_errors(spec, match):
    with pytest.raises(TapeoutError, match=match):
        bucket_rule(spec)
    with pytest.raises(TapeoutError, match="cap_mb must be a number"):
        BucketRule("apex", True)


def test_switch_without_nccl_keeps_per_hop_latency():
    """An NVSwitch-like domain whose collectives do not run on NCCL (HCCL, a vendor library, a never-built
    NPU) pays the topology's own (g - g_out) intra + (g_out - 1) inter hop latencies, not NCCL's constants."""
    from dataclasses import replace

    from tapeout.perf.collectives import collective_time

    t = replace(_nvlink(), nccl=False)
    pc = replace(_nvlink(), wiring="pcie", nccl=False)
    g = 64
    tn, how = collective_time("reduce_scatter", 1e6, g, t)
    tp_, _ = collective_time("reduce_scatter", 1e6, g, pc)
    assert "nccl" not in how
    lat = (g - g // 8) * 3e-6 + (g // 8 - 1) * 10e-6
    assert float(tn) >= lat
    assert "nccl" in collective_time("reduce_scatter", 1e6, g, _nvlink())[1]


def test_nccl_only_for_nvidia_families():
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.collectives import topology_for_chip

    assert topology_for_chip(get_chip("h100-sxm")).nccl
    assert not topology_for_chip(get_chip("mi300x")).nccl
    assert not topology_for_chip(get_chip("ascend-910b")).nccl


# ---- tied word embedding with PP > 1 (NeMo allreduce_first_last_embeddings, last Apex bucket) ---------

def test_tied_embedding_gradient_is_v_over_tp_by_h_only_when_tied_pp_and_trained():
    from tapeout.perf.dp_buckets import tied_embedding_params

    assert tied_embedding_params(True, 8, 50_000, 12_288, 4) == pytest.approx(50_000 * 12_288 / 4)
    assert tied_embedding_params(False, 8, 50_000, 12_288, 4) == 0.0  # two weights: no cross-stage sum
    assert tied_embedding_params(True, 1, 50_000, 12_288, 4) == 0.0  # one copy on the one stage
    assert tied_embedding_params(True, 8, 50_000, 12_288, 4, trained=False) == 0.0  # LoRA: frozen, no grad


def test_only_apex_defers_the_tied_embedding_to_an_exposed_last_bucket():
    from tapeout.perf.dp_buckets import deferred_params, tied_embedding_sync_time

    S_params, gb = 150e6, 2.0
    assert deferred_params(BucketRule("apex"), S_params) == S_params
    assert deferred_params(BucketRule("megatron"), S_params) == 0.0
    t = _nvlink()
    ar_m, rs_m = tied_embedding_sync_time(S_params, BucketRule("megatron"), 64, 4, 256, gb, t, 64)
    ar_a, rs_a = tied_embedding_sync_time(S_params, BucketRule("apex"), 64, 4, 256, gb, t, 64)
    assert rs_m == 0.0 and ar_m == ar_a
    # two ranks on different nodes (stride 256 > domain 8): at least the bytes over one NIC
    assert ar_a >= gb * S_params / 50e9
    # 300 MB of bf16 gradients in 100 MB Apex buckets: ceil(150e6 / 52,428,800) = 3 reduce-scatters
    n = math.ceil(S_params / (1024 * 1024 * 100 / gb))
    assert n == 3
    assert rs_a == pytest.approx(bucketed_collective_time("reduce_scatter", gb * S_params, n, 64, t, stride=4))
    assert tied_embedding_sync_time(0.0, BucketRule("apex"), 64, 4, 256, gb, t, 64) == (0.0, 0.0)


def test_train_exposes_the_tied_embedding_sync_with_pipeline_only():
    from tapeout.perf.training import TrainLayout, train

    kw = dict(dp_bucket={"kind": "apex", "cap_mb": 100}, grad_sync="bf16")
    pp = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8",
               layout=TrainLayout(tp=4, pp=8, dp=16, vp=6, zero=1), **kw).breakdown
    assert pp["exposed_comm_s"]["tied_embedding_sync"] > 0
    assert pp["exposed_dp"] >= pp["exposed_comm_s"]["tied_embedding_sync"]
    # Llama ties nothing: no first-last sync at the same pipeline depth
    ll = train("llama-2-70b", "h100-sxm", 128, 128 * 4096, 4096, layout=TrainLayout(tp=4, pp=4, dp=8, zero=1), **kw)
    assert ll.breakdown["exposed_comm_s"]["tied_embedding_sync"] == 0.0


def test_the_embedding_group_spans_first_to_last_stage_not_neighbours():
    # Megatron rank order puts PP outermost: stage k starts at k x TP x CP x DP, so the embedding
    # group {first stage, last stage} is (PP - 1) x TP x CP x DP ranks apart
    from tapeout.perf.dp_buckets import first_last_stage_stride, tied_embedding_sync_time

    assert first_last_stage_stride(4, 4) == 12
    assert first_last_stage_stride(64, 2) == 64  # two stages: neighbours are first and last
    t, gb, S = _nvlink(), 2.0, 150e6
    # TP2 DP2 PP4 on 8-GPU nodes: stages start at ranks 0, 4, 8, 12; neighbours 0 and 4 share a
    # node, the first and last stage (0 and 12) do not
    assert t.split(2, 4) == (2, 1) and t.split(2, first_last_stage_stride(4, 4)) == (1, 2)
    ar, _ = tied_embedding_sync_time(S, BucketRule("megatron"), 2, 2, first_last_stage_stride(4, 4), gb, t, 2)
    far, _ = tied_embedding_sync_time(S, BucketRule("megatron"), 2, 2, 64, gb, t, 2)
    near, _ = tied_embedding_sync_time(S, BucketRule("megatron"), 2, 2, 4, gb, t, 2)
    assert ar == pytest.approx(far) and near < far


def test_the_deferred_tied_weight_is_still_gathered_with_the_other_parameters():
    # Apex DistributedFusedAdam defers only the tied weight's gradient sync (`_disable_overlap_grad_sync`
    # is read by the grad-sync hook); after the step it all-gathers every bucket's parameters, the last
    # bucket's too. So the head stage's DP all-gather moves the same V/TP x h parameters whether the
    # weight is tied (deferred reduce-scatter) or a separate output layer (overlapped like the rest).
    from tapeout.perf.training import TrainLayout, train
    from tapeout.workloads.llm_config import load_llm

    cfg = load_llm("gpt3-175b")
    assert cfg.tie_word_embeddings
    kw = dict(layout=TrainLayout(tp=4, pp=8, dp=16, vp=6, zero=1), dp_bucket={"kind": "apex", "cap_mb": 100},
              grad_sync="bf16")
    tied = train(cfg, "h100-sxm", 512, 1536 * 2048, 2048, "fp8", **kw).breakdown
    untied = train(cfg.model_copy(update={"tie_word_embeddings": False}), "h100-sxm", 512, 1536 * 2048, 2048, "fp8", **kw).breakdown
    assert tied["slowest_device"] == untied["slowest_device"] == 7  # the head stage holds the weight
    assert tied["exposed_comm_s"]["tied_embedding_sync"] > 0 == untied["exposed_comm_s"]["tied_embedding_sync"]
    assert tied["t_dp_all_gather"] == pytest.approx(untied["t_dp_all_gather"], rel=1e-12)


def test_train_prices_the_v40_chunk_groups_by_their_passes():
    """GPT-3 175B at the v4.0 10,752-chip layout (TP4 PP6 VP8 DP448, bf16 gradients): the last stage holds
    16 layers x 12 h^2 / TP + the V / TP x h output layer = 7.4e9 parameters, 8 chunks of 925M = 18 buckets
    of 100 MiB / 2 B (52.4M); its reduce-scatter leaves the tied output layer to the optimizer step
    (7.25e9: 906M, 18 buckets too). Four balanced channels run 5 passes of 18 (test above): the step's DP
    time drops by 2 kinds x 8 chunks x 13 ring latencies of a 448-rank ring on 224 nodes."""
    from tapeout.perf.training import TrainLayout, train

    lay = TrainLayout(tp=4, pp=6, dp=448, vp=8, mbs=1, zero=1)
    t = {}
    for C, sched in ((1, "per_op"), (4, "balanced")):
        r = train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", layout=lay, grad_sync="bf16",
                  dp_bucket={"kind": "apex", "cap_mb": 100, "channels": C, "nccl_group": sched})
        assert r.breakdown["slowest_device"] == 5  # the last stage: the output layer on top of its 16 layers
        t[C] = r.breakdown["t_dp"]
        note = [n for n in r.notes if n.startswith("DP buckets:")]
        if C == 1:
            assert not note  # nothing to show: the buckets already run one after another
        else:  # the assumed channel count is shown with what the serial buckets would cost
            assert len(note) == 1 and "over 4 channels laid out balanced" in note[0]
            assert float(note[0].rsplit("step ", 1)[1].rstrip("%")) > 0
    lat = nccl_ring.ring_latency(448, 224, "ll128")  # the protocol NCCL's model picks for a 100 MiB bucket
    assert (t[1] - t[4]) / lat == pytest.approx(2 * 8 * (18 - 5), rel=1e-9)
