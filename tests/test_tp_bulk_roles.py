"""Transformer Engine's bulk userbuffers slot roles (perf/tp_overlap.py BULK_SLOT_ROLES): `{qkv,fc1}_dgrad` is the
saved norm output's all-gather beside the dgrad GEMM, `{qkv,fc1}_wgrad` the dgrad reduce-scatter beside the wgrad
GEMM, each on its own slot's SMs (TE 1.x layernorm_linear.py _LayerNormLinear.backward)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeout.perf.tp_overlap as tpo
from tapeout.errors import TapeoutError
from tapeout.perf.sequence_parallel import TPComm
from tapeout.perf.tp_overlap import TPOverlap, bulk_wgrad_slot, get_overlap, region_time


@pytest.mark.parametrize("name, qkv_w, fc1_w, qkv_d, fc1_d", [
    # the submissions' own files (mlcommons/training_results_v3.0 NVIDIA_CoreWeave h100tp4pp8mbs1_tp_comm_overlap_cfg.yaml,
    # v3.1 NVIDIA conf/tp_overlap/h100tp4pp8mbs1.yaml, v4.0 NVIDIA conf/tp_overlap/h100tp4mbs2.yaml)
    ("nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.0", 8, 4, 4, 2),
    ("nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.1", 8, 4, 4, 2),
    ("nemo-gpt3-fp8-h100-tp4", 4, 4, 4, 4),
])
def test_each_stacks_bulk_slots_are_read_from_its_file(name, qkv_w, fc1_w, qkv_d, fc1_d):
    ov = get_overlap(name)
    assert bulk_wgrad_slot(ov, "qkv_dgrad") == ("bulk", qkv_w, 0)
    assert bulk_wgrad_slot(ov, "fc1_dgrad") == ("bulk", fc1_w, 0)
    assert ov.slot("qkv_dgrad")[:2] == ("bulk", qkv_d) and ov.slot("fc1_dgrad")[:2] == ("bulk", fc1_d)
    assert bulk_wgrad_slot(ov, "proj_dgrad") is None  # a row-parallel GEMM has no bulk pair


def test_configs_without_a_wgrad_slot_keep_the_older_reading():
    for name in ("nemo-lora-fp8-h100-tp4", "nemo-lora-fp8-h100-tp2"):
        ov = get_overlap(name)
        assert bulk_wgrad_slot(ov, "qkv_dgrad") is None and bulk_wgrad_slot(ov, "fc1_dgrad") is None


def _bulk_ov(sm_d: int, sm_w: int, wgrad_slot: bool = True) -> TPOverlap:
    slots = [("fc1_dgrad", "bulk", sm_d, 0)] + ([("fc1_wgrad", "bulk", sm_w, 0)] if wgrad_slot else [])
    return TPOverlap("t", ag=False, rs=False, rs_dgrad=False, qkv=False, slots=tuple(slots), bulk=True)


GEMM = {"mlp_gate_up": 1.0}


def test_closed_form_of_the_two_bulk_collectives():
    # 8 of 128 SMs for the all-gather beside the dgrad GEMM, 16 for the reduce-scatter beside the wgrad GEMM
    coll = {"mlp_allreduce": TPComm(reduce_scatter=0.3, gather_input=0.2, gather_grad=0.0)}
    assert region_time(GEMM, coll, _bulk_ov(8, 16), 4, 128, True) == pytest.approx(1 / (1 - 8 / 128) + 1 / (1 - 16 / 128))
    # a collective longer than its GEMM is what stands
    slow = {"mlp_allreduce": TPComm(reduce_scatter=3.0, gather_input=2.0, gather_grad=0.0)}
    assert region_time(GEMM, slow, _bulk_ov(8, 16), 4, 128, True) == pytest.approx(5.0)
    # no _wgrad slot: dgrad, then the wgrad beside the reduce-scatter on the _dgrad slot's SMs
    assert region_time(GEMM, coll, _bulk_ov(8, 16, False), 4, 128, True) == pytest.approx(1 + 1 / (1 - 8 / 128))


def test_the_switch_off_restores_the_older_reading(monkeypatch):
    coll = {"mlp_allreduce": TPComm(reduce_scatter=0.3, gather_input=0.2, gather_grad=0.0)}
    monkeypatch.setattr(tpo, "BULK_SLOT_ROLES", False)
    assert region_time(GEMM, coll, _bulk_ov(8, 16), 4, 128, True) == pytest.approx(1 + 1 / (1 - 8 / 128))


def test_lora_has_no_wgrad_gemm_to_hide_behind():
    coll = {"mlp_allreduce": TPComm(reduce_scatter=0.3, gather_input=0.2, gather_grad=0.0)}
    assert region_time(GEMM, coll, _bulk_ov(8, 16), 4, 128, True, lora=True) == pytest.approx(1.3)


def test_a_wgrad_slot_with_half_the_chip_is_bad_input():
    coll = {"mlp_allreduce": TPComm(reduce_scatter=0.3, gather_input=0.2, gather_grad=0.0)}
    with pytest.raises(TapeoutError, match="fc1_wgrad"):
        region_time(GEMM, coll, _bulk_ov(8, 64), 4, 128, True)


pos = st.floats(min_value=1e-6, max_value=1.0)
sms = st.integers(min_value=0, max_value=60)


@settings(max_examples=200, deadline=None)
@given(g=pos, a=pos, c=pos, sd=sms, sw=sms, more=st.integers(min_value=0, max_value=3))
def test_bulk_pair_lies_between_hidden_and_serial_and_grows_with_the_wgrad_slots_sms(g, a, c, sd, sw, more):
    coll = {"mlp_allreduce": TPComm(reduce_scatter=c, gather_input=a, gather_grad=0.0)}
    t = region_time({"mlp_gate_up": g}, coll, _bulk_ov(sd, sw), 4, 128, True)
    assert t >= max(g, a) + max(g, c) - 1e-12  # never faster than the slower stream of each pair
    assert t <= g / (1 - sd / 128) + a + g / (1 - sw / 128) + c + 1e-12  # never slower than serial
    t2 = region_time({"mlp_gate_up": g}, coll, _bulk_ov(sd, sw + more), 4, 128, True)
    assert t2 >= t - 1e-12  # more SMs taken from the wgrad GEMM never makes it faster
