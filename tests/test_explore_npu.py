"""Parametric NPU template: vectorized npu_params against the per-design formula."""

import numpy as np

from tapeout.explore.npu import complete, hardware, load_template, npu_params
from tapeout.ops import PEAK_KEYS


def test_peak_formula_and_precision_flags():
    d = {"cores": np.array([16, 64]), "array_rows": np.array([128, 64]), "array_cols": np.array([128, 256]),
         "clock_ghz": np.array([1.0, 1.5]), "int4": [False, True], "fp8": [True, False]}
    p = npu_params(d)
    base = np.array([16 * 128 * 128 * 2 * 1.0e9, 64 * 64 * 256 * 2 * 1.5e9])
    np.testing.assert_allclose(p.peak("bf16"), base)
    np.testing.assert_allclose(p.peak("fp16"), base)
    np.testing.assert_allclose(p.peak("fp8"), [2 * base[0], 0.0])
    np.testing.assert_allclose(p.peak("int8"), 2 * base)
    np.testing.assert_allclose(p.peak("int4"), [0.0, 4 * base[1]])
    assert p.peak_flops.shape == (len(PEAK_KEYS), 2)
    assert p.design_shape == (2,)


def test_vectorized_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    n = 6
    d = {"cores": rng.choice([8, 32, 128], n), "mem_type": rng.choice(["HBM3", "LPDDR5", "HBM2E"], n),
         "mem_stacks": rng.choice([2, 4, 8], n), "node": rng.choice(["N5", "N7"], n), "chiplets": rng.choice([1, 2], n),
         "d2d_bw_gbs": np.full(n, 1000.0), "power_cap_w": rng.choice([0.0, 300.0], n)}
    h = hardware(d)
    for i in range(n):
        one = hardware({k: v[i:i + 1] for k, v in d.items()})
        for k in ("die_area_mm2", "tdp_w", "unit_cost_usd", "tpp", "clock_eff_ghz"):
            np.testing.assert_allclose(h[k][i], one[k][0], rtol=1e-12)


def test_memory_and_power_cap():
    d = {"mem_type": ["HBM3", "LPDDR5"], "mem_stacks": [4, 4]}
    h = hardware(d)
    np.testing.assert_allclose(h["mem"]["mem_bw"], [4 * 819e9, 4 * 68.3e9])
    # 4 HBM3 stacks of 16 GiB / 4 LPDDR5X packages of 16 GiB: capacity is binary GB (hardware/memory_capacity.py)
    np.testing.assert_allclose(h["mem"]["mem_capacity"], [4 * 16 * 2 ** 30, 4 * 16 * 2 ** 30])
    free = hardware({"cores": [128], "clock_ghz": [1.5]})
    capped = hardware({"cores": [128], "clock_ghz": [1.5], "power_cap_w": [0.6 * float(free["tdp_w"][0])]})
    assert capped["clock_eff_ghz"][0] < 1.5
    np.testing.assert_allclose(capped["tdp_w"], 0.6 * free["tdp_w"], rtol=1e-9)


def test_template_defaults_complete():
    t = load_template()
    d = complete({})
    assert set(d) == set(t.params)
    assert all(v.shape == (1,) for v in d.values())
