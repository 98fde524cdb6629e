"""A generation kernel's resident CTAs per SM from its source (perf/decode_residency.py; issue 24, Round stop-28
issue-28xq): the XQA kernels' shared memory in closed form from their SharedMem structs, the occupancy rule's
least of launch bounds, shared memory and threads, and the same residency in the fit and `--kernels` serving."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf import kernel_fit as kf
from tapeout.perf.decode_residency import chip_sm, ctas_per_sm, hmma_smem_bytes, qgmma_smem_bytes
from tapeout.perf.kernels_db import chip_for

KIB = 1024


class _Chip:
    """A chip description with the given SM resources (the fields decode_residency reads)."""

    def __init__(self, family="nvidia-hopper", smem_kib=228.0, threads=2048.0):
        self.id, self.family, self._v = "test-chip", family, {"smem_per_core_kib": smem_kib, "threads_per_core": threads}

    def get(self, name, default=None):
        return self._v.get(name, default)


def test_hmma_shared_memory_in_closed_form():
    # mha.cu, head 128, group 8 (warpTile.y 16), BF16 cache, SM 9.0 (128-byte K parts, 64-token V tiles):
    # Q 16 x 256 B + K 4 x 2 x 64 x 128 B + X 4 x 16 x 64 x 2 B + V 8 x 64 x 64 x 2 B = 4 + 64 + 8 + 64 KiB
    assert hmma_smem_bytes(128, 8, 2.0, 128, 64) == (4 + 64 + 8 + 64) * KIB
    # SM 8.9 (64-byte K parts, 32-token V tiles): 4 + 32 + 8 + 32 KiB
    assert hmma_smem_bytes(128, 8, 2.0, 64, 32) == (4 + 32 + 8 + 32) * KIB


def test_qgmma_shared_memory_in_closed_form():
    # mha_sm90.cu, head 128, group 8 (ctaNbQHeads 8), E4M3 cache: K 2 x 64 x 128, 2 x (X 8 x 64 + V 64 x 128),
    # Q 8 x 128, 13 vectors of 8 floats
    assert qgmma_smem_bytes(128, 8) == 2 * 64 * 128 + 2 * (8 * 64 + 64 * 128) + 8 * 128 + 13 * 8 * 4


def test_hopper_residency_from_the_source():
    h = _Chip()
    # mha.cu: launch bounds ask 2 per SM on SM 9.0, but 2 x 141 KiB exceed the SM's 228: one CTA per SM
    assert ctas_per_sm(h, ["hmma"], [128], [8], [2.0])[0] == 1
    # mha_sm90.cu: launch bounds 3 per SM while head x roundUp(group, 8) <= 2048, else 2 (35-86 KiB each fit)
    r = ctas_per_sm(h, ["qgmma"] * 4, [128, 128, 256, 64], [8, 32, 16, 32], [1.0] * 4)
    assert r.tolist() == [3, 2, 2, 3]
    # kernels without a source residency: 0, the caller keeps the fitted ctas_per_core
    assert ctas_per_sm(h, ["mmha", "trtllmgen"], [128, 128], [1, 8], [2.0, 2.0]).tolist() == [0, 0]


def test_database_chips_describe_their_sm():
    for chip in ("a100-sxm", "h100-sxm", "h200", "l40s", "b200", "gb200", "b300", "gb300", "rtx-pro-6000"):
        smem, threads = chip_sm(chip_for(chip))
        assert 64 <= smem <= 256 and threads in (1536, 2048), chip


@settings(max_examples=60, deadline=None)
@given(smem=st.floats(32.0, 256.0), d=st.sampled_from([64, 128, 192, 256]), group=st.integers(2, 32),
       kernel=st.sampled_from(["hmma", "qgmma"]))
def test_less_shared_memory_never_holds_more_ctas(smem, d, group, kernel):
    kv = 1.0 if kernel == "qgmma" else 2.0
    big = ctas_per_sm(_Chip(smem_kib=smem), [kernel], [d], [group], [kv])[0]
    small = ctas_per_sm(_Chip(smem_kib=smem / 2), [kernel], [d], [group], [kv])[0]
    undescribed = ctas_per_sm(_Chip(smem_kib=0.0, threads=0.0), [kernel], [d], [group], [kv])[0]
    assert small <= big <= undescribed  # an undescribed SM bounds nothing: the launch bounds'


def test_a_bad_sm_description_names_the_field():
    with pytest.raises(TapeoutError, match="smem_per_core_kib"):
        ctas_per_sm(_Chip(smem_kib="lots"), ["hmma"], [128], [8], [2.0])


def test_the_fit_prices_hmma_at_its_source_residency_where_on(monkeypatch):
    """kernel_residency gives the source residency per class where SOURCE_RESIDENCY, else 0 (the fitted one)."""
    h = chip_for("h100-sxm")
    monkeypatch.setattr(kf, "SOURCE_RESIDENCY", True)
    r = kf.kernel_residency(h, ["decode_hmma", "decode_qgmma", "decode_mmha"], [64, 64, 64], [8, 8, 64], [128, 128, 128],
                            ["bf16", "fp8", "bf16"])
    assert r.tolist() == [1, 3, 0]
    monkeypatch.setattr(kf, "SOURCE_RESIDENCY", False)
    assert not np.any(kf.kernel_residency(h, ["decode_hmma"], [64], [8], [128], ["bf16"]))
