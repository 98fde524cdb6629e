"""Context parallelism's KV exchange is TE's P2P ring (AttnFuncWithCP): cp - 1 steps in which every
rank sends its KV block to the next CP rank; CP ranks sit TP apart in rank order, so a ring longer
than the scale-up domain has scale-out edges and each step waits for one."""

import pytest

from tapeout.perf.collectives import collective_time, topology_for_chip
from tapeout.perf.training import train
from tapeout.workloads.llm_config import load_llm


@pytest.mark.parametrize("tp,cp", [(4, 4), (8, 2), (2, 2), (2, 4)])
def test_ring_is_cp_minus_one_sends_on_the_slowest_edge(tp, cp):
    cfg, seq, chips = load_llm("llama-3.1-8b"), 8192, 64
    r = train("llama-3.1-8b", "h100-sxm", chips, 64 * seq, seq, tp=tp, pp=1, cp=cp, mbs=1, zero=1)
    topo = topology_for_chip("h100-sxm")
    kv = 2 * (seq // cp) * cfg.kv_heads * cfg.hd * 2 / tp  # the rank's K and V block, bf16
    inter = tp * cp > topo.domain  # the ring leaves the 8-GPU node
    nic = collective_time("send_recv", kv, 2, topo, stride=8)[0]
    nvl = collective_time("send_recv", kv, 2, topo, stride=1)[0]
    assert r.breakdown["t_cp_ring"] == pytest.approx((cp - 1) * float(nic if inter else nvl))
