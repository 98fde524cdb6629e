"""A chip family's fixed time per GEMM kernel against the fit's shared one (kernel_fit.FIXED_TIME_BY_FAMILY):
"measured" on the database's empty GEMMs (perf/kernel_floor.py: offsets against the median chip, from the
family's other chips when a chip is held out, 0 for a family or format nothing measured), or "fitted" on
the family's chips (ovhfam_<family>_<fmt>, summing to 0 over the families fitted, so a family the fit
never saw pays the shared ovh_<fmt>)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.kernel_floor import EMPTY_M, EMPTY_NK, chip_floors, family_offsets, offset_of
from tapeout.perf.kernels_db import Kernels

SYSTEM = {"b200": "b200_sxm", "gb200": "gb200_sxm", "h100-sxm": "h100_sxm", "h200": "h200_sxm"}


def _kernels(rows) -> Kernels:
    """rows of (chip, fmt, m, n, k, latency_s): GEMM kernels of the database's columns."""
    full = [(chip, SYSTEM.get(chip, chip), "gemm", fmt, "", m, n, k, 0, 0, 0, 0, 0, 0, lat, "trtllm", "1")
            for chip, fmt, m, n, k, lat in rows]
    return Kernels({c: np.array([r[i] for r in full]) for i, c in enumerate(kernels_db.COLUMNS)}, "t", [])


def test_only_empty_gemms_set_a_chips_floor():
    k = _kernels([("b200", "bf16", 1, 32, 32, 1.8e-6), ("b200", "bf16", 64, 32, 32, 2.0e-6), ("b200", "bf16", 2, 32, 32, 1.9e-6),
                  ("b200", "bf16", EMPTY_M + 1, 32, 32, 9e-6), ("b200", "bf16", 1, 64, 32, 9e-6),
                  ("b200", "bf16", 1, 32, 64, 9e-6), ("b200", "nvfp4", 1, 128, 128, 7e-6)])
    assert EMPTY_NK == 32
    assert chip_floors(k) == {("b200", "bf16"): pytest.approx(1.9e-6)}  # the median of the three empty ones


def test_offsets_are_the_familys_median_against_every_chips_median():
    # B200 1.8, GB200 2.0 (Blackwell), H100 2.6, H200 2.5 (Hopper): every chip's median 2.25 us
    floors = {("b200", "bf16"): 1.8e-6, ("gb200", "bf16"): 2.0e-6, ("h100-sxm", "bf16"): 2.6e-6, ("h200", "bf16"): 2.5e-6}
    off = family_offsets(floors)
    assert off[("nvidia-blackwell", "bf16")] == pytest.approx(1.9e-6 - 2.25e-6)
    assert off[("nvidia-hopper", "bf16")] == pytest.approx(2.55e-6 - 2.25e-6)
    # held out, B200 takes its family's floor from GB200 alone (reference: GB200, H100, H200 -> 2.5)
    held = family_offsets({c: t for c, t in floors.items() if c[0] != "b200"})
    assert offset_of(held, "b200", "bf16") == pytest.approx(2.0e-6 - 2.5e-6)
    # a family or a format nothing measured: the shared fixed time (offset 0)
    assert offset_of(held, "a100-sxm", "bf16") == 0.0 and offset_of(held, "b200", "nvfp4") == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-7, 1e-4), min_size=4, max_size=4), st.floats(-1e-6, 1e-4))
def test_a_common_shift_of_every_floor_moves_no_offset(ts, shift):
    """The offsets are differences between families: a fixed time every chip shares (the host's
    launch path, a timer's resolution) is the fit's shared ovh_<fmt>, not an offset."""
    chips = ("b200", "gb200", "h100-sxm", "h200")
    a = family_offsets({(c, "bf16"): t for c, t in zip(chips, ts)})
    b = family_offsets({(c, "bf16"): t + shift for c, t in zip(chips, ts)})
    assert a.keys() == b.keys() and all(b[key] == pytest.approx(a[key], abs=1e-12) for key in a)
    # one family alone: its median is every chip's, no offset
    one = family_offsets({(c, "bf16"): t for c, t in zip(("b200", "gb200"), ts)})
    assert one[("nvidia-blackwell", "bf16")] == pytest.approx(0.0, abs=1e-15)


def test_the_fit_adds_the_offset_to_a_gemms_fixed_time(monkeypatch):
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "measured")
    k = _kernels([("b200", "bf16", 4096, 8192, 1024, 1e-5)])
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    none = kf.Groups(k, floors={}).items[0]
    slow = kf.Groups(k, floors={("b200", "bf16"): 3e-6, ("h100-sxm", "bf16"): 1e-6}).items[0]  # Blackwell +1 us
    assert slow["ovh_offset"] == pytest.approx(1e-6) and none["ovh_offset"] == 0.0
    assert float(kf.predict_group(slow, x)[0]) - float(kf.predict_group(none, x)[0]) == pytest.approx(1e-6, rel=1e-9)
    # never below no fixed time at all
    fast = kf.Groups(k, floors={("b200", "bf16"): 1e-6, ("h100-sxm", "bf16"): 1e-3}).items[0]
    i = kf.NAMES.index("ovh_bf16")
    x0 = x.copy()
    x0[i] = 0.0
    assert float(kf.predict_group(fast, x)[0]) == pytest.approx(float(kf.predict_group(none, x0)[0]), rel=1e-12)


