"""The stream-K tail of a GEMM library (perf/opcost.stream_k_tail, ChipParams.stream_k_tail).

CUTLASS's heuristic decomposition (include/cutlass/gemm/kernel/tile_scheduler_params.h,
get_num_sk_tiles) keeps whole data-parallel waves when the last wave is at least half full, and
otherwise spreads the last two waves' output tiles over every SM by K iterations (stream-K,
Osama et al., PPoPP 2023), so a GEMM of slightly more tiles than cores does not pay a second,
nearly empty wave. The model then times those units at u_wave = 1."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import MatMul, OpGraph
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params

H100 = calibrated_params(get_chip("h100-sxm")).replace(tile_overhead=0.0, tile_k_overhead=0.0, kernel_overhead=0.0)
SK = H100.replace(stream_k_tail=0.5)


def _tc(p, m, n, k):
    return float(evaluate(OpGraph("g", [MatMul(name="g", m=m, n=n, k=k)]), p).compute_time[0])


def test_a_small_tail_wave_is_balanced_over_the_cores():
    # 128 x 128 tiles on 132 SMs: 10 x 14 = 140 tiles, 8 in a second wave (8/132 < 1/2)
    assert H100.tile_m == 128 and H100.tile_n == 128 and H100.num_cores == 132
    m, n, k = 1280, 1792, 4096
    dp, sk = _tc(H100, m, n, k), _tc(SK, m, n, k)
    # data-parallel: 2 waves at 140 / 264 of the cores; stream-K: the 140 tiles' work over 132 cores
    assert sk / dp == pytest.approx(140 / 264, rel=1e-12)


def test_a_tail_at_least_half_full_stays_data_parallel():
    # 10 x 21 = 210 tiles: 78 of 132 in the second wave (> 1/2)
    assert _tc(SK, 1280, 21 * 128, 4096) == _tc(H100, 1280, 21 * 128, 4096)


def test_only_kernels_that_may_split_k_use_it():
    # the collector's data-parallel kernel (max_split_k 1) and a K too short for two 256-deep slices
    assert _tc(SK.replace(max_split_k=1.0), 1280, 1792, 4096) == _tc(H100.replace(max_split_k=1.0), 1280, 1792, 4096)
    assert _tc(SK, 1280, 1792, 384) == _tc(H100, 1280, 1792, 384)
    # fewer tiles than cores: the split-K rule, not this one
    assert _tc(SK, 128, 1024, 8192) == _tc(H100, 128, 1024, 8192)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8192), st.integers(16, 16384), st.integers(16, 16384))
def test_stream_k_never_slower_and_never_past_one_balanced_wave(m, n, k):
    """Balancing never costs time, and saves at most the idle half of two waves (tiles = cores + 1
    gives u_wave (cores + 1) / (2 cores) under data-parallel waves)."""
    dp, sk = _tc(H100, m, n, k), _tc(SK, m, n, k)
    assert sk <= dp * (1 + 1e-12)
    assert sk >= dp * (H100.num_cores + 1) / (2 * H100.num_cores) * (1 - 1e-12)


def test_the_fit_and_serving_price_gemms_with_the_same_tail():
    base = calibrated_params(get_chip("b200"))
    # the default model (shipped calibration, no kernel fit) keeps whole data-parallel waves
    assert base.stream_k_tail == 0.0 and H100.stream_k_tail == 0.0
    x = [p[1] for p in kf.PARAMS]
    assert kf.params_for(base, x, "bf16").stream_k_tail == kf.STREAM_K_TAIL == 0.5
    assert kf.params_for(base, x, "prefill").stream_k_tail == 0.0
    from tapeout.perf.kernel_calibration import chip_entry

    params = dict(zip(kf.NAMES, x))
    assert chip_entry(params, get_chip("b200"), "test")["kernel_library"]["stream_k_tail"] == kf.STREAM_K_TAIL
