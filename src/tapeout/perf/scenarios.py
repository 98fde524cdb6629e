"""MLPerf LoadGen scenarios for one-shot (non-autoregressive) models, from a service-time curve.

SingleStream  LoadGen issues one sample, waits for its answer, issues the next; the metric is
              the p90 latency. Latency = host path + device time of a batch-1 graph.
MultiStream   one query = 8 samples issued together; p99 query latency = host path (8
              samples' bytes) + device time of a batch-8 graph.
Server        Poisson arrivals (LoadGen), p99 latency bound T. The replica runs a dynamic
              batcher as Triton / the TensorRT harness do: when the engine is free it takes
              every waiting query up to `max_batch` (zero max queue delay) and runs them as one
              batch of service time S(k). Simulated over a fixed-seed arrival sequence (common
              random numbers across rates, so p99 is monotone in the rate up to noise) and the
              highest rate whose p99 <= T found by bisection; max_batch is the best of the
              candidates. This replaces the M/M/1 batch bound (exponential service), which
              overstates the variance of a deterministic GPU batch.
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


def _arrival_gaps(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).exponential(1.0, n)


def dynamic_batching_latencies(service: np.ndarray, rate: float, n: int | None = None, seed: int = 0) -> np.ndarray:
    """Latency of each of n Poisson(rate) queries through a greedy dynamic batcher.

    service[k-1] is the service time of a batch of k queries (k = 1..len(service)); the batch
    cap is len(service)."""
    n = int(n or host_path_facts()["server_sim_queries"])
    arr = np.cumsum(_arrival_gaps(n, seed)) / rate
    cap = len(service)
    lat = np.empty(n)
    i, free = 0, 0.0
    while i < n:
        start = max(free, arr[i])
        j = int(np.searchsorted(arr, start, side="right"))
        k = min(max(j - i, 1), cap)
        free = start + service[k - 1]
        lat[i:i + k] = free - arr[i:i + k]
        i += k
    return lat


def p99_latency(service: np.ndarray, rate: float, percentile: float = 0.99, seed: int = 0) -> float:
    lat = dynamic_batching_latencies(service, rate, seed=seed)
    return float(np.quantile(lat[len(lat) // 10:], percentile))  # drop the warm-up tenth


def server_rate(service: np.ndarray, bound_s: float, percentile: float = 0.99, extra_latency_s: float = 0.0,
                iters: int = 24) -> float:
    """Highest Poisson rate (queries/s) whose p-th percentile latency (+ extra) stays <= bound_s."""
    if bound_s <= 0:
        raise TapeoutError(f"latency bound must be > 0 s, got {bound_s}.")
    service = np.asarray(service, dtype=float)
    budget = bound_s - extra_latency_s
    if service[0] > budget:
        return 0.0
    hi = len(service) / service[-1]  # saturated capacity: full batches back to back
    lo = 0.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if p99_latency(service, mid, percentile) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def service_curve(times: dict[int, float], max_batch: int) -> np.ndarray:
    """S(k) for k = 1..max_batch, linear between the evaluated batch sizes `times` {b: seconds}."""
    bs = np.array(sorted(times), dtype=float)
    ts = np.array([times[int(b)] for b in bs])
    return np.interp(np.arange(1, max_batch + 1), bs, ts)


def best_server_rate(times: dict[int, float], bound_s: float, extra_latency_s: float = 0.0) -> tuple[float, int]:
    """Best rate over dynamic-batcher caps (each evaluated batch size); returns (qps, max_batch)."""
    best, arg = 0.0, 1
    for cap in sorted(times):
        q = server_rate(service_curve(times, cap), bound_s, extra_latency_s=extra_latency_s)
        if q > best:
            best, arg = q, cap
    return best, arg


__all__ = ["host_path_s", "io_bytes", "dynamic_batching_latencies", "p99_latency", "server_rate",
           "service_curve", "best_server_rate"]
