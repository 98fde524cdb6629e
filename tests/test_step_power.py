"""A serving step's power-capped clock from its average power (perf/step_power.py, issue 24 stop 34):
closed forms on synthetic steps, invariants of the solve, and the switch reaching serving."""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from tapeout.hardware.catalog import get_chip
from tapeout.ops import PEAK_KEYS
from tapeout.perf import kernel_calibration as kc
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import K_ATTN, K_ELT, K_MATMUL
from tapeout.perf.power_cap import clock_factor
from tapeout.perf.serving_sim import StepModel
from tapeout.perf.step_power import CLOCKS, StepPower, breakdown, curves, solve
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm

BF16 = PEAK_KEYS.index("bf16")
PEAK = 1000e12  # FLOP/s of the synthetic chip's BF16 peak
TDP = 700.0


def _power(ref: float, j: float, floor: float = 0.0) -> StepPower:
    return StepPower(TDP, j, tuple(kf.BF16_RATE_MULTIPLE.get(k, 1.0) for k in PEAK_KEYS), (ref,) * len(PEAK_KEYS), 0.0,
                     floor)


def _step(gemm_s: float, eff: float, ref: float, other_s: float = 0.0, dram: float = 0.0):
    """A step of one compute-bound BF16 GEMM (boost time gemm_s, busy eff of the peak at boost, priced at clock
    `ref`) and one elementwise op of other_s seconds (no tensor FLOPs, `dram` bytes)."""
    table = SimpleNamespace(kind=np.array([K_MATMUL, K_ELT]), peak_key=np.array([BF16, BF16]),
                            flops=np.array([eff * PEAK * gemm_s, 0.0]), count=np.ones(2), names=["gemm", "norm"])
    ct = np.array([gemm_s / ref, 0.0])
    mt = np.array([0.1 * gemm_s, other_s])
    return SimpleNamespace(table=table, compute_time=ct, memory_time=mt, time=np.maximum(ct, mt),
                           dram_bytes=np.array([0.0, dram]))


def _j_at(eff: float, ref: float) -> float:
    """The energy per FLOP at boost at which a GEMM busy `eff` sustains clock `ref` at TDP: P = eff peak j c^3."""
    return TDP / (eff * PEAK * ref ** 3)


def test_all_gemm_step_is_the_gemm_cap():
    """A step of back-to-back compute-bound GEMMs runs at power_cap.clock_factor(eff), the GEMM's own cap."""
    eff, j = 0.7, 1.3e-12
    ref = float(clock_factor(eff, TDP / (PEAK / 1e12), j * 1e12, 1.0))
    assert ref < 1.0  # the cap binds
    c = _step(0.1, eff, ref)
    rows = np.array([True, False])
    clock, t = solve(*curves(c, rows, np.ones(2), _power(ref, j)), TDP)
    assert clock == pytest.approx(ref, abs=2e-4)
    assert t == pytest.approx(0.1 / ref, rel=5e-4)  # the table's own time at its reference clock


def test_memory_bound_time_raises_the_clock_closed_form():
    """GEMM (boost time g, P = eff peak j c^3 over its time) plus m seconds of an op drawing floor_w:
    the clock solves (eff peak j g c^2 + floor m) / (g / c + m) = TDP."""
    eff, ref, g, m, floor = 0.7, 0.8, 0.08, 0.03, 150.0
    j = _j_at(eff, ref)
    clock, t = solve(*curves(_step(g, eff, ref, m), np.ones(2, bool), np.ones(2), _power(ref, j, floor)), TDP)
    exact = brentq(lambda c: (eff * PEAK * j * g * c ** 2 + floor * m) / (g / c + m) - TDP, 0.3, 1.0)
    assert clock == pytest.approx(exact, abs=1e-3)
    assert ref < clock < 1.0
    assert t == pytest.approx(g / exact + m, rel=1e-3)


def test_dram_energy_lowers_the_clock():
    eff, ref, g, m = 0.7, 0.8, 0.08, 0.03
    j = _j_at(eff, ref)
    p = _power(ref, j)
    dry = solve(*curves(_step(g, eff, ref, m), np.ones(2, bool), np.ones(2), p), TDP)[0]
    # 3.97 pJ/bit HBM (family_defaults.yaml) at 3 TB/s over the op's time
    wet = solve(*curves(_step(g, eff, ref, m, dram=3e12 * m), np.ones(2, bool), np.ones(2),
                        StepPower(TDP, j, p.rate_multiple, p.ref_clock, 3.97e-12 * 8)), TDP)[0]
    assert ref < wet < dry


@settings(max_examples=60, deadline=None)
@given(eff=st.floats(0.3, 0.95), ref=st.floats(0.6, 1.0), g=st.floats(1e-3, 0.2), m=st.floats(0.0, 0.2),
       extra=st.floats(0.0, 0.2))
