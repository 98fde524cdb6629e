"""NVLink SHARP (NVLS) needs an NVSwitch; NCCL's NVLink paths do not (round stop-35, issue 18): H200 NVL's 2- / 4-way
NVLink bridge is a direct-link mesh (index.yaml scaleup_wiring, NVIDIA H200 specifications), so its collectives
offer no in-switch reduction but keep NCCL's NVLink ring protocols and its send/recv all-to-all. `tapeout show`
prints the scale-out rate the model uses and which of NIC / host link binds (hardware/params.scaleout_link)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _cli import run_cli
from tapeout import api
from tapeout.hardware.catalog import all_chips, get_chip
from tapeout.hardware.node import scaleup_wiring
from tapeout.hardware.params import scaleout_gbps, scaleout_link
from tapeout.hardware.topology import NCCL_FAMILIES, nvlink_under_nccl
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, library_time, scaleup_algorithms, topology_for


def _topo(cid: str):
    c = get_chip(cid)
    return topology_for(calibrated_params(c), c.family)


def test_h200_nvl_bridge_is_a_mesh_without_nvls():
    t = _topo("h200-nvl")
    assert t.wiring == "mesh" and t.domain == 4 and not t.in_switch_reduction
    for g in (3, 4):
        assert "nvls" not in scaleup_algorithms(t, g)
        assert "nvls" not in collective_time("all_reduce", 256e6, g, t)[1]
    # the same die on its NVSwitch board (HGX H200) keeps NVLS for groups above 2
    assert "nvls" in scaleup_algorithms(_topo("h200"), 4)


def test_h200_nvl_keeps_nccls_nvlink_paths():
    """NCCL runs over the bridge's NVLink as over a switch: its ring protocols for all-gather / reduce-scatter
    and its all-to-all as one round of concurrent send/recv (not the generic per-hop latency path)."""
    t = _topo("h200-nvl")
    assert t.nvlink
    assert library_time("all_gather", 64e6, 4, t, launch="queued")[1].startswith("library nccl ring")
    assert library_time("all_to_all", 64e6, 4, t, launch="queued")[1].startswith("library p2p")


def test_a_pair_on_the_4_way_bridge_uses_a_third_of_the_links():
    """Full mesh of 4 (each H200 NVL's 18 links, 6 to each peer): a 2-rank group reaches its peer over 1/3 of the
    900 GB/s; the NVSwitch board gives the pair the whole link. Bandwidth regime (1 GiB): ~3x slower."""
    S = float(1 << 30)
    t_bridge = float(collective_time("all_gather", S, 2, _topo("h200-nvl"), algorithm="ring")[0])
    t_switch = float(collective_time("all_gather", S, 2, _topo("h200"), algorithm="ring")[0])
    assert t_bridge == pytest.approx(3.0 * t_switch, rel=0.05)


@pytest.mark.parametrize("cid", [c.id for c in all_chips()])
def test_nvls_only_under_a_switch_and_nccl_nvlink_only_on_nvidia_links(cid):
    t = _topo(cid)
    if t.in_switch_reduction:
        assert t.wiring == "switch"
    c = get_chip(cid)
    assert t.nvlink == nvlink_under_nccl(c.family, scaleup_wiring(c)) == (
        c.family in NCCL_FAMILIES and t.wiring in ("switch", "mesh"))


@pytest.mark.parametrize("cid, binds, gbps", [("l40s", "host_link", 32.0), ("a10g", "host_link", 32.0),
                                              ("h100-sxm", "nic", 50.0), ("gaudi2", "nic", 37.5),
                                              ("a100-pcie", "host_link", 32.0), ("a30", "host_link", 32.0),
                                              ("h100-pcie", "nic", 50.0), ("a100-sxm", "nic", 25.0)])
def test_show_names_the_scaleout_rate_the_model_uses_and_what_binds(cid, binds, gbps):
    """L40S / A10G: PCIe Gen4 x16 (32 GB/s) below the generic 400 Gb/s NIC (50 GB/s); H100 SXM: its NIC; Gaudi2:
    its on-die RoCE ports (3 x 100 GbE = 37.5 GB/s) above its 32 GB/s host link, not capped."""
    net = api.get_chip(cid).to_dict()["scaleout"]
    assert net["binds"] == binds and net["gbps"] == pytest.approx(gbps)
    assert net["gbps"] == pytest.approx(scaleout_gbps(get_chip(cid)))
    assert net["gbps"] == pytest.approx(min(v for v in (net["nic_gbps"], net["host_link_gbps"]) if v is not None))
    assert scaleout_link(get_chip(cid)) == net
    code, out, _ = run_cli(["show", cid, "--json"])
    assert code == 0 and json.loads(out)["scaleout"]["binds"] == binds
    code, text, _ = run_cli(["show", cid])
    assert code == 0 and "scale-out per chip" in text and ("host link binds" if binds == "host_link" else "NIC binds") in text


def test_a_bridged_pcie_card_reaches_beyond_its_bridge_over_its_pcie_link(monkeypatch):
    """A100 PCIe / A30: the NVLink bridge joins two cards and nothing else, so every peer beyond the pair and the
    NIC are reached over the card's PCIe Gen4 x16 link (32 GB/s per direction), below the generic 400 Gb/s NIC
    (50 GB/s). H100 PCIe's Gen5 x16 (64 GB/s) is above it: the NIC binds. An SXM module and a non-NVIDIA PCIe card
    (not read) keep their NIC. Switch off: the bridged cards are back at the NIC rate."""
    from tapeout.hardware import params

    for cid in ("a100-pcie", "a100-pcie-40gb", "a30", "a40"):
        c = get_chip(cid)
        assert scaleout_gbps(c) == pytest.approx(min(float(c.get("host_link_bw_gbps")), float(c.get("scaleout_bw_gbps"))))
    assert scaleout_gbps(get_chip("h100-pcie")) == pytest.approx(50.0)
    assert scaleout_gbps(get_chip("mlu370-x8")) == pytest.approx(float(get_chip("mlu370-x8").get("scaleout_bw_gbps")))
    # the topology beyond the bridged pair carries the capped rate
    assert _topo("a100-pcie").scaleout_bw == pytest.approx(32e9)
    monkeypatch.setattr(params, "BRIDGED_PCIE_HOST_LINK", False)
    assert scaleout_gbps(get_chip("a100-pcie")) == pytest.approx(50.0)
    assert scaleout_gbps(get_chip("l40s")) == pytest.approx(32.0)  # no bridge at all: capped either way


def test_the_40gb_a100_module_has_the_80gb_modules_nic():
    """Both SXM4 modules sit in the same DGX A100 / HGX A100 servers: one 200 Gb/s HDR NIC per GPU (DGX A100 user
    guide), 25 GB/s, not the family's 400 Gb/s assumption."""
    assert scaleout_gbps(get_chip("a100-sxm-40gb")) == pytest.approx(scaleout_gbps(get_chip("a100-sxm"))) == pytest.approx(25.0)


def test_bridged_pcie_cards_run_one_flat_ring_through_their_pcie_hops(monkeypatch):
    """8 x A100 PCIe in bridged pairs: NCCL's intra-node ring crosses a PCIe hop at every pair boundary, so a group
    beyond the bridge all-reduces at the PCIe hop's rate: t = 2 (g-1)/g S / (PCIe x eff_link) + 2 (g-1) latencies
    (perf/collectives.BRIDGED_PCIE_FLAT_RING). Bus bandwidth ~24 GB/s, against ~20 measured by nccl-tests over a
    bridged pair plus a PCIe peer (nccl-tests issue #178); the rail hierarchy priced it at ~53 GB/s."""
    from tapeout.perf import collectives

    t = _topo("a100-pcie")
    assert t.bridged_card and not _topo("a100-sxm").bridged_card
    S, g = float(1 << 30), 8
    got = float(collective_time("all_reduce", S, g, t)[0])
    want = 2 * (g - 1) / g * S / (32e9 * t.eff_link) + 2 * (g - 1) * t.scaleout_latency
    assert got == pytest.approx(want, rel=1e-9)
    assert 2 * (g - 1) / g * S / got / 1e9 == pytest.approx(24.0, abs=1.5)
    # inside the bridged pair nothing changes
    assert float(collective_time("all_reduce", S, 2, t)[0]) < got / 5
    monkeypatch.setattr(collectives, "BRIDGED_PCIE_FLAT_RING", False)
    hier = float(collective_time("all_reduce", S, g, t)[0])
    assert hier < got / 2  # the rail hierarchy moves only half the data over the PCIe tier


@settings(max_examples=30, deadline=None)
@given(S=st.floats(1e5, 4e9), g=st.integers(3, 64), kind=st.sampled_from(["all_reduce", "all_gather", "reduce_scatter"]))
def test_the_flat_pcie_ring_is_never_faster_than_the_hierarchy_it_replaces(S, g, kind):
    """Every byte of a flat ring's (g-1)/g S per pass crosses the PCIe hop; the hierarchy sends only the domain's
    share across it: the flat ring bounds it from above (same link, same efficiency)."""
    from tapeout.perf import collectives

    t = _topo("a30")
    flat = float(np.max(collective_time(kind, S, g, t)[0]))
    collectives.BRIDGED_PCIE_FLAT_RING = False
    try:
        hier = float(np.max(collective_time(kind, S, g, t)[0]))
    finally:
        collectives.BRIDGED_PCIE_FLAT_RING = True
    assert flat >= hier * (1 - 1e-9)
