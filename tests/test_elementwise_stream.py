"""A streaming elementwise pass at what its cores keep in flight (ChipParams.elt_core_bw, perf/opcost.py):
the context attention op's QKV preprocessing in the kernel-database fit (kernel_fit.ELT_CORE_STREAM;
issue 24, round stop-27)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import chip_for
from tapeout.perf.opcost import evaluate

H100 = calibrated_params(chip_for("h100-sxm")).replace(mem_overhead=0.0)
H200 = calibrated_params(chip_for("h200")).replace(mem_overhead=0.0)
# the pass of a 64 x 128-token context of 40 heads of 256 (its bytes: 22sc's pass-only kernel, 1 GB)
PASS = OpTable.from_ops([kf.qkv_preprocess_op(64 * 128, 40, 40, 256)])


def _pass(p):
    c = evaluate(PASS, p, check_support=False)
    return float(np.ravel(c.memory_time)[0]), float(np.ravel(c.dram_bytes)[0])


def test_off_is_the_dram_stream():
    t, b = _pass(H100.replace(elt_core_bw=0.0, elt_stream_knee=2.0))
    assert t == pytest.approx(b / (float(H100.mem_bw) * float(H100.eff_mem)), rel=1e-12)


def test_knee_one_adds_the_cores_round_trip_to_the_dram_time():
    # the pessimistic bound of a closed network: per byte 1 / (cores x per-core stream) + 1 / DRAM, closed form
    p = H100.replace(elt_core_bw=20e9, elt_stream_knee=1.0)
    t, b = _pass(p)
    assert t == pytest.approx(b / (float(p.num_cores) * 20e9) + b / (float(p.mem_bw) * float(p.eff_mem)), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(core=st.floats(1e9, 2e11), n=st.floats(0.5, 16.0))
def test_the_same_sms_before_a_faster_dram_gain_less_than_its_ratio_and_never_beat_it(core, n):
    # H200 is H100's 132 SMs before 4.8 instead of 3.35 TB/s: the pass is never faster than the DRAM
    # alone and H200 gains at most the DRAM's ratio
    t1, b = _pass(H100.replace(elt_core_bw=core, elt_stream_knee=n))
    t2, _ = _pass(H200.replace(elt_core_bw=core, elt_stream_knee=n))
    d1, d2 = (float(p.mem_bw) * float(p.eff_mem) for p in (H100, H200))
    assert t1 >= b / d1 * (1 - 1e-12) and t2 >= b / d2 * (1 - 1e-12)
    assert t2 <= t1 * (1 + 1e-12)
    assert t1 / t2 <= d2 / d1 * (1 + 1e-12)


def test_an_attention_op_is_not_moved():
    att = Attention(name="a", batch=4, q_len=2048, kv_len=2048, heads=32, kv_heads=8, d_qk=128, d_v=128, causal=True,
                    act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    t = OpTable.from_ops([att])
    a0 = evaluate(t, H100, check_support=False)
    a1 = evaluate(t, H100.replace(elt_core_bw=1e9, elt_stream_knee=2.0), check_support=False)
    assert np.allclose(np.ravel(a0.time), np.ravel(a1.time), rtol=0, atol=0)


def test_the_fit_streams_only_the_context_pass_this_way():
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    v = dict(zip(kf.NAMES, x))
    pre = kf.params_for(H100, x, "prefill")
    assert float(pre.elt_core_bw) == (v["elt_core_bw"] * 1e9 if kf.ELT_CORE_STREAM else 0.0)
    assert float(pre.elt_stream_knee) == (v["gen_stream_knee"] if kf.ELT_CORE_STREAM and kf.GEN_STREAM_KNEE else 0.0)
    for cls in ("bf16", "fp8", "decode_hmma"):
        assert float(kf.params_for(H100, x, cls).elt_core_bw) == 0.0
