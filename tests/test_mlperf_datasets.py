"""The shipped MLPerf dataset shapes agree with the official benchmark definitions."""

import csv
from importlib import resources

import numpy as np
import pytest
import yaml

BENCH = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "benchmarks.yaml").read_text())["inference"]


def _lengths(name: str) -> np.ndarray:
    """(input, output) per sample; output -1 where the file holds inputs only (gpt-oss-120b)."""
    path = resources.files("tapeout").joinpath("data", "mlperf", BENCH[name]["lengths_file"])
    with open(path, newline="") as f:
        return np.array([[int(r["input_length"]), int(r.get("output_length") or -1)] for r in csv.DictReader(f)])


SHIPPED = ["llama2-70b", "mixtral-8x7b", "llama3.1-405b", "llama3.1-8b", "deepseek-r1", "gpt-oss-120b"]


@pytest.mark.parametrize("name", SHIPPED)
def test_sample_count_and_stated_mean(name):
    a = _lengths(name)
    b = BENCH[name]
    # 24,576 / 15,000 / 8,313 / 13,368 / 4,388 / 6,396: the whole official (performance) dataset
    assert len(a) == b["samples"]["value"]
    assert b["mean_input_tokens"]["status"] == "measured"
    assert a[:, 0].mean() == pytest.approx(b["mean_input_tokens"]["value"], abs=0.01)
    assert a[:, 0].max() <= b["max_input_tokens"]["value"]


def test_mixtral_reference_outputs_match_official_tokens_per_sample():
    """Mixtral's reference outputs are the model's own generations: their mean is the README's
    accuracy-target tokens_per_sample (144.84), an independent check of the copied file."""
    a = _lengths("mixtral-8x7b")
    assert a[:, 1].mean() == pytest.approx(BENCH["mixtral-8x7b"]["mean_output_tokens"]["value"], abs=0.01)


def test_llama31_405b_reference_outputs_match_official_tokens_per_sample():
    """The 405b file's outputs are the reference Llama-3.1-405B generations: their mean is the
    README's accuracy-target tokens_per_sample (684.68), an independent check of the copy."""
    a = _lengths("llama3.1-405b")
    b = BENCH["llama3.1-405b"]
    assert b["mean_output_tokens"]["status"] == "official"
    assert a[:, 1].mean() == pytest.approx(b["mean_output_tokens"]["value"], abs=0.01)


@pytest.mark.parametrize("name", ["llama3.1-405b", "llama3.1-8b", "gpt-oss-120b"])
def test_measured_max_input_is_the_file_max(name):
    """Where no official limit exists, max_input_tokens is the dataset's longest prompt."""
    a = _lengths(name)
    b = BENCH[name]["max_input_tokens"]
    assert b["status"] == "measured"
    assert a[:, 0].max() == b["value"]


def test_llama31_8b_outputs_are_not_taken_as_token_counts():
    """The 8b file's output column is len(reference summary) // 4 (characters / 4, mean 81.63),
    not tokens: the benchmark's mean_output_tokens must not claim to be measured from it."""
    a = _lengths("llama3.1-8b")
    assert a[:, 1].mean() == pytest.approx(81.63, abs=0.01)
    assert BENCH["llama3.1-8b"]["mean_output_tokens"]["status"] != "measured"


def test_deepseek_r1_longest_prompt_is_the_reference_input_limit():
    """The reference caps prompts at MAX_ISL 3136 + 4 template tokens (backend_registry.py):
    the copied file's longest prompt reaches exactly that limit, and no output exceeds
    MAX_OSL = 32,768, an independent check of the copy."""
    a = _lengths("deepseek-r1")
    b = BENCH["deepseek-r1"]
    assert a[:, 0].max() == b["max_input_tokens"]["value"] == 3136 + 4
    assert a[:, 1].max() == b["max_output_tokens"]["value"] == 32 * 1024


def test_deepseek_r1_outputs_rescaled_to_the_official_mean():
    """The file's reference outputs (mean 4043.45) come from another reference run than the
    README's 3886.23 tokens per sample: the serving engine keeps their shape at the official mean."""
    from tapeout.perf.mlperf import dataset_lengths

    a = _lengths("deepseek-r1")
    target = BENCH["deepseek-r1"]["mean_output_tokens"]["value"]
    assert abs(a[:, 1].mean() / target - 1) > 0.01
    _, outs = dataset_lengths("deepseek-r1")
    assert outs.mean() == pytest.approx(target, rel=0.01)
    assert np.corrcoef(outs, a[:, 1])[0, 1] > 0.99  # same ordering of long and short answers


def test_gpt_oss_inputs_only_file_serves_the_official_mean_output():
    """Only the performance set's mean output (TEST09 reference 1278.20) is published, so each
    request gets that mean; inputs are the file's."""
    from tapeout.perf.mlperf import dataset_lengths

    a = _lengths("gpt-oss-120b")
    assert (a[:, 1] == -1).all()
    ins, outs = dataset_lengths("gpt-oss-120b")
    assert np.array_equal(ins, a[:, 0])
    assert np.all(outs == BENCH["gpt-oss-120b"]["mean_output_tokens"]["value"])
