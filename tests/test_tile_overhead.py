"""Per-work-unit GEMM fixed time (perf/opcost.py t_tile; calibration tile_overhead_us) and the
published parameter counts of the SDXL pipeline's parts (workloads/diffusion.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import MatMul, OpGraph
from tapeout.perf.calibration import calibrated_params, calibration_for
from tapeout.perf.fit.gemm import fit_gemm
from tapeout.perf.opcost import evaluate
from tapeout.workloads import diffusion
from tapeout.workloads.blocks import ConvMatMul, as_precision, distinct_weight_bytes

TAU = 1e-6


def _params(tau: float):
    return calibrated_params(get_chip("h200")).replace(tile_overhead=tau, kernel_overhead=0.0)


def _t(op, tau):
    return float(evaluate(OpGraph("g", [op]), _params(tau)).compute_time[0])


def test_fixed_time_is_waves_times_tau():
    p = _params(0.0)
    cores, tm, tn = float(p.num_cores), float(p.tile_m), float(p.tile_n)
    # 3 waves of full tiles, K large enough that no split-K is chosen
    op = MatMul(name="g", m=int(tm * cores * 3), n=int(tn), k=4096, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16",
                math_dtype="bf16")
    assert _t(op, TAU) - _t(op, 0.0) == pytest.approx(3 * TAU, rel=1e-9)


def test_narrow_groups_share_a_tile():
    """32 groups of 4 output channels fit one tile's N: one unit per row tile, not 32
    (CUTLASS conv GroupMode::kMultipleGroup)."""
    p = _params(0.0)
    cores, tm = float(p.num_cores), float(p.tile_m)
    m = int(tm * cores * 2)
    op = ConvMatMul(name="gconv", m=m, n=4, k=36, groups=32, a_dtype="int8", w_dtype="int8", out_dtype="int8",
                    math_dtype="int8", input_elems=float(m * 128))
    assert _t(op, TAU) - _t(op, 0.0) == pytest.approx(2 * TAU, rel=1e-9)


def test_attention_and_default_chip_unchanged():
    """The term is GEMM-only and zero without evidence (no cross-vendor generic borrowing)."""
    for cid in ("tpu-v6e", "mi325x"):
        assert calibration_for(get_chip(cid)).tile_overhead_us == 0.0
    # a chip of the fitted vendor borrows the vendor's value, as the kernel replay gap does
    assert calibration_for(get_chip("l40s")).tile_overhead_us == calibration_for(get_chip("h200")).tile_overhead_us > 0


@settings(max_examples=40, deadline=None)
@given(k1=st.integers(64, 4096), dk=st.integers(1, 8192), tau=st.floats(1e-8, 5e-6))
def test_relative_penalty_falls_with_k(k1, dk, tau):
    """Same output tiles, longer K: the fixed time is a smaller share (efficiency rises with K)."""
    def rel(k):
        op = MatMul(name="g", m=65536, n=1280, k=k, a_dtype="fp8", w_dtype="fp8", out_dtype="bf16", math_dtype="fp8")
        return _t(op, tau) / _t(op, 0.0)

    assert rel(k1) >= rel(k1 + dk) - 1e-12
    assert rel(k1) > 1.0


def test_fit_recovers_a_known_tile_time():
    """Round trip: times generated with eff 0.7 and 0.6 us per unit fit back to those values."""
    p = calibrated_params(get_chip("h200"))
    truth = p.replace(eff_compute=np.full_like(np.asarray(p.eff_compute, dtype=float), 0.7), eff_mem=0.85,
                      kernel_overhead=4e-6, tile_overhead=0.6e-6)
    pts = []
    for k in (512, 1024, 4096, 8192):
        for m in (1, 64, 4096, 16384):
            for n in (1280, 8192):
                op = MatMul(name="g", m=m, n=n, k=k, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16")
                pts.append((m, n, k, "bf16", float(evaluate(OpGraph("g", [op]), truth).total_time)))
    fit, resid = fit_gemm("h200", pts, p.replace(tile_overhead=0.0), None, device_timed=True)
    assert fit["tile_overhead_us"] == pytest.approx(0.6, rel=0.02)
    assert fit["eff_compute"]["bf16"] == pytest.approx(0.7, rel=0.01)
    assert float(np.max(np.abs(resid))) < 1e-3


def test_fit_without_k_variety_has_no_tile_time():
    p = calibrated_params(get_chip("h200"))
    pts = [(m, 8192, 8192, "bf16", 1e-3 * (1 + m / 4096)) for m in (1, 64, 4096)]
    fit, _ = fit_gemm("h200", pts, p, None, device_timed=True)
    assert "tile_overhead_us" not in fit


# ---- published parameter counts of the SDXL pipeline (the FLOPs follow from the same shapes)


def _params_of(ops) -> float:
    return distinct_weight_bytes(ops) / 2.0  # fp16 weights


def test_sdxl_unet_params_match_diffusers_count():
    # stabilityai/stable-diffusion-xl-base-1.0 unet: 2,567,463,684 parameters (diffusers
    # UNet2DConditionModel.num_parameters(); SDXL paper Table 1 "2.6B"); the graph omits
    # biases/norms/embeddings (< 1%)
    ops = diffusion.sdxl_unet_ops(1, 128, 128, as_precision("fp16"))
    assert _params_of(ops) == pytest.approx(2_567_463_684, rel=0.015)


def test_sdxl_text_encoders_and_vae_decoder_params():
    pr = as_precision("fp16")
    # CLIP ViT-L/14 text: 123.06M with 49,408 x 768 token + 77 x 768 position embeddings
    clip_l = _params_of(diffusion.clip_text_ops("l", 1, 12, 768, 12, 3072, pr)) + (49408 + 77) * 768
    assert clip_l == pytest.approx(123.06e6, rel=0.01)
    # OpenCLIP ViT-bigG/14 text: 694.66M with 49,408 x 1280 + 77 x 1280 embeddings + 1280^2 projection
    big_g = _params_of(diffusion.clip_text_ops("g", 1, 32, 1280, 20, 5120, pr)) + (49408 + 77) * 1280 + 1280 * 1280
    assert big_g == pytest.approx(694.66e6, rel=0.01)
    # SD/SDXL AutoencoderKL decoder (incl. post_quant_conv): 49.49M
    assert _params_of(diffusion.vae_decoder_ops(1, 128, 128, pr)) == pytest.approx(49.49e6, rel=0.02)


def test_sdxl_conv_flops_closed_form():
    """A 3x3 conv's FLOPs = 2 x (9 C_in C_out) x H x W: the first UNet res-block conv at 128^2."""
    ops = diffusion.sdxl_unet_ops(1, 128, 128, as_precision("fp16"))
    conv1 = next(o for o in ops if o.name == "unet.down0.res0.conv1")
    assert conv1.flops * conv1.count == 2 * 9 * 320 * 320 * 128 * 128
    # level 0 (no attention): 2 res-blocks x 2 convs of 320 -> 320 channels at 128 x 128
    level0 = [o for o in ops if o.name.startswith("unet.down0.res") and o.name.endswith((".conv1", ".conv2"))]
    assert math.isclose(sum(o.flops * o.count for o in level0), 4 * 2 * 9 * 320 * 320 * 128 * 128, rel_tol=1e-12)


