"""perf/comm_waves.py: waves of a kernel's CTAs beside a collective that holds some of the cores."""

import heapq
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.comm_waves import slowdown, waves_alone, waves_per_tile, waves_persistent, window_share
from tapeout.perf.training import train


def simulate_persistent(units: int, cores: int, ctas: int) -> int:
    """Block-scheduler event simulation, independent of the closed form: G = min(U, S) CTAs, CTA g walks
    units g, g + G, ...; S - C SMs free; CTAs launch in block order onto the earliest free SM."""
    g = min(units, cores)
    work = [len(range(i, units, g)) for i in range(g)]
    free = [0] * (cores - ctas)  # times the free SMs become idle
    heapq.heapify(free)
    end = 0
    for w in work:
        start = heapq.heappop(free)
        heapq.heappush(free, start + w)
        end = max(end, start + w)
    return end


def simulate_per_tile(units: int, cores: int, ctas: int) -> int:
    return simulate_persistent_equal(units, cores - ctas)


def simulate_persistent_equal(units: int, sms: int) -> int:
    free = [0] * sms
    end = 0
    for _ in range(units):  # one unit per CTA
        t = heapq.heappop(free) + 1
        heapq.heappush(free, t)
        end = max(end, t)
    return end


def test_forum_check_one_wave_gemm_beside_24_ctas_runs_two_waves():
    """NVIDIA forum 337991: a 132-CTA GEMM on an H100 (132 SMs) beside a 24-CTA all-gather runs as two
    waves (measured ~1.7x: the check, not a fit). Both grids give 2 of 1."""
    assert waves_alone(132, 132) == 1
    assert waves_per_tile(132, 132, 24) == 2
    assert waves_persistent(132, 132, 24) == 2


