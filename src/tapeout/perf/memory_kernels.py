"""Memory-bound kernel kinds below the streaming rate, derived from kernel-level microbenchmarks.

A memory-bound kernel is priced at the chip's streaming rate, mem_bw x eff_mem (perf/opcost.py), unless it
does work its stream does not hide. torch dropout's forward is such a kernel: it draws a Philox4x32-10
random number per element (ten rounds of 32-bit multiply-high and xor per four numbers) in the same pass
that reads x and writes the output and a 1-byte mask. Its backward moves the same 5 bytes per element and
draws nothing (read grad and mask, write the masked gradient), so the ratio of the two kernels' times is the
forward's share of the streaming rate (Elementwise.stream_share). The pairs (data/calibration/
memory_kernels.yaml) are attention calls timed with and without dropout (Dao et al. 2022, arXiv:2205.14135,
Appendix E.6, A100 40 GB): the difference is one dropout kernel forward and one backward.

The share is measured on an A100 40 GB and applied to every chip as it is. What sets it is the integer issue
rate the SMs have per byte of DRAM they stream: A100 40 GB 108 SMs x 1.41 GHz per 1.555 TB/s (98 SM-GHz per
TB/s), A100 80 GB 75, H100 SXM 132 x 1.98 GHz per 3.35 TB/s = 78, B200 148 x 1.965 GHz per 8 TB/s = 36. The
measured chip has the most, so on the others the forward draws at this share or below: the share is an upper
bound on their dropout forward's rate, not a fit to them.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from ..formats import data_file
from ..hardware.catalog import get_chip
from .fit.rows import read_microbenchmarks


@lru_cache(maxsize=1)
def _spec() -> dict:
    with data_file("calibration", "memory_kernels.yaml").open() as fh:
        return yaml.safe_load(fh)


def dropout_pairs() -> list[dict]:
    """Per pair of data/calibration/memory_kernels.yaml: the dropout kernel's forward and backward seconds
    (with-dropout call minus the same call without), the forward's share of the backward's rate, and each
    kernel's achieved fraction of the device's DRAM peak."""
    spec = _spec()
    rows = {r["id"]: r for r in read_microbenchmarks()}
    peak = float(get_chip(spec["device"]).specs["memory_bandwidth_tbps"].value) * 1e12
    per_elem = float(spec["dropout_forward"]["bytes_per_element"])
    out = []
    for pr in spec["dropout_forward"]["pairs"]:
        f = (float(rows[pr["forward"][0]]["value"]) - float(rows[pr["forward"][1]]["value"])) * 1e-3
        b = (float(rows[pr["backward"][0]]["value"]) - float(rows[pr["backward"][1]]["value"])) * 1e-3
        scores = 16 * 8 * float(pr["seq"]) ** 2  # Appendix E.6: batch 16 x 8 heads x seq^2
        out.append({**pr, "forward_s": f, "backward_s": b, "share": b / f,
                    "forward_peak_fraction": scores * per_elem / f / peak,
                    "backward_peak_fraction": scores * per_elem / b / peak})
    return out


@lru_cache(maxsize=1)
def dropout_forward_share() -> float:
    """torch dropout's forward rate as a fraction of a pure stream of the same bytes: the mean over the pairs."""
    pairs = dropout_pairs()
    return sum(p["share"] for p in pairs) / len(pairs)


def philox_share(bytes_per_element: float) -> float:
    """Share of the streaming rate of a kernel that draws one Philox number per element while moving
    `bytes_per_element`: the draw costs what it costs in the measured dropout forward (5 bytes per element),
    so a kernel moving more bytes per draw hides more of it: 1 / share = 1 + (5 / B) (1 / s - 1)."""
    ref = float(_spec()["dropout_forward"]["bytes_per_element"])
    return 1.0 / (1.0 + ref / bytes_per_element * (1.0 / dropout_forward_share() - 1.0))
