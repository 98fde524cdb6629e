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

Under the apex rule a model chunk's buckets are one coalesced NCCL group, not n collectives in turn:
NeMo 1.x hands each chunk's parameters to Apex as the interleaved schedule reaches it (Megatron-Core
schedules.py grad_sync_func / param_sync_func per model chunk; NeMo MegatronGPTModel
reduce_overlap_gradients -> DistributedFusedAdam.try_grad_sync(params), sync_overlap_parameters ->
_try_start_bucket_param_sync(params)), and Apex issues every bucket it then launches inside one
`_coalescing_manager` (distributed_fused_adam.py _start_bucket_grad_sync / _start_bucket_param_sync),
i.e. one ncclGroupStart / ncclGroupEnd. NCCL runs the group's ring collectives over the communicator's
C channels in parallel, each channel its work one ring pass after another, so the ring latency is paid
once per pass a channel runs, not once per bucket (NCCL src/graph/tuning.cc ncclTopoGetAlgoTime: ring
latCount = numPipeOps, the operations per channel). How NCCL lays a group on its channels (src/enqueue.cc
scheduleCollTasksToPlan, rule `nccl_group`):
  per_op    NCCL <= 2.18: each collective on DIVUP(bytes, 2 MiB x min(16, ranks)) of the C channels
            (NCCL_AGG_CHANNEL_SIZE 2 MiB; addCollToPlan takes the least-loaded ones): a channel runs
            ceil(n k / C) of the n buckets
  balanced  NCCL 2.19-2.21: the group's bytes split evenly, channel c running bytes [c T/C, (c+1) T/C)
            of the buckets laid end to end (maxBytesPerChannel = total / usableChannels; collCBDQueue):
            a channel runs the buckets its range meets, ceil((c+1) n / C) - floor(c n / C)
`channels` C = 1 (the default) gives the n passes of n buckets in turn. The Megatron-Core rule issues
each bucket by itself as it fills (no group): n passes.

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
# NCCL <= 2.18 src/include/enqueue.h: NCCL_AGG_CHANNEL_SIZE (1LL << 21) "2 MiB, ideal per-channel size";
# enqueue.cc scheduleCollTasksToPlan: bytePerChannel = NCCL_AGG_CHANNEL_SIZE * min(16, nRanks)
NCCL_AGG_CHANNEL_BYTES = 2 * MIB
NCCL_AGG_RANKS_MAX = 16
GROUP_SCHEDULES = ("per_op", "balanced")
SPEC_KEYS = ("kind", "cap_mb", "channels", "nccl_group")


@dataclass(frozen=True)
class BucketRule:
    kind: str = "megatron"
    cap_mb: float = APEX_DEFAULT_BUCKET_CAP_MB  # apex only
    channels: int = 1  # apex only: NCCL channels of the DP communicator a chunk's coalesced group spreads over
    nccl_group: str = "per_op"  # apex only: how NCCL lays the group on its channels (GROUP_SCHEDULES)

    def __post_init__(self):
        if self.kind not in RULES:
            raise TapeoutError(f"DP bucket rule '{self.kind}' is not one of {', '.join(RULES)}; use 'megatron' "
                               f"(Megatron-Core DDP) or 'apex' (Apex DistributedFusedAdam with bucket_cap_mb).")
        if isinstance(self.cap_mb, bool) or not (isinstance(self.cap_mb, (int, float)) and math.isfinite(self.cap_mb)
                                                 and self.cap_mb > 0):
            raise TapeoutError(f"DP bucket cap_mb must be a number of megabytes > 0, got {self.cap_mb!r}.")
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) or not 1 <= self.channels <= 64:
            raise TapeoutError(f"DP bucket channels must be a whole number of NCCL channels from 1 to 64 (1: the "
                               f"buckets' collectives one after another), got {self.channels!r}.")
        if self.nccl_group not in GROUP_SCHEDULES:
            raise TapeoutError(f"DP bucket nccl_group '{self.nccl_group}' is not one of {', '.join(GROUP_SCHEDULES)}; "
                               f"use 'per_op' (NCCL <= 2.18) or 'balanced' (NCCL 2.19-2.21).")


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
        extra = sorted(set(spec) - set(SPEC_KEYS))
        if extra:
            raise TapeoutError(f"DP bucket rule {spec!r} has unknown key(s) {', '.join(map(str, extra))}; give only "
                               f"{', '.join(SPEC_KEYS)}, e.g. {{kind: apex, cap_mb: 100, channels: 8, nccl_group: per_op}}.")
        # BucketRule checks each value
        return BucketRule(str(spec["kind"]), spec.get("cap_mb", APEX_DEFAULT_BUCKET_CAP_MB), spec.get("channels", 1),
                          str(spec.get("nccl_group", "per_op")))
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


