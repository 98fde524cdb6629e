"""FP8 delayed scaling's per-module bookkeeping kernels (data/software/fp8_scale_update.yaml).

Under Transformer Engine's DelayedScaling recipe each FP8 module rolls its amax history and computes its next
scale before its forward and before its backward, every micro-batch. The op graph prices the GEMMs and TE's
cast kernels, not these: TE 0.x runs them per module as small TorchScript kernels (amax reduction, history
roll, in-place zero, scale arithmetic, plus the copy of the amax from the reduction buffer); the TE 1.0 line
as one kernel per module; later TE 1.x as one multi-tensor kernel per fp8_autocast region after the amax
all-reduce. Each kernel moves a few kB, so its time is the chip's per-kernel fixed time (kernel_overhead, the
one opcost adds to every non-fused kernel; these kernels are not in the graph, so it is not charged twice).

The count is the stack's source, not a fit: what carries to a chip never seen is the kernel count per layer
of the software it runs and that chip's own per-kernel time. The amax all-reduce is perf/fp8_amax.py.

Switch SCALE_UPDATE_KERNELS (see its comment); measured in docs/notes/issue-18.md (Round stop-36, issue-37a).
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from ..errors import TapeoutError
from ..formats import data_file

# price the delayed-scaling update kernels of the stack's TE line per layer and pass (module docstring);
# False: not priced (before round stop-36, issue-37a)
SCALE_UPDATE_KERNELS = True

FIELDS = ("per_module", "per_module_reduce", "per_region", "per_region_reduce", "modules_per_layer")


@lru_cache(maxsize=None)
def updates() -> dict:
    return yaml.safe_load(data_file("software", "fp8_scale_update.yaml").read_text())["updates"]


def check_update(name: str) -> dict:
    """The entry `name` of fp8_scale_update.yaml; an unknown name is one TapeoutError listing them."""
    tab = updates()
    if name not in tab:
        raise TapeoutError(f"fp8_scale_update '{name}' is not an entry of data/software/fp8_scale_update.yaml; "
                           f"use one of {', '.join(sorted(tab))}, or leave it unset (not priced).")
    return tab[name]


def kernels_per_layer(name: str, reduce_amax: bool, layers_per_region: float) -> float:
    """Kernels one transformer layer launches per pass (forward, and again backward) for the FP8 scale update
    of TE line `name`: per module x modules per layer, plus the per-region ones shared by the region's
    `layers_per_region` layers (Megatron: one fp8_autocast region per model chunk)."""
    if not layers_per_region > 0:
        raise TapeoutError(f"layers_per_region must be > 0, got {layers_per_region!r} (layers per model chunk).")
    e = check_update(name)
    per_module = e["per_module"] + (e["per_module_reduce"] if reduce_amax else 0)
    per_region = e["per_region"] + (e["per_region_reduce"] if reduce_amax else 0)
    return float(e["modules_per_layer"] * per_module + per_region / layers_per_region)


def scale_update_time(name: str | None, reduce_amax: bool, layers_per_region: float, kernel_time: float) -> float:
    """Seconds per layer per pass of the scale-update kernels (0 without an entry or with the switch off):
    kernels_per_layer x the chip's per-kernel fixed time."""
    if name is None or not SCALE_UPDATE_KERNELS:
        return 0.0
    return kernels_per_layer(name, reduce_amax, layers_per_region) * float(kernel_time)
