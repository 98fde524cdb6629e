"""Recommendation serving: hot-row caching, table placement (HBM / sharded / host spill) and
queries/s under a p99 latency bound. Works for scalar and numpy-array chip parameters.

Hot-row cache (Zipf popularity). If row popularity follows Zipf(s) over N rows (the i-th
most popular row is looked up with probability i^-s / H_{N,s}), caching the top C rows
serves a fraction
    hit(C) = H_{C,s} / H_{N,s},     H_{n,s} = sum_{i<=n} i^-s
of lookups. Closed form by Euler-Maclaurin to the first derivative term (error < 1% for s in [0.5, 1.5]):
    H_{n,s} ~ (n^{1-s} - 1)/(1 - s) + (1 + n^{-s})/2 + s/12 (1 - n^{-s-1})   (s != 1)
    H_{n,1} ~ ln n + gamma + 1/(2n)
(Breslau et al. 1999, "Web caching and Zipf-like distributions", INFOCOM, Sec. 3 use the
same hit ratio; recsys embedding access skew: Gupta et al. 2020, arXiv:1906.03109).

Placement. Tables that fit the chip's usable memory stay in HBM. Otherwise either
  shard: tables are split over `shards` chips (model parallel, all-to-all of pooled
         embeddings; workloads/recsys.py), or
  host:  HBM caches the hottest rows and the cold remainder lives in host DRAM / CXL; misses
         cross the host link (PCIe) as whole rows rounded up to 64-B PCIe read completions.
         Host gathers overlap the device work (pipelined), so time = max(device, host).

Latency bound. Batches of b queries are served FCFS by one replica with service time S(b).
Treating batches as M/M/1 jobs, the sojourn time is exponential with rate mu - lambda
(Kleinrock 1975, Queueing Systems Vol. 1, Sec. 3.2), so
    P99 sojourn = ln(100) / (1/S(b) - lambda/b)  <=  T
    => lambda_max(b) = b * (1/S(b) - ln(100)/T)      (0 when S(b) > T/ln 100)
and the replica's QPS is the max over candidate batch sizes.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import TapeoutError
from ..hardware.memory_capacity import USABLE_MEMORY_FRACTION, quoted_gb  # same reserve as LLM serving
from ..hardware.params import ChipParams
from ..ops import EmbeddingGather, OpGraph
from .opcost import evaluate

EULER_GAMMA = 0.5772156649015329
SRAM_CACHE_FRACTION = 0.5  # share of on-chip SRAM given to hot embedding rows (assumption)
PCIE_GRANULARITY = 64  # bytes per PCIe read completion for small random reads (assumption)
DEFAULT_ZIPF_S = 1.05  # popularity skew of ids (assumption; Criteo-like skew, Gupta et al. 2020)


def harmonic(n, s):
    """Generalized harmonic number H_{n,s} (closed form, vectorized; exact for n <= 0 -> 0)."""
    n = np.asarray(n, dtype=float)
    s = np.asarray(s, dtype=float)
    nn = np.maximum(n, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        near1 = np.abs(s - 1.0) < 1e-9
        gen = ((nn ** (1.0 - s) - 1.0) / np.where(near1, 1.0, 1.0 - s) + 0.5 * (1.0 + nn ** (-s))
               + s / 12.0 * (1.0 - nn ** (-s - 1.0)))
        one = np.log(nn) + EULER_GAMMA + 0.5 / nn
        h = np.where(near1, one, gen)
    return np.where(n <= 0, 0.0, h)


def zipf_hit_rate(cached_rows, total_rows, s=DEFAULT_ZIPF_S):
    """Fraction of lookups that hit the `cached_rows` most popular of `total_rows` rows."""
    if np.any(np.asarray(total_rows) <= 0):
        raise TapeoutError("total_rows must be > 0 for the Zipf hit rate (an embedding table needs rows).")
    c = np.clip(np.asarray(cached_rows, dtype=float), 0.0, np.asarray(total_rows, dtype=float))
    out = harmonic(c, s) / harmonic(total_rows, s)
    return np.clip(out, 0.0, 1.0)


def cache_plan(graph: OpGraph, cache_bytes, s=DEFAULT_ZIPF_S) -> dict[str, np.ndarray]:
    """Hit fraction per embedding op when `cache_bytes` of fast memory hold hot rows.

    The cache is split over tables in proportion to their lookups (a table that is read more
    gets more rows), capped at the table size. Vectorized over cache_bytes."""
    embs = [o for o in graph.ops if isinstance(o, EmbeddingGather)]
    total_lookups = sum(o.lookups * o.count for o in embs) or 1.0
    out = {}
    for o in embs:
        share = o.lookups * o.count / total_lookups
        rows = np.asarray(cache_bytes, dtype=float) * share / o.row_bytes
        out[o.name] = zipf_hit_rate(np.minimum(rows, o.rows), o.rows, s)
    return out


def _with_hot(graph: OpGraph, hot: dict[str, float]) -> OpGraph:
    from dataclasses import replace

    ops = [replace(o, hot_fraction=float(hot[o.name])) if isinstance(o, EmbeddingGather) and o.name in hot else o
           for o in graph.ops]
    return OpGraph(graph.name, ops, dict(graph.meta))


def embedding_bytes(graph: OpGraph) -> float:
    return float(sum(o.table_bytes for o in graph.ops if isinstance(o, EmbeddingGather)))


# auto / host: tables in HBM while they fit, else in host memory behind an HBM hot-row cache;
# hbm: refuse tables that do not fit (no spill)
PLACEMENTS = ("auto", "hbm", "host")


def recsys_cost(graph: OpGraph, p: ChipParams, zipf_s: float = DEFAULT_ZIPF_S, placement: str = "auto",
                sram_cache: bool = True) -> dict:
    """Time and energy of one recsys graph on one chip, with hot-row caching and spill.

    Returns dict(time, energy, bound, host_time, hbm_hit, fits) (arrays broadcast over designs);
    for one chip also tier_bytes (bytes of table rows read from sram / hbm / host per graph),
    table_tier (where each table lives) and cost (the device graph's opcost.CostTable; None over designs).
    placement: auto | hbm | host. (Sharding is decided by the graph's `shards`.)
    """
    if placement not in PLACEMENTS:
        raise TapeoutError(f"placement must be one of {', '.join(PLACEMENTS)}, got '{placement}'.")
    tables = embedding_bytes(graph)
    dense_bytes = sum(o.weight_bytes * o.count for o in graph.ops if not isinstance(o, EmbeddingGather))
    cap = np.asarray(p.mem_capacity, dtype=float) * USABLE_MEMORY_FRACTION - dense_bytes
    fits = tables <= cap
    if placement == "hbm" and np.any(~fits) and np.ndim(cap) == 0:
        raise TapeoutError(
            f"embedding tables ({quoted_gb(tables):.1f} GB) exceed the chip's usable memory ({quoted_gb(float(cap)):.1f} GB); "
            "set placement='host' (spill to host DRAM/CXL) or shard the tables over more chips (shards=...)."
        )
    embs = [o for o in graph.ops if isinstance(o, EmbeddingGather)]
    # on-chip SRAM cache of the hottest rows
    sram = np.asarray(p.sram_bytes, dtype=float) * SRAM_CACHE_FRACTION if sram_cache else 0.0
    sram_hit = cache_plan(graph, sram, zipf_s) if sram_cache else {o.name: 0.0 for o in embs}
    # HBM holds everything when it fits, else the hottest rows (cache of capacity cap)
    hbm_hit = cache_plan(graph, np.maximum(cap, 0.0), zipf_s)
    host_time = 0.0
    host_bytes = 0.0
    for o in embs:
        miss = np.where(fits, 0.0, 1.0 - hbm_hit[o.name])
        per_row = math.ceil(o.row_bytes / PCIE_GRANULARITY) * PCIE_GRANULARITY
        host_bytes = host_bytes + o.lookups * o.count * miss * per_row
    host_time = host_bytes / np.maximum(np.asarray(p.host_bw, dtype=float), 1.0)
    # device-side: SRAM hits cost no DRAM traffic; host misses are not read from HBM either
    design_shape = p.design_shape
    tier_bytes, table_tier, cost = None, None, None
    if design_shape == () and np.ndim(sram) == 0:
        hot, from_sram = {}, 0.0
        for o in embs:
            miss_host = 0.0 if bool(fits) else float(1.0 - hbm_hit[o.name])
            hot[o.name] = min(1.0, float(sram_hit[o.name]) + miss_host)
            from_sram += o.lookups * o.count * o.row_bytes * (hot[o.name] - miss_host)
        hot_graph = _with_hot(graph, hot)
        cost = evaluate(hot_graph, p)
        dev_time, dev_energy = cost.total_time, cost.total_energy
        bound = str(cost.dominant_bound())
        # where the rows of one graph are read from (reported, not an extra cost): on-chip hot rows,
        # HBM (the ops' weight_bytes after the hot fraction), host misses at PCIe granularity
        tier_bytes = {"sram": from_sram, "hbm": sum(o.weight_bytes * o.count for o in hot_graph.ops
                                                    if isinstance(o, EmbeddingGather)), "host": float(host_bytes)}
        table_tier = {o.name: "hbm" if bool(fits) else f"host, {100 * float(hbm_hit[o.name]):.0f}% of lookups from an HBM cache"
                      for o in embs}
    else:
        # vectorized designs: the hit fraction varies per design -> scale embedding DRAM time
        base = evaluate(graph, p)
        t = np.array(base.time, dtype=float)
        mem = np.array(base.memory_time, dtype=float)
        comp = np.array(base.compute_time, dtype=float)
        for i, o in enumerate(graph.ops):
            if isinstance(o, EmbeddingGather):
                miss_host = np.where(fits, 0.0, 1.0 - hbm_hit[o.name])
                keep = np.clip(1.0 - sram_hit[o.name] - miss_host, 0.0, 1.0)
                new_mem = mem[i] * keep
                t[i] = t[i] - np.maximum(comp[i], mem[i]) + np.maximum(comp[i], new_mem)
        c = base.table.count.reshape((-1,) + (1,) * (t.ndim - 1))
        dev_time = (t * c).sum(axis=0)
        dev_energy = base.total_energy * dev_time / np.maximum(base.total_time, 1e-30)
        bound = base.dominant_bound()
    time = np.maximum(dev_time, host_time)
    bound = np.where(host_time > dev_time, "host-link", bound)
    host_energy = host_bytes * 8 * 10e-12  # ~10 pJ/bit for a PCIe/CXL hop (assumption)
    if np.ndim(bound) == 0:
        bound = str(bound)
    return {"time": time, "energy": dev_energy + host_energy, "bound": bound, "host_time": host_time,
            "device_time": dev_time, "fits": fits, "sram_hit": sram_hit, "hbm_hit": hbm_hit,
            "tier_bytes": tier_bytes, "table_tier": table_tier, "cost": cost}


def hstu_throughput(name: str, metric: str, graph: OpGraph, p: ChipParams, zipf_s, host_dram_gb, ssd_gbps) -> dict:
    """HSTU: dense work on the device + embedding reads from the tier each table lives in
    (perf/placement.py), in sequence for one query; placement and bytes per tier reported."""
    from ..workloads.catalog import USABLE_MEMORY_FRACTION, memory_needed
    from .placement import TableDemand, place_tables, scan_bytes, tier_time

    host_gb, ssd = float(host_dram_gb), float(ssd_gbps)
    zipf_s = DEFAULT_ZIPF_S if zipf_s is None else float(zipf_s)
    if host_gb < 0 or ssd <= 0:
        raise TapeoutError("host_dram_gb must be >= 0 and ssd_gbps > 0.")
    if np.ndim(p.mem_capacity) != 0:
        raise TapeoutError(f"{name}: embedding placement is evaluated one chip at a time; pass a catalog chip.")
    dense_ops = [o for o in graph.ops if not isinstance(o, EmbeddingGather)]
    embs = [o for o in graph.ops if isinstance(o, EmbeddingGather)]
    dense_graph = OpGraph(graph.name, dense_ops, dict(graph.meta))
    need_dense = memory_needed(dense_graph, include_embeddings=False)
    hbm_budget = float(p.mem_capacity) * USABLE_MEMORY_FRACTION - need_dense
    if hbm_budget < 0:
        raise TapeoutError(f"{name}: the dense model and activations need {quoted_gb(need_dense):.1f} GB, more than "
                           f"{p.chip_id or 'the chip'} has; lower batch or seq_len.")
    shards = int(graph.meta.get("shards", 1))
    demand = [TableDemand(o.name, o.rows * shards, o.row_bytes, o.lookups * shards) for o in embs]
    plan = place_tables(demand, hbm_budget, host_gb * 1e9, shards, zipf_s)
    cost = evaluate(dense_graph, p)
    tier_bw = {"hbm": float(p.mem_bw) * float(p.eff_mem), "host": float(p.host_bw), "ssd": ssd * 1e9}
    scan = graph.meta.get("retrieval_scan")
    t_mips, extra = 0.0, {}
    if scan:  # retrieval stage: brute-force MIPS over the item table where it lives (workloads/hstu.py)
        home = next(r for r in plan["tables"] if r["table"] == scan["table"])
        sb = scan_bytes(home, scan["rows"], scan["row_bytes"])
        sb["hbm"] += scan["score_bytes"]  # scores written by the GEMM tiles, read by the k-select
        for k in sb:
            plan["bytes_per_query"][k] += sb[k]
        t_mips = scan["flops"] / _matrix_rate(p, graph)
        extra = {"stage": "retrieval", "retrieval_items_per_chip": scan["rows"], "retrieval_compute_s": t_mips,
                 **{f"retrieval_scan_bytes_{k}": v for k, v in sb.items()}}
    t_emb = float(tier_time(plan["bytes_per_query"], tier_bw["hbm"], tier_bw["host"], tier_bw["ssd"]))
    units = float(graph.meta.get("units", 1))
    t = float(cost.total_time) + t_mips + t_emb
    return {"workload": name, "metric": metric, "unit": "query",
            "units_per_graph": units, "time_s": t, "time_per_unit_s": t / units, "units_per_s": units / t,
            "dense_time_s": float(cost.total_time), "embedding_time_s": t_emb,
            "energy_per_unit_j": float(cost.total_energy) / units,
            "bound": "embedding-" + max(plan["bytes_per_query"], key=lambda k: plan["bytes_per_query"][k] / tier_bw[k])
            if t_emb > float(cost.total_time) else str(cost.dominant_bound()),
            "fits": True, "memory_gb": quoted_gb(need_dense),
            "placement": [f"{r['table']}: {r['tier']} ({r['gb']:.3g} GB/chip, {100 * r['hbm_hit']:.0f}% of lookups from HBM)"
                          for r in plan["tables"]],
            **{f"bytes_per_query_{k}": v for k, v in plan["bytes_per_query"].items()},
            # the defaults that move this answer, shown with it (models/workloads/hstu.yaml)
            "assumed_host_dram_gb": host_gb, "assumed_ssd_gbps": ssd, "assumed_zipf_s": zipf_s, **extra}


def _matrix_rate(p: ChipParams, graph: OpGraph) -> float:
    """Achieved matrix FLOP/s of the chip in the graph's GEMM math format (peak x calibrated eff)."""
    from ..ops import PEAK_KEYS, MatMul

    key = next((o.math_dtype for o in graph.ops if isinstance(o, MatMul)), "bf16")
    i = PEAK_KEYS.index(key)
    eff = np.asarray(p.eff_compute, dtype=float)
    return float(p.peak(key)) * float(eff[i] if eff.ndim else eff)


def qps_at_p99(service_time, batch, latency_bound_s, percentile: float = 0.99):
    """M/M/1 batch-server bound: lambda_max = b * (1/S - ln(1/(1-p))/T), >= 0 (module doc)."""
    if latency_bound_s <= 0:
        raise TapeoutError(f"latency_bound_s must be > 0, got {latency_bound_s}.")
    k = math.log(1.0 / (1.0 - percentile))
    s = np.asarray(service_time, dtype=float)
    return np.maximum(0.0, batch * (1.0 / s - k / latency_bound_s))


def best_qps(service_time_fn, batches, latency_bound_s, percentile: float = 0.99):
    """max over candidate batch sizes of qps_at_p99; returns (qps, batch index array)."""
    q = np.stack([np.asarray(qps_at_p99(service_time_fn(b), b, latency_bound_s, percentile), dtype=float)
                  for b in batches])
    return q.max(axis=0), np.asarray(batches)[q.argmax(axis=0)]
