"""--kernels serving (round stop-21): the large-stream DRAM efficiency read off the database's
memory-bound GEMMs (perf/kernel_stream.py), and generation attention priced by the fit's own rule
(kernel_fit.generation_fields) in serving."""

import numpy as np
import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernel_stream as ks
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_calibration import db_fitted, decode_fields, serving_decode_params
from tapeout.perf.kernels_db import Kernels
from tapeout.perf.opcost import evaluate

from test_kernel_calibration import PARAMS, SOURCE


def _kernels(rows):
    """Kernels from (chip, fmt, m, n, k, seconds) rows."""
    cols = {name: np.array([r[i] for r in rows], dtype=object if i < 2 else float)
            for i, name in enumerate(("chip", "fmt", "m", "n", "k", "latency_s"))}
    cols["op"] = np.array(["gemm"] * len(rows), dtype=object)
    return Kernels(cols, "test", [])


def _streams(chip, bw, eff, fixed=4e-6, m=8, sizes=tuple(range(8192, 57345, 4096))):
    # n x 8192 BF16 weights of 134-940 MB (>= 272 MB from n = 20480: 10 of the 13), timed as fixed + bytes / (bw x eff)
    return [(chip, "bf16", m, n, 8192, fixed + float(ks.stream_bytes(m, n, 8192)) / (bw * eff)) for n in sizes]


def test_slope_efficiency_is_the_asymptote_not_the_mean_fraction():
    # time = 5 us + bytes / (0.8 x 3.35 TB/s): the slope gives 0.8 whatever the fixed time, while the
    # plain achieved fraction bytes / time / bw stays below it
    b = np.array([2.6e8, 4e8, 8e8, 1.6e9])
    t = 5e-6 + b / (0.8 * 3.35e12)
    assert ks.slope_efficiency(b, t, 3.35e12) == pytest.approx(0.8, rel=1e-9)
    assert (b / t / 3.35e12 < 0.8).all()


def test_only_large_skinny_bf16_streams_are_read():
    rows = _streams("x", 1e12, 0.8)
    rows += [("x", "bf16", 64, 32768, 8192, 1.0), ("x", "fp8", 8, 32768, 8192, 1.0),  # m > 16, FP8
             ("x", "bf16", 8, 4096, 8192, 1.0)]  # 67 MB: could sit in a Blackwell L2
    k = _kernels(rows)
    s = ks.streaming_kernels(k, "x")
    assert s.sum() == 10 and not s[-3:].any()  # n >= 20480 of the 13 streams, none of the others
    assert ks.stream_efficiency(k, "x", 1e12) == pytest.approx(0.8, rel=1e-9)


def test_holdout_and_unmeasured_chips_take_the_median_of_the_measured():
    k = _kernels(_streams("a", 1e12, 0.80) + _streams("b", 2e12, 0.84) + _streams("c", 3e12, 0.90) + _streams("h", 4e12, 0.5)
                 + _streams("few", 1e12, 0.3, sizes=(32768,)))
    bw = {"a": 1e12, "b": 2e12, "c": 3e12, "h": 4e12, "few": 1e12}
    e = ks.stream_efficiencies(k, bw, holdout="h")
    assert e["a"] == pytest.approx(0.80) and e["c"] == pytest.approx(0.90)
    assert e["h"] == e["few"] == pytest.approx(0.84)  # its own 0.5 never read; one kernel is too few
    with pytest.raises(ValueError, match="streaming efficiency"):
        ks.stream_efficiencies(_kernels(_streams("few", 1e12, 0.3, sizes=(32768,))), {"few": 1e12})


def test_serving_takes_the_measured_stream_efficiency():
    fit = db_fitted({"h200": (PARAMS, {"bf16"}, "synthetic")}, SOURCE, stream={"h200": 0.83})
    assert calibrated_params(get_chip("h200"), fit).eff_mem == pytest.approx(0.83)
    assert fit["kernel_db"]["stream_eff"] == {"h200": 0.83}
    # without a measured stream, the fit's BF16 GEMM efficiency as before
    assert calibrated_params(get_chip("h200"), db_fitted({"h200": (PARAMS, {"bf16"}, "s")}, SOURCE)).eff_mem == 0.66


# distinct generation-kernel values, so a field serving failed to carry would show
GEN = dict(PARAMS, tokrate_decode_hmma=37.0, ctas_per_core=1.5, score_decode_hmma=250.0, mem_decode_hmma=0.93,
           unit_decode_hmma=2e6, unitlat_decode_hmma=3.25, ovh_decode_hmma=11.0)


def _serving_params():
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    fit = db_fitted({"h200": (GEN, {"bf16"}, "synthetic")}, SOURCE, stream={"h200": 0.83})
    chip = get_chip("h200")
    llama = load_llm("llama-3.1-70b")  # GQA group 8, head 128, BF16 KV on SM90: XQA HMMA
    return serving_decode_params(calibrated_params(chip, fit), chip, llama, get_precision("bf16"), 1, fit)


def test_serving_carries_the_fits_generation_kernel_pricing(monkeypatch):
    p = _serving_params()
    x = kf.x_of(GEN)
    chip = get_chip("h200")
    q = kf.params_for(calibrated_params(chip), x, "decode_hmma")
    for f in kf.generation_fields(GEN, "decode_hmma"):
        assert np.all(getattr(p, f) == pytest.approx(getattr(q, f))), f
    assert p.attn_gen_eff_mem == 0.93 and p.eff_mem == 0.83  # the KV stream at the kernel's, weights at the measured
    # the kernel's whole fixed time: a GEMM kernel's plus the attention op's own
    assert p.kernel_overhead + p.attn_decode_fixed == pytest.approx(q.kernel_overhead) == pytest.approx(11e-6)
    # HMMA's CTA buffers hold head parts: no token rate under GEN_BYTE_BUFFERS, the fitted one without it
    monkeypatch.setattr(kf, "GEN_BYTE_BUFFERS", True)
    assert decode_fields(GEN, "decode_hmma")["attn_cta_tokens_per_s"] == 0.0
    monkeypatch.setattr(kf, "GEN_BYTE_BUFFERS", False)
    assert decode_fields(GEN, "decode_hmma")["attn_cta_tokens_per_s"] == 37e6


@pytest.mark.parametrize("batch", [1, 64])
def test_serving_puts_the_wave_latency_in_series_with_the_kv_stream(batch):
    # memory-bound generation attention (32k keys): adding d to the per-wave latency adds waves x d,
    # as in the fit, instead of vanishing under the KV stream
    p = _serving_params()
    op = Attention(name="a", batch=batch, q_len=1, kv_len=32768, heads=64, kv_heads=8, d_qk=128, d_v=128, causal=True,
                   act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    t = OpTable.from_ops([op])
    c0, c1 = evaluate(t, p), evaluate(t, p.replace(attn_decode_unit_time=p.attn_decode_unit_time + 2e-6))
    assert float(c0.memory_time[0]) > float(c0.compute_time[0])
    waves = float(c1.time[0] - c0.time[0]) / 2e-6
    assert waves >= 1.0 and waves == pytest.approx(round(waves), abs=1e-6)
