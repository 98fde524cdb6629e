"""NVIDIA's MLPerf BERT gradient clipping before the reduction: three memory passes over the whole gradient per step.

NVIDIA's BERT runs apex DistributedFusedLAMB with gradient clipping before the reduction (the MLPerf rule change its
copy of apex PR #1099 implements: mlcommons/training_results_v2.0 @a6ae3e1 NVIDIA/benchmarks/bert/implementations/
pytorch/optim/distributed_fused_lamb.py `_pipeline_block_reductions_patched`). Once per step, on every rank and over
the whole flat fp16 gradient (not the rank's 1/n shard), before the reduce-scatter starts:

  - `_flatten_grad_mt(1.0)`: the model's gradients copied into the flat gradient buffer (read + write),
  - `_flat_grads.norm(dtype=float16, p=2)`: the global L2 norm (read),
  - `_flat_grads.mul_(scale)`: the clip coefficient / world size applied (read + write),

i.e. 5 fp16 passes, 10 B per parameter (other_benchmarks.yaml bert_train.clip_before_allreduce, with its source).
The model priced the LAMB kernels on the shard (weight_update.bert, 48 B per shard parameter) but not these passes,
which are replicated and serial with the step (the reduce-scatter waits for them). BERT-Large's 335 M parameters:
3.35 GB per step per rank, ~1.8 ms on an A100 SXM 80 GB, ~13 ms on an L4.

BERT_CLIP_BEFORE_ALLREDUCE: on. It is read from the stack's source, the same on every chip, and it moves the NVIDIA BERT
rows (every one too fast) toward their measurements (docs/notes/issue-18.md, round stop-41 issue-58c). It is a small
part of the NVIDIA BERT shortfall: the A100 SXM 40 / 80 GB pair implies gigabytes per sample unpriced
(scripts/bert_memory_share.py), this term is ~50 MB per sample. Off: no clipping pass is priced.
"""

from __future__ import annotations

from ..ops import Elementwise, OpGraph

BERT_CLIP_BEFORE_ALLREDUCE = True


def clip_graph(n_params: float, spec: dict) -> OpGraph:
    """The step's clipping passes over `n_params` gradient elements: one Elementwise op per pass of `spec`
    (bert_train.clip_before_allreduce's value: passes with their tensor reads / writes, and the gradient dtype)."""
    ops = [Elementwise(name=f"clip.{q['name']}", elems=float(n_params), flops_per_elem=1.0,
                       reads=float(q["reads"]), writes=float(q["writes"]), dtype=str(spec["dtype"]))
           for q in spec["passes"]]
    return OpGraph("bert:clip_before_allreduce", ops, {})


def clip_bytes(n_params: float, spec: dict) -> float:
    """DRAM bytes of the passes: what each op reads and writes."""
    return sum(o.input_bytes + o.output_bytes for o in clip_graph(n_params, spec).ops)


__all__ = ["BERT_CLIP_BEFORE_ALLREDUCE", "clip_bytes", "clip_graph"]
