"""ZeRO-0 DP gradient all-reduce after the whole backward (stack feature grad_sync_after_backward):
NeMo 1.x megatron_amp_O2 with the non-distributed optimizer all-reduces once after fwd_bwd_step
under sequence parallelism, so nothing hides it (docs/notes/issue-18.md, Round stop-22 issue-22sh)."""

import pytest

from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import TrainLayout, train

BASE = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=16 * 8192, seq_len=8192,
            precision="fp8", lora=LoraAdapters(16))


def test_nemo_24_04_stack_all_reduces_after_the_backward():
    st = find_stack("NeMo Framework Release 24.04", "v4.0")
    assert stack_settings(st, {}, {}, False)[1]["grad_sync_after_backward"] is True


@pytest.mark.parametrize("layout", [TrainLayout(tp=4, pp=1, dp=16, zero=0), TrainLayout(tp=2, pp=1, dp=16, cp=2, zero=0)])
def test_zero0_after_backward_exposes_the_whole_all_reduce(layout):
    hidden = train(layout=layout, **BASE)
    after = train(layout=layout, grad_sync_after_backward=True, **BASE)
    t_dp = hidden.breakdown["t_dp"]
    assert t_dp > 0
    # the all-reduce hides under the last backward when overlapped (t_dp << B here) ...
    assert hidden.breakdown["exposed_dp"] < t_dp
    # ... and is paid whole when it runs after the backward; nothing else in the step moves
    assert after.breakdown["exposed_dp"] == pytest.approx(t_dp, rel=1e-12)
    assert after.step_time_s - hidden.step_time_s == pytest.approx(t_dp - hidden.breakdown["exposed_dp"], rel=1e-9)
    assert after.breakdown["F"] == hidden.breakdown["F"] and after.breakdown["B"] == hidden.breakdown["B"]


def test_flag_acts_on_zero0_only_and_costs_nothing_without_dp():
    lay = TrainLayout(tp=4, pp=1, dp=16, zero=1)
    z1 = train(layout=lay, **BASE)
    assert train(layout=lay, grad_sync_after_backward=True, **BASE).step_time_s == z1.step_time_s
    one = dict(BASE, num_chips=4, global_batch_tokens=4 * 8192)
    lay1 = TrainLayout(tp=4, pp=1, dp=1, zero=0)
    assert (train(layout=lay1, grad_sync_after_backward=True, **one).step_time_s
            == train(layout=lay1, **one).step_time_s)
