"""perf/nccl_channels.py: NCCL 2.19's default ring channel count from its topology search, and its wiring as the
CTAs an uncapped stack's overlapped DP collectives hold."""

import pytest
from hypothesis import given, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.fabric import get_fabric
from tapeout.perf import nccl_channels as nc
from tapeout.perf.train_stack import stack_settings


def test_single_node_counts_match_nccl_logs():
    # NCCL INFO "24 coll channels" on 8x A100 SXM4 and 8x H100 NVSwitch nodes, 16 on 8x H800 (8 NVLinks)
    assert nc.ring_channels("ampere", 12 * 20.0) == 24  # 40 GB/s x 6, doubled twice
    assert nc.ring_channels("hopper", 18 * 20.6) == 24  # 60 GB/s x 6 of 370.8, doubled twice
    assert nc.ring_channels("hopper", 8 * 20.6) == 16  # 40 GB/s x 4 of 164.8 (beats 60 x 2, 50 x 3), doubled twice


def test_multi_node_closed_forms():
    # 2 NICs per node: H100 behind Gen5 x16 (48 GB/s to NCCL), 400 GbE (50): one 48 GB/s channel per NIC, doubled twice
    assert nc.ring_channels("hopper", 370.8, nics=2, nic_gbs=50.0, pci_gbs=48.0) == 8
    # A100 behind Gen4 x16 (24), 200 GbE (25): one 24 GB/s channel per NIC, < 25 GB/s: no search duplication
    assert nc.ring_channels("ampere", 240.0, nics=2, nic_gbs=25.0, pci_gbs=24.0) == 4
    # eight NICs of 400 GbE on Hopper: 8 x 48; search.cc `if (ccMin > 80 && graph->bwIntra < 50.0 &&
    # graph->nChannels > 4)` skips the duplication (sm90, 48 < 50, 8 > 4), so only ncclTopoPostset doubles: 16, not 32
    assert nc.ring_channels("hopper", 370.8, nics=8, nic_gbs=50.0, pci_gbs=48.0) == 16
    # the same guard does not bind at 4 channels (H100 2-NIC nodes above, the H800 node) nor on A100 (ccMin 80):
    # eight 200 GbE NICs behind Gen4 on A100: 8 x 24, < 25 GB/s so no duplication anyway: 16
    assert nc.ring_channels("ampere", 240.0, nics=8, nic_gbs=25.0, pci_gbs=24.0) == 16
    # A100 with eight 400 GbE NICs behind Gen5-rate links (48): 8 x 48 on sm80, unguarded: 16, then 32
    assert nc.ring_channels("ampere", 240.0, nics=8, nic_gbs=50.0, pci_gbs=48.0) == 32


@given(st.floats(min_value=3.0, max_value=2000.0), st.integers(min_value=1, max_value=16),
       st.floats(min_value=1.0, max_value=200.0))
def test_hopper_never_duplicates_more_than_four_slow_channels(nvl, nics, nic):
    # search.cc ncclTopoDupChannels: ccMin > 80, bwIntra < 50, nChannels > 4 -> no duplication; only the postset's x2
    n, s = nc.search_channels(nc.SPEEDS_INTER["hopper"], nic, nics)
    if s < 50.0 and n > 4:
        assert nc.ring_channels("hopper", nvl, nics, nic, nic) == 2 * n


def test_search_keeps_strictly_better_and_stops_at_049():
    # 240 GB/s at the pre-Hopper array: 40 x 6 = 240; 30 x 8 and 20 x 12 tie, so 40 stays
    assert nc.search_channels(nc.SPEEDS_INTRA["ampere"], 240.0, 1) == (6, 40.0)


@given(st.sampled_from(["ampere", "hopper"]), st.floats(min_value=3.0, max_value=2000.0),
       st.integers(min_value=1, max_value=16), st.floats(min_value=1.0, max_value=200.0))
def test_channel_count_bounds(arch, nvl, nics, nic):
    for n in (nc.ring_channels(arch, nvl), nc.ring_channels(arch, nvl, nics, nic, nic)):
        assert 1 <= n <= nc.MAXCHANNELS
        assert n % 2 == 0  # ncclTopoPostset doubles the search's channels


@given(st.sampled_from(["ampere", "hopper"]), st.floats(min_value=3.0, max_value=2000.0))
def test_channels_times_speed_never_exceed_the_path(arch, bw):
    n, s = nc.search_channels(nc.SPEEDS_INTRA[arch], bw, 1)
    assert n * s <= bw + 1e-9 or n == 1  # the slowest speed is the fallback when nothing fits


@pytest.mark.parametrize("kw, field", [(dict(arch="volta", nvlink_gbs=100.0), "arch"),
                                       (dict(arch="hopper", nvlink_gbs=-1.0), "path_bw"),
                                       (dict(arch="hopper", nvlink_gbs=300.0, nics=2, nic_gbs=0.0, pci_gbs=48.0), "nic_gbs"),
                                       (dict(arch="hopper", nvlink_gbs=300.0, nics=2, nic_gbs=50.0, pci_gbs=float("nan")), "pci_gbs")])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(TapeoutError, match=field):
        nc.ring_channels(**kw)


