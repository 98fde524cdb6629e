"""LoRA adapter kernels in a training step (Hu et al. 2021, arXiv:2106.09685).

An adapter on a frozen linear layer y = W x adds y += (alpha/r) B A dropout(x), A: k -> r,
B: r -> n. At rank r of 8-64 its two GEMMs have almost no FLOPs but stream the layer's
input and output: they are memory-bound kernels, costed here as elementwise passes. Per
adapter, forward (bf16 tensors, 2 bytes per element):
  dropout on x          read 1, write 1 (+ 1-byte mask = 0.5 bf16 element), only when p > 0
  A x                   read 1 (the r-wide output is negligible), 2 r FLOPs per input element
  B h, y + scale B h    B writes 1, the add reads 2 and writes 1, 2 r + 1 FLOPs per output element
Backward runs dgrad and wgrad of both A and B (the adapters train) over the same tensors and
the dropout mask on the gradient: twice the forward passes, which is how the training step
already weighs elementwise work (perf/training.py: backward = 2 x forward elementwise time).

Sharding follows NeMo's ParallelLinearAdapter with sequence parallelism and its all-to-all
option (LORA_A2A=1 in NVIDIA's MLPerf configs): every side of an adapter holds 1/TP of the
tokens x features, so on a column-parallel layer (full input width k) the input side is
m k / TP and on a row-parallel one (full output width n) the output side is m n / TP.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TapeoutError
from ..ops import Elementwise, MatMul, OpGraph

# Megatron-Core names of the linear layers in this package's LLM graph (workloads/llm.py) and
# whether each is column-parallel (output split over TP) or row-parallel (input split)
COLUMN_PARALLEL = {"qkv_proj": True, "o_proj": False, "mlp_gate_up": True, "mlp_down": False}


@dataclass(frozen=True)
class LoraAdapters:
    """Which linear layers carry adapters, their rank and the adapter input dropout."""

    rank: int
    targets: tuple[str, ...] = ("qkv_proj", "o_proj")
    dropout: float = 0.0

    def __post_init__(self):
        unknown = [t for t in self.targets if t not in COLUMN_PARALLEL]
        if unknown or self.rank < 1 or not 0.0 <= self.dropout < 1.0:
            raise TapeoutError(f"LoRA adapters: rank >= 1, dropout in [0, 1), targets among "
                             f"{', '.join(COLUMN_PARALLEL)} (got rank {self.rank}, dropout {self.dropout}, "
                             f"targets {self.targets})")


def adapter_ops(g: OpGraph, spec: LoraAdapters, tp: int) -> list[Elementwise]:
    """Forward adapter kernels for every target GEMM of `g` (a per-rank graph built at TP `tp`)."""
    out: list[Elementwise] = []
    r = float(spec.rank)
    for op in g.ops:
        if not isinstance(op, MatMul) or op.name not in spec.targets:
            continue
        col = COLUMN_PARALLEL[op.name]
        rows = op.groups * op.batch * op.m
        n_in = rows * op.k / (tp if col else 1)
        n_out = rows * op.n / (1 if col else tp)
        if spec.dropout > 0:
            out.append(Elementwise(name=f"{op.name}_lora_dropout", count=op.count, elems=n_in, flops_per_elem=2.0,
                                   reads=1.0, writes=1.5))
        out.append(Elementwise(name=f"{op.name}_lora_a", count=op.count, elems=n_in, flops_per_elem=2.0 * r,
                               reads=1.0, writes=r / max(op.k, 1)))
        out.append(Elementwise(name=f"{op.name}_lora_b_add", count=op.count, elems=n_out,
                               flops_per_elem=2.0 * r + 1.0, reads=2.0, writes=2.0))
    return out


def adapters_of_benchmark(b: dict) -> LoraAdapters | None:
    """The adapters a training benchmark of data/mlperf/benchmarks.yaml defines (lora_rank,
    lora_targets, lora_dropout), or None when it defines none."""
    from .mlperf import value_of

    if "lora_rank" not in b:
        return None
    return LoraAdapters(int(value_of(b["lora_rank"])), tuple(value_of(b.get("lora_targets", {"value": ["qkv_proj", "o_proj"]}))),
                        float(value_of(b.get("lora_dropout", 0.0))))
