"""An FP8 attention op at its own kernel's MMA efficiency (ChipParams.attn_eff_fp8) instead of the per-tensor
FP8 GEMM's; in the kernel fit (kernel_fit.ATTN_FP8_EFF) the 16-bit FMHA's eff_bf16, on the families whose context
FMHA is described (kernels_db.yaml context_kernels): closed forms and invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import PEAK_KEYS, Attention, MatMul, OpGraph, OpTable
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_fit import EXP_FP32_FLOPS

P = calibrated_params(get_chip("h200"))
# every fixed, per-wave and softmax cost off: the context tiles' MMA work alone
BASE = P.replace(softmax_vflops=EXP_FP32_FLOPS * P.eff_vector, attn_tile_k_overhead=0.0, attn_prefill_fixed=0.0,
                 attn_decode_fixed=0.0, attn_tiling=1.0, attn_unit_time=0.0, attn_unit_flops=0.0,
                 attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0, kernel_overhead=0.0)
EFF = np.full(len(PEAK_KEYS), 0.5)  # every format's GEMM at half its peak


def _att(math, q=4096, d=128):
    return Attention(name="a", batch=2, q_len=q, kv_len=q, heads=32, kv_heads=8, d_qk=d, d_v=d, causal=True,
                     act_dtype=math, kv_dtype="fp8", math_dtype=math, kv_cache=True)


def _ct(op, **kw):
    return float(evaluate(OpGraph("a", [op]), BASE.replace(eff_compute=EFF, **kw)).compute_time[0])


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 1.0), st.floats(0.1, 1.0), st.sampled_from([64, 128, 256]), st.sampled_from([300, 4096]))
def test_fp8_attention_mma_time_scales_inversely_with_its_own_efficiency(e1, e2, d, q):
    a = _att("fp8", q, d)
    mma1, mma2 = _ct(a, attn_eff_fp8=e1, softmax_vflops=0.0), _ct(a, attn_eff_fp8=e2, softmax_vflops=0.0)
    assert mma1 / mma2 == pytest.approx(e2 / e1, rel=1e-9)
    # the softmax is on the vector units: the same time whatever the MMA efficiency
    assert _ct(a, attn_eff_fp8=e1) - mma1 == pytest.approx(_ct(a, attn_eff_fp8=e2) - mma2, rel=1e-9)


def test_unset_is_the_fp8_gemm_efficiency():
    a = _att("fp8")
    assert _ct(a, attn_eff_fp8=0.0) == _ct(a)  # the default: eff_compute[fp8]
    assert _ct(a, attn_eff_fp8=0.5) == pytest.approx(_ct(a), rel=1e-12)  # equal to it: the same time
    # twice the FP8 GEMM's efficiency: the MMAs in half the time
    assert _ct(a, attn_eff_fp8=1.0, softmax_vflops=0.0) == pytest.approx(_ct(a, softmax_vflops=0.0) / 2, rel=1e-9)


def test_bf16_attention_and_fp8_gemms_ignore_it():
    b = _att("bf16")
    assert _ct(b, attn_eff_fp8=0.9) == _ct(b)
    g = MatMul(name="g", m=4096, n=8192, k=8192, a_dtype="fp8", w_dtype="fp8", out_dtype="bf16", math_dtype="fp8")
    assert _ct(g, attn_eff_fp8=0.9) == _ct(g)


def _group(cls, fmt, family):
    """A minimal Groups item: one context attention op at `fmt` math on a chip `family`, as kernel_fit prices it."""
    return {"table": OpTable.from_ops([_att(fmt)]), "cls": cls, "fmt": fmt, "family": family}


@pytest.mark.parametrize("on", [True, False])
def test_the_fit_reads_the_fp8_attention_efficiency_only_under_the_switch(monkeypatch, on):
    monkeypatch.setattr(kf, "ATTN_FP8_EFF", on)
    assert kf.compute_effs(_group("prefill", "fp8", "nvidia-hopper")) == ({"eff_bf16"} if on else {"eff_fp8"})
    assert kf.compute_effs(_group("prefill", "bf16", "nvidia-hopper")) == {"eff_bf16"}
    v = {n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}
    assert kf.attn_fp8_eff(v, "prefill", "nvidia-blackwell") == (v["eff_bf16"] if on else 0.0)
    assert kf.attn_fp8_eff({**v, "eff_bf16": 1.3}, "prefill", "nvidia-blackwell") == (1.0 if on else 0.0)  # capped
    assert kf.attn_fp8_eff(v, "fp8", "nvidia-hopper") == 0.0  # a GEMM class never


def test_an_undescribed_family_keeps_the_fp8_gemm_efficiency(monkeypatch):
    # Ada's and Blackwell-RTX's FP8 context kernels are not described (kernels_db.yaml context_kernels), nor is
    # a family the database never saw: their FP8 attention stays at eff_fp8, the stop-28 pricing
    monkeypatch.setattr(kf, "ATTN_FP8_EFF", True)
    v = {n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}
    for fam in ("nvidia-ada", "nvidia-blackwell-rtx", "some-npu", None):
        assert not kf.own_fp8_attention("prefill", fam)
        assert kf.attn_fp8_eff(v, "prefill", fam) == 0.0
        assert kf.compute_effs(_group("prefill", "fp8", fam)) == {"eff_fp8"}
    described = set(kf.db_config()["context_kernels"])
    assert {"nvidia-hopper", "nvidia-blackwell"} <= described
    assert all(kf.own_fp8_attention("prefill", f) for f in described)
