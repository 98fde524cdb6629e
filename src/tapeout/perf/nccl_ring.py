"""NCCL's ring reduce-scatter / all-gather, inside one NVLink domain (nNodes 1) and across nodes: the
latency of each protocol and the protocol NCCL runs; and its all-to-all (grouped send/recv) inside an
NVLink domain (nccl_alltoall_time).

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
bandwidth share come from NCCL. RING_LL_ARCH_CAP (off) takes NCCL >= 2.25's LL share instead: 1/2, capped
at the architecture's llMaxBws (Topology.nccl_arch). Inside one domain, RING_SM_TRAFFIC (off) would scale t_bw by the load/store
traffic of NCCL's reduce-scatter / all-gather ring loop over its all-reduce ring's (ring_traffic_ratio).
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


# Switch, off: the ring LL bandwidth of NCCL >= 2.25's tuner (the database's 2.27.3 / 2.29.2): half the Simple bus
# bandwidth ("4 B of every 8 B is a flag"), capped at the architecture's llMaxBws, instead of the 1/4 above.
# NVIDIA/nccl src/graph/tuning.cc ncclTopoTuneModel, v2.25.1-1 L255 and v2.28.7-1 L304:
#     if (a == NCCL_ALGO_RING && p == NCCL_PROTO_LL) busBw = std::min(llMaxBw, busBw * .5);
#     llMaxBw = llMaxBws[nNodes == 1 ? compCapIndex : (AMD CPU ? 1 : 0)][nNodes <= 2 ? nNodes-1 : 2]
# (2.18-2.21: min(llMaxBw, busBw x (nNodes > 1 ? 1/4 : 1/3)) for reduce-scatter / all-gather, Hopper's row = Ampere's.)
# The latencies (baseLat, hwLat) are the same for every architecture in every release read, so this moves
# mid sizes only, never the small-message floor (docs/notes/issue-24.md, round stop-33, issue-33ll): off.
RING_LL_ARCH_CAP = False

# ncclTunerConstantsDefaults (tuning.cc, 2.25-2.29), GB/s. llMaxBws rows: compute-capability index inside one node
# (Volta 7.x, Ampere 8.x incl. Ada 8.9, Hopper 9.x, Blackwell >= 10.0), columns nNodes 1 / 2 / > 2; across nodes
# the row is the host CPU's (Intel: the Volta row, AMD: the Ampere row) -- Intel taken, as NET_OVERHEAD_US.
LL_MAX_BW_GBS = {"volta": (39.0, 39.0, 20.4), "ampere": (87.7, 22.5, 19.0), "hopper": (141.0, 45.0, 35.0),
                 "blackwell": (282.0, 90.0, 70.0)}
# perChMaxRingLL128Bws (same file): LL128 ring busBw = min(0.92 busBw, nChannels x this); NOT applied: it binds only
# where the ring graph's per-channel bandwidth exceeds this / 0.92 (21.7 / 39.9 / 43.5 GB/s), and that bandwidth
# and nChannels come from NCCL's topology search, which the model does not run (one NVLink: SM80 20, SM90 20.6,
# SM100 40.1 GB/s, src/graph/topo.h).
RING_LL128_MAX_BW_PER_CH_GBS = {"volta": 20.0, "ampere": 20.0, "hopper": 36.7, "blackwell": 40.0}


def ll_max_bw(arch: str, nodes: int) -> float:
    """B/s: NCCL >= 2.25's cap on the ring LL bus bandwidth (llMaxBws) for `arch` on `nodes` nodes (inf: unknown
    architecture inside one node)."""
    col = 0 if nodes <= 1 else 1 if nodes == 2 else 2
    row = arch if nodes <= 1 else "volta"  # across nodes: the CPU's row, Intel
    return LL_MAX_BW_GBS[row][col] * 1e9 if row in LL_MAX_BW_GBS else np.inf


def ring_latency(ranks: int, nodes: int, protocol: str) -> float:
    """Seconds of NCCL's ring reduce-scatter / all-gather latency over `ranks` ranks on `nodes` nodes."""
    if ranks <= 1:
        return 0.0
    nodes = max(1, min(int(nodes), int(ranks)))
    inter = nodes - 1
    intra = ranks - 1 - inter
    intra_lat = max(INTRA_LAT_US[protocol], NET_OVERHEAD_US[protocol]) if nodes > 1 else INTRA_LAT_US[protocol]
    return (BASE_LAT_US[protocol] + intra * intra_lat + inter * INTER_LAT_US[protocol]) * US


