"""NVIDIA's MLPerf BERT gradient passes before the reduction: the whole gradient read and written once per step.

NVIDIA's BERT runs apex DistributedFusedLAMB (other_benchmarks.yaml bert_train.distributed_lamb_vendors). Before the
reduce-scatter of a step can start, every rank passes over its whole flat fp16 gradient (not its 1/n shard), to gather
the model's gradients into the flat buffer, take their global L2 norm and apply the clip scale
(bert_train.clip_before_allreduce, with its sources):

  - v2.0 (NVIDIA's own copy of apex PR #1099, `_pipeline_block_reductions_patched`): `_flatten_grad_mt(1.0)` (read +
    write), `_flat_grads.norm(dtype=float16)` (read), `_flat_grads.mul_(scale)` (read + write): 10 B per parameter;
  - later rounds (upstream apex with fused_norm and fuse_scale): one `multi_tensor_l2norm_scale` (read + write, the
    norm in the same pass), the scale folded into the reduce-scatter: 4 B per parameter.

The model priced the LAMB kernels on the shard (weight_update.bert, 48 B per shard parameter) but not these passes,
which are replicated and serial with the step (the reduce-scatter waits for them). BERT-Large's 335 M parameters:
3.35 GB (v2.0) / 1.34 GB per step per rank, ~1.8 / 0.7 ms on an A100 SXM 80 GB. They are part of the optimizer time
(other_training.training_time, `optimizer_s`).

BERT_CLIP_BEFORE_ALLREDUCE: on. It is read from the stack's source, the same on every chip, and it moves the NVIDIA BERT
rows (every one too fast) toward their measurements (docs/notes/issue-18.md, round stop-41 issue-58c). It is a small
part of the NVIDIA BERT shortfall: the A100 SXM 40 / 80 GB pair implies gigabytes per sample unpriced
(scripts/bert_memory_share.py); this term is tens of MB per sample. Off: no such pass is priced.
"""

from __future__ import annotations

from ..ops import Elementwise, OpGraph

BERT_CLIP_BEFORE_ALLREDUCE = True


def round_passes(spec: dict, mlperf_round: str | None) -> list[dict]:
    """The passes the stack of `mlperf_round` ran (bert_train.clip_before_allreduce's value): the patched v2.0 copy's, or
    upstream apex's fused one (later rounds, and a run with no round: the newest stack)."""
    return spec["patched_passes"] if mlperf_round in spec["patched_rounds"] else spec["passes"]


def clip_graph(n_params: float, spec: dict, mlperf_round: str | None = None) -> OpGraph:
    """The step's passes over `n_params` gradient elements: one Elementwise op per pass of the round's stack, with its
    tensor reads / writes of the gradient dtype."""
    ops = [Elementwise(name=f"clip.{q['name']}", elems=float(n_params), flops_per_elem=1.0,
                       reads=float(q["reads"]), writes=float(q["writes"]), dtype=str(spec["dtype"]))
           for q in round_passes(spec, mlperf_round)]
    return OpGraph("bert:clip_before_allreduce", ops, {})


def clip_bytes(n_params: float, spec: dict, mlperf_round: str | None = None) -> float:
    """DRAM bytes of the passes: what each op reads and writes."""
    return sum(o.input_bytes + o.output_bytes for o in clip_graph(n_params, spec, mlperf_round).ops)


__all__ = ["BERT_CLIP_BEFORE_ALLREDUCE", "clip_bytes", "clip_graph", "round_passes"]
