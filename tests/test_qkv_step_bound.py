"""The QKV preprocessing pass bounded by its thread steps' traffic through the L2 as well as by the DRAM
(ChipParams.elt_step_time, Elementwise.steps, workloads/llm.qkv_thread_steps; kernel_fit.QKV_STEP_BOUND;
issue 24, round stop-28 issue-28qk)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_replay import l2_read_bw
from tapeout.perf.kernels_db import chip_for
from tapeout.perf.opcost import evaluate
from tapeout.workloads.llm import qkv_preprocess, qkv_thread_steps

H100 = calibrated_params(chip_for("h100-sxm")).replace(mem_overhead=0.0)
H200 = calibrated_params(chip_for("h200")).replace(mem_overhead=0.0)


def _time(op, p) -> float:
    return float(np.ravel(evaluate(OpTable.from_ops([op]), p, check_support=False).time)[0])


def test_steps_are_one_per_16_byte_vector_of_each_query_heads_row():
    # Llama-3-8B context of 4 x 1024 tokens: 32 query heads of 128 BF16 elements = 16 vectors each
    assert qkv_thread_steps(4096, 32, 128) == 4096 * 32 * 16
    # K and V are loaded by every query head's thread: the KV heads do not change the steps
    a, b = (qkv_preprocess(4096, 32, kv, 128, kv_bytes=1) for kv in (8, 32))
    assert a.steps == b.steps == 4096 * 32 * 16
    assert a.bytes < b.bytes
    # training's RoPE (no cache, not TensorRT-LLM's kernel) counts none
    assert qkv_preprocess(4096, 32, 8, 128, kv_cache=False).steps == 0.0


def test_without_a_step_cost_the_op_costs_what_it_did():
    # the default model: elt_step_time 0, an op's steps change nothing
    op = qkv_preprocess(8192, 64, 8, 128)
    assert _time(op, H100) == _time(dataclasses.replace(op, steps=0.0), H100)


@settings(max_examples=40, deadline=None)
@given(tokens=st.integers(1, 1 << 16), heads=st.sampled_from([8, 32, 64]), group=st.sampled_from([1, 4, 8]),
       step=st.floats(1e-15, 1e-10))
def test_the_pass_takes_the_longer_of_its_steps_and_its_dram_stream(tokens, heads, group, step):
    op = qkv_preprocess(float(tokens), heads, heads // group, 128)
    p = H100.replace(elt_step_time=step)
    dram = op.bytes / (float(p.mem_bw) * float(p.eff_mem))
    vec = op.flops / (float(p.vector_flops) * float(p.eff_vector))
    assert _time(op, p) == pytest.approx(max(dram, op.steps * step, vec), rel=1e-9)


def test_where_the_l2_binds_h200_takes_h100s_time(monkeypatch):
    # H100 and H200 share their L2 (9.8 TB/s measured): a pass bound by its L2 traffic takes the same time on
    # both, a DRAM-bound one gains the DRAM's ratio (4.8 / 3.35)
    monkeypatch.setattr(kf, "QKV_STEP_BOUND", True)
    params = {**{n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}, "qkv_step_bytes": 160.0}
    wide = qkv_preprocess(8192, 64, 1, 128, kv_bytes=1)  # GQA 64 over an FP8 cache: few DRAM bytes per step
    mha = qkv_preprocess(8192, 40, 40, 256)  # MHA: 96 DRAM bytes per step
    t = {(name, c): _time(op, p.replace(elt_step_time=kf.qkv_step_time(params, l2_read_bw(chip_for(c)))))
         for name, op in (("wide", wide), ("mha", mha)) for c, p in (("h100-sxm", H100), ("h200", H200))}
    assert t["wide", "h100-sxm"] == pytest.approx(t["wide", "h200"], rel=1e-12)
    assert t["wide", "h200"] == pytest.approx(wide.steps * 160.0 / 9.8e12, rel=1e-9)
    assert t["mha", "h100-sxm"] / t["mha", "h200"] == pytest.approx(float(H200.mem_bw) / float(H100.mem_bw), rel=1e-9)


@pytest.mark.parametrize("on", [True, False])
def test_the_fit_and_serving_take_the_same_step_time(monkeypatch, on):
    from tapeout.perf.kernel_calibration import chip_entry

    monkeypatch.setattr(kf, "QKV_STEP_BOUND", on)
    params = {**{n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}, "qkv_step_bytes": 189.0}
    for chip in ("h100-sxm", "b200"):
        lib = chip_entry(params, chip_for(chip), "test")["kernel_library"]
        assert lib["elt_step_time"] == pytest.approx(189.0 / l2_read_bw(chip_for(chip)) if on else 0.0, rel=1e-12)
    assert kf.qkv_step_time(params, 0.0) == 0.0  # no L2 bandwidth described: not priced
