"""The server a run's accelerators sit in: where its scale-up tier ends (data/clusters/node_boards.yaml).

The catalog gives a chip's scale-up domain on its reference board (8 GPUs on an HGX / DGX baseboard, a
bridged pair of PCIe cards); a card whose only card-to-card path is PCIe has no board, and its domain is the
cards of one server (its own sourced value, else the stated pcie-card default of data/chips/family_defaults.yaml). A system whose servers hold fewer accelerators ends that tier at the
server: `on_node(chip, cards)` rewires the chip's scale-up tier over the server's `cards` (a PCIe tree,
the 4-GPU HGX direct-link mesh, a lone card), so every collective group that crosses servers pays the
NICs (hardware/topology.Topology.split). A tier that spans servers (TPU ICI, NVLink Switch racks) is not
on file and keeps the catalog domain; so does any server of at least the catalog domain (the chip itself).
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from ..formats import data_file
from .catalog import Chip, lineage
from .topology import FAMILY_WIRING


@lru_cache(maxsize=1)
def node_boards() -> dict:
    return yaml.safe_load(data_file("clusters", "node_boards.yaml").read_text())


def scaleup_wiring(chip: Chip) -> str:
    """The chip's scale-up wiring as hardware/topology.Topology.from_params resolves it: the chip's own
    `scaleup_wiring`, else its family's (a chip without a published link keeps its family's kind)."""
    return chip.get("scaleup_wiring", "") or FAMILY_WIRING.get(chip.family, "switch")


def server_board(chip: Chip, cards: int) -> tuple[str, str] | None:
    """(wiring, source) of a server holding `cards` of `chip` below its catalog domain, None where
    nothing on file says the tier ends at the server (the catalog domain is kept)."""
    tab = node_boards()
    wiring = scaleup_wiring(chip)
    if wiring in tab["server_wiring"]:
        return wiring, tab["server_wiring"][wiring]["source"]
    ids = {c.id for c in lineage(chip)}
    for b in tab["boards"]:
        if int(b["cards"]) == cards and ids & set(b["chips"]):
            return b["wiring"], b["source"]
    return None


def board_sizes(chip: Chip) -> list[int]:
    """The server sizes on file for `chip` below its catalog domain (node_boards.yaml `boards` naming it or a chip it
    derives from), smallest first; empty where none is (its tier may span servers, or no smaller board is on file)."""
    ids = {c.id for c in lineage(chip)}
    return sorted({int(b["cards"]) for b in node_boards()["boards"] if ids & set(b["chips"])})


def catalog_domain(chip: Chip) -> int:
    """The chip's scale-up domain as the catalog gives it (scaleup_domain_size; 1 where absent)."""
    return int(float(chip.get("scaleup_domain_size", 1)))


def on_node(chip: Chip, cards: int | None) -> Chip:
    """`chip` in a server of `cards` accelerators: its scale-up domain min(catalog domain, cards) where the
    tier ends at the server (server_board), registered as '<id>@<wiring><cards>'; else `chip` itself
    (cards None, cards >= the catalog domain, or a tier spanning servers / a board not on file)."""
    if cards is None or int(cards) < 1 or int(cards) >= catalog_domain(chip):
        return chip
    board = server_board(chip, int(cards))
    if board is None:
        return chip
    wiring, source = board
    return chip._wired(wiring, int(cards), f"{int(cards)} per server, {wiring}", f"server of {int(cards)}: {source}")
