"""Blackwell's context FMHA runs two 128-row Q tiles' softmaxes in ping-pong with their S and O accumulators in
the SM's tensor memory (kernels_db.yaml context_kernels.nvidia-blackwell `pingpong`; FlashAttention-4
flash_fwd_sm100.py: tmem_total = 2 x (n_block_size + head_dim_v_padded) <= 512 columns). With TMEM_PINGPONG the
kernel fit overlaps the softmax only where both tiles fit the chip's TMEM (docs/notes/issue-24.md, Round stop-38
issue-42a)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.context_tiles import (pingpong_columns, pingpong_described, softmax_overlap, tmem_columns,
                                        tmem_pingpong)

TMEM = 256 * 1024  # extra_specs.csv tensor_memory_kib 256 (CUTLASS: 128 lanes x 512 columns x 4 B)


def test_sm100_tensor_memory_is_512_columns_of_128_lanes():
    for chip in ("b200", "gb200", "b300", "gb300"):
        assert float(tmem_columns(calibrated_params(get_chip(chip)).accum_mem_bytes)) == 512.0
    # no tensor memory: Hopper (accumulators in registers), RTX Blackwell (sm_120, no tcgen05)
    for chip in ("h100-sxm", "h200", "rtx-pro-6000"):
        assert float(tmem_columns(calibrated_params(get_chip(chip)).accum_mem_bytes)) == 0.0


@pytest.mark.parametrize("d, cols", [(64, 384), (96, 448), (128, 512), (129, 544), (192, 640), (256, 768), (512, 1280)])
def test_pingpong_columns_closed_form(d, cols):
    # two Q tiles x (128 S columns + the head size padded to 16)
    assert float(pingpong_columns(d, 128, 2)) == cols


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 600))
def test_overlap_iff_both_tiles_fit(d):
    want = 2 * (128 + 16 * -(-d // 16)) <= 512  # padded head size <= 128
    assert float(tmem_pingpong("nvidia-blackwell", d, TMEM)) == float(want)
    assert float(tmem_pingpong("nvidia-blackwell", d, TMEM)) == float(d <= 128)
    # twice the tensor memory holds head 256's two tiles (768 <= 1024); none holds nothing
    assert float(tmem_pingpong("nvidia-blackwell", d, 2 * TMEM)) == float(16 * -(-d // 16) <= 384)
    assert float(tmem_pingpong("nvidia-blackwell", d, 0.0)) == 0.0


def test_only_blackwell_describes_the_pingpong():
    assert pingpong_described("nvidia-blackwell")
    for fam in ("nvidia-hopper", "nvidia-ampere", "nvidia-ada", "nvidia-blackwell-rtx", "no-such-family"):
        assert not pingpong_described(fam)
        assert not np.any(tmem_pingpong(fam, [64, 128], TMEM))


@pytest.mark.parametrize("tmem", [False, True])
@pytest.mark.parametrize("overlap", [False, True])
def test_which_family_and_head_overlap(monkeypatch, tmem, overlap):
    monkeypatch.setattr(kf, "TMEM_PINGPONG", tmem)
    d = [64, 128, 256, 512]
    blackwell = kf.context_overlap("nvidia-blackwell", d, TMEM, overlap)
    # the switch: Blackwell by its TMEM (heads <= 128), whatever SOFTMAX_OVERLAP; off: its flag (in series)
    assert list(blackwell) == ([1.0, 1.0, 0.0, 0.0] if tmem else [0.0] * 4)
    # Hopper has no TMEM and keeps its own rule (its flag under SOFTMAX_OVERLAP)
    assert list(kf.context_overlap("nvidia-hopper", d, 0.0, overlap)) == [softmax_overlap("nvidia-hopper") * overlap] * 4
    assert not np.any(kf.context_overlap("nvidia-ampere", d, 0.0, overlap))
    # a Blackwell-family chip without tensor memory described keeps the flag too
    assert not np.any(kf.context_overlap("nvidia-blackwell", d, 0.0, overlap))


def test_the_switch_reaches_the_fit(monkeypatch):
    from tapeout.perf.kernels_db import read_kernels

    try:
        k = read_kernels(systems=["h200_sxm", "b200_sxm"], per_group=40, ops=("attention_prefill",))
    except Exception as e:  # the database is an optional extra
        pytest.skip(f"kernel database not available: {e}")

    def overlapped(items):
        out = {}
        for g in items:
            for d in k.cols["head_dim"][g["rows"]]:
                out.setdefault((g["chip"][:4], float(d)), set()).add(float(g["params"].attn_ctx_softmax_overlap))
        return out

    monkeypatch.setattr(kf, "TMEM_PINGPONG", False)
    off = overlapped(kf.Groups(k, softmax_overlap=False).items)
    assert all(v == {0.0} for v in off.values())
    monkeypatch.setattr(kf, "TMEM_PINGPONG", True)
    on = overlapped(kf.Groups(k, softmax_overlap=False).items)
    b200 = {d: v for (c, d), v in on.items() if c == "b200"}
    assert any(d <= 128 for d in b200) and any(d > 128 for d in b200)
    for d, v in b200.items():  # each kernel by its own head size
        assert v == ({1.0} if d <= 128 else {0.0})
    assert all(v == {0.0} for (c, _), v in on.items() if c == "h200")  # Hopper: its flag, SOFTMAX_OVERLAP off


def test_the_switch_is_recorded_fit_only():
    s = kf.model_switches()["TMEM_PINGPONG"]
    assert s["value"] is kf.TMEM_PINGPONG and s["serving"].startswith("fit only")
