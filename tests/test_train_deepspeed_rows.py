"""The DeepSpeed training rows as their submissions ran them (docs/notes/issue-18.md, Round stop-29 issue-29ds):
Intel-HabanaLabs' Megatron-DeepSpeed GPT-3 layouts, JuniperNetworks' and Intel's DeepSpeed ZeRO-3 LoRA configs,
DeepSpeed's overlap_comm (`zero_overlap_comm`) and the Juniper systems' two Ethernet ports per node."""

import csv
import re

import pytest

from tapeout.errors import TapeoutError
from tapeout.formats import data_file
from tapeout.hardware.fabric import get_fabric
from tapeout.perf.collectives import collective_time, topology_for_chip
from tapeout.perf.mlperf import benchmarks
from tapeout.perf.train_lora import adapters_of_benchmark
from tapeout.perf.train_stack import find_stack, stack_of_round
from tapeout.perf.training import train
from tapeout.validation.train_rows import map_row, submission_layout
from tapeout.workloads.llm_config import load_llm

LORA = adapters_of_benchmark(benchmarks()["training"]["llama2-70b-lora"])


def _rows() -> dict:
    return {r["id"]: r for r in csv.DictReader(data_file("measured", "end_to_end.csv").open())}


def _zero3(n: int, gbs: int, overlap: bool, chip: str = "gaudi2", **kw):
    return train("llama-2-70b", chip, n, gbs * 8192, 8192, "bf16", lora=LORA, tp=1, pp=1, cp=1, zero=3,
                 recompute="full", mbs=1, zero_overlap_comm=overlap, **kw)


def test_gaudi_gpt3_entries_are_their_readme_launch_lines():
    """Each Intel Gaudi2 GPT-3 entry: chips = --num-nodes x 8, DP = chips / (TP PP) = --data-parallel-size, and the
    rows it pins (end_to_end.csv, same round and size) split their global batch into whole micro-batches."""
    rows = [r for r in _rows().values() if r["accelerator"] == "Intel Gaudi2" and " gpt3" in r["workload"]]
    entries = [e for e in benchmarks()["training"]["gpt3-175b"]["submission_layouts"]
               if e.get("accelerator") == "Intel Gaudi2"]
    assert {(e["round"], e["chips"]) for e in entries} == {("v3.0", 256), ("v3.0", 384), ("v3.1", 256), ("v3.1", 384),
                                                           ("v4.0", 1024)}
    for e in entries:
        nodes, dp = map(int, re.search(r"--num-nodes (\d+) --data-parallel-size (\d+)", e["source"]).groups())
        assert nodes * 8 == e["chips"] and e["chips"] // (e["tp"] * e["pp"]) == dp
        assert (e["vp"], e["zero"], e["recompute"]) == (1, 0, "selective")  # DeepSpeed pipe engine, ZERO_STAGE=0
        matched = [r for r in rows if r["workload"].startswith(f"MLPerf Training {e['round']}")
                   and int(r["n_accelerators"]) == e["chips"]]
        assert matched, e["source"][:80]
        for r in matched:
            gbs = int(re.search(r"global_batch_size=(\d+)", r["notes"]).group(1))
            assert gbs % (dp * e["mbs"]) == 0


def test_habana_stacks_are_found_only_on_intel_accelerators():
    assert find_stack("PyTorch 2.0.1a0", "v3.1", accelerator="Intel Gaudi2").name == "megatron-deepspeed-habana-v3.1"
    assert find_stack("PyTorch 2.0.1a0", "v3.1", accelerator="NVIDIA H100-SXM") is None
    assert find_stack("PyTorch 1.13.1a0", "v3.1", accelerator="Intel Gaudi2") is None  # another round's stack
    assert find_stack("NGC PyTorch Release 24.01 Deepspeed N4", "v4.0",
                      accelerator="NVIDIA H100-SXM").name == "hf-deepspeed-0.13"
    # `tapeout train --benchmark` keeps NVIDIA's NeMo stack of the round, whichever else the round holds
    assert stack_of_round("v4.0", "NVIDIA").name == "nemo-24.04"


def test_pinned_gaudi_gpt3_row_runs_the_launch_layout_and_its_stack():
    d = map_row(_rows()["TRN-v3.0-0141"]).detail
    assert d["parallelism"].startswith("TP8 PP8 DP4 mbs1 ZeRO-0 recompute=selective")
    assert d["layout_source"] == "submission config" and d["stack"] == "megatron-deepspeed-habana-v3.0"


