"""A held-out calibration reads no number written from the held-out chip's own database kernels: its format
ratios (format_efficiency.csv) and rate-law pairs (format_rate_law.yaml) are read as if the chip (and its twins)
had no rows, the fallback a chip without kernels gets (kernels_db.held_out_of; docs/notes/issue-24.md, Round
stop-38 issue-43c)."""

import pytest

from tapeout import format_prior, formats
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import load_fitted
from tapeout.perf.kernels_db import held_out_chips, held_out_of, holding_out
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
    base = {"chips": {"b200": {"eff_mem": 0.9}}}
    marked = holding_out(base, "h200")
    assert held_out_of(marked) == {"h200"} and marked["chips"] is base["chips"] and "held_out" not in base


def test_the_held_out_fp8_attention_speedup_is_the_unmeasured_chips_fallback():
    """Training's FP8 attention (LoRA rows) runs at the chip's measured FP8/BF16 FMHA gain
    (fp8_attention_speedup.yaml, the database's context kernels); a calibration holding the chip out prices it as a
    chip with no entry: FP8 attention at the FP8 matrix rate, with the note that says so."""
    from tapeout.perf.training import train

    kw = dict(model="llama2-70b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              precision="fp8", lora=True, fp8_attention=True)
    own = train(**kw)
    held = train(**kw, fitted=holding_out(load_fitted(), "h100-sxm"))
    assert not any("FP8 attention speedup is not measured" in n for n in own.notes)
    assert any("FP8 attention speedup is not measured" in n for n in held.notes)


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


def test_held_out_h200_reads_the_mmha_fp8_cache_work_fitted_without_its_kernels():
    """kernel_structure.yaml's masked-MHA FP8-cache vector work is fitted on H200's kernels (fitted_on): a
    calibration holding H200 out reads the same scan's value on H100's kernels (`without`); held out B200, or
    not held out, H200 keeps the H200 fit; a value fitted on every chip held out is not read at all."""
    from tapeout.hardware import params as hp
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.kernel_calibration import serving_decode_params
    from tapeout.perf.mlperf import inference_benchmark
    from tapeout.workloads.llm_config import load_llm

    h200_fit = hp.KERNEL_STRUCTURE["mmha_fp8_kv_vflops_per_byte"]
    h100_fit = hp._KERNEL_STRUCTURE_YAML["mmha_fp8_kv_vflops_per_byte"]["without"]["value"]
    assert h100_fit != h200_fit
    assert hp.kernel_structure("mmha_fp8_kv_vflops_per_byte", {"h200", "h100-sxm"}) is None
    assert hp.kernel_structure("softmax_vflops", {"h200"}) == hp.KERNEL_STRUCTURE["softmax_vflops"]  # no fitted_on
    gptj = load_llm(inference_benchmark("gptj")["model"])
    h200 = get_chip("h200")
    p0 = calibrated_params(h200)

    def per_byte(fitted):
        return float(serving_decode_params(p0, h200, gptj, get_precision("fp8"), 1, fitted).attn_gen_vflops_per_kv_byte)

    assert per_byte(None) == h200_fit
    assert per_byte(_held_out("b200")) == h200_fit
    assert per_byte(_held_out("h200")) == pytest.approx(h100_fit)
