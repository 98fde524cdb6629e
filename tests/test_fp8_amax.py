"""FP8 delayed scaling's amax all-reduce (perf/fp8_amax.py, stack/config feature fp8_reduce_amax)."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.perf.collectives import collective_time, topology_for_chip
from tapeout.perf.fp8_amax import AMAX_PER_LAYER, amax_allreduce_per_step
from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import TrainLayout, train

TOPO = topology_for_chip("h100-sxm")


def test_two_blocking_all_reduces_per_chunk_per_slot():
    # closed form: slots x 2 (forward exit, backward) x vp chunks x one latency-bound all-reduce
    t = float(collective_time("all_reduce", 4.0 * AMAX_PER_LAYER * 3, 64, TOPO)[0])
    assert amax_allreduce_per_step(8 + 7 / 4, 4, 3, 64, TOPO) == pytest.approx((8 + 7 / 4) * 2 * 4 * t)
    assert amax_allreduce_per_step(5, 1, 80, 1, TOPO) == 0.0  # one rank: nothing to reduce


def test_latency_bound_and_growing_with_the_group():
    small = amax_allreduce_per_step(1, 1, 80, 8, TOPO)
    big = amax_allreduce_per_step(1, 1, 80, 1024, TOPO)
    assert 0 < small < big < 2e-3  # a few kB: microseconds to a fraction of a millisecond per pair


def test_bad_schedule_names_the_field():
    with pytest.raises(TapeoutError, match="slots"):
        amax_allreduce_per_step(0, 1, 80, 8, TOPO)


BASE = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=16 * 8192, seq_len=8192,
            lora=LoraAdapters(16), layout=TrainLayout(tp=4, pp=1, dp=16, zero=0))


def test_train_adds_the_term_under_delayed_scaling_only():
    off, on = train(precision="fp8", **BASE), train(precision="fp8", fp8_reduce_amax=True, **BASE)
    b = on.breakdown
    want = amax_allreduce_per_step(b["m"], 1, 32, 64, TOPO)  # PP1: m slots; 32 layers; TP4 x DP16 ranks
    assert b["exposed_comm_s"]["fp8_amax_all_reduce"] == pytest.approx(want) and want > 0
    assert on.step_time_s - off.step_time_s == pytest.approx(want, rel=1e-9)
    # no FP8 delayed-scaling recipe, no amax to reduce
    assert train(precision="bf16", fp8_reduce_amax=True, **BASE).breakdown["exposed_comm_s"]["fp8_amax_all_reduce"] == 0.0


def test_unwired_stack_feature_does_not_act_but_a_submission_pin_does():
    st = find_stack("NeMo Framework Release 23.09", "v3.1")
    assert st.value("fp8_reduce_amax") is True and "fp8_reduce_amax" in st.unwired()
    assert "fp8_reduce_amax" not in stack_settings(st, {}, {}, False)[1]
    lora = find_stack("NeMo Framework Release 24.04", "v4.0")
    assert stack_settings(lora, {}, {"fp8_reduce_amax": True}, False)[1]["fp8_reduce_amax"] is True


def test_lora_configs_that_set_fp8_reduce_amax_reach_the_run():
    from tapeout.validation.train_rows import run_settings, submission_layout

    row = {"accelerator": "NVIDIA H100-SXM5-80GB", "software": "NeMo NVIDIA Release 24.04",
           "workload": "MLPerf Training v4.0 llama2_70b_lora", "notes": ""}
    # config_DGXH100_128x8x1 / HPE 2x8 / Supermicro 8x8x1 (NVIDIA's 8-node recipe) True; 1x8 False
    for n, want in ((1024, True), (64, True), (16, True), (8, None)):
        pins = submission_layout("llama2-70b-lora", row, "h100-sxm", n)
        assert run_settings(pins).get("fp8_reduce_amax") is want


def test_lora_cp2_amax_cost_per_step_does_not_shrink_with_chips():
    """The Llama-2-70B LoRA CP2 configs (TP4 CP2, one micro-batch per replica at 64 and 1,024 H100): the amax
    all-reduce is a fixed cost per micro-batch slot over the stage's TP x DP x CP ranks, so at the same
    per-replica work it grows with the chips (latency over a larger group), and it is exactly the closed form."""
    lora = LoraAdapters(16, ("qkv_proj", "o_proj"), 0.1)
    cost = {}
    for n in (64, 1024):
        r = train("llama-2-70b", "h100-sxm", n, n // 8 * 8192, 8192, "fp8", lora=lora, tp=4, pp=1, cp=2, mbs=1, zero=0,
                  recompute="none", fp8_reduce_amax=True)
        b = r.breakdown
        assert b["m"] == 1
        want = amax_allreduce_per_step(1, 1, 80, n, TOPO)  # TP4 x DP x CP2 = all n ranks
        assert b["exposed_comm_s"]["fp8_amax_all_reduce"] == pytest.approx(want) and want > 0
        cost[n] = want
    assert cost[1024] >= cost[64]
