"""The serving engine's caches are keyed on everything that changes the answer (issue 15 item 6):
a warm cache gives what a cold one gives, for inputs that share a name but not their content."""

import dataclasses
import json

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf.mlperf import clear_caches, serve_at_scale
from tapeout.workloads.llm_config import load_llm, raw_config

ARGS = dict(num_chips=1, precision="fp8", input_len=1024, output_len=256, scenario="offline", batch=32, tp=1)


def _rate(model, chip="h100-sxm") -> float:
    return serve_at_scale(model, chip, **ARGS).output_tokens_per_s


def test_two_config_files_with_one_name(tmp_path):
    """Hugging Face configs are all called config.json: the model's name is the file stem."""
    d, _ = raw_config("llama-3.1-8b")
    d.pop("name")
    for sub, layers in (("a", d["num_hidden_layers"]), ("b", 2 * d["num_hidden_layers"])):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "config.json").write_text(json.dumps({**d, "num_hidden_layers": layers}))
    a, b = (load_llm(str(tmp_path / s / "config.json")) for s in ("a", "b"))
    assert a.name == b.name == "config"
    clear_caches()
    warm = (_rate(a), _rate(b))
    clear_caches()
    cold_b = _rate(b)
    assert warm[1] == cold_b
    assert warm[1] < 0.75 * warm[0]  # twice the layers: each step streams twice the weights


def test_a_modified_chip_object_with_a_catalog_id():
    """A Chip object that is not the catalog's (a design point, an edited copy) is keyed by
    identity, not by its id."""
    c = get_chip("h100-sxm")
    bw = c.specs["memory_bandwidth_tbps"]
    slow = dataclasses.replace(c, specs={**c.specs, "memory_bandwidth_tbps": dataclasses.replace(bw, value=bw.value / 2)})
    clear_caches()
    warm = (_rate("llama-3.1-8b", c), _rate("llama-3.1-8b", slow))
    clear_caches()
    assert warm[1] == _rate("llama-3.1-8b", slow)
    assert warm[1] < warm[0]
    assert _rate("llama-3.1-8b", c) == pytest.approx(warm[0], rel=0)  # the catalog chip still by id
