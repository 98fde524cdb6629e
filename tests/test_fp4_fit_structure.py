"""A serving NVFP4 GEMM under a --kernels calibration priced on the structure its efficiency was fitted on
(kernel_calibration.FP4_FIT_STRUCTURE; docs/notes/issue-24.md, Round stop-39, branch issue-47e)."""

import copy

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf import kernel_calibration as kc
from tapeout.perf.calibration import calibrated_params, load_fitted
from tapeout.perf.kernel_tile import collector_tile
from tapeout.perf.kernels_db import db_config
from tapeout.precision import get_precision

BF16_FIELDS = {"max_split_k": 11.0, "tile_k_overhead": 180.0}  # a --kernels entry's BF16 class (kernel_fit.gemm_fields)


def _with_kernel_classes(cid: str) -> dict:
    f = copy.deepcopy(load_fitted())
    f["chips"][cid]["kernel_gemm_classes"] = {"bf16": dict(BF16_FIELDS)}
    return f


def test_off_path_unchanged(monkeypatch):
    monkeypatch.setattr(kc, "FP4_FIT_STRUCTURE", False)
    chip = get_chip("b200")
    p = calibrated_params(chip)
    assert kc.serving_gemm_params(p, chip, get_precision("fp4"), _with_kernel_classes("b200")) == p
    bf16 = kc.serving_gemm_params(p, chip, get_precision("bf16"), _with_kernel_classes("b200"))
    assert bf16.max_split_k == BF16_FIELDS["max_split_k"]


def test_on_prices_nvfp4_on_the_collector_tile_without_k_splits(monkeypatch):
    monkeypatch.setattr(kc, "FP4_FIT_STRUCTURE", True)
    chip = get_chip("b200")
    # TensorRT-LLM's default SM100 FP4 tile (fp4Gemm.cpp getDefaultGemmConfig, data/calibration/kernels_db.yaml)
    assert db_config()["systems"]["b200_sxm"]["compute_capability"] == "10.0"
    assert collector_tile("b200_sxm", "trtllm", "nvfp4")["m"] == 128.0
    q = kc.serving_gemm_params(calibrated_params(chip), chip, get_precision("fp4"), _with_kernel_classes("b200"))
    assert (q.tile_m, q.min_tile_m, q.tile_n, q.max_split_k, q.accum_stages) == (128.0, 128.0, 256.0, 1.0, 1.0)


def test_on_leaves_other_formats_on_their_class(monkeypatch):
    monkeypatch.setattr(kc, "FP4_FIT_STRUCTURE", True)
    chip = get_chip("b200")
    p = calibrated_params(chip)
    bf16 = kc.serving_gemm_params(p, chip, get_precision("bf16"), _with_kernel_classes("b200"))
    assert (bf16.max_split_k, bf16.tile_n) == (BF16_FIELDS["max_split_k"], p.tile_n)
    assert kc.serving_gemm_params(p, chip, get_precision("fp8"), _with_kernel_classes("b200")) == p  # no fp8 class here


def test_on_needs_a_kernel_calibration_and_a_named_tile(monkeypatch):
    monkeypatch.setattr(kc, "FP4_FIT_STRUCTURE", True)
    b200, h100 = get_chip("b200"), get_chip("h100-sxm")
    p = calibrated_params(b200)
    # the shipped calibration holds no kernel classes: nothing to be consistent with
    assert kc.serving_gemm_params(p, b200, get_precision("fp4"), None) == p
    # a database chip whose compute capability has no FP4 tile (SM 9.0): unchanged
    ph = calibrated_params(h100)
    assert kc.fp4_fit_structure(ph, h100) == ph
