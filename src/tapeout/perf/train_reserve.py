"""Device memory a training framework cannot give to tensors: the terms between the capacity the
runtime reports (hardware/memory_capacity.py) and what the model's weights, gradients, optimizer
state and activations (perf/train_memory.py) may use, from the chip's software runtime.

usable = (runtime total - context - GEMM workspace - communicators x communicator buffers) x (1 - fragmentation)

The terms come from data/software/training_reserve.yaml, one entry per runtime (CUDA + NCCL + TE +
PyTorch's caching allocator; ROCm + RCCL + hipBLASLt; XLA on TPU; Neuron; Ascend CANN + HCCL;
Gaudi SynapseAI), each term with its source. A chip's runtime is its `training_runtime` spec, else the
entry listing its family. What a runtime does not size, and a family on no entry (a never-built NPU),
takes the assumed runtime's term (the CUDA stack's, the one measured), and the result names every
term that is an assumption. One communicator per parallel dimension of size > 1 (TP, CP, DP, PP, EP):
Megatron-Core builds one process group per dimension (parallel_state.initialize_model_parallel) and
the collective library connects a group's buffers at its first collective.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from ..errors import TapeoutError
from ..formats import data_file
from ..hardware.memory_capacity import GIB, MIB

SOURCE = "data/software/training_reserve.yaml"
TERMS = ("context", "gemm_workspace", "communicator", "fragmentation")


@lru_cache(maxsize=1)
def reserve_data() -> dict:
    return yaml.safe_load(data_file("software", "training_reserve.yaml").read_text())


def nccl_communicator_bytes(ring: dict | None = None) -> float:
    """Buffers one NCCL communicator holds on a rank: channels x peers x (Simple + LL128 + LL)
    (`ring`: an `nccl_ring` entry; None: the CUDA runtime's)."""
    r = ring or reserve_data()["runtimes"]["cuda"]["nccl_ring"]
    return float(r["channels"] * r["peers"] * (r["simple_bytes"] + r["ll128_bytes"] + r["ll_bytes"]))


def communicators(layout) -> int:
    """Process groups of size > 1 a rank of `layout` (TrainLayout) runs collectives in."""
    return sum(1 for n in (layout.tp, layout.cp, layout.dp, layout.pp, layout.ep) if int(n) > 1)


def runtime_of(chip) -> tuple[str, bool]:
    """(the chip's training runtime, True when it is the assumed one because its family is on no entry)."""
    data = reserve_data()
    named = chip.specs["training_runtime"].value if "training_runtime" in chip.specs else None
    if named is not None:
        if named not in data["runtimes"]:
            raise TapeoutError(f"chip '{chip.id}': specs.training_runtime = {named!r} is not a runtime of {SOURCE}; "
                               f"use one of {', '.join(data['runtimes'])} or drop the field (the family decides).")
        return str(named), False
    for name, rt in data["runtimes"].items():
        if chip.family in rt.get("families", []):
            return name, False
    return data["assumed_runtime"], True


def _term(rt: dict, chip, term: str):
    """(bytes or share, status) of one term from runtime entry `rt`, or None when `rt` does not size it."""
    if term == "context":
        if rt.get("context_bytes"):
            return float(rt["context_bytes"]["value"]), rt["context_bytes"]["status"]
        per, cores = rt.get("context_bytes_per_core"), chip.specs.get("num_cores")
        if per and cores is not None and isinstance(cores.value, float):  # the chip's own core count, never a fallback
            return float(per["value"]) * cores.value, per["status"]
        return None
    if term == "gemm_workspace":
        w = rt.get("gemm_workspace_bytes")
        if not w:
            return None
        v = w["value"]
        if isinstance(v, dict):  # by family (compute capability); another family on this runtime: the largest, assumed
            return (float(v[chip.family]), w["status"]) if chip.family in v else (float(max(v.values())), "assumption")
        return float(v), w["status"]
    if term == "communicator":
        if rt.get("communicator_bytes"):
            return float(rt["communicator_bytes"]["value"]), rt["communicator_bytes"]["status"]
        return (nccl_communicator_bytes(rt["nccl_ring"]), rt["nccl_ring"]["status"]) if rt.get("nccl_ring") else None
    f = rt.get("fragmentation")
    return (float(f["value"]), f["status"]) if f else None


@dataclass(frozen=True)
class Reserve:
    """What a training process keeps out of the tensors' reach on one device, bytes."""

    context: float
    workspace: float
    collective: float  # all communicators' buffers together
    fragmentation: float  # share of the remaining pool
    runtime: str = ""
    status: dict = field(default_factory=dict)  # term -> source | published | assumption | "assumed: <runtime>'s, <why>"

    def usable(self, capacity: float) -> float:
        """Bytes left for the model's tensors out of the runtime's `capacity`."""
        pool = capacity - self.context - self.workspace - self.collective
        return max(0.0, pool * (1.0 - self.fragmentation))

    def assumptions(self) -> list[str]:
        """The terms that are assumptions, not sized from a source for this runtime."""
        return [t for t in TERMS if self.status.get(t, "").startswith("assum")]

    def as_dict(self, capacity: float) -> dict:
        return {"runtime": self.runtime, "capacity_gib": capacity / GIB, "context_gib": self.context / GIB,
                "gemm_workspace_gib": self.workspace / GIB, "collective_buffers_gib": self.collective / GIB,
                "allocator_fragmentation_share": self.fragmentation, "usable_gib": self.usable(capacity) / GIB,
                "term_status": dict(self.status), "source": SOURCE}

    def note(self, capacity: float) -> str:
        """One line for a result: the runtime and the terms that are assumptions, with their sizes."""
        size = {"context": f"{self.context / GIB:.2f} GiB", "gemm_workspace": f"{self.workspace / MIB:.0f} MiB",
                "communicator": f"{self.collective / GIB:.2f} GiB", "fragmentation": f"{self.fragmentation:.1%}"}
        groups: dict[str, list[str]] = {}  # one reason, named once
        for t in self.assumptions():
            groups.setdefault(self.status[t], []).append(f"{t} {size[t]}")
        assumed = "; ".join(f"{', '.join(terms)} ({why})" for why, terms in groups.items())
        return (f"memory reserve for runtime {self.runtime}: {self.usable(capacity) / GIB:.1f} of {capacity / GIB:.2f} GiB "
                f"usable" + (f"; assumptions: {assumed}" if assumed else "") + f" ({SOURCE})")


def training_reserve(layout, chip) -> Reserve:
    """The reserve of one rank of `layout` (TrainLayout) on `chip` (a catalog Chip), from its runtime."""
    data = reserve_data()
    name, whole = runtime_of(chip)
    rt, base_name = data["runtimes"][name], data["assumed_runtime"]
    base = data["runtimes"][base_name]
    vals, status = {}, {}
    for t in TERMS:
        got = None if whole else _term(rt, chip, t)
        if got is None:
            got = _term(base, chip, t)
            why = (f"family {chip.family!r} has no runtime on file" if whole
                   else f"{name} sizes it per core and chip '{chip.id}' gives no num_cores"
                   if t == "context" and rt.get("context_bytes_per_core") else f"{name} does not size it")
            got = (got[0], f"assumed: {base_name}'s, {why}")
        vals[t], status[t] = got
    label = name if not whole else f"{base_name} (assumed for family {chip.family!r})"
    return Reserve(vals["context"], vals["gemm_workspace"], communicators(layout) * vals["communicator"],
                   vals["fragmentation"], label, status)
