"""Serving-stack behaviour the engine models (data/software/serving_stacks.yaml): the custom
all-reduce workspace and the paged-KV block size of TensorRT-LLM, vLLM, ... One job: read it."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from ..errors import unknown_name_error


@lru_cache(maxsize=1)
def _stacks() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "software", "serving_stacks.yaml").read_text())


def stack(name: str | None = None) -> dict:
    """One stack's entry; None = the file's default stack."""
    d = _stacks()
    key = name or d["default"]
    if key not in d["stacks"]:
        raise unknown_name_error("serving stack", key, list(d["stacks"]))
    return d["stacks"][key]


def custom_allreduce_limits(name: str | None = None) -> tuple[tuple[int, float], ...]:
    """((max_ranks, max_bytes), ...) of the stack's custom all-reduce, smallest group first."""
    return tuple(sorted((int(e["max_ranks"]), float(e["value"])) for e in stack(name)["custom_allreduce_max_bytes"]))


def kv_block_waste_tokens(name: str | None = None) -> float:
    """Mean KV tokens a sequence's paged cache holds beyond its length: its last block is on
    average half empty (a length is uniform modulo the block size)."""
    return float(stack(name)["kv_tokens_per_block"]) / 2.0
