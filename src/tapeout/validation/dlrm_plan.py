"""HugeCTR's "auto" embedding sharding plan for MLPerf DLRM-DCNv2 (NVIDIA's sharding/planner.py, MLPerf Training
v3.0-v4.1 merlin_hugectr implementations; this is an independent implementation of the algorithm it documents).

Each GPU is a bucket. A shard of a table with hotness h (lookups per sample) split over k GPUs costs its bucket
h / k (memory work: the lookups it serves) plus `table_cost` (communication work: one pooled vector per sample
exchanged), table_cost = mem_comm_bw_ratio / mem_comm_work_ratio; a bucket may hold at most `mem_cap` GB of
shards (rows / k x ev_size x bytes per element). Tables below the data-parallel threshold are replicated on
every bucket, their size taken off every bucket's capacity. From one shard per model-parallel table, the
planner repeats (20 times): place the shards hottest first, each on the cheapest bucket that does not yet hold
that table and has room; keep the plan and split the hottest splittable table in two (k doubles, up to the
bucket count); where a shard finds no room, split that table instead, or stop if it cannot be split. The plan
kept is the one whose most expensive bucket is cheapest, among these and the default (every table split over
every bucket). What the step prices from it (validation/dlrm_train.py): each model-parallel table exchanges k
partial pooled vectors per sample (one per shard), and the replicated set.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TapeoutError, require_positive


@dataclass(frozen=True)
class Plan:
    splits: dict  # table index -> shards (model-parallel tables only)
    replicated: frozenset  # table indices replicated on every bucket
    max_cost: float  # the most expensive bucket's cost (planner units)


def _cost(hot, splits, buckets, table_cost):
    return [sum(hot[t] / splits[t] for t in b) + table_cost * len(b) for b in buckets]


def _greedy(hot, rows, splits, n, table_cost, unit_mem, cap):
    """Place the shards hottest first; (None, max bucket cost) or (table that found no room, None)."""
    shards = sorted(((hot[t] / splits[t], t) for t in splits for _ in range(splits[t])), key=lambda x: -x[0])
    buckets: list[list[int]] = [[] for _ in range(n)]
    cost, mem = [0.0] * n, [0.0] * n
    for h, t in shards:
        need = rows[t] / splits[t] * unit_mem
        for b in sorted(range(n), key=lambda i: cost[i]):
            if t not in buckets[b] and mem[b] + need <= cap:
                buckets[b].append(t)
                cost[b] += h + table_cost
                mem[b] += need
                break
        else:
            return t, None
    return None, max(cost)


def replicated(rows, dp_threshold_gb: float, unit_mem_gb: float) -> frozenset:
    """Indices of the tables the planner replicates: rows x unit_mem_gb below the threshold."""
    return frozenset(t for t, r in enumerate(rows) if float(r) < dp_threshold_gb / unit_mem_gb)


def plan(hotness, rows, n: int, dp_threshold_gb: float, table_cost: float, unit_mem_gb: float, mem_cap_gb: float,
         max_iter: int = 20) -> Plan:
    """The plan for `n` GPUs of tables with `hotness` and `rows` (module docstring). TapeoutError where even the
    default plan (every table split over every GPU) exceeds `mem_cap_gb` per GPU."""
    require_positive("n", n)
    hot, rows = list(map(float, hotness)), list(map(float, rows))
    every = {t: n for t in range(len(hot))}
    if sum(rows) / n * unit_mem_gb > mem_cap_gb:
        raise TapeoutError(f"n_chips={n}: the embedding tables need {sum(rows) / n * unit_mem_gb:.0f} GB per chip "
                           f"even split over every chip, above the {mem_cap_gb:.0f} GB the plan may use; use more chips.")
    candidates = [Plan(every, frozenset(), max(_cost(hot, every, [list(range(len(hot)))] * n, table_cost)))]
    dp = replicated(rows, dp_threshold_gb, unit_mem_gb)
    cap = mem_cap_gb - sum(rows[t] for t in dp) * unit_mem_gb
    if cap < 0:
        raise TapeoutError(f"n_chips={n}: the replicated tables alone exceed {mem_cap_gb:.0f} GB per chip; "
                           "lower the data-parallel threshold (dlrm_train.dp_sharding_threshold_gb).")
    splits = {t: 1 for t in range(len(hot)) if t not in dp}
    for _ in range(max_iter):
        oom, worst = _greedy(hot, rows, splits, n, table_cost, unit_mem_gb, cap)
        if oom is None:
            candidates.append(Plan(dict(splits), dp, worst))
            order = sorted(splits, key=lambda t: -hot[t] / splits[t])
            grow = next((t for t in order if splits[t] * 2 <= n), None)
        else:
            grow = oom if splits[oom] * 2 <= n else None
            if grow is None:
                break
        if grow is None:
            break
        splits[grow] *= 2
    return min(candidates, key=lambda c: c.max_cost)
