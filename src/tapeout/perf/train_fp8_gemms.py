"""A training step's per-tensor FP8 GEMMs read from the chip's measured kernel database, without `--kernels`.

The default (microbenchmark) calibration prices an FP8 GEMM at one efficiency, eff_compute[fp8], fitted on the
chip's best-shape FP8 MAMF (H100-SXM: MB-0020, mamf-finder's brute-force search, best shape 1024 x 9216 x 14336
at 1402.6 TFLOPS, 70.9% of peak; data/measured/microbenchmarks.csv), and carries that rate to every shape through
the same tile / wave / fixed-time structure as BF16 (128 x 128 tiles, 0.5 us per wave, no K-depth or epilogue term:
data/calibration/fitted.yaml, ChipParams). NVIDIA's measured kernel database (aiconfigurator-core 0.12.0,
system h100_sxm, TensorRT-LLM 1.3.0rc20: `Linear` with QuantAlgo.FP8, i.e. a dynamic per-tensor activation
quantize then `cublas_scaled_mm`, the cuBLASLt FP8 GEMM, BF16 output; ai-dynamo/aiconfigurator
collector/trtllm/collect_gemm.py, tensorrt_llm/_torch/modules/linear.py FP8QDQLinearMethod.apply) shows a shape
dependence that structure does not reproduce for FP8 while it does for BF16 (scripts/fp8_gemm_shape_table.py
--grid; both at the sustained clock, the database's quantize pass taken off): on the database's own grid the fit
prices an FP8 GEMM with a 1,024 side (N or K) 1.5-1.6x faster than measured (fit / DB time 0.61-0.66 median by M
from 2,048 to 32,768), 2,048-4,096 sides 1.1-1.2x faster (0.81-0.91), 8,192-16,384 sides 2-10% (0.90-0.98);
BF16 within 3% in every class (0.89-1.02). That excess is not the GEMM's: it is per activation element (M x K),
independent of N, and the same in microseconds on H200 as on H100 despite 1.43x the bandwidth; TensorRT-LLM's
`quantize_e4m3_per_tensor` (BF16 scale: the scalar amax and convert kernels, load-latency bound) runs inside the
timed Linear and the model takes it off at the DRAM stream rate (docs/notes/issue-24.md, round stop-40,
issue-53a and issue-54a; kernel_fit.TENSOR_QUANT_ROUNDS, off). Transformer Engine's training path does not run
those kernels, so this table over-prices a training FP8 GEMM at narrow N.

Switch MEASURED_FP8_TRAINING (OFF): where the chip has a per-tensor FP8 GEMM table in the *installed* database
(the tapeout[kernels] extra; kernels_db.yaml systems: H100-SXM, H200, ...; not a power-limited variant, which the
collector did not time, and not a chip the calibration in force holds out, kernels_db.held_out_of), a training step
prices its per-tensor FP8 GEMMs (only those) from that table the way `--kernels aiconfigurator` prices all of them
(perf/gemm_table: the measured latency less the model's quantize pass, the recipe prices its own casts; at the
board's sustained clock, train_clock.measured_gemm_time). Off by default, and never a copy of the database on file
(issue 24: the database's data is not copied into the repository; the default needs no kernels extra): a per-chip
measured table does not transfer to a chip nobody measured, and the default must price those. It stays as an
opt-in diagnostic (what the measured FP8 kernel alone moves, rounds stop-40 issue-52b / issue-53a in
docs/notes/issue-24.md).
"""

from __future__ import annotations

# training's per-tensor FP8 GEMMs from the installed database's table (module docstring). Off: a per-chip measured
# table does not transfer to an unmeasured chip, and the default needs no kernels extra (issue 24).
MEASURED_FP8_TRAINING = False
FORMATS = ("fp8",)  # the per-tensor FP8 GEMM (the training recipes' `fp8`); not fp8_block / nvfp4


class FormatView:
    """A chip's measured GEMM table answering for `formats` only (None for every other GEMM: the fit prices it)."""

    def __init__(self, gemms, formats=FORMATS):
        self.gemms, self.formats = gemms, tuple(formats)
        self.source = gemms.source

    def time(self, op, p) -> float | None:
        if op.math_dtype not in self.formats:
            return None
        return self.gemms.time(op, p)


def training_gemms(chip, fitted: dict | None = None, on: bool | None = None) -> FormatView | None:
    """The measured FP8 GEMM table a training step of `chip` prices its FP8 GEMMs from (module docstring), or None:
    switch off, a power-limited variant, a chip the calibration holds out, no per-tensor FP8 table in the database
    (or the database not installed)."""
    if not (MEASURED_FP8_TRAINING if on is None else on) or getattr(chip, "nominal_tdp_w", None):
        return None
    from ..errors import TapeoutError
    from .gemm_table import OPTION, measured_gemms
    from .kernels_db import db_config, held_out_of

    cid = getattr(chip, "calibration_id", chip.id)  # a board variant of a measured chip (h100-sxm@mesh4): its die's table
    try:
        if not any(v.get("chip") == cid for v in db_config()["systems"].values()) or {chip.id, cid} & held_out_of(fitted):
            return None
        g = measured_gemms(OPTION, cid)
    except (TapeoutError, ImportError, OSError):
        return None
    if not any(f in g.formats() for f in FORMATS):
        return None
    return FormatView(g)


__all__ = ["FORMATS", "MEASURED_FP8_TRAINING", "FormatView", "training_gemms"]
