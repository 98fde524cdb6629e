"""A step under a board power limit (perf/board_limit.py on perf/step_power.py with clock_rows): the budget's closed
form on a two-op step solved by hand, a lower limit never gives a faster step (hypothesis), and a chip at its nominal
TDP (or a step that meets the limit at full clock) keeps every op's nominal time; with the switch on, a non-MaxQ row
predicts exactly what it predicts with the switch off."""

import csv
import dataclasses
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware import get_chip
from tapeout.ops import PEAK_KEYS
from tapeout.perf import board_limit
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import K_ELT, K_MATMUL, evaluate
from tapeout.perf.step_power import StepPower, curves, mem_slowdown, solve
from tapeout.perf.mlperf import clear_caches
from tapeout.validation.llm_rows import map_row
from tapeout.validation.other_rows import inference_graph, map_inference

BF16 = PEAK_KEYS.index("bf16")


def _step(kinds, ct, mt, flops, dram):
    """A CostTable-like step of one design point: the fields step_power reads."""
    n = len(kinds)
    table = SimpleNamespace(kind=np.array(kinds), peak_key=np.full(n, BF16), flops=np.array(flops, dtype=float),
                            count=np.ones(n), names=[f"op{i}" for i in range(n)])
    ct, mt = np.array(ct, dtype=float), np.array(mt, dtype=float)
    return SimpleNamespace(table=table, compute_time=ct, memory_time=mt, time=np.maximum(ct, mt),
                           dram_bytes=np.array(dram, dtype=float))


def _power(tdp, ref=0.9, knee=0.0, floor=100.0):
    ones = tuple(1.0 for _ in PEAK_KEYS)
    refs = tuple(ref if i == BF16 else 1.0 for i in range(len(PEAK_KEYS)))
    # 1e12 FLOPs x 1e-9 J = 1000 J of FLOP energy at boost; 1.5e11 DRAM bytes x 1e-9 J = 150 J
    return StepPower(tdp_w=tdp, j_per_flop=1e-9, rate_multiple=ones, ref_clock=refs, dram_j_per_byte=1e-9,
                     floor_w=floor, clock_rows=True, mem_knee=knee)


# a GEMM whose table time (1 s) is at its nominal clock 0.9, and a DRAM stream of 1 s
TWO_OPS = _step([K_MATMUL, K_ELT], ct=[1.0, 0.0], mt=[0.0, 1.0], flops=[1e12, 0.0], dram=[0.0, 1.5e11])


def _closed_form_clock(coeffs):
    roots = np.roots(coeffs)
    return float(min(r.real for r in roots if abs(r.imag) < 1e-9 and 0 < r.real <= 1))


def test_budget_closed_form_at_a_chosen_limit():
    # at clock c <= 0.9: time 0.9 / c + 1; energy 1000 c^2 (GEMM, above its 100 W x 0.9 / c floor for c > 0.45)
    # + 100 W x 1 s (the stream's static floor) + 150 J (its DRAM). 400 W: 1000 c^3 + 250 c = 400 (0.9 + c),
    # i.e. 1000 c^3 - 150 c - 360 = 0, c = 0.7815
    c_hand = _closed_form_clock([1000.0, 0.0, -150.0, -360.0])
    assert c_hand == pytest.approx(0.7815, abs=1e-3)
    c, t = solve(*curves(TWO_OPS, np.ones(2, bool), np.ones(2), _power(400.0)), 400.0)
    assert c == pytest.approx(c_hand, abs=2e-3)
    assert t == pytest.approx(0.9 / c_hand + 1.0, rel=3e-3)
    # with the DRAM rate ~ c (knee 1): time 1.9 / c, the stream's floor 100 W x 1 / c:
    # 1000 c^2 + 100 / c + 150 = 400 x 1.9 / c, i.e. 1000 c^3 + 150 c - 660 = 0
    c_hand = _closed_form_clock([1000.0, 0.0, 150.0, -660.0])
    c, t = solve(*curves(TWO_OPS, np.ones(2, bool), np.ones(2), _power(400.0, knee=1.0)), 400.0)
    assert c == pytest.approx(c_hand, abs=2e-3)
    assert t == pytest.approx(1.9 / c_hand, rel=3e-3)


