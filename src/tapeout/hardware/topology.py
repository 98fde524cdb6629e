"""System topology: how chips are wired, per tier.

Two tiers, as in every system the catalog holds:
  scale-up   NVLink + NVSwitch (switch; in-switch reduction "NVLS" on NVSwitch gen 3+),
             Infinity Fabric / xGMI (full mesh: one direct link per peer), TPU ICI (torus),
             Gaudi RoCE ports (full mesh over Ethernet), NeuronLink (ring/torus), PCIe.
  scale-out  one NIC per accelerator on a rail-optimized IB/RoCE fabric (DGX SuperPOD
             reference architecture: NIC i of every node on leaf switch i), so a group
             that crosses domains gets `scaleout_bw` per chip.

A Topology carries the numbers the collective model (perf/collectives.py) needs. It is
derived from ChipParams (bandwidths, latencies, domain size) plus the family's wiring kind;
nothing here is fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# wiring kind per architecture family (vendor architecture documents):
#   NVIDIA SXM/NVL: NVSwitch (Hopper/Blackwell NVSwitch supports SHARP in-switch reduction,
#   NVIDIA Hopper architecture whitepaper, 'NVLink SHARP'); AMD MI300X/MI325X/MI355X: 8-GPU
#   fully connected xGMI mesh, 7 links per GPU (AMD CDNA3 whitepaper); Gaudi2/3: 21/24
#   integrated 100/200 GbE ports all-to-all inside the node (Intel Gaudi2/3 whitepapers);
#   TPU: 2D/3D ICI torus (Jouppi et al. ISCA 2023); Trainium: NeuronLink ring/2D torus.
FAMILY_WIRING = {
    "nvidia-hopper": "switch",
    "nvidia-blackwell": "switch",
    "nvidia-ampere": "switch",
    "nvidia-ada": "pcie",
    # GB202 RTX PRO cards (the kernel database's RTX PRO 6000 Server Edition): no NVLink, peers over PCIe Gen5 x16
    # (ai-dynamo/aiconfigurator@5ecb4d6 systems/rtx_pro_6000_server.yaml: intra_node_bw = pcie_bw = 64 GB/s)
    "nvidia-blackwell-rtx": "pcie",
    "amd-cdna2": "mesh",
    "amd-cdna3": "mesh",
    "amd-cdna4": "mesh",
    "intel-gaudi": "mesh",
    "intel-xe2": "pcie",  # Arc Pro B-series: no GPU-to-GPU link, multi-GPU over PCIe (storagereview Battlematrix preview)
    "qualcomm-aic100": "pcie",  # Cloud AI 100 Ultra: cards reach each other only through the host PCIe switch (Cloud AI SDK docs, Architecture)
    "google-tpu": "torus",
    "aws-neuron": "torus",
}
WIRING_KINDS = ("switch", "mesh", "torus", "pcie")
NVLINK_WIRINGS = ("switch", "mesh")  # an NCCL family's NVLink tier: through NVSwitch, or direct links / bridges
IN_SWITCH_REDUCTION = {"nvidia-hopper", "nvidia-blackwell"}
# NCCL's compute-capability row of its tuning tables (src/graph/tuning.cc compCapIndex: >= 10.0 Blackwell, >= 9.0
# Hopper, >= 8.0 Ampere) per family: Ampere 8.0/8.6, Ada 8.9, Hopper 9.0, Blackwell 10.0/10.3/12.0
# (https://developer.nvidia.com/cuda-gpus)
NCCL_ARCH = {"nvidia-ampere": "ampere", "nvidia-ada": "ampere", "nvidia-hopper": "hopper",
             "nvidia-blackwell": "blackwell"}
# families whose collectives run on NCCL (its ring latencies and protocol choice, perf/nccl_ring.py);
# every other family (RCCL, HCCL, vendor libraries, a never-built NPU) keeps its per-hop latencies
# (the CUDA runtime's families in data/software/training_reserve.yaml: one list for both uses)
def _nccl_families() -> frozenset:
    import yaml

    from ..formats import data_file

    return frozenset(yaml.safe_load(data_file("software", "training_reserve.yaml").read_text())["runtimes"]["cuda"]["families"])


NCCL_FAMILIES = _nccl_families()


def nvlink_under_nccl(family: str, wiring: str) -> bool:
    """Whether a scale-up tier is NVIDIA NVLink run by NCCL: an NCCL family wired through NVSwitch ("switch") or by
    direct NVLink bridges / board links ("mesh"). NCCL's NVLink ring protocols and latencies and its all-to-all as
    concurrent send/recv apply to both; in-switch reduction (NVLS) needs the switch (Topology.in_switch_reduction)."""
    return family in NCCL_FAMILIES and wiring in NVLINK_WIRINGS


@dataclass(frozen=True)
class Topology:
    wiring: str  # switch | mesh | torus | pcie
    domain: int  # chips per scale-up domain
    scaleup_bw: float  # B/s per direction per chip (all scale-up links together)
    scaleup_latency: float  # s per algorithm step
    scaleout_bw: float  # B/s per direction per chip (rail-optimized: one NIC per chip)
    scaleout_latency: float
    eff_link: float  # achieved fraction of link bandwidth (calibration)
    in_switch_reduction: bool = False
    eff_nvls: float = 0.0  # in-switch all-reduce: algorithm bandwidth / link bandwidth (calibration)
    library_excess: tuple = ()  # ((payload B, s), ...): library all-reduce time beyond alpha-beta (calibration)
    nccl: bool = False  # collectives run on NCCL (NCCL_FAMILIES)
    nccl_arch: str = ""  # NCCL's compute-capability row (NCCL_ARCH); "" where unknown
    bridged_card: bool = False  # PCIe cards on a card-to-card bridge: beyond it, peers over PCIe (ChipParams.bridged_card)

    @classmethod
    def from_params(cls, p, family: str, calibration: dict) -> "Topology":
        """`calibration`: the family's collective-algorithm calibration (perf.collectives.topology_for
        supplies it)."""
        cal = calibration
        mx = lambda v: float(np.max(v))  # noqa: E731  (topology is per system, not per design)
        # a chip (or system variant) may name its own wiring, e.g. "pcie" for cards without their bridge
        wiring = getattr(p, "scaleup_wiring", "") or FAMILY_WIRING.get(family, "switch")
        domain = int(mx(p.scaleup_domain))
        if mx(p.scaleup_bw) <= 0:
            wiring, domain = "pcie", max(domain, 1)
        return cls(
            wiring=wiring,
            domain=domain,
            scaleup_bw=max(mx(p.scaleup_bw), 1e9),
            scaleup_latency=mx(p.scaleup_latency),
            scaleout_bw=max(mx(p.scaleout_bw), 1e9),
            scaleout_latency=mx(p.scaleout_latency),
            eff_link=mx(p.eff_link),
            # NVLink SHARP reduces inside the NVSwitch (Hopper whitepaper, 'NVLink SHARP'): none over direct links or a
            # bridge (H200 NVL's 2- / 4-way bridge, index.yaml scaleup_wiring mesh)
            in_switch_reduction=family in IN_SWITCH_REDUCTION and wiring == "switch",
            eff_nvls=float(cal.get("eff_nvls", 0.0)),
            library_excess=tuple((float(a), float(b)) for a, b in cal.get("library_excess", ())),
            nccl=family in NCCL_FAMILIES,
            nccl_arch=NCCL_ARCH.get(family, ""),
            bridged_card=bool(getattr(p, "bridged_card", False)) and wiring != "pcie",
        )

    @property
    def nvlink(self) -> bool:
        """NVLink run by NCCL, through a switch or direct links (nvlink_under_nccl)."""
        return self.nccl and self.wiring in NVLINK_WIRINGS

    def split(self, group: int, stride: int = 1) -> tuple[int, int]:
        """(ranks per scale-up domain, domains) of a group whose members are `stride` apart
        in rank order (TP innermost: stride 1; DP after TP: stride tp)."""
        group, stride = max(int(group), 1), max(int(stride), 1)
        per_domain = max(1, min(group, self.domain // stride)) if stride <= self.domain else 1
        return per_domain, int(np.ceil(group / per_domain))

    def link_bw_for_group(self, g_in: int) -> float:
        """Bandwidth a rank can use toward the other g_in-1 ranks of its domain. On a full
        mesh only g_in-1 of the domain-1 direct links lead to group members."""
        if self.wiring == "mesh" and self.domain > 1:
            return self.scaleup_bw * min(g_in - 1, self.domain - 1) / (self.domain - 1)
        return self.scaleup_bw
