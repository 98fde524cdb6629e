"""The optional serving calibration from the kernel database (perf/kernel_calibration.py, issue 24):
it moves only the database's chips, never the shipped fit, and errors in one line without the package."""

import copy
import importlib.metadata as md

import pytest

from tapeout.cli import main
from tapeout.hardware.catalog import get_chip
from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.calibration import calibrated_params, calibration_for, load_fitted
from tapeout.perf.kernel_calibration import db_fitted
from tapeout.validation import harness

try:
    md.version("aiconfigurator-core")
    HAVE_DB = True
except md.PackageNotFoundError:
    HAVE_DB = False

PARAMS = {**{p[0]: p[1] for p in kf.PARAMS}, "eff_bf16": 0.61, "eff_fp8": 0.43, "eff_nvfp4": 0.37, "pj_flop_n7": 2.0,
          "mem_bf16": 0.66, "ovh_bf16": 7.5, "eff_attention": 0.55}
SOURCE = {"package": "aiconfigurator-core", "package_version": "test",
          "chips": {c: {"system": c, "stack": "trtllm", "stack_versions": {"gemm": "x"}} for c in ("h200", "l40s")}}
DB = ("h200", "l40s")
OTHERS = ("mi300x", "gh200", "h20", "h100-pcie", "gaudi2", "tpu-v5e")


@pytest.fixture(scope="module")
def fitted():
    return db_fitted({c: (PARAMS, {"bf16", "fp8"}, "synthetic") for c in DB}, SOURCE)


def test_db_chip_gets_the_kernel_parameters(fitted, monkeypatch):
    from tapeout.perf import silicon_cap

    on = calibration_for(get_chip("h200"), fitted)
    # the closed form below is the shared cap energy's; each die's own measured energy (SILICON_CAP_ENERGY,
    # perf/silicon_cap.py) differs from it for H200 and only ever caps, never speeds a GEMM up
    monkeypatch.setattr(silicon_cap, "SILICON_CAP_ENERGY", False)
    fitted = db_fitted({c: (PARAMS, {"bf16", "fp8"}, "synthetic") for c in DB}, SOURCE)
    c = calibration_for(get_chip("h200"), fitted)
    for fmt, eff in (("bf16", 0.61), ("fp8", 0.43)):
        assert on.eff_compute[fmt] <= eff + 1e-12
    assert on.eff_compute["bf16"] != pytest.approx(c.eff_compute["bf16"], abs=1e-4)  # the capped format moves
    chip = get_chip("h200")
    # power-capped clock (perf/power_cap.py), closed form: a GEMM busy at eff of the peak on H200
    # (700 W, 989.5 dense BF16 TFLOP/s, N4: 0.66 x N7 energy) at 2 pJ per BF16 FLOP on N7 draws
    # eff x 989.5 x 2 x 0.66 W at boost; the clock that meets 700 W is (700 / that)^(1/3) if below boost
    pd = chip.get("tdp_w") / chip.peak_tflops("bf16")
    for fmt, eff, mult in (("bf16", 0.61, 1.0), ("fp8", 0.43, 2.0)):  # FP8: twice the FLOPs per BF16-FLOP energy
        pdf = chip.get("tdp_w") / (chip.peak_tflops(fmt) / mult)
        clock = min(1.0, (pdf / (eff * 2.0 * 0.66)) ** (1 / 3))
        assert c.eff_compute[fmt] == pytest.approx(eff * clock, abs=1e-4)
    assert pd / (0.61 * 2.0 * 0.66) < 1.0  # the BF16 case is capped: the test exercises the cap
    assert "fp4" not in fitted["chips"]["h200"]["eff_compute"]  # format without kernels: not invented
    assert (c.eff_mem, c.kernel_overhead_us, c.eff_attention) == (0.66, 7.5, 0.55)
    assert "aiconfigurator-core test trtllm gemm x" in fitted["chips"]["h200"]["kernel_db"]


@pytest.mark.parametrize("cid", OTHERS)
def test_chips_without_kernels_are_unchanged(fitted, cid):
    chip = get_chip(cid)
    a, b = calibrated_params(chip), calibrated_params(chip, fitted)
    for f in ("eff_compute", "eff_mem", "eff_vector", "eff_link", "kernel_overhead", "eff_attention", "eff_moe"):
        assert (getattr(a, f) == getattr(b, f)).all() if hasattr(getattr(a, f), "all") else getattr(a, f) == getattr(b, f), f


def test_shipped_fit_is_untouched():
    before = copy.deepcopy(load_fitted())
    db_fitted({"h200": (PARAMS, {"bf16"}, "synthetic")}, SOURCE)
    assert load_fitted() == before and "vendor_means" not in before and "kernel_db" not in before


def _row(cid):
    from tapeout.hardware.catalog import resolve_chip_id

    for r in harness.read_rows(harness.default_data()):
        if resolve_chip_id(r["accelerator"]) == cid and "llama2-70b" in r.get("workload", "").lower() and "Offline" in r["scenario"]:
            return r
    pytest.skip(f"no llama2-70b Offline row of {cid}")


def test_serving_predictions_move_only_for_db_chips(fitted):
    rows = [_row("h200"), _row("mi300x")]
    a = [r.predicted for r in harness.run(rows=rows)["results"]]
    b = [r.predicted for r in harness.run(rows=rows, fitted=fitted)["results"]]
    assert None not in a and a[1] == b[1] and a[0] != b[0]


