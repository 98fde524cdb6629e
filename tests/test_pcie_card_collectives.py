"""Collectives of a PCIe-only card (no accelerator link, no bridge: L40S) as the engine prices them, and the NVIDIA
L40S training systems' east-west NICs (docs/notes/physical-limits.md, Round stop-42 issue-62d).

Closed forms: inside one server a PCIe-only card's all-reduce is the alpha-beta ring / tree at the card's PCIe link
(PCIe Gen4 x16, 32 GB/s per direction: NVIDIA L40S datasheet) x the calibrated link efficiency; across servers the
hierarchy of collectives.py with min(NIC, host link) per chip. The l40s_n16 / l40s_n96 nodes carry four cards and two
400 Gb/s east-west ports (mlcommons/training_results_v4.0 NVIDIA/systems/l40s_n16_ngc24.04_nemo.json)."""

import csv
import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.formats import data_file
from tapeout.hardware.fabric import get_fabric
from tapeout.perf.collectives import collective_time, flat_pcie_ring, topology_for_chip
from tapeout.validation.train_rows import submission_layout


@pytest.fixture(scope="module")
def topo():
    return topology_for_chip("l40s")


def test_l40s_is_a_pcie_card_priced_at_its_host_link(topo):
    """No accelerator link: scale-up over PCIe at the datasheet's Gen4 x16 rate, not a bridged card (no flat ring)."""
    assert topo.wiring == "pcie"
    assert topo.scaleup_bw == pytest.approx(32e9)
    assert topo.scaleout_bw == pytest.approx(32e9)  # min(NIC, host link): the host link binds
    assert not flat_pcie_ring(topo)


@pytest.mark.parametrize("g", [2, 4, 8])
def test_in_server_all_reduce_closed_form(topo, g):
    """The best of ring 2(g-1)a + 2(g-1)/g S/(B eff) and tree 2 ceil(log2 g) a + the same bandwidth term."""
    S = 670e6  # BERT-large's 335 M fp16 gradients
    beta = 1.0 / (topo.scaleup_bw * topo.eff_link)
    bw_term = 2 * (g - 1) / g * S * beta
    lat = min(2 * (g - 1), 2 * math.ceil(math.log2(g))) * topo.scaleup_latency
    t, _ = collective_time("all_reduce", S, g, topo)
    assert float(t) == pytest.approx(bw_term + lat, rel=1e-9)


def test_cross_server_all_reduce_closed_form(topo):
    """16 servers of 4 cards: reduce-scatter in the server, S/4 across servers, all-gather in the server."""
    S, g_in, g_out = 1.73e9, 4, 16
    e = topo.eff_link
    rs = (g_in - 1) / g_in * S / (topo.scaleup_bw * e) + (g_in - 1) * topo.scaleup_latency
    x_bw = 2 * (g_out - 1) / g_out * (S / g_in) / (topo.scaleout_bw * e)
    x = x_bw + min(2 * (g_out - 1), 2 * math.ceil(math.log2(g_out))) * topo.scaleout_latency
    t, name = collective_time("all_reduce", S, g_in * g_out, dataclasses.replace(topo, domain=g_in))
    assert name.startswith("hier(")
    assert float(t) == pytest.approx(2 * rs + x, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(S=st.floats(1e3, 4e9), k=st.floats(1.01, 8.0), g=st.sampled_from([2, 3, 4, 8, 16, 64]),
       kind=st.sampled_from(["all_reduce", "reduce_scatter", "all_gather", "all_to_all"]))
def test_monotone_in_bytes_and_bandwidth(topo, S, k, g, kind):
    """More bytes never take less time; a faster PCIe link or NIC never makes a collective slower."""
    t = float(collective_time(kind, S, g, topo)[0])
    assert float(collective_time(kind, S * k, g, topo)[0]) >= t
    fast = dataclasses.replace(topo, scaleup_bw=topo.scaleup_bw * k, scaleout_bw=topo.scaleout_bw * k)
    assert float(collective_time(kind, S, g, fast)[0]) <= t * (1 + 1e-12)


def test_nvidia_l40s_clusters_are_two_ew_ports_per_four_card_node():
    """oversubscription = 4 cards x the card's scale-out (min(NIC, PCIe Gen4 x16) = 32 GB/s) / the node's
    "2xBF3 400Gbps for EW" (the l40s_n16 / l40s_n96 systems files)."""
    per_card = topology_for_chip("l40s").scaleout_bw
    for name, nodes in (("nvidia-l40s-n16", 16), ("nvidia-l40s-n96", 96)):
        f = get_fabric(name)
        assert f.zone_chips == 4 and f.total_chips == 4 * nodes
        assert f.oversubscription == pytest.approx(4 * per_card / (2 * 400 / 8 * 1e9))


def test_l40s_lora_rows_run_their_systems_fabric():
    rows = {r["id"]: r for r in csv.DictReader(data_file("measured", "end_to_end.csv").open())}
    for rid, cluster in (("TRN-v4.0-0111", "nvidia-l40s-n16"), ("TRN-v4.0-0116", "nvidia-l40s-n96")):
        r = rows[rid]
        pins = submission_layout("llama2-70b-lora", r, "l40s", int(r["n_accelerators"]))
        assert pins.get("cluster") == cluster and (pins["tp"], pins["cp"]) == (4, 2)


def test_bad_collective_input_names_the_field(topo):
    with pytest.raises(ValueError, match="collective"):
        from tapeout.perf.collectives import bus_factor
        bus_factor("all_reduce_fast", 4)
    with pytest.raises(TapeoutError, match="cluster"):
        get_fabric("nvidia-l40s-n17")
