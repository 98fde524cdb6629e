"""One step's weight update (optimizer step) of a data-parallel training run, memory-bound.

An optimizer step touches every trainable parameter's gradient, weight copies and optimizer states a
fixed number of times and does O(1) arithmetic per byte, so it runs at the chip's achieved DRAM
bandwidth (opcost's memory-bound rule for an elementwise op). What it moves is a property of the
implementation the submission runs: which kernels run over the flat parameter set (gradient unscale,
global grad-norm, per-tensor norms, the fused update) and the bytes of each tensor they read and write.
A spec lists exactly that (data/mlperf/other_benchmarks.yaml `weight_update`, each sourced):

    bytes: {tensor: bytes per element}          e.g. {grad: 2, master: 4, m: 4, v: 4, weight: 2}
    kernels: [{name, reads: [tensor], writes: [tensor]}]
    shard: none | all | domain                  sharded optimizer: the rank updates 1/group of the params
    launch_elems: elements one multi-tensor launch covers, where the library fixes it (optional)
    stack: name of a stack spec in data/software/llm_weight_update.yaml whose kernels and bytes it runs,
           its own `bytes` / `shard` on top (one library's optimizer written once: `resolved_spec`)

bytes per trainable parameter = sum over kernels of the bytes of the tensors read and written
(e.g. apex FusedAdam with fp32 master weights: reads g, p32, m, v and writes p32, m, v, p16).
Each kernel is one memory-bound op per launch: a multi-tensor kernel (apex / PyTorch multi_tensor_apply)
launches again whenever its chunk table is full (320 blocks of 65,536 elements), so
ceil(params / launch_elems) launches, each paying the chip's per-kernel time; without launch_elems, one.
Sparse embedding updates (rows touched by the batch) are not in here.

The LLM training engine (perf/training.py) prices its optimizer step here too, at the stack's spec in
data/software/llm_weight_update.yaml (Megatron-Core distributed Adam on GPUs, MaxText AdamW under XLA).
"""

from __future__ import annotations

import math
from functools import lru_cache

import yaml

from ..formats import data_file
from ..ops import Elementwise, OpGraph
from .opcost import evaluate

SHARDS = ("none", "all", "domain")


def bytes_per_param(spec: dict) -> float:
    """Bytes one step's update moves per trainable parameter: every kernel's reads and writes."""
    size = spec["bytes"]
    return float(sum(size[t] for k in spec["kernels"] for t in (*k.get("reads", ()), *k.get("writes", ()))))


def shard_group(spec: dict, n_chips: int, domain: int) -> int:
    """Ranks the optimizer state is sharded over: 1 (replicated, plain DDP), every rank (`all`:
    ZeRO-1 / distributed optimizer over the data-parallel group) or the scale-up domain (`domain`: HSDP)."""
    shard = spec.get("shard", "none")
    if shard not in SHARDS:
        raise ValueError(f"weight_update shard '{shard}' not one of {SHARDS}")
    n = max(1, int(n_chips))
    return {"none": 1, "all": n, "domain": max(1, min(n, int(domain)))}[shard]


def weight_update_op(params: float, bpp: float, name: str = "opt.weight_update", launches: int = 1) -> Elementwise:
    """`launches` kernels that together update `params` parameters at `bpp` bytes each, memory-bound
    (one-byte elements, so reads + writes per element are the sourced byte count)."""
    return Elementwise(name=name, elems=float(params) / launches, flops_per_elem=0.0, reads=float(bpp), writes=0.0,
                       dtype="int8", count=int(launches))


def update_ops(spec: dict, params: float) -> list[Elementwise]:
    """One op per kernel of `spec` over `params` parameters, each at its reads' + writes' bytes, in
    ceil(params / launch_elems) launches where the spec gives the library's chunking."""
    size, per_launch = spec["bytes"], spec.get("launch_elems")
    launches = max(1, math.ceil(params / float(per_launch))) if per_launch else 1
    return [weight_update_op(params, sum(size[t] for t in (*k.get("reads", ()), *k.get("writes", ()))),
                             f"opt.{k.get('name', i)}", launches) for i, k in enumerate(spec["kernels"])]


def resolved_spec(spec: dict) -> dict:
    """`spec` with its `stack` reference filled in: the named llm_weight_update.yaml stack's kernels,
    bytes and launch size, the spec's own `bytes` entries and `shard` overriding them."""
    if "stack" not in spec:
        return dict(spec)
    base = dict(_llm_specs()[spec["stack"]]["value"])
    out = {**base, **{k: v for k, v in spec.items() if k not in ("stack", "bytes")}}
    out["bytes"] = {**base["bytes"], **spec.get("bytes", {})}
    out.pop("stack_grad", None)
    return out


def weight_update_s(spec: dict, params: float, p, n_chips: int = 1, domain: int = 1) -> float:
    """Seconds of one step's weight update on one rank: its shard of `params` trainable parameters,
    each kernel of `spec` through opcost's memory-bound rule (achieved DRAM bandwidth, per-kernel time)."""
    if params <= 0:
        return 0.0
    ops = update_ops(spec, params / shard_group(spec, n_chips, domain))
    return float(evaluate(OpGraph("weight_update", ops), p).total_time)


@lru_cache(maxsize=1)
def _llm_specs() -> dict:
    return yaml.safe_load(data_file("software", "llm_weight_update.yaml").read_text())["stacks"]


@lru_cache(maxsize=1)
def _xla_vendors() -> tuple:
    facts = yaml.safe_load(data_file("mlperf", "other_benchmarks.yaml").read_text())
    return tuple(facts["weight_update_sharding"]["vendors"]["value"])


def shards_every_replica(vendor: str) -> bool:
    """The vendor's stack shards every weight update over the data-parallel replicas (XLA cross-replica
    weight-update sharding: other_benchmarks.yaml weight_update_sharding.vendors)."""
    return vendor in _xla_vendors()


def llm_update_spec(vendor: str, grad_bytes: float, zero: int, apex: bool = False) -> tuple[str, dict]:
    """(name, spec) of an LLM stack's weight update (data/software/llm_weight_update.yaml): MaxText AdamW
    under XLA; Apex DistributedFusedAdam for a stack that runs it (`apex`: its DP buckets are Apex's,
    perf/dp_buckets), its gradient shard in the stack's gradient dtype (`grad_bytes`, the spec's `stack_grad`
    tensor); else Megatron-Core's distributed Adam, with the FP32 copy of a BF16 gradient buffer when the
    stack reduces BF16 gradients. A ZeRO-0 layout (no distributed optimizer) replicates the update, except
    where XLA shards it anyway."""
    xla = shards_every_replica(vendor)
    name = ("maxtext-adamw" if xla else "apex-distributed-fused-adam" if apex else
            "megatron-distributed-adam" if grad_bytes >= 4 else "megatron-distributed-adam-bf16-grads")
    spec = dict(_llm_specs()[name]["value"])
    if spec.get("stack_grad"):
        spec["bytes"] = {**spec["bytes"], spec["stack_grad"]: grad_bytes}
    if zero == 0 and not xla:
        spec["shard"] = "none"
    return name, spec


__all__ = ["SHARDS", "bytes_per_param", "llm_update_spec", "resolved_spec", "shard_group", "shards_every_replica", "update_ops",
           "weight_update_op", "weight_update_s"]
