"""Hostile review of the stop-38 bad-input merge (issue-42c) and the leftovers it named (issue 18;
docs/notes/issue-18.md, Round stop-38 issue-44a). Each test of a fix failed before it; the frontier guards
pin what the new refusals must never refuse."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml

import tapeout
from tapeout.errors import TapeoutError
from tapeout.explore.space import load_space
from tapeout.perf.train_layout import SEARCH_LIMIT, search_size
from tapeout.workloads.llm_config import load_llm

from test_explore_fixtures import SMALL

# DeepSeek-V3's published dimensions (huggingface.co/deepseek-ai/DeepSeek-V3 config.json), written out by hand
# as a user would, with the keys tapeout does not read left in
DSV3 = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
        "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
        "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256, "num_experts_per_tok": 8,
        "first_k_dense_replace": 3, "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512,
        "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280, "n_group": 8,
        "topk_group": 4, "max_position_embeddings": 163840, "tie_word_embeddings": False, "num_nextn_predict_layers": 1,
        "rope_scaling": {"type": "yarn", "factor": 40}, "quantization_config": {"quant_method": "fp8"}}


def _config(tmp_path, **dims) -> str:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({**DSV3, **dims}))
    return str(p)


# ---------------------------------------------------------------- config.json dimensions
def test_the_hand_written_deepseek_v3_config_is_the_671b_model():
    """DeepSeek-V3 technical report (arXiv:2412.19437): 671B total parameters, 37B activated per token
    (the MTP module's 14B not counted)."""
    cfg = load_llm("deepseek-v3")
    assert cfg.param_count() == pytest.approx(671e9, rel=0.005)
    assert cfg.param_count(active=True) == pytest.approx(37e9, rel=0.02)


def test_a_hand_written_config_equals_the_preset(tmp_path):
    assert load_llm(_config(tmp_path)).param_count() == load_llm("deepseek-v3").param_count()


@pytest.mark.parametrize("missing", ["qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"])
def test_an_mla_config_without_a_head_dimension_names_it(tmp_path, missing):
    """kv_lora_rank with a head dimension null was a TypeError traceback ('NoneType' + 'int') at the parameter count."""
    with pytest.raises(TapeoutError, match=f"makes the attention MLA, which needs {missing}"):
        load_llm(_config(tmp_path, **{missing: None}))


@pytest.mark.parametrize("field", ["q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                   "max_position_embeddings"])
@pytest.mark.parametrize("value", [-1, 0])
def test_a_non_positive_size_is_refused_naming_the_field(tmp_path, field, value):
    """These took -1 and 0 (the MLA sizes went into the parameter count, a negative context refused every run)."""
    with pytest.raises(TapeoutError, match=f"field '{field}': Input should be greater than 0"):
        load_llm(_config(tmp_path, **{field: value}))


def test_a_negative_sliding_window_is_refused_and_zero_is_none(tmp_path):
    with pytest.raises(TapeoutError, match="field 'sliding_window': Input should be greater than or equal to 0"):
        load_llm(_config(tmp_path, sliding_window=-1))
    assert all(w == 0 for _, _, w in load_llm(_config(tmp_path, sliding_window=0)).attention_kinds())


@pytest.mark.parametrize("field", ["num_hidden_layers", "hidden_size", "n_routed_experts", "num_experts_per_tok",
                                   "qk_rope_head_dim"])
def test_a_json_boolean_is_not_a_size(tmp_path, field):
    """pydantic's lax int read `true` as 1 (a one-layer model, one expert) without a word."""
    with pytest.raises(TapeoutError, match=r"field '(num_hidden_layers|hidden_size|num_experts|num_experts_per_tok|"
                                           r"qk_rope_head_dim)': a size \(a whole number\), got true"):
        load_llm(_config(tmp_path, **{field: True}))


@pytest.mark.parametrize("model,chips,seq", [("deepseek-v3", 2048, 4096), ("llama-3.1-405b", 16384, 8192),
                                             ("gpt3-175b", 10752, 2048), ("qwen3-235b-a22b", 10752, 131072)])
def test_the_search_limit_never_refuses_a_frontier_run(model, chips, seq):
    """SEARCH_LIMIT is a tool budget: the frontier runs (DeepSeek-V3 on 2,048 H800, Llama 3.1 405B on 16,384 H100,
    GPT-3 on 10,752 H100; Qwen3-235B at 128k context, the largest search found in the review) stay under it."""
    assert search_size(load_llm(model), chips, seq) <= SEARCH_LIMIT


def test_the_memory_bound_is_the_usable_memory_under_the_runtime_reserve():
    """issue-42c's bound compared the states with the full capacity, so a run the search then refused for memory
    got a search and a different message; the usable memory at a rank with no process group is the most any
    layout keeps (each group adds communicator buffers: perf/train_reserve.communicators)."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.train_layout import TrainLayout
    from tapeout.perf.train_reserve import training_reserve
    from tapeout.perf.chip_count import Count
    from tapeout.perf.training import _refuse_unholdable

    c, cfg, cap = get_chip("h100-sxm"), load_llm("llama-3.1-8b"), 80 * 2**30
    usable = training_reserve(TrainLayout(), c).usable(cap)
    assert 0 < usable < cap and usable >= training_reserve(TrainLayout(tp=8, dp=4, pp=2), c).usable(cap)

    def bound(need):  # the count search stopped at once (issue-45a): the bound alone, "at least need"
        return Count(None, None, need, "the bound")

    _refuse_unholdable(cfg, c, 8, cap, 8 * usable, 1024, bound)  # exactly fits: searched
    with pytest.raises(TapeoutError, match=r"does not fit in 8 chips x [\d.]+ GiB usable of 80\.0 GiB of h100-sxm "
                                           r"under the cuda runtime's reserve.*add chips \(at least 9: the bound\)"):
        _refuse_unholdable(cfg, c, 8, cap, 8 * usable * 1.001, 1024, bound)


# ---------------------------------------------------------------- training precisions
def test_bfloat16_trains_as_bf16():
    """torch's spelling: run as the bf16 recipe before issue-42c, refused by it."""
    a = tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision="bfloat16")
    b = tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision="bf16")
    assert a.step_time_s == b.step_time_s


@pytest.mark.parametrize("precision,meant", [("float8", "fp8 (delayed scaling) or fp8current (current scaling)"),
                                             ("fp8e4m3", "fp8 (delayed scaling) or fp8current (current scaling)"),
                                             ("fp8kvbf16", "fp8 (delayed scaling) or fp8current (current scaling)"),
                                             ("w8a8", "int8")])
def test_a_serving_spelling_of_a_training_format_says_which_recipe(precision, meant):
    with pytest.raises(TapeoutError) as e:
        tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision=precision)
    assert f"--precision {precision}: no training recipe on file" in str(e.value)
    assert f"Did you mean {meant}?" in str(e.value)


