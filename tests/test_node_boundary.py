"""A training row's server ends its scale-up tier (hardware/node.py, data/clusters/node_boards.yaml): the
L40S_16x04x32 Stable Diffusion row (16 servers x 4 PCIe cards) prices its all-reduce across 16 servers,
not 8 "domains" of 8; a 4-GPU HGX board is a direct-link mesh; a tier that spans servers (TPU ICI, GB200
NVL72) and a server of the full board keep the catalog domain."""

import csv
import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.hardware.node import on_node
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.validation.harness import default_data
from tapeout.validation.other_rows import map_training
from tapeout.validation.system_interconnect import row_node


def _topo(chip):
    return topology_for(calibrated_params(chip), chip.family)


def _row(row_id):
    with open(default_data()) as f:
        return next(r for r in csv.DictReader(f) if r["id"] == row_id)


def test_l40s_row_runs_on_its_four_card_server():
    row = _row("TRN-v4.0-0112")  # NVIDIA L40S_16x04x32: nodes=16; acc_per_node=4
    assert "acc_per_node=4" in row["notes"] and int(row["n_accelerators"]) == 64
    node = row_node(row, get_chip("l40s"))
    t = _topo(node)
    assert (t.wiring, t.domain) == ("pcie", 4)
    assert t.split(64) == (4, 16)  # 4 cards per server, 16 servers across the NICs


def test_l40s_all_reduce_closed_form_across_sixteen_servers():
    # hierarchical all-reduce (perf/collectives.py): reduce-scatter over the server's 4 cards (PCIe ring),
    # all-reduce of the S/4 shard across the 16 servers (ring or tree, the faster), all-gather back
    t = _topo(on_node(get_chip("l40s"), 4))
    S = 1.7e9  # ~865 M bf16 gradient bytes, SD v2's UNet
    b_in, b_out = 1.0 / (t.scaleup_bw * t.eff_link), 1.0 / (t.scaleout_bw * t.eff_link)
    rs = ag = 3 * t.scaleup_latency + 3 / 4 * S * b_in
    bw_x = 2 * 15 / 16 * (S / 4) * b_out
    x = min(2 * 15 * t.scaleout_latency + bw_x, 2 * math.ceil(math.log2(16)) * t.scaleout_latency + bw_x)
    assert float(collective_time("all_reduce", S, 64, t)[0]) == pytest.approx(rs + x + ag, rel=1e-12)
    # the catalog's 8-card domain would put 8 x 8: half the cross-server hops priced inside the node
    assert _topo(get_chip("l40s")).split(64) == (8, 8)


@pytest.mark.parametrize("chip,cards,wiring", [("a100-sxm", 4, "mesh"), ("h100-sxm", 4, "mesh"),
                                               ("a100-pcie", 1, "pcie"), ("l4", 6, "pcie")])
def test_smaller_boards_rewire_the_tier(chip, cards, wiring):
    c = on_node(get_chip(chip), cards)
    t = _topo(c)
    assert (t.wiring, t.domain) == (wiring, cards) and not t.in_switch_reduction
    assert c.calibration_id == chip  # same silicon: same kernel calibration


@pytest.mark.parametrize("chip,cards", [("tpu-v4", 4), ("tpu-v5p", 4), ("gb200", 4), ("gaudi1", 4),
                                        ("h100-sxm", 8), ("a100-sxm", 8), ("l40s", 8), ("l40s", 16), ("a100-pcie", 2)])
def test_spanning_tiers_full_boards_and_unsourced_boards_keep_the_chip(chip, cards):
    c = get_chip(chip)
    assert on_node(c, cards) is c


def test_full_board_row_is_bit_identical():
    # a row whose acc_per_node equals the catalog domain prices exactly as without the node size
    row = _row("TRN-v4.0-0112")
    full = {**row, "notes": row["notes"].replace("nodes=16; acc_per_node=4", "nodes=8; acc_per_node=8")}
    bare = {**row, "notes": row["notes"].replace("nodes=16; acc_per_node=4; ", "")}
    assert "acc_per_node" not in bare["notes"]
    a, b = map_training(full), map_training(bare)
    assert a.predicted == b.predicted and a.detail["step_s"] == b.detail["step_s"]
    four = map_training(row)
    assert four.detail["chip"] == "l40s@pcie4" and four.detail["allreduce_s"] != a.detail["allreduce_s"]


@given(S=st.floats(1e6, 1e10), servers=st.integers(2, 64), chip=st.sampled_from(["a100-sxm", "h100-sxm"]))
@settings(max_examples=60, deadline=None)
def test_fewer_gpus_per_server_never_speed_up_the_dp_all_reduce(S, servers, chip):
    # same job size, 4-GPU boards against the 8-GPU board: more of the ring crosses the NICs, each slower
    # than the board's NVLink. Restricted to boards whose in-node link beats the NIC: a PCIe card's NIC
    # (50 GB/s in the catalog) is faster than its own PCIe Gen4 link (32 GB/s), see docs/notes/issue-18.md
    n = 8 * servers
    eight = float(collective_time("all_reduce", S, n, _topo(get_chip(chip)))[0])
    four = float(collective_time("all_reduce", S, n, _topo(on_node(get_chip(chip), 4)))[0])
    assert four >= eight


def test_train_takes_the_same_server_size():
    # `tapeout train --benchmark ... --chips-per-node 4` prices the row's server, like the validation mapper
    from tapeout.api.other_train import train_benchmark

    four = train_benchmark("stable-diffusion", "l40s", 64, 1024, chips_per_node=4)
    full = train_benchmark("stable-diffusion", "l40s", 64, 1024, chips_per_node=8)
    bare = train_benchmark("stable-diffusion", "l40s", 64, 1024)
    assert four.to_dict()["chip"] == "l40s@pcie4" and full.to_dict() == bare.to_dict()
    with pytest.raises(Exception, match="--chips-per-node"):
        train_benchmark("stable-diffusion", "l40s", 64, 1024, chips_per_node=0)
