"""Collectives over a topology: alpha-beta time per algorithm, best algorithm, hierarchy.

For a buffer of S bytes per rank over g ranks with per-rank link bandwidth B, achieved
fraction eff and per-step latency a (Thakur, Rabenseifner & Gropp 2005; Patarasuk & Yuan
2009; NCCL bus-bandwidth convention, nccl-tests doc/PERFORMANCE.md):

  ring all-reduce      2(g-1) a + 2(g-1)/g S / (B eff)     (reduce-scatter + all-gather)
  ring all-gather /
  reduce-scatter       (g-1) a  + (g-1)/g S / (B eff)      (S = gathered size)
  tree all-reduce      2 log2(g) a + 2(g-1)/g S / (B eff)  (NCCL double binary tree)
  one-shot all-reduce  a + (g-1) S / (B eff)               (every rank reads all peers'
                                                            buffers: TensorRT-LLM/vLLM
                                                            custom all-reduce, small S)
  two-shot all-reduce  2 a + 2(g-1)/g S / (B eff)          (direct-access RS + AG)
  in-switch (NVLS)     2 a + S / (B eff_nvls)              (NVLink SHARP: each rank sends
                                                            S up and receives S down once)
  all-to-all           a + (g-1)/g S / (B eff)             (pairwise exchange in parallel)
  send/recv            a + S / (B eff)

Groups that span several scale-up domains run hierarchically (NCCL's tree/ring over
nodes; Megatron DP over rails): reduce-scatter inside the domain, the cross-domain
collective on S/g_in over the scale-out network (rail-optimized: each chip its own NIC),
then all-gather inside; a reduce-scatter (all-gather) moves the bytes of the first (last)
two of these steps. Only S/g_in per chip crosses the domain boundary, so the cross-domain bus
bandwidth is g_in NICs' worth (NCCL: inter-node busbw grows with the NICs per node, up to
NVLink's; nccl-tests doc/PERFORMANCE.md busbw convention). Its latency is the flat ring's that
NCCL/RCCL run for reduce-scatter / all-gather across nodes: g - 1 dependent hops, g_out - 1 of
them through the NICs (NCCL src/graph/tuning.cc); on NVLink systems at NCCL's own per-protocol
latencies and protocol choice (perf/nccl_ring.py), elsewhere at the topology's per-hop latencies;
compiler-scheduled torus systems (XLA) keep the two tiers. Inside one NVLink domain the library's
reduce-scatter / all-gather is the same NCCL ring (nNodes 1: baseLat + (g-1) NVLink hwLat of the
protocol NCCL picks), not the calibrated per-hop latency a, which comes from all-reduce rows (its bandwidth
term: nccl_ring.ring_bw_time, a switch); a stack's own peer-access kernels (`direct`) keep a. Calibration:
eff and a from NCCL/RCCL rows (perf/fit.py `_fit_collectives`), eff_nvls from NVLS rows
(`fit_collective_algorithms`); never from end-to-end results.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..hardware.topology import Topology
from ..ops import COLLECTIVES
from .collective_launch import check_launch, launch_excess
from .nccl_ring import nccl_alltoall_time, ring_bw_time, ring_time
from .stacks import collective_launch, custom_allreduce_limits

ALGORITHMS = ("ring", "tree", "one_shot", "two_shot", "nvls", "direct")
LIBRARY_ALGORITHMS = ("ring", "tree", "nvls")  # what NCCL/RCCL run; one/two-shot are the stacks' own kernels
CUSTOM_ALGORITHMS = ("one_shot", "two_shot")
# PCIe cards on a card-to-card NVLink bridge (A100 PCIe / A30 / A40 pairs, H100 PCIe / NVL; hardware/params
# bridged_pcie_card), in a group larger than the bridge: NCCL has no two-level algorithm inside a server (its
# intra-node graph search builds rings / chains through every GPU of the node; the inter-node tree / ring only
# splits at the NIC), and every ring over two or more bridged pairs crosses a PCIe hop at each pair boundary,
# each carrying the ring's full rate. So the all-reduce / reduce-scatter / all-gather over the group is one flat
# ring at the PCIe hop's rate (Topology.scaleout_bw: the card's PCIe link, params.BRIDGED_PCIE_HOST_LINK), not the
# bridge's reduce-scatter then 1/2 of the data across the PCIe tier (the rail-optimised hierarchy of an SXM node,
# one NIC per GPU). Measured (kernel microbenchmark): nccl-tests all_reduce_perf over 3 GPUs of an 8 x A100 PCIe
# server with NV12 bridge pairs, one pair plus a PCIe peer, bus bandwidth ~20 GB/s
# (https://github.com/NVIDIA/nccl-tests/issues/178, against 208 GB/s inside the pair); the hierarchy priced 53 GB/s,
# the flat ring 24 GB/s. On: NCCL's documented algorithm set and a measured bus bandwidth, no fit; docs/notes/
# issue-18.md (round stop-41, issue-56c) for the rows it moves.
BRIDGED_PCIE_FLAT_RING = True


def bus_factor(kind: str, g: int) -> float:
    """Bytes each rank moves per byte of buffer (NCCL busbw convention)."""
    if kind not in COLLECTIVES:
        raise ValueError(f"unknown collective '{kind}'")
    if g <= 1:
        return 0.0
    return {"all_reduce": 2.0 * (g - 1) / g, "all_gather": (g - 1) / g, "reduce_scatter": (g - 1) / g,
            "all_to_all": (g - 1) / g, "send_recv": 1.0}[kind]


@lru_cache(maxsize=None)
def _algo_cal() -> dict:
    from .fit.collective_fit import fit_collective_algorithms

    try:
        return fit_collective_algorithms()
    except FileNotFoundError:  # microbenchmarks missing: no NVLS calibration (a bug in the fit propagates)
        return {}


def algorithm_calibration(family: str) -> dict:
    """The family's collective-algorithm calibration; what the family lacks, the generic one."""
    cal = _algo_cal()
    return {**(cal.get("generic") or {}), **(cal.get(family) or {})}