def test_a_held_out_chips_own_empty_gemms_never_set_its_offset():
    train = _kernels([("gb200", "bf16", 1, 32, 32, 2e-6)])
    test = _kernels([("b200", "bf16", 1, 32, 32, 1.8e-6)])
    with pytest.raises(ValueError, match="held-out chip"):
        kf.holdout_report(train, test, "b200", floors={("b200", "bf16"): 1.8e-6, ("gb200", "bf16"): 2e-6})


def _x0():
    return kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})


def test_a_fitted_family_offset_adds_to_its_gemms_and_nothing_else(monkeypatch):
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    g = kf.Groups(_kernels([("b200", "bf16", 4096, 8192, 1024, 1e-5)])).items[0]
    x0, x1 = _x0(), _x0()
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-blackwell", "bf16"))] = -0.5
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-hopper", "bf16"))] = 3.0  # another family's
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-blackwell", "fp8"))] = 3.0  # another format's
    assert float(kf.predict_group(g, x0)[0]) - float(kf.predict_group(g, x1)[0]) == pytest.approx(0.5e-6, rel=1e-9)


def test_fitted_family_offsets_sum_to_zero_so_a_new_family_pays_the_mean(monkeypatch):
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    groups = kf.Groups(_kernels([("b200", "bf16", 64, 4096, 4096, 1e-5), ("h100-sxm", "bf16", 64, 4096, 4096, 2e-5),
                                 ("gb200", "bf16", 64, 4096, 4096, 1e-5), ("b200", "fp8", 64, 4096, 4096, 2e-5)]))
    ties = kf.family_ties(groups)
    bw, hop = (kf.NAMES.index(kf.fixed_time_param(f, "bf16")) for f in ("nvidia-blackwell", "nvidia-hopper"))
    # bf16: Blackwell fitted, Hopper tied; fp8: one family, tied to 0 (its chips set ovh_fp8)
    assert ties == [(hop, [bw]), (kf.NAMES.index(kf.fixed_time_param("nvidia-blackwell", "fp8")), [])]
    x = _x0()
    x[bw] = -0.4
    x[ties[1][0]] = 1.0
    x = kf.tie(x, ties)
    assert x[hop] == pytest.approx(0.4) and x[ties[1][0]] == 0.0
    # the shared ovh_bf16 is the mean of the two families' fixed times; an A100 (no Ampere chip fitted) pays it
    assert x[kf.NAMES.index(kf.fixed_time_param("nvidia-ampere", "bf16"))] == 0.0


def test_serving_prices_a_gemms_fixed_time_as_the_fit_does(monkeypatch):
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    from tapeout.hardware import get_chip
    from tapeout.perf.kernel_calibration import chip_entry

    params = dict(zip(kf.NAMES, _x0()))
    params[kf.fixed_time_param("nvidia-blackwell", "bf16")] = -0.5
    e = chip_entry(params, get_chip("b200"), "test")
    assert e["kernel_overhead_us"] == pytest.approx(params["ovh_bf16"] - 0.5)
    # an attention op's whole fixed time stays the fit's ovh_prefill
    assert e["kernel_overhead_us"] + e["kernel_library"]["attn_prefill_fixed"] * 1e6 == pytest.approx(
        max(params["ovh_prefill"], params["ovh_bf16"] - 0.5))
    assert chip_entry(params, get_chip("h100-sxm"), "test")["kernel_overhead_us"] == pytest.approx(params["ovh_bf16"])


def test_a_fits_source_records_the_switches_it_ran_under(monkeypatch):
    """Review 26rv: each module switch changes the fitted parameters, so the fit's source (shown by
    `tapeout calibrate --kernels` and kept in a --kernels calibration's kernel_db) carries its value, and says
    how serving prices the same (27sv: the per-tensor FP8 GEMMs' equal token tiles are in serving too, per row format)."""
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "measured")
    monkeypatch.setattr(kf, "GEN_STREAM_KNEE", False)
    sw = kf.source_of(_kernels([("b200", "bf16", 1, 32, 32, 2e-6)]))["switches"]
    assert sw["FIXED_TIME_BY_FAMILY"]["value"] == "measured" and sw["GEN_STREAM_KNEE"]["value"] is False
    assert sw["TOKEN_N_FMTS"]["value"] == list(kf.TOKEN_N_FMTS) and sw["TOKEN_N_FMTS"]["serving"].startswith("kernel_gemm_classes")


def test_calibrate_prints_the_switches(monkeypatch):
    from _cli import run_cli

    from tapeout.cli import catalog_cmds

    src = kf.source_of(_kernels([("b200", "bf16", 1, 32, 32, 2e-6)]))
    fitted = {"holdout": "h100-sxm", "errors": {}, "fit": {"rows": 1, "params": {}}, "train_chips": ["b200"], "source": src}
    monkeypatch.setattr(catalog_cmds, "_kernel_calibration", lambda *a, **k: fitted)
    code, out, _ = run_cli(["calibrate", "--kernels", "aiconfigurator", "--holdout", "h100"])
    assert code == 0 and "kernel-fit switches" in out and "TOKEN_N_FMTS" in out and "fit only" in out


