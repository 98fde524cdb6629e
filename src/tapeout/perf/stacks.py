"""Serving-stack behaviour the engine models (data/software/serving_stacks.yaml): the custom
all-reduce workspace, the paged-KV block size and the parallelism each of TensorRT-LLM, vLLM, ...
supports, and which stack a published row's software field names. One job: read it."""

from __future__ import annotations

import re
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
    key = d["default"] if name is None else name  # "" is a name (refused below), not the default
    if key not in d["stacks"]:
        raise unknown_name_error("serving stack", key, list(d["stacks"]))
    return d["stacks"][key]


def stack_for_software(software: str | None) -> str | None:
    """The stack whose `software_match` patterns name a row's software field (e.g. "vLLM 0.5.2"
    -> "vllm"); None where none does (the engine then uses the default stack)."""
    s = (software or "").lower()
    for key, e in _stacks()["stacks"].items():
        if any(re.search(p, s) for p in e.get("software_match", ())):
            return key
    return None


def pipeline_parallel(name: str | None, scenario: str) -> bool:
    """Whether the stack runs a replica over pipeline stages in this scenario (offline: the
    stack's offline entry point; server / interactive: its online engine)."""
    pp = stack(name).get("pipeline_parallel", {})
    return bool(pp.get("offline" if scenario == "offline" else "server", True))


def kv_static(name: str | None) -> bool:
    """Whether the stack's KV cache is static: every slot allocated at the longest request and
    attended over in full each decode step (HPU-graph static shapes), not paged."""
    return bool(stack(name).get("kv_static", False))


def custom_allreduce_limits(name: str | None = None) -> tuple[tuple[int, float], ...]:
    """((max_ranks, max_bytes), ...) of the stack's custom all-reduce, smallest group first."""
    return tuple(sorted((int(e["max_ranks"]), float(e["value"])) for e in stack(name)["custom_allreduce_max_bytes"]))


def collective_launch(name: str | None = None) -> str:
    """How the stack's collective-library calls reach the device: "queued" (its host runs ahead of the
    device: CUDA graphs, an asynchronous engine) or "exposed" (perf/collective_launch.py)."""
    from .collective_launch import check_launch

    e = stack(name)
    if "collective_launch" not in e:
        raise ValueError(f"serving stack {name!r} has no collective_launch (data/software/serving_stacks.yaml)")
    return check_launch(e["collective_launch"])


def kv_tokens_per_block(name: str | None = None) -> int:
    """The stack's paged KV-cache block size in tokens (unknown: the default stack's)."""
    return int(stack(name).get("kv_tokens_per_block") or stack(None)["kv_tokens_per_block"])


def kv_block_waste_tokens(name: str | None = None) -> float:
    """Mean KV tokens a sequence's paged cache holds beyond its length: its last block is on
    average half empty (a length is uniform modulo the block size)."""
    return kv_tokens_per_block(name) / 2.0


def kv_beams_share_prompt(name: str | None = None) -> bool:
    """Whether the stack's paged KV cache holds a beam-search request's prompt once for all its
    beams (shared blocks, copy-on-write) rather than once per beam."""
    return bool(stack(name).get("kv_beams_share_prompt", False))


def max_batch_per_micro_batch(name: str | None = None) -> bool:
    """Whether the stack's runtime max batch (TensorRT-LLM max_batch_size) bounds each pipeline
    micro-batch, so a replica over pp stages holds up to pp x max batch sequences; false: the
    whole replica."""
    return bool(stack(name).get("max_batch_per_micro_batch", False))


def default_max_seqs(name: str | None = None) -> int | None:
    """The most sequences the stack's scheduler runs at once when its launch sets nothing (vLLM
    max_num_seqs); None where the stack file names no default."""
    v = stack(name).get("default_max_seqs")
    return None if v is None else int(v)


def engine_settings(name: str | None = None) -> str | None:
    """The harness that sets the engine's max batch / max tokens itself where its command gives neither
    ("trtllm-bench": perf/bench_engine.py); None where the stack names none."""
    return stack(name).get("engine_settings")


def engine_attention_dp_moe(name: str | None = None) -> bool:
    """Whether the stack runs MoE models with attention data parallelism, so the engine's max batch size holds per
    attention rank (a TP-n replica: n x max batch); false: per replica."""
    return bool(stack(name).get("engine_attention_dp_moe", False))
