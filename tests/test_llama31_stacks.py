"""MLPerf Training v5.x Llama 3.1 405B stacks (issue 18, round stop-38 issue-44b): the stacks' settings against
their sources (NVIDIA's launch configs in training_results_v5.0 / v5.1), and `--benchmark llama3.1-405b` taking
them only on the round / chip the source covers."""

from __future__ import annotations

import re

import pytest

from tapeout.api.train_settings import run_stack
from tapeout.hardware.catalog import get_chip
from tapeout.perf.bench_stack import benchmark_stack, merged_layout, submission_entries
from tapeout.perf.mlperf import benchmarks
from tapeout.perf.train_stack import find_stack, named_stack, stack_of_round

B405 = "llama3.1-405b"


def _cfg(key=B405):
    return benchmarks()["training"][key]


def _run(chip, key=B405, precision=None, stack=None):
    return run_stack(stack, key, _cfg(key), chip, precision, None, {}, {})


# ------------------------------------------------------------------ the stacks' values, as their sources state them
def test_v5_0_stack_is_the_fp8_delayed_recipe_of_the_h100_and_gb200_configs():
    st = named_stack("nemo-llama31-405b-v5.0")
    assert (st.round, st.vendor, st.benchmarks, st.chips) == ("v5.0", "NVIDIA", (B405,), ("h100-sxm", "gb200"))
    # config_common.sh FP8=True; conf/custom.yaml fp8_recipe default 'delayed' (the tapeout recipe 'fp8' is delayed scaling)
    assert st.value("training_recipe") == "fp8"
    # config_common.sh USE_DIST_OPTIMIZER=True; pretrain.py grad_reduce_in_fp32=False
    assert st.value("distributed_optimizer") is True and st.value("grad_sync_dtype") == "bf16"
    assert st.value("sequence_parallel") is True and st.value("overlap_p2p_comm") is True
    assert st.value("tp_comm_overlap") is True


def test_v5_1_stack_is_nvfp4_on_gb200_and_gb300_without_tp_overlap():
    st = named_stack("nemo-llama31-405b-v5.1")
    assert (st.round, st.chips) == ("v5.1", ("gb200", "gb300"))
    assert st.value("training_recipe") == "nvfp4"  # the _fp4 configs (config_common_fp4.sh), NVFP4 per NVIDIA's blog
    assert st.value("tp_comm_overlap") is False  # config_GB200_*_cg_fp4.sh TP_COMM_OVERLAP=False
    assert st.value("distributed_optimizer") is True


def test_the_sized_layouts_match_their_config_names():
    """config_<SYSTEM>_<nodes>x<gpus>x<minibs>xtp<T>pp<P>cp<C>...: nodes x gpus = chips, and TP / PP / CP as pinned."""
    entries = [e for e in _cfg()["submission_layouts"] if "chip" in e]
    assert len(entries) == 6
    for e in entries:
        m = re.search(r"config_\w+?_(\d+)x(\d+)x(\d+)xtp(\d+)pp(\d+)cp(\d+)", e["source"])
        assert m, e["source"]
        nodes, gpus, _, tp, pp, cp = map(int, m.groups())
        assert nodes * gpus == e["chips"] and (tp, pp, cp) == (e["tp"], e["pp"], e["cp"]), e["source"]
        assert e["vp"] == 8 and e["mbs"] == 1  # INTERLEAVED_PIPELINE=8, MICRO_BATCH_SIZE=1 in every one read


def test_the_h100_512_submission_layout():
    rec = merged_layout(submission_entries(B405, "nemo", None, "v5.0", None), "h100-sxm", 512)
    assert {k: rec[k] for k in ("tp", "pp", "vp", "cp", "mbs")} == {"tp": 8, "pp": 8, "vp": 8, "cp": 2, "mbs": 1}


# ------------------------------------------------------------------ which stack a benchmark run takes
@pytest.mark.parametrize("chip,name", [("h100-sxm", "nemo-llama31-405b-v5.0"), ("gb200", "nemo-llama31-405b-v5.1"),
                                       ("gb300", "nemo-llama31-405b-v5.1"), ("b200", None), ("h200", None),
                                       ("mi300x", None)])
def test_the_benchmark_takes_the_latest_round_whose_configs_ran_on_the_chip(chip, name):
    st, _ = benchmark_stack(B405, chip)
    assert (st.name if st else None) == name


