"""`tapeout train --benchmark retinanet | rgat | dlrm-dcnv2 | bert | resnet | stable-diffusion | flux1 | rnnt | maskrcnn | unet3d` (issue 18
item 3): the CLI / API price a run exactly as the validation rows do (validation/other_training.py is their
one body), take their default batch and convergence point from the benchmark's RCP on file, and never invent
a convergence point (flux1's own checks: tests/test_flux_training.py)."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest
import yaml

from _cli import refusal, run_cli
from tapeout import api
from tapeout.perf.convergence import LATEST, olympic_mean, rcp_batches
from tapeout.validation.other_rows import TRAIN_BENCH, map_training, workload_facts
from tapeout.validation.other_training import BENCHMARKS, converge_at

# the results-folder token of each benchmark (the inverse of other_rows.TRAIN_BENCH)
ROW_TOKEN = {v: k for k, v in TRAIN_BENCH.items() if k not in ("retinanet", "rgat")}


def _newest_rcp(bench: str, bs: int | None = None) -> dict:
    """The newest ruleset's RCP list of `bench` at `bs` (default its smallest batch) in data/mlperf/rcps.yaml, read
    directly."""
    raw = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "rcps.yaml").read_text())[f"train-{bench}"]
    entries = raw if isinstance(raw, list) else [raw]
    e = max(entries, key=lambda e: max(tuple(int(x) for x in r.lstrip("v").split(".")) for r in e["rounds"]))
    p = min(e["points"], key=lambda p: p["bs"]) if bs is None else next(p for p in e["points"] if p["bs"] == bs)
    return {"bs": p["bs"], "converge": p["converge"], "unit": e["unit"], "batches": sorted(q["bs"] for q in e["points"])}


def _row(bench: str, chips: int, gb: int, samples: float) -> dict:
    return {"id": "T", "category": "mlperf-train", "workload": f"MLPerf Training v4.0 {ROW_TOKEN[bench]}",
            "accelerator": "NVIDIA H100-SXM5-80GB", "n_accelerators": str(chips),
            "notes": f"global_batch_size={gb} samples_count={samples}"}


@pytest.mark.parametrize("bench,chips,gb,samples", [("retinanet", 16, 512, 5e6), ("rgat", 8, 4096, 7e7),
                                                    ("dlrm-dcnv2", 8, 65536, 3e9), ("bert", 64, 1536, 2.7e6),
                                                    ("resnet", 8, 3264, 4.5e7), ("stable-diffusion", 32, 512, 2.5e6),
                                                    ("maskrcnn", 8, 96, 14 * 117266), ("unet3d", 8, 56, 369600)])
def test_api_equals_the_validation_row_mapper(bench, chips, gb, samples):
    """Same chip, chips, batch and samples: the same minutes, step and evaluation time as map_training."""
    row = map_training(_row(bench, chips, gb, samples))
    r = api.train_benchmark(bench, "h100-sxm", chips, global_batch=gb, samples_to_converge=samples)
    assert r.time_to_train_min == row.predicted
    assert r.step_time_s == row.detail["step_s"] and r.breakdown["eval_min"] == row.detail["eval_min"]
    assert r.breakdown["n_evals"] == row.detail["n_evals"]


@pytest.mark.parametrize("bench", BENCHMARKS)
def test_every_benchmark_runs_on_eight_h100_from_its_definition(bench):
    r = api.train_benchmark(bench, "h100-sxm", 8)
    rcp = _newest_rcp(bench)
    assert math.isfinite(r.time_to_train_min) and r.time_to_train_min > 0
    per = float(workload_facts()[f"train-{bench}"]["epoch_samples"]["value"]) if rcp["unit"] == "epochs" else 1.0
    batches = rcp_batches(f"train-{bench}", LATEST)
    if len(batches) > 1 and r.global_batch != rcp["bs"]:
        # several RCPs on file (maskrcnn, rnnt, unet3d): the API picks the RCP batch this system trains fastest at (api/other_train.py),
        # converging at rcp_checker's value there (interpolated between pruned RCPs: perf/convergence.py's own tests)
        assert r.global_batch in batches and r.samples_to_converge == converge_at(bench, r.global_batch).samples
    else:
        assert r.global_batch == rcp["bs"]
        # the convergence point is the RCP's olympic mean, in samples (epochs x the epoch's samples)
        assert r.samples_to_converge == pytest.approx(olympic_mean(rcp["converge"]) * per)
    # time to train >= the training steps alone (evaluation only adds)
    assert r.time_to_train_min * 60 >= r.samples_to_converge / r.samples_per_s * (1 - 1e-12)
    assert r.definition["samples_to_converge"]["source"].startswith("https://github.com/mlcommons/logging/")


@pytest.mark.parametrize("bench", BENCHMARKS)
def test_time_to_train_does_not_rise_when_chips_double_at_fixed_batch(bench):
    gb = _newest_rcp(bench)["bs"]
    # flux1 at its 512 on 4 H100s (128 per chip) does not fit memory (validation/train_fit.py): 8 and 16 chips
    chips = (8, 16) if bench == "flux1" else (4, 8)
    t = [api.train_benchmark(bench, "h100-sxm", n, global_batch=gb).time_to_train_min for n in chips]
    assert t[1] <= t[0] * (1 + 1e-9), t


def test_a_batch_without_a_convergence_point_gives_throughput_only():
    r = api.train_benchmark("dlrm-dcnv2", "h100-sxm", 8, global_batch=262144)  # above the largest RCP, 135,168
    assert r.time_to_train_min is None and r.samples_to_converge is None and r.samples_per_s > 0
    assert "no convergence point on file" in r.samples_to_converge_from


def test_quality_target_shown_where_on_file_and_said_missing_elsewhere():
    assert api.train_benchmark("rgat", "h100-sxm", 8).quality_target["value"] == "validation accuracy 0.72"
    assert api.train_benchmark("bert", "h100-sxm", 8).quality_target["status"] == "not on file"


def test_cli_json_is_the_api_result():
    code, out, _ = run_cli(["train", "--benchmark", "retinanet", "--chip", "h100-sxm", "-n", "8", "--json"])
    assert code == 0
    assert json.loads(out) == api.train_benchmark("retinanet", "h100-sxm", 8).to_dict()


def test_cli_table_prints_target_and_time_to_train():
    code, out, _ = run_cli(["train", "--benchmark", "rgat", "--chip", "h100-sxm", "-n", "8"])
    assert code == 0 and "validation accuracy 0.72" in out and "time to train" in out


def test_unknown_benchmark_lists_every_valid_name():
    line = refusal(["train", "--benchmark", "ssd-resnet34", "--chip", "h100-sxm"])
    assert all(b in line for b in BENCHMARKS + ("gpt3-175b", "llama3.1-8b"))


@pytest.mark.parametrize("args", [["--global-batch", "0"], ["--global-batch", "-8"], ["-n", "0"], ["-n", "-2"],
                                  ["--tp", "2"]])
def test_bad_input_exits_2_with_one_line(args):
    refusal(["train", "--benchmark", "bert", "--chip", "h100-sxm", *args])


def test_global_batch_is_refused_on_an_llm_run():
    assert "--global-batch-tokens" in refusal(["train", "--benchmark", "llama3.1-8b", "--chip", "h100-sxm",
                                              "--global-batch", "32"])
