"""Chips that compute out of on-chip SRAM (issue 18, round stop-41, issue-55b): the Graphcore Bow IPU and the
UntetherAI speedAI240 in the catalog with their sourced figures, priced on their SRAM (hardware/sram_tier.py), and
their MLPerf rows mapped (validation/sram_rows.py says which are priced)."""

from __future__ import annotations

import csv

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware import sram_tier
from tapeout import register_chip
from tapeout.hardware.catalog import get_chip, resolve_chip_id
from tapeout.hardware.memory_capacity import capacity_bytes
from tapeout.perf.calibration import calibrated_params
from tapeout.validation import sram_rows
from tapeout.validation.other_rows import map_inference, map_training, train_precision
from tapeout.validation.registry import SkipRow


@pytest.mark.parametrize(
    "name, field, value",
    [
        # Bow-2000 datasheet (docs.graphcore.ai bow-2000-datasheet overview): 4 IPUs, 1.4 PFLOPS FP16.16
        ("bow-ipu", "fp16_tflops_dense", 350),
        # eenewseurope.com, Graphcore details power for Bow: 1,472 tiles, 900MB In-Processor Memory
        ("bow-ipu", "num_cores", 1472),
        ("bow-ipu", "onchip_sram_mb", 900),
        # Bow Pod256 datasheet: 22.31 PFLOPS FP32 over 256 IPUs
        ("bow-ipu", "fp32_tflops", 87.15),
        # Jia et al. 2019 per-tile read width (31.1 TB/s = 1,216 x 16 B x 1.6 GHz) at 1,472 tiles x 1.85 GHz
        ("bow-ipu", "sram_bandwidth_tbps", 43.6),
        # nextplatform.com Hot Chips 34 report: 2 PFLOPS FP8, 238 MB SRAM; avalanchenoticias: 1 PFLOPS BF16, 1 PB/s
        ("speedai240", "fp8_tflops_dense", 2000),
        ("speedai240", "bf16_tflops_dense", 1000),
        ("speedai240", "onchip_sram_mb", 238),
        ("speedai240", "sram_bandwidth_tbps", 1000),
        # xpu.pub: LPDDR5 interfaces to 64 GB of external memory; etn.fi: 66 W maximum at 2 PFLOPS
        ("speedai240", "memory_capacity_gb", 64),
        ("speedai240", "tdp_w", 66),
    ],
)
def test_sourced_figures(name, field, value):
    chip = get_chip(name)
    assert chip.get(field) == pytest.approx(value)
    assert field in chip.specs and "default for" not in chip.source_of(field)


def test_the_sram_tier_follows_the_bow_ipus_per_tile_read_width():
    """Closed form: 16 B per tile per clock (Jia et al.) x 1,472 tiles x the catalog clock."""
    chip = get_chip("bow-ipu")
    assert chip.get("sram_bandwidth_tbps") == pytest.approx(16 * chip.get("num_cores") * chip.get("boost_clock_mhz") * 1e6 / 1e12,
                                                            rel=0.01)
    # and the FP16 peak is 128 FLOP per tile per clock at that clock (64 FMAs: AMP units)
    assert chip.get("fp16_tflops_dense") * 1e12 / (chip.get("num_cores") * chip.get("boost_clock_mhz") * 1e6) == pytest.approx(128.5, abs=0.5)


@pytest.mark.parametrize("cid", ["bow-ipu", "speedai240"])
def test_unpublished_dram_bandwidth_is_left_empty(cid):
    chip = get_chip(cid)
    assert chip.get("memory_bandwidth_tbps") is None
    rows = [r for r in csv.DictReader(open_data("supplement_specs.csv"))
            if r["chip_id"] == cid and r["field"] == "memory_bandwidth_tbps"]
    assert rows and rows[0]["status"] == "missing" and rows[0]["notes"].strip()


def open_data(name):
    from importlib import resources

    return resources.files("tapeout").joinpath("data", "chips", name).open()


def test_the_ipu_has_no_bf16_and_trains_in_fp16():
    chip = get_chip("bow-ipu")
    assert chip.supports("fp16") and not chip.supports("bf16") and not chip.supports("fp8")
    assert train_precision("bert", chip) == "fp16" and train_precision("resnet", chip) == "fp16"
    assert train_precision("resnet", get_chip("h100-sxm")) == "bf16"  # a chip with BF16 keeps it