def test_sparse_math_does_not_shrink_the_fixed_time():
    """2:4 sparse math speeds up the mainloop, not the per-unit fixed time:
    t_c' = (t_c - t_tile) / s + t_tile (quant/transform.py evaluate_compressed)."""
    from tapeout.quant.transform import CompressedMatMul, evaluate_compressed, sparse_speedup

    p = _params(TAU)
    op = CompressedMatMul(name="sp", m=16384, n=4096, k=1024, a_dtype="fp8", w_dtype="fp8", out_dtype="bf16",
                          math_dtype="fp8", sparsity=0.5, pattern="nm", sparse_nm=(2, 4))
    g = OpGraph("g", [op])
    dense, sparse = evaluate(g, p), evaluate_compressed(g, p)
    tile = float(dense.tile_time[0])
    assert tile > 0
    s = sparse_speedup(op, p.sparsity_factor)
    assert s > 1
    assert float(sparse.compute_time[0]) == pytest.approx((float(dense.compute_time[0]) - tile) / s + tile, rel=1e-9)


# ---- a GEMM format without its own fit: the same-width twin's fit when the peaks are equal


def _eff(cid: str, key: str) -> float:
    from tapeout.ops import PEAK_KEYS

    return float(np.asarray(calibrated_params(get_chip(cid)).eff_compute)[PEAK_KEYS.index(key)])


def test_int8_takes_the_fp8_fit_when_the_peaks_match():
    # H200: INT8 and FP8 both 1,979 dense TOPS/TFLOPS, only FP8 and BF16 are measured
    assert "int8" not in calibration_for(get_chip("h200")).eff_compute
    assert _eff("h200", "int8") == _eff("h200", "fp8") != _eff("h200", "bf16")
    # L40S: INT8 = FP8 = 733 (a borrowed fit): the same rule
    assert _eff("l40s", "int8") == _eff("l40s", "fp8")


def test_int8_keeps_the_bf16_fit_without_an_equal_fp8_peak():
    # A100 has no FP8; TPU v6e lists INT8 but no FP8 peak
    for cid in ("a100-sxm", "tpu-v6e"):
        assert _eff(cid, "int8") == _eff(cid, "bf16")


def test_twin_rule_is_symmetric_and_width_bound():
    from tapeout.ops import PEAK_KEYS
    from tapeout.perf.calibration import Calibration

    cal = Calibration(chip_id="x", eff_compute={"bf16": 0.8, "int8": 0.6})
    peaks = np.array([1.0 if k in ("fp8", "int8", "bf16") else 0.0 for k in PEAK_KEYS])
    arr = cal.eff_compute_array(peaks)
    assert arr[PEAK_KEYS.index("fp8")] == 0.6  # fp8 borrows int8 (same width, same peak)
    assert arr[PEAK_KEYS.index("fp16")] == 0.8  # no 2-byte twin rule: BF16 base
    peaks[PEAK_KEYS.index("fp8")] = 2.0
    assert cal.eff_compute_array(peaks)[PEAK_KEYS.index("fp8")] == 0.8  # unequal peaks: BF16 base