# Switch, off: price the in-domain ring reduce-scatter / all-gather at the channels' load/store traffic of NCCL's
# ring loop relative to the all-reduce ring the link efficiency is calibrated on (ring_traffic_ratio). The
# primitive sequence is NCCL's; that the ring's rate follows its threads' load/store traffic is an assumption no
# source states, and nccl-tests ring all-reduce at 4..8 H200 ranks is flat in g where it would predict -6 % at 4
# (data/measured/microbenchmarks.csv MB-0124..0128): off (docs/notes/issue-24.md, round stop-33, issue-33nc).
RING_SM_TRAFFIC = False

# One loop of NCCL's ring (one chunk of each rank's slice), src/device/all_gather.h, reduce_scatter.h, all_reduce.h
# runRing (NVIDIA/nccl 2.19-2.29, e.g. commit 7614543): its primitives in order.
_RING_LOOP = {
    "all_gather": lambda g: ["copySend"] + ["recvCopySend"] * (g - 2) + ["recv"],
    "reduce_scatter": lambda g: ["send"] + ["recvReduceSend"] * (g - 2) + ["recvReduceCopy"],
    "all_reduce": lambda g: (["send"] + ["recvReduceSend"] * (g - 2) + ["recvReduceCopySend"]
                             + ["recvCopySend"] * (g - 2) + ["recv"]),
}
# Chunks each primitive loads + stores through the channel's threads over a FIFO connection (src/device/
# prims_simple.h genericOp: recv = load the peer's FIFO slot, reduce = load the own input too, copy = store the own
# output, send = store the next peer's FIFO slot; without user-buffer registration NCCL's P2P connections are FIFOs).
_PRIM_CHUNKS = {"send": 2, "copySend": 3, "recvCopySend": 3, "recv": 2, "recvReduceSend": 3, "recvReduceCopy": 3,
                "recvReduceCopySend": 4}


def ring_loop_traffic(kind: str, ranks: int) -> tuple[int, int]:
    """(chunks loaded + stored by a rank's channel, chunks it sends over its link) in one loop of NCCL's ring:
    all-gather / reduce-scatter 3g-1 and g-1, all-reduce 6g-4 and 2(g-1)."""
    prims = _RING_LOOP[kind](int(ranks))
    return sum(_PRIM_CHUNKS[p] for p in prims), sum(p.endswith("Send") or p == "send" for p in prims)


def ring_traffic_ratio(kind: str, ranks: int) -> float:
    """Load/store traffic per link byte of NCCL's `kind` ring over that of its all-reduce ring at the same ranks:
    (3g-1)/(3g-2) for all-gather / reduce-scatter (1.25 at 2 ranks, -> 1 with g)."""
    if ranks <= 1:
        return 1.0
    sm, link = ring_loop_traffic(kind, ranks)
    sm_ar, link_ar = ring_loop_traffic("all_reduce", ranks)
    return (sm / link) / (sm_ar / link_ar)


def ring_bw_time(t_bw, kind: str, ranks: int):
    """The Simple-protocol bandwidth time `t_bw` of an in-domain ring `kind`, at the all-reduce-calibrated link
    efficiency, scaled by ring_traffic_ratio where RING_SM_TRAFFIC is on."""
    return np.asarray(t_bw, dtype=float) * (ring_traffic_ratio(kind, ranks) if RING_SM_TRAFFIC else 1.0)


