"""Activation memory in flight on each pipeline device, against Megatron-Core's schedules
(megatron/core/pipeline_parallel/schedules.py) and Narayanan et al. SC'21, and the per-device
memory of the Llama-3.1-405B case at Meta's layout (TP8 PP16 DP128, Llama 3 paper Table 4)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.train_layout import TrainLayout, stage_layers
from tapeout.perf.train_memory import device_memory, in_flight_passes
from tapeout.workloads.llm_config import LLMConfig, load_llm

GIB = 2 ** 30


def test_1f1b_keeps_pp_minus_rank():
    # warm-up min(pp - d - 1, m) forwards, then one forward before each backward
    assert [in_flight_passes(4, 1, 8, d) for d in range(4)] == [4, 3, 2, 1]
    assert in_flight_passes(16, 1, 3, 0) == 3  # fewer micro-batches than stages: all of them


def test_interleaved_first_device_is_narayanans_factor():
    # m >= 2 pp: first device = pp (1F1B) x (1 + (pp - 1)/(pp vp))
    for pp, vp in ((4, 2), (8, 8), (16, 6)):
        assert in_flight_passes(pp, vp, 4 * pp, 0) == pytest.approx(pp * (1 + (pp - 1) / (pp * vp)))


def test_interleaved_later_devices_by_hand():
    # pp 8, vp 8, m 16, device 1: warm-up 2 x 6 + 7 x 8 = 68 chunk forwards, +1 = 69 chunks of 1/8 device
    assert in_flight_passes(8, 8, 16, 1) == pytest.approx(69 / 8)
    # last device: (vp - 1) pp warm-up chunks + 1
    assert in_flight_passes(8, 8, 16, 7) == pytest.approx((7 * 8 + 1) / 8)
    # Meta's m = pp = 16 at vp 6: the first device runs all 16 x 6 chunk forwards first
    assert in_flight_passes(16, 6, 16, 0) == 16
    # a smaller micro-batch group N (microbatch_group_size_per_vp_stage) keeps fewer in flight
    assert in_flight_passes(16, 6, 16, 0, group=8) == pytest.approx((30 + 5 * 8 + 1) / 6)


@settings(max_examples=60, deadline=None)
@given(pp=st.integers(2, 32), vp=st.integers(1, 8), m=st.integers(1, 128), group=st.one_of(st.none(), st.integers(1, 32)))
def test_in_flight_bounds(pp, vp, m, group):
    f = [in_flight_passes(pp, vp, m, d, group) for d in range(pp)]
    assert all(a >= b for a, b in zip(f, f[1:]))  # earlier devices never hold fewer
    assert all(0 < x <= m for x in f)  # never more than the step's micro-batches
    if vp > 1 and group is None:  # interleaving never holds less than 1F1B on the first device
        assert f[0] >= in_flight_passes(pp, 1, m, 0)


def test_405b_at_metas_layout_by_hand():
    """TP8 PP16 DP128, 8k tokens, m = 2048 / 128 = 16 micro-batches of one sequence."""
    cfg = load_llm("llama-3.1-405b")
    per_layer = 31.75 * 8192 * 16384 / 8  # Korthikanti count for Llama shapes, SP over TP8
    # VP1: device 1 (8 layers, 15 in flight) is the worst; device 0 has one layer fewer (Llama 3 Sec. 3.3.2)
    lay = TrainLayout(tp=8, pp=16, dp=128, recompute="none")
    mem = device_memory(cfg, lay, stage_layers(126, 16), m=16, s_local=8192)
    assert mem["device"] == 1 and mem["act"] == pytest.approx(per_layer * 8 * 15)
    # the device's BF16 weights, FP32 main grads, FP32 master + Adam m, v over DP128
    assert mem["mem_grads"] == pytest.approx(2 * mem["mem_weights"])
    assert mem["mem_optimizer"] == pytest.approx(12 * mem["params_dense"] / 128)
    # per chip: the body (no embeddings, no final norm) / 126 layers x 8 layers / TP8 = body / 126
    assert mem["params_dense"] * 126 == pytest.approx(cfg.param_count() - 2 * 128256 * 16384 - 16384, rel=1e-9)
    # VP6: m = pp, every forward first on device 0: all 16 micro-batches of its 8 layers
    lay6 = TrainLayout(tp=8, pp=16, dp=128, vp=6, recompute="none")
    mem6 = device_memory(cfg, lay6, stage_layers(126, 16, 6), m=16, s_local=8192)
    assert mem6["act"] == pytest.approx(per_layer * 8 * 16)


def test_last_device_keeps_one_micro_batch_of_fp32_softmax():
    cfg = LLMConfig(hidden_size=1024, num_hidden_layers=4, num_attention_heads=8, intermediate_size=4096,
                    vocab_size=32000, mlp_type="gelu")
    lay = TrainLayout(tp=2, pp=1, dp=1, mbs=2, recompute="full")
    mem = device_memory(cfg, lay, [4], m=8, s_local=2048)
    assert mem["logits"] == pytest.approx(2 * 2048 * 32000 / 2 * 4.0)


def test_embedding_and_loss_chunks_count_in_the_split():
    # Megatron-Core account_for_embedding/loss_in_pipeline_split: 126 layers + 2 = 128 = PP16 x V8, the
    # first virtual stage only the embedding, the last only the output layer (Llama 3 Sec. 3.3.2)
    from tapeout.perf.train_layout import broken_rule

    cfg = load_llm("llama-3.1-405b")
    ok = TrainLayout(tp=8, pp=16, dp=128, vp=8, recompute="none")
    assert broken_rule(cfg, ok, 16384, 2048, 8192, 8) is None
    assert stage_layers(126, 16, 8) == [7] + [8] * 14 + [7]
    too_deep = TrainLayout(tp=8, pp=16, dp=128, vp=9, recompute="none")
    assert broken_rule(cfg, too_deep, 16384, 2048, 8192, 8).startswith("layers")
