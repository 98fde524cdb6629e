"""FP8 Transformer-Engine recipe and MLPerf evaluation passes in perf/training.py."""

import math

from dataclasses import replace

import pytest

from tapeout.ops import Attention, Elementwise, MatMul
from tapeout.perf.training import (TrainLayout, eval_time_s, fp8_training_graph, num_evaluations, time_to_train_min,
                                   train)
from tapeout.perf.sequence_parallel import shard_sequence
from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.train_recipe import get_recipe, training_graph
from tapeout.precision import Precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

FP8 = Precision("fp8", "fp8", "bf16", "bf16", "fp8")


def _graph(tp=1):
    cfg = load_llm("llama-3.1-8b")
    return cfg, build_llm_graph(cfg, LLMStep("prefill", 1, 2048, 0, FP8, tp, 1, lm_head_all_tokens=True))


def test_fp8_attention_and_lm_head_stay_bf16():
    _, g = _graph()
    g2, _, _ = fp8_training_graph(g)
    attn = [op for op in g2.ops if isinstance(op, Attention)]
    assert attn and all(op.math_dtype == "bf16" for op in attn)
    head = [op for op in g2.ops if isinstance(op, MatMul) and op.name == "lm_head"]
    assert head[0].math_dtype == "bf16"
    assert all(op.math_dtype == "fp8" for op in g2.ops if isinstance(op, MatMul) and op.name != "lm_head")
    g3, _, _ = fp8_training_graph(g, fp8_attention=True)
    assert all(op.math_dtype == "fp8" for op in g3.ops if isinstance(op, Attention))


def test_fp8_cast_transpose_bytes_closed_form():
    _, g = _graph()
    unfused = replace(get_recipe("fp8"), norm_fused_cast=False)
    _, fwd, bwd = training_graph(g, unfused)
    gemms = [op for op in g.ops if isinstance(op, MatMul) and op.name != "lm_head"]
    assert len(fwd.ops) == len(bwd.ops) == len(gemms)
    # forward: read bf16 input (2 B) + write fp8 and fp8-transposed copies (1 + 1 B) per input element
    want_f = sum(op.count * op.m * op.k * 4 for op in gemms)
    want_b = sum(op.count * op.m * op.n * 4 for op in gemms)
    assert sum(op.count * op.bytes for op in fwd.ops) == pytest.approx(want_f)
    assert sum(op.count * op.bytes for op in bwd.ops) == pytest.approx(want_b)
    # LoRA: no wgrad of the frozen weights -> no transposed copy (2 + 1 B)
    _, fwd_l, _ = training_graph(g, unfused, lora=True)
    assert sum(op.count * op.bytes for op in fwd_l.ops) == pytest.approx(want_f * 3 / 4)
    assert all(isinstance(op, Elementwise) for op in fwd.ops + bwd.ops)


def _bytes(ops, names=None):
    return sum(op.count * op.bytes for op in ops if names is None or op.name in names)


@pytest.mark.parametrize("tp", [1, 4])
def test_norm_fed_gemms_take_their_fp8_input_from_the_norm(tp):
    # TE LayerNormLinear / LayerNormMLP: the norm writes FP8 (1 B, not 2 B) on its own tokens, no cast
    # kernel; the wgrad operand is a backward fp8_transpose of the gathered T x h tensor (1 B in, 1 B out)
    _, g = _graph(tp)
    g = shard_sequence(g, tp)
    g2, fwd, bwd = fp8_training_graph(g)
    gemms = {op.name: op for op in g.ops if isinstance(op, MatMul)}
    assert {op.name for op in fwd.ops} == {"o_proj_fp8_quantize", "mlp_down_fp8_quantize"}
    for n in ("qkv_proj", "mlp_gate_up"):
        op = gemms[n]
        t = [b for b in bwd.ops if b.name == f"{n}_input_fp8_transpose"]
        assert len(t) == 1 and t[0].count * t[0].bytes == pytest.approx(op.count * op.m * op.k * 2)
        assert op.m == 2048  # the GEMM (and its transpose) sees every token, gathered
    norms = {op.name: op for op in g.ops if isinstance(op, Elementwise)}
    norms2 = {op.name: op for op in g2.ops if isinstance(op, Elementwise)}
    for n in ("attn_norm", "mlp_norm"):
        assert norms[n].elems == pytest.approx(2048 * 4096 / tp)  # on the sequence-parallel shard
        assert norms2[n].output_bytes == pytest.approx(norms[n].output_bytes / 2)
    # the dY casts are unchanged: 2 + 1 + 1 B per output element of every GEMM
    want_b = sum(op.count * op.m * op.n * 4 for n_, op in gemms.items() if n_ != "lm_head")
    assert _bytes(bwd.ops) - _bytes(bwd.ops, {"qkv_proj_input_fp8_transpose", "mlp_gate_up_input_fp8_transpose"}) \
        == pytest.approx(want_b)


