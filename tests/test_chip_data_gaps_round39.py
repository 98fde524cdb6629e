"""Chip data gaps that change power and memory answers (round stop-39, issue-48a; docs/notes/physical-limits.md).

Filled with a source: rubin tdp_w (2,300 W per GPU package, analyst figure, status estimate) and a800-sxm
memory_capacity_gb (80 GB, the A100 SXM4 80GB package). Re-searched and still unpublished: tdp_w of the TPUs,
Inferentia2, Trainium, Trainium3, Ascend 910C and 950DT, and the H200 NVL compute peaks: those chips keep the
assumed-TDP note (hardware/params.assumed_tdp_notes) or the refusal by field."""

from __future__ import annotations

import json

import pytest

from _cli import run_cli
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import all_chips, get_chip
from tapeout.hardware.params import DEFAULT_TDP_W, assumed_tdp_notes
from tapeout.perf.calibration import calibrated_params, engine_params

# (chip, field, value, unit, status, a string its source must name)
FILLED = [
    ("rubin", "tdp_w", 2300.0, "W", "estimate", "occlub.ru"),
    ("a800-sxm", "memory_capacity_gb", 80.0, "GB", "secondary", "huggingface.co/hardware/a800"),
]

# vendors publish no board power for these (searched 2026-12-04 and 2026-12-07): their power rests on the default
STILL_ASSUMED = ["tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-v7", "inferentia2", "trainium", "trainium3", "ascend-910c",
                 "ascend-950dt"]


@pytest.mark.parametrize("cid, fld, value, unit, status, src", FILLED)
def test_filled_value_reads_back_with_its_source(cid, fld, value, unit, status, src):
    spec = get_chip(cid).specs[fld]
    assert spec.value == value and spec.unit == unit and spec.status == status
    assert src in spec.source and spec.notes.strip()
    code, out, _ = run_cli(["show", cid, "--json"])
    shown = json.loads(out)["specs"][fld]
    assert code == 0 and shown["value"] == value and shown["status"] == status and src in shown["source"]
    code, text, _ = run_cli(["show", cid])
    assert code == 0 and fld in text and status in text


def test_rubin_tdp_is_per_package_like_its_other_figures():
    """The 2.3 kW is one Rubin GPU package (two dies, 8 HBM4 stacks), the unit of its 50 PF NVFP4 and 288 GB: the
    energy per FLOP the model derives (compute_power_fraction x TDP / peak) uses both per package. Every report read
    puts Rubin above Blackwell Ultra's board power (B300 1.4 kW)."""
    r = get_chip("rubin")
    assert r.specs["tdp_w"].notes.startswith("per Rubin GPU package")
    assert r.get("tdp_w") > get_chip("b300").get("tdp_w")
    p = calibrated_params(r)
    fp4 = float(r.get("fp4_tflops_dense")) * 1e12
    frac = float(r.get("compute_power_fraction"))
    assert float(p.tdp_w) == 2300.0
    assert max(float(x) for x in p.pj_per_flop) == pytest.approx(frac * 2300.0 / fp4 * 1e12, rel=1e-9)


def test_a800_capacity_matches_its_a100_package_and_it_now_answers():
    """A800 SXM4 80GB is the A100 SXM4 80GB package (5 HBM2e stacks, ~2.04 TB/s) with NVLink cut: same capacity.
    On main the serving engines refused it, naming memory_capacity_gb."""
    a800, a100 = get_chip("a800-sxm"), get_chip("a100-sxm")
    assert a800.get("memory_capacity_gb") == a100.get("memory_capacity_gb") == 80.0
    assert a800.get("hbm_stacks") == a100.get("hbm_stacks")
    assert a800.get("memory_bandwidth_tbps") == pytest.approx(a100.get("memory_bandwidth_tbps"), rel=0.01)
    p = engine_params(a800)
    assert float(p.mem_capacity) > 0 and float(p.tdp_w) == 400.0


def test_h200_nvl_peaks_stay_missing_and_refused():
    with pytest.raises(TapeoutError, match="fp32_tflops"):
        engine_params(get_chip("h200-nvl"))


def test_the_assumed_tdp_note_leaves_sourced_chips_and_stays_for_the_rest():
    assert assumed_tdp_notes(get_chip("rubin")) == [] and assumed_tdp_notes(get_chip("a800-sxm")) == []
    for cid in STILL_ASSUMED:
        notes = assumed_tdp_notes(get_chip(cid))
        assert len(notes) == 1 and f"{DEFAULT_TDP_W:g} W" in notes[0] and cid in notes[0], cid
    # no other catalog chip rests on the default (a new chip without tdp_w joins the list above, named)
    assert sorted(c.id for c in all_chips() if assumed_tdp_notes(c)) == sorted(STILL_ASSUMED)
