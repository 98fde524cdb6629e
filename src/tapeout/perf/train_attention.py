"""Attention kernel library of a training stack: its rate relative to the library the model's
attention is calibrated on.

The chip's attention efficiency (eff_attention, attn_bwd_factor) is fitted on cuDNN fused
attention (perf/fit/kernels.fit_attention, impl "cudnn"), the Transformer Engine backend on
Hopper from TE 1.2. A stack that ran another library (NVIDIA's MLPerf v3.1 GPT-3 image pins
flash-attn 2.0.8) runs its attention at that library's rate. FlashAttention-2 is written for
Ampere's mma.sync and uses neither Hopper's wgmma nor TMA (Shah et al. 2024, FlashAttention-3,
arXiv:2407.08608: "FlashAttention-2 achieving only 35% utilization on the H100 GPU"), so its
rate relative to cuDNN is a property of the (library, chip) pair, taken only from kernels
measured on that chip in one benchmark setup (data/calibration/attention_kernels.csv):
    ratio(direction) = median over the setups measured in both libraries of
                       TFLOPS(library) / TFLOPS(cudnn)
forward from the causal rows (LLM attention is causal, as eff_attention), backward from the
backward rows. A library measured only against another one, forward + backward in one timing
(FlashAttention 1.x on H100: the FlashAttention-2 paper, arXiv:2307.08691, Fig. 7, against
FlashAttention-2), is bridged: ratio = median(TFLOPS(library) / TFLOPS(bridge)) over the shared
causal setups x the bridge's ratio to cuDNN, the same factor on both passes. A chip without such
rows: None (the caller keeps the calibrated rate and says so).

FP8 dot-product attention (Transformer Engine fp8_dpa on cuDNN's FP8 SDPA) runs at the chip's
calibrated BF16 attention rate times its measured FP8/BF16 fused-attention speedup
(`fp8_attention_speedup`, data/calibration/fp8_attention_speedup.yaml, written from NVIDIA's
measured kernel database by scripts/fit_fp8_attention.py). FP8 doubles the rate of the two
attention GEMMs but not of the softmax exponentials, which run on the multi-function units in
either format (FlashAttention-3 paper, sec. 3: H100 SXM5 989 TFLOPS BF16 matmul vs 3.9 TFLOPS
exponential), so the speedup is below the 2x of the matmul peaks that pricing the attention at
the FP8 GEMM rate implies. Measured 1.32 on H100/H200, 1.20 on B200 (median over long-sequence
shapes). A chip without such kernels: None (the caller keeps the FP8-peak rate and says so).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import yaml

from ..errors import TapeoutError
from ..formats import data_file
from .fit.rows import read_attention_kernels
from .unfused_attention import UNFUSED

CALIBRATED = "cudnn"  # the library fit_attention calibrates on
COMBINED = "fwd+bwd"  # a row timing the forward and backward passes together


@lru_cache(maxsize=None)
def library_ratio(chip_id: str, library: str) -> tuple[float, float] | None:
    """(forward, backward) rate of `library` relative to the calibrated cuDNN kernels on `chip_id`;
    (1, 1) for cudnn itself; None when the chip has no rows measured in both, directly or through a
    bridge library (below)."""
    if library == UNFUSED:  # its ops are priced one by one (perf/unfused_attention.py), not at a library's rate
        return 1.0, 1.0
    rows = read_attention_kernels()
    known = {r["impl"] for r in rows}
    if library not in known:
        raise TapeoutError(f"attention_kernel '{library}' is not a measured attention library; use one of "
                           f"{', '.join(sorted(known))} (data/calibration/attention_kernels.csv impl), or "
                           f"'{UNFUSED}' (Megatron-LM CoreAttention, perf/unfused_attention.py).")
    if library == CALIBRATED:
        return 1.0, 1.0
    direct = _direct_ratio(rows, chip_id, library)
    return direct if direct is not None else _bridged_ratio(rows, chip_id, library)


def _rates(rows: list[dict], chip_id: str, impl: str) -> dict:
    return {(r["direction"], r["causal"].lower(), r["head_dim"], r["heads"], r["seq_len"], r["batch"], r["dtype"]):
            float(r["tflops"]) for r in rows if r["chip"] == chip_id and r["impl"] == impl}


def _median_ratio(lib: dict, ref: dict, direction: str, causal: str) -> float | None:
    both = [k for k in lib if k in ref and k[0] == direction and k[1] == causal]
    return float(np.median([lib[k] / ref[k] for k in both])) if both else None


def _direct_ratio(rows: list[dict], chip_id: str, library: str) -> tuple[float, float] | None:
    lib, ref = _rates(rows, chip_id, library), _rates(rows, chip_id, CALIBRATED)
    fwd, bwd = _median_ratio(lib, ref, "fwd", "true"), _median_ratio(lib, ref, "bwd", "false")
    return None if fwd is None or bwd is None else (fwd, bwd)


def _bridged_ratio(rows: list[dict], chip_id: str, library: str) -> tuple[float, float] | None:
    """A library timed on the chip only against another non-calibrated one, forward and backward in one
    timing (direction COMBINED, causal): its rate relative to that bridge library, the median over the
    shared setups, times the bridge's own ratio to cuDNN. One factor on both passes reproduces the
    combined timing's ratio whatever the forward / backward split (FlashAttention 1.x on H100, timed
    against FlashAttention-2 in the FlashAttention-2 paper's Fig. 7)."""
    lib = _rates(rows, chip_id, library)
    for bridge in sorted({r["impl"] for r in rows} - {library, CALIBRATED}):
        r = _median_ratio(lib, _rates(rows, chip_id, bridge), COMBINED, "true")
        via = _direct_ratio(rows, chip_id, bridge) if r is not None else None
        if via is not None:
            return r * via[0], r * via[1]
    return None


@lru_cache(maxsize=None)
def fp8_attention_speedup(chip_id: str) -> float | None:
    """Measured FP8 / BF16 fused-attention speedup of `chip_id` (time ratio, > 1 when FP8 is
    faster); None when the kernel database has no such pair for the chip."""
    chips = yaml.safe_load(data_file("calibration", "fp8_attention_speedup.yaml").read_text()).get("chips") or {}
    v = chips.get(chip_id)
    return float(v["speedup"]) if v else None
