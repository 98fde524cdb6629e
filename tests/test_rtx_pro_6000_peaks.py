"""RTX PRO 6000 Blackwell (GB202, sm_120): sourced dense tensor peaks in the catalog and native block-scaled FP4
on the kernel database's nvidia-blackwell-rtx chip, so its NVFP4 MoE layers are priced (issue 24, round stop-33)."""

from __future__ import annotations

import math

import pytest

from tapeout.formats import native_formats, resolve_format
from tapeout.hardware.catalog import get_chip
from tapeout.perf.kernel_moe import layer_time
from tapeout.perf.kernels_db import chip_for

CHIP = get_chip("rtx-pro-6000")


def test_dense_tensor_peaks_are_sourced_in_nvidias_ratio():
    bf16, fp8, fp4 = (CHIP.peak_tflops(d) for d in ("bf16", "fp8", "fp4"))
    # NVIDIA's 4,000 AI TOPS is FP4 with 2:4 sparsity: 2,000 dense; BF16 : FP8 : FP4 = 1 : 2 : 4 dense
    assert (bf16, fp8, fp4) == (500.0, 1000.0, 2000.0)
    assert float(CHIP.get("sparsity_factor")) == 2.0
    for field in ("bf16_tflops_dense", "fp8_tflops_dense", "fp4_tflops_dense", "sparsity_factor"):
        src = CHIP.source_of(field)
        assert src and "none found" not in str(src)
    # per SM and clock: 188 SMs at GB202's 2.4-2.7 GHz boost -> ~1,000-1,100 dense BF16 FLOP per SM per clock
    per_sm_clk = bf16 * 1e12 / 188
    assert 2.4e9 * 1000 < per_sm_clk < 2.7e9 * 1100
    assert CHIP.supports("bf16") and CHIP.supports("fp8")


def test_kernel_db_chip_runs_block_scaled_fp4_natively():
    db = chip_for("rtx-pro-6000")
    assert db.family == "nvidia-blackwell-rtx"
    native = native_formats(db)
    assert "nvfp4" in native and "mxfp4" in native
    assert resolve_format("nvfp4", db) == ("nvfp4", False)
    assert resolve_format("fp8_block", db) == ("fp8", True)  # FP32-scaled FP8 blocks are no mma.sync kind
    # Ada (sm_89) has no FP4 at all: still bad input, not a silent widening
    assert "nvfp4" not in native_formats(get_chip("l40s"))


def test_nvfp4_moe_layers_are_priced_on_the_rtx_pro_6000():
    row = {"distribution": "balanced", "dtype": "nvfp4", "moe_tp": 1, "moe_ep": 1, "hidden": 4096, "inter": 1536,
           "experts": 128, "topk": 8, "tokens": 256, "kernel": "moe_torch_flow"}
    t = layer_time(chip_for("rtx-pro-6000"), row)
    assert math.isfinite(t) and t > 0
    # at the same shape, FP4 experts are cheaper than BF16 ones (half the weight bytes of FP8, a quarter of BF16)
    bf16 = layer_time(chip_for("rtx-pro-6000"), {**row, "dtype": "bfloat16"})
    assert t < bf16
    assert math.isnan(layer_time(chip_for("rtx-pro-6000"), {**row, "distribution": "power_law_1.2"}))


@pytest.mark.parametrize("dtype", ["bf16", "fp8"])
def test_db_chip_and_catalog_agree_within_the_clock_ratio(dtype):
    # the kernel database's chip scales the same ratios to the 2,430 MHz max SM clock of its server node
    # (AIConfigurator rtx_pro_6000_server.yaml): 467.8 / 500 = 0.936, the clock ratio to the spec boost
    db, cat = chip_for("rtx-pro-6000").peak_tflops(dtype), CHIP.peak_tflops(dtype)
    assert db / cat == pytest.approx(467.8 / 500.0, rel=1e-9)
