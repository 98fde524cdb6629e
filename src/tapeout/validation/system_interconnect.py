"""How an MLPerf system wires its accelerators where the chip catalog cannot say (data/mlperf/system_interconnect.yaml).

The chip catalog describes a card with its optional NVLink bridge (H100 PCIe / NVL: bridged pairs)
and an SXM module on its vendor's 8-GPU switched board; whether a given server has the bridges
installed, or carries the module on a switchless board, is the submitter's system description. A row
whose system declares no accelerator interconnect is predicted on `chip.without_scaleup_link(cards)`:
peer traffic over the PCIe host link among the node's cards. A row whose system declares direct links
between every pair of its accelerators (`wiring: mesh`, the 4-GPU HGX H100 boards) is predicted on
`chip.with_direct_links(cards)`. Systems not on file keep the catalog's link.
A training row's server (`acc_per_node` in its notes) ends its scale-up tier where that tier lives in the
server (row_node, hardware/node.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from ..hardware.node import on_node


@lru_cache(maxsize=1)
def declared_systems() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "system_interconnect.yaml").read_text())["systems"]


def system_chip(row: dict, chip):
    """The chip as the row's system wires it: unchanged unless the system description on file
    declares no accelerator link (the card over PCIe among the node's accelerators) or direct links
    between every pair of them (a full mesh of the node's accelerators)."""
    notes = row.get("notes", "")
    m = re.search(r"\bsystem=([^;]*)", notes)
    entry = declared_systems().get(m.group(1).strip()) if m else None
    if entry is None or (entry["bridged"] and entry.get("wiring") != "mesh"):
        return chip
    per_node = re.search(r"\bacc_per_node=(\d+)", notes)
    cards = int(per_node.group(1)) if per_node else int(float(row["n_accelerators"]))
    source = f"system description declares accelerator_interconnect '{entry['accelerator_interconnect']}': {entry['source']}"
    if entry["bridged"]:
        return chip.with_direct_links(cards, source)
    return chip.without_scaleup_link(cards, source)


def row_node(row: dict, chip):
    """The chip in the row's server of `acc_per_node` accelerators (hardware/node.on_node: the scale-up
    domain ends at the server where the tier lives in it); unchanged where the notes state no node size."""
    m = re.search(r"\bacc_per_node=(\d+)", row.get("notes", ""))
    return on_node(chip, int(m.group(1)) if m else None)
