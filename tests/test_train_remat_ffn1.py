"""MaxText's save_dot_except_logits_ffn1 / save_dot_except_mlpwi remat policy (recompute "dots-except-ffn1"):
what it keeps (every projection output but FFN1's, plus the scanned layer's input), what its backward reruns
(dots' reruns plus the FFN1 GEMM), and Google's MLPerf v4.0 GPT-3 TPU v5p layouts that ran it
(v5p-2048.sh / v5p-3072.sh: TP8, FSDP 16, 16 sequences per TP group, int8)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.train_layout import DOTS_EXCEPT_FFN1, RECOMPUTE, SEARCHED_RECOMPUTE, TrainLayout, candidate_layouts
from tapeout.perf.train_memory import device_memory, device_params, dot_output_bytes_per_token
from tapeout.workloads.llm_config import LLMConfig, load_llm

GIB = 2 ** 30


def test_policy_keeps_the_dots_but_ffn1():
    # GPT-3 (MHA, GELU 4h): layer input 2; Q, K, V 3 x 2, out-projection 2, FC2 output 2 = 2 + 10 bytes per token
    # per h; dots also keeps FC1's 4h output (2 + 18)
    cfg = load_llm("gpt3-175b")
    assert dot_output_bytes_per_token(cfg, ffn1=False) == pytest.approx((2.0, 10.0))
    assert dot_output_bytes_per_token(cfg) == pytest.approx((2.0, 18.0))


def test_pinned_never_searched():
    assert DOTS_EXCEPT_FFN1 in RECOMPUTE and DOTS_EXCEPT_FFN1 not in SEARCHED_RECOMPUTE
    cands, _ = candidate_layouts(load_llm("llama-3.1-8b"), 64, 8, 512, 8192, {})
    assert cands and all(lay.recompute != DOTS_EXCEPT_FFN1 for lay in cands)


def _submitted(recompute):
    # v5p-2048.sh: ici_data 8 x ici_fsdp 16 x ici_tensor 8 = 1,024 chips, per_device_batch_size 2: GBS 2048,
    # 2048 / (8 x 16) = 16 sequences per TP group, one micro-batch
    return TrainLayout(tp=8, pp=1, dp=128, mbs=16, zero=3, shard=16, recompute=recompute)


def test_submitted_layout_closed_form():
    cfg = load_llm("gpt3-175b")
    s, b, h, L, V = 2048, 16, 12288, 96, cfg.vocab_size
    mem = device_memory(cfg, _submitted(DOTS_EXCEPT_FFN1), [L], m=1, s_local=s)
    P = device_params(cfg, _submitted(DOTS_EXCEPT_FFN1), L, True, True)[0]  # one TP rank's parameters
    assert P == pytest.approx(175e9 / 8, rel=0.01)
    # 2 B weight + 4 B FP32 gradient + 12 B Adam states and master, all sharded 16 ways (ZeRO-3 over the FSDP axis)
    assert mem["mem_weights"] + mem["mem_grads"] + mem["mem_optimizer"] == pytest.approx(18.0 * P / 16)
    # 12 bytes per token per h, split 8 ways (MaxText shards activation_embed / heads / mlp over 'tensor'), 96 layers
    assert mem["act"] == pytest.approx(L * s * b * h * 12.0 / 8)
    assert mem["logits"] == pytest.approx(4.0 * b * s * V / 8)
    assert mem["mem"] / GIB == pytest.approx(77.6, abs=0.1)
    # MaxText's own states (fp32_params: FP32 parameters as the master, Adam moments FP32): 4 + 4 + 8 = 16 B
    mx = device_memory(cfg, _submitted(DOTS_EXCEPT_FFN1), [L], m=1, s_local=s, fp32_params=True)
    assert (mx["mem_weights"], mx["mem_grads"], mx["mem_optimizer"]) == pytest.approx((4 * P / 16, 4 * P / 16, 8 * P / 16))
    assert mem["mem"] - mx["mem"] == pytest.approx(2.0 * P / 16)


def test_fp32_param_states_switch(monkeypatch):
    from tapeout.perf import train_memory

    assert train_memory.state_bytes(True) == (4.0, 8.0) and train_memory.state_bytes(False) == (2.0, 12.0)
    assert train_memory.states_held_once(1e9, fp32_params=True) == pytest.approx(16e9)
    assert train_memory.states_held_once(1e9) == pytest.approx(18e9)
    monkeypatch.setattr(train_memory, "FP32_PARAM_STATES", False)
    assert train_memory.state_bytes(True) == (2.0, 12.0)


def test_the_submitted_policy_fits_and_dots_does_not():
    # the run's own policy fits the 94.5 usable GiB of a 95 GiB v5p (xla-tpu reserve: 0.5 GiB context, no
    # allocator fragmentation); dots, which also keeps FC1's output, does not (the run did not use it)
    # (either state count); v5p-1024.sh's 32 sequences per TP group (FSDP 64) do not fit the ffn1 policy, and that
    # script ran full
    cfg = load_llm("gpt3-175b")
    usable = 94.5 * GIB
    for fp32 in (False, True):
        assert device_memory(cfg, _submitted(DOTS_EXCEPT_FFN1), [96], m=1, s_local=2048, fp32_params=fp32)["mem"] < usable
        assert device_memory(cfg, _submitted("dots"), [96], m=1, s_local=2048, fp32_params=fp32)["mem"] > usable
        lay512 = TrainLayout(tp=8, pp=1, dp=64, mbs=32, zero=3, recompute=DOTS_EXCEPT_FFN1)
        assert device_memory(cfg, lay512, [96], m=1, s_local=2048, fp32_params=fp32)["mem"] > usable


@settings(max_examples=40, deadline=None)
@given(a=st.sampled_from([8, 16, 32]), ffn_mult=st.sampled_from([2, 3, 4]), gated=st.booleans(),
       tp=st.sampled_from([1, 2, 4, 8]), shard=st.sampled_from([2, 4, 8, 16]), mbs=st.sampled_from([1, 2, 8]))
def test_memory_monotone_in_the_saved_set_and_the_sharding(a, ffn_mult, gated, tp, shard, mbs):
    h = 128 * a
    cfg = LLMConfig(hidden_size=h, num_hidden_layers=8, num_attention_heads=a, intermediate_size=ffn_mult * h,
                    vocab_size=32000, mlp_type="swiglu" if gated else "gelu")

    def mem(rc, sh=shard):
        lay = TrainLayout(tp=tp, pp=1, dp=64, mbs=mbs, zero=3, shard=sh, recompute=rc)
        return device_memory(cfg, lay, [8], m=1, s_local=2048)["mem"]

    # full keeps the layer input only; the ffn1 policy adds Q K V, out-proj and FC2 outputs; dots FC1's too
    assert mem("full") < mem(DOTS_EXCEPT_FFN1) < mem("dots")
    assert mem(DOTS_EXCEPT_FFN1) - mem("full") == pytest.approx(
        8 * 2048 * mbs * h * (2.0 * (3 + 1 + 1)) / tp)
    # a wider FSDP shard group never adds memory
    assert mem(DOTS_EXCEPT_FFN1, 2 * shard) < mem(DOTS_EXCEPT_FFN1)


def test_ffn1_policy_reruns_fc1_between_dots_and_full():
    # the same pinned run under each policy: the backward reruns dots' work plus the FC1 GEMM, less than the
    # whole forward; the forward itself does not change
    from tapeout import api

    kw = dict(model="gpt3-175b", chip="tpu-v5p", num_chips=6144, global_batch_tokens=6144 * 2048,
              benchmark="gpt3-175b", tp=8, pp=1, mbs=8, zero=3, shard=48, stack="maxtext-2024-04", precision="int8")
    r = {rc: api.train(**kw, recompute=rc).to_dict() for rc in ("dots", DOTS_EXCEPT_FFN1, "full")}
    step = {rc: d["step_time_s"] for rc, d in r.items()}
    assert step["dots"] < step[DOTS_EXCEPT_FFN1] < step["full"]
    assert r["dots"]["breakdown"]["F"] == pytest.approx(r[DOTS_EXCEPT_FFN1]["breakdown"]["F"])
    # FC1 is 4 h^2 of the layer's 12 h^2 GEMM work per token: about a third of the forward GEMMs again
    extra = step[DOTS_EXCEPT_FFN1] - step["dots"]
    assert 0.15 * (step["full"] - step["dots"]) < extra < 0.6 * (step["full"] - step["dots"])


def test_v5p_rows_run_the_submitted_policy(monkeypatch):
    from tapeout.validation import train_rows

    row = {"workload": "MLPerf Training v4.0 gpt3", "software": "maxtext", "accelerator": "Google TPU v5p"}
    for n in (1024, 1536):
        assert train_rows.submission_layout("gpt3-175b", row, "tpu-v5p", n)["recompute"] == DOTS_EXCEPT_FFN1
    # the 512-chip script ran remat_policy=full, the 6,144 one save_dot_except_logits (priced dots)
    assert train_rows.submission_layout("gpt3-175b", row, "tpu-v5p", 512)["recompute"] == "full"
    assert train_rows.submission_layout("gpt3-175b", row, "tpu-v5p", 6144)["recompute"] == "dots"
    monkeypatch.setattr(train_rows, "SUBMITTED_FFN1_POLICY", False)
    assert "recompute" not in train_rows.submission_layout("gpt3-175b", row, "tpu-v5p", 1024)


def test_maxtext_stack_sets_fp32_params():
    from tapeout.perf.train_stack import named_stack, stack_settings

    _, settings, _ = stack_settings(named_stack("maxtext-2024-04"), {}, {}, False)
    assert settings["fp32_params"] is True
    _, nemo, _ = stack_settings(named_stack("nemo-24.04"), {}, {}, False)
    assert "fp32_params" not in nemo