def test_lora_frozen_casts_and_dy_transpose():
    # LoRA on qkv/o: the QKV module returns its norm output to the adapter -> BF16 norm + standalone
    # cast (one copy, 2 + 1 B); FC1 keeps the fused norm and, frozen, needs no transpose
    _, g = _graph(4)
    ad = LoraAdapters(16)
    _, fwd, bwd = fp8_training_graph(g, lora=ad)
    gemms = {op.name: op for op in g.ops if isinstance(op, MatMul)}
    assert {op.name for op in fwd.ops} == {"qkv_proj_fp8_quantize", "o_proj_fp8_quantize", "mlp_down_fp8_quantize"}
    q = gemms["qkv_proj"]
    assert _bytes(fwd.ops, {"qkv_proj_fp8_quantize"}) == pytest.approx(q.count * q.m * q.k * 3)
    assert not [op for op in bwd.ops if "transpose" in op.name]
    # dY: one copy (2 + 1 B); TE 1.x grad_output_preprocess writes the transpose too (2 + 1 + 1 B)
    out = sum(op.count * op.m * op.n for n_, op in gemms.items() if n_ != "lm_head")
    assert _bytes(bwd.ops) == pytest.approx(out * 3)
    _, _, bwd_t = training_graph(g, get_recipe("fp8"), lora=ad, frozen_dy_transpose=True)
    assert _bytes(bwd_t.ops) == pytest.approx(out * 4)


def test_bf16_has_no_fp8_casts():
    r = train("llama-3.1-8b", "h100-sxm", 8, 64 * 2048, 2048, "bf16", layout=TrainLayout(tp=2, pp=1, dp=4))
    assert r.breakdown["fp8_cast"] == 0.0


def test_fp8_casts_cost_time_and_fp8_attention_saves_time():
    base = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, global_batch_tokens=64 * 8192, seq_len=8192,
                precision="fp8", layout=TrainLayout(tp=2, pp=1, dp=4))
    r = train(**base)
    assert r.breakdown["fp8_cast"] > 0
    ra = train(fp8_attention=True, **base)
    assert ra.step_time_s < r.step_time_s


def test_num_evaluations():
    assert num_evaluations(24 * 24576, 24576) == 24
    assert num_evaluations(24 * 24576 - 1, 24576) == 23
    assert num_evaluations(3072, 384) == 8
    assert num_evaluations(3072, 384, skip_evals=3) == 5
    assert num_evaluations(100, 384) == 0


def test_eval_time_closed_form_and_monotone():
    r = train("llama-3.1-8b", "h100-sxm", 8, 16 * 2048, 2048, "bf16", layout=TrainLayout(tp=2, pp=1, dp=4))
    gbs = 16
    assert eval_time_s(r, 100, 3) == pytest.approx(3 * math.ceil(100 / gbs) * r.breakdown["eval_step"])
    # forward-only eval step is cheaper than a training step
    assert 0 < r.breakdown["eval_step"] < r.step_time_s
    a = time_to_train_min(r, 4096, 512, 100)
    b = time_to_train_min(r, 4096, 256, 100)  # evaluate twice as often -> longer
    c = time_to_train_min(r, 4096, 512, 1000)  # bigger validation set -> longer
    none = time_to_train_min(r, 4096)
    assert none["eval_min"] == 0 and none["minutes"] == pytest.approx(4096 * 2048 / r.tokens_per_s / 60)
    assert none["minutes"] < a["minutes"] < b["minutes"] and a["minutes"] < c["minutes"]
    assert a["minutes"] == pytest.approx(a["train_min"] + a["eval_min"])


def test_benchmarks_yaml_eval_fields():
    from tapeout.perf.mlperf import value_of as _v, benchmarks

    tb = benchmarks()["training"]
    assert _v(tb["gpt3-175b"]["eval_every_samples"]) == 24576 and _v(tb["gpt3-175b"]["eval_samples"]) == 5662
    assert _v(tb["llama2-70b-lora"]["eval_every_samples"]) == 384 and _v(tb["llama2-70b-lora"]["eval_samples"]) == 173
    for b in ("gpt3-175b", "llama2-70b-lora"):
        for k, v in tb[b].items():
            if isinstance(v, dict) and "value" in v:
                assert v.get("status") and v.get("source"), (b, k)


def test_deepspeed_training_rows_run_bf16_not_transformer_engine_fp8():
    """FP8 comes from Transformer Engine (NeMo); a DeepSpeed stack on the same H100 runs BF16,
    so its predicted time-to-train is longer than the NeMo row's."""
    from tapeout.hardware import get_chip
    from tapeout.validation.train_rows import map_row, training_precision

    row = {"category": "mlperf-train", "workload": "MLPerf Training v4.0 llama2_70b_lora",
           "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "precision": "per submission",
           "software": "NVIDIA NeMo Framework Release 24.04", "unit": "minutes",
           "notes": "global_batch_size=8; median last-eval samples_count=3072 (x)"}
    ds = {**row, "software": "NGC PyTorch Release 24.01 Deepspeed N1"}
    h100 = get_chip("h100-sxm")
    assert training_precision(row, h100) == "fp8"
    assert training_precision(ds, h100) == "bf16"
    nemo, deepspeed = map_row(row), map_row(ds)
    assert deepspeed.detail["precision"] == "bf16" and not deepspeed.detail["fp8_attention"]
    assert deepspeed.predicted > nemo.predicted


