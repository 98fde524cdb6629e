"""The generation kernels' loaded stream: their CTAs' Little's-law stream against the DRAM's
(perf/opcost.loaded_stream, ChipParams.attn_cta_stream_knee; issue 24, round stop-26)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import chip_for
from tapeout.perf.opcost import evaluate, loaded_stream

P = calibrated_params(chip_for("h200"))
rates = st.floats(1e9, 1e13)


def test_knee_zero_is_the_lesser_and_one_is_the_drain_time_added():
    assert loaded_stream(2e12, 1e12, 0.0) == 1e12
    assert loaded_stream(2e12, 1e12, 1.0) == pytest.approx(2e12 * 1e12 / 3e12, rel=1e-12)  # C D / (C + D)
    assert loaded_stream(1e12, 1e12, 2.0) == pytest.approx(1e12 / np.sqrt(2.0), rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(c=rates, d=rates, n=st.floats(0.5, 64.0))
def test_a_loaded_stream_is_symmetric_below_both_and_rises_toward_the_lesser_with_the_knee(c, d, n):
    s = loaded_stream(c, d, n)
    assert s == pytest.approx(loaded_stream(d, c, n), rel=1e-12)
    assert s <= min(c, d) * (1 + 1e-12)
    assert s >= min(c, d) * 2.0 ** (-1.0 / n) * (1 - 1e-12)  # worst at C = D
    assert loaded_stream(c, d, 2 * n) >= s * (1 - 1e-12)


@settings(max_examples=50, deadline=None)
@given(c=rates, d=rates, n=st.floats(0.5, 16.0), gain=st.floats(1.05, 3.0))
def test_more_dram_bandwidth_behind_the_same_ctas_gains_less_than_its_ratio(c, d, n, gain):
    # the same SMs and latency (C) with a faster DRAM (H200's 4.8 against H100's 3.35 TB/s): the
    # stream gains at most the DRAM's ratio, and with a smooth knee strictly less
    ratio = loaded_stream(c, gain * d, n) / loaded_stream(c, d, n)
    assert 1.0 <= ratio * (1 + 1e-12) and ratio <= gain * (1 + 1e-12)
    # where neither stream is far above the other the gain is strictly less than the DRAM's
    assert loaded_stream(d, gain * d, n) / loaded_stream(d, d, n) < gain
    # H100 -> H200 at the pessimistic bound, C = 2 D: 1 / (1/2 + 1/1.433) / (1 / (1/2 + 1)) = 1.254
    assert loaded_stream(2.0, 4.8 / 3.35, 1.0) / loaded_stream(2.0, 1.0, 1.0) == pytest.approx(1.5 / (0.5 + 3.35 / 4.8), rel=1e-12)


def _decode(p):
    op = Attention(name="a", batch=1, q_len=1, kv_len=32768, heads=32, kv_heads=8, d_qk=128, d_v=128, causal=True,
                   act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    c = evaluate(OpTable.from_ops([op]), p)
    return float(c.memory_time[0]), float(c.dram_bytes[0])


def test_decode_memory_time_with_knee_one_is_the_cta_time_plus_the_dram_time():
    # per KV byte a CTA waits its unloaded round trip's share (1 / C) plus the byte's transfer at the
    # DRAM (1 / D): t = bytes / C + bytes / D, closed form
    p = P.replace(attn_cta_tokens_per_s=1e6, attn_ctas_per_core=2.0, core_bw_share=1e9, attn_cta_stream_knee=1.0)
    t_mem, dram = _decode(p)
    units = 8 * np.clip(np.floor(p.num_cores / 8), 1, np.floor(32768 / 256))
    c = min(units, 2.0 * p.num_cores) * 1e6 * 2 * 2 * 128  # resident CTAs x tokens/s x K + V bytes per token
    d = float(p.mem_bw) * float(p.eff_mem)
    assert t_mem == pytest.approx(dram / c + dram / d, rel=1e-9)
    assert _decode(p.replace(attn_cta_stream_knee=0.0))[0] == pytest.approx(dram / min(c, d), rel=1e-9)


def test_the_knee_is_off_by_default_and_fitted_only_for_generation_classes():
    assert P.attn_cta_stream_knee == 0.0
    v = {n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}
    assert kf.generation_fields(v, "decode_hmma")["attn_cta_stream_knee"] == v["gen_stream_knee"]
    assert kf.generation_fields(v, "prefill")["attn_cta_stream_knee"] == 0.0
    assert kf.generation_fields(v, "bf16")["attn_cta_stream_knee"] == 0.0
    # a calibration fitted before the knee existed prices the lesser stream, as it did
    assert kf.generation_fields({k: x for k, x in v.items() if k != "gen_stream_knee"}, "decode_hmma")["attn_cta_stream_knee"] == 0.0


def test_the_switch_off_prices_the_lesser_stream(monkeypatch):
    v = {n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}
    monkeypatch.setattr(kf, "GEN_STREAM_KNEE", False)
    assert kf.generation_fields(v, "decode_hmma")["attn_cta_stream_knee"] == 0.0