def test_measured_offsets_are_reported_only_where_the_fit_reads_them(monkeypatch):
    """Review 26rv: under "fitted" the measured empty-GEMM offsets are never applied (Groups reads floors only
    under "measured"), so a report must not list them as the fit's."""
    floors = {("b200", "bf16"): 1.8e-6, ("h100-sxm", "bf16"): 2.6e-6}
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    assert kf.offsets_us(floors) == {}
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "measured")
    # two families, one chip each: each family's floor against the two chips' median (2.2 us)
    assert kf.offsets_us(floors) == {"nvidia-blackwell/bf16": pytest.approx(-0.4), "nvidia-hopper/bf16": pytest.approx(0.4)}


def _attention(rows) -> Kernels:
    """rows of (chip, op, batch, kv_len, heads, kv_heads, latency_s): BF16 attention kernels, head size 128."""
    full = [(chip, SYSTEM.get(chip, chip), op, "bf16", "bf16", 0, 0, 0, b, 1 if op == "attention_decode" else kv, kv, h, kvh, 128,
             lat, "trtllm", "1") for chip, op, b, kv, h, kvh, lat in rows]
    return Kernels({c: np.array([r[i] for r in full]) for i, c in enumerate(kernels_db.COLUMNS)}, "t", [])


def test_an_attention_kernels_family_offset_adds_to_its_class_only(monkeypatch):
    """Round stop-27 (27ha): a kernel that runs on several families (masked MHA: no GQA group) pays its
    family's fitted offset on its class's fixed time; another family's or class's offset does not move it."""
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    g = kf.Groups(_attention([("h100-sxm", "attention_decode", 4, 1024, 32, 32, 2e-5)])).items[0]
    assert g["cls"] == "decode_mmha"
    x0, x1 = _x0(), _x0()
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-hopper", "decode_mmha"))] = -1.5
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-ampere", "decode_mmha"))] = 3.0  # another family's
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-hopper", "decode_hmma"))] = 3.0  # another class's
    x1[kf.NAMES.index(kf.fixed_time_param("nvidia-hopper", "bf16"))] = 3.0  # the GEMMs'
    assert float(kf.predict_group(g, x0)[0]) - float(kf.predict_group(g, x1)[0]) == pytest.approx(1.5e-6, rel=1e-9)


def test_attention_family_offsets_are_tied_per_class_over_the_families_fitted(monkeypatch):
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    groups = kf.Groups(_attention([("h100-sxm", "attention_decode", 4, 1024, 32, 32, 2e-5),
                                   ("a100-sxm", "attention_decode", 4, 1024, 32, 32, 2e-5),
                                   ("h100-sxm", "attention_prefill", 1, 1024, 32, 8, 1e-4)]))
    ties = dict((last, others) for last, others in kf.family_ties(groups))
    amp, hop = (kf.NAMES.index(kf.fixed_time_param(f, "decode_mmha")) for f in ("nvidia-ampere", "nvidia-hopper"))
    assert ties[hop] == [amp]  # masked MHA on two families: one fitted, the other minus it
    assert ties[kf.NAMES.index(kf.fixed_time_param("nvidia-hopper", "prefill"))] == []  # one family: no offset
    assert not any(kf.NAMES[i].endswith("decode_qgmma") or kf.NAMES[i].endswith("decode_trtllmgen") for i in ties)


def test_serving_prices_an_attention_ops_fixed_time_as_the_fit_does(monkeypatch):
    monkeypatch.setattr(kf, "FIXED_TIME_BY_FAMILY", "fitted")
    from tapeout.hardware import get_chip
    from tapeout.perf.kernel_calibration import chip_entry

    params = dict(zip(kf.NAMES, _x0()))
    params["ovh_prefill"], params["ovh_decode_hmma"] = 12.0, 9.0
    params[kf.fixed_time_param("nvidia-hopper", "bf16")] = 0.5
    params[kf.fixed_time_param("nvidia-hopper", "prefill")] = -2.0
    params[kf.fixed_time_param("nvidia-hopper", "decode_hmma")] = -1.0
    e = chip_entry(params, get_chip("h100-sxm"), "test")
    lib = e["kernel_library"]
    # the GEMM's fixed time plus the attention op's beyond it = the fit's ovh_<class> + the family's offset
    assert e["kernel_overhead_us"] + lib["attn_prefill_fixed"] * 1e6 == pytest.approx(12.0 - 2.0)
    assert e["kernel_overhead_us"] + lib["attn_decode_fixed"] * 1e6 == pytest.approx(9.0 - 1.0)  # Hopper's GQA kernel: hmma
    # a family without offsets (Ada here) pays the shared ones
    a = chip_entry(params, get_chip("l40s"), "test")
    assert a["kernel_overhead_us"] + a["kernel_library"]["attn_prefill_fixed"] * 1e6 == pytest.approx(12.0)