def test_a_step_within_the_budget_at_full_clock_keeps_its_nominal_times():
    # the GEMM at its nominal clock 0.9 and the stream at boost draw (810 + 250) / 2 = 530 W: a 600 W budget binds
    # nothing and every op keeps its table time (2 s), never faster (the GEMM stays at 0.9, not at boost)
    c, t = solve(*curves(TWO_OPS, np.ones(2, bool), np.ones(2), _power(600.0)), 600.0)
    assert (c, t) == (1.0, pytest.approx(2.0, rel=1e-12))
    assert mem_slowdown([0.5, 1.0], 0.0).tolist() == [1.0, 1.0]
    assert mem_slowdown([0.5, 1.0], 0.8).tolist() == [1.6, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0.0, 2.0), st.floats(0.0, 2.0), st.floats(0.0, 2e12),
                          st.floats(0.0, 3e11)), min_size=1, max_size=6),
       st.floats(150.0, 700.0), st.floats(150.0, 700.0), st.sampled_from([0.0, 0.8, 1.0]))
def test_a_lower_limit_never_gives_a_faster_step(ops, l1, l2, knee):
    step = _step([K_MATMUL if m else K_ELT for m, *_ in ops], [o[1] for o in ops], [o[2] for o in ops],
                 [o[3] if o[0] else 0.0 for o in ops], [o[4] for o in ops])
    lo, hi = sorted((l1, l2))
    t_lo = solve(*curves(step, np.ones(len(ops), bool), np.ones(len(ops)), _power(lo, knee=knee)), lo)[1]
    t_hi = solve(*curves(step, np.ones(len(ops), bool), np.ones(len(ops)), _power(hi, knee=knee)), hi)[1]
    assert t_lo >= t_hi * (1 - 1e-9)


@pytest.fixture(scope="module")
def h200_resnet():
    chip = get_chip("h200")
    p = calibrated_params(chip)
    return chip, p, evaluate(inference_graph("resnet50", 64, "int8"), p)


@pytest.mark.usefixtures("session_chips")
def test_real_step_nominal_tdp_unchanged_and_monotone(h200_resnet):
    chip, p, cost = h200_resnet
    capped = chip.power_capped(300.0)
    assert board_limit.is_limited(capped) and not board_limit.is_limited(chip)
    assert chip.power_capped(float(chip.get("tdp_w"))) is chip  # a limit at the TDP is the chip itself
    power = board_limit.step_power_at(capped, p, knee=0.0)
    # the own-fit GEMM clocks at the nominal TDP lie in (0, 1]
    assert all(0 < r <= 1 for r in power.ref_clock)
    times = [board_limit.limited_time(cost, dataclasses.replace(power, tdp_w=w))[1] for w in (250, 300, 400, 550, 700)]
    assert times == sorted(times, reverse=True)
    assert times[-1] == pytest.approx(float(cost.total_time), rel=1e-9)  # at the nominal 700 W: the nominal table


# H200 MaxP rows: dlrm-v2, resnet50, retinanet, 3d-unet (other_rows) and mixtral-8x7b Offline (the LLM serving path)
NON_MAXQ = {"INF-v4.1-0407": map_inference, "INF-v4.1-0417": map_inference, "INF-v4.1-0420": map_inference,
            "INF-v4.1-0402": map_inference, "INF-v4.1-0415": map_row}


@pytest.mark.usefixtures("session_chips")
def test_switch_on_moves_no_row_at_its_nominal_tdp(monkeypatch):
    rows = {r["id"]: r for r in csv.DictReader(resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv").open())
            if r["id"] in NON_MAXQ}
    off = {i: NON_MAXQ[i](r).predicted for i, r in rows.items()}
    monkeypatch.setattr(board_limit, "LIMIT_STEP_POWER", True)
    monkeypatch.setattr(board_limit, "MEMORY_CLOCK", True)
    clear_caches()
    assert {i: NON_MAXQ[i](r).predicted for i, r in rows.items()} == off
    clear_caches()
