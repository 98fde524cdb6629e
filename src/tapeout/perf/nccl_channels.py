"""NCCL's default channel count for a ring collective (one CTA per channel, one SM each: perf/comm_waves.py), as
NCCL 2.19 (the NGC PyTorch 24.01 container's release) derives it from its topology search when the run sets no
NCCL_MIN_NCHANNELS / NCCL_MAX_NCHANNELS / NCCL_MIN_CTAS / NCCL_MAX_CTAS (docs/notes/issue-18.md, Round stop-42 issue-61e).

What NCCL does (NVIDIA/nccl src/graph/search.cc ncclTopoCompute, src/graph/connect.cc ncclTopoPostset, src/graph/topo.h,
src/graph/xml.h kvDictPciGen; read in the stored copies of the 2.12-2.2x lines, the passages below the same in each):
  1. ring search: start at the first per-channel speed s of the architecture's array that is <= the best GPU path
     bandwidth (speedArrayIntra without NICs, speedArrayInter with them; sm90* arrays on Hopper), and fit as many
     channels as the paths carry: every channel takes s of each path it crosses (followPath subtracts the speed from
     each link; a NIC's bandwidth drops by s per channel, SearchRecNet). One node: each GPU's NVLink to the NVSwitch
     (links x NCCL's per-link NVLink bandwidth, SM80_NVLINK_BW 20.0, SM90_NVLINK_BW 20.6 GB/s); several nodes: each
     channel enters and leaves the node through one NIC, at most min(NIC, the NIC's PCIe link) each. The ring graph
     holds at most MAXCHANNELS / 2 = 16 channels (init.cc ringGraph.maxChannels). A lower speed replaces the solution
     only if channels x speed is strictly larger (ncclTopoCompareGraphs), and the search stops lowering it once the
     next speed is <= 0.49 of the solution's ("Decrease bw until we find a solution").
  2. duplication: a solution at >= 25 GB/s per channel is doubled (min(2 n, maxChannels)) at the search's end, except
     on GPUs above compute capability 8.0 when it runs below 50 GB/s per channel on more than 4 channels (`if (ccMin >
     80 && graph->bwIntra < 50.0 && graph->nChannels > 4) return ncclSuccess;`, search.cc ncclTopoDupChannels, and
     inline in ncclTopoCompute in the stored 2.17/2.18-era copies: in every stored copy that has the NVLS pattern; the
     pre-NVLS 2.8-2.12 copies lack it). Hopper (9.0) is the NVSwitch row it reaches here: e.g. 8 NICs of 400 GbE
     per H100 node, 8 channels at 48 GB/s, stay 8 (16 after step 3), not 16 (32). Ada (8.9) folds into the "ampere"
     row here but has no NVSwitch, so job_channels never prices it; A100 (8.0) is not guarded.
  3. ncclTopoPostset doubles again: comm->nChannels = min(MAXCHANNELS 32, 2 n).
  A large collective is taken to run on all of them (enqueue.cc lowers the count only for small messages, below
  channels x threads x a per-thread threshold; the 2.19 thresholds were not read: an assumption for the 100+ MB
  gathers priced here). Not determined: NVLS (16 channels by default on H100) instead of the ring for a single-node
  all-gather where the NVSwitch supports multicast (docs/notes/issue-18.md).
Check, not a fit: this gives 24 on one 8-GPU A100 NVSwitch node (40 GB/s x 6, 240 GB/s of NVLink) and 24 on an 8-GPU
H100 node (60 x 6 of 370.8) -- the "24 coll channels" of NCCL INFO logs on both (layer_times.csv LT-0001's source;
docs/notes/issue-18.md Round stop-34) -- and 16 on an 8-GPU H800 node (8 NVLinks: 40 x 4 of 164.8, doubled twice), the
16 coll channels of github.com/NVIDIA/nccl/issues/892.

PCIe as NCCL counts it: kvDictPciGen gives x100 Mb/s per lane (16 GT/s: 120, 32 GT/s: 240), link bandwidth =
lanes x that / 80 GB/s: 0.75 of the raw 16 / 32 GT/s x16 rate (PCI_LANE_SHARE x the chip's host_link_bw).

`NCCL_DEFAULT_CHANNELS` (switch, used by perf/training.py): a stack whose runs set no NCCL channel cap (stack feature
nccl_default_channels) takes this count as the CTAs its overlapped DP collectives hold (comm_ctas). On: NCCL's own
source, checked against its logs on the two node types the rows run on; see the notes for what it moves.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import TapeoutError

NCCL_DEFAULT_CHANNELS = True  # an uncapped stack's overlapped DP collectives hold NCCL's default channels (see above)

MAXCHANNELS = 32  # src/include/device.h
RING_SEARCH_MAX = MAXCHANNELS // 2  # init.cc: ringGraph.maxChannels = MAXCHANNELS/2
DUP_SPEED = 25.0  # search.cc: if (graph->bwIntra >= 25.0) duplicate the channels
# search.cc: if (ccMin > 80 && graph->bwIntra < 50.0 && graph->nChannels > 4) no duplication (rows above sm80 here)
DUP_GUARD_ARCHS = ("hopper",)
DUP_GUARD_SPEED = 50.0
DUP_GUARD_CHANNELS = 4
LOWER_LIMIT = 0.49  # search.cc: keep lowering the speed while speedArray[next] / bw > .49
# search.cc speed arrays (GB/s per channel); "ampere": the pre-Hopper arrays, "hopper": sm90SpeedArrayIntra / Inter
SPEEDS_INTRA = {"ampere": (40.0, 30.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0),
                "hopper": (60.0, 50.0, 40.0, 30.0, 24.0, 20.0, 15.0, 12.0, 11.0, 6.0, 3.0)}
SPEEDS_INTER = {"ampere": (48.0, 30.0, 28.0, 24.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.4,
                           1.2, 0.24, 0.12),
                "hopper": (48.0, 45.0, 42.0, 40.0, 30.0, 24.0, 22.0, 20.0, 17.5, 15.0, 12.0, 6.0, 3.0, 2.4, 1.2,
                           0.24, 0.12)}
NVLINK_BW = {"ampere": 20.0, "hopper": 20.6}  # topo.h SM80_NVLINK_BW / SM90_NVLINK_BW, GB/s per link
NVLINK_LINK_GBPS = 25.0  # NVLink 3 / 4, GB/s per link per direction (A100 600 GB/s / 12 links, H100 900 / 18, bidir)
PCI_LANE_SHARE = 0.75  # kvDictPciGen 120 / 240 (x100 Mb/s per lane) of 16 / 32 GT/s


def _pos(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise TapeoutError(f"nccl_channels: {name} = {v!r}: give a bandwidth in GB/s (> 0)")
    return float(v)


def search_channels(speeds, path_bw: float, paths: int) -> tuple[int, float]:
    """(channels, GB/s per channel) of NCCL's ring search over `paths` equal paths of `path_bw` GB/s each (module
    docstring, step 1), before duplication."""
    bw = _pos("path_bw", path_bw)
    if isinstance(paths, bool) or not isinstance(paths, int) or paths < 1:
        raise TapeoutError(f"nccl_channels: paths = {paths!r}: give the number of paths (NVSwitch ports or NICs), >= 1")
    i = next((k for k, s in enumerate(speeds) if s <= bw), len(speeds) - 1)
    best_n, best_s = 0, 0.0
    while i < len(speeds):
        s = speeds[i]
        n = min(paths * int(bw // s), RING_SEARCH_MAX)
        if n * s > best_n * best_s:
            best_n, best_s = n, s
        if i + 1 >= len(speeds) or (best_n and speeds[i + 1] / best_s <= LOWER_LIMIT):
            break
        i += 1
    if best_n == 0:  # no speed fits: NCCL's fallback ("Could not find a path ..."), one channel at 0.1 GB/s
        return 1, 0.1
    return best_n, best_s


def ring_channels(arch: str, nvlink_gbs: float, nics: int = 0, nic_gbs: float = 0.0, pci_gbs: float = 0.0) -> int:
    """NCCL's default channel count of a ring communicator (module docstring): one node when `nics` is 0 (each GPU's
    `nvlink_gbs` of NVLink as NCCL counts it), else `nics` NICs per node of `nic_gbs`, each behind a PCIe link of
    `pci_gbs` (NCCL's count)."""
    if arch not in SPEEDS_INTRA:
        raise TapeoutError(f"nccl_channels: arch = {arch!r}: use one of {', '.join(SPEEDS_INTRA)} (Topology.nccl_arch)")
    if nics:
        n, s = search_channels(SPEEDS_INTER[arch], min(_pos("nic_gbs", nic_gbs), _pos("pci_gbs", pci_gbs)), nics)
    else:
        n, s = search_channels(SPEEDS_INTRA[arch], nvlink_gbs, 1)
    if s >= DUP_SPEED and not (arch in DUP_GUARD_ARCHS and s < DUP_GUARD_SPEED and n > DUP_GUARD_CHANNELS):
        n = min(2 * n, RING_SEARCH_MAX)
    return min(MAXCHANNELS, 2 * n)


def job_channels(topo, p, fabric, ranks: int) -> int:
    """NCCL's default channels for a ring over `ranks` consecutive GPUs of NVLink nodes of topo.domain GPUs: one node
    when they fit one, else the node's NICs (a zoned cluster whose zone is one node: zone_chips / oversubscription NICs
    of scaleout_bw each, the cluster file's port count; otherwise one NIC per GPU, the rail-optimised default of
    hardware/topology.py) behind PCIe at the chip's host link. 0 where NCCL does not run the collectives or its
    architecture row is not on file."""
    if not topo.nccl or topo.nccl_arch not in NVLINK_BW or topo.wiring != "switch":
        return 0
    gb = 1e9
    nvlink = topo.scaleup_bw / gb / NVLINK_LINK_GBPS * NVLINK_BW[topo.nccl_arch]
    if ranks <= topo.domain:
        return ring_channels(topo.nccl_arch, nvlink)
    nics = topo.domain
    if fabric.zone_chips == topo.domain and fabric.oversubscription > 1:
        nics = max(1, round(topo.domain / fabric.oversubscription))
    host = float(np.max(p.host_bw)) / gb
    return ring_channels(topo.nccl_arch, nvlink, nics, topo.scaleout_bw / gb, PCI_LANE_SHARE * host)
