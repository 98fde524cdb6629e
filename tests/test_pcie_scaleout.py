"""PCIe servers' scale-out link (issues 18 / 24, round stop-34): a card without an accelerator link of its own
(scale-up wiring "pcie") reaches its NIC only through its PCIe edge connector (GPUDirect RDMA is PCIe
peer-to-peer), so its scale-out bandwidth is at most its host link (hardware/params.scaleout_gbps); chips with
on-die NICs or their own fabric keep their NIC rate. PCIe-only NVIDIA cards are wired "pcie" in the catalog
(no NVLink algorithms, no NVLS in-switch reduction)."""

from __future__ import annotations

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import _wiring_spec, all_chips, get_chip
from tapeout.hardware.node import on_node, scaleup_wiring
from tapeout.hardware import params
from tapeout.hardware.params import GB, bridged_pcie_card, scaleout_gbps
from tapeout.hardware.topology import NCCL_FAMILIES
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import topology_for


def _topo(chip):
    return topology_for(calibrated_params(chip), chip.family)


@pytest.mark.parametrize("chip", [c.id for c in all_chips()])
def test_a_pcie_wired_chip_never_reaches_the_network_faster_than_its_host_link(chip):
    c = get_chip(chip)
    nic, host = float(c.get("scaleout_bw_gbps")), float(c.get("host_link_bw_gbps"))
    p = calibrated_params(c)
    if scaleup_wiring(c) == "pcie" or (params.BRIDGED_PCIE_HOST_LINK and bridged_pcie_card(c)):
        # no accelerator link, or an NVIDIA card's NVLink bridge (card to card only, round stop-41): over PCIe
        assert float(p.scaleout_bw) == pytest.approx(min(nic, host) * GB)
        assert _topo(c).scaleout_bw <= float(p.host_bw) * (1 + 1e-12)
    else:  # its own fabric / on-die NICs (Gaudi RoCE ports, TPU, Trainium) or an NVLink board: the NIC rate
        assert float(p.scaleout_bw) == pytest.approx(nic * GB)


@pytest.mark.parametrize("chip", ["l40s", "l4", "l40", "rtx-4090", "a10g"])
def test_pcie_gen4_cards_get_32_gb_s_to_the_network(chip):
    # PCIe Gen4 x16 = 32 GB/s per direction (PCI-SIG) below the generic 400 Gb/s (50 GB/s) NIC
    c = get_chip(chip)
    assert float(c.get("host_link_bw_gbps")) == 32.0 and float(c.get("scaleout_bw_gbps")) == 50.0
    assert scaleout_gbps(c) == 32.0


def test_gaudi2_keeps_its_on_die_roce_ports_above_its_host_link():
    # Gaudi2: 3 x 100 GbE scale-out ports per chip on the die (37.5 GB/s) above its PCIe Gen4 host link (32)
    c = get_chip("gaudi2")
    assert scaleup_wiring(c) == "mesh" and scaleout_gbps(c) == 37.5 > float(c.get("host_link_bw_gbps"))


def test_a_bridged_card_alone_in_its_server_is_capped_too():
    # A100 PCIe's catalog domain is an NVLink-bridged pair; one card per server is wired over PCIe only
    c = on_node(get_chip("a100-pcie"), 1)
    assert scaleup_wiring(c) == "pcie" and scaleout_gbps(c) == 32.0
    # the bridged pair reaches beyond its bridge over the same PCIe link (params.BRIDGED_PCIE_HOST_LINK, round stop-41)
    assert scaleout_gbps(get_chip("a100-pcie")) == (32.0 if params.BRIDGED_PCIE_HOST_LINK else 50.0)


@pytest.mark.parametrize("chip", ["a10g", "rtx-pro-6000", "rtx-pro-4500", "rtx-4090", "l4", "l40", "l40s", "l20"])
def test_pcie_only_nvidia_cards_are_wired_pcie_without_nvls(chip):
    t = _topo(get_chip(chip))
    assert t.wiring == "pcie" and not t.in_switch_reduction


@pytest.mark.parametrize("chip", [c.id for c in all_chips() if c.family in NCCL_FAMILIES])
def test_an_nvidia_chip_without_a_link_beyond_pcie_is_wired_pcie(chip):
    # no scale-up link published, or a card whose only listed interconnect is its PCIe link (both directions),
    # means no NVLink: every peer and the NIC sit behind the host link, so NVLink-only algorithms (one-/two-shot,
    # NVLS) must not be offered. (A40's 112.5 GB/s NVLink bridge and GH200's NVLink-C2C host link are links.)
    c = get_chip(chip)
    bidir = c.get("scaleup_bw_gbps_bidir")
    if not isinstance(bidir, float) or (c.form_factor == "pcie" and bidir == 2 * float(c.get("host_link_bw_gbps"))):
        assert scaleup_wiring(c) == "pcie", (chip, bidir)


@pytest.mark.parametrize("meta", [{"scaleup_wiring": "nvlink", "scaleup_wiring_source": "x"},
                                  {"scaleup_wiring": "pcie"}, {"scaleup_wiring": "pcie", "scaleup_wiring_source": " "}])
def test_a_catalog_wiring_needs_a_known_kind_and_a_source(meta):
    with pytest.raises(TapeoutError, match="scaleup_wiring"):
        _wiring_spec("x", meta)


def test_a_catalog_wiring_carries_its_source():
    c = get_chip("a10g")
    assert c.get("scaleup_wiring") == "pcie" and "PCIe" in c.source_of("scaleup_wiring")


def test_the_kernel_databases_rtx_pro_6000_is_wired_over_pcie():
    # its off-catalog chip (kernels_db.yaml, family nvidia-blackwell-rtx) took the unknown family's NVSwitch default,
    # so its custom all-reduce was priced with NVLink one-/two-shot kernels; AIConfigurator's own system file gives its
    # GPU-to-GPU bandwidth as PCIe (systems/rtx_pro_6000_server.yaml intra_node_bw = pcie_bw)
    from tapeout.perf.collectives import topology_for_chip
    from tapeout.perf.kernels_db import chip_for

    t = topology_for_chip(chip_for("rtx-pro-6000"))
    assert t.wiring == "pcie" and not t.in_switch_reduction
