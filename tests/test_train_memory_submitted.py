"""Training memory against a layout that ran: NVIDIA's MLPerf Training v4.0 GPT-3 175B on 512 H100-SXM 80 GB
(config_DGXH100_64x8x128x4x8_mbs2.sh: TP4 PP8 VP4 MBS2, FP8, sequence parallel, Apex distributed Adam with
bf16 grad_sync_dtype, no recompute set), term by term from the documented allocations; the distributed-optimizer
bytes of Megatron-LM's table; monotonicity of the per-chip memory in the sharding; the TE FP8 weight-cache term."""

import pytest
from hypothesis import given, settings, strategies as st

import tapeout.perf.train_memory as tm
from tapeout.perf.train_layout import TrainLayout, stage_layers
from tapeout.perf.train_memory import device_memory, zero_memory_bytes
from tapeout.perf.train_reserve import training_reserve
from tapeout.workloads.llm_config import LLMConfig, load_llm

GIB = 2 ** 30


def _gpt3_v40_512():
    cfg = load_llm("gpt3-175b")
    lay = TrainLayout(tp=4, pp=8, dp=16, vp=4, mbs=2, zero=1, recompute="none")
    m = 2304 // (16 * 2)  # GBS 2304 (MINIBS 144 x DP 16) / (DP x MBS) = 72 micro-batches
    return cfg, lay, m


def test_gpt3_v40_submitted_layout_by_hand():
    cfg, lay, m = _gpt3_v40_512()
    s, b, h, t = 2048, 2, cfg.hidden_size, 4
    mem = device_memory(cfg, lay, stage_layers(96, 8, 4), m, s, grad_bytes=2.0, gemm_input_bytes=1.0)
    assert mem["device"] == 0  # the first device holds the most micro-batches in flight
    P = mem["params_dense"]
    # Apex DistributedFusedAdam (conf/optim/distributed_fused_adam.yaml: contiguous_param_buffer, contiguous_grad_buffer,
    # grad_sync_dtype bf16): BF16 params 2 B, bf16 grad buffer 2 B, FP32 master + Adam m, v 12 B sharded over DP 16
    assert (mem["mem_weights"], mem["mem_grads"], mem["mem_optimizer"]) == pytest.approx((2 * P, 2 * P, 12 * P / 16))
    # TE 1.x FP8, no dropout: Korthikanti's 34 less the 2 dropout masks, with the GEMM inputs saved in FP8: 27 sbh / t
    per_layer = 27 * s * b * h / t
    # Megatron-Core interleaved 1F1B, first stage: (pp - 1) x 2 + (vp - 1) x pp warm-up chunks + 1 = 39 chunks of 3 layers
    assert mem["act"] == pytest.approx(per_layer * 3 * ((8 - 1) * 2 + (4 - 1) * 8 + 1))
    # it ran: it fits what the CUDA runtime's reserve leaves of the H100's 79.15 GiB
    from tapeout.api.catalog import get_chip
    usable = training_reserve(lay, get_chip("h100-sxm")).usable(79.15 * GIB)
    assert mem["mem"] < usable


def test_the_v40_512_row_runs_its_submission_layout():
    import tapeout.validation.unmapped_benchmark  # noqa: F401  (registers the row mappers, as the validate CLI does)
    from tapeout.validation.harness import default_data, predict_row, read_rows
    row = next(r for r in read_rows(default_data()) if r["id"] == "TRN-v4.0-0083")
    d = predict_row(row).detail
    assert d["layout_source"] == "submission config"
    assert d["parallelism"].startswith("TP4 PP8(v4) DP16 mbs2") and "recompute=none" in d["parallelism"]


def test_distributed_optimizer_bytes_per_parameter():
    # Megatron-LM docs/source/api-guide/dist_optimizer.md: bf16 param, fp32 grads: 18 B without, 6 + 12/d with it
    P = 1e9
    for d in (1, 8, 64):
        assert sum(zero_memory_bytes(P, d, 1, grad_bytes=4.0).values()) == pytest.approx(P * (6 + 12 / d))
    assert sum(zero_memory_bytes(P, 8, 0, grad_bytes=4.0).values()) == pytest.approx(18 * P)


_small = LLMConfig(hidden_size=1024, num_hidden_layers=16, num_attention_heads=16, intermediate_size=4096,
                   vocab_size=32000, mlp_type="gelu")


@settings(max_examples=60, deadline=None)
@given(tp=st.sampled_from([1, 2, 4]), pp=st.sampled_from([1, 2, 4]), dp=st.sampled_from([1, 2, 4, 8]),
       zero=st.integers(0, 3), rc=st.sampled_from(["none", "selective", "full"]), gbs_mult=st.integers(2, 8))
def test_memory_never_grows_with_more_sharding(tp, pp, dp, zero, rc, gbs_mult):
    """At a fixed global batch, doubling TP, PP (1F1B) or DP never raises the busiest chip's memory: TP splits
    weights and (sequence parallel) activations, DP shards the ZeRO states and halves the micro-batches, and PP
    halves the layers a device holds while its in-flight micro-batches grow at most as pp - d."""
    gbs = 16 * gbs_mult  # sequences; m >= 2 pp for every layout below

    def mem(t, p, d):
        lay = TrainLayout(tp=t, pp=p, dp=d, mbs=1, zero=zero, recompute=rc)
        return device_memory(_small, lay, stage_layers(16, p), gbs // d, 2048)["mem"]

    base = mem(tp, pp, dp)
    assert mem(2 * tp, pp, dp) <= base * (1 + 1e-12)
    assert mem(tp, 2 * pp, dp) <= base * (1 + 1e-12)
    assert mem(tp, pp, 2 * dp) <= base * (1 + 1e-12)


def test_fp8_weight_cache_term():
    """TE 1.x keeps an FP8 copy and its FP8 transpose of each trained linear weight across micro-batches
    (get_fp8_weights_scratchpad / set_fp8_weights): 2 B per layer weight, none for the embedding / output layer,
    none under LoRA (frozen base weights), nothing when not asked (train_memory.FP8_WEIGHT_CACHE decides the ask)."""
    cfg, lay, m = _gpt3_v40_512()
    layers = stage_layers(96, 8, 4)
    plain = device_memory(cfg, lay, layers, m, 2048, grad_bytes=2.0, gemm_input_bytes=1.0)
    cached = device_memory(cfg, lay, layers, m, 2048, grad_bytes=2.0, gemm_input_bytes=1.0, weight_cache_bytes=2.0)
    body = tm.device_params(cfg, lay, layers[0], False, False)[0]
    assert "mem_weight_cache" not in plain
    assert cached["mem_weight_cache"] == pytest.approx(2.0 * body)
    assert cached["mem"] == pytest.approx(plain["mem"] + 2.0 * body)
    # 12 layers of 12 h^2 / TP4 (QKV, out-proj, FC1, FC2; biases and norms add < 0.1%)
    assert body == pytest.approx(12 * 12 * cfg.hidden_size ** 2 / 4, rel=2e-3)
    lora = device_memory(cfg, lay, layers, m, 2048, lora=True, weight_cache_bytes=2.0)
    assert "mem_weight_cache" not in lora
