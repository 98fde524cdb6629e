"""The context kernel's work-unit prologue / epilogue on a parameter of its own (kernel_fit.CONTEXT_K_OVERHEAD,
docs/notes/issue-24.md, Round stop-40 issue-51d): a context CTA's fixed cost in keys-equivalents amortised over
its KV loop (opcost's u_k = k / (k + overhead)), apart from the generation kernels' attn_tile_k_overhead."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _db import needs_db
from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params

P = calibrated_params(get_chip("b200"))
# FlashAttention-2 tiling, per-wave, makespan and softmax costs off: the MMAs and the work-unit overhead alone
BASE = P.replace(attn_prefill_fixed=0.0, attn_decode_fixed=0.0, attn_tiling=1.0, attn_unit_time=0.0, attn_unit_flops=0.0,
                 attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0, kernel_overhead=0.0, attn_ctx_makespan=0.0,
                 softmax_vflops=0.0, attn_ctx_q_tile=0.0, attn_ctx_kv_tile=0.0)


def _ctx(batch, q, heads, d=128):
    return Attention(name="a", batch=batch, q_len=q, kv_len=q, heads=heads, kv_heads=heads, d_qk=d, d_v=d,
                     causal=True, kv_cache=True)


def _t(a, over):
    return float(evaluate(OpGraph("a", [a]), BASE.replace(attn_tile_k_overhead=over)).compute_time[0])


@pytest.mark.parametrize("on", [False, True])
def test_each_attention_class_reads_its_own_overhead(monkeypatch, on):
    monkeypatch.setattr(kf, "CONTEXT_K_OVERHEAD", on)
    # the described context kernels (kernels_db.yaml context_kernels) only, and only the context class
    for fam in ("nvidia-hopper", "nvidia-blackwell"):
        assert kf.tile_k_overhead_param("prefill", fam) == ("ctx_tile_k_overhead" if on else "attn_tile_k_overhead")
        for c in kf.ATTN_CLASSES[1:]:  # every generation kernel keeps the shared one
            assert kf.tile_k_overhead_param(c, fam) == "attn_tile_k_overhead"
    for fam in ("nvidia-ampere", "nvidia-ada", "nvidia-blackwell-rtx", None):
        assert kf.tile_k_overhead_param("prefill", fam) == "attn_tile_k_overhead"


def test_off_the_fit_holds_it_at_zero():
    # the fit reports an unused parameter at the 0 it is priced at (and a fit from before it has its start value)
    assert not kf.CONTEXT_K_OVERHEAD
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS) if n != "ctx_tile_k_overhead"})
    assert x[kf.NAMES.index("ctx_tile_k_overhead")] == dict((p[0], p[1]) for p in kf.PARAMS)["ctx_tile_k_overhead"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.sampled_from([2, 16, 64]), st.integers(2, 64), st.floats(0.0, 2048.0))
def test_closed_form_of_the_causal_work_unit_overhead(batch, heads, q_tiles, over):
    # one CTA per (sequence, head, 128-row query tile) over whole key tiles (FlashAttention-2: diagonal tiles
    # computed in full): tile i of T computes i + 1 tiles, (T + 1) / 2 on average, so a query sees k_t = 64 (T + 1)
    # keys; the MMAs run k_t / (k_t + overhead) as fast as without it, when the tiles fill whole waves
    q = 128 * q_tiles
    a = _ctx(batch, q, heads)
    k_t = 128 * (q_tiles + 1) / 2
    assert _t(a, over) == pytest.approx(_t(a, 0.0) * (k_t + over) / k_t, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.sampled_from([1, 8, 32]), st.integers(1, 16384), st.integers(1, 4096),
       st.floats(0.0, 2048.0), st.sampled_from([64, 128, 256]))
def test_a_longer_prompt_is_never_faster_and_never_above_the_peak(batch, heads, q, dq, over, d):
    a, b = _ctx(batch, q, heads, d), _ctx(batch, q + dq, heads, d)
    p = P.replace(attn_tile_k_overhead=over)
    ta, tb = (float(evaluate(OpGraph("a", [x]), p).time[0]) for x in (a, b))
    assert tb >= ta * (1 - 1e-12)
    # the causal work at the chip's dense BF16 peak is a floor: the efficiency stays <= 1
    for x, t in ((a, ta), (b, tb)):
        exact = 4.0 * x.batch * x.heads * d * x.q_len * (x.q_len + 1) / 2
        assert exact / t <= float(np.asarray(p.peak_flops)[kf.PEAK_KEYS.index("bf16")]) * (1 + 1e-9)


def test_the_switch_is_recorded_fit_only():
    s = kf.model_switches()["CONTEXT_K_OVERHEAD"]
    assert s["value"] is kf.CONTEXT_K_OVERHEAD and "attn_ctx_tile_k_overhead" in s["serving"]


@pytest.mark.parametrize("on", [False, True])
def test_serving_takes_the_context_kernels_own(monkeypatch, on):
    from tapeout.perf.kernel_calibration import context_k_overhead

    monkeypatch.setattr(kf, "CONTEXT_K_OVERHEAD", on)
    params = {"attn_tile_k_overhead": 11.0, "ctx_tile_k_overhead": 500.0}
    assert context_k_overhead(params, "nvidia-hopper") == (500.0 if on else -1.0)
    assert context_k_overhead(params, "nvidia-ada") == -1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(2, 64), st.floats(0.0, 2048.0), st.floats(0.0, 2048.0))
def test_opcost_gives_the_context_phase_its_own_overhead(batch, q_tiles, shared, own):
    # a context op on attn_ctx_tile_k_overhead (>= 0) as if it were the shared one; a generation op never
    ctx, gen = _ctx(batch, 128 * q_tiles, 16), Attention(name="g", batch=batch, q_len=1, kv_len=128 * q_tiles, heads=16,
                                                         kv_heads=16, d_qk=128, d_v=128, causal=True, kv_cache=True)

    def t(a, **kw):
        return float(evaluate(OpGraph("a", [a]), BASE.replace(**kw)).compute_time[0])

    assert t(ctx, attn_tile_k_overhead=shared, attn_ctx_tile_k_overhead=own) == pytest.approx(t(ctx, attn_tile_k_overhead=own), rel=1e-12)
    assert t(ctx, attn_tile_k_overhead=shared, attn_ctx_tile_k_overhead=-1.0) == pytest.approx(t(ctx, attn_tile_k_overhead=shared), rel=1e-12)
    assert t(gen, attn_tile_k_overhead=shared, attn_ctx_tile_k_overhead=own) == pytest.approx(t(gen, attn_tile_k_overhead=shared), rel=1e-12)


@needs_db
def test_the_fit_prices_the_described_context_kernels_on_their_own(monkeypatch):
    from tapeout.perf.kernels_db import read_kernels

    monkeypatch.setattr(kf, "CONTEXT_K_OVERHEAD", True)
    groups = kf.Groups(read_kernels(systems=["b200_sxm", "l40s"], per_group=4, ops=("attention_prefill", "attention_decode")))
    x = np.array([p[1] for p in kf.PARAMS])
    x[kf.NAMES.index("attn_tile_k_overhead")], x[kf.NAMES.index("ctx_tile_k_overhead")] = 11.0, 500.0
    seen = set()
    for g in groups.items:
        own = g["cls"] == "prefill" and g["family"] == "nvidia-blackwell"
        assert float(kf.item_params(g, x).attn_tile_k_overhead) == (500.0 if own else 11.0)
        assert kf.group_reads(g, "ctx_tile_k_overhead") is own and kf.group_reads(g, "attn_tile_k_overhead") is not own
        seen.add((g["family"], g["cls"] == "prefill"))
    assert {("nvidia-blackwell", True), ("nvidia-ada", True)} <= seen


@needs_db
@pytest.mark.parametrize("switch, on", [("CONTEXT_IO_EXPOSED", False), ("CONTEXT_IO_EXPOSED", True),
                                        ("CONTEXT_IO_CORE_STREAM", False), ("CONTEXT_IO_CORE_STREAM", True)])
def test_the_context_io_switches_reach_the_context_class_only(monkeypatch, switch, on):
    # the context CTAs' Q / O tiles exposed per wave (CONTEXT_IO_EXPOSED), and at no more than one core's fitted
    # GB/s (CONTEXT_IO_CORE_STREAM, issue-61d, which implies the first): the context class only, and the core's rate
    # is read (fitted) only where it prices something
    from tapeout.perf.kernels_db import read_kernels

    monkeypatch.setattr(kf, switch, on)
    groups = kf.Groups(read_kernels(systems=["h200_sxm"], per_group=4, ops=("attention_prefill", "attention_decode")))
    x = np.array([p[1] for p in kf.PARAMS])
    x[kf.NAMES.index("ctx_io_core_bw")] = 26.0
    stream = on and switch == "CONTEXT_IO_CORE_STREAM"
    for g in groups.items:
        ctx = g["cls"] == "prefill"
        p = kf.item_params(g, x)
        assert float(p.attn_ctx_io_exposed) == (1.0 if on and ctx else 0.0)
        assert float(p.attn_ctx_io_core_bw) == (26e9 if stream and ctx else 0.0)
        assert kf.group_reads(g, "ctx_io_core_bw") is (stream and ctx)
    serving = {"CONTEXT_IO_EXPOSED": "attn_ctx_io_exposed", "CONTEXT_IO_CORE_STREAM": "attn_ctx_io_core_bw"}[switch]
    assert serving in kf.model_switches()[switch]["serving"]


@needs_db
@pytest.mark.parametrize("eff", [False, True])
def test_the_described_context_kernels_own_efficiency(monkeypatch, eff):
    from tapeout.perf.kernels_db import read_kernels

    monkeypatch.setattr(kf, "CONTEXT_KERNEL_EFF", eff)
    groups = kf.Groups(read_kernels(systems=["h200_sxm", "l40s"], per_group=4, ops=("attention_prefill", "attention_decode")))
    x = np.array([p[1] for p in kf.PARAMS])
    x[kf.NAMES.index("eff_attention")], x[kf.NAMES.index("ctx_eff_attention")] = 0.6, 0.9
    for g in groups.items:
        own = eff and g["cls"] == "prefill" and g["family"] == "nvidia-hopper"
        assert float(kf.item_params(g, x).eff_attention) == (0.9 if own else 0.6)
        assert kf.group_reads(g, "ctx_eff_attention") is own and kf.group_reads(g, "eff_attention") is not own
    assert "attn_ctx_eff_attention" in kf.model_switches()["CONTEXT_KERNEL_EFF"]["serving"]


@pytest.mark.parametrize("on", [False, True])
def test_serving_takes_the_context_kernels_own_efficiency(monkeypatch, on):
    from tapeout.perf.kernel_calibration import context_eff_attention

    monkeypatch.setattr(kf, "CONTEXT_KERNEL_EFF", on)
    params = {"eff_attention": 0.6, "ctx_eff_attention": 0.9}
    assert context_eff_attention(params, "nvidia-blackwell") == (0.9 if on else 0.0)
    assert context_eff_attention(params, "nvidia-ampere") == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(2, 64), st.floats(0.2, 1.0), st.floats(0.2, 1.0))
def test_opcost_gives_the_context_phase_its_own_efficiency(batch, q_tiles, shared, own):
    ctx = _ctx(batch, 128 * q_tiles, 16)
    gen = Attention(name="g", batch=batch, q_len=1, kv_len=128 * q_tiles, heads=16, kv_heads=16, d_qk=128, d_v=128,
                    causal=True, kv_cache=True)

    def t(a, **kw):
        return float(evaluate(OpGraph("a", [a]), BASE.replace(**kw)).compute_time[0])

    assert t(ctx, eff_attention=shared, attn_ctx_eff_attention=own) == pytest.approx(t(ctx, eff_attention=own), rel=1e-12)
    assert t(gen, eff_attention=shared, attn_ctx_eff_attention=own) == pytest.approx(t(gen, eff_attention=shared), rel=1e-12)
