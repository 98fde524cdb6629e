"""perf/kernel_replay.py: which of the kernel database's GEMMs the collector replays from L2, and
how the kernel fit times them (issue 24, round stop-20)."""

import importlib.metadata as md

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.kernel_replay import MAX_COPIES, l2_resident, replay_copies, replay_footprint
from tapeout.perf.kernels_db import Kernels, chip_for

MB = 1e6


@pytest.mark.parametrize("weight, copies", [(1 * MB, 5), (16 * MB, 5), (30 * MB, 4), (48 * MB, 2), (95 * MB, 2),
                                            (96 * MB, 1), (500 * MB, 1)])
def test_copies_are_the_collectors_clamp(weight, copies):
    # collect_gemm.py: max(1, min(5, ceil(L2 / weight bytes))), L2 = 96 MB
    assert float(replay_copies(weight, 96 * MB)) == copies


def test_footprint_closed_form():
    # m=8, n=k=2048 BF16: weight 8.39 MB x 5 copies + x (8 x 2048 x 2) + out (8 x 2048 x 2)
    w = 2048 * 2048 * 2.0
    assert float(replay_footprint(8, 2048, 2048, "bf16", 96 * MB)) == 5 * w + 2 * 8 * 2048 * 2.0
    # FP8 weights: one byte per element, activation and output still BF16
    assert float(replay_footprint(8, 2048, 2048, "fp8", 96 * MB)) == 5 * w / 2 + 2 * 8 * 2048 * 2.0


@pytest.mark.parametrize("n, k, fmt, resident", [
    (2048, 2048, "bf16", True),     # 5 x 8.4 MB = 42 MB
    (4096, 2048, "bf16", True),     # 5 x 16.8 MB = 84 MB
    (4096, 2560, "bf16", False),    # 5 x 21 MB = 105 MB > 96
    (4096, 4096, "fp8", True),      # 5 x 16.8 MB
    (4096, 4096, "bf16", False),    # 3 copies x 33.6 MB = 101 MB: the copies spill, as meant
    (16384, 16384, "bf16", False),  # one 537 MB copy
])
def test_resident_on_a_96_mb_l2(n, k, fmt, resident):
    assert bool(l2_resident(1, n, k, fmt, 96 * MB)) is resident


def test_no_l2_no_residency():
    assert not l2_resident(1, 64, 64, "bf16", 0.0)


@given(m=st.integers(1, 1 << 14), n=st.integers(1, 1 << 16), k=st.integers(1, 1 << 16),
       l2=st.floats(1e6, 3e8), fmt=st.sampled_from(["bf16", "fp8", "fp8_block", "nvfp4"]))
def test_only_the_full_five_copies_can_stay_in_l2(m, n, k, l2, fmt):
    """Fewer than five copies means ceil(L2 / W) copies, at least L2 bytes of weights: with the
    activation on top the replay cannot fit, so a resident kernel always ran all five copies."""
    w = {"bf16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5}[fmt] * n * k
    if l2_resident(m, n, k, fmt, l2):
        assert float(replay_copies(w, l2)) == MAX_COPIES


def test_unknown_format_names_the_field():
    with pytest.raises(ValueError, match="GEMM format 'int3'"):
        replay_footprint(1, 1, 1, "int3", 96 * MB)


def _gemm_group(chip: str, m: int, n: int, k: int):
    row = (chip, "s", "gemm", "bf16", "", m, n, k, 0, 0, 0, 0, 0, 0, 1e-5, "trtllm", "1")
    return kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]


