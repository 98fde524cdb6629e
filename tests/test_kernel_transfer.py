"""perf/kernel_transfer.py: the default calibration scored on measured kernels (no fit)."""

import numpy as np
import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf import kernels_db
from tapeout.perf.calibration import calibration_for
from tapeout.perf.kernel_fit import error_stats
from tapeout.perf.kernel_transfer import default_errors, gemm_ceilings
from tapeout.perf.kernels_db import Kernels


def test_error_stats_closed_form():
    s = error_stats(np.array([-0.1, 0.2, 0.3]))
    # |e| = 0.1, 0.2, 0.3: median 0.2, 90th percentile (linear) 0.2 + 0.8 * 0.1 = 0.28
    assert s == {"n": 3, "median_abs_err_pct": 20.0, "p90_abs_err_pct": 28.0, "median_signed_err_pct": 20.0}


def _gemm(chip: str, m: int, latency_s: float) -> Kernels:
    row = {"chip": chip, "system": "s", "op": "gemm", "fmt": "bf16", "kv_fmt": "", "m": m, "n": m, "k": m, "batch": 0, "q_len": 0,
           "kv_len": 0, "heads": 0, "kv_heads": 0, "head_dim": 0, "latency_s": latency_s, "stack": "trtllm", "stack_version": "1"}
    return Kernels({c: np.array([row[c]], dtype=object if isinstance(row[c], str) else float) for c in kernels_db.COLUMNS},
                   "t", [])


@pytest.mark.parametrize("cid", ["h100-sxm", "l40s"])
def test_large_gemm_at_the_calibrated_efficiency(cid):
    """A 16k-cube BF16 GEMM measured at exactly 2mnk / (peak x eff_bf16): the ceiling recovers
    eff_bf16, and the op-cost prediction is within a few % (tile padding none, fixed time ~us of ~ms)."""
    chip, m = get_chip(cid), 16384
    cal = calibration_for(chip)
    t = 2.0 * m**3 / (chip.peak_tflops("bf16") * 1e12 * cal.eff_compute["bf16"])
    k = _gemm(cid, m, t)
    g = gemm_ceilings(k)[cid]
    assert g["measured"] == pytest.approx(cal.eff_compute["bf16"], rel=1e-9)
    assert g["calibrated"] == cal.eff_compute["bf16"]
    e = default_errors(k)[cid]
    assert abs(e["ops"]["gemm/bf16"]["median_signed_err_pct"]) < 3.0


def test_origin_separates_own_fit_from_transfer():
    k = _gemm("h100-sxm", 4096, 1e-3)
    assert default_errors(k)["h100-sxm"]["origin"] == "chip fit"
    k = _gemm("h20", 4096, 1e-3)  # no microbenchmarks of its own: a borrowed, power-scaled mean
    assert "power transfer" in default_errors(k)["h20"]["origin"]


def test_small_gemms_have_no_ceiling():
    assert gemm_ceilings(_gemm("h100-sxm", 1024, 1e-5)) == {}
