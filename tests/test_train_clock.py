"""The training GEMMs' power-capped sustained clock (perf/train_clock.py, switch SUSTAINED_CLOCK, off)."""

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise, MatMul, OpGraph
from tapeout.perf import train_clock
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.serving_sim import ensure_vector

BIG = MatMul(name="gemm", count=1, m=8192, n=8192, k=8192)


def _rates(chip_id: str, op=BIG) -> tuple[float, float]:
    """(burst, sustained) FLOP/s of one op on the chip, the sustained one with the switch on."""
    chip = get_chip(chip_id)
    p = ensure_vector(calibrated_params(chip))
    ct = evaluate(OpGraph(name="x", ops=[op]), p)
    t0 = float(train_clock.op_times(ct, p, None)[0])
    t1 = float(train_clock.op_times(ct, p, train_clock.board_power(chip, on=True))[0])
    return op.flops / t0, op.flops / t1


def test_default_is_the_measured_ceiling_not_the_cap_law():
    """Defaults: the cap law off (it would cap throttled fits twice), the measured MSMF ceiling on; a chip with no
    measured pair (GB200 at 1,200 W) gets neither."""
    assert train_clock.SUSTAINED_CLOCK is False
    board = train_clock.board_power(get_chip("b200"))
    assert board is not None and board.power_density is None and board.ceiling is not None
    assert train_clock.board_power(get_chip("b200"), ceiling_on=False) is None
    assert train_clock.board_power(get_chip("gb200")) is None


@pytest.mark.parametrize("chip_id, msmf", [("b200", 1439.0), ("h200", 755.0)])
def test_sustained_big_gemm_near_the_measured_msmf(chip_id, msmf):
    """Published measurement within 10%: mamf-finder v4's MSMF, the dense BF16 GEMM throughput of a board held
    at its power limit (MB-0724 B200 1439, MB-0722 H200 755 TFLOPS; data/calibration/power_cap_msmf.yaml). B200's
    fitted efficiency is its burst rate (pair MAMF 1737), so the burst clock is > 10% above the MSMF there. Not
    asserted: A100 PCIe, whose fit (MB-0004, a brute-force MAMF search that throttled: 252.9 < MSMF 258) the law
    caps a second time (-12%): why the switch stays off (docs/notes/issue-18.md, Round stop-34, issue-34tr)."""
    burst, sustained = _rates(chip_id)
    assert sustained / 1e12 == pytest.approx(msmf, rel=0.10)
    if chip_id == "b200":
        assert burst / 1e12 > 1.10 * msmf


def test_cap_slows_gemms_only_and_binds_harder_on_less_power_per_flop():
    """Never faster; memory-bound ops (a norm, a one-token GEMM streaming its weights) keep their time; a board
    with less power per peak FLOP (B200 0.44 W per TFLOP/s) loses more clock than A100 SXM (1.28)."""
    for chip_id in ("a100-sxm", "h100-sxm", "b200"):
        burst, sustained = _rates(chip_id)
        assert sustained <= burst
        norm = Elementwise(name="norm", count=1, elems=1 << 24, flops_per_elem=5.0, reads=1.0, writes=1.0)
        gemv = MatMul(name="gemv", count=1, m=1, n=8192, k=8192)
        for op in (norm, gemv):
            b, s = _rates(chip_id, op)
            assert s == pytest.approx(b, rel=1e-12)
    loss = {c: 1.0 - _rates(c)[1] / _rates(c)[0] for c in ("a100-sxm", "b200")}
    assert loss["b200"] > loss["a100-sxm"]


def test_power_limited_variant_keeps_its_transfer_law():
    """A --power-limit variant's efficiency already follows its limit (calibration._power_cap): no clock here."""
    import dataclasses
    chip = get_chip("h100-sxm")
    variant = dataclasses.replace(chip, nominal_tdp_w=700.0)
    assert train_clock.board_power(variant, on=True, ceiling_on=False) is None
    assert train_clock.board_power(chip, on=True, ceiling_on=False) is not None
    # the full-TDP MSMF ceiling stays an upper bound for a lower limit; it adds no clock law
    capped = train_clock.board_power(variant, on=True)
    assert capped is None or capped.power_density is None


def _ceiling_rates(chip_id: str, op=BIG) -> tuple[float, float]:
    chip = get_chip(chip_id)
    p = ensure_vector(calibrated_params(chip))
    ct = evaluate(OpGraph(name="x", ops=[op]), p)
    board = train_clock.board_power(chip, on=False, ceiling_on=True)
    return op.flops / float(train_clock.op_times(ct, p, None)[0]), op.flops / float(train_clock.op_times(ct, p, board)[0])


def test_msmf_ceiling_applies_to_the_measured_die_at_its_tdp_only():
    """The die's own pair or a same-silicon chip's (H100-SXM <- H200, same GH100 die at 700 W); a chip of
    another TDP (A100 SXM 400 W vs the A100 PCIe pair at 300 W, GB200 1200 W vs B200 1000 W) has none."""
    assert train_clock.SUSTAINED_CEILING is True
    from tapeout.ops import PEAK_KEYS
    h100, h200 = (train_clock.msmf_ceiling(get_chip(c)) for c in ("h100-sxm", "h200"))
    assert h100 == pytest.approx(h200, nan_ok=True)
    assert h100[PEAK_KEYS.index("bf16")] == pytest.approx(755.0 / get_chip("h200").peak_tflops("bf16"))
    assert train_clock.msmf_ceiling(get_chip("a100-sxm")) is None
    assert train_clock.msmf_ceiling(get_chip("gb200")) is None


def test_msmf_ceiling_caps_a_burst_fit_at_the_measured_sustained_rate(monkeypatch):
    """B200's fit is its burst rate: an 8192^3 BF16 GEMM runs at exactly its MSMF, 1439 TFLOPS (MB-0724), FP8 at
    2788 (MB-0725); H200's fitted 8192^3 GEMM is below its MSMF (755) and keeps its time; a memory-bound GEMM too.
    The floor alone (SUSTAINED_SCALE off; the scale is tested in test_train_sustained_scale.py)."""
    monkeypatch.setattr(train_clock, "SUSTAINED_SCALE", False)
    assert _ceiling_rates("b200")[1] / 1e12 == pytest.approx(1439.0, rel=1e-9)
    fp8 = MatMul(name="g8", count=1, m=8192, n=8192, k=8192, a_dtype="fp8", w_dtype="fp8", math_dtype="fp8")
    assert _ceiling_rates("b200", fp8)[1] / 1e12 == pytest.approx(2788.0, rel=1e-9)
    burst, capped = _ceiling_rates("h200")
    assert capped == burst and burst / 1e12 < 755.0
    gemv = MatMul(name="gemv", count=1, m=1, n=8192, k=8192)
    assert _ceiling_rates("b200", gemv)[1] == pytest.approx(_ceiling_rates("b200", gemv)[0], rel=1e-12)
