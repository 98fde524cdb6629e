"""Per-step collectives of hybrid-sharded data parallelism (HSDP: FSDP inside a shard group, DDP
across its replicas), as PyTorch FSDP2 `fully_shard` runs them for a model wrapped block by block
(torchtitan parallelize.apply_fsdp; Zhao et al. 2023, "PyTorch FSDP", VLDB, sec. 3-4):

  forward   all-gather each block's parameters (param dtype) inside the shard group, prefetched
            behind the previous block's compute;
  backward  all-gather them again (reshard_after_forward: the forward freed them), then
            reduce-scatter the block's gradients (reduce dtype) inside the shard group and, with
            replicas, all-reduce the 1/shard gradient shard across them.

Each phase's collectives overlap that phase's compute; only their excess over it is exposed
(FSDP2 implicit prefetching; the first block's gather and the last block's reduction are not
hidden, a per-block term below the model's resolution, left out).
"""

from __future__ import annotations

from .collectives import collective_time


def sharded_dp_collectives(param_elems: float, n: int, shard: int, topo, param_bytes: float,
                           reduce_bytes: float) -> tuple[float, float]:
    """(parameter all-gather, gradient reduction) seconds of one pass over `param_elems` parameters sharded
    over groups of `shard` consecutive ranks (min(n, shard) used) and replicated across the n / shard groups:
    the all-gather runs inside the group; the reduction reduce-scatters inside the group and, with replicas,
    all-reduces the 1/shard gradient shard across them (ranks `shard` apart). HSDP's per-pass collectives and
    Apex DistributedFusedAdam's grad / param sync with distributed and redundant process groups
    (apex/contrib/optimizers/distributed_fused_adam.py _start_bucket_grad_sync, _start_bucket_param_sync)."""
    g = max(1, min(int(n), int(shard)))
    replicas = int(n) // g
    gather = float(collective_time("all_gather", param_elems * param_bytes, g, topo)[0])
    reduce = float(collective_time("reduce_scatter", param_elems * reduce_bytes, g, topo)[0])
    if replicas > 1:  # the shard's gradient across the replicas (ranks g apart)
        reduce += float(collective_time("all_reduce", param_elems * reduce_bytes / g, replicas, topo, stride=g)[0])
    return gather, reduce


def hsdp_step_collectives(param_elems: float, n: int, shard: int, topo, param_bytes: float,
                          reduce_bytes: float) -> tuple[float, float]:
    """(forward, backward) collective seconds of one HSDP step of `param_elems` parameters over `n`
    ranks in shard groups of `shard` consecutive ranks (min(n, shard) used): the forward's all-gather, the
    backward's all-gather again plus the gradient reduction."""
    gather, reduce = sharded_dp_collectives(param_elems, n, shard, topo, param_bytes, reduce_bytes)
    return gather, gather + reduce


def exposed_hsdp_s(fwd_s: float, bwd_s: float, fwd_comm_s: float, bwd_comm_s: float) -> float:
    """Collective time not hidden behind compute, phase by phase (module docstring)."""
    return max(0.0, fwd_comm_s - fwd_s) + max(0.0, bwd_comm_s - bwd_s)


__all__ = ["sharded_dp_collectives", "hsdp_step_collectives", "exposed_hsdp_s"]
