"""Compute slowed by the communication it hides: an overlapped collective's kernels occupy cores.

NCCL runs each channel of a collective as one CTA resident on one SM for the whole collective
(NCCL docs: NCCL_MIN_CTAS / NCCL_MAX_CTAS, ncclConfig_t minCTAs / maxCTAs, "up to 32" CTAs per
kernel; the channel count comes from the topology search, NCCL INFO "N coll channels"). While a
data-parallel reduce-scatter / all-gather or a context-parallel ring step runs beside the GEMMs
and attention, those kernels have (cores - ctas) cores; kernel-level measurements of this
interference: Agrawal et al. 2024 ("Characterizing Compute-Communication Overlap in
GPU-Accelerated Distributed Deep Learning"), Pati et al. ASPLOS'24 (T3).

Linear model (the same share rule perf/tp_overlap.py applies to userbuffers' num_sm): compute g
overlapped with a collective c that takes the share f = ctas / cores of the cores for its whole
duration progresses at 1 - f while c runs, at 1 after. Compute done inside the window is
c (1 - f); if that covers g the pair ends with c, else the rest runs after it:
    T = max(c, g + f c)        (exact for f, c, g >= 0: c >= g + f c  <=>  c (1 - f) >= g)
so the exposed time beyond the compute is max(c - g, f c): the old max(0, c - g) when the
collective is the long pole, and f c (the work the compute lost) when it is hidden.
The share a training step uses is not the cores' C / S but what the kernels beside the collective
actually lose: their waves over the S - C cores left (perf/comm_waves.py, from perf/opcost's work
units; 1 - t_alone / t_beside per DP window). Not modelled: the HBM bandwidth the collective's bytes
take from memory-bound kernels (sized below, small).

HBM traffic of a collective (sized, not charged in the step; docs/notes/issue-18.md, Round stop-25
issue-25cc). NCCL's ring reduce-scatter / all-reduce step (src/device/reduce_scatter.h, all_reduce.h
runRing: prims.recvReduceSend / directRecvReduceCopySend; prims_simple.h) reads the chunk the previous
rank delivered into this GPU's receive buffer and this rank's own input, and writes the sum onward.
Per byte a GPU receives: over NVLink (P2P writes straight into the next GPU's buffer) 1 byte written
into this HBM by the sender, 2 read by the kernel: HBM_BYTES_PER_WIRE_BYTE["nvlink"] = 3 (the write
out lands in the next GPU's HBM, counted there). Over the network (GPUDirect RDMA) the NIC writes the
received byte into HBM and the kernel writes the sum into the send FIFO in HBM that the NIC reads
back: 1 + 2 + 1 + 1 = 5. All-gather steps copy without the own-input read (one byte less each).
The HBM time the collective's bytes occupy, `hbm_busy_time`, bounds what it can take from
memory-bound kernels running beside it (exact when those kernels saturate HBM for the whole
collective; compute-bound GEMMs lose nothing to it).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import TapeoutError


def device_cores(p) -> float:
    """Cores one device's collective communicator and kernels spread over: the chip's num_cores over the devices
    software sees in it (ChipParams.devices, chip data devices_per_chip: an MI250X is 2 GCDs of 110 CUs, each its own
    GPU to ROCm and RCCL), so a communicator's CTAs take their share of one device's cores, not of the package's."""
    return float(np.max(np.asarray(p.num_cores, dtype=float) / np.asarray(p.devices, dtype=float)))


def ctas_text(ctas: float, p) -> str:
    """How a run's notes name a communicator's CTAs: per device, with the devices and their cores, where the chip is
    several devices to software (device_cores), since the package then loses devices x ctas of its cores."""
    devices = float(np.max(p.devices))
    if devices <= 1:
        return f"{ctas:g} CTAs"
    return (f"{ctas:g} CTAs per device ({devices:g} devices of {device_cores(p):g} cores each, chip data "
            f"devices_per_chip: {ctas * devices:g} of the package's cores)")


def core_share(ctas: float, cores: float, field: str = "comm_ctas") -> float:
    """Share of the chip's cores one overlapped collective's CTAs occupy (one CTA per channel,
    one SM each). Bad input (negative, or half the chip or more) is refused naming `field`."""
    if not (0 <= ctas < 0.5 * cores):  # written so that nan fails too
        raise TapeoutError(f"{field} = {ctas:g} CTAs for overlapped collectives on a chip of {cores:g} cores: use "
                           f"0 (the collectives take no cores) up to {math.ceil(0.5 * cores) - 1} (below half the cores; "
                           f"NCCL on NVIDIA GPUs, for one, runs at most 32 channels, one CTA each).")
    return float(ctas) / float(cores)


def contended_exposure(exposed, t_comm, share):
    """Exposed time of a collective of duration t_comm overlapped with compute, given the exposure
    without core contention (max(0, t_comm - t_compute) for one window, or the chunked schedule's)
    and the share of the cores the collective occupies: max(exposed, share x t_comm) (module
    docstring; exact for one window). Broadcasts."""
    return np.maximum(np.asarray(exposed, dtype=float), np.asarray(share, dtype=float) * np.asarray(t_comm, dtype=float))


# HBM bytes moved on one GPU per byte it receives in a ring reduce step (module docstring)
HBM_BYTES_PER_WIRE_BYTE = {"nvlink": 3.0, "network": 5.0}


def hbm_busy_time(wire_bytes, hbm_bw, path: str = "network"):
    """Seconds of the chip's HBM bandwidth a collective's traffic occupies: wire_bytes received on
    one GPU x the HBM bytes per wire byte of `path` ("nvlink" / "network") / hbm_bw (B/s). The most
    time it can take from memory-bound kernels it overlaps (module docstring). Broadcasts."""
    if path not in HBM_BYTES_PER_WIRE_BYTE:
        raise TapeoutError(f"path = {path!r}: use one of {', '.join(HBM_BYTES_PER_WIRE_BYTE)} (the link the "
                           f"collective's bytes arrive over).")
    bw, wire = np.asarray(hbm_bw, dtype=float), np.asarray(wire_bytes, dtype=float)
    if not np.all(bw > 0):  # nan fails too
        raise TapeoutError(f"hbm_bw = {hbm_bw}: give the chip's HBM bandwidth in B/s (> 0).")
    if not np.all(wire >= 0):
        raise TapeoutError(f"wire_bytes = {wire_bytes}: give the bytes one GPU receives (>= 0).")
    return HBM_BYTES_PER_WIRE_BYTE[path] * wire / bw
