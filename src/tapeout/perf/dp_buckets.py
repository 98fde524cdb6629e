"""Data-parallel gradient / parameter collectives issued bucket by bucket.

A training stack does not reduce-scatter a device's gradients (or all-gather its parameters) in
one collective: it splits the buffer into buckets and issues one NCCL collective per bucket, on
one communicator, so they run one after another. Each pays the ring's fill latency again:
a ring reduce-scatter / all-gather over p ranks takes p - 1 dependent steps whatever its size
(NCCL src/graph/tuning.cc: nsteps = nRanks - 1 for both, ring the only algorithm for them across
nodes before PAT, NCCL 2.23). With n collectives of S/n bytes each (alpha-beta, linear in S):

    t = n x t_one(S / n) = t_one(S) + (n - 1) x latency(ring over the group)

Bucket count per step of one device, per stack (rule `kind`):
  megatron  Megatron-Core DistributedDataParallel: bucket_size = max(40,000,000, 1,000,000 x DP x CP)
            parameters ("larger DP sizes need larger buckets to ensure collectives do not become
            latency-bound": DistributedDataParallelConfig.bucket_size doc, megatron/core/distributed/
            distributed_data_parallel.py; megatron/training/training.py get_model), and bucketing only
            on the first model chunk (get_model: disable_bucketing=(model_chunk_idx > 0)): the other
            vp - 1 chunks issue one collective each. The default (Megatron-LM / NeMo 2).
  apex      Apex DistributedFusedAdam (NeMo 1.x `distributed_fused_adam`): bucket_cap_mb megabytes
            of the grad-sync dtype per bucket, bucket_size = 1024 x 1024 x bucket_cap_mb / dtype
            bytes elements (apex/contrib/optimizers/distributed_fused_adam.py __init__), every bucket
            of every chunk its own reduce-scatter and parameter all-gather.

Tied word embeddings with PP > 1 (GPT-3: share_embeddings_and_output_weights): the first stage's
input embedding and the last stage's output layer are two copies of one V/TP x h weight, so after
the backward their gradients are summed over the two stages (NeMo `allreduce_first_last_embeddings`,
Megatron-Core finalize_model_grads `_allreduce_word_embedding_grads`, both an all-reduce over the
embedding group of 2 ranks, on the gradient buffer `main_grad`, i.e. the grad-sync dtype: Apex
DistributedFusedAdam.zero_grad sets param.main_grad = grad_buffer_view(param)). It runs after the
pipeline's last backward, with nothing left to hide behind. Under the apex rule (NeMo 1.x / 24.x
MegatronGPTModel.configure_optimizers with distributed Adam) the same weight also gets
`_disable_overlap_grad_sync = True` and goes in the last parameter bucket ("Params with disabled
overlapping are put in the last param bucket"), so its DP reduce-scatter runs in the optimizer
step, exposed too; Megatron-Core DDP buckets it like any other parameter (overlapped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TapeoutError
from ..hardware.memory_capacity import MIB
from .collectives import collective_time

# megatron/core/distributed/distributed_data_parallel.py (and megatron/training/training.py get_model):
# bucket_size = max(40000000, 1000000 * data_parallel_world_size(with_context_parallel=True))
MEGATRON_MIN_BUCKET_PARAMS = 40_000_000
MEGATRON_BUCKET_PARAMS_PER_DP_RANK = 1_000_000
# apex/contrib/optimizers/distributed_fused_adam.py: bucket_cap_mb default 100; bucket_size = 1024*1024*cap/dtype
APEX_DEFAULT_BUCKET_CAP_MB = 100.0
RULES = ("megatron", "apex")


@dataclass(frozen=True)
class BucketRule:
    kind: str = "megatron"
    cap_mb: float = APEX_DEFAULT_BUCKET_CAP_MB  # apex only

    def __post_init__(self):
        if self.kind not in RULES:
            raise TapeoutError(f"DP bucket rule '{self.kind}' is not one of {', '.join(RULES)}; use 'megatron' "
                               f"(Megatron-Core DDP) or 'apex' (Apex DistributedFusedAdam with bucket_cap_mb).")
        if isinstance(self.cap_mb, bool) or not (isinstance(self.cap_mb, (int, float)) and math.isfinite(self.cap_mb)
                                                 and self.cap_mb > 0):
            raise TapeoutError(f"DP bucket cap_mb must be a number of megabytes > 0, got {self.cap_mb!r}.")


def bucket_rule(spec) -> BucketRule:
    """A BucketRule from None (Megatron-Core default), a rule, a kind name, or a stack file value
    {kind: apex, cap_mb: 100}."""
    if spec is None:
        return BucketRule()
    if isinstance(spec, BucketRule):
        return spec
    if isinstance(spec, str):
        return BucketRule(spec)
    if isinstance(spec, dict) and "kind" in spec:
        extra = sorted(set(spec) - {"kind", "cap_mb"})
        if extra:
            raise TapeoutError(f"DP bucket rule {spec!r} has unknown key(s) {', '.join(map(str, extra))}; "
                               f"give only kind and cap_mb, e.g. {{kind: apex, cap_mb: 100}}.")
        return BucketRule(str(spec["kind"]), spec.get("cap_mb", APEX_DEFAULT_BUCKET_CAP_MB))  # BucketRule checks cap_mb
    raise TapeoutError(f"DP bucket rule {spec!r} is not a rule; give 'megatron', 'apex' or {{kind: apex, cap_mb: 100}}.")


def bucket_params(rule: BucketRule, dp_cp: int, grad_bytes: float) -> float:
    """Parameters per bucket: Megatron-Core max(40M, 1M x DP x CP); Apex 1024^2 x cap_mb / grad bytes."""
    if rule.kind == "megatron":
        return float(max(MEGATRON_MIN_BUCKET_PARAMS, MEGATRON_BUCKET_PARAMS_PER_DP_RANK * max(1, int(dp_cp))))
    return MIB * rule.cap_mb / grad_bytes


def collective_count(params: float, vp: int, rule: BucketRule, dp_cp: int, grad_bytes: float) -> int:
    """DP collectives (of one kind: reduce-scatter, or all-gather) per step for a device holding
    `params` parameters in `vp` model chunks of equal size."""
    if params <= 0:
        return 0
    vp = max(1, int(vp))
    per_bucket = bucket_params(rule, dp_cp, grad_bytes)
    per_chunk = math.ceil(params / vp / per_bucket - 1e-9)
    if rule.kind == "megatron":  # only the first model chunk is bucketed
        return per_chunk + (vp - 1)
    return vp * per_chunk


def bucketed_collective_time(kind: str, S: float, n: int, group: int, topo, stride: int = 1) -> float:
    """Time (s) of `n` back-to-back collectives that together move S bytes per rank: n x t(S/n)."""
    if n <= 0 or group <= 1 or S <= 0:
        return 0.0
    return n * float(collective_time(kind, S / n, group, topo, stride=stride)[0])


def tied_embedding_params(tied: bool, pp: int, vocab: int, hidden: int, tp: int, trained: bool = True) -> float:
    """Gradient elements of the tied word embedding one first- or last-stage chip syncs across the
    two stages: V/TP x h when the model ties its embeddings, PP > 1 and the weight trains (LoRA
    freezes it: NeMo skips the all-reduce when `requires_grad` is False); else 0."""
    if not tied or pp <= 1 or not trained:
        return 0.0
    return float(vocab) * float(hidden) / max(1, int(tp))


def deferred_params(rule: BucketRule, tied_params: float) -> float:
    """Parameters whose DP reduce-scatter the rule leaves until after the backward (exposed):
    the apex rule's last bucket holds the tied embedding; Megatron-Core overlaps it."""
    return float(tied_params) if rule.kind == "apex" else 0.0