@pytest.mark.parametrize("gbs", [8, 32])
def test_zero3_without_overlap_exposes_every_gather_and_reduce_scatter(gbs):
    """DeepSpeed overlap_comm false runs ZeRO-3's collectives on the compute stream: per micro-batch one parameter
    all-gather before the forward, one before the backward (the recomputed forward keeps its gather: DeepSpeed's
    max_reuse_distance 1e9 exceeds a Llama-2-70B layer) and one gradient reduce-scatter, all exposed. LoRA: every
    frozen base weight is gathered (2 B each), only the adapters' gradients reduce."""
    off = _zero3(8, gbs, overlap=False)
    on = _zero3(8, gbs, overlap=True)
    b, m = off.breakdown, off.breakdown["m"]
    assert m == gbs // 8
    cfg = load_llm("llama-2-70b")
    params = cfg.param_count() - cfg.hidden_size  # PP 1: every weight but the final norm's (device_params)
    t_ag = float(collective_time("all_gather", 2.0 * params, 8, topology_for_chip("gaudi2"))[0])
    assert b["t_dp_all_gather"] == pytest.approx(t_ag, rel=1e-9)
    ex = b["exposed_comm_s"]
    assert ex["dp_all_gather"] == pytest.approx(m * t_ag, rel=1e-9)
    assert ex["dp_reduce_scatter"] == pytest.approx(m * b["t_dp"], rel=1e-9)  # t_dp = reduce-scatter + the gather
    assert off.step_time_s - on.step_time_s == pytest.approx(
        ex["dp_all_gather"] + ex["dp_reduce_scatter"] - on.breakdown["exposed_dp"], rel=1e-9)
    assert off.step_time_s > on.step_time_s
    assert any("on the compute stream" in n for n in off.notes) and any("own stream" in n for n in on.notes)


def test_overlap_comm_acts_only_under_zero_2_and_3():
    kw = dict(lora=LORA, tp=8, pp=1, cp=1, zero=1, recompute="full", mbs=1)
    a = train("llama-2-70b", "h100-sxm", 16, 16 * 8192, 8192, "bf16", zero_overlap_comm=False, **kw)
    b = train("llama-2-70b", "h100-sxm", 16, 16 * 8192, 8192, "bf16", **kw)
    assert a.step_time_s == b.step_time_s


def test_a_non_boolean_overlap_setting_is_refused():
    with pytest.raises(TapeoutError, match="zero_overlap_comm"):
        _zero3(8, 8, overlap="no")


def test_juniper_clusters_are_two_ports_per_eight_gpu_node():
    """oversubscription = 8 GPUs x the chip's per-GPU NIC / the node's 2 ports (2 x 400 GbE on H100_n4, 2 x 200 GbE
    on A100_n8: JuniperNetworks/systems/*.json accelerator_interconnect)."""
    for name, chip, port_gbit in (("juniper-h100-n4", "h100-sxm", 400), ("juniper-a100-n8", "a100-sxm", 200)):
        f = get_fabric(name)
        per_gpu = topology_for_chip(chip).scaleout_bw  # B/s, the catalog's one NIC per GPU
        assert f.zone_chips == 8
        assert f.oversubscription == pytest.approx(8 * per_gpu / (2 * port_gbit / 8 * 1e9))


def test_juniper_rows_run_their_systems_fabric_and_overlap():
    rows = _rows()
    for rid, cluster in (("TRN-v4.0-0066", "juniper-a100-n8"), ("TRN-v4.0-0067", None), ("TRN-v4.0-0068", "juniper-h100-n4")):
        r = rows[rid]
        pins = submission_layout("llama2-70b-lora", r, "h100-sxm" if "H100" in r["accelerator"] else "a100-sxm",
                                 int(r["n_accelerators"]))
        assert pins.get("cluster") == cluster and pins["zero_overlap_comm"] is True and pins["zero"] == 3
    # the two ports slow the 32-GPU gathers: the nodes' DP traffic gets a quarter of the NICs
    plain = _zero3(32, 32, True, chip="h100-sxm")
    two = _zero3(32, 32, True, chip="h100-sxm", cluster="juniper-h100-n4")
    assert two.breakdown["zone_share"]["dp"] == pytest.approx(0.25)
    assert two.breakdown["t_dp_all_gather"] > plain.breakdown["t_dp_all_gather"]


def test_gaudi_lora_row_runs_its_config_without_overlap():
    d = map_row(_rows()["TRN-v4.0-0064"]).detail
    assert d["parallelism"].startswith("TP1 PP1 DP8 mbs1 ZeRO-3 recompute=full")
    assert any("on the compute stream" in n for n in d["model_notes"])
