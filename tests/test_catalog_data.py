"""Checks on the chip catalog data: every chip loads, every number is sourced, known facts and
MLPerf accelerator names come back through the public API."""

from __future__ import annotations

import csv
import re
from importlib import resources

import pytest
import yaml

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import chip_ids, get_chip, resolve_chip_id

ALLOWED_STATUS_EXTRA = {"official", "secondary", "estimate", "derived"}
ARCH_FIELDS = {
    "num_cores", "devices_per_chip", "matrix_tile_m", "matrix_tile_n", "scaleup_domain_size", "scaleup_latency_us",
    "scaleout_bw_gbps", "scaleout_latency_us", "host_link_bw_gbps", "memory_access_granularity_bytes",
    "hbm_stacks", "video_decoders", "video_encoders", "video_decode_fps_1080p_h264",
    "video_decode_fps_1080p_hevc", "video_encode_fps_1080p_h264", "fp6_tflops_dense",
    "memory_runtime_gib",  # what the runtime reports (hardware/memory_capacity.py)
    "memory_capacity_gb",  # a datasheet field the shared table lacks for a chip (a800-sxm); specs.csv still wins
    "smem_mma_bytes_per_clk", "mma_bf16_flops_per_clk",  # SM 10.x operand feed (hardware/params.mma_feed_ratio)
    "tensor_memory_kib",  # SM 10.x accumulator memory (hardware/params.accum_mem_bytes)
    "sram_working_memory", "sram_bandwidth_tbps",  # a chip computing out of on-chip SRAM (hardware/sram_tier.py)
    "smem_per_core_kib", "threads_per_core",  # an SM's resident-CTA resources (perf/decode_residency.py)
    "async_mma",  # wgmma / tcgen05 (0 on sm_120): TensorRT-LLM MoE grouped-GEMM path (perf/grouped_gemm_path.py)
    "vector_tflops",  # non-matrix FP32 rate where fp32_tflops is a matrix rate (hardware/params.vector_tflops)
}


def _chips_dir():
    return resources.files("tapeout").joinpath("data", "chips")


def _index() -> dict:
    return yaml.safe_load(_chips_dir().joinpath("index.yaml").read_text())


def _rows(name: str) -> list[dict]:
    with _chips_dir().joinpath(name).open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_index_chip_loads():
    index = _index()
    # a system variant derived in this session (power limit, bare card, switchless board) is '<id>@...'
    assert set(index) == {c for c in chip_ids() if "@" not in c}
    for cid, meta in index.items():
        chip = get_chip(cid)
        assert chip.id == cid
        assert chip.vendor == meta["vendor"]
        assert chip.family == meta["family"]
        # every chip answers the perf model's architecture fields (own value or documented default)
        for fld in ("num_cores", "matrix_tile_m", "matrix_tile_n", "scaleup_domain_size", "host_link_bw_gbps"):
            v = chip.get(fld)
            assert isinstance(v, (int, float)) and v > 0, (cid, fld, v)


def test_catalog_has_at_least_20_chips():
    assert len(chip_ids()) >= 20


@pytest.mark.parametrize("fname", ["specs.csv", "extra_specs.csv"])
def test_every_row_has_source_and_status(fname):
    rows = _rows(fname)
    assert rows, fname
    index = _index()
    for i, r in enumerate(rows, start=2):
        assert r["chip_id"] in index, (fname, i, r["chip_id"])
        assert r["field"].strip(), (fname, i)
        assert r["source"].strip(), (fname, i, r["chip_id"], r["field"])
        assert r["status"].strip(), (fname, i, r["chip_id"], r["field"])


def test_extra_specs_rows_are_well_formed():
    rows = _rows("extra_specs.csv")
    seen = set()
    for r in rows:
        key = (r["chip_id"], r["field"])
        assert key not in seen, f"duplicate row {key}"
        seen.add(key)
        assert r["field"] in ARCH_FIELDS, r["field"]
        assert r["status"] in ALLOWED_STATUS_EXTRA, (key, r["status"])
        assert float(r["value"]) >= 0, key
    # every catalog chip has at least one sourced architecture fact
    assert {r["chip_id"] for r in rows} == set(_index())