def group_passes(n: int, bucket_bytes: float, ranks: int, rule: BucketRule) -> int:
    """Ring passes one NCCL channel runs for a coalesced group of `n` equal bucket collectives of
    `bucket_bytes` each over `ranks` ranks (the group's latency count): the busiest channel's."""
    if n <= 0:
        return 0
    C = rule.channels
    if C <= 1:
        return n
    if rule.nccl_group == "balanced":  # channel c: bytes [c T/C, (c+1) T/C) of the buckets laid end to end
        return max(math.ceil((c + 1) * n / C - 1e-9) - math.floor(c * n / C + 1e-9) for c in range(C))
    per_channel = NCCL_AGG_CHANNEL_BYTES * min(NCCL_AGG_RANKS_MAX, max(1, int(ranks)))
    k = max(1, min(C, math.ceil(bucket_bytes / per_channel - 1e-9)))  # channels each collective takes
    return math.ceil(n * k / C - 1e-9)


def ring_passes(params: float, vp: int, rule: BucketRule, dp_cp: int, grad_bytes: float, coll_bytes: float,
                ranks: int) -> int:
    """Collectives (of one kind) per step whose ring latency adds up, for a device holding `params`
    parameters in `vp` equal model chunks, each collective moving `coll_bytes` per parameter over
    `ranks` ranks: the megatron rule's buckets in turn (collective_count); the apex rule's vp chunk
    groups, each the passes of its busiest channel (group_passes)."""
    n = collective_count(params, vp, rule, dp_cp, grad_bytes)
    if rule.kind != "apex" or n <= 0:
        return n
    vp = max(1, int(vp))
    per_chunk = n // vp
    return vp * group_passes(per_chunk, bucket_params(rule, dp_cp, grad_bytes) * coll_bytes, ranks, rule)


def bucketed_collective_time(kind: str, S: float, n: int, group: int, topo, stride: int = 1) -> float:
    """Time (s) of `n` back-to-back collectives (ring passes, ring_passes) that together move S bytes
    per rank: n x t(S/n), the bandwidth of S once and the ring's latency n times."""
    if n <= 0 or group <= 1 or S <= 0:
        return 0.0
    return n * float(collective_time(kind, S / n, group, topo, stride=stride)[0])


def bucket_overlap_exposed(comm_s: float, compute_s: float, n: int) -> float:
    """Seconds of `n` equal bucket collectives (`comm_s` together, one after another on the communicator's
    stream) left after the compute that produces their data (`compute_s`), bucket k ready at k/n of it (a
    uniform gradient production rate): a bucket starts when it is full and its predecessor is done, so the
    last one ends at max(compute + comm/n, compute/n + comm), i.e. max(comm/n, comm - compute (n-1)/n) exposed.
    n = 1: all of comm (one bucket after the backward); n -> infinity: max(0, comm - compute)."""
    if comm_s <= 0:
        return 0.0
    n = max(1, int(n))
    return max(comm_s / n, comm_s - compute_s * (n - 1) / n)


def apex_param_gather_exposed(comm_s: float, fwd_s: float, vp: int, group: int, first_bucket_s: float = 0.0,
                              optim_s: float = 0.0) -> float:
    """Seconds of a device's DP parameter all-gather (`comm_s`, its vp model chunks together) left exposed
    under NeMo's Apex DistributedFusedAdam with overlap_param_sync on Megatron-Core's interleaved schedule
    (vp > 1); `fwd_s` one micro-batch's forward of the device (all chunks), `group` the schedule's N.
    Source (NVIDIA/apex @d571f3e apex/contrib/optimizers/distributed_fused_adam.py; NeMo MegatronGPTModel
    fwd_bwd_step: param_sync_func = sync_overlap_parameters -> _try_start_bucket_param_sync(params)):
      - step(): the buckets of the model's first parameter are updated, their all-gather launched, then
        the other buckets' Adam runs (`optim_s` of it hides at most that first bucket, `first_bucket_s`);
      - _start_bucket_param_sync first calls _finish_bucket_param_sync (the compute stream waits for
        every gather in flight), so at most one chunk is gathered ahead of the forward;
      - schedules.py forward_backward_pipelining_with_interleaving calls param_sync_func[0] then [1]
        before any forward: chunk 1's launch waits for chunk 0's gather, which nothing hides; chunk k >= 2
        is launched as chunk k-1's first micro-batch starts (all PP ranks together) and waited for when
        chunk k's first forward starts (the next launch, or the parameter's pre-forward hook), so each
        later chunk hides behind the group's N forwards of the chunk before it.
    Exposed = chunk 0's gather + (vp - 1) x max(0, (comm - N fwd) / vp)
            = max(comm/vp, comm - (vp - 1) N fwd / vp) - min(first_bucket_s, optim_s)."""
    if comm_s <= 0:
        return 0.0
    vp, group = max(1, int(vp)), max(1, int(group))
    chunk, hide = comm_s / vp, group * fwd_s / vp
    first = chunk - min(first_bucket_s, optim_s, chunk)
    return first + (vp - 1) * max(0.0, chunk - hide)


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
    n = ring_passes(late, 1, rule, dp_cp, grad_bytes, grad_bytes, dp_group)
    return t_ar, bucketed_collective_time("reduce_scatter", grad_bytes * late, n, dp_group, topo, stride=dp_stride)