def test_other_benchmarks_and_rows_never_take_a_llama31_stack():
    assert stack_of_round("v5.0", "NVIDIA") is None and stack_of_round("v5.1", "NVIDIA") is None
    assert stack_of_round("v5.0", "NVIDIA", "llama2-70b-lora", "h100-sxm") is None
    assert benchmark_stack("gpt3-175b", "gb200")[0].name == benchmark_stack("gpt3-175b")[0].name == "nemo-24.04"
    assert stack_of_round("v4.0", "NVIDIA").name == "nemo-24.04"
    for sw in ("NeMo NVIDIA Release 25.04", "NVIDIA NeMo Framework", "PyTorch NVIDIA Release 25.09"):
        for rnd in ("v5.0", "v5.1"):
            st = find_stack(sw, rnd)
            assert st is None or not st.benchmarks  # a validation row is never priced under a benchmark-scoped stack


@pytest.mark.parametrize("chip,precision", [("h100-sxm", "fp8"), ("gb200", "nvfp4"), ("gb300", "nvfp4")])
def test_the_run_trains_in_the_stacks_recipe_and_says_where_it_came_from(chip, precision):
    rs = _run(chip)
    assert rs.precision == precision
    assert rs.precision_from.startswith(f"the recipe benchmark {B405}'s MLPerf") and rs.name in rs.precision_from
    assert "training_recipe" in rs.precision_from
    assert rs.pins.get("mbs") == 1  # the round's config_common.sh MICRO_BATCH_SIZE=1


def test_a_chip_no_config_ran_on_keeps_bf16_and_names_the_stacks_on_file():
    rs = _run("b200")
    assert rs.name is None and rs.precision == "bf16" and rs.precision_from.startswith("default: ")
    assert "for chip b200" in rs.precision_from and "nemo-llama31-405b-v5.1 (MLPerf v5.1: gb200, gb300)" in rs.precision_from


def test_the_users_precision_and_a_power_capped_chip():
    assert _run("gb200", precision="fp8").precision == "fp8"  # --precision wins
    capped = get_chip("gb200").power_capped(800).id  # a MaxQ-style variant of a covered chip keeps its stack
    assert _run(capped).precision == "nvfp4"


def test_a_forced_stack_on_an_uncovered_chip_does_not_carry_its_recipe():
    rs = _run("h100-sxm", stack="nemo-llama31-405b-v5.1")  # NVFP4 was run on gb200 / gb300 only
    assert rs.name == "nemo-llama31-405b-v5.1" and rs.precision == "fp8"  # the NVIDIA rule, not the stack's nvfp4
    assert "precision_rules" in rs.precision_from


def test_llama31_8b_keeps_bf16_no_stack_of_its_submissions_on_file():
    rs = _run("gb300", key="llama3.1-8b")
    assert rs.name is None and rs.precision == "bf16"
    assert "no software stack of its submissions on file" in rs.precision_from


def test_train_shows_the_stack_and_its_recipe_in_the_result():
    import tapeout

    r = tapeout.train(benchmark=B405, chip="h100-sxm", num_chips=512, tp=8, pp=8, cp=2, vp=8).to_dict()
    assert r["stack"]["name"] == "nemo-llama31-405b-v5.0"
    shown = {s["setting"]: s for s in r["stack"]["settings"]}
    assert shown["precision"]["value"] == "fp8" and "nemo-llama31-405b-v5.0" in shown["precision"]["from"]
    assert not any(n.startswith("precision ") for n in r["notes"])  # the default-precision note is for a benchmark's bf16


def test_another_vendors_chip_is_told_the_stacks_on_file_are_nvidias():
    """Review round stop-38 (issue-44c): on mi300x the run said "no software stack of its submissions on file",
    though NVIDIA's two stacks are; it now names them and why they do not apply (the chip is AMD's)."""
    rs = _run("mi300x")
    assert rs.name is None and rs.precision == "bf16"
    assert "nemo-llama31-405b-v5.0" in rs.precision_from and "run on NVIDIA accelerators" in rs.precision_from
    assert "chip mi300x is AMD's" in rs.precision_from
    assert "no software stack of its submissions on file" in _run("mi300x", key="llama3.1-8b").precision_from
