"""EP all-to-all under group-limited routing and node forwarding (perf/moe.expected_nodes_per_token,
perf/collectives.node_forwarded_all_to_all, stack setting ep_node_forwarding)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.perf.collectives import collective_time, node_forwarded_all_to_all, topology_for_chip
from tapeout.perf.moe import expected_nodes_per_token
from tapeout.workloads.llm_config import load_llm

NODES = st.sampled_from([1, 2, 4, 8, 16, 32])


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 16), N=NODES, G=st.sampled_from([None, 4, 8, 16]), M=st.integers(1, 16))
def test_expected_nodes_bounds_and_monotone(k, N, G, M):
    E = 256
    M = min(M, G) if G else None
    f = expected_nodes_per_token(k, E, N, G, M)
    cap = min(k, N)
    if G and M < G and (G % N == 0 or N % G == 0):
        cap = min(cap, M * max(1, N // G))  # a token reaches only the nodes of its topk_group groups
    assert 0.0 < f <= cap + 1e-9
    assert expected_nodes_per_token(min(k + 1, 16), E, N, G, M) >= f - 1e-9  # more experts: no fewer nodes
    if N < 32:
        assert expected_nodes_per_token(k, E, 2 * N, G, M) >= f - 1e-9  # more nodes: no fewer reached
    assert f <= expected_nodes_per_token(k, E, N) + 1e-9  # the group limit never spreads a token wider


def test_expected_nodes_closed_forms():
    # no limit: N (1 - C(E - E/N, k) / C(E, k)) (hypergeometric); with replacement ~ N (1 - (1 - 1/N)^k)
    exact = 8 * (1 - math.comb(224, 8) / math.comb(256, 8))
    assert expected_nodes_per_token(8, 256, 8) == pytest.approx(exact)
    assert expected_nodes_per_token(8, 256, 8) == pytest.approx(8 * (1 - (7 / 8) ** 8), rel=0.02)
    # topk_group = n_group is no limit
    assert expected_nodes_per_token(8, 256, 8, 8, 8) == pytest.approx(exact)
    # DeepSeek-V3 over 8 nodes (a group is a node): 4 groups of 32 experts, k = 8 from their 128
    assert expected_nodes_per_token(8, 256, 8, 8, 4) == pytest.approx(4 * (1 - math.comb(96, 8) / math.comb(128, 8)))
    assert expected_nodes_per_token(1, 256, 8, 8, 4) == pytest.approx(1.0)  # one expert: one node
    assert expected_nodes_per_token(8, 256, 1, 8, 4) == 1.0


def test_config_reads_group_limit():
    v3 = load_llm("deepseek-v3")
    assert (v3.n_group, v3.topk_group) == (8, 4)
    mix = load_llm("mixtral-8x7b")
    assert mix.n_group is None and mix.topk_group is None


def test_forwarded_bytes_at_most_plain_and_group_limit_helps():
    topo = topology_for_chip("h800-sxm")
    S, g, k = 64e6, 64, 8
    plain = float(collective_time("all_to_all", S, g, topo)[0])
    free = float(node_forwarded_all_to_all(S, g, topo, expected_nodes_per_token(k, 256, 8),
                                           expected_nodes_per_token(k, 256, 64), k)[0])
    limited = float(node_forwarded_all_to_all(S, g, topo, expected_nodes_per_token(k, 256, 8, 8, 4),
                                              expected_nodes_per_token(k, 256, 64, 8, 4), k)[0])
    assert limited <= free <= plain
    # scale-out bound: the NIC leg is S/k x remote nodes = S/k x E[nodes] (N-1)/N
    nic = S / k * expected_nodes_per_token(k, 256, 8, 8, 4) * 7 / 8
    t_x = topo.scaleout_latency + nic / (topo.scaleout_bw * topo.eff_link)
    assert limited >= t_x - 1e-12
    # one node: the plain all-to-all whatever the routing
    assert float(node_forwarded_all_to_all(S, 8, topo, 1.0, 5.0, k)[0]) == float(collective_time("all_to_all", S, 8, topo)[0])


def test_switch_off_unchanged_and_on_cuts_a2a():
    from tapeout.perf.training import train

    kw = dict(seq_len=4096, precision="fp8", tp=1, pp=16, ep=64, cp=1)
    base = train("deepseek-v3", "h800-sxm", 1024, 1024 * 4096 * 4, **kw)
    off = train("deepseek-v3", "h800-sxm", 1024, 1024 * 4096 * 4, ep_node_forwarding=False, **kw)
    on = train("deepseek-v3", "h800-sxm", 1024, 1024 * 4096 * 4, ep_node_forwarding=True, **kw)
    assert off.step_time_s == base.step_time_s
    assert on.breakdown["exposed_comm_s"]["ep_all_to_all"] < base.breakdown["exposed_comm_s"]["ep_all_to_all"]


def test_fp8_dispatch_moves_about_half_the_bytes():
    from tapeout.perf.stack_features import StackFeatures
    from tapeout.perf.training import _Fwd
    from tapeout.ops import Collective
    from tapeout.perf.calibration import calibrated_params
    from tapeout.hardware import get_chip
    from tapeout.precision import Precision

    topo = topology_for_chip("h800-sxm")
    cfg = load_llm("deepseek-v3")
    pr = Precision("fp8", "fp8", "bf16", "bf16", "fp8")  # the training GEMM policy (perf/training._train)
    disp = Collective(name="moe_dispatch_a2a", collective="all_to_all", payload_bytes=8e6 * pr.act_bytes, group=8)
    comb = Collective(name="moe_combine_a2a", collective="all_to_all", payload_bytes=8e6 * pr.act_bytes, group=8)
    fwd = {f: _Fwd(cfg, calibrated_params(get_chip("h800-sxm")), pr, topo, StackFeatures(ep_fp8_dispatch=f)) for f in (False, True)}
    # inside one NVLink domain the plain all-to-all: bandwidth-bound at 8 MB, so the time follows the bytes
    assert fwd[True]._ep_a2a(comb, cfg, pr) == fwd[False]._ep_a2a(comb, cfg, pr)  # combine stays BF16
    t_fp8, t_bf16 = fwd[True]._ep_a2a(disp, cfg, pr), fwd[False]._ep_a2a(disp, cfg, pr)
    lat = topo.scaleup_latency
    assert (t_fp8 - lat) / (t_bf16 - lat) == pytest.approx((1 + 4 / 128) / pr.act_bytes, rel=1e-6)
