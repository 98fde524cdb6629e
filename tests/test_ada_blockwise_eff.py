"""The SM 8.9 block-scaled FP8 GEMM (TensorRT-LLM's ada_blockwise_gemm) at its own MMA efficiency in the kernel fit
(kernel_fit.ADA_BLOCKWISE_EFF, eff_fp8_block_sm89): which kernels read it, that it moves those kernels' time and no
other's, and that untying it from the per-tensor FP8 GEMM's eff_fp8 brings L40S's own fit of its per-tensor FP8 GEMMs
closer to their measured times (docs/notes/issue-24.md, Round stop-35 issue-35a)."""

import numpy as np
import pytest

from tapeout.perf import kernel_fit as kf

from _db import needs_db


@pytest.mark.parametrize("on", [True, False])
def test_which_block_scaled_kernel_reads_which_efficiency(monkeypatch, on):
    monkeypatch.setattr(kf, "ADA_BLOCKWISE_EFF", on)
    assert kf.fp8_block_eff(True, False, "nvidia-ada") == "eff_fp8_block_mma"  # the MMA applies the scales
    assert kf.fp8_block_eff(False, True, "nvidia-hopper") == "eff_fp8_block_sm90"  # DeepGEMM
    assert kf.fp8_block_eff(False, False, "nvidia-ada") == ("eff_fp8_block_sm89" if on else "eff_fp8")
    assert kf.fp8_block_eff(False, False, "nvidia-hopper") == "eff_fp8"  # no kernel named: the per-tensor GEMM's


def _groups():
    from tapeout.perf.kernels_db import read_kernels

    return kf.Groups(read_kernels(systems=["h200_sxm", "l40s"], per_group=6, ops=("gemm",)))


@needs_db
def test_only_the_sm89_block_scaled_kernels_read_it(monkeypatch):
    """(that raising it speeds those kernels alone: test_deepgemm_eff.py, parametrized over both kernels)"""
    monkeypatch.setattr(kf, "ADA_BLOCKWISE_EFF", True)
    effs = {(it["chip"], it["fmt"]): it["eff"] for it in _groups().items}
    assert effs["l40s", "fp8_block"] == "eff_fp8_block_sm89"
    assert effs["l40s", "fp8"] == "eff_fp8" and effs["h200", "fp8_block"] == "eff_fp8_block_sm90"


@needs_db
def test_untied_l40s_per_tensor_fp8_gemms_closer_to_measured(monkeypatch):
    """L40S's own fit (its GEMMs): with the block-scaled kernels tied to eff_fp8 its per-tensor FP8 GEMMs of serving
    size (m >= 256, n, k >= 1024) are priced well above their measured time (1.33 x at 300 kernels per group); untied,
    eff_fp8 rises and the median ratio moves toward 1 (still above it: 1.17 at 300 per group)."""
    from tapeout.perf.kernels_db import read_kernels

    k = read_kernels(systems=["l40s"], per_group=120, ops=("gemm",))
    test = read_kernels(systems=["l40s"], per_group=600, ops=("gemm",))
    c = test.cols
    big = (c["fmt"] == "fp8") & (c["m"] >= 256) & (c["n"] >= 1024) & (c["k"] >= 1024)
    test = test.where(big)
    ratio, eff = {}, {}
    for on in (False, True):
        monkeypatch.setattr(kf, "ADA_BLOCKWISE_EFF", on)
        p = kf.fit(kf.Groups(k))["params"]
        eff[on] = p["eff_fp8"]
        g = kf.Groups(test)
        ratio[on] = float(np.median(np.concatenate([t / it["meas"] for it, t in zip(g.items, g.predict(kf.x_of(p)))])))
    assert eff[True] > eff[False]
    assert ratio[False] > 1.1  # the tied fit: too slow at serving sizes
    assert abs(np.log(ratio[True])) < abs(np.log(ratio[False]))