def test_fit_times_a_resident_gemm_on_the_l2_stream():
    """L40S (96 MB L2), a skinny BF16 GEMM with 8.4 MB weights: the collector replays it from L2, so
    its time follows the L2 stream (l2_core_bw) and not the DRAM efficiency (mem_bf16); a 537 MB
    weight is the other way round."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    il2, imem = kf.NAMES.index("l2_core_bw"), kf.NAMES.index("mem_bf16")

    def t(g, i, v):
        xx = x.copy()
        xx[i] = v
        return float(kf.predict_group(g, xx)[0])

    small, big = _gemm_group("l40s", 1, 2048, 2048), _gemm_group("l40s", 1, 16384, 16384)
    assert small["l2"] and not big["l2"]
    assert t(small, imem, 0.3) == t(small, imem, 0.9) and t(small, il2, 10.0) > t(small, il2, 40.0)
    assert t(big, il2, 10.0) == t(big, il2, 40.0) and t(big, imem, 0.3) > t(big, imem, 0.9)
    # memory-bound on the L2 stream: 2048 x 2048 x 2 bytes over 142 SMs x 10 GB/s, fill capped by units
    p = kf.params_for(small["params"], x, "bf16")
    assert t(small, il2, 1.0) > 2048 * 2048 * 2.0 / (142 * 1.0e9) > p.kernel_overhead


def test_l40s_l2_is_the_ada_boards_96_mb():
    ch = chip_for("l40s")
    assert ch.get("onchip_sram_mb") == 96 and "arxiv.org/abs/2606.22588" in ch.source_of("onchip_sram_mb")


try:
    md.version("aiconfigurator-core")
    HAVE_DB = True
except md.PackageNotFoundError:
    HAVE_DB = False


@pytest.mark.skipif(not HAVE_DB, reason="aiconfigurator-core (tapeout[kernels]) not installed")
def test_l40s_replay_of_80_mb_runs_above_its_dram_bandwidth():
    """The measured evidence for the L2 size: L40S BF16 GEMMs of m <= 16 whose five replay copies
    total 80-96 MB stream their weights faster than the 0.864 TB/s GDDR6 can (datasheet), so the
    L2 holds at least 80 MB (a 48 MB L2 would put them at or below the DRAM rate)."""
    k = kernels_db.read_kernels(systems=["l40s"], per_group=None, ops=("gemm",))
    c = k.cols
    w = 2.0 * c["n"].astype(float) * c["k"]
    s = (c["fmt"] == "bf16") & (c["m"] <= 16) & (5 * w >= 80 * MB) & (5 * w <= 96 * MB)
    assert s.sum() >= 50
    assert np.median(w[s] / c["latency_s"][s]) > 1.3 * 0.864e12


# the device's cudaDevAttrL2CacheSize (OpenXLA GPU target specs), the number the collector sizes its replay by
DEVICE_L2_BYTES = {"b200": 132_644_864, "gb200": 135_528_448, "b300": 135_528_448, "gb300": 135_528_448,
                   "rtx-pro-6000": 134_217_728}


@pytest.mark.parametrize("chip", sorted(DEVICE_L2_BYTES))
def test_blackwell_l2_is_the_device_reported_size(chip):
    """No Blackwell part falls back to the 50 MB H100 L2 (family_defaults.yaml): its catalog L2 is
    the byte count CUDA reports, so the fit replays as many copies as the collector did."""
    ch = chip_for(chip)
    assert ch.get("onchip_sram_mb") * MB == pytest.approx(DEVICE_L2_BYTES[chip], abs=1.0)
    assert "openxla/xla" in ch.source_of("onchip_sram_mb")


def test_b200_replay_of_a_20_mb_weight_stays_in_its_l2():
    """Five 20 MB BF16 weight copies (100 MB) plus activation and output fit B200's 132.6 MB L2 but
    not the 50 MB fallback, where ceil(50 / 20) = 3 copies (60 MB) already spill."""
    n = k = int(np.sqrt(20 * MB / 2.0))
    l2 = chip_for("b200").get("onchip_sram_mb") * MB
    assert replay_copies(2.0 * n * k, l2) == MAX_COPIES
    assert l2_resident(16, n, k, "bf16", l2) and not l2_resident(16, n, k, "bf16", 50 * MB)


@pytest.mark.skipif(not HAVE_DB, reason="aiconfigurator-core (tapeout[kernels]) not installed")
def test_rtx_pro_6000_replay_falls_to_its_dram_rate_past_its_l2():
    """The measured evidence for the RTX PRO 6000's 128 MiB L2: BF16 GEMMs of m <= 16 whose five
    copies fit it (weights 20-26 MB) stream above the 1.792 TB/s GDDR7 (datasheet), and those whose
    five copies exceed it (26.9-33 MB) fall below the DRAM rate, the step at 5 x weight = L2."""
    k = kernels_db.read_kernels(systems=["rtx_pro_6000_server"], per_group=None, ops=("gemm",))
    c = k.cols
    w = 2.0 * c["n"].astype(float) * c["k"]
    small = (c["fmt"] == "bf16") & (c["m"] <= 16)
    fits, spills = small & (w >= 20 * MB) & (5 * w <= 134.2 * MB), small & (5 * w > 134.3 * MB) & (w < 33 * MB)
    assert fits.sum() >= 50 and spills.sum() >= 50
    assert np.median(w[fits] / c["latency_s"][fits]) > 1.1 * 1.792e12 > np.median(w[spills] / c["latency_s"][spills])

# ---- round stop-21: the generation-attention collector replays one KV cache ----

def test_kv_replay_footprint_closed_form():
    from tapeout.perf.kernel_replay import kv_replay_footprint

    # batch 4, 8192 keys, 32 query / 8 KV heads of 128: K + V = 2 x 4 x 8192 x 8 x 128 x 2 bytes (BF16),
    # half in FP8; query and output 2 x 4 x 32 x 128 x 2 bytes
    q_out = 2 * 4 * 32 * 128 * 2
    assert kv_replay_footprint(4, 8192, 32, 8, 128, "bf16") == 2 * 4 * 8192 * 8 * 128 * 2 + q_out
    assert kv_replay_footprint(4, 8192, 32, 8, 128, "fp8") == 2 * 4 * 8192 * 8 * 128 + q_out
    with pytest.raises(ValueError, match="KV-cache format int4"):
        kv_replay_footprint(1, 1, 1, 1, 128, "int4")


def test_decode_l2_resident_is_the_footprint_against_the_l2():
    from tapeout.perf.kernel_replay import decode_l2_resident, kv_replay_footprint

    fp = float(kv_replay_footprint(1, 8192, 32, 8, 128, "bf16"))  # 33.6 MB
    assert decode_l2_resident(1, 8192, 32, 8, 128, "bf16", fp) and not decode_l2_resident(1, 8192, 32, 8, 128, "bf16", fp - 1)
    assert not decode_l2_resident(1, 8192, 32, 8, 128, "bf16", 0.0)  # no L2 size: never resident
    # an FP8 cache of twice the tokens has the same K and V bytes
    assert decode_l2_resident(1, 16384, 32, 8, 128, "fp8", fp + 2 * 32 * 128 * 2)


# ---- round stop-24: the L2 a generation kernel's stream is served by ----

# measured L2 read bandwidth (TB/s, gpu-benches gpu-l2-cache plateau) per kernel-database chip; B300 /
# GB300 carry GB200's as a stated assumption (data/calibration/kernels_db.yaml)
L2_TBPS = {"a100-sxm": 5.4, "h100-sxm": 9.8, "h200": 9.8, "l40s": 5.2, "b200": 18.9, "gb200": 18.9,
           "b300": 18.9, "gb300": 18.9, "rtx-pro-6000": 8.7}


@pytest.mark.parametrize("chip", sorted(L2_TBPS))
def test_l2_bandwidth_is_described_with_its_microbenchmark(chip):
    from tapeout.perf.kernel_replay import l2_read_bw

    ch = chip_for(chip)
    assert l2_read_bw(ch) == pytest.approx(L2_TBPS[chip] * 1e12)
    # a device-wide L2 read-stream microbenchmark: gpu-benches gpu-l2-cache, or Chips and Cheese's L2 bandwidth test
    assert any(m in ch.source_of("l2_bandwidth_tbps") for m in ("gpu-benches", "chipsandcheese"))


@pytest.mark.parametrize("chip", sorted(L2_TBPS))
def test_l2_outruns_the_dram_it_fronts(chip):
    """Every byte a core reads from DRAM passes through the L2: a measured L2 stream below the chip's
    DRAM bandwidth would be a wrong datum (or a wrong unit)."""
    from tapeout.perf.kernel_replay import l2_read_bw

    ch = chip_for(chip)
    assert l2_read_bw(ch) > float(ch.get("memory_bandwidth_tbps")) * 1e12


def test_rtx_pro_6000_l2_is_its_own_measurement():
    """GB202's L2 stream is measured on the RTX PRO 6000 itself (Chips and Cheese, ~8.7 TB/s), no longer
    AD102's per-SM stream scaled to 188 SMs (5.2 x 188/142 x 2430/2490 = 6.72, the earlier assumption):
    per SM it streams more from its L2 than AD102 (L40, gpu-benches 5.2 TB/s over 142 SMs)."""
    ch = chip_for("rtx-pro-6000")
    spec = ch.specs["l2_bandwidth_tbps"]
    assert spec.status == "secondary"
    assert "chipsandcheese.com/p/blackwell-nvidias-massive-gpu" in ch.source_of("l2_bandwidth_tbps")
    assert float(spec.value) / float(ch.get("num_cores")) > 5.2 / 142


def test_undescribed_l2_falls_back_to_the_dram_bandwidth():
    """A chip without a described L2 stream: an L2-served stream gets its DRAM bandwidth (the L2 is
    never slower than the DRAM it fronts); a described on-chip SRAM bandwidth is used as given."""
    from tapeout.hardware.catalog import Chip, Spec
    from tapeout.perf.kernel_replay import l2_read_bw

    bare = Chip(id="npu", name="npu", vendor="x", family="generic",
                specs={"memory_bandwidth_tbps": Spec(2.0, "TB/s", "official", "s")})
    assert l2_read_bw(bare) == pytest.approx(2.0e12)
    sram = Chip(id="npu2", name="npu2", vendor="x", family="generic",
                specs={"memory_bandwidth_tbps": Spec(2.0, "TB/s", "official", "s"),
                       "l2_bandwidth_tbps": Spec(40.0, "TB/s", "official", "s")})
    assert l2_read_bw(sram) == pytest.approx(40e12)


@given(l2=st.floats(1e12, 50e12), dram=st.floats(0.5e12, 10e12), g=st.integers(1, 128))
def test_l2_served_stream_is_the_slower_of_the_two_levels(l2, dram, g):
    """g L2 reads of every byte the DRAM delivers once, the two streams overlapped: bytes / rate =
    max(bytes / L2, bytes / g / DRAM); a resident stream (inf) never touches the DRAM."""
    from tapeout.perf.kernel_replay import l2_served_bw

    b = 1e9
    assert b / float(l2_served_bw(l2, dram, g)) == pytest.approx(max(b / l2, b / g / dram), rel=1e-12)
    assert float(l2_served_bw(l2, dram, np.inf)) == l2
    assert float(l2_served_bw(l2, dram, g)) <= float(l2_served_bw(l2, dram, g + 1))


def test_mmha_reread_is_the_gqa_group():
    from tapeout.perf.kernel_replay import mmha_reread

    assert list(mmha_reread([64, 32, 128], [1, 32, 2])) == [64.0, 1.0, 64.0]


def test_mmha_cta_width_is_cache_bytes_per_math_byte():
    """decoderMaskedMultiheadAttentionTemplate.h loads 16 / sizeof(T) math (BF16) elements per thread
    vector whatever the cache width: an FP8 cache moves half the bytes per element in flight."""
    from tapeout.perf.kernel_replay import mmha_cta_width

    assert list(mmha_cta_width(["bf16", "fp8", "fp16"])) == [1.0, 0.5, 1.0]
