"""The memory tier a chip that computes out of on-chip SRAM is priced on.

The performance model has one memory level below the cores (ChipParams.mem_bw / mem_capacity): every weight,
activation and KV byte is read through it and every fit is checked against it. For a GPU that level is the HBM /
GDDR / LPDDR behind the caches. Some chips keep a program's tensors in on-chip SRAM instead and reach their DRAM
only by explicit copies: on the Graphcore IPU the local SRAM of a tile (In-Processor-Memory) is the only memory tile
instructions address, Streaming Memory being reached by explicit copies (IPU Programmer's Guide, IPU hardware
overview); the UntetherAI speedAI240 computes at memory, each bank's processing elements attached to their own
SRAM (Hot Chips 34). Such a chip states `sram_working_memory` 1 in data/chips/extra_specs.csv with that source, and
its on-chip SRAM bandwidth `sram_bandwidth_tbps`.

SRAM_WORKING_MEMORY on: a chip stating `sram_working_memory` is priced with its SRAM as that one level
(bandwidth `sram_bandwidth_tbps`, capacity `onchip_sram_mb`, decimal MB as vendors quote SRAM); what does not fit
the SRAM is refused by the usual fit checks, not streamed from DRAM. On because it is what the vendors' programming
models describe (sources above), it touches no other chip (none else states `sram_working_memory`), and without it these
chips cannot be priced at all: the DRAM bandwidth behind them is unpublished (IPU Streaming Memory, speedAI240
LPDDR5), and had it been, pricing every byte through it would describe a different machine. What it leaves out
(docs/notes/issue-18.md, round stop-41): the IPU's bulk-synchronous exchange phases between tiles and IPUs,
pipelines of a model over several IPUs with weights or optimizer state in Streaming Memory, and the speedAI's
layer-per-bank dataflow. Off: these chips are refused for want of a memory bandwidth (hardware/params.py
require_perf_specs), as before round stop-41.
"""

from __future__ import annotations

from ..errors import TapeoutError

SRAM_WORKING_MEMORY = True

# SRAM_NO_KERNEL_LAUNCH: such a chip pays no per-kernel fixed time (ChipParams.kernel_overhead). That time is "a
# CUDA-graph / stream replay gap, a property of the vendor's driver and command front end" (perf/calibration.py); a
# chip of a vendor with no fit takes the cross-vendor generic mean of the fitted GPUs (10.6 us). These chips run a
# network as one statically compiled program that their own cores sequence: Poplar compiles the whole graph into
# one program of compute sets and exchanges that the tiles execute, the host launching the program, not each
# operation (IPU Programmer's Guide, 'Programs', 'The compilation and execution of IPU programs'; Graphcore memory
# and performance guide: 'The graph is compiled statically'); the speedAI240's layers are placed on its memory
# banks, each bank's two RISC-V cores sequencing its rows (Hot Chips 34). On: no host launch per operation is what
# both vendors document. What it leaves out: the cost these chips do pay between operations (the IPU's
# bulk-synchronous sync and exchange phases, a layer pipeline's fill), unpublished. Round stop-41: on ResNet-50 at
# batch 64 the 56 launches were 0.59 of 1.77 ms on the speedAI240 (docs/notes/issue-18.md). Off: the generic mean.
SRAM_NO_KERNEL_LAUNCH = True

TB = 1e12
MB = 1e6  # SRAM is quoted in decimal MB (Graphcore 900MB, Untether 238 MB): no binary rule as for DRAM


def sram_working_memory(chip) -> tuple[float, float] | None:
    """(bytes/s, bytes) of `chip`'s on-chip SRAM where it computes out of it (`sram_working_memory` 1) and the
    switch is on; None otherwise. A chip that states it without an SRAM size or bandwidth is refused, naming the
    field."""
    if not SRAM_WORKING_MEMORY or not bool(chip.get("sram_working_memory", 0)):
        return None
    own = {name: getattr(chip.specs.get(name), "value", None) for name in ("sram_bandwidth_tbps", "onchip_sram_mb")}
    for name, v in own.items():  # the chip's own figures: the generic onchip_sram_mb fallback is an H100's L2
        if not isinstance(v, (int, float)) or not v > 0:
            raise TapeoutError(f"chip '{chip.id}': sram_working_memory is set but {name} is not on file (a number > 0); "
                               f"add a sourced value to data/chips/extra_specs.csv or drop sram_working_memory.")
    return float(own["sram_bandwidth_tbps"]) * TB, float(own["onchip_sram_mb"]) * MB


def without_launches(chip, p):
    """`p` (the chip's calibrated ChipParams) with no per-kernel fixed time where `chip` computes out of SRAM and
    SRAM_NO_KERNEL_LAUNCH is on (comment above); `p` unchanged otherwise."""
    if not SRAM_NO_KERNEL_LAUNCH or sram_working_memory(chip) is None:
        return p
    return p.replace(kernel_overhead=0.0)