def first_last_stage_stride(stage_stride: int, pp: int) -> int:
    """Ranks between the two members of the embedding group, the first and the last pipeline
    stage: (PP - 1) x `stage_stride` (TP x CP x DP between neighbouring stages in Megatron's
    rank order, PP outermost: parallel_state `embedding_ranks = [ranks[0], ranks[-1]]`)."""
    return max(1, int(pp) - 1) * int(stage_stride)


def tied_embedding_sync_time(tied_params: float, rule: BucketRule, dp_group: int, dp_stride: int, pp_stride: int,
                             grad_bytes: float, topo, dp_cp: int) -> tuple[float, float]:
    """(first-last stage all-reduce, deferred DP reduce-scatter) seconds of the tied embedding's
    gradient per step, both exposed. `pp_stride`: ranks between the first and the last pipeline
    stage (first_last_stage_stride); the deferred reduce-scatter is bucketed like the others."""
    if tied_params <= 0:
        return 0.0, 0.0
    S = grad_bytes * tied_params
    t_ar = float(collective_time("all_reduce", S, 2, topo, stride=pp_stride)[0])
    late = deferred_params(rule, tied_params)
    n = collective_count(late, 1, rule, dp_cp, grad_bytes)
    return t_ar, bucketed_collective_time("reduce_scatter", grad_bytes * late, n, dp_group, topo, stride=dp_stride)
