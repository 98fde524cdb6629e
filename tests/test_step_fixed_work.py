"""perf/step_fixed_work.py: NeMo's per-step work outside the pipeline schedule on the Apex DistributedFusedAdam stacks
(gradient-buffer zeroing, the grad norm's world all-reduce, each micro-batch's loss averaged over DP)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tapeout.perf.step_fixed_work as sfw
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for_chip
from tapeout.perf.training import clear_cache, train

APEX = {"kind": "apex", "cap_mb": 100, "channels": 4, "nccl_group": "balanced"}
# GPT-3 175B at NVIDIA's v3.1 10,752-chip layout (TP4 PP8 VP12, m 8), BF16 gradients as the NeMo stacks sync them
V31 = dict(model="gpt3-175b", chip="h100-sxm", num_chips=10752, global_batch_tokens=2688 * 2048, seq_len=2048,
           precision="fp8", tp=4, pp=8, vp=12, mbs=1, zero=1, grad_sync="bf16")


def test_zero_grad_closed_form():
    # GPT-3 175B / (TP4 x PP8) = 5.47e9 parameters x 2 B (BF16 grad_sync_dtype) at 3 TB/s: 3.65 ms
    assert sfw.zero_grad_s(175e9 / 32, 2.0, 3.0e12) == pytest.approx(175e9 / 32 * 2 / 3e12)
    assert sfw.zero_grad_s(175e9 / 32, 2.0, 3.0e12) == pytest.approx(3.646e-3, rel=1e-3)
    with pytest.raises(ValueError):
        sfw.zero_grad_s(1.0, 2.0, 0.0)


def test_pieces_and_what_a_lora_or_zero0_run_keeps():
    w = sfw.step_fixed_work(8, True, 5e9, 2.0, 2.5e12, 2e-4, 1e-4)
    assert w.zero_grad_s == pytest.approx(4e-3) and w.grad_norm_s == 2e-4 and w.loss_average_s == pytest.approx(8e-4)
    assert w.total_s == pytest.approx(4e-3 + 2e-4 + 8e-4) and w.eval_s == pytest.approx(8e-4)
    lo = sfw.step_fixed_work(8, False, 5e9, 2.0, 2.5e12, 2e-4, 1e-4)  # no distributed optimizer: only the loss average
    assert lo.zero_grad_s == 0.0 and lo.grad_norm_s == 0.0 and lo.total_s == pytest.approx(8e-4)


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 512), params=st.floats(1e6, 1e11), gb=st.sampled_from([2.0, 4.0]),
       t_w=st.floats(0.0, 1e-2), t_dp=st.floats(0.0, 1e-2))
def test_invariants(m, params, gb, t_w, t_dp):
    w = sfw.step_fixed_work(m, True, params, gb, 3e12, t_w, t_dp)
    assert w.total_s >= sfw.step_fixed_work(m, False, params, gb, 3e12, t_w, t_dp).total_s
    assert sfw.step_fixed_work(m + 1, True, params, gb, 3e12, t_w, t_dp).total_s >= w.total_s  # more micro-batches
    assert sfw.step_fixed_work(m, True, 2 * params, gb, 3e12, t_w, t_dp).zero_grad_s == pytest.approx(2 * w.zero_grad_s)
    assert w.loss_average_s == pytest.approx(m * t_dp) and w.eval_s == w.loss_average_s


def test_only_the_apex_stacks_and_the_switch(monkeypatch):
    assert sfw.applies("apex") and not sfw.applies("megatron")
    monkeypatch.setattr(sfw, "STEP_FIXED_WORK", False)
    assert not sfw.applies("apex")


def test_wired_into_the_step_at_the_v31_layout(monkeypatch):
    on = train(**V31, dp_bucket=APEX)
    w = on.breakdown["step_fixed_work"]
    c = get_chip("h100-sxm")
    p = calibrated_params(c)
    topo = topology_for_chip(c)
    bw = float(np.max(p.mem_bw) * np.max(p.eff_mem))
    # the pieces as the module's sources state them, from the engine's own memory and collective models
    assert w["grad_norm_s"] == pytest.approx(float(collective_time("all_reduce", 4.0, 10752, topo)[0]))
    assert w["loss_average_s"] > 0.0 and w["eval_s"] == pytest.approx(w["loss_average_s"])
    # the buffer holds the device's whole stage in BF16: between the per-device dense share and twice it
    assert 175e9 / 32 * 2 / bw * 0.9 < w["zero_grad_s"] < 175e9 / 32 * 2 / bw * 1.2
    # Megatron-Core's own buckets (no apex rule): not this stack's training step, nothing added
    assert train(**V31).breakdown["step_fixed_work"]["total_s"] == 0.0
    monkeypatch.setattr(sfw, "STEP_FIXED_WORK", False)
    clear_cache()  # results are cached per call
    off = train(**V31, dp_bucket=APEX)
    assert off.breakdown["step_fixed_work"]["total_s"] == 0.0
    assert on.step_time_s - off.step_time_s == pytest.approx(w["total_s"], rel=1e-6)
    clear_cache()