def test_validate_kernels_without_package_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(kernels_db, "db_config", lambda: {"package": "no-such-package-xyz", "db_path": "x"})
    with pytest.raises(SystemExit) as e:
        main(["validate", "--kernels", "aiconfigurator", "--no-rows"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "tapeout[kernels]" in err


@pytest.mark.parametrize("argv,field", [(["--kernels", "nvidia"], "--kernels 'nvidia'"), (["--stack", "vllm"], "--stack")])
def test_validate_kernel_option_errors(capsys, argv, field):
    with pytest.raises(SystemExit) as e:
        main(["validate", "--no-rows", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and field in err


@pytest.mark.skipif(not HAVE_DB, reason="aiconfigurator-core (tapeout[kernels]) not installed")
def test_holdout_leaves_the_chip_out():
    from tapeout.perf.kernel_calibration import build

    f = build(holdout="h200", per_group=20)
    assert "h200" not in f["kernel_db"]["source"]["chips"] and f["kernel_db"]["holdout"] == "h200"
    e = f["chips"]["h200"]
    assert "sources" not in e and "without h200" in e["kernel_db"]  # neither its microbenchmarks nor kernels
    assert set(e["eff_compute"]) == {"bf16", "fp16", "fp8", "fp4"}
    # its grouped expert GEMMs' efficiencies from its family's other chip's measured MoE layers (kernel_moe.fit_db_moe)
    from tapeout.perf.kernel_moe import EFF_MOE_GRID, MOE_FROM_DB

    if MOE_FROM_DB:
        assert f["kernel_db"]["moe"]["chips"] == ["h100-sxm"] and e["eff_moe"] in EFF_MOE_GRID
        assert 0 < e["kernel_library"]["moe_eff_mem"] <= 1.2 * e["eff_mem"] + 1e-9


def test_entry_carries_every_generation_kernel_the_family_dispatches(fitted):
    from tapeout.perf.kernel_calibration import decode_fields

    h200, l40s = fitted["chips"]["h200"]["kernel_decode_classes"], fitted["chips"]["l40s"]["kernel_decode_classes"]
    assert sorted(h200) == ["decode_hmma", "decode_mmha", "decode_qgmma"]  # QGMMA only on SM90
    assert sorted(l40s) == ["decode_hmma", "decode_mmha"]
    lib = fitted["chips"]["h200"]["kernel_library"]
    assert {k: lib[k] for k in h200["decode_hmma"]} == h200["decode_hmma"] == decode_fields(PARAMS, "decode_hmma")


def test_serving_costs_each_row_with_the_kernel_its_model_runs():
    # distinct per-class values, so the class picked shows in the ChipParams serving gets
    from tapeout.perf.kernel_calibration import serving_decode_params
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    params = dict(PARAMS, ovh_decode_hmma=20.0, ovh_decode_qgmma=30.0, ovh_decode_mmha=40.0)
    fit = db_fitted({"h200": (params, {"bf16"}, "synthetic")}, SOURCE)
    chip = get_chip("h200")
    p = calibrated_params(chip, fit)
    llama = load_llm("llama-3.1-70b")  # 64 query heads, 8 KV heads, head 128: group 8

    def fixed(pr, tp=1):
        return float(serving_decode_params(p, chip, llama, get_precision(pr), tp, fit).attn_decode_fixed)

    ovh = params["ovh_bf16"]
    assert fixed("bf16") == pytest.approx((20.0 - ovh) * 1e-6)  # BF16 KV: XQA HMMA
    assert fixed("fp8") == pytest.approx((30.0 - ovh) * 1e-6)  # E4M3 KV on SM90: XQA QGMMA
    assert fixed("bf16", tp=8) == pytest.approx((20.0 - ovh) * 1e-6)  # 8 heads / 1 KV head per GPU: group 8
    # the shipped fit has no per-class values: unchanged
    q = calibrated_params(chip)
    assert serving_decode_params(q, chip, llama, get_precision("fp8"), 1) is q


@pytest.mark.skipif(not HAVE_DB, reason="aiconfigurator-core (tapeout[kernels]) not installed")
def test_build_of_some_chips_fits_them_as_the_full_build_does():
    """build(chips=...) refits only those chips, each on its own kernels: the parameters equal a fit of
    that chip's kernels taken from a read of every system (the full build's per-chip path)."""
    from tapeout.perf.kernel_calibration import build

    f = build(chips=["h200"], per_group=20)
    assert set(f["kernel_db"]["params"]) == {"h200"}
    base = load_fitted()
    for cid in ("h100-sxm", "b200"):  # other chips of the database keep the microbenchmark fit
        assert f["chips"][cid] == base["chips"][cid]
    every = kernels_db.read_kernels(per_group=20)
    own = kf.fit(kf.Groups(every.where(every.cols["chip"] == "h200")))["params"]
    assert f["kernel_db"]["params"]["h200"] == pytest.approx(own, rel=1e-9)


@pytest.mark.parametrize("kw, field", [({"chips": ["h200"], "holdout": "h100-sxm"}, "not both"),
                                       ({"chips": ["mi300x"]}, "mi300x")])
def test_build_chips_refusals_are_one_line(kw, field):
    from tapeout.errors import TapeoutError
    from tapeout.perf.kernel_calibration import build

    with pytest.raises(TapeoutError) as e:
        build(**kw)
    assert field in str(e.value) and "\n" not in str(e.value)
