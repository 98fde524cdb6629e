"""A GEMM library's fixed time per kernel on a chip family, measured on the database's empty GEMMs.

The kernel database times, on every chip, GEMMs whose work is nil: n = k = 32 (the smallest
weight it holds) for m <= 64 tokens, one output tile of at most 64 x 32 x 32 (0.13 MFLOP, 8 KiB of
operands; padded to a 128 x 128 x 32 MMA tile, about 0.14 us on one H100 SM at its dense BF16 rate,
0.07 us on a B200 SM). What such a kernel takes is the library's fixed time per kernel on that
chip: launch, prologue (barrier and TMA descriptor setup), one load round trip, the epilogue's
store. Measured (aiconfigurator-core's database, trtllm stack, the median of the 22 kernels per
chip): BF16 B200 1.81, B300 1.75, GB200 1.98, GB300 1.84, RTX PRO 6000 2.15, L40S 2.15, H100 2.64,
H200 2.57, A100 2.92 us. It is a property of the family and its kernel library (cuBLAS's SM 9.0
kernels against its SM 10.x ones), not of the shape, so the fit (perf/kernel_fit.py) prices each
kernel's fixed time as its shared fitted value plus its family's offset:

    offset(family, fmt) = median over the family's chips of their empty-GEMM time
                          - median over every chip's empty-GEMM time          (same format)

A chip's offset comes from the chips of its family in the kernel set it is given, so a held-out
chip takes its family's measured floor from the others (B200 held out: B300, GB200, GB300); a
family no other chip represents (a new one) gets offset 0: the shared fixed time, as before.
Formats without empty GEMMs in the database (fp8_block and nvfp4 start at k = 128) get no offset.

Opt-in (kernel_fit.FIXED_TIME_BY_FAMILY = "measured"); the default fits the family offsets on the
family's chips instead ("fitted"). Measured held out (docs/notes/issue-24.md, Round stop-26,
issue-26bw), both give B200 BF16 GEMMs 11.6 -> 10.4 %, but the measured floors over-price Hopper's
short GEMMs (H100 / H200 +1.1 / +1.4 points): H100's empty GEMM takes 2.64 us while its 2.5-4 us
kernels fit a fixed time ~0.3 us below that, so the model's own small-tile work and the floor overlap
on Hopper by more than on Blackwell.
"""

from __future__ import annotations

import numpy as np

from .kernels_db import Kernels, chip_for

EMPTY_NK = 32  # n and k of an empty GEMM: the database's smallest weight
EMPTY_M = 64  # and at most this many tokens (one MMA tile's rows on every chip)


def chip_floors(k: Kernels) -> dict:
    """{(chip, fmt): median latency in s} of each chip's empty GEMMs (n, k <= EMPTY_NK, m <= EMPTY_M)."""
    c = k.cols
    empty = ((c["op"] == "gemm") & (np.asarray(c["n"]) <= EMPTY_NK) & (np.asarray(c["k"]) <= EMPTY_NK)
             & (np.asarray(c["m"]) <= EMPTY_M))
    out = {}
    for chip, fmt in sorted(set(zip(c["chip"][empty], c["fmt"][empty]))):
        s = empty & (c["chip"] == chip) & (c["fmt"] == fmt)
        out[str(chip), str(fmt)] = float(np.median(np.asarray(c["latency_s"][s], dtype=float)))
    return out


def family_offsets(floors: dict) -> dict:
    """{(family, fmt): s} the family's median empty-GEMM time minus every chip's median (per format)."""
    fam: dict = {}
    for (chip, fmt), t in floors.items():
        fam.setdefault((chip_for(chip).family, fmt), []).append(t)
    ref = {fmt: float(np.median([t for (_, f), t in floors.items() if f == fmt])) for _, fmt in floors}
    return {(family, fmt): float(np.median(ts)) - ref[fmt] for (family, fmt), ts in fam.items()}


def offset_of(offsets: dict, chip: str, fmt: str) -> float:
    """The fixed-time offset (s) of a chip's kernels of one format; 0 for a family or format not measured."""
    return float(offsets.get((chip_for(chip).family, fmt), 0.0))


def read_floors(exclude: str | None = None, stack: str | None = None, stack_version: str | None = None) -> dict:
    """chip_floors over every GEMM of the installed database (the fit's hash sample holds ~3 empty
    GEMMs per chip), without the `exclude` chip's kernels (a held-out chip, with its twins: kernels_db.held_out_chips)."""
    from .kernels_db import db_config, held_out_chips, read_kernels

    out = held_out_chips(exclude) if exclude else frozenset()
    systems = [s for s, e in db_config()["systems"].items() if e["chip"] not in out]
    return chip_floors(read_kernels(stack=stack, stack_version=stack_version, systems=systems, ops=("gemm",), per_group=None))
