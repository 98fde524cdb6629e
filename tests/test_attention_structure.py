"""The default model's attention mechanisms from the kernel-level fit (data/calibration/kernel_structure.yaml):
per-phase fixed time of an attention op, per-work-unit prologue/epilogue, GQA pack limit, and the
QKV-preprocess pass (RoPE + KV-cache append) of the serving graph."""

import dataclasses
from importlib import resources

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import Attention, OpGraph
from tapeout.perf import evaluate
from tapeout.perf.calibration import calibrated_params
from tapeout.precision import get_precision
from tapeout.workloads.llm import decode_graph, prefill_graph
from tapeout.workloads.llm_config import load_llm

STRUCT = yaml.safe_load(resources.files("tapeout").joinpath("data", "calibration", "kernel_structure.yaml").read_text())
P = calibrated_params(get_chip("h100-sxm"))
CHIPS = ("h100-sxm", "b200", "mi300x", "l40s")


def _attn(**kw) -> Attention:
    base = dict(name="a", batch=8, q_len=1, kv_len=1024, heads=32, kv_heads=8, d_qk=128, d_v=128, kv_cache=True)
    return Attention(**(base | kw))


def _time(op, p=P) -> float:
    return float(evaluate(OpGraph("a", [op]), p).time[0])


def test_every_structural_constant_carries_its_fit_unit_meaning_and_source():
    for name, e in STRUCT.items():
        assert {"value", "unit", "meaning", "source"} <= set(e), name
        assert isinstance(e["value"], (int, float)) and e["value"] > 0, name
    # the stop-16 joint kernel-database fit (tiling, per-phase CTA costs, SFU softmax)
    for name in ("attn_prefill_fixed_us", "attn_decode_fixed_us", "attn_head_pack", "attn_tile_k_overhead", "attn_tiling",
                 "attn_unit_time_us", "attn_decode_unit_time_us", "attn_decode_unit_flops"):
        assert "aiconfigurator-core 0.12.0" in STRUCT[name]["source"] and "0002c72" in STRUCT[name]["source"], name


@pytest.mark.parametrize("chip", CHIPS)
def test_the_default_model_runs_the_attention_structure_of_the_data_file(chip):
    p = calibrated_params(get_chip(chip))
    assert p.attn_tile_k_overhead == STRUCT["attn_tile_k_overhead"]["value"]
    assert p.attn_head_pack == STRUCT["attn_head_pack"]["value"]
    assert p.attn_prefill_fixed == pytest.approx(STRUCT["attn_prefill_fixed_us"]["value"] * 1e-6, rel=1e-12)
    assert p.attn_decode_fixed == pytest.approx(STRUCT["attn_decode_fixed_us"]["value"] * 1e-6, rel=1e-12)
    assert p.attn_tiling == STRUCT["attn_tiling"]["value"] and p.attn_unit_flops == 0.0
    assert p.attn_unit_time == pytest.approx(STRUCT["attn_unit_time_us"]["value"] * 1e-6, rel=1e-12)
    assert p.attn_decode_unit_time == pytest.approx(STRUCT["attn_decode_unit_time_us"]["value"] * 1e-6, rel=1e-12)
    assert p.attn_decode_unit_flops == STRUCT["attn_decode_unit_flops"]["value"]


def test_default_softmax_is_one_exponential_at_the_sfu_rate():
    """16 FP32-FLOP equivalents per exponential (16 MUFU.EX2 vs 128 FP32 FMA per clock per SM, CUDA
    guide) over the vector rate vector_flops x eff_vector: the same cost as the kernel fit's."""
    from tapeout.perf.kernel_fit import EXP_FP32_FLOPS

    assert EXP_FP32_FLOPS == 16.0
    assert P.softmax_vflops / (P.vector_flops * P.eff_vector) == pytest.approx(16.0 / P.vector_flops, rel=1e-12)


@pytest.mark.parametrize(("op", "field"), [
    (_attn(), "attn_decode_fixed"),  # one query per sequence, GQA group 4 packed in the rows (m = 4)
    (_attn(heads=128, kv_heads=1), "attn_decode_fixed"),  # MQA group 128: still generation
    (_attn(q_len=2, kv_len=1024), "attn_prefill_fixed"),  # two new tokens: the context kernel
    (_attn(q_len=512, kv_len=512), "attn_prefill_fixed"),
])
def test_an_attention_op_pays_its_phase_fixed_time_once_on_top_of_the_kernel_launch(op, field):
    other = "attn_prefill_fixed" if field == "attn_decode_fixed" else "attn_decode_fixed"
    t0 = _time(op, P.replace(attn_prefill_fixed=0.0, attn_decode_fixed=0.0))
    assert _time(op) - t0 == pytest.approx(getattr(P, field), rel=1e-9)
    assert _time(op, P.replace(**{other: 1.0})) == pytest.approx(_time(op), rel=1e-12)  # the other phase's never
    # a fused attention op (no launch of its own) pays neither, nor does one without a KV cache
    # (an encoder's or a training step's fused attention is one kernel)
    for plain in (dataclasses.replace(op, fused=True), dataclasses.replace(op, kv_cache=False)):
        assert _time(plain) == pytest.approx(_time(plain, P.replace(attn_prefill_fixed=0.0, attn_decode_fixed=0.0)), rel=1e-12)