@pytest.mark.parametrize(
    "name, field, value",
    [
        ("h100-sxm", "num_cores", 132),  # Hopper whitepaper
        ("h100-pcie", "num_cores", 114),  # Hopper whitepaper
        ("a100-sxm", "num_cores", 108),  # Ampere whitepaper
        ("mi300x", "num_cores", 304),  # CDNA3 whitepaper
        ("mi355x", "num_cores", 256),
        ("b200", "num_cores", 148),
        ("tpu-v5e", "num_cores", 4),  # 1 TensorCore x 4 MXU
        ("tpu-v4", "num_cores", 8),  # 2 TensorCores x 4 MXU
        ("trainium2", "num_cores", 8),  # 8 NeuronCore-v3
        ("gaudi3", "num_cores", 8),  # 8 MMEs
        ("tpu-v6e", "matrix_tile_m", 256),
        ("tpu-v6e", "matrix_tile_n", 256),
        ("gb200", "scaleup_domain_size", 72),
        ("h100-sxm", "scaleup_domain_size", 8),
        ("h100-sxm", "scaleout_bw_gbps", 50),  # 1x ConnectX-7 400 Gb/s per GPU in DGX H100
        ("a100-sxm", "video_decoders", 5),
        ("h100-sxm", "video_decoders", 7),
        ("l40s", "video_encoders", 3),
        ("h200", "hbm_stacks", 6),
    ],
)
def test_known_facts(name, field, value):
    chip = get_chip(name)
    assert chip.get(field) == value
    assert field in chip.specs  # the chip's own sourced row, not a fallback
    assert "default for" not in chip.source_of(field)


def test_family_default_still_applies_where_no_source():
    # Ascend cube units are 16x16; no per-chip row, so the family default answers
    chip = get_chip("ascend-910b")
    assert "matrix_tile_m" not in chip.specs
    assert chip.get("matrix_tile_m") == 16
    assert chip.source_of("matrix_tile_m").startswith("default for huawei-ascend")


@pytest.mark.parametrize(
    "name, cid",
    [
        ("NVIDIA H100-SXM-80GB", "h100-sxm"),
        ("AMD Instinct MI300X-NPS1-SPX-192GB-750W", "mi300x"),
        ("TPU v5e", "tpu-v5e"),
        ("NVIDIA H200-SXM-141GB", "h200"),
        ("NVIDIA B200-SXM-180GB", "b200"),
        ("Intel Gaudi2", "gaudi2"),
        ("Habana Gaudi2", "gaudi2"),
        ("Google TPU v6e (Trillium)", "tpu-v6e"),
        ("NVIDIA H100-PCIe-80GB", "h100-pcie"),
    ],
)
def test_mlperf_names_resolve(name, cid):
    assert resolve_chip_id(name) == cid
    assert get_chip(name).id == cid


@pytest.mark.parametrize(
    "name",
    ["NVIDIA H100-PCIe", "NVIDIA H100-NVL", "NVIDIA H100-NVL-94GB", "NVIDIA GH200-96GB", "NVIDIA GH200 SXM"],
)
def test_other_hopper_parts_do_not_resolve_to_h100_sxm(name):
    assert resolve_chip_id(name) != "h100-sxm"


def test_non_catalog_chips_stay_unresolved():
    for name in ("AMD MI210", "NVIDIA RTX A6000", "NVIDIA GeForce RTX 3090", "Qualcomm Cloud AI 100", "Intel Gaudi"):
        assert resolve_chip_id(name) is None, name


def test_unknown_name_raises_with_close_names():
    with pytest.raises(TapeoutError) as exc:
        get_chip("tpu-v9")
    msg = str(exc.value)
    assert "unknown chip" in msg and "tpu-v9" in msg
    assert "Closest:" in msg and "tpu-v4" in msg


@pytest.mark.parametrize("name, wrong", [("H100 NVL", "h100-sxm"), ("A100 PCIe", "a100-sxm")])
def test_bare_form_factor_variants_do_not_prefix_match(name, wrong):
    assert resolve_chip_id(name) != wrong


@pytest.mark.parametrize("name", ["h100-sxn", "NVIDIA A100-SXM4-64GB"])
def test_typos_and_other_memory_sizes_do_not_resolve(name):
    from tapeout.hardware.catalog import resolve_chip_id

    assert resolve_chip_id(name) is None


@pytest.mark.parametrize(
    "name, cid",
    [
        ("NVIDIA H100-NVL", "h100-nvl"),
        ("NVIDIA H100-NVL-94GB", "h100-nvl"),
        ("NVIDIA A100-PCIe-80GB", "a100-pcie"),
        ("NVIDIA A100 - PCIe - 80 GB", "a100-pcie"),
        ("NVIDIA A100-PCIe-40GB", "a100-pcie-40gb"),
        ("NVIDIA A100-SXM-40GB", "a100-sxm-40gb"),
        ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb"),
        ("NVIDIA A100-SXM-80GB", "a100-sxm"),
        ("NVIDIA GH200-144GB", "gh200"),
        ("NVIDIA GH200-144GB_aarch64", "gh200"),
        ("NVIDIA GH200-96GB", "gh200-96gb"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA L40", "l40"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA A30", "a30"),
        ("NVIDIA A30-PCIE-24GB", "a30"),
        ("NVIDIA A10G", "a10g"),
        ("NVIDIA A40", "a40"),
        ("NVIDIA H100-PCIe", "h100-pcie"),
        ("Qualcomm Cloud AI 100 Ultra", "cloud-ai-100-ultra"),
        ("Intel Gaudi (1st gen)", "gaudi1"),
    ],
)
def test_added_mlperf_accelerators_resolve(name, cid):
    assert resolve_chip_id(name) == cid


