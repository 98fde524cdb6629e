"""Microbenchmarks timed on some of a chip's cores, not the whole chip.

A Neuron Kernel Interface (NKI) kernel runs on one NeuronCore: "NKI kernels in current release can target a
single NeuronCore-v2 or up to two NeuronCore-v3" (AWS Neuron docs, NKI Programming Model,
https://awsdocs-neuron.readthedocs-hosted.com/en/latest/nki/deep-dives/programming_model.html), and a Trainium /
Inferentia2 chip has two NeuronCore-v2, each with its own Tensor Engine and 24 MiB SBUF (Trainium/Inferentia2
Architecture Guide, https://awsdocs-neuron.readthedocs-hosted.com/en/latest/nki/arch/trainium_inferentia2_arch.html).
So an NKI kernel's time is the time of that share of the chip: a row states it in its model_config as
"on U of C <cores>" (microbenchmarks.csv), and the fit evaluates it on the sub-chip those U cores make
(sub_chip: the matrix and vector peaks, the core count, the on-chip SRAM and the HBM bandwidth scaled by
U / C). The bandwidth too: "Each NeuronCore (v2-v4) is paired with 16 DMA engines ... Each DMA engine has
a theoretical bandwidth of 27.2 GB/s for NeuronCore-v2 and -v3" (Introduction to DMA with NKI,
https://awsdocs-neuron.readthedocs-hosted.com/en/latest/nki/about/nki-dma-overview.html), 435 GB/s for one
NeuronCore-v2, within 6% of its even share of the device's 820 GB/s. The fitted efficiency is then the
fraction of those cores' peak, the same fraction the whole chip runs at when its cores split the work.

CORE_SHARE_ROWS (off): with it off, rows that state a core share are left out of the fit (the fit is then the one
before those rows existed), never fitted as if they had run on the whole chip (which would read a one-core kernel as a
chip at half its efficiency). On, MB-0747 (AWS's NKI tutorial GEMM on one Trn1 NeuronCore-v2) fits Trainium at 0.830
of peak, above the generic 0.744, and as the aws-neuron family mean it moves every compute-bound Neuron row further
from its measurement (ResNet-152 +90.8 -> +101.3%, CLIP +149.2 -> +167.5%; round stop-41, issue-56b,
docs/notes/issue-24.md): off, and fitted.yaml is what it was.
"""

from __future__ import annotations

import re

import numpy as np

from ...errors import TapeoutError

CORE_SHARE_ROWS = False

_SHARE = re.compile(r"\bon (\d+) of (\d+) (\w+)", re.IGNORECASE)


def core_share(r: dict) -> float | None:
    """U / C of a row whose model_config says "on U of C <cores>", None for a whole-chip row."""
    m = _SHARE.search(r.get("model_config", ""))
    if not m:
        return None
    used, total = int(m.group(1)), int(m.group(2))
    if not 1 <= used <= total:
        raise TapeoutError(f"microbenchmarks.csv row {r.get('id', '?')}: model_config says 'on {used} of {total} "
                           f"{m.group(3)}'; give 1 <= used <= total cores (e.g. 'on 1 of 2 NeuronCores')")
    return used / total


def fitted_row(r: dict) -> bool:
    """Whether the fit takes this row: every whole-chip row; a core-share row only with CORE_SHARE_ROWS on."""
    return CORE_SHARE_ROWS or core_share(r) is None


def chip_share(rows: list[dict]) -> float | None:
    """The one core share of a chip's GEMM rows (None: whole chip); mixed shares are a data error."""
    shares = {core_share(r) for r in rows}
    if len(shares) > 1:
        ids = ", ".join(r.get("id", "?") for r in rows)
        raise TapeoutError(f"microbenchmarks.csv rows {ids} (one chip) state different core shares "
                           f"{sorted(shares, key=lambda s: -1 if s is None else s)}; give one chip's GEMM rows "
                           "on the same number of cores (model_config 'on U of C <cores>', or none for the whole chip)")
    return shares.pop() if shares else None


def sub_chip(params, share: float):
    """ChipParams of `share` of a chip's cores: matrix / vector peaks, cores, on-chip SRAM and DRAM bandwidth x share."""
    if not 0 < share <= 1:
        raise TapeoutError(f"core share {share!r}: give a fraction in (0, 1]")
    if share == 1:
        return params
    return params.replace(peak_flops=np.asarray(params.peak_flops, dtype=float) * share,
                          vector_flops=np.asarray(params.vector_flops, dtype=float) * share,
                          num_cores=np.maximum(1.0, np.asarray(params.num_cores, dtype=float) * share),
                          sram_bytes=np.asarray(params.sram_bytes, dtype=float) * share,
                          mem_bw=np.asarray(params.mem_bw, dtype=float) * share)
