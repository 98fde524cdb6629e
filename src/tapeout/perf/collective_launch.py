"""How a library collective reaches the device, and the per-call cost that follows
(data/software/collective_launch.yaml).

The library excess d(S) (collectives.library_excess, perf/fit/collective_fit.fit_library_excess) is
what a measured NCCL all-reduce takes beyond the alpha-beta model. The sweep it comes from timed one
torch.distributed call at a time on an idle device ("exposed"), so d(S) holds the host's per-call
dispatch h. A caller whose host runs ahead of the device ("queued": back-to-back calls, CUDA-graph
replay, a model step) does not pay h per call:

    d_queued(S)  = max(d(S) - h, 0)      (sweep exposed)
    d_exposed(S) = d(S) + h              (sweep queued)

h is the benchmark's stated per-call host overhead (collective_launch.yaml host_dispatch_s, with source).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import yaml


@lru_cache(maxsize=1)
def _launch_data() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "software", "collective_launch.yaml").read_text())


def launches() -> tuple[str, ...]:
    return tuple(_launch_data()["launches"])


def check_launch(launch) -> str:
    """`launch` if it is a known launch mode; a ValueError naming the known ones otherwise."""
    if launch not in launches():
        raise ValueError(f"unknown collective launch {launch!r}: one of {', '.join(launches())} "
                         "(data/software/collective_launch.yaml)")
    return launch


def host_dispatch_s() -> float:
    """Seconds of host dispatch an exposed library call adds (collective_launch.yaml host_dispatch_s)."""
    return float(_launch_data()["host_dispatch_s"])


def launch_excess(d, launch: str) -> np.ndarray:
    """The library excess `d` (seconds, as the calibration sweep measured it) for a call launched `launch`."""
    d = np.asarray(d, dtype=float)
    sweep = check_launch(_launch_data()["excess_sweep_launch"])
    if check_launch(launch) == sweep:
        return d
    h = host_dispatch_s()
    return np.maximum(d - h, 0.0) if sweep == "exposed" else d + h
