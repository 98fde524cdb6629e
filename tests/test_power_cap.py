"""The power-capped tensor clock of the kernel fit (perf/power_cap.py): closed forms and invariants."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import PEAK_KEYS, MatMul, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.power_cap import capped_time, clock_factor, node_energy_scale


def test_clock_meets_the_cap_by_the_cube_law():
    # a kernel that would draw 2x the TDP at boost runs at 2^(-1/3) of it: P ~ f^3 then meets the cap
    assert clock_factor(1.0, 1.0, 2.0, 1.0) == pytest.approx(2.0 ** (-1 / 3))
    # busy half the time at the same energy: exactly at the cap, boost clock
    assert clock_factor(0.5, 1.0, 2.0, 1.0) == pytest.approx(1.0)
    # a node with 0.66 x the energy per op draws 0.66 x the power
    assert clock_factor(1.0, 1.0, 2.0, 0.66) == pytest.approx(1.32 ** (-1 / 3))
    assert clock_factor(0.0, 1.0, 2.0, 1.0) == 1.0  # an idle datapath draws nothing


@given(busy=st.floats(0.0, 1.0), pd=st.floats(0.05, 5.0), pj=st.floats(0.05, 20.0), s=st.floats(0.2, 1.2))
def test_clock_is_at_most_boost_and_falls_with_load(busy, pd, pj, s):
    c = float(clock_factor(busy, pd, pj, s))
    assert 0.0 < c <= 1.0
    assert float(clock_factor(min(busy * 1.5 + 1e-3, 1.0), pd, pj, s)) <= c + 1e-12  # busier: never faster
    assert float(clock_factor(busy, pd * 1.5, pj, s)) >= c - 1e-12  # more watts per peak FLOP: never slower
    if c < 1.0:  # capped: power at the lowered clock equals the TDP (per TFLOP/s of peak)
        assert busy * pj * s * c ** 3 == pytest.approx(pd, rel=1e-9)


def _gemm_cost(chip_id, m, n, k):
    chip = get_chip(chip_id)
    p = calibrated_params(chip)
    return chip, p, evaluate(OpTable.from_ops([MatMul(name="g", m=m, n=n, k=k)]), p, check_support=False)


def test_a_compute_bound_gemm_slows_by_the_clock_and_a_memory_bound_one_does_not():
    chip, p, cost = _gemm_cost("b200", 8192, 8192, 8192)
    pd = kf.format_power_density(chip)
    busy = 2.0 * 8192 ** 3 / (np.asarray(p.peak_flops)[PEAK_KEYS.index("bf16")] * float(cost.time[0] - p.kernel_overhead))
    c = float(clock_factor(busy, pd[PEAK_KEYS.index("bf16")], 3.0, node_energy_scale(chip)))
    assert c < 1.0
    t = capped_time(cost, p.peak_flops, pd, 3.0, node_energy_scale(chip))
    assert float(t[0]) == pytest.approx(float(cost.time[0]) + float(cost.compute_time[0]) * (1 / c - 1), rel=1e-9)
    # one token through a 8192 x 8192 weight: memory-bound, so the lower clock hides under the stream
    chip, p, cost = _gemm_cost("b200", 1, 8192, 8192)
    assert float(capped_time(cost, p.peak_flops, kf.format_power_density(chip), 3.0, node_energy_scale(chip))[0]) \
        == pytest.approx(float(cost.time[0]))


def test_chip_without_a_process_node_is_one_clear_error():
    with pytest.raises(TapeoutError, match="process_node"):
        node_energy_scale({"tdp_w": 700})
