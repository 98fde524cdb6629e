"""Each kernel-model switch (kernel_fit.model_switches) that `--kernels` serving prices reaches a serving
prediction through the cached path (issue 24, Round stop-28 issue-28sv).

A `--kernels` calibration is built once per switch setting (kernel_calibration.db_fitted, as build() does
after the fit) and served through mlperf.step_model, whose cache keys on the calibration's content
(calibration.calibration_key). Flipping a switch at fixed fitted parameters must give another key, record
the new value in the fit's source, and move the step term the switch prices, in the direction its
definition fixes; the same build twice must hit the cache. Synthetic parameters: no kernel database needed."""

from __future__ import annotations

import copy

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf import kernel_fit as kf
from tapeout.perf import mlperf
from tapeout.perf import silicon_cap as sc
from tapeout.perf.calibration import calibration_key
from tapeout.perf.kernel_calibration import db_fitted
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm

# the start values, with the terms the switches gate made non-zero: a split-K hand-off, a Hopper
# attention fixed time above the Hopper GEMM's (ovhfam_<family>_<class>)
PARAMS = {**{p[0]: p[1] for p in kf.PARAMS}, "split_serial_us": 1.0, "ovh_prefill": 10.0,
          "ovhfam_nvidia-hopper_prefill": 4.0, "ovhfam_nvidia-hopper_bf16": 1.0,
          # a shared residency above the per-kernel ones (FITTED_RESIDENCY off takes the shared one)
          "ctas_per_core": 8.0,
          # the 16-bit efficiency the FP8 context FMHA takes above the FP8 GEMM's (ATTN_FP8_EFF off takes eff_fp8)
          "eff_bf16": 0.9,
          # the described context kernels' own work-unit overhead above the shared one (CONTEXT_K_OVERHEAD)
          "ctx_tile_k_overhead": 500.0,
          # and their own efficiency above the shared one (CONTEXT_KERNEL_EFF)
          "ctx_eff_attention": 0.9}
SOURCE = {"package": "aiconfigurator-core", "package_version": "t",
          "chips": {"h200": {"system": "h200", "stack": "trtllm", "stack_versions": {}}}}


def _build() -> dict:
    """A --kernels calibration of H200 from PARAMS under the switches in force (the fit's source records them)."""
    return db_fitted({"h200": (PARAMS, {"bf16", "fp8"}, "synthetic")}, {**copy.deepcopy(SOURCE), "switches": kf.model_switches()})


def _step(fitted, model: str = "llama-2-70b", precision: str = "fp8", head_dim: int | None = None):
    """`model`'s serving step on H200 at `precision` (FP8: an E4M3 KV cache, XQA's Hopper kernel for Llama; BF16:
    the HMMA kernel mha.cu), with its head size replaced by `head_dim` where given."""
    cfg = load_llm(model)
    cfg = cfg.model_copy(update={"head_dim": head_dim}) if head_dim else cfg
    return mlperf.step_model(cfg, get_chip("h200"), get_precision(precision), 1, 1, 1, fitted=fitted)