def test_closed_forms_by_hand():
    # GPT-3 TP4 QKV at 2048 tokens on 128 x 128 tiles: 16 x 72 = 1152 units; 8 CTAs held
    assert waves_alone(1152, 132) == 9 and waves_per_tile(1152, 132, 8) == 10  # ceil(1152 / 124)
    # persistent: q = 8, r = 96; 28 residents of 8 units free at 8, the 8 deferred carry 8 -> 16
    assert waves_persistent(1152, 132, 8) == 16
    # a last wave with room: 140 units, the 8 displaced CTAs of 1 unit start at 1 and end at 2 = alone
    assert waves_persistent(140, 132, 8) == 2 == waves_alone(140, 132)
    # the e = 2 case: S 10, C 4, U 19 -> CTAs 0-8 carry 2, CTA 9 carries 1; residents 0-5 end at 2,
    # deferred 6-8 (2 units) start at 2 -> 4
    assert waves_persistent(19, 10, 4) == 4
    # a kernel smaller than the free cores loses nothing
    assert waves_persistent(100, 132, 8) == 1 and waves_per_tile(100, 132, 8) == 1


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(2, 160), st.data())
def test_persistent_closed_form_matches_the_simulation(units, cores, data):
    ctas = data.draw(st.integers(0, (cores - 1) // 2))
    assert waves_persistent(units, cores, ctas) == simulate_persistent(units, cores, ctas)
    assert waves_per_tile(units, cores, ctas) == simulate_per_tile(units, cores, ctas)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(4, 160), st.data())
def test_more_ctas_never_fewer_waves(units, cores, data):
    c1 = data.draw(st.integers(0, (cores - 1) // 2))
    c2 = data.draw(st.integers(c1, (cores - 1) // 2))
    for f in (waves_per_tile, waves_persistent):
        assert f(units, cores, c2) >= f(units, cores, c1) >= waves_alone(units, cores)
    for per in (False, True):
        assert slowdown(units, cores, c2, per, True) >= slowdown(units, cores, c1, per, True) >= 1.0


def test_slowdown_rules():
    # no CTAs held: nothing changes, whatever the grid
    assert np.all(slowdown([1, 132, 1152, 5000], 132, 0, [False, True, True, False], True, [False, True, False, True]) == 1.0)
    # stream-K (work split evenly over a persistent grid of S): twice, whenever a core is held
    assert slowdown(1000, 132, 8, False, True, True) == 2.0
    # a memory-bound per-tile kernel keeps the DRAM rate; a persistent one waits for its deferred CTAs
    assert slowdown(1152, 132, 8, False, False) == 1.0
    assert slowdown(1152, 132, 8, True, False) == pytest.approx(16 / 9)
    assert slowdown(0, 132, 8, True, True) == 1.0  # no grid (not a matrix kernel)


def test_window_share_is_the_linear_rule_when_each_kernel_loses_its_cores_share():
    s, c, t = 132.0, 8.0, 0.37
    assert window_share(t, t * s / (s - c)) == pytest.approx(c / s)
    assert window_share(t, t) == 0.0 and window_share(0.0, 0.0) == 0.0
    assert window_share(t, 2 * t) == pytest.approx(0.5)  # a persistent GEMM's two waves: half the window lost
    with pytest.raises(TapeoutError, match="beside"):
        window_share(1.0, 0.5)


def test_bad_ctas_refused_naming_the_field():
    for bad in (-1, 66, 100, math.nan):
        with pytest.raises(TapeoutError, match="comm_ctas"):
            waves_per_tile(1000, 132, bad)
        with pytest.raises(TapeoutError, match="comm_ctas"):
            waves_persistent(1000, 132, bad)


KW = dict(tp=4, pp=8, vp=12, mbs=1, zero=1)


def test_training_zero_without_ctas_and_on_a_chip_whose_collectives_are_not_on_its_cores():
    """0 CTAs: no share, no interval term; a TPU (collectives_on_cores false in the chip data): a
    stack's comm_ctas changes nothing, and the note says why."""
    base = train("gpt3-175b", "h100-sxm", 2688, 1344 * 2048, 2048, "fp8", **KW)
    assert base.breakdown["comm_wave_share"] == {"forward": 0.0, "backward": 0.0}
    tpu = dict(tp=8, pp=8, mbs=1, zero=1)
    t0 = train("gpt3-175b", "tpu-v5p", 2048, 1024 * 2048, 2048, "bf16", **tpu)
    t8 = train("gpt3-175b", "tpu-v5p", 2048, 1024 * 2048, 2048, "bf16", comm_ctas=2, **tpu)
    assert t8.step_time_s == t0.step_time_s and t8.interval_80 == t0.interval_80
    assert any("collectives_on_cores" in n for n in t8.notes)


def test_training_ctas_slow_the_hidden_compute_and_widen_the_interval_upward():
    base = train("gpt3-175b", "h100-sxm", 2688, 1344 * 2048, 2048, "fp8", **KW)
    r = train("gpt3-175b", "h100-sxm", 2688, 1344 * 2048, 2048, "fp8", comm_ctas=8, **KW)
    ws = r.breakdown["comm_wave_share"]
    assert 0.0 < ws["forward"] < 0.5 and 0.0 < ws["backward"] < 0.5
    assert r.step_time_s >= base.step_time_s
    # the exposed DP time is at least the lost work of its windows
    assert r.breakdown["exposed_dp"] >= min(ws.values()) * r.breakdown["t_dp"] - 1e-9
    # the persistent-grid term widens only the upper end (lower end: the point's own band)
    assert r.interval_80[0] == pytest.approx(base.interval_80[0] * r.step_time_s / base.step_time_s, rel=1e-9)
    assert r.interval_80[1] / r.step_time_s > base.interval_80[1] / base.step_time_s
    assert any("persistent grids" in n for n in r.notes)


@pytest.mark.parametrize("bad", ["no", "false", 0, 1, 3.5, None])
def test_a_user_chips_collectives_on_cores_is_a_switch(bad, session_chips):
    """Review 26rv: the chip field is a switch; text or a number (which would read as true) is refused naming it."""
    from tapeout import register_chip

    with pytest.raises(TapeoutError, match=r"chip\.specs\.collectives_on_cores is a switch: give true or false"):
        register_chip({"id": "test-h100-coll", "base": "h100-sxm", "specs": {"collectives_on_cores": bad}})


def test_a_user_chip_whose_collectives_leave_its_cores_gets_no_wave_share(session_chips):
    """An H100-derived chip stating collectives_on_cores false (e.g. collectives on a copy engine) prices a
    stack's comm_ctas like 0 CTAs, the note naming the field; stating true keeps H100's wave share."""
    from tapeout import register_chip

    register_chip({"id": "test-h100-dma", "base": "h100-sxm", "specs": {"collectives_on_cores": {"value": False, "source": "test"}}})
    register_chip({"id": "test-h100-cores", "base": "h100-sxm", "specs": {"collectives_on_cores": True}})
    off0 = train("gpt3-175b", "test-h100-dma", 2688, 1344 * 2048, 2048, "fp8", **KW)
    off8 = train("gpt3-175b", "test-h100-dma", 2688, 1344 * 2048, 2048, "fp8", comm_ctas=8, **KW)
    assert off8.step_time_s == off0.step_time_s and off8.breakdown["comm_wave_share"] == {"forward": 0.0, "backward": 0.0}
    assert any("collectives_on_cores: test" in n for n in off8.notes)
    on8 = train("gpt3-175b", "test-h100-cores", 2688, 1344 * 2048, 2048, "fp8", comm_ctas=8, **KW)
    assert on8.breakdown["comm_wave_share"]["forward"] > 0.0


def test_out_of_range_ctas_refused_on_a_chip_whose_collectives_leave_its_cores():
    """Review 26rv: tpu-v5p ignores comm_ctas (collectives_on_cores false) but a nonsense count is still refused."""
    with pytest.raises(TapeoutError, match="comm_ctas = 100000 CTAs"):
        train("gpt3-175b", "tpu-v5p", 2048, 1024 * 2048, 2048, "bf16", comm_ctas=100000, tp=8, pp=8, mbs=1, zero=1)