def test_job_channels_on_the_juniper_clusters(session_chips):
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import engine_params
    from tapeout.perf.collectives import topology_for
    for chip, cluster, ranks, want in (("h100-sxm", None, 8, 24), ("h100-sxm", "juniper-h100-n4", 32, 8),
                                       ("a100-sxm", "juniper-a100-n8", 64, 4)):
        c = get_chip(chip)
        p = engine_params(c)
        assert nc.job_channels(topology_for(p, c.family), p, get_fabric(cluster), ranks) == want


def test_stack_sets_the_default_channels():
    from tapeout.perf.train_stack import named_stack
    _, settings, _ = stack_settings(named_stack("hf-deepspeed-0.13"), {}, {}, False)
    assert settings["nccl_default_channels"] is True


def test_stack_setting_refuses_a_non_boolean():
    from tapeout.perf.stack_features import StackFeatures
    assert StackFeatures().nccl_default_channels is False  # a stack whose NCCL env is not on file keeps comm_ctas 0
    with pytest.raises(TapeoutError, match="nccl_default_channels"):
        StackFeatures(nccl_default_channels="yes")


def _lora_zero3(n, **kw):
    from tapeout.perf.mlperf import benchmarks
    from tapeout.perf.train_lora import adapters_of_benchmark
    from tapeout.perf.training import train
    lora = adapters_of_benchmark(benchmarks()["training"]["llama2-70b-lora"])
    return train("llama-2-70b", "h100-sxm", n, n * 8192, 8192, "bf16", lora=lora,
                 tp=1, pp=1, cp=1, zero=3, recompute="full", mbs=1, zero_overlap_comm=True, **kw)


def test_engine_takes_the_default_channels_only_when_switched_on(monkeypatch):
    base = _lora_zero3(8)
    on = _lora_zero3(8, nccl_default_channels=True)
    # 24 of the 132 SMs beside the overlapped gathers: the forward / backward lose a share, the step grows
    assert on.breakdown["comm_wave_share"]["forward"] > 0 == base.breakdown["comm_wave_share"]["forward"]
    assert on.step_time_s > base.step_time_s
    assert any("NCCL 2.19's default channel count" in n for n in on.notes)
    # the same as asking for 24 CTAs by hand: the derived count goes through the existing comm_ctas path
    assert on.step_time_s == pytest.approx(_lora_zero3(8, comm_ctas=24).step_time_s)
    # a stack's own cap wins over the default
    assert _lora_zero3(8, nccl_default_channels=True, comm_ctas=8).step_time_s == pytest.approx(
        _lora_zero3(8, comm_ctas=8).step_time_s)
    from tapeout.perf.training import clear_cache
    monkeypatch.setattr(nc, "NCCL_DEFAULT_CHANNELS", False)
    clear_cache()  # results are memoised by their arguments, not by module switches
    assert _lora_zero3(8, nccl_default_channels=True).step_time_s == pytest.approx(base.step_time_s)
    clear_cache()


def test_a_given_comm_ctas_replaces_nccl_default():
    """`--comm-ctas 0` ("the collectives take no cores") was overridden by NCCL's default count on an uncapped stack
    (the stack table said 0 from --comm-ctas, the note 24 CTAs); a given count now switches the default off."""
    from tapeout.api.train_settings import run_stack
    given = run_stack("hf-deepspeed-0.13", None, None, "h100-sxm", "bf16", None, {}, {"comm_ctas": 0})
    assert given.settings["comm_ctas"] == 0 and given.settings["nccl_default_channels"] is False
    shown = {s["setting"]: s for s in given.shown}
    assert shown["nccl_default_channels"]["from"].startswith("--comm-ctas")
    default = run_stack("hf-deepspeed-0.13", None, None, "h100-sxm", "bf16", None, {}, {"comm_ctas": None})
    assert default.settings["nccl_default_channels"] is True


@pytest.mark.parametrize("chip", ["tpu-v5p", "gaudi2", "gaudi3", "mi300x", "b200"])
def test_no_default_channels_where_nccl_search_is_not_on_file(chip):
    """A TPU (XLA collectives on their ICI), Gaudi (HCCL), MI300X (RCCL) never gets NVIDIA NCCL's channel count;
    Blackwell runs NCCL, but its sm100 speed arrays / NVLink constants are not in this module: 0, nothing priced."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import engine_params
    from tapeout.perf.collectives import topology_for
    c = get_chip(chip)
    p = engine_params(c)
    for ranks in (8, 64):
        assert nc.job_channels(topology_for(p, c.family), p, get_fabric(None), ranks) == 0