def test_clock_bounds_and_monotone_in_idle_time(eff, ref, g, m, extra):
    """The step clock lies in [the GEMM's clock, boost]; more time without tensor work never lowers it; the average
    power at the solved clock is at most the budget (at boost: below it)."""
    j = _j_at(eff, ref)
    p = _power(ref, j)
    rows, w = np.ones(2, bool), np.ones(2)
    a, ta = solve(*curves(_step(g, eff, ref, m), rows, w, p), TDP)
    b, _ = solve(*curves(_step(g, eff, ref, m + extra), rows, w, p), TDP)
    assert ref - 2e-3 <= a <= 1.0
    assert b >= a - 1e-3
    tc, e = curves(_step(g, eff, ref, m), rows, w, p)
    k = np.searchsorted(CLOCKS, a) - 1
    assert e[max(k, 0)] / tc[max(k, 0)] <= TDP * (1 + 1e-9)


def test_breakdown_adds_up():
    eff, ref = 0.7, 0.8
    c = _step(0.08, eff, ref, 0.03, dram=1e11)
    p = StepPower(TDP, _j_at(eff, ref), _power(ref, 0).rate_multiple, _power(ref, 0).ref_clock, 3.2e-11)
    rows = breakdown(c, np.ones(2), p, 0.9)
    tc, e = curves(c, np.ones(2, bool), np.ones(2), p)
    k = int(np.argmin(abs(CLOCKS - 0.9)))
    assert sum(r["time_s"] for r in rows) == pytest.approx(tc[k])
    assert sum((r["flop_w"] + r["dram_w"]) * r["time_s"] for r in rows) == pytest.approx(e[k])
    assert rows[1]["flop_w"] == 0.0 and rows[1]["dram_w"] > 0


def _sm(power):
    cfg, pr = load_llm("llama-2-70b"), get_precision("fp8")
    return StepModel(cfg, calibrated_params(get_chip("b200")), pr, tp=1, pp=1, power=power)


def test_step_model_power_off_and_unbound():
    """Without StepPower a step is its parts at eff_compute's clock (clock_ratio 1); with a budget no step reaches,
    every tensor op runs at boost: ref_clock / 1 faster compute, nothing else moves."""
    off = _sm(None)
    assert off.clock_ratio(512, 600, 256, 500) == 1.0
    ref = 0.85
    mult = tuple(kf.BF16_RATE_MULTIPLE.get(k, 1.0) for k in PEAK_KEYS)
    free = _sm(StepPower(1e9, 1e-12, mult, (ref,) * len(PEAK_KEYS), 3e-11))
    t_off = off.step(512, 600, 256, 500)
    assert free._step_ref(512, 600, 256, 500) == pytest.approx(t_off)
    clock, t = free._step_at_power(512, 600, 256, 500)
    assert clock == 1.0
    assert t_off * ref < t < t_off  # only the compute-bound part got faster, by at most ref
    assert free.clock_ratio(512, 600, 256, 500) == pytest.approx(t / t_off, rel=1e-9)


def test_switch_writes_the_entry_and_reaches_serving(monkeypatch):
    """STEP_POWER_CLOCK on: the kernel entry carries step_power at the GEMM clocks it priced eff_compute with, and
    step_power_of builds it for the chip (not for a power-limited variant); off: neither."""
    params = {**{p[0]: p[1] for p in kf.PARAMS}, "eff_bf16": 0.72, "eff_fp8": 0.65, "eff_nvfp4": 0.6, "pj_flop_n7": 1.65,
              "mem_bf16": 0.8, "ovh_bf16": 7.5, "eff_attention": 0.6}
    source = {"package": "aiconfigurator-core", "package_version": "test",
              "chips": {"b200": {"system": "b200", "stack": "trtllm", "stack_versions": {"gemm": "x"}}}}
    chip = get_chip("b200")
    off = kc.db_fitted({"b200": (params, {"bf16", "fp8"}, "synthetic")}, source)
    assert "step_power" not in off["chips"]["b200"]
    assert kc.step_power_of(chip, calibrated_params(chip, off), off) is None
    monkeypatch.setattr(kc, "STEP_POWER_CLOCK", True)
    on = kc.db_fitted({"b200": (params, {"bf16", "fp8"}, "synthetic")}, source)
    e = on["chips"]["b200"]
    assert e["eff_compute"] == off["chips"]["b200"]["eff_compute"]  # the reference pricing is unchanged
    sp = kc.step_power_of(chip, calibrated_params(chip, on), on)
    assert sp.tdp_w == pytest.approx(chip.get("tdp_w"))
    assert e["eff_compute"]["bf16"] == pytest.approx(0.72 * sp.ref_clock[BF16], abs=1e-4)
    assert sp.dram_j_per_byte == pytest.approx(3.97e-12 * 8)  # HBM, family_defaults.yaml
    assert kc.step_power_of(chip.power_capped(700.0), calibrated_params(chip, on), on) is None
    assert kc.step_power_of(get_chip("h200"), calibrated_params(get_chip("h200"), on), copy.deepcopy(on)) is None
