"""MLPerf LoadGen scenarios for one-shot (non-autoregressive) models, from a service-time curve.

SingleStream  LoadGen issues one sample, waits for its answer, issues the next; the metric is
              the p90 latency. Latency = host path + device time of a batch-1 graph.
MultiStream   one query = 8 samples issued together; p99 query latency = host path (8
              samples' bytes) + device time of a batch-8 graph.
Server        Poisson arrivals (LoadGen), p99 latency bound T, a dynamic batcher in front of
              the accelerator, simulated over a fixed-seed arrival sequence (common random
              numbers across rates, so p99 is monotone in the rate up to noise); the highest
              rate whose p99 <= T is found by bisection and the batch cap is the best of the
              candidates. `batcher_latencies` runs the batcher the reference harness runs
              (data/mlperf/server_harness.yaml, `harness_batcher`): a batch leaves when one of
              `streams` in-flight slots is free and it is full or its oldest query has waited
              the max queue delay (LWIS deque_timeout_usec, Triton max_queue_delay, SDXL
              batcher time limit); batches in flight share the device (processor sharing); a
              CUDA graph captured at the cap makes every batch cost S(cap). With one stream and
              no delay it is the greedy zero-delay batcher. Either replaces the M/M/1 batch bound
              (exponential service, which overstates the variance of a deterministic GPU batch);
              validation still scores the bound (docs/notes/issue-17.md, Round stop-16).
Offline       max over fitting batches of b / S(b) (validation/other_rows.py).

Host path (data/mlperf/scenario_host_path.yaml): `submissions_per_query` host API calls of
`host_submit_us` each (H2D copy, graph launch, D2H copy, sync) plus the sample's input and
output bytes over the host link.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError
from ..ops import OpGraph


@lru_cache(maxsize=1)
def host_path_facts() -> dict:
    text = resources.files("tapeout").joinpath("data", "mlperf", "scenario_host_path.yaml").read_text()
    return {k: v["value"] for k, v in yaml.safe_load(text).items()}


def io_bytes(graph: OpGraph) -> float:
    """Bytes a query moves over the host link: the first op's input and the last op's output."""
    ops = [o for o in graph.ops if getattr(o, "input_bytes", None) is not None]
    if not ops:
        return 0.0
    first, last = ops[0], ops[-1]
    return float(first.input_bytes / max(first.count, 1) + last.output_bytes / max(last.count, 1))


def host_path_s(graph: OpGraph, host_bw) -> np.ndarray:
    """Host-side latency of one query (submissions + bytes over the host link)."""
    f = host_path_facts()
    return f["submissions_per_query"] * f["host_submit_us"] * 1e-6 + io_bytes(graph) / np.maximum(
        np.asarray(host_bw, dtype=float), 1.0)


@lru_cache(maxsize=1)
def _harness_table() -> dict:
    text = resources.files("tapeout").joinpath("data", "mlperf", "server_harness.yaml").read_text()
    return yaml.safe_load(text)


# batcher_latencies' defaults: one batch in flight, no batch timeout, each batch at its own size
GREEDY_BATCHER = {"streams": 1, "max_delay_us": 0, "pad_to_cap": False}


def harness_settings(benchmark: str) -> dict:
    """The reference harness's Server batcher settings of a benchmark, each {value, status
    (published | assumption), source} (data/mlperf/server_harness.yaml); where none is recorded,
    the greedy zero-delay batcher that harness_batcher falls back to, labelled an assumption."""
    row = _harness_table().get(benchmark)
    if row is None:
        why = (f"no reference harness recorded for {benchmark} in data/mlperf/server_harness.yaml: the greedy "
               "zero-delay batcher stands in (perf/scenarios.py harness_batcher)")
        return {k: {"value": v, "status": "assumption", "source": why} for k, v in GREEDY_BATCHER.items()}
    return {k: dict(v) for k, v in row.items()}


def harness_batcher(benchmark: str) -> dict:
    """batcher_latencies keywords of the reference harness's Server batcher for a benchmark
    (data/mlperf/server_harness.yaml); the greedy zero-delay batcher where none is recorded."""
    row = _harness_table().get(benchmark)
    if row is None:
        return {}
    return {"streams": int(row["streams"]["value"]), "max_delay_s": float(row["max_delay_us"]["value"]) * 1e-6,
            "pad_to_cap": bool(row["pad_to_cap"]["value"])}


def _arrival_gaps(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).exponential(1.0, n)


def batcher_latencies(arrivals: np.ndarray, service: np.ndarray, streams: int = 1, max_delay_s: float = 0.0,
                      pad_to_cap: bool = False) -> np.ndarray:
    """Latency of each query (arrival times `arrivals`, sorted) through a harness batcher.

    service[k-1] is the device time of a batch of k queries run alone (k = 1..len(service) = the
    batch cap). A batch leaves when one of `streams` slots is free and either it is full or the
    oldest waiting query has waited `max_delay_s` (LWIS deque timeout, Triton max_queue_delay);
    it takes every query that has arrived by then, up to the cap. Up to `streams` batches run at
    once and share the device (processor sharing: m running batches each advance at 1/m).
    `pad_to_cap`: every batch costs service[-1] (a CUDA graph captured at the cap).
    streams=1, max_delay_s=0 is the greedy zero-delay batcher."""
    arr = np.asarray(arrivals, dtype=float)
    n, cap = len(arr), len(service)
    lat = np.empty(n)
    active: list[list] = []  # [exclusive device time left, first query, size]
    i, t = 0, 0.0
    while i < n or active:
        m = len(active)
        t_launch = np.inf
        if m < streams and i < n:
            t_full = arr[i + cap - 1] if i + cap - 1 < n else np.inf  # when the batch would be full
            t_launch = max(t, min(t_full, arr[i] + max_delay_s))
        w_min = min(a[0] for a in active) if m else np.inf
        t_done = t + w_min * m if m else np.inf
        if t_launch < t_done:
            for a in active:
                a[0] -= (t_launch - t) / m
            t = t_launch
            k = min(max(int(np.searchsorted(arr, t, side="right")) - i, 1), cap)
            active.append([service[cap - 1] if pad_to_cap else service[k - 1], i, k])
            i += k
            continue
        t = t_done
        keep = []
        for a in active:
            a[0] -= w_min
            if a[0] <= 1e-12 * max(service[-1], 1e-30):
                lat[a[1]:a[1] + a[2]] = t - arr[a[1]:a[1] + a[2]]
            else:
                keep.append(a)
        active = keep
    return lat


def dynamic_batching_latencies(service: np.ndarray, rate: float, n: int | None = None, seed: int = 0,
                               **batcher) -> np.ndarray:
    """Latency of each of n Poisson(rate) queries through the batcher (`batcher_latencies`
    keywords: streams, max_delay_s, pad_to_cap; default the greedy zero-delay batcher)."""
    n = int(n or host_path_facts()["server_sim_queries"])
    return batcher_latencies(np.cumsum(_arrival_gaps(n, seed)) / rate, service, **batcher)


def p99_latency(service: np.ndarray, rate: float, percentile: float = 0.99, seed: int = 0, **batcher) -> float:
    lat = dynamic_batching_latencies(service, rate, seed=seed, **batcher)
    return float(np.quantile(lat[len(lat) // 10:], percentile))  # drop the warm-up tenth


def server_rate(service: np.ndarray, bound_s: float, percentile: float = 0.99, extra_latency_s: float = 0.0,
                iters: int = 24, **batcher) -> float:
    """Highest Poisson rate (queries/s) whose p-th percentile latency (+ extra) stays <= bound_s
    (`batcher`: the batcher_latencies keywords)."""
    if bound_s <= 0:
        raise TapeoutError(f"latency bound must be > 0 s, got {bound_s}.")
    service = np.asarray(service, dtype=float)
    budget = bound_s - extra_latency_s
    if (service[-1] if batcher.get("pad_to_cap") else service[0]) > budget:
        return 0.0
    hi = len(service) / service[-1]  # saturated capacity: full batches back to back
    lo = 0.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if p99_latency(service, mid, percentile, **batcher) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def service_curve(times: dict[int, float], max_batch: int) -> np.ndarray:
    """S(k) for k = 1..max_batch, linear between the evaluated batch sizes `times` {b: seconds}."""
    bs = np.array(sorted(times), dtype=float)
    ts = np.array([times[int(b)] for b in bs])
    return np.interp(np.arange(1, max_batch + 1), bs, ts)


def best_server_rate(times: dict[int, float], bound_s: float, extra_latency_s: float = 0.0, iters: int = 24,
                     **batcher) -> tuple[float, int]:
    """Best rate over dynamic-batcher caps (each evaluated batch size); returns (qps, max_batch)."""
    best, arg = 0.0, 1
    for cap in sorted(times):
        q = server_rate(service_curve(times, cap), bound_s, extra_latency_s=extra_latency_s, iters=iters, **batcher)
        if q > best:
            best, arg = q, cap
    return best, arg


__all__ = ["host_path_s", "io_bytes", "batcher_latencies", "harness_settings", "harness_batcher", "dynamic_batching_latencies", "p99_latency", "server_rate",
           "service_curve", "best_server_rate"]
