"""Round stop-25 review (issues 18 and 24): the stop-24 merges tried as a new user would.
Every case: exit 2 with one line naming the field and the fix, or an answer that obeys a rule
the rest of the tool already applies."""

from __future__ import annotations

import pytest

from _cli import assert_clean, run_cli
from tapeout.hardware.memory_capacity import GIB
from tapeout.workloads.catalog import build_workload, memory_needed


def _err(args) -> str:
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    return err.strip().splitlines()[-1]


# --- R-GAT: workload-run skipped the memory rule every other workload (and the explorer) applies -----------

def test_rgat_workload_run_memory_is_the_explorers():
    # was 0.0244 GB (the weights alone) while the explorer counts the batch's activations too
    from tapeout.explore.mix import compile_workload
    from tapeout.explore.space import WorkloadSpec
    from tapeout.perf.workload_throughput import workload_throughput

    run = workload_throughput("rgat", "h100-sxm")
    explorer = compile_workload(WorkloadSpec(name="w", kind="rgat")).memory_bytes
    assert run["memory_gb"] * GIB == pytest.approx(explorer)
    # the activations of a 1,024-seed batch (3 M sampled nodes x 1,024 features) are far above the weights
    assert explorer > 100 * build_workload("rgat").meta["weight_bytes"]


def test_rgat_batch_beyond_memory_is_one_line_naming_batch():
    # was exit 0 with "fits True": 10^12 seeds gather ~6e18 B of features onto one 80 GB chip
    err = _err(["workload-run", "rgat", "--chip", "h100-sxm", "--set", "batch=1000000000000"])
    assert "batch=1000000000000 needs" in err and "lower batch" in err


def test_rgat_batch_that_fits_a_small_chip_runs():
    # the rule is the tool's own (weights + 2 x the largest op's activations, no feature table):
    # a batch under the L4's usable memory runs, the default 1,024 seeds do not
    g = build_workload("rgat", batch=256)
    assert memory_needed(g, include_embeddings=False) < 20 * GIB
    code, out, err = run_cli(["workload-run", "rgat", "--chip", "l4", "--set", "batch=256", "--json"])
    assert code == 0, err
    assert "needs" in _err(["workload-run", "rgat", "--chip", "l4"])


# --- the interleaved schedule's micro-batch group: a default that changes the answer, now shown ---------------

def test_group_note_names_a_group_megatron_core_would_refuse_by_default():
    from tapeout.perf.pipeline_p2p import group_note

    # Megatron-Core: with N = PP a remainder m mod PP in (0, PP) raises; 20 on PP 8 leaves 4
    note = group_note(20, 8, 2)
    assert "N = 10" in note and "microbatch_group_size_per_vp_stage = 10" in note and "remainder 4" in note
    assert group_note(16, 8, 2) == group_note(24, 8, 4) == ""  # multiples of PP: the default runs
    assert group_note(20, 8, 1) == ""  # no interleaving, no group


def test_train_shows_the_group_it_priced():
    from tapeout import train

    args = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, seq_len=8192, tp=1, pp=8, vp=2, mbs=1)
    r = train(**args, global_batch_tokens=20 * 8192)  # 20 micro-batches on PP 8
    assert any("micro-batch group N = 10" in n for n in r.notes)
    r = train(**args, global_batch_tokens=16 * 8192)
    assert not any("micro-batch group" in n for n in r.notes)


def test_no_layout_fits_names_the_runtime_reserve_and_its_data_file():
    # was "perf/train_reserve.py": the usable memory is the chip's runtime's (data/software/training_reserve.yaml)
    # --stack none: since stop 26 --benchmark applies its NeMo stack, whose even pipeline stages leave 7 chips
    # no layout at all (tests/test_train_stack_cli.py); the memory message is this test's subject
    err = _err(["train", "--benchmark", "gpt3-175b", "-c", "h100-sxm", "-n", "7", "--stack", "none"])
    assert "under the cuda runtime's reserve, data/software/training_reserve.yaml" in err
    err = _err(["train", "--benchmark", "gpt3-175b", "-c", "h100-sxm", "-n", "7"])
    # since stop 38 the states held once (perf/training._refuse_unholdable) refuse 7 chips under any stack first, at
    # the benchmark's own batch, naming the smallest count its search runs (perf/chip_count; issue-45a)
    assert "under the cuda runtime's reserve, data/software/training_reserve.yaml" in err
    assert "is the smallest count with a layout that fits at 1,536 sequences" in err
    err = _err(["train", "--benchmark", "gpt3-175b", "-c", "tpu-v5p", "-n", "7"])
    assert "under the xla-tpu runtime's reserve" in err


def test_held_out_table_names_the_chip_not_the_alias_given(monkeypatch):
    # `--holdout h100` printed its table rows as "h100"; the fit holds out (and the JSON names) h100-sxm.
    # The fit itself is replaced by its result's shape (kernel_fit.holdout_report), so no database is read.
    from tapeout.cli import catalog_cmds

    err = {"n": 3, "median_abs_err_pct": 9.0, "p90_abs_err_pct": 20.0, "median_signed_err_pct": 1.0}
    fitted = {"holdout": "h100-sxm", "errors": {"gemm/bf16": err}, "fit": {"rows": 3, "params": {}},
              "train_chips": ["b200"], "source": {"package": "aiconfigurator-core", "package_version": "t", "chips": {}}}
    monkeypatch.setattr(catalog_cmds, "_kernel_calibration", lambda *a, **k: fitted)
    code, out, _ = run_cli(["calibrate", "--kernels", "aiconfigurator", "--holdout", "h100"])
    assert code == 0
    rows = [ln for ln in out.splitlines() if "gemm/bf16" in ln]
    assert rows and all("h100-sxm" in ln for ln in rows)