def test_an_unknown_training_precision_lists_the_training_ones():
    """It listed serving's 22 precisions, most of them refused for training."""
    with pytest.raises(TapeoutError, match=r"unknown training precision 'fp9'\. Closest: fp8.*Known: bf16, fp8, "
                                           r"fp8current, mxfp8, nvfp4, fp16, int8\.$"):
        tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision="fp9")


# ---------------------------------------------------------------- explore workloads at load
@pytest.mark.parametrize("key,value,msg", [
    ("model", "llama-3.1-8bb", r"workloads 'dec' \(kind llm_decode\): unknown model 'llama-3.1-8bb'\. Closest: llama-3.1-8b"),
    ("precision", "fp88", r"workloads 'dec' .*unknown precision 'fp88'"),
    ("context", "abc", r"workloads 'dec' .*parameter 'context': a whole number >= 1, got 'abc'"),
    ("batch", 2.5, r"parameter 'batch': a whole number >= 1, got 2\.5"),
    ("model", False, r"workloads 'dec' .*a model name \(text\) is required, got False \(bool\)")])
def test_a_bad_workload_is_refused_when_the_space_loads(key, value, msg):
    """Taken at load and refused once the grid had started (a bare ValueError for 'abc'; 2.5 ran as 2)."""
    sp = copy.deepcopy(SMALL)
    sp["workloads"][0][key] = value
    with pytest.raises(TapeoutError, match=msg):
        load_space(sp)


# ---------------------------------------------------------------- a calibration fit given as an input
def test_a_calibration_fit_given_to_run_is_named(tmp_path):
    """It was answered "field 'about': unknown field: remove it"."""
    from tapeout.perf.calibration import load_fitted

    p = tmp_path / "fit.yaml"
    p.write_text(yaml.safe_dump({k: load_fitted()[k] for k in ("about", "excluded_chip", "chips", "families")}))
    r = subprocess.run([sys.executable, "-m", "tapeout", "run", str(p), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "is a calibration fit written by `tapeout calibrate`" in r.stderr
    assert "no command takes a fit as input" in r.stderr and "'about'" not in r.stderr