def topology_for(p, family: str = "") -> Topology:
    """The system topology of params `p` with the family's collective-algorithm calibration."""
    return Topology.from_params(p, family, algorithm_calibration(family))


def topology_for_chip(chip, params=None) -> Topology:
    """The topology of a catalog chip (name or Chip) at its calibrated parameters or `params`."""
    from ..hardware.catalog import get_chip
    from .calibration import calibrated_params

    c = get_chip(chip) if isinstance(chip, str) else chip
    return topology_for(params if params is not None else calibrated_params(c), c.family)


def _one_tier(kind: str, S, g: int, bw: float, lat: float, eff: float, algos: tuple[str, ...],
              eff_nvls: float = 0.0) -> tuple[np.ndarray, str]:
    """Best time over `algos` for one tier; S may be an array."""
    S = np.asarray(S, dtype=float)
    if g <= 1:
        return np.zeros_like(S), "none"
    beta = 1.0 / max(bw * eff, 1.0)
    cand: dict[str, np.ndarray] = {}
    if kind == "all_reduce":
        if "ring" in algos:
            cand["ring"] = 2 * (g - 1) * lat + 2 * (g - 1) / g * S * beta
        if "tree" in algos:
            cand["tree"] = 2 * math.ceil(math.log2(g)) * lat + 2 * (g - 1) / g * S * beta
        if "one_shot" in algos:
            cand["one_shot"] = lat + (g - 1) * S * beta
        if "two_shot" in algos:
            cand["two_shot"] = 2 * lat + 2 * (g - 1) / g * S * beta
        if "nvls" in algos and eff_nvls > 0:
            cand["nvls"] = 2 * lat + S / max(bw * eff_nvls, 1.0)
    elif kind in ("all_gather", "reduce_scatter"):
        cand["ring"] = (g - 1) * lat + (g - 1) / g * S * beta
        if "two_shot" in algos or "direct" in algos:  # direct peer access: one step
            cand["direct"] = lat + (g - 1) / g * S * beta
    elif kind == "all_to_all":
        cand["direct"] = lat + (g - 1) / g * S * beta
    else:  # send_recv
        cand["direct"] = lat + S * beta
    names = list(cand)
    stack = np.stack([np.broadcast_to(cand[n], S.shape) for n in names])
    i = np.argmin(stack, axis=0)
    best = np.take_along_axis(stack, i[None, ...], axis=0)[0]
    name = names[int(np.ravel(i)[0])] if np.size(i) else names[0]
    return best, name


def scaleup_algorithms(topo, g_in: int) -> tuple[str, ...]:
    algos = ["ring", "tree"]
    if topo.wiring in ("switch", "mesh") and g_in <= 8:
        algos += ["one_shot", "two_shot"]  # custom all-reduce needs peer-to-peer access
    if topo.in_switch_reduction and topo.eff_nvls > 0 and g_in > 2:
        algos.append("nvls")
    return tuple(algos)