# (switch, flipped value, the step term it prices, sign of (off - on) its definition fixes: +1 slower, -1 faster,
#  0 either way[, the step's _step arguments])
TERMS = {
    # no in-order reduction of the K slices: a split-K decode GEMM (8 tokens, few tiles) never gets slower
    "SPLIT_K_SERIAL": (False, lambda s: s.linear(8), -1),
    # whole 128-row token tiles instead of equal tiles at the MMA's N step: 200 tokens never get faster
    "TOKEN_N_FMTS": ((), lambda s: s.linear(200), +1),
    # no Hopper offset on the context attention op's fixed time (4 us against the GEMM's 1 us): faster
    "ATTN_FAMILY_CLASSES": ((), lambda s: s.attn_prefill(4, 500), -1),
    # the generation kernels' stream at the lesser of the CTAs' and the DRAM's, not their loaded knee: faster
    "GEN_STREAM_KNEE": (False, lambda s: s.attn_decode(64, 1000), -1),
    # no stream-K tail: a GEMM whose last wave is part-full keeps it (200 tokens x Llama's N on 132 SMs)
    "STREAM_K_TAIL": (0.0, lambda s: s.linear(200), +1),
    # the context kernel's softmax overlapped with its MMAs (Hopper): faster
    "SOFTMAX_OVERLAP": (True, lambda s: s.attn_prefill(4, 500), -1),
    # one shared residency (8 CTAs per SM) instead of the per-kernel fitted ones (2): the CTAs' stream is faster
    "FITTED_RESIDENCY": (False, lambda s: s.attn_decode(64, 1000), -1),
    # the XQA kernels' residency from their source instead of the fitted one: another time, sign by kernel (0)
    "SOURCE_RESIDENCY": (True, lambda s: s.attn_decode(64, 1000), 0),
    # the QKV pass's thread steps through the L2 as a lower bound on its time: never faster (the pass is
    # an elementwise op of the step's token-linear part)
    "QKV_STEP_BOUND": (True, lambda s: s.linear(2000), +1),
    # the HMMA kernel's keys rounded up to whole 256-token CTA tiles: never faster (BF16 cache; 64 sequences of
    # 1,000 keys: 2 CTAs per (sequence, KV head), 2 tiles each against 500 keys)
    "GEN_KV_TILE": (True, lambda s: s.attn_decode(64, 1000), +1, {"precision": "bf16"}),
    # a token rate on the HMMA kernel's CTAs on top of its bytes: slower
    "GEN_BYTE_BUFFERS": (False, lambda s: s.attn_decode(64, 1000), +1, {"precision": "bf16"}),
    # its byte term on the padded head, not the real one: a head of 96 (padded to 128) gets slower
    "GEN_HEAD_PAD": (True, lambda s: s.attn_decode(64, 4000), +1, {"precision": "bf16", "head_dim": 96}),
    # the masked-MHA kernel (GPT-J: MHA, head 256) as 256-thread CTAs at the fitted residency (2) instead of its
    # launcher's CTAs at the 4 base blocks its registers hold per SM: its stream and waves get slower
    "MMHA_LAUNCH": (False, lambda s: s.attn_decode(64, 1000), +1, {"model": "gpt-j"}),
    # no work per query-tile element in the XQA Hopper kernel's waves: faster
    "QGMMA_TILE_WORK": (False, lambda s: s.attn_decode(64, 1000), -1),
    # the XQA Hopper kernel's waves at its launch bound's 3 CTAs per SM instead of one: fewer waves, faster
    "QGMMA_WAVES": (True, lambda s: s.attn_decode(64, 1000), -1),
    # the FP8 context FMHA at the FP8 GEMM's efficiency (0.7) instead of the 16-bit FMHA's (0.9): slower
    "ATTN_FP8_EFF": (False, lambda s: s.attn_prefill(4, 500), +1),
    # Hopper's context kernel on the described kernels' own work-unit overhead (500 keys against 64): slower
    "CONTEXT_K_OVERHEAD": (True, lambda s: s.attn_prefill(4, 500), +1),
    # Hopper's context kernel at the described kernels' own efficiency (0.9 against the shared 0.6): faster
    "CONTEXT_KERNEL_EFF": (True, lambda s: s.attn_prefill(4, 500), -1),
    # the context CTAs' Q and O tiles serialised per wave: slower
    "CONTEXT_IO_EXPOSED": (True, lambda s: s.attn_prefill(4, 500), +1),
    # and at no more than one core's stream (the fit's start value where the fit holds none): slower still
    "CONTEXT_IO_CORE_STREAM": (True, lambda s: s.attn_prefill(4, 500), +1),
    # H200's GEMMs at the shared cap energy instead of the one its own measured FP8 / BF16 pairs invert to (above
    # the shared mean): a compute-bound step (2,000 tokens) sustains a higher clock, faster (perf/silicon_cap.py)
    "SILICON_CAP_ENERGY": (False, lambda s: s.linear(2000), -1),
}
SWITCH_MODULE = {"SILICON_CAP_ENERGY": sc}  # switches kept outside kernel_fit (kernel_fit.model_switches reads them)


def test_every_serving_switch_is_checked():
    served = {n for n, s in kf.model_switches().items() if not s["serving"].startswith("fit only")}
    # FIXED_TIME_BY_FAMILY: serving adds the fitted ovhfam_* offsets, which only the "fitted" setting frees
    # (the others hold them at 0 in the fit), so its serving effect is through the fitted values, not the switch
    assert served - {"FIXED_TIME_BY_FAMILY"} == set(TERMS)


def test_the_same_build_hits_the_cache():
    a, b = _build(), _build()
    assert a is not b and calibration_key(a) == calibration_key(b)
    assert _step(a) is _step(b)


@pytest.mark.parametrize("name", sorted(TERMS))
def test_a_flipped_switch_reaches_the_cached_serving_step(monkeypatch, name):
    value, term, sign, *how = TERMS[name]  # the serving row's model / precision / head where not Llama's FP8 default
    how = how[0] if how else {}
    on = _build()
    t_on = term(_step(on, **how))
    monkeypatch.setattr(SWITCH_MODULE.get(name, kf), name, value)
    off = _build()
    assert calibration_key(off) != calibration_key(on)
    assert off["kernel_db"]["source"]["switches"][name]["value"] == (list(value) if isinstance(value, tuple) else value)
    t_off = term(_step(off, **how))
    assert (sign * (t_off - t_on) if sign else abs(t_off - t_on)) > 1e-4 * t_on, f"{name}: {t_on} -> {t_off}"
