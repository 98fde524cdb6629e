"""The SM 9.0 block-scaled FP8 GEMM (DeepGEMM) at its own MMA efficiency in the kernel fit (kernel_fit.DEEPGEMM_EFF,
eff_fp8_block_sm90): which kernels read it, and that it moves those kernels' time and no other's."""

import numpy as np
import pytest

from tapeout.perf import kernel_fit as kf

from _db import needs_db


def _groups():
    from tapeout.perf.kernels_db import read_kernels

    return kf.Groups(read_kernels(systems=["h200_sxm", "b200_sxm", "l40s"], per_group=6, ops=("gemm",)))


@needs_db
@pytest.mark.parametrize("on", [True, False])
def test_only_the_sm90_block_scaled_kernel_reads_its_own_efficiency(monkeypatch, on):
    monkeypatch.setattr(kf, "DEEPGEMM_EFF", on)
    effs = {(g["chip"], g["fmt"]): g["eff"] for g in _groups().items}
    assert effs["h200", "fp8_block"] == ("eff_fp8_block_sm90" if on else "eff_fp8")
    assert effs["b200", "fp8_block"] == "eff_fp8_block_mma"  # Blackwell's MMA applies the scales
    # Ada: its own kernel's where ADA_BLOCKWISE_EFF (test_ada_blockwise_eff.py), else the per-tensor FP8 GEMM's
    assert effs["l40s", "fp8_block"] == ("eff_fp8_block_sm89" if kf.ADA_BLOCKWISE_EFF else "eff_fp8")
    assert effs["h200", "fp8"] == "eff_fp8"


@needs_db
@pytest.mark.parametrize("name", ["eff_fp8_block_sm90", "eff_fp8_block_sm89"])
def test_raising_it_speeds_its_block_scaled_kernels_alone(monkeypatch, name):
    """The SM 9.0 kernel's (DEEPGEMM_EFF) and the SM 8.9 kernel's (ADA_BLOCKWISE_EFF, switched on here) own efficiency."""
    monkeypatch.setattr(kf, "ADA_BLOCKWISE_EFF", True)
    g = _groups()
    x = kf.x_of({p[0]: p[1] for p in kf.PARAMS})
    y = x.copy()
    y[kf.NAMES.index(name)] *= 1.2
    faster = 0
    for it, a, b in zip(g.items, g.predict(x), g.predict(y)):
        reads = kf.group_reads(it, name)
        assert reads == (it["eff"] == name)
        if reads:
            assert np.all(b <= a)  # a faster MMA: never slower (a memory-bound kernel: the same)
            faster += int(np.sum(b < a))
        else:
            assert np.array_equal(a, b)
    assert faster > 0  # and the compute-bound ones faster