def collective_time(kind: str, S, group: int, topo, stride: int = 1, algorithm: str | tuple = "auto"):
    """Time (s) of one collective of S bytes per rank over `group` ranks placed `stride`
    apart. Returns (time, description). `algorithm` forces one scale-up algorithm, or a
    tuple restricts the choice to those of them the topology offers."""
    g = int(group)
    S = np.asarray(S, dtype=float)
    if g <= 1:
        return np.zeros_like(S), "none"
    g_in, g_out = topo.split(g, stride)
    g_in = min(g_in, g)
    bw_in = topo.link_bw_for_group(g_in) if g_in > 1 else topo.scaleup_bw
    if isinstance(algorithm, tuple):
        algos = tuple(a for a in scaleup_algorithms(topo, g_in) if a in algorithm) or ("ring",)
    else:
        algos = scaleup_algorithms(topo, g_in) if algorithm == "auto" else (algorithm,)
    # the library's own ring (library_time), not a stack's peer-access kernels nor the textbook "ring"
    nccl_ring = (kind in ("all_gather", "reduce_scatter") and topo.nvlink
                 and algorithm == LIBRARY_ALGORITHMS)
    if g_out <= 1:
        if nccl_ring:  # NCCL's ring inside one NVLink domain: its protocol choice and latencies, as across nodes
            t_bw = ring_bw_time(_one_tier(kind, S, g_in, bw_in, 0.0, topo.eff_link, ("ring",))[0], kind, g_in)
            t, proto = ring_time(t_bw, g_in, 1, (g_in - 1) / g_in * S, topo.nccl_arch)
            return t, f"nccl ring {proto} ({g_in}x1)"
        return _one_tier(kind, S, g_in, bw_in, topo.scaleup_latency, topo.eff_link, algos, topo.eff_nvls)
    if flat_pcie_ring(topo) and kind in ("all_reduce", "all_gather", "reduce_scatter"):
        return _flat_pcie_ring(kind, S, g, g_out, topo)
    # hierarchical
    so = (topo.scaleout_bw, topo.scaleout_latency, topo.eff_link)
    if kind == "all_reduce":
        t_rs, a1 = _one_tier("reduce_scatter", S, g_in, bw_in, topo.scaleup_latency, topo.eff_link, algos)
        t_x, a2 = _one_tier("all_reduce", S / g_in, g_out, *so, ("ring", "tree"))
        t_ag, _ = _one_tier("all_gather", S, g_in, bw_in, topo.scaleup_latency, topo.eff_link, algos)
        return t_rs + t_x + t_ag, f"hier({a1}+{a2}x{g_out})"
    if kind in ("all_gather", "reduce_scatter"):
        # reduce-scatter inside the domain first (all-gather: across domains first), so only the
        # domain's 1/g_in share of S crosses the scale-out network on each chip's NIC: per NIC
        # (g_out-1)/g_out S/g_in, the traffic a flat NCCL ring puts on each of the g_in rails of a
        # node (its channels exit the node once each), hence busbw ~ g_in x NIC bandwidth
        if topo.wiring == "torus":  # compiler-scheduled collectives (XLA ICI then DCN): two tiers
            t_x, a2 = _one_tier(kind, S / g_in, g_out, *so, ("ring",))
            t_in, a1 = _one_tier(kind, S, g_in, bw_in, topo.scaleup_latency, topo.eff_link, algos)
            return t_in + t_x, f"hier({a1}+{a2}x{g_out})"
        # NCCL/RCCL run reduce-scatter / all-gather across nodes as one flat ring (no tree for them;
        # PAT from NCCL 2.23 only at one rank per node): its g-1 steps are dependent hops, g_out-1
        # through the NICs and the other g-g_out inside the domains (NCCL src/graph/tuning.cc ring
        # latency (nsteps - nInterSteps) intraLat + nInterSteps interLat, nsteps = nRanks-1,
        # nInterSteps = nNodes-1), not the g_in-1 of a separate in-domain collective
        t_bw = (_one_tier(kind, S, g_in, bw_in, 0.0, topo.eff_link, ("ring",))[0]
                + _one_tier(kind, S / g_in, g_out, topo.scaleout_bw, 0.0, topo.eff_link, ("ring",))[0])
        if topo.nvlink:  # NVLink (switch or bridge) runs NCCL: its protocol choice and latencies
            t, proto = ring_time(t_bw, g, g_out, (g - 1) / g * S, topo.nccl_arch)
            return t, f"nccl ring {proto} ({g_in}x{g_out})"
        lat = max(0, g - g_out) * topo.scaleup_latency + (g_out - 1) * topo.scaleout_latency
        return t_bw + lat, f"ring({g_in}x{g_out})"
    if kind == "all_to_all":
        # the share (g - g_in)/g of each rank's buffer leaves the domain over its NIC
        t_in, _ = _one_tier(kind, S * g_in / g, g_in, bw_in, topo.scaleup_latency, topo.eff_link, ("direct",))
        t_x = topo.scaleout_latency + S * (g - g_in) / g / max(topo.scaleout_bw * topo.eff_link, 1.0)
        return np.maximum(t_in, t_x), f"hier(a2a x{g_out})"
    t, a = _one_tier(kind, S, 2, *so, ("direct",))
    return t, a