def test_no_alias_names_two_chips():
    import re

    seen: dict[str, str] = {}
    for cid, meta in _index().items():
        for a in (cid, meta.get("source_name", ""), *meta.get("aliases", [])):
            key = re.sub(r"[^a-z0-9]", "", a.lower())
            assert seen.setdefault(key, cid) == cid, (a, cid, seen[key])


def test_supplement_rows_are_sourced():
    rows = _rows("supplement_specs.csv")
    index = _index()
    seen = set()
    for r in rows:
        key = (r["chip_id"], r["field"])
        assert key not in seen, key
        seen.add(key)
        assert r["chip_id"] in index, key
        assert r["source"].strip() and r["status"].strip(), key


@pytest.mark.parametrize(
    "name, field, value",
    [
        ("l4", "memory_bandwidth_tbps", 0.3),  # L4 datasheet: 300 GB/s
        ("l4", "tdp_w", 72),  # L4 datasheet
        ("h100-nvl", "memory_capacity_gb", 94),  # H100 NVL datasheet: 94 GB HBM3
        ("h100-nvl", "bf16_tflops_dense", 835.5),  # 1,671 with sparsity
        ("a100-pcie", "memory_bandwidth_tbps", 1.935),  # A100 datasheet, 80GB PCIe
        ("a100-pcie-40gb", "tdp_w", 250),  # A100 40GB PCIe product brief
        ("a100-sxm-40gb", "memory_capacity_gb", 40),
        ("gh200-96gb", "memory_bandwidth_tbps", 4.0),  # GH200 HBM3: 4 TB/s
        ("a30", "memory_bandwidth_tbps", 0.933),  # A30 datasheet
        ("a40", "scaleup_bw_gbps_bidir", 112.5),  # A40 datasheet NVLink bridge
        ("l40", "fp8_tflops_dense", 362),  # L40 datasheet: 362 | 724*
        ("l40", "video_encoders", 3),
        ("a40", "num_cores", 84),
        ("cloud-ai-100-ultra", "int8_tops_dense", 870),  # Cloud AI SDK docs: card of 4 SoCs
        ("cloud-ai-100-ultra", "memory_bandwidth_tbps", 0.548),  # 4 x 137 GB/s LPDDR4X
        ("cloud-ai-100-ultra", "memory_capacity_gb", 128),
        ("gaudi1", "bf16_tflops_dense", 60),  # Intel Hot Chips 2024 Gaudi generations table
        ("gaudi1", "memory_bandwidth_tbps", 0.9),
    ],
)
def test_added_chip_facts(name, field, value):
    chip = get_chip(name)
    assert chip.get(field) == value
    assert field in chip.specs
    assert "default for" not in chip.source_of(field)


def test_ampere_parts_have_no_fp8():
    for cid in ("a100-pcie", "a100-pcie-40gb", "a100-sxm-40gb", "a30", "a40", "a10g"):
        assert not get_chip(cid).supports("fp8"), cid


# issue 16: chips that exist now, each with its published figure
@pytest.mark.parametrize(
    "name, field, value",
    [
        ("gb300", "fp4_tflops_dense", 15000),  # GB300 NVL72: 1,080 PFLOPS dense FP4 / 72
        ("b300", "memory_capacity_gb", 288),  # Blackwell Ultra technical blog
        ("h200-nvl", "tdp_w", 600),  # itkb.uw.cz: NVL variant is a 600 W PCIe card
        ("b300", "int8_tops_dense", 150),  # verda per-GPU dense table: Blackwell Ultra cuts INT8
        ("mlu370-x8", "fp32_tflops", 32),  # Cambricon MLU370-X8 launch figures
        ("mi350x", "fp8_tflops_dense", round(5000 * 2.2 / 2.4)),  # MI355X FP8 x MI350X/MI355X max clock (wccftech)
        ("trainium3", "memory_bandwidth_tbps", 4.9),  # AWS Neuron docs
        ("rtx-4090", "fp8_tflops_dense", 660.6),  # Ada whitepaper
        ("hanguang-800", "int8_tops_dense", 825),  # Alibaba Hanguang 800 announcement
        ("rtx-pro-4500", "memory_bandwidth_tbps", 0.896),  # 256-bit GDDR7, 896 GB/s (technical.city)
        ("arc-pro-b60", "memory_bandwidth_tbps", 0.456),  # 19 Gbps x 192-bit
        ("arc-pro-b50", "tdp_w", 70),  # slot-powered 70 W
    ],
)
def test_new_chip_facts(name, field, value):
    assert get_chip(name).get(field) == pytest.approx(value)


