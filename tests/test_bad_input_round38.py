"""Bad input and silent defaults left by the stop-37 audit (issue 18; docs/notes/issue-18.md, Round stop-38
issue-42c): each test failed before its fix."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tapeout
from tapeout.errors import TapeoutError
from tapeout.explore.space import load_space
from tapeout.perf.train_layout import SEARCH_LIMIT, candidate_layouts, search_size
from tapeout.perf.train_memory import GRAD_BYTES, states_held_once
from tapeout.workloads.llm_config import load_llm

LLAMA8B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192}


def _config(tmp_path, name: str, **dims) -> str:
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({**LLAMA8B, **dims}))
    return str(p)


# ---------------------------------------------------------------- 1. absurd layer counts
@pytest.mark.parametrize("layers", [1e12, 10**9, 10**6])
def test_an_absurd_layer_count_is_refused_by_the_memory_of_the_run(tmp_path, layers):
    """num_hidden_layers 1e12 was a MemoryError traceback (the search listed VP 1 .. L/PP); 1e6 ran for minutes.
    Every parameter's weight, gradient and optimizer states must sit somewhere in the run's memory."""
    path = _config(tmp_path, "huge", num_hidden_layers=layers)
    with pytest.raises(TapeoutError) as e:
        tapeout.train(model=path, chip="h100-sxm", num_chips=64)
    msg = str(e.value)
    assert "does not fit in 64 chips x 69.6 GiB usable of 79.2 GiB of h100-sxm under the cuda runtime's reserve" in msg
    assert "add chips (at least" in msg
    assert f"{int(layers):,} layers" in msg


def test_the_cli_answers_an_absurd_layer_count_in_one_line(tmp_path):
    path = _config(tmp_path, "huge", num_hidden_layers=1e12)
    r = subprocess.run([sys.executable, "-m", "tapeout", "train", "--model", path, "--chip", "h100-sxm", "-n", "64"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_layer_count_the_search_cannot_enumerate_names_the_field_and_the_count(tmp_path):
    """A million thin layers fit in memory but would have the search check tens of millions of layouts."""
    path = _config(tmp_path, "thin", num_hidden_layers=10**6, hidden_size=64, num_attention_heads=1,
                   num_key_value_heads=1, intermediate_size=128, vocab_size=1000)
    with pytest.raises(TapeoutError, match=r"would check [\d,]+ candidate layouts.*'num_hidden_layers'.*pin --pp and --vp"):
        tapeout.train(model=path, chip="h100-sxm", num_chips=64)


@pytest.mark.parametrize("model,chips,fixed", [("llama-3.1-8b", 64, {}), ("mixtral-8x7b", 32, {}),
                                               ("llama-3.1-405b", 512, {"tp": 8}), ("gpt3-175b", 96, {"vp": 1})])
def test_search_size_counts_the_layouts_the_search_builds(model, chips, fixed):
    cfg = load_llm(model)
    built, _ = candidate_layouts(cfg, chips, 8, 1024, 4096, fixed, check=False)
    assert search_size(cfg, chips, 4096, fixed) == len(built) <= SEARCH_LIMIT


def test_states_held_once_is_one_copy_of_weights_gradients_and_adam():
    """Mixed precision with Adam: 2 (BF16 weight) + 4 (FP32 gradient) + 12 (FP32 master, m, v) bytes per parameter
    (Megatron-LM distributed optimizer table, 6 + 12/d at d = 1 plus what ZeRO-3 shards: the weight and gradient
    held once); LoRA: the frozen weight plus the adapters' states."""
    assert GRAD_BYTES == 4.0
    assert states_held_once(1e9) == pytest.approx(18e9)
    assert states_held_once(1e9, grad_bytes=2.0) == pytest.approx(16e9)
    assert states_held_once(1e9, lora=True, frozen_bytes=1.0) == pytest.approx(1.016e9)


# ---------------------------------------------------------------- 2. training precisions without a recipe
@pytest.mark.parametrize("precision", ["mxfp4", "mxfp6", "fp8block", "int4", "fp32", "fp8e5m2"])
def test_a_precision_without_a_training_recipe_is_refused_listing_the_valid_ones(precision):
    """These ran BF16 GEMMs (or their own dtype without any quantize kernel) labelled as the format asked."""
    with pytest.raises(TapeoutError) as e:
        tapeout.train(model="llama-3.1-8b", chip="b200", num_chips=8, precision=precision)
    msg = str(e.value)
    assert f"--precision {precision}: no training recipe on file" in msg
    assert "bf16, fp8, fp8current, mxfp8, nvfp4" in msg and "(fp16, int8)" in msg


# ---------------------------------------------------------------- 3. a benchmark's default precision says why
def test_a_benchmark_without_its_stack_on_file_says_why_it_runs_bf16():
    r = tapeout.train(benchmark="llama3.1-8b", chip="b200", num_chips=64).to_dict()
    shown = {s["setting"]: s for s in r["stack"]["settings"]}["precision"]
    assert shown["value"] == "bf16" and shown["from"].startswith("default: ")
    assert "no software stack of its submissions on file" in shown["from"]
    assert any(n.startswith("precision bf16, default: ") for n in r["notes"])


# ---------------------------------------------------------------- 4. --chips-per-node above the scale-up domain
def test_a_server_above_the_scale_up_domain_is_stated_and_must_hold_whole_domains():
    r = tapeout.train(model="llama-3.1-8b", chip="h100-pcie", num_chips=16, chips_per_node=8)
    assert any("a server of 4 scale-up domains of 2 h100-pcie" in n for n in r.notes)
    with pytest.raises(TapeoutError, match="--chips-per-node 12 is not a whole number of h100-sxm's 8-chip scale-up"):
        tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=48, chips_per_node=12)
    b = tapeout.train_benchmark("resnet", "h100-sxm", 16, chips_per_node=16).to_dict()
    assert any("a server of 2 scale-up domains of 8 h100-sxm" in n for n in b["notes"])


# ---------------------------------------------------------------- 5. physical_limits is a switch
def _space(**extra):
    from test_buildable import _space as buildable_space

    return buildable_space(**extra)


@pytest.mark.parametrize("value", ["no", 0, 1, "false", None])
def test_physical_limits_takes_true_or_false_only(value):
    """"no" and 0 were read as false by pydantic's lax bool: the opt-out of every physical limit by a typo."""
    with pytest.raises(TapeoutError, match=r"field 'physical_limits': a switch: give true or false"):
        load_space(_space(physical_limits=value))
    assert load_space(_space(physical_limits=False)).physical_limits is False


# ---------------------------------------------------------------- hostile pass
def test_a_misspelt_baseline_chip_is_refused_before_the_search_with_the_closest():
    """`baseline: h100-sxn` was taken silently (and refused only after the search when --sensitivity ran)."""
    with pytest.raises(TapeoutError, match=r"field 'baseline': unknown chip 'h100-sxn'. Closest: h100-sxm"):
        load_space(_space(baseline="h100-sxn"))


def test_a_model_directory_is_pointed_at_its_config(tmp_path):
    d = tmp_path / "my-model"
    d.mkdir()
    with pytest.raises(TapeoutError, match=r"is a directory: give the config.json inside it"):
        tapeout.train(model=str(d), chip="h100-sxm", num_chips=8)
