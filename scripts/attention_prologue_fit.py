"""Fit the attention work unit's prologue/epilogue (keys) on the published fused-attention sweeps.

    python scripts/attention_prologue_fit.py

Reads data/calibration/attention_kernels.csv (microbenchmarks only) and prints the value that goes
into data/calibration/kernel_structure.yaml `attn_tile_k_overhead` (perf/fit/kernels.py
fit_attention_prologue), with the within-sweep RMS of log(model / measured) at it and at 0.
"""

from __future__ import annotations

import json

from tapeout.hardware import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.fit import read_attention_kernels
from tapeout.perf.fit.kernels import fit_attention_prologue


def main() -> None:
    print(json.dumps(fit_attention_prologue(read_attention_kernels(), lambda c: calibrated_params(get_chip(c)))))


if __name__ == "__main__":
    main()
