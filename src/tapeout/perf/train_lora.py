"""LoRA adapter kernels in a training step (Hu et al. 2021, arXiv:2106.09685).

An adapter on a frozen linear layer y = W x adds y += (alpha/r) B A dropout(x), A: k -> r,
B: r -> n. At rank r of 8-64 its two GEMMs have almost no FLOPs but stream the layer's
input and output: they are memory-bound kernels, costed here as elementwise passes. Per
adapter, forward (bf16 tensors, 2 bytes per element):
  dropout on x          read 1, write 1 (+ 1-byte mask = 0.5 bf16 element), only when p > 0
  A x                   read 1 (the r-wide output is negligible), 2 r FLOPs per input element
                        (column-parallel target: r/TP columns over the gathered input)
  B h, scale, y + B h   B writes 1, the alpha/r scale reads 1 and writes 1, the add reads 2 and
                        writes 1: 3 reads, 3 writes, 2 r + 2 FLOPs per output element
Backward runs dgrad and wgrad of both A and B (the adapters train) over the same tensors and
the dropout mask on the gradient: twice the forward passes, which is how the training step
already weighs elementwise work (perf/training.py: backward = 2 x forward elementwise time).

Sharding follows NeMo's ParallelLinearAdapter (nemo/collections/nlp/modules/common/megatron/
adapters/parallel_adapters.py, with mcore_mixins.py, 2024) under sequence parallelism and its
all-to-all option (LORA_A2A=1 in NVIDIA's MLPerf configs):
- column-parallel target (linear_qkv): the adapter reads the *gathered* layernorm output, the
  full tokens x k on every TP rank (TE LayerNormLinear `return_layernorm_output_gathered`, or the
  adapter's own gather_from_sequence_parallel_region when that GEMM's all-gather is overlapped);
  dropout (position 'pre') runs on that full tensor, A is ColumnParallelLinear(k, r) with
  gather_output (each rank r/TP columns over all tokens, then an all-gather of tokens x r), and B
  writes its 1/TP share of the output width;
- row-parallel target (linear_proj): A is RowParallelLinear(k/TP, r) (all-reduce of tokens x r,
  sequence parallelism switched off inside the adapter), B writes tokens x n/TP, then an
  all-to-all moves it to the sequence-parallel layout (tokens/TP x n, `all2all_hp2sp`).
The backward mirrors these collectives (ColumnParallelLinear's copy_to_tensor_model_parallel_region
all-reduces the tokens x r input gradient of B), so each adapter collective is costed once forward
and once backward. The adapter output is scaled by alpha/r (`x * (self.alpha / self.dim)`, its own
kernel: read 1, write 1) before the add into the base GEMM output.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TapeoutError
from ..ops import Collective, Elementwise, MatMul, Op, OpGraph

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


def adapter_ops(g: OpGraph, spec: LoraAdapters, tp: int, act_bytes: float = 2.0) -> list[Op]:
    """Forward adapter kernels and TP collectives for every target GEMM of `g` (a per-rank graph
    built at TP `tp`; a column-parallel op has the full input width k and n/TP outputs, a
    row-parallel one k/TP inputs and the full output width n)."""
    out: list[Op] = []
    r = float(spec.rank)
    for op in g.ops:
        if not isinstance(op, MatMul) or op.name not in spec.targets:
            continue
        col = COLUMN_PARALLEL[op.name]
        rows = op.groups * op.batch * op.m
        n_in = rows * op.k  # column: the gathered full-width input; row: the rank's k/TP slice
        n_out = rows * op.n / (1 if col else tp)  # row: after the all-to-all to the sequence-parallel layout
        if spec.dropout > 0:
            out.append(Elementwise(name=f"{op.name}_lora_dropout", count=op.count, elems=n_in, flops_per_elem=2.0,
                                   reads=1.0, writes=1.5))
        out.append(Elementwise(name=f"{op.name}_lora_a", count=op.count, elems=n_in, flops_per_elem=2.0 * r / (tp if col else 1),
                               reads=1.0, writes=r / max(op.k, 1)))
        out.append(Elementwise(name=f"{op.name}_lora_b_add", count=op.count, elems=n_out,
                               flops_per_elem=2.0 * r + 2.0, reads=3.0, writes=3.0))
        if tp > 1:
            low = rows * r * act_bytes  # the rank-r activation, every token
            out.append(Collective(name=f"{op.name}_lora_{'allgather' if col else 'allreduce'}", count=op.count,
                                  collective="all_gather" if col else "all_reduce", payload_bytes=low, group=tp))
            if not col:
                out.append(Collective(name=f"{op.name}_lora_a2a", count=op.count, collective="all_to_all",
                                      payload_bytes=rows * op.n / tp * act_bytes, group=tp))
    return out


def adapter_params(g: OpGraph, spec: LoraAdapters, tp: int) -> float:
    """Trainable adapter parameters one TP rank holds for the whole graph `g` (built at TP `tp`):
    r (k + n) / TP per target GEMM and layer, A and B both split over TP."""
    total = 0.0
    for op in g.ops:
        if isinstance(op, MatMul) and op.name in spec.targets:
            k, n = (op.k, op.n * tp) if COLUMN_PARALLEL[op.name] else (op.k * tp, op.n)
            total += op.count * op.groups * spec.rank * (k + n) / tp
    return total


def adapters_of_benchmark(b: dict) -> LoraAdapters | None:
    """The adapters a training benchmark of data/mlperf/benchmarks.yaml defines (lora_rank,
    lora_targets, lora_dropout), or None when it defines none."""
    from .mlperf import value_of

    if "lora_rank" not in b:
        return None
    return LoraAdapters(int(value_of(b["lora_rank"])), tuple(value_of(b.get("lora_targets", {"value": ["qkv_proj", "o_proj"]}))),
                        float(value_of(b.get("lora_dropout", 0.0))))