@pytest.mark.parametrize("cid, bw_tbps, mb", [("bow-ipu", 43.6, 900), ("speedai240", 1000, 238)])
def test_sram_chips_are_priced_on_their_sram(cid, bw_tbps, mb, monkeypatch):
    chip = get_chip(cid)
    p = calibrated_params(chip)
    assert p.mem_bw == pytest.approx(bw_tbps * 1e12) and capacity_bytes(chip) == pytest.approx(mb * 1e6)
    assert p.mem_capacity == pytest.approx(mb * 1e6)
    monkeypatch.setattr(sram_tier, "SRAM_WORKING_MEMORY", False)
    assert sram_tier.sram_working_memory(chip) is None
    assert capacity_bytes(chip) == pytest.approx(64 * 2 ** 30)  # off: the DRAM the catalog quotes (binary GB)


def test_no_other_catalog_chip_computes_out_of_sram():
    from tapeout.hardware.catalog import all_chips

    assert {c.id for c in all_chips() if sram_tier.sram_working_memory(c) is not None} == {"bow-ipu", "speedai240"}


def test_working_memory_sram_without_its_figures_is_refused(session_chips):
    register_chip({"id": "test-sram-nobw", "base": "h100-sxm", "specs": {"sram_working_memory": 1}})
    with pytest.raises(TapeoutError, match="sram_working_memory is set but sram_bandwidth_tbps is not on file"):
        sram_tier.sram_working_memory(get_chip("test-sram-nobw"))


def _row(rid: str) -> dict:
    from importlib import resources

    with resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv").open() as f:
        return next(r for r in csv.DictReader(f) if r["id"] == rid)


def test_a_speedai240_offline_row_maps_and_its_latency_rows_skip_with_the_reason():
    row = _row("INF-v4.1-0614")  # Offline, 1 x speedAI240 Slim, float8
    assert resolve_chip_id(row["accelerator"]) == "speedai240"
    pred = map_inference(row)
    assert pred.detail["chip"] == "speedai240" and pred.detail["compute_precision"] == "fp8" and pred.predicted > 0
    with pytest.raises(SkipRow, match="dataflow of layers"):
        map_inference(_row("INF-v4.1-0615"))  # SingleStream


def test_latency_rows_price_when_switched_on(monkeypatch):
    monkeypatch.setattr(sram_rows, "SRAM_LATENCY_ROWS", True)
    pred = map_inference(_row("INF-v4.1-0615"))
    assert pred.unit == "Latency (ms)" and pred.predicted > 0


def test_a_bow_ipu_resnet_training_row_is_priced_one_ipu_per_replica():
    """Graphcore's MLPerf v2.0 ResNet-50: poprun --ipus-per-replica 1 (run_and_time.sh): data-parallel replicas of one
    IPU, the engine's own layout; priced in FP16 (no BF16 on the IPU) without the GPU memory rule."""
    row = _row("TRN-v2.0-0109")  # resnet, 16 x Bow IPU
    assert resolve_chip_id(row["accelerator"]) == "bow-ipu"
    pred = map_training(row)
    assert pred.unit == "minutes" and pred.predicted > 0 and pred.detail["chip"].startswith("bow-ipu")
    assert not sram_rows.memory_rule_applies(get_chip("bow-ipu")) and sram_rows.memory_rule_applies(get_chip("h100-sxm"))


def test_a_bow_ipu_bert_row_skips_naming_the_pipeline(monkeypatch):
    with pytest.raises(SkipRow, match="pipeline over 8 IPUs") as e:
        map_training(_row("TRN-v2.0-0107"))  # bert, 16 x Bow IPU, PopART
    assert "bow-ipu" in str(e.value)
    monkeypatch.setattr(sram_rows, "SRAM_RESNET_TRAINING", False)
    with pytest.raises(SkipRow, match="layout on these chips was not read"):
        map_training(_row("TRN-v2.0-0109"))


@pytest.mark.parametrize("cid", ["bow-ipu", "speedai240"])
def test_sram_chips_pay_no_per_kernel_launch(cid, monkeypatch):
    """SRAM_NO_KERNEL_LAUNCH: a statically compiled program sequenced by the chip's own cores has no host launch per
    operation (hardware/sram_tier.py): the fixed time is 0 on; off, the calibration's (vendor / generic mean) > 0."""
    from tapeout.hardware.params import ChipParams
    from tapeout.perf.calibration import calibration_for

    chip = get_chip(cid)
    assert calibrated_params(chip).kernel_overhead == 0.0
    monkeypatch.setattr(sram_tier, "SRAM_NO_KERNEL_LAUNCH", False)
    assert ChipParams.from_chip(chip, calibration_for(chip)).kernel_overhead > 0


def test_the_launch_switch_leaves_other_chips_alone():
    from tapeout.hardware.params import ChipParams
    from tapeout.perf.calibration import calibration_for

    chip = get_chip("h100-sxm")
    assert ChipParams.from_chip(chip, calibration_for(chip)).kernel_overhead > 0