def protocol_bw_time(t_bw, protocol: str, ranks: int, nodes: int, bus_bytes=None, arch: str = ""):
    """Bandwidth time of `protocol` on the ring whose Simple-protocol bandwidth time is `t_bw`. With
    RING_LL_ARCH_CAP and the rank's bus bytes ((g-1)/g S), LL runs at min(llMaxBw, Simple busBw / 2)."""
    t_bw = np.asarray(t_bw, dtype=float)
    if protocol == "ll" and RING_LL_ARCH_CAP and bus_bytes is not None:
        return np.maximum(2.0 * t_bw, np.asarray(bus_bytes, dtype=float) / ll_max_bw(arch, nodes))
    return t_bw / bw_share(protocol, ranks / max(1, nodes))


def ring_time(t_bw, ranks: int, nodes: int, bus_bytes=None, arch: str = ""):
    """(time, protocol) of a ring reduce-scatter / all-gather whose Simple-protocol bandwidth time is
    `t_bw` (array or scalar): the protocol NCCL's cost model picks, per element of t_bw. `bus_bytes`
    ((g-1)/g S per rank) and `arch` (NCCL's compute-capability row) feed the LL cap (RING_LL_ARCH_CAP)."""
    t_bw = np.asarray(t_bw, dtype=float)
    cand = np.stack([np.broadcast_to(ring_latency(ranks, nodes, p)
                                     + protocol_bw_time(t_bw, p, ranks, nodes, bus_bytes, arch), t_bw.shape)
                     for p in PROTOCOLS])
    i = np.argmin(cand, axis=0)
    best = np.take_along_axis(cand, i[None, ...], axis=0)[0]
    return best, PROTOCOLS[int(np.ravel(i)[0])] if np.size(i) else "simple"


P2P_LL_THRESHOLD = 16384  # bytes per peer: NCCL_PARAM(P2pLLThreshold, "P2P_LL_THRESHOLD", 16384), src/enqueue.cc


def nccl_alltoall_time(t_bw, peer_bytes):
    """(time, protocol) of an all-to-all as NCCL runs it inside one NVLink domain: g-1 ncclSend/ncclRecv
    pairs in one group (torch.distributed all_to_all, nccl-tests alltoall_perf).

    NCCL src/enqueue.cc scheduleP2pTasksToPlan / addP2pToPlan (2.19-2.29): all g-1 rounds of the
    pairwise p2pSchedule go into one kernel plan, each round on its own channels
    (ncclP2pChannelBaseForRound; "Try to use all channels, but one channel per operation": channels
    per op shrink until ops x nRanks fit p2pnChannels; p2pnChannels / nChannels x
    NCCL_MAX_DEV_WORK_P2P_PER_BATCH ops run concurrently), so the rounds overlap: one kernel start and
    one hop, not g-1 dependent steps. Protocol: LL where a peer's message fits its channels x
    P2P_LL_THRESHOLD (one channel below the 64 KiB minimum part on NVLink: LL up to 16 KiB per peer),
    Simple above. NCCL's tuner prices no p2p op; the latency taken is its ring's for one step
    (tuning.cc baseLat + hwLat NVLink: LL 7.2 us, Simple 11.8 us), the bandwidth `t_bw` the model's
    Simple-protocol time of the rank's (g-1)/g S over its link, LL at its 1/4 share."""
    t_bw = np.asarray(t_bw, dtype=float)
    ll = np.asarray(peer_bytes, dtype=float) <= P2P_LL_THRESHOLD
    t = np.where(ll, (BASE_LAT_US["ll"] + INTRA_LAT_US["ll"]) * US + t_bw / bw_share("ll", 2),
                 (BASE_LAT_US["simple"] + INTRA_LAT_US["simple"]) * US + t_bw)
    return t, "ll" if bool(np.ravel(ll)[0]) else "simple"
