"""Where the parallel groups sit on a zoned fabric, and the bandwidth their cross-zone flows get.

Placement. A framework numbers ranks by a rank order, innermost first (Megatron-Core
parallel_state `order="tp-cp-ep-dp-pp"`; Llama 3's [TP, CP, PP, DP], arXiv 2407.21783 Sec. 3.3.2),
and the scheduler fills zones in rank order, `zone_chips` consecutive ranks per zone
(hardware/fabric.py). A group of dims D is the set of ranks that differ only in D; its stride is
the rank distance between neighbouring members.

Share. A zone of Z chips injects at most Z x B at NIC rate B and its uplinks carry Z x B / o
(oversubscription o, hardware/fabric.py). Every group of a collective runs it at the same time
(all DP groups reduce-scatter together; all pipelines send at each stage boundary), so the flows
that leave (enter) one zone are those of every group. With F flows each wanting B, each gets

    B x min(1, Z / (o F_max))          F_max = the most flows out of, or into, any one zone

(max-min fair share of the bottleneck uplinks; ECMP imbalance not modelled). A ring or a pipeline
advances at the pace of its slowest edge, so the collective's scale-out term runs at that share.
Flows, per collective (each one chip's NIC):
  ring over nodes (NCCL ring reduce-scatter / all-gather across nodes): ranks in rank order, one
      edge from each node of the group to the next and from the last back to the first; each
      cross-node edge carries one flow per member on the node (one ring channel per NIC)
  pipeline send/recv: every chip of stage d sends to its peer in stage d+1; interleaved schedules
      (VP > 1) also send from the last stage to the first (the next virtual chunk)
  context-parallel ring (TE P2P): every CP rank sends to the next, the last to the first
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..hardware.fabric import MEGATRON_ORDER, Fabric
from ..hardware.topology import Topology


def group_ranks(sizes: dict, order: tuple, dims: tuple) -> np.ndarray:
    """(groups, members) array of global ranks: one row per group over `dims`, members in rank order."""
    rev = list(reversed(order))  # numpy C order: the last axis (innermost dim) varies fastest
    shape = tuple(int(sizes[d]) for d in rev)
    ranks = np.arange(int(np.prod(shape))).reshape(shape)
    grp = [rev.index(d) for d in dims]
    rest = [i for i in range(len(shape)) if i not in grp]
    size = int(np.prod([shape[i] for i in grp]))
    return np.sort(np.transpose(ranks, rest + grp).reshape(-1, size), axis=1)


def zone_flows(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, zone_chips: int) -> float:
    """Most flows out of, or into, any one zone over the edges src -> dst (each `weight` flows)."""
    zs, zd = src // zone_chips, dst // zone_chips
    cross = zs != zd
    if not np.any(cross):
        return 0.0
    w = np.broadcast_to(weight, src.shape)[cross]
    return float(max(np.bincount(zs[cross], weights=w).max(), np.bincount(zd[cross], weights=w).max()))


def uplink_share(flows: float, fabric: Fabric) -> float:
    """Fraction of its NIC rate each cross-zone flow gets: min(1, Z / (o F_max))."""
    if flows <= 0 or not fabric.blocking:
        return 1.0
    return float(min(1.0, fabric.zone_chips / (fabric.oversubscription * flows)))


def ring_edges(rows: np.ndarray, domain: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-node edges of each group's ring (rank order, last back to first) and their flows:
    one per group member on the source node."""
    nxt = np.roll(rows, -1, axis=1)
    node, node_next = rows // domain, nxt // domain
    key = np.arange(rows.shape[0])[:, None] * (int(node.max()) + 1) + node  # (group, node) pairs
    _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    on_node = counts[inv.reshape(key.shape)]  # members sharing each member's node
    cross = node != node_next
    return rows[cross], nxt[cross], on_node[cross].astype(float)


def chip_edges(rows: np.ndarray, wrap: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every member sends to the next one (and the last to the first when `wrap`): one flow each."""
    src, dst = (rows, np.roll(rows, -1, axis=1)) if wrap else (rows[:, :-1], rows[:, 1:])
    return src.ravel(), dst.ravel(), np.ones(src.size)


def _stride(rows: np.ndarray, domain: int) -> int:
    """Rank distance between neighbouring members; for a group that is not evenly spaced (e.g. CP x DP
    with PP between them in the order) the stride that puts as many members on one node as it has."""
    if rows.shape[1] <= 1:
        return 1
    d = np.diff(rows[0])
    if np.all(d == d[0]):
        return int(d[0])
    on_first = int(np.sum(rows[0] // domain == rows[0, 0] // domain))
    return max(1, domain // on_first)


@dataclass(frozen=True)
class PlacedGroups:
    """Strides of the CP, DP x CP and PP groups and the share of NIC rate their cross-zone flows get."""
    stride_cp: int
    stride_dp: int  # the DP x CP gradient group
    stride_pp: int
    share_cp: float = 1.0
    share_dp: float = 1.0
    share_pp: float = 1.0

    def topology(self, topo: Topology, group: str) -> Topology:
        """`topo` with the scale-out bandwidth a `group` ('cp', 'dp', 'pp') flow gets across zones."""
        s = getattr(self, "share_" + group)
        return topo if s >= 1.0 else replace(topo, scaleout_bw=topo.scaleout_bw * s)


@lru_cache(maxsize=4096)
def place_groups(fabric: Fabric, tp: int, cp: int, dp: int, pp: int, vp: int, domain: int) -> PlacedGroups:
    """The groups of a TP x CP x DP x PP layout placed by the fabric's rank order on its zones."""
    if fabric.rank_order == MEGATRON_ORDER and not fabric.blocking:  # the model's placement as before
        return PlacedGroups(stride_cp=tp, stride_dp=tp, stride_pp=tp * cp * dp)
    sizes, order = {"tp": tp, "cp": cp, "dp": dp, "pp": pp}, fabric.rank_order
    cp_rows, dp_rows, pp_rows = (group_ranks(sizes, order, dims) for dims in (("cp",), ("cp", "dp"), ("pp",)))
    strides = dict(stride_cp=_stride(cp_rows, domain) if cp > 1 else tp, stride_dp=_stride(dp_rows, domain),
                   stride_pp=_stride(pp_rows, domain))
    if not fabric.blocking:
        return PlacedGroups(**strides)
    Z = fabric.zone_chips
    return PlacedGroups(
        **strides,
        share_cp=uplink_share(zone_flows(*chip_edges(cp_rows, True), Z), fabric) if cp > 1 else 1.0,
        share_dp=uplink_share(zone_flows(*ring_edges(dp_rows, domain), Z), fabric) if cp * dp > 1 else 1.0,
        share_pp=uplink_share(zone_flows(*chip_edges(pp_rows, vp > 1), Z), fabric) if pp > 1 else 1.0,
    )
