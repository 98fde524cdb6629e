"""A PCIe-only card's scale-up domain (round stop-41, issue-58b): its own sourced value, else the stated `pcie-card`
default of data/chips/family_defaults.yaml, never the generic HGX / OAM baseboard text (hardware/catalog
WIRING_DEFAULTS, Chip._default_sections)."""

from __future__ import annotations

import pytest

import tapeout
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import WIRING_DEFAULTS, all_chips, family_defaults, get_chip
from tapeout.hardware.node import on_node, scaleup_wiring


def test_every_pcie_only_catalog_card_has_a_sourced_or_stated_default_domain():
    """No card whose only card-to-card path is PCIe is described as a baseboard: its domain is its own catalog row or the
    pcie-card default, which says it is a default."""
    pcie = [c for c in all_chips() if scaleup_wiring(c) == "pcie"]
    assert {"rx-7900-xtx", "a10g", "l40s", "cloud-ai-100-ultra", "arc-pro-b60"} <= {c.id for c in pcie}
    for c in pcie:
        src = c.source_of("scaleup_domain_size")
        assert "HGX" not in src and "baseboard" not in src, c.id
        if "scaleup_domain_size" not in c.specs:
            assert src.startswith("default for pcie-card: a stated default"), c.id
            assert src.endswith("[assumption]"), c.id


def test_a10g_domain_is_its_largest_g5_instance():
    """AWS g5.48xlarge holds 8 A10G on PCIe (the only servers the A10G ships in)."""
    c = get_chip("a10g")
    assert c.get("scaleup_domain_size") == 8
    assert "g5.48xlarge" in c.source_of("scaleup_domain_size")


def test_rx_7900_xtx_takes_the_stated_default_and_its_mlperf_server_replaces_it():
    """The 7900 XTX's documentation gives no domain (no accelerator link): the default of 8 stands until a server size is
    given; tinybox red's 6 cards (acc_per_node=6) end the PCIe tier at 6."""
    c = get_chip("rx-7900-xtx")
    assert c.get("scaleup_domain_size") == family_defaults()["pcie-card"]["scaleup_domain_size"]["value"] == 8
    six = on_node(c, 6)
    assert six.get("scaleup_domain_size") == 6 and scaleup_wiring(six) == "pcie"


def test_switch_wired_chips_keep_the_generic_default():
    """The pcie-card section is consulted only for PCIe wiring: a chip without a published link on a switch family
    (ascend-910b) keeps the generic baseboard default."""
    c = get_chip("ascend-910b")
    assert scaleup_wiring(c) != "pcie"
    assert c.source_of("scaleup_domain_size").startswith("default for generic:")


def test_a_user_card_declared_pcie_takes_the_pcie_default(session_chips):
    base = {"id": "test-pcie-card", "family": "nvidia-hopper", "specs": {
        "bf16_tflops_dense": 100.0, "memory_bandwidth_tbps": 1.0, "memory_capacity_gb": 24.0, "tdp_w": 300.0,
        "scaleup_wiring": "pcie"}}
    tapeout.register_chip(base)
    c = get_chip("test-pcie-card")
    assert c.source_of("scaleup_domain_size").startswith("default for pcie-card:")
    tapeout.register_chip({**base, "id": "test-switch-card", "specs": {k: v for k, v in base["specs"].items() if k != "scaleup_wiring"}})
    assert get_chip("test-switch-card").source_of("scaleup_domain_size").startswith("default for generic:")


def test_the_wiring_section_is_not_a_chip_family(session_chips):
    assert set(WIRING_DEFAULTS.values()) <= set(family_defaults())
    with pytest.raises(TapeoutError, match="chip.family"):
        tapeout.register_chip({"id": "test-bad-family", "family": "pcie-card", "specs": {
            "bf16_tflops_dense": 100.0, "memory_bandwidth_tbps": 1.0, "memory_capacity_gb": 24.0, "tdp_w": 300.0}})
