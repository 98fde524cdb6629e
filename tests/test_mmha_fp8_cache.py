"""The masked-MHA generation kernel over an FP8 KV cache (round stop-19, issue 15): its vector work
per KV byte and per score caps the KV stream where the DRAM outruns the cores (perf/opcost.py,
kernel_calibration.fp8_cache_vector_work)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.hardware.params import KERNEL_STRUCTURE
from tapeout.ops import Attention, OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_calibration import fp8_cache_vector_work, serving_decode_params
from tapeout.perf.mlperf import inference_benchmark
from tapeout.perf.opcost import evaluate
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm

PER_BYTE = KERNEL_STRUCTURE["mmha_fp8_kv_vflops_per_byte"]
PER_SCORE = KERNEL_STRUCTURE["mmha_fp8_kv_vflops_per_score"]


def _decode(batch, kv_len, heads, head_dim, kv_dtype="fp8"):
    return Attention(name="attention", batch=batch, q_len=1, kv_len=kv_len, heads=heads, kv_heads=heads, d_qk=head_dim,
                     d_v=head_dim, act_dtype="bf16", kv_dtype=kv_dtype, math_dtype="bf16", kv_cache=True)


def _time(op, p):
    return float(np.asarray(evaluate(OpGraph("g", [op]), p).time).ravel()[0])


def test_the_kernel_streams_at_the_vector_rate_once_the_dram_outruns_it():
    # GPT-J's decode attention on H200 (16 heads of 256, FP8 cache, 1,024 beams over 835 tokens): the
    # vector work (bytes x per-byte + scores x per-score) / (vector_flops x eff_vector) exceeds the
    # DRAM time, so the op takes it plus its fixed times, and the stream is below the DRAM's
    p0 = calibrated_params(get_chip("h200"))
    p = fp8_cache_vector_work(p0, "nvidia-hopper", "mmha", "fp8")
    op = _decode(1024, 835, 16, 256)
    kv_bytes = 1024 * 835 * 16 * 256 * 2  # K and V, one byte per element
    vec = float(p.vector_flops) * float(p.eff_vector)
    t_vec = (kv_bytes * PER_BYTE + op.scores * PER_SCORE) / vec
    q_out = 2 * 1024 * 16 * 256 * 2  # the BF16 query read and output written
    t_dram = (kv_bytes + q_out) / (float(p.mem_bw) * float(p.eff_mem)) + float(p.mem_overhead)
    assert t_vec > t_dram
    fixed = _time(op, p0) - t_dram  # the op's fixed times (kernel, generation op, CTA waves)
    assert _time(op, p) == pytest.approx(t_vec + fixed, rel=1e-6)
    # the stream the measured kernels show (aiconfigurator-core 0.12.0: 2.2-3.3 TB/s on H200 with an
    # FP8 cache), not 0.89 x 4.8 TB/s
    assert 2.2e12 < kv_bytes / t_vec < 3.3e12


def test_a_dram_bound_chip_is_unchanged():
    # L40S (864 GB/s GDDR6, 91.6 TFLOP/s FP32): the DRAM never outruns the cores
    p0 = calibrated_params(get_chip("l40s"))
    op = _decode(256, 835, 16, 256)
    assert _time(op, fp8_cache_vector_work(p0, "nvidia-ada", "mmha", "fp8")) == _time(op, p0)


@pytest.mark.parametrize("family, kernel, kv_fmt", [
    ("nvidia-hopper", "qgmma", "fp8"),  # XQA on the tensor cores: FP8 WGMMA reads the cache as is
    ("nvidia-hopper", "hmma", "fp8"),
    ("nvidia-hopper", "mmha", "bf16"),  # nothing to convert
    ("amd-cdna3", "mmha", "fp8"),  # a family the TensorRT-LLM dispatch rule does not cover
])
def test_only_the_masked_mha_kernel_over_an_fp8_cache_on_a_covered_family(family, kernel, kv_fmt):
    p0 = calibrated_params(get_chip("h200"))
    p = fp8_cache_vector_work(p0, family, kernel, kv_fmt)
    assert float(p.attn_gen_vflops_per_kv_byte) == 0.0 and float(p.attn_gen_vflops_per_score) == 0.0


def test_serving_picks_it_for_an_mha_model_with_an_fp8_cache_only():
    gptj = load_llm(inference_benchmark("gptj")["model"])  # 16 query heads = 16 KV heads: masked MHA
    h200 = get_chip("h200")
    p0 = calibrated_params(h200)
    fp8 = serving_decode_params(p0, h200, gptj, get_precision("fp8"), 1)
    assert float(fp8.attn_gen_vflops_per_kv_byte) == PER_BYTE
    assert float(serving_decode_params(p0, h200, gptj, get_precision("bf16"), 1).attn_gen_vflops_per_kv_byte) == 0.0
    llama = load_llm("llama2-70b")  # GQA group 8: XQA
    assert float(serving_decode_params(p0, h200, llama, get_precision("fp8"), 1).attn_gen_vflops_per_kv_byte) == 0.0


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 2048), kv_len=st.integers(1, 8192), heads=st.sampled_from([4, 16, 32, 64]),
       head_dim=st.sampled_from([64, 128, 256]), per_byte=st.floats(0.0, 50.0), per_score=st.floats(0.0, 5000.0))
def test_vector_work_never_speeds_an_op_and_binds_as_the_larger_of_two_times(batch, kv_len, heads, head_dim,
                                                                             per_byte, per_score):
    p0 = calibrated_params(get_chip("h200"))
    op = _decode(batch, kv_len, heads, head_dim)
    p = p0.replace(attn_gen_vflops_per_kv_byte=per_byte, attn_gen_vflops_per_score=per_score)
    t0, t = _time(op, p0), _time(op, p)
    assert t >= t0 * (1 - 1e-12)
    more = p.replace(attn_gen_vflops_per_kv_byte=per_byte * 2 + 1.0)
    assert _time(op, more) >= t * (1 - 1e-12)  # monotone in the work per byte


def test_explain_prices_the_step_as_the_engine_does():
    # `tapeout explain` (perf/llm.step_costs) and the engine's step model take the same generation-kernel
    # fields: GPT-J's FP8-cache decode attention on H200 costs the same in both
    from tapeout.perf.llm import step_costs
    from tapeout.perf.mlperf import step_model
    from tapeout.perf.opcost import K_ATTN

    gptj = load_llm(inference_benchmark("gptj")["model"])
    ct = step_costs(gptj, "h200", "fp8", "decode", batch=256, input_len=800, output_len=70)
    t = ct.table
    attn = float((np.asarray(ct.time, dtype=float).ravel()[: len(t)] * t.count)[t.kind == K_ATTN].sum())
    sm = step_model(gptj, get_chip("h200"), get_precision("fp8"), 1, 1, 1)
    assert attn == pytest.approx(sm._eval("decode", 256, 1, 835)[1], rel=1e-9)
