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


@pytest.mark.parametrize("name", ["llama2-70b", "mixtral-8x7b"])
def test_sample_count_and_stated_mean(name):
    a = _lengths(name)
    b = BENCH[name]
    assert len(a) == b["samples"]["value"]  # 24,576 / 15,000: the whole official dataset
    assert b["mean_input_tokens"]["status"] == "measured"
    assert a[:, 0].mean() == pytest.approx(b["mean_input_tokens"]["value"], abs=0.01)
    assert a[:, 0].max() <= b["max_input_tokens"]["value"]


def test_mixtral_reference_outputs_match_official_tokens_per_sample():
    """Mixtral's reference outputs are the model's own generations: their mean is the README's
    accuracy-target tokens_per_sample (144.84), an independent check of the copied file."""
    a = _lengths("mixtral-8x7b")
    assert a[:, 1].mean() == pytest.approx(BENCH["mixtral-8x7b"]["mean_output_tokens"]["value"], abs=0.01)
