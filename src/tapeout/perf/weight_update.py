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

bytes per trainable parameter = sum over kernels of the bytes of the tensors read and written
(e.g. apex FusedAdam with fp32 master weights: reads g, p32, m, v and writes p32, m, v, p16).
Sparse embedding updates (rows touched by the batch) are not in here.
"""

from __future__ import annotations

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


def weight_update_op(params: float, bpp: float, name: str = "opt.weight_update") -> Elementwise:
    """The update of `params` parameters at `bpp` bytes each as one memory-bound op (one-byte
    elements, so reads + writes per element are the sourced byte count)."""
    return Elementwise(name=name, elems=float(params), flops_per_elem=0.0, reads=float(bpp), writes=0.0, dtype="int8")


def weight_update_s(spec: dict, params: float, p, n_chips: int = 1, domain: int = 1) -> float:
    """Seconds of one step's weight update on one rank: its shard of `params` trainable parameters at
    bytes_per_param(spec), through opcost's memory-bound rule (achieved DRAM bandwidth, launch)."""
    if params <= 0:
        return 0.0
    op = weight_update_op(params / shard_group(spec, n_chips, domain), bytes_per_param(spec))
    return float(evaluate(OpGraph("weight_update", [op]), p).total_time)


__all__ = ["SHARDS", "bytes_per_param", "shard_group", "weight_update_op", "weight_update_s"]
