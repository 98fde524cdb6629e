"""Host issue time of an eager training stack (perf/train_host.py): closed forms and invariants."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.train_host import break_even_issue_s, segment_gpu_idle, uniform_segment_idle

secs = st.floats(min_value=0.0, max_value=1e-2, allow_nan=False)


def test_gpu_bound_layers_pay_only_the_first_issue():
    # CPU 1 ms per layer, GPU 3 ms: after the first layer is issued the CPU stays ahead
    assert segment_gpu_idle([1e-3] * 12, [3e-3] * 12) == pytest.approx(1e-3)


def test_host_bound_layers_idle_by_the_difference():
    # CPU 3 ms, GPU 1 ms, 12 layers: the GPU finishes at 12 x 3 + 1 ms, busy 12 ms -> idle 25 ms
    assert segment_gpu_idle([3e-3] * 12, [1e-3] * 12) == pytest.approx(12 * 3e-3 + 1e-3 - 12e-3)


def test_cuda_graph_removes_the_idle():
    assert segment_gpu_idle([3e-3] * 4, [1e-3] * 4, cuda_graph=True) == 0.0
    assert uniform_segment_idle(3e-3, 1e-3, 4, cuda_graph=True) == 0.0


def test_lead_carries_over_a_short_layer():
    # a fast (host-bound) layer after a slow one uses the CPU's lead: idle only the first issue
    assert segment_gpu_idle([1e-3, 1e-3], [5e-3, 0.5e-3]) == pytest.approx(1e-3)


@settings(max_examples=200, deadline=None)
@given(c=secs, g=secs, n=st.integers(min_value=1, max_value=40))
def test_uniform_closed_form_matches_the_recurrence(c, g, n):
    assert segment_gpu_idle([c] * n, [g] * n) == pytest.approx(uniform_segment_idle(c, g, n), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(layers=st.lists(st.tuples(secs, secs), min_size=1, max_size=30))
def test_idle_bounded_by_first_issue_and_total_issue(layers):
    c, g = [x for x, _ in layers], [y for _, y in layers]
    idle = segment_gpu_idle(c, g)
    assert c[0] - 1e-12 <= idle <= sum(c) + 1e-12


@settings(max_examples=100, deadline=None)
@given(layers=st.lists(st.tuples(secs, secs), min_size=1, max_size=20), extra=secs)
def test_more_host_time_never_reduces_the_idle(layers, extra):
    c, g = [x for x, _ in layers], [y for _, y in layers]
    slower = [x + extra for x in c]
    assert segment_gpu_idle(slower, g) >= segment_gpu_idle(c, g) - 1e-12


def test_break_even_issue_time():
    # GPT-3 175B TP4 forward layer ~2 ms of GPU work over 40 launches -> 50 us per launch
    assert break_even_issue_s(2e-3, 40) == pytest.approx(50e-6)


@pytest.mark.parametrize("call, field", [
    (lambda: segment_gpu_idle([1e-3, -1e-3], [1e-3, 1e-3]), "cpu_issue_s"),
    (lambda: segment_gpu_idle([1e-3], [1e-3, 1e-3]), "cpu_issue_s has 1 layers"),
    (lambda: segment_gpu_idle([], []), "cpu_issue_s"),
    (lambda: uniform_segment_idle(1e-3, float("nan"), 3), "gpu_layer_s"),
    (lambda: uniform_segment_idle(1e-3, 1e-3, 0), "layers"),
    (lambda: break_even_issue_s(1e-3, 0), "launches_per_layer"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(TapeoutError, match=field):
        call()
