"""LoadGen's latency-scenario metric: a percentile of per-query latencies, not one average query.

SingleStream reports the 90th and MultiStream the 99th percentile of the query latencies
(data/mlperf/latency_percentiles.yaml, mlperf.conf). LoadGen sorts the N latencies and reports
element floor(N * p) (0-based; loadgen/results.cc PerformanceSummary::ProcessLatencies), which
is what `loadgen_percentile` computes along the last axis, so a model that predicts the latency
of each sample of the benchmark's dataset gets the scenario's number from its distribution.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError, unknown_name_error


@lru_cache(maxsize=1)
def _facts() -> dict:
    text = resources.files("tapeout").joinpath("data", "mlperf", "latency_percentiles.yaml").read_text()
    return yaml.safe_load(text)


def scenario_percentile(scenario: str) -> float:
    """The percentile (0..1) LoadGen reports for a latency scenario (SingleStream 0.90, MultiStream 0.99)."""
    facts = _facts()
    key = scenario.strip().lower()
    if key not in facts:
        raise unknown_name_error("latency scenario", scenario, list(facts))
    return float(facts[key]["percentile"])


def loadgen_percentile(latencies, p) -> np.ndarray:
    """LoadGen's percentile of `latencies` along the last axis: sorted[floor(N * p)], p in [0, 1).
    The result has the leading axes of `latencies` (e.g. designs) followed by the shape of `p`."""
    lat = np.asarray(latencies, dtype=float)
    if lat.ndim == 0 or lat.shape[-1] == 0:
        raise TapeoutError("latencies must hold at least one query latency.")
    q = np.asarray(p, dtype=float)
    if np.any((q < 0) | (q >= 1)):
        raise TapeoutError(f"percentile must be in [0, 1) (LoadGen's rule), got {p}.")
    n = lat.shape[-1]
    idx = np.floor(n * q).astype(int)
    return np.sort(lat, axis=-1)[..., idx]  # shape: leading axes of latencies + shape of p