def test_lora_stack_writes_the_frozen_dy_transpose_and_costs_time():
    from tapeout.perf.train_stack import find_stack, stack_settings

    st = find_stack("NeMo Framework Release 24.04", "v4.0")
    assert stack_settings(st, {}, {}, False)[1]["frozen_dy_transpose"] is True
    base = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
                precision="fp8", layout=TrainLayout(tp=4, pp=1, dp=2), lora=LoraAdapters(16))
    a, b = train(**base), train(frozen_dy_transpose=True, **base)
    assert b.breakdown["fp8_cast"] > a.breakdown["fp8_cast"] and b.step_time_s > a.step_time_s


@pytest.mark.parametrize("lora, frozen_t", [(False, False), (True, False), (True, True)])
def test_row_parallel_dy_is_cast_on_its_sequence_shard_under_delayed_scaling(lora, frozen_t):
    # TE 1.x grad_output_preprocess, row-parallel GEMM with sequence parallelism: cast_to_fp8 on the
    # T/TP shard (read 2 B, write 1 B), all-gather in FP8, then fp8_transpose of the gathered T tokens
    # (read 1 B, write 1 B) when a second copy is written; column-parallel GEMMs keep the full-T cast
    tp = 4
    _, g = _graph(tp)
    ad = LoraAdapters(16) if lora else False
    _, _, whole = training_graph(g, get_recipe("fp8"), lora=ad, frozen_dy_transpose=frozen_t)
    _, _, shard = training_graph(g, get_recipe("fp8"), lora=ad, frozen_dy_transpose=frozen_t, dy_shard=tp)
    gemms = {op.name: op for op in g.ops if isinstance(op, MatMul)}
    copies = 2 if (not lora or frozen_t) else 1
    for n in ("o_proj", "mlp_down"):
        out = gemms[n].count * gemms[n].m * gemms[n].n
        assert _bytes(whole.ops, {f"{n}_dgrad_fp8_quantize"}) == pytest.approx(out * (2 + copies))
        got = _bytes(shard.ops, {f"{n}_dgrad_fp8_quantize", f"{n}_dgrad_fp8_transpose"})
        assert got == pytest.approx(out * (3 / tp + (2 if copies == 2 else 0)))
    for n in ("qkv_proj", "mlp_gate_up"):
        assert _bytes(shard.ops, {f"{n}_dgrad_fp8_quantize"}) == pytest.approx(_bytes(whole.ops, {f"{n}_dgrad_fp8_quantize"}))


def test_current_scaling_keeps_the_full_dy_cast():
    # the scale needs the whole tensor's amax before any shard can be cast (TE 2.x not read)
    _, g = _graph(4)
    r = get_recipe("fp8current")
    assert r.scaling == "current"
    _, _, whole = training_graph(g, r)
    _, _, shard = training_graph(g, r, dy_shard=4)
    assert _bytes(shard.ops) == pytest.approx(_bytes(whole.ops))


@pytest.mark.parametrize("lora", [False, True])
def test_frozen_row_parallel_gemm_under_userbuffers_dy_gather_writes_no_transpose(lora):
    # TE 1.x: with the proj/fc2_dgrad userbuffer all-gather, grad_output_preprocess returns
    # grad_output_t = None and _Linear.backward transposes dY only `if weight.requires_grad`
    tp = 4
    _, g = _graph(tp)
    ad = LoraAdapters(16) if lora else False
    kw = dict(lora=ad, frozen_dy_transpose=True, dy_shard=tp)
    _, _, nccl = training_graph(g, get_recipe("fp8"), **kw)
    _, _, ub = training_graph(g, get_recipe("fp8"), ub_dy_gathered=frozenset({"o_proj", "mlp_down"}), **kw)
    gemms = {op.name: op for op in g.ops if isinstance(op, MatMul)}
    for n in ("o_proj", "mlp_down"):
        out = gemms[n].count * gemms[n].m * gemms[n].n
        assert _bytes(nccl.ops, {f"{n}_dgrad_fp8_transpose"}) == pytest.approx(out * 2)
        # trained weights keep the wgrad operand; frozen ones lose exactly the 1 + 1 B transpose
        assert _bytes(ub.ops, {f"{n}_dgrad_fp8_transpose"}) == pytest.approx(0.0 if lora else out * 2)
    assert _bytes(nccl.ops) - _bytes(ub.ops) == pytest.approx(
        0.0 if not lora else 2 * sum(gemms[n].count * gemms[n].m * gemms[n].n for n in ("o_proj", "mlp_down")))


def test_the_lora_userbuffers_configs_gather_both_row_parallel_dys():
    from tapeout.perf.tp_overlap import get_overlap

    assert get_overlap("nemo-lora-fp8-h100-tp4").dy_gathered() == {"o_proj", "mlp_down"}
    ov = get_overlap("nemo-lora-fp8-h100-tp4")
    assert replace(ov, ag=False).dy_gathered() == frozenset()  # no all-gather overlap: NCCL gathers, transpose made
