"""Device memory capacity in bytes, read the way DRAM capacity is quoted and the runtime sees it.

Rule (applies to every chip, including one never built):
1. A DRAM capacity quoted in "GB" (HBM, GDDR, LPDDR) is binary: 1 GB = 2^30 B. JEDEC JESD100B.01
   (terms for memory ICs) defines the prefix giga for memory capacity as 2^30, and DRAM capacity is
   built from power-of-two dies: an 8-high HBM3 stack of 16 Gbit dies is 16 GiB, so the H100's five
   stacks are 80 GiB; the driver shows 81,559 MiB (79.6 GiB) of them (nvidia-smi "NVIDIA H100 80GB
   HBM3 ... 81559MiB"), which a decimal 80e9 B (74.5 GiB) cannot hold. Google and AWS quote the same
   figures as GiB outright (TPU v4 32 GiB, Trainium2 96 GiB).
2. What the runtime can allocate is that, less the driver's own reservation. Where a public log gives
   the total the runtime reports (cudaMemGetInfo, as PyTorch prints it: "GPU 0 has a total capacity of
   79.15 GiB"; vLLM's "total_gpu_memory (79.15GiB)"), the chip carries it as `memory_runtime_gib`
   (data/chips/extra_specs.csv, with the log) and that is the capacity; otherwise the quoted GiB, an
   upper bound by the reservation (about 1% on the NVIDIA parts on file: H100 0.8, H200 1.2, B200 1.7
   GiB).
"""

from __future__ import annotations

from ..errors import TapeoutError

GIB = 2 ** 30  # JEDEC binary gigabyte of memory capacity
KIB, MIB = 2 ** 10, 2 ** 20  # binary kilo- and megabyte (on-chip memories, library buffers)
# every binary size a tool or a data row spells out (nccl-tests payloads, "64 MiB"), defined once
BINARY_UNITS = {"KiB": KIB, "MiB": MIB, "GiB": GIB}
# share of the runtime capacity a serving/inference engine takes for weights + KV cache (one value for
# every user of it): vLLM gpu_memory_utilization default 0.9 (docs.vllm.ai, engine args)
USABLE_MEMORY_FRACTION = 0.90


def dram_bytes(quoted_gb) -> float:
    """Bytes of a DRAM capacity quoted in (JEDEC, binary) GB; broadcasts over arrays."""
    return quoted_gb * GIB


def quoted_gb(capacity_bytes) -> float:
    """The inverse of dram_bytes: a capacity in bytes as the vendor's (binary) GB figure."""
    return capacity_bytes / GIB


RUNTIME_FIELD = "memory_runtime_gib"


def rebased_specs(base_specs: dict, overrides: dict) -> dict:
    """A chip derived from `base_specs` with `overrides` (a user chip's `base:`, an off-catalog kernel
    database system): a runtime total (rule 2) was read on the base part's DRAM, so a chip that changes
    memory_capacity_gb without giving its own runtime total does not inherit it (its capacity is then
    its quoted binary GB); any other override keeps it (a power cap, a rewired board: same DRAM)."""
    out = {**base_specs, **overrides}
    if "memory_capacity_gb" in overrides and RUNTIME_FIELD not in overrides \
            and _value(overrides["memory_capacity_gb"]) != _value(base_specs.get("memory_capacity_gb")):
        out.pop(RUNTIME_FIELD, None)  # restating the base's own capacity is the same DRAM: its runtime total stays
    return out


def _value(spec):
    """A spec's number (a Spec's value, or a bare number); None where absent or not a number."""
    v = getattr(spec, "value", spec)
    return float(v) if isinstance(v, (int, float)) else None


def capacity_bytes(chip) -> float:
    """What the runtime can allocate on `chip` (a catalog Chip): its sourced runtime total where one is
    on file, else its quoted capacity as binary GB (module docstring). A chip that computes out of its on-chip
    SRAM (hardware/sram_tier.py, SRAM_WORKING_MEMORY): that SRAM, in decimal MB as quoted."""
    from .sram_tier import sram_working_memory

    sram = sram_working_memory(chip)
    if sram is not None:
        return sram[1]
    quoted = chip.get("memory_capacity_gb", 0.0)
    quoted = float(quoted) if isinstance(quoted, (int, float)) else 0.0
    runtime = chip.get(RUNTIME_FIELD)
    if runtime is None:
        return dram_bytes(quoted)
    if not isinstance(runtime, (int, float)) or runtime <= 0 or (quoted > 0 and runtime > quoted):
        raise TapeoutError(f"chip '{chip.id}': memory_runtime_gib = {runtime!r} must be a number > 0 and at most "
                           f"memory_capacity_gb ({quoted:g}, binary GB); fix {RUNTIME_FIELD} in the chip's specs "
                           "(data/chips/extra_specs.csv for a catalog chip).")
    return float(runtime) * GIB