def flat_pcie_ring(topo) -> bool:
    """True where a group beyond the scale-up domain runs one flat ring through PCIe hops (BRIDGED_PCIE_FLAT_RING)."""
    return BRIDGED_PCIE_FLAT_RING and bool(getattr(topo, "bridged_card", False))


def _flat_pcie_ring(kind: str, S, g: int, g_out: int, topo) -> tuple[np.ndarray, str]:
    """One ring over all `g` ranks of bridged PCIe cards (BRIDGED_PCIE_FLAT_RING): every step bound by the PCIe hop
    (the scale-out rate, the card's PCIe link), (g-1)/g S per rank per pass (two passes for an all-reduce), each
    step's latency the slower hop's; NCCL's ring protocols and latencies where NCCL runs it (ring_time)."""
    passes = 2 if kind == "all_reduce" else 1
    t_bw = passes * (g - 1) / g * S / max(topo.scaleout_bw * topo.eff_link, 1.0)
    if topo.nvlink and kind != "all_reduce":
        t, proto = ring_time(t_bw, g, g_out, (g - 1) / g * S, topo.nccl_arch)
        return t, f"nccl ring {proto} (flat pcie {g})"
    return t_bw + passes * (g - 1) * topo.scaleout_latency, f"ring(flat pcie {g})"


def node_forwarded_all_to_all(S, group: int, topo, nodes_per_token: float, ranks_per_token: float, copies: int,
                               stride: int = 1) -> tuple[np.ndarray, str]:
    """An EP dispatch / combine whose tokens cross the scale-out network once per destination node and
    are forwarded inside it (DeepEP's normal internode kernels, github.com/deepseek-ai/DeepEP README:
    "asymmetric-domain bandwidth forwarding ... from NVLink domain to RDMA domain"; csrc/kernels/internode.cu
    SourceMeta: one RDMA token per destination node carrying the bitmask of its NVLink ranks; DeepSeek-V3
    report arXiv:2412.19437 Sec. 3.2.2). S: the rank's buffer of `copies` (= k) copies of each token.
    Scale-out bytes per rank: S/k x the token's expected remote destination nodes (nodes_per_token x
    (N-1)/N by symmetry); NVLink bytes: one copy per destination rank (ranks_per_token, the
    is_token_in_nvl_rank bits), all but the 1/g_in landing on the relaying rank itself. The two legs run
    concurrently (the kernel's RDMA and NVLink channels), as the hierarchical all_to_all above.
    Inside one domain: the plain all_to_all."""
    g = int(group)
    g_in, g_out = topo.split(g, stride)
    g_in = min(g_in, g)
    if g_out <= 1:
        return collective_time("all_to_all", S, g, topo, stride)
    S = np.asarray(S, dtype=float)
    per_copy = S / max(int(copies), 1)
    ib = per_copy * nodes_per_token * (g_out - 1) / g_out
    nvl = per_copy * ranks_per_token * (g_in - 1) / g_in
    bw_in = topo.link_bw_for_group(g_in) if g_in > 1 else topo.scaleup_bw
    t_in = topo.scaleup_latency + nvl / max(bw_in * topo.eff_link, 1.0) if g_in > 1 else np.zeros_like(S)
    t_x = topo.scaleout_latency + ib / max(topo.scaleout_bw * topo.eff_link, 1.0)
    return np.maximum(t_in, t_x), f"forwarded a2a ({nodes_per_token:.2f} nodes/token x{g_out})"