def test_only_attention_pays_the_attention_fixed_time():
    g = decode_graph(load_llm("llama-3.1-8b"), batch=4, context=256, precision="bf16")
    ct0 = evaluate(g, P.replace(attn_prefill_fixed=0.0, attn_decode_fixed=0.0))
    ct = evaluate(g, P)
    diff = np.asarray(ct.time) - np.asarray(ct0.time)
    is_attn = np.array([isinstance(o, Attention) for o in g.ops])
    assert np.all(diff[~is_attn] == 0.0)
    assert np.allclose(diff[is_attn], P.attn_decode_fixed, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(8, 256), group=st.sampled_from([1, 2, 4, 8]), d=st.sampled_from([64, 128, 256]),
       kv=st.integers(1, 65536), chip=st.sampled_from(CHIPS))
def test_decode_attention_never_below_its_fixed_time_and_grows_with_kv_length(batch, group, d, kv, chip):
    # per-wave CTA costs off: with them a compute-bound decode kernel gains from a finer KV split
    # (more keys, more splits, fuller waves), the split granularity, not the KV stream
    p = calibrated_params(get_chip(chip)).replace(attn_decode_unit_time=0.0, attn_decode_unit_flops=0.0)
    a = _attn(batch=batch, kv_len=kv, heads=8 * group, kv_heads=8, d_qk=d, d_v=d)
    t = _time(a, p)
    assert t >= float(p.kernel_overhead) + float(p.attn_decode_fixed)
    # 8 KV heads x batch >= 64 work units: every core streams, more keys never take less time
    assert _time(dataclasses.replace(a, kv_len=kv + 1 + kv // 3), p) >= t


@settings(max_examples=40, deadline=None)
@given(s=st.integers(16, 16384), d=st.sampled_from([64, 128]), batch=st.integers(1, 16))
def test_the_work_unit_prologue_makes_short_prefill_run_further_below_peak(s, d, batch):
    """Achieved FLOP rate of causal prefill attention (fixed times off) is below the long-sequence
    rate by at least k / (k + k0) of its keys per query k: the prologue/epilogue never shrinks."""
    # the per-wave CTA latency and the tiling off: they add time the prologue's ratio does not scale
    p = P.replace(attn_prefill_fixed=0.0, kernel_overhead=0.0, attn_unit_time=0.0, attn_tiling=0.0)
    a = _attn(batch=batch, q_len=s, kv_len=s, heads=32, kv_heads=32, d_qk=d, d_v=d)
    ct = evaluate(OpGraph("a", [a]), p)
    k0 = STRUCT["attn_tile_k_overhead"]["value"]
    ct_free = evaluate(OpGraph("a", [a]), p.replace(attn_tile_k_overhead=0.0, softmax_vflops=0.0))
    kq = a.keys_per_query
    assert float(ct.compute_time[0]) >= float(ct_free.compute_time[0]) * (kq + k0) / kq * (1 - 1e-9)


@pytest.mark.parametrize("precision", ["bf16", "fp8"])
def test_serving_graph_costs_the_qkv_preprocess_pass_in_closed_form(precision):
    """RoPE + KV-cache append: reads the fused QKV activation, writes Q and the new K, V at the cache's width."""
    cfg = load_llm("llama-3.1-8b")
    pr = dataclasses.replace(get_precision("bf16"), kv_cache="fp8") if precision == "fp8" else get_precision("bf16")
    b, s = 3, 200
    g = prefill_graph(cfg, batch=b, input_len=s, precision=pr)
    pre = [o for o in g.ops if o.name == "qkv_preprocess"]
    assert len(pre) == 1 and pre[0].fused and pre[0].count == cfg.num_hidden_layers
    h, kvh, d, T = cfg.num_attention_heads, cfg.kv_heads, cfg.hd, b * s
    kv_b = 1.0 if precision == "fp8" else 2.0
    assert pre[0].input_bytes == pytest.approx(T * (h + 2 * kvh) * d * 2.0, rel=1e-12)
    assert pre[0].output_bytes == pytest.approx(T * h * d * 2.0 + T * 2 * kvh * d * kv_b, rel=1e-12)
    assert pre[0].flops == pytest.approx(3.0 * T * (h + kvh) * d, rel=1e-12)  # RoPE on Q and K only


def test_training_has_no_kv_cache_append_only_rope_on_q_and_k():
    cfg = load_llm("llama-3.1-8b")
    g = prefill_graph(cfg, batch=2, input_len=128, precision="bf16", lm_head_all_tokens=True)
    assert not [o for o in g.ops if o.name == "qkv_preprocess"]
    assert not [o for o in g.ops if isinstance(o, Attention) and o.kv_cache]
    assert all(o.kv_cache for o in prefill_graph(cfg, batch=2, input_len=128).ops if isinstance(o, Attention))
    (rope,) = [o for o in g.ops if o.name == "rope"]
    T = 2 * 128
    assert rope.input_bytes == rope.output_bytes == pytest.approx(T * (cfg.num_attention_heads + cfg.kv_heads) * cfg.hd * 2.0)


def test_kernel_database_calibration_takes_the_attention_fixed_time_from_its_own_fit():
    from tapeout.perf import kernel_fit
    from tapeout.perf.kernel_calibration import chip_entry

    params = {n: start for n, start, _, _ in kernel_fit.PARAMS} | {"ovh_bf16": 2.0, "ovh_prefill": 17.0, "ovh_decode_hmma": 1.0}
    lib = chip_entry(params, get_chip("h200"), "test")["kernel_library"]
    assert lib["attn_prefill_fixed"] == pytest.approx(15e-6, rel=1e-12)
    assert lib["attn_decode_fixed"] == 0.0  # never negative: an attention op is at least one kernel


def _params_of(chip_id):
    return calibrated_params(get_chip(chip_id))


def test_prologue_fit_recovers_the_value_its_rows_were_timed_at():
    """Rows timed by the model itself at k0 = 160 keys (times a per-sweep factor the fit must ignore)."""
    from tapeout.perf.fit.kernels import attention_row_times, fit_attention_prologue

    p = _params_of("h100-sxm").replace(eff_attention=1.0, attn_tile_k_overhead=160.0)
    rows = []
    for d, factor in ((64, 0.7), (128, 1.3)):
        for s in (512, 1024, 2048, 4096, 8192, 16384):
            r = dict(id="x", chip="h100-sxm", impl="t", direction="fwd", causal="True", head_dim=str(d), heads="16",
                     seq_len=str(s), batch=str(max(1, 16384 // s)), dtype="bf16", tflops="1")
            t_model, t_meas = attention_row_times(r, p)  # t_meas at 1 TFLOP/s
            r["tflops"] = str(t_meas / (t_model * factor))
            rows.append(r)
    f = fit_attention_prologue(rows, _params_of)
    assert f["value"] == 160.0 and f["rms_log"] < 1e-6 and f["sweeps"] == 2


def test_the_default_structure_explains_the_published_rise_with_sequence_length():
    """The published fused-attention sweeps (microbenchmarks) follow the default model's shape better
    with its tiling and per-wave CTA latency than with neither mechanism nor prologue."""
    from tapeout.perf.fit import read_attention_kernels
    from tapeout.perf.fit.kernels import fit_attention_prologue

    k0 = (STRUCT["attn_tile_k_overhead"]["value"],)
    rows = read_attention_kernels()
    shipped = fit_attention_prologue(rows, _params_of, grid=k0)
    bare = fit_attention_prologue(rows, lambda c: _params_of(c).replace(attn_tiling=0.0, attn_unit_time=0.0), grid=(0.0,))
    assert shipped["rms_log"] < bare["rms_log"]


def test_kernel_database_serving_prices_context_attention_as_the_fit_does():
    """The kernel fit prices every context kernel with the causal grid's makespan (kernel_fit.params_for,
    attn_ctx_makespan=1); `--kernels` serving must use the same rule, or it applies the fitted
    efficiencies to a different cost model (issue-24rv review)."""
    from tapeout.perf import kernel_fit
    from tapeout.perf.kernel_calibration import chip_entry

    params = {n: start for n, start, _, _ in kernel_fit.PARAMS}
    fit_rule = kernel_fit.params_for(_params_of("h200"), kernel_fit.x_of(params), "prefill").attn_ctx_makespan
    assert chip_entry(params, get_chip("h200"), "test")["kernel_library"]["attn_ctx_makespan"] == fit_rule == 1.0
