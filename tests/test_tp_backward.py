"""Backward TP collectives without userbuffers (perf/tp_backward.py): the async schedule of
Transformer Engine 1.x / Megatron-Core, in closed form."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.sequence_parallel import TPComm
from tapeout.perf.tp_backward import backward_tp_exposed

C = {"attn_allreduce": TPComm.halves(4.0), "mlp_allreduce": TPComm.halves(6.0)}  # BF16: every part c/2


def test_sequence_parallel_long_gemms_leave_only_the_dy_gathers():
    g = {"qkv_proj": 100.0, "mlp_gate_up": 100.0}
    # row-parallel dY all-gather (c/2) blocking; RS behind wgrad and re-gather behind dgrad hidden
    assert backward_tp_exposed(g, C, True, True) == pytest.approx(2.0 + 3.0)


def test_sequence_parallel_without_gemm_time_exposes_three_halves():
    # dY all-gather + dgrad reduce-scatter + the wgrad input re-gather, none hidden: 3 c / 2
    assert backward_tp_exposed({}, C, True, True) == pytest.approx(1.5 * 10.0)


def test_frozen_weights_wait_for_the_reduce_scatter_and_skip_the_regather():
    g = {"qkv_proj": 100.0, "mlp_gate_up": 100.0}
    assert backward_tp_exposed(g, C, True, False) == pytest.approx(10.0)  # c/2 + c/2 per block
    assert backward_tp_exposed(g, C, False, False) == pytest.approx(10.0)  # the dgrad all-reduce, waited


def test_no_sequence_parallel_one_allreduce_per_block_behind_wgrad():
    assert backward_tp_exposed({"qkv_proj": 1.0, "mlp_gate_up": 2.0}, C, False, True) == pytest.approx(3.0 + 4.0)
    assert backward_tp_exposed({"qkv_proj": 9.0, "mlp_gate_up": 9.0}, C, False, True) == 0.0


def test_cta_share_charges_the_hidden_collectives():
    g = {"qkv_proj": 100.0, "mlp_gate_up": 100.0}
    s = 0.1
    # hidden collectives still take s of the cores for their duration (perf/comm_contention)
    assert backward_tp_exposed(g, C, True, True, s) == pytest.approx(5.0 + 2 * s * 5.0)


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 50), st.floats(0, 50), st.floats(0, 20), st.floats(0, 20), st.booleans())
def test_bounds(gq, gm, ca, cm, sp):
    g, c = {"qkv_proj": gq, "mlp_gate_up": gm}, {"attn_allreduce": TPComm.halves(ca), "mlp_allreduce": TPComm.halves(cm)}
    t = backward_tp_exposed(g, c, sp, True)
    frozen = backward_tp_exposed(g, c, sp, False)
    assert 0.0 <= t <= 1.5 * (ca + cm) + 1e-9
    # trained weights never expose more than frozen ones plus the re-gather the wgrad needs (c/2 each)
    assert t <= frozen + (0.5 * (ca + cm) if sp else 0.0) + 1e-9
    assert frozen == pytest.approx(ca + cm)
