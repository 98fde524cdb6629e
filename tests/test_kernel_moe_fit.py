"""Grouped expert GEMMs: whole-K work units (CUTLASS's group tile scheduler), their weight stream's own
efficiency (ChipParams.moe_eff_mem) and the fit of both efficiencies on the kernel database's fused-MoE
layers of the other chips (perf/kernel_moe.py fit_db_moe, kernel_calibration.held_out_fitted)."""

from __future__ import annotations

import numpy as np
import pytest
from _db import needs_db

from tapeout.hardware import get_chip
from tapeout.ops import MatMul, OpGraph
from tapeout.perf import kernel_moe
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate


def _cost(p, op):
    ct = evaluate(OpGraph("g", [op]), p)
    return ct


def _mm(experts: bool, m=4, n=512, k=7168, groups=4):
    return MatMul(name="experts_gate_up" if experts else "gemm", count=1, m=m, n=n, k=k, groups=groups,
                  a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16", experts=experts)


@pytest.mark.parametrize("chip", ["h200", "b200"])
def test_grouped_expert_gemm_runs_one_unit_per_output_tile(chip):
    """Few output tiles on many cores: a dense GEMM splits K (units > tiles); the grouped expert GEMM keeps one
    work unit per tile (sm100_tile_scheduler_group.hpp: every unit covers the whole K)."""
    p = calibrated_params(get_chip(chip)).replace(max_split_k=16.0)
    dense, grouped = _cost(p, _mm(False)), _cost(p, _mm(True))
    tiles = float(np.asarray(grouped.units).ravel()[0])
    tn = float(p.tile_n)
    assert tiles == pytest.approx(4 * np.ceil(512 / tn))  # groups x ceil(m / tm) x ceil(n / tn), m = 4 < tm
    assert float(np.asarray(dense.units).ravel()[0]) > tiles


def test_expert_weight_stream_at_its_own_efficiency():
    """A weight-streaming expert GEMM's memory time scales as eff_mem / moe_eff_mem; a dense GEMM's does not move."""
    p = calibrated_params(get_chip("h200"))
    q = p.replace(moe_eff_mem=float(p.eff_mem) / 2)
    for experts, ratio in ((True, 2.0), (False, 1.0)):
        a, b = _cost(p, _mm(experts)), _cost(q, _mm(experts))
        ma, mb = (float(np.asarray(x.memory_time).ravel()[0]) for x in (a, b))
        over = float(np.asarray(p.mem_overhead))
        assert (mb - over) == pytest.approx((ma - over) * ratio, rel=1e-9)


def test_layer_times_broadcast_the_design_grid():
    """layer_times over a design grid equals layer_time at each point of it (one engine)."""
    row = {"distribution": "balanced", "dtype": "bfloat16", "moe_tp": 1, "moe_ep": 1, "hidden": 2048, "inter": 768,
           "experts": 128, "topk": 8, "tokens": 64, "kernel": "moe_torch_flow_cutlass"}
    chip = get_chip("h200")
    e, r = np.array([[0.5], [0.9]]), np.array([[0.3, 0.7]])
    grid = kernel_moe.layer_times(chip, row, None, {"eff_moe": e, "moe_eff_mem": r})
    assert grid.shape == (2, 2)
    base = calibrated_params(chip)
    for i in range(2):
        for j in range(2):
            one = kernel_moe.layer_times(chip, row, None, {"eff_moe": float(e[i, 0]), "moe_eff_mem": float(r[0, j])})
            assert float(one) == pytest.approx(grid[i, j], rel=1e-12)
    assert float(base.moe_eff_mem) == 0.0  # the shipped calibration leaves the expert stream at eff_mem
    # a slower expert stream never makes the layer faster, a lower eff_moe neither
    assert grid[0, 0] >= grid[0, 1] and grid[0, 0] >= grid[1, 0]


@needs_db
def test_held_out_moe_efficiencies_come_from_the_other_chips():
    """The held-out chip's eff_moe and expert stream come from the other chips' measured MoE layers (its own and its
    twins' are never read), on the fit's grid, and price those layers no worse than the microbenchmark defaults."""
    from tapeout.perf.kernel_calibration import db_fitted
    from tapeout.perf.kernel_fit import GEMM_FMTS, PARAMS
    from tapeout.perf.kernels_db import chip_for, db_config, held_out_chips, read_moe

    params = {**{p[0]: p[1] for p in PARAMS}, "eff_bf16": 0.7, "eff_fp8": 0.6, "eff_nvfp4": 0.5, "pj_flop_n7": 2.0,
              "mem_bf16": 0.75, "ovh_bf16": 3.0, "eff_attention": 0.6}
    source = {"package": "aiconfigurator-core", "package_version": "test", "chips": {}}
    train = ["h100-sxm", "l40s"]
    fitted = db_fitted({c: (params, set(GEMM_FMTS), "synthetic") for c in train}, source, stream={c: 0.8 for c in train})
    moe = kernel_moe.fit_db_moe(train, fitted, per_group=6)
    assert moe and moe["layers"] > 0 and set(moe["chips"]) <= set(train)
    assert not set(moe["chips"]) & held_out_chips("h200")
    assert moe["eff_moe"] in kernel_moe.EFF_MOE_GRID and moe["stream_ratio"] in kernel_moe.STREAM_RATIO_GRID
    # the optimum's rms log error, recomputed layer by layer, is at most that at (eff_moe 1, stream at eff_mem)
    k = read_moe(systems=[s for s, e in db_config()["systems"].items() if e["chip"] in train], per_group=6)
    errs = []
    for e, r in ((moe["eff_moe"], moe["stream_ratio"]), (1.0, 1.0)):
        sq = []
        for row in k.records():
            if row["distribution"] != "balanced" or row["dtype"] not in kernel_moe._POLICY:
                continue
            chip = chip_for(row["chip"])
            eff_mem = float(calibrated_params(chip, fitted).eff_mem)
            t = float(kernel_moe.layer_times(chip, row, fitted, {"eff_moe": e, "moe_eff_mem": r * eff_mem}))
            if np.isfinite(t):
                sq.append(np.log(t / row["latency_s"]) ** 2)
        errs.append(np.sqrt(np.mean(sq)))
    assert errs[0] <= errs[1] + 1e-12 and errs[0] == pytest.approx(moe["rms_log"], abs=1e-4)

