"""A held-out calibration reads no number written from the held-out chip's own database kernels: its format
ratios (format_efficiency.csv) and rate-law pairs (format_rate_law.yaml) are read as if the chip (and its twins)
had no rows, the fallback a chip without kernels gets (kernels_db.held_out_of; docs/notes/issue-24.md, Round
stop-38 issue-43c)."""

import pytest

from tapeout import format_prior, formats
from tapeout.hardware.catalog import get_chip
from tapeout.perf.kernels_db import held_out_chips, held_out_of
from tapeout.precision import get_precision


def _held_out(cid: str) -> dict:
    # the part of kernel_calibration.build(holdout=cid)'s calibration the readers consult (db_fitted writes it)
    return {"held_out": cid, "kernel_db": {"holdout": cid}, "chips": {}}


def _without_rows(monkeypatch, chips) -> None:
    """The data files as they would read for chips that were never measured."""
    rows = tuple(r for r in formats._efficiency_rows() if r["chip"] not in chips)
    law = dict(format_prior.law_table())
    law["pairs"] = {c: p for c, p in law.get("pairs", {}).items() if c not in chips}
    monkeypatch.setattr(formats, "_efficiency_rows", lambda: rows)
    monkeypatch.setattr(format_prior, "law_table", lambda: law)


def test_held_out_of_names_the_chip_and_its_twins():
    assert held_out_of(None) == frozenset()
    assert held_out_of({"chips": {}}) == frozenset()  # a per-chip or shipped calibration holds nothing out
    assert held_out_of({"kernel_db": {"holdout": None}}) == frozenset()
    assert held_out_of(_held_out("b200")) == held_out_chips("b200") >= {"b200"}
    assert held_out_of(_held_out("gb200")) == held_out_chips("gb200")


def test_held_out_b200_does_not_read_its_own_nvfp4_ratio():
    b200 = get_chip("b200")
    own = next(float(r["ratio"]) for r in formats._efficiency_rows() if r["chip"] == "b200" and r["format"] == "nvfp4")
    ratio, origin, kind = formats.efficiency_origin("nvfp4", b200, _held_out("b200"))
    assert "(b200)" not in origin and kind != "measured"
    assert ratio != pytest.approx(own, abs=1e-6)
    assert formats.plan(get_precision("fp4"), b200, _held_out("b200"))[0].gemm_eff == pytest.approx(ratio)
    # its twin GB200 leaves with it: nor does it read GB200's
    twin = next(float(r["ratio"]) for r in formats._efficiency_rows() if r["chip"] == "gb200" and r["format"] == "nvfp4")
    assert ratio != pytest.approx(twin, abs=1e-6)


def test_a_chip_not_held_out_keeps_its_own_ratio():
    b300 = get_chip("b300")
    own = next(float(r["ratio"]) for r in formats._efficiency_rows() if r["chip"] == "b300" and r["format"] == "nvfp4")
    assert formats.efficiency_origin("nvfp4", b300, _held_out("b200"))[0] == pytest.approx(own)


@pytest.mark.parametrize("cid", sorted({r["chip"] for r in formats._efficiency_rows()}))
@pytest.mark.parametrize("fmt", ["nvfp4", "mxfp4", "fp8_block"])
def test_held_out_is_priced_as_a_chip_without_rows(monkeypatch, cid, fmt):
    """Whatever path the fallback takes (a twin format, the rate-law prior, the family mean, 1), the held-out chip
    gets exactly what it would get had its (and its twins') kernels never been in the files."""
    ch = get_chip(cid)
    try:
        held = formats.efficiency_origin(fmt, ch, _held_out(cid))
    except formats.TapeoutError:
        pytest.skip(f"{cid} has no {fmt} peak")
    _without_rows(monkeypatch, held_out_chips(cid))
    assert formats.efficiency_origin(fmt, ch) == held


def test_held_out_h200_does_not_read_the_mmha_fp8_cache_work_fitted_on_its_kernels():
    """kernel_structure.yaml's masked-MHA FP8-cache vector work is fitted on H200's kernels alone (fitted_on):
    a calibration holding H200 out has nothing measured to size it, so serving GPT-J (MHA) with an FP8 cache on
    H200 leaves it out; held out B200 or not held out, H200 keeps it."""
    from tapeout.hardware.params import KERNEL_STRUCTURE, KERNEL_STRUCTURE_FITTED_ON
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.kernel_calibration import serving_decode_params
    from tapeout.perf.mlperf import inference_benchmark
    from tapeout.workloads.llm_config import load_llm

    assert KERNEL_STRUCTURE_FITTED_ON["mmha_fp8_kv_vflops_per_byte"] == {"h200"}
    assert KERNEL_STRUCTURE_FITTED_ON["softmax_vflops"] == frozenset()  # no fitted_on: not dropped by anything
    gptj = load_llm(inference_benchmark("gptj")["model"])
    h200 = get_chip("h200")
    p0 = calibrated_params(h200)

    def per_byte(fitted):
        return float(serving_decode_params(p0, h200, gptj, get_precision("fp8"), 1, fitted).attn_gen_vflops_per_kv_byte)

    assert per_byte(None) == KERNEL_STRUCTURE["mmha_fp8_kv_vflops_per_byte"] > 0
    assert per_byte(_held_out("b200")) == KERNEL_STRUCTURE["mmha_fp8_kv_vflops_per_byte"]
    assert per_byte(_held_out("h200")) == 0.0
