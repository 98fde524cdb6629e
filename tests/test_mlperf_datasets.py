"""The shipped MLPerf dataset shapes agree with the official benchmark definitions."""

import csv
from importlib import resources

import numpy as np
import pytest
import yaml

BENCH = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "benchmarks.yaml").read_text())["inference"]


def _lengths(name: str) -> np.ndarray:
    path = resources.files("tapeout").joinpath("data", "mlperf", BENCH[name]["lengths_file"])
    with open(path, newline="") as f:
        return np.array([[int(r["input_length"]), int(r["output_length"])] for r in csv.DictReader(f)])


@pytest.mark.parametrize("name", ["llama2-70b", "mixtral-8x7b", "llama3.1-405b", "llama3.1-8b"])
def test_sample_count_and_stated_mean(name):
    a = _lengths(name)
    b = BENCH[name]
    assert len(a) == b["samples"]["value"]  # 24,576 / 15,000 / 8,313 / 13,368: the whole official dataset
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


@pytest.mark.parametrize("name", ["llama3.1-405b", "llama3.1-8b"])
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