@pytest.mark.parametrize("cid", ["arc-pro-b60", "arc-pro-b50"])
def test_arc_pro_xmx_rates(cid):
    """Xe2 XMX engines do 2048 FP16 and 4096 INT8 ops per clock (architosh.com Arc Pro B50 review):
    the INT8 peak is twice the FP16/BF16 peak. No FP8 rate is published: left empty with a reason,
    so FP8 is not offered on these parts."""
    chip = get_chip(cid)
    assert chip.get("int8_tops_dense") == pytest.approx(2 * chip.get("bf16_tflops_dense"), rel=0.01)
    assert not chip.supports("fp8")
    rows = [r for r in _rows("supplement_specs.csv") if r["chip_id"] == cid and r["field"] == "fp8_tflops_dense"]
    assert rows and rows[0]["status"] == "missing" and rows[0]["notes"].strip()


def test_seed_list_chips_present_and_sourced():
    for name in ("H100", "MI300X", "TPU v5e", "Inferentia2", "Trainium2", "Kunlun II", "Hanguang 800", "B300",
                 "GB300", "H200 NVL", "RTX PRO 6000", "MI350X", "TPU v7", "Trainium3", "Ascend 910C", "MLU370-X8",
                 "MTIA v2", "Rubin", "RTX PRO 4500", "Arc Pro B60", "Arc Pro B50"):
        chip = get_chip(name)
        assert chip.specs, name
        assert all(s.source.strip() for s in chip.specs.values()), name
    assert len(chip_ids()) >= 55


def test_unpublished_figures_are_empty_with_a_reason():
    rows = [r for r in _rows("supplement_specs.csv") if r["chip_id"] in ("b300", "gb300", "rubin", "trainium3")]
    empty = [r for r in rows if not r["value"].strip()]
    assert empty and all(r["status"] == "missing" and r["notes"].strip() for r in empty)
    assert not get_chip("rubin").supports("bf16")  # left empty, not guessed


def test_announced_chips_are_marked():
    rubin = get_chip("rubin")
    assert rubin.specs["fp4_tflops_dense"].status == "announced"
    assert _index()["rubin"]["availability"] == "announced"


# every catalog number carries a real source: no empty source, no placeholder (issue 16 source check)
PLACEHOLDER = re.compile(r"\b(tbd|todo|fixme|xxx|placeholder|from memory|unknown source|example\.com)\b|^\s*-?\s*$", re.I)


@pytest.mark.parametrize("name", ["specs.csv", "extra_specs.csv", "supplement_specs.csv"])
def test_every_catalog_number_has_a_real_source(name):
    for r in _rows(name):
        key = (r["chip_id"], r["field"])
        if r["value"].strip():
            assert r["source"].strip() and not PLACEHOLDER.search(r["source"]), key
            assert r["status"] != "missing", key
        else:  # an empty figure says why (not published, or the format is not supported)
            assert r["notes"].strip(), key


def test_placeholder_pattern_catches_placeholders():
    assert PLACEHOLDER.search("TBD") and PLACEHOLDER.search("datasheet URL from memory") and PLACEHOLDER.search(" ")
    assert not PLACEHOLDER.search("https://verda.com/blog/gb300-nvl72-architecture")


def test_cloud_ai_100_ultra_runs_no_bf16_or_fp8():
    """The AI 100 data types are INT8, INT16, FP16, FP32: BF16/FP8 rows are empty with the reason,
    so a BF16 request falls to a format the card has instead of a guessed rate."""
    chip = get_chip("cloud-ai-100-ultra")
    assert chip.supports("int8") and chip.supports("fp16")
    assert not chip.supports("bf16") and not chip.supports("fp8")
    rows = {r["field"]: r for r in _rows("supplement_specs.csv") if r["chip_id"] == "cloud-ai-100-ultra"}
    assert all(rows[f]["status"] == "missing" and rows[f]["notes"].strip() for f in ("bf16_tflops_dense", "fp8_tflops_dense"))