def library_excess(S, curve) -> np.ndarray:
    """d(S): seconds a library all-reduce of S bytes per rank takes beyond the alpha-beta model
    (perf/fit/collective_fit.fit_library_excess), interpolated in log S and held at the end
    points; 0 without a calibrated curve."""
    S = np.asarray(S, dtype=float)
    if not curve:
        return np.zeros_like(S)
    xs = np.log([float(s) for s, _ in curve])
    ds = np.asarray([float(d) for _, d in curve])
    return np.interp(np.log(np.maximum(S, 1.0)), xs, ds)


def custom_allreduce_max_bytes(group: int, stack: str | None = None) -> float:
    """Largest all-reduce (bytes per rank) the stack's custom kernels take over `group` ranks; 0: none."""
    for max_ranks, value in custom_allreduce_limits(stack):
        if group <= max_ranks:
            return value
    return 0.0


def library_time(kind: str, S, group: int, topo, stride: int = 1, *, launch: str):
    """A collective run by the library (NCCL/RCCL): its own algorithms (ring, tree, in-switch; on NCCL
    NVLink domains the all-to-all as one round of concurrent send/recv, nccl_alltoall_time), plus for
    all-reduce (the only collective swept by payload) the measured per-call excess d(S) as a call
    launched `launch` pays it (perf/collective_launch.py: "queued" when the host runs ahead of the
    device, "exposed" for one call on an idle device)."""
    check_launch(launch)
    g = int(group)
    if kind == "all_to_all" and g > 1 and topo.nvlink and topo.split(g, stride)[1] <= 1:
        t_bw = (g - 1) / g * np.asarray(S, dtype=float) / max(topo.link_bw_for_group(g) * topo.eff_link, 1.0)
        t, proto = nccl_alltoall_time(t_bw, np.asarray(S, dtype=float) / g)
        return t, f"library p2p {proto}"
    t, name = collective_time(kind, S, group, topo, stride, algorithm=LIBRARY_ALGORITHMS)
    if kind == "all_reduce":
        t = t + launch_excess(library_excess(S, topo.library_excess), launch)
    return t, f"library {name}"


def serving_collective_time(kind: str, S, group: int, topo, stride: int = 1, stack: str | None = None):
    """A serving step's collective as the serving stack dispatches it. All-reduce inside one
    scale-up domain with peer access: the stack's one-/two-shot kernels up to their workspace
    (custom_allreduce_max_bytes), the library above it (TensorRT-LLM AllReduceStrategy AUTO,
    vLLM CustomAllreduce.should_custom_ar), launched as the stack launches it (serving_stacks.yaml
    collective_launch). Everything else: the library's algorithms as before."""
    g = int(group)
    if kind != "all_reduce" or g <= 1:
        return collective_time(kind, S, group, topo, stride)
    g_in, g_out = topo.split(g, stride)
    peer_access = g_out <= 1 and set(CUSTOM_ALGORITHMS) <= set(scaleup_algorithms(topo, min(g_in, g)))
    if not peer_access:  # no custom kernels at all (PCIe, across domains): the library, as before
        return collective_time(kind, S, group, topo, stride)
    if float(np.max(S)) <= custom_allreduce_max_bytes(g, stack):
        return collective_time(kind, S, group, topo, stride, algorithm=CUSTOM_ALGORITHMS)
    return library_time(kind, S, group, topo, stride, launch=collective_launch(stack))


def busbw(kind: str, S, group: int, topo, stride: int = 1, algorithm: str = "auto"):
    """Bus bandwidth (B/s) the model predicts, comparable to nccl-tests output."""
    t, _ = collective_time(kind, S, group, topo, stride, algorithm)
    return bus_factor(kind, group) * np.asarray(S, dtype=float) / np.maximum(t, 1e-15)


def graph_comm_time(table, topo, stride_of=None) -> float:
    """Topology-aware time of all collective rows of an OpTable, summed with their counts.
    `stride_of(op)` gives a row's rank stride (default 1: TP/EP groups are innermost)."""
    from ..ops import Collective

    total = 0.0
    for op in table.ops:
        if not isinstance(op, Collective) or op.group <= 1:
            continue
        stride = stride_of(op) if stride_of else 1
        t, _ = collective_time(op.collective, op.payload_bytes, op.group, topo, stride)
        total += float(t) * op.count
    return total
