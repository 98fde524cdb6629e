"""Round stop-33 hostile pass (issues 18 / 24): the newest `train` / `calibrate` / `validate` flags and
their Python API twins tried with bad input. Every case: exit 2 with one line naming the option (and the
API raising TapeoutError with the same line), or a correct answer; one regression per fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _cli import refusal, run_cli
from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.inputs import output_file

DENSE = ["-m", "llama-3.1-8b", "-c", "h100-sxm", "-n", "8"]
MOE = ["-m", "qwen3-30b-a3b", "-c", "h100-sxm", "-n", "8"]
# a folder that exists but takes no new file, whoever runs the test (root too)
UNWRITABLE = Path("/proc/tapeout-hostile-33.json")
needs_proc = pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")


def _api_message(call) -> str:
    with pytest.raises(TapeoutError) as e:
        call()
    return "error: " + " ".join(str(e.value).split())


@pytest.mark.parametrize("schedule", ["bogus", "interleaved", "DualPipe", ""])
def test_unknown_pipeline_schedule_is_refused_before_the_layout_search(schedule):
    # was "no layout ... runs ...: breaks rule schedule" after searching every layout
    err = refusal(["train", *DENSE, "--pipeline-schedule", schedule])
    assert err.startswith("error: --pipeline-schedule must be one of 1f1b, dualpipe") and "--vp" in err
    assert _api_message(lambda: api.train("llama-3.1-8b", "h100-sxm", 8, pipeline_schedule=schedule)) == err


def test_pipeline_schedule_of_another_type_names_the_option():
    assert "--pipeline-schedule must be a name" in _api_message(
        lambda: api.train("llama-3.1-8b", "h100-sxm", 8, pipeline_schedule=2))


@pytest.mark.parametrize("flag", ["--ep-node-forwarding", "--ep-fp8-dispatch"])
def test_ep_switches_on_a_dense_model_are_refused(flag):
    # were accepted and listed as True in the stack table while changing nothing (no expert all-to-all)
    err = refusal(["train", *DENSE, "-p", "fp8", flag])
    assert err.startswith(f"error: {flag} changes the MoE expert all-to-all") and "dense" in err
    kw = {flag.removeprefix("--").replace("-", "_"): True}
    assert _api_message(lambda: api.train("llama-3.1-8b", "h100-sxm", 8, precision="fp8", **kw)) == err


def test_ep_switch_turned_off_on_a_dense_model_runs():
    code, out, _ = run_cli(["train", *DENSE, "--no-ep-fp8-dispatch", "--pp", "1", "--tp", "1"])
    assert code == 0, out[-500:]


@pytest.mark.parametrize("chip, precision", [("h100-sxm", "bf16"), ("b200", "mxfp8"), ("b200", "nvfp4")])
def test_fp8_dispatch_needs_fp8_gemms(chip, precision):
    # perf/training._ep_a2a casts the dispatch only under FP8 compute: the switch did nothing under BF16
    err = refusal(["train", "-m", "qwen3-30b-a3b", "-c", chip, "-n", "8", "-p", precision, "--ep-fp8-dispatch"])
    assert err.startswith("error: --ep-fp8-dispatch runs under an FP8 recipe") and f"got '{precision}'" in err


def test_fp8_dispatch_follows_the_recipe_fallback():
    # mxfp8 on H100 falls back to FP8 GEMMs (train_recipe.resolve), where the engine does cast the dispatch
    code, out, err = run_cli(["train", *MOE, "-p", "mxfp8", "--ep-fp8-dispatch", "--json"])
    assert code == 0, err[-500:]
    assert {"setting": "ep_fp8_dispatch", "value": True, "from": "--ep-fp8-dispatch"} in json.loads(out)["stack"]["settings"]


@pytest.mark.parametrize("cmd", [["calibrate", "--json"], ["calibrate", "--exclude", "h100-sxm", "--out"],
                                 ["validate", "--no-rows", "--json"]])
@needs_proc
def test_a_file_the_folder_refuses_is_named_before_the_work(cmd):
    # the folder exists, so it passed the check, and the fit / rows ran for minutes before a traceback
    err = refusal([*cmd, str(UNWRITABLE)])
    assert f"error: {cmd[-1]} '{UNWRITABLE}': cannot write it" in err


def test_output_file_keeps_an_existing_file_and_leaves_no_new_one(tmp_path):
    old = tmp_path / "old.json"
    old.write_text("kept")
    assert output_file(old, "--json") == old and old.read_text() == "kept"
    new = tmp_path / "sub" / "new.json"
    assert output_file(new, "--json") == new and not new.exists() and new.parent.is_dir()


@needs_proc
def test_output_file_refuses_an_unwritable_file():
    with pytest.raises(TapeoutError, match="^--out '/proc/tapeout-hostile-33.json': cannot write it"):
        output_file(UNWRITABLE, "--out")
    assert not os.path.exists(UNWRITABLE)


@pytest.mark.parametrize("cmd", [["calibrate"], ["validate", "--no-rows"], ["serve", *DENSE[:4]], ["train", *DENSE]])
def test_kernels_name_is_one_check_with_one_message(cmd):
    # calibrate and validate said only "the only kernel database is 'aiconfigurator'", without the fix
    err = refusal([*cmd, "--kernels", "bogus"])
    assert err == ("error: --kernels 'bogus': the only kernel database is 'aiconfigurator'; give --kernels "
                   "aiconfigurator, or drop --kernels to price GEMMs with the fitted model.")


@pytest.mark.parametrize("schemes, names", [("bogus", "unknown precision 'bogus'"), ("bf16,xx", "'xx'"),
                                            ("fp8+kv-bogus", "unknown dtype 'bogus'"),
                                            ("bf16+unstructuredx", "sparsity 'unstructuredx'")])
def test_quant_frontier_refuses_a_misspelt_scheme(schemes, names):
    # was exit 0 with the typo as one row of "n/a"
    err = refusal(["quant-frontier", "-m", "llama-3.1-8b", "-c", "h100-sxm", "--schemes", schemes])
    assert err.startswith("error: --schemes '") and names in err


def test_quant_frontier_keeps_a_scheme_the_chip_cannot_run_as_its_row():
    # a known format the chip lacks is an answer (its row says why), not bad input
    code, out, err = run_cli(["quant-frontier", "-m", "llama-3.1-8b", "-c", "a100-sxm", "--schemes", "bf16,fp8+2:8",
                              "--json"])
    assert code == 0, err
    assert "2:4 only" in out


@pytest.mark.parametrize("kw, option", [(dict(stack=1), "--stack"), (dict(precision=8), "--precision"),
                                        (dict(kernels=True), "--kernels")])
def test_serve_api_refuses_a_name_of_another_type(kw, option):
    # stack=1 was an AttributeError ('int' object has no attribute 'lower')
    assert f"{option} must be a name (text)" in _api_message(lambda: api.serve("llama-3.1-8b", "h100-sxm", **kw))


def test_explain_api_refuses_a_phase_of_another_type():
    assert "--phase must be a name (text)" in _api_message(lambda: api.explain("llama-3.1-8b", "h100-sxm", phase=1))


def test_train_benchmark_points_an_llm_benchmark_to_train():
    # said "unknown training benchmark 'gpt3-175b'. Known: gpt3-175b, ..."
    msg = _api_message(lambda: api.train_benchmark("gpt3-175b", "h100-sxm", 8))
    assert "trains an LLM: call tapeout.api.train(benchmark='gpt3-175b'" in msg and "unknown" not in msg


def test_non_llm_global_batch_below_the_chips_is_refused():
    # every chip is a data-parallel replica: the step priced one sample per chip and counted 3 of 8
    err = refusal(["train", "--benchmark", "retinanet", "-c", "h100-sxm", "-n", "8", "--global-batch", "3"])
    assert err.startswith("error: --global-batch 3: some of the 8 chips get no sample")
    # more chips than the largest RCP batch (4096, data/mlperf/rcps.yaml): no RCP batch runs, the definition's 256 is refused
    err = refusal(["train", "--benchmark", "retinanet", "-c", "h100-sxm", "-n", "8192"])
    assert err.startswith("error: --num-chips 8192 at the RCP's global batch 256")


def test_non_llm_global_batch_equal_to_the_chips_runs():
    r = api.train_benchmark("retinanet", "h100-sxm", 8, 8)
    assert r.to_dict()["breakdown"]["per_chip_batch"] == 1


def test_the_rcp_batch_choice_skips_batches_below_the_chips():
    # flux1's RCP batches 512 ... 4096: on 4096 chips only 4096 gives every replica a sample
    d = api.train_benchmark("flux1", "h100-sxm", 4096).to_dict()
    assert d["global_batch"] >= 4096 and "those >= the chips" in d["global_batch_from"]
