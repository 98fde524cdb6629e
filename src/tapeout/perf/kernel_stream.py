"""The fraction of DRAM bandwidth a GB-sized weight stream reaches, measured on the kernel database.

Serving's dominant DRAM traffic is each layer's weight matrix streamed once per step by a skinny
GEMM (a few tokens x a 0.1-1 GB weight). The kernel-level fit's `mem_bf16` is one efficiency for
every BF16 GEMM, dominated by the many small kernels whose fixed time and partly L2-resident
replays pull it down; serving needs the asymptote of the large streams. It is read off the
database's own memory-bound kernels, no model in between:

- BF16 GEMMs (2-byte weights; no activation-quantize pass in the timing) with m <= MAX_ROWS
  tokens: 2m FLOPs per 2 weight bytes, far below every chip's ridge point, so the kernel streams;
- weights >= MIN_WEIGHT_BYTES: twice the largest L2 among the database's chips (GB200, B300, GB300:
  135,528,448 B device-reported, OpenXLA target specs, data/chips/supplement_specs.csv), so the
  collector's replay (one weight copy once it exceeds the L2; perf/kernel_replay.py) streams from DRAM;
- time = a + bytes / (mem_bw x efficiency) by least squares: the efficiency is the slope's, the
  fixed time a stays out of it (serving adds its own per-kernel time, kernel_overhead_us).

A chip with fewer than MIN_KERNELS such kernels (or a held-out chip) takes the median of the
measured chips: the transfer to a chip without kernels.
"""

from __future__ import annotations

import statistics

import numpy as np

from .kernel_replay import ACT_BYTES, WEIGHT_BYTES_PER_ELEM

MAX_ROWS = 16  # tokens per GEMM: one MMA row tile (ChipParams.min_tile_m default)
MIN_WEIGHT_BYTES = 272e6  # >= 2 x the largest L2 of the database's chips (135.5 MB: GB200, B300, GB300)
MIN_KERNELS = 8


def stream_bytes(m, n, k) -> np.ndarray:
    """DRAM bytes of one BF16 GEMM: the weight, the activation and the output, each once."""
    m, n, k = (np.asarray(v, dtype=float) for v in (m, n, k))
    return WEIGHT_BYTES_PER_ELEM["bf16"] * n * k + ACT_BYTES * (m * k + m * n)


def slope_efficiency(nbytes, seconds, mem_bw: float) -> float:
    """Efficiency e of time = a + bytes / (mem_bw x e), fitted by least squares over the kernels."""
    b, t = np.asarray(nbytes, dtype=float), np.asarray(seconds, dtype=float)
    slope = np.polyfit(b, t, 1)[0]
    if not slope > 0:
        raise ValueError("streaming time does not grow with the bytes: no bandwidth to read off")
    return float(1.0 / (slope * mem_bw))


def streaming_kernels(k, chip: str) -> np.ndarray:
    """Mask of the chip's memory-bound, DRAM-streaming BF16 GEMMs in Kernels `k`."""
    c = k.cols
    w = WEIGHT_BYTES_PER_ELEM["bf16"] * np.asarray(c["n"], dtype=float) * np.asarray(c["k"], dtype=float)
    return ((c["chip"] == chip) & (c["op"] == "gemm") & (c["fmt"] == "bf16")
            & (np.asarray(c["m"], dtype=float) <= MAX_ROWS) & (w >= MIN_WEIGHT_BYTES))


def stream_efficiency(k, chip: str, mem_bw: float) -> float | None:
    """The chip's measured large-stream efficiency (slope_efficiency), None with too few kernels."""
    s = streaming_kernels(k, chip)
    if s.sum() < MIN_KERNELS:
        return None
    c = k.cols
    return slope_efficiency(stream_bytes(c["m"][s], c["n"][s], c["k"][s]), c["latency_s"][s], mem_bw)


def stream_efficiencies(k, mem_bw: dict[str, float], holdout: str | None = None) -> dict[str, float]:
    """Per chip of `mem_bw` (chip -> bytes/s), its measured efficiency; chips without enough kernels,
    and `holdout` with its twins (their kernels never read: kernels_db.held_out_chips), the median of the others'."""
    from .kernels_db import held_out_chips

    out = held_out_chips(holdout) if holdout else frozenset()
    own = {c: stream_efficiency(k, c, bw) for c, bw in mem_bw.items() if c not in out}
    measured = [e for e in own.values() if e is not None]
    if not measured:
        raise ValueError("no chip has enough large memory-bound BF16 GEMMs to measure its streaming efficiency")
    median = statistics.median(measured)
    return {c: round(own.get(c) or median, 4) for c in mem_bw}
