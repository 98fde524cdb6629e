"""NCCL's ring reduce-scatter / all-gather across nodes: the latency of each protocol and the
protocol NCCL runs.

Across nodes NCCL runs reduce-scatter and all-gather as one ring over all ranks (no tree for them;
CollNet / NVLS need SHARP switches, PAT from NCCL 2.23 only at one rank per node). Its cost model
(NCCL src/graph/tuning.cc, ncclTopoTuneModel; the 2.19-2.21 releases of the NGC PyTorch 23.09-24.04
containers; the ring rows below are unchanged in the later releases read) prices a ring of nRanks
ranks on nNodes nodes, per protocol p:

    latency_p = baseLat[ring][p] + (nsteps - nInterSteps) max(intraLat_p, netOverhead_p)
                + nInterSteps interLat_p,     nsteps = nRanks - 1, nInterSteps = nNodes - 1
    time_p    = latency_p + bytes / (busBw_p x nRanks / nsteps)

and runs the protocol of least time (ncclTopoGetAlgoTime). Latencies (us):
    baseLat ring        LL 6.6   LL128 14.0   Simple 8.4
    hwLat NVLink ring   LL 0.6   LL128 1.9    Simple 3.4
    hwLat NET ring      LL 2.7   LL128 4.0    Simple 14.0
    netOverhead         1.0 on an Intel x86 host (2.0 AMD), x3 for Simple
Bandwidth relative to Simple (ring, multi-node): LL128 0.92 (0.7 when a node holds one rank of the
ring: "sending/receiving at the same GPU through the NIC"), LL 1/4.
The bandwidth term itself stays the model's (Simple) `t_bw`; only the latency and the protocol's
bandwidth share come from NCCL.
"""

from __future__ import annotations

import numpy as np

US = 1e-6
PROTOCOLS = ("ll", "ll128", "simple")
BASE_LAT_US = {"ll": 6.6, "ll128": 14.0, "simple": 8.4}  # tuning.cc baseLat[NCCL_ALGO_RING]
INTRA_LAT_US = {"ll": 0.6, "ll128": 1.9, "simple": 3.4}  # hwLat[NCCL_HW_NVLINK][NCCL_ALGO_RING]
INTER_LAT_US = {"ll": 2.7, "ll128": 4.0, "simple": 14.0}  # hwLat[NCCL_HW_NET][NCCL_ALGO_RING]
NET_OVERHEAD_US = {"ll": 1.0, "ll128": 1.0, "simple": 3.0}  # getNetOverhead (Intel x86: 1 us), x3 for Simple


def bw_share(protocol: str, ranks_per_node: float) -> float:
    """Ring bus bandwidth of `protocol` relative to Simple across nodes (tuning.cc model refinements)."""
    if protocol == "ll128":
        return 0.7 if ranks_per_node < 2 else 0.92
    if protocol == "ll":
        return 0.25
    return 1.0


def ring_latency(ranks: int, nodes: int, protocol: str) -> float:
    """Seconds of NCCL's ring reduce-scatter / all-gather latency over `ranks` ranks on `nodes` nodes."""
    if ranks <= 1:
        return 0.0
    nodes = max(1, min(int(nodes), int(ranks)))
    inter = nodes - 1
    intra = ranks - 1 - inter
    intra_lat = max(INTRA_LAT_US[protocol], NET_OVERHEAD_US[protocol]) if nodes > 1 else INTRA_LAT_US[protocol]
    return (BASE_LAT_US[protocol] + intra * intra_lat + inter * INTER_LAT_US[protocol]) * US


def ring_time(t_bw, ranks: int, nodes: int):
    """(time, protocol) of a ring reduce-scatter / all-gather whose Simple-protocol bandwidth time is
    `t_bw` (array or scalar): the protocol NCCL's cost model picks, per element of t_bw."""
    t_bw = np.asarray(t_bw, dtype=float)
    ppn = ranks / max(1, nodes)
    cand = np.stack([np.broadcast_to(ring_latency(ranks, nodes, p) + t_bw / bw_share(p, ppn), t_bw.shape)
                     for p in PROTOCOLS])
    i = np.argmin(cand, axis=0)
    best = np.take_along_axis(cand, i[None, ...], axis=0)[0]
    return best, PROTOCOLS[int(np.ravel(i)[0])] if np.size(i) else "simple"
