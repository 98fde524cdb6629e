"""Training step model: closed forms (bubble, ZeRO, Korthikanti), monotonicity, CLI keys."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.training import (TrainLayout, activation_bytes_per_layer, model_flops_per_token, pipeline_bubble,
                                   train, zero_memory_bytes)


def test_pipeline_bubble_closed_form():
    assert pipeline_bubble(1, 8) == 0.0
    assert pipeline_bubble(4, 8) == pytest.approx(3 / 11)
    assert pipeline_bubble(8, 64) == pytest.approx(7 / 71)
    assert pipeline_bubble(4, 8, v=2) == pytest.approx(3 / 19)  # interleaving shrinks the bubble


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 64), st.integers(1, 512))
def test_bubble_decreases_with_microbatches(p, m):
    assert pipeline_bubble(p, m + 1) < pipeline_bubble(p, m)


def test_zero_memory_formulas():
    P, dp = 1e9, 8
    z0 = zero_memory_bytes(P, dp, 0)
    assert sum(z0.values()) == pytest.approx(16 * P)  # 2 + 2 + 12 bytes/param (Rajbhandari et al. 2020)
    z1 = zero_memory_bytes(P, dp, 1)
    assert sum(z1.values()) == pytest.approx(4 * P + 12 * P / dp)
    z2 = zero_memory_bytes(P, dp, 2)
    assert sum(z2.values()) == pytest.approx(2 * P + 14 * P / dp)
    z3 = zero_memory_bytes(P, dp, 3)
    assert sum(z3.values()) == pytest.approx(16 * P / dp)


def test_korthikanti_activation_bytes():
    s, b, h, a, t = 2048, 1, 12288, 96, 8
    # Korthikanti et al. 2022 Table 2: sbh(34 + 5as/h) / t with TP + sequence parallelism
    assert activation_bytes_per_layer(s, b, h, a, t) == pytest.approx(s * b * h * (34 + 5 * a * s / h) / t)
    assert activation_bytes_per_layer(s, b, h, a, t, "selective") == pytest.approx(s * b * h * 34 / t)
    assert activation_bytes_per_layer(s, b, h, a, 1, sequence_parallel=False) == pytest.approx(s * b * h * (34 + 5 * a * s / h))
    assert activation_bytes_per_layer(s, b, h, a, t, "full") == pytest.approx(2 * s * b * h / t)


def test_model_flops_6N():
    from tapeout.workloads.llm_config import load_llm

    cfg = load_llm("gpt3-175b")
    f = model_flops_per_token(cfg, 2048)
    assert f == pytest.approx(6 * cfg.param_count() + 6 * 96 * 96 * 128 * 2048)
    assert model_flops_per_token(cfg, 2048, lora=True) < f


def test_train_fits_memory_and_reports_fields():
    r = train("llama-3.1-8b", "h100-sxm", 8, 64 * 4096, 4096, "bf16")
    assert 0 < r.mfu < 1 and r.memory_gib_per_chip <= r.capacity_gib_per_chip
    assert r.tokens_per_s == pytest.approx(r.global_batch_tokens / r.step_time_s)


def test_recompute_saves_memory_costs_time():
    base = dict(model="llama-3.1-8b", chip="h200", num_chips=8, global_batch_tokens=64 * 2048, seq_len=2048,
                precision="bf16")
    rs = {rc: train(layout=TrainLayout(tp=4, pp=1, dp=2, mbs=1, recompute=rc), **base) for rc in ("none", "selective", "full")}
    # attention is a fused kernel: without recompute nothing beyond what selective recompute keeps
    # is stored (no a s^2 scores), so selective only costs time
    assert rs["full"].memory_gib_per_chip < rs["selective"].memory_gib_per_chip == pytest.approx(rs["none"].memory_gib_per_chip)
    assert rs["full"].step_time_s > rs["selective"].step_time_s > rs["none"].step_time_s


def test_fused_attention_drops_the_score_term():
    s, b, h, a, t = 8192, 1, 8192, 64, 4
    assert activation_bytes_per_layer(s, b, h, a, t, fused_attention=True) == pytest.approx(s * b * h * 34 / t)


def test_lora_frozen_weights_shard_under_zero3_and_quantize_under_fp8():
    """LoRA: frozen base weights are 2 bytes each in BF16, split over DP under ZeRO-3, and 1 byte
    as FP8 parameters (NeMo fp8_params) under the FP8 recipe."""
    kw = dict(model="llama-2-70b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              lora=True, tp=1, pp=1, cp=1, mbs=1, recompute="full")
    z1 = train(precision="bf16", zero=1, **{**kw, "tp": 8})
    z3 = train(precision="bf16", zero=3, **kw)
    params = z1.breakdown["params_dense"]  # per TP8 rank = whole model / 8
    assert z1.breakdown["mem_weights"] == pytest.approx(2.0 * params)
    assert z3.breakdown["mem_weights"] == pytest.approx(2.0 * z3.breakdown["params_dense"] / 8)
    f8 = train(precision="fp8", zero=1, **{**kw, "tp": 8})
    assert f8.breakdown["mem_weights"] == pytest.approx(1.0 * params)


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([8, 16, 32, 64]))
def test_more_chips_more_throughput(n):
    a = train("llama-3.1-8b", "h100-sxm", n, 256 * 4096, 4096, "bf16")
    b = train("llama-3.1-8b", "h100-sxm", 2 * n, 256 * 4096, 4096, "bf16")
    assert b.tokens_per_s > a.tokens_per_s


def test_train_cli_json_keys(capsys):
    from tapeout.cli import main

    main(["train", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--num-chips", "8", "--global-batch-tokens", "262144",
          "--seq-len", "4096", "--precision", "bf16", "--json"])
    d = json.loads(capsys.readouterr().out)
    for k in ("step_time_s", "tokens_per_s", "mfu", "memory_gib_per_chip", "parallelism"):
        assert k in d


def test_train_benchmark_preset_minutes(capsys):
    from tapeout.cli import main

    main(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "--num-chips", "512", "--precision", "fp8", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["time_to_train_min"] > 0
    bd = d["breakdown"]
    # time-to-train = training + the evaluation passes MLPerf counts (every 24,576 samples)
    assert d["time_to_train_min"] == pytest.approx(bd["train_min"] + bd["eval_min"])
    # one evaluation per 24,576 samples up to the convergence point of the run's batch (its RCP, rcps.yaml)
    assert bd["eval_min"] > 0 and bd["n_evals"] == int(d["global_batch"]["convergence"]["samples_to_converge"] // 24576)


def test_residual_adds_cost_at_least_their_bytes():
    """Megatron-Core's two residual adds per layer (read 2, write 1 of the T/TP x h bf16 shard),
    forward and backward, take at least their bytes over the chip's HBM bandwidth (3.35 TB/s, H100 SXM)."""
    r = train("llama-2-70b", "h100-sxm", 8, 8 * 4096, 4096, "bf16", lora=True, tp=4, pp=1, cp=1, zero=0, mbs=1)
    m = r.breakdown["m"]
    bytes_step = m * 2 * 80 * 2 * (3 * 2 * 4096 * 8192 / 4)  # micro-batches x fwd+bwd x layers x adds x bytes
    assert r.breakdown["residual_add"] >= bytes_step / 3.35e12
    assert r.breakdown["residual_add"] < 0.1 * r.step_time_s
