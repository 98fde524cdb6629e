"""Weight-gradient GEMMs accumulating into the gradient buffer (Megatron/TE gradient_accumulation_fusion:
beta = 1, C = D = main_grad): the epilogue bytes beyond the calibrated BF16 store, exposed by the chip's
epilogue_exposed (perf/train_backward.wgrad_accumulate_time)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.serving_sim import ensure_vector
from tapeout.perf.train_backward import wgrad_accumulate_bytes, wgrad_accumulate_time
from tapeout.perf.train_memory import GRAD_SYNC_BYTES
from tapeout.perf.training import train
from tapeout.workloads.llm_config import load_llm

RUN = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 4 * 4096, seq_len=4096)
PIN = dict(tp=8, pp=1, cp=1, zero=1, mbs=1)


def _params(exposed):
    return ensure_vector(calibrated_params(get_chip("h100-sxm"))).replace(epilogue_exposed=exposed)


def test_epilogue_bytes_are_c_read_plus_d_write_less_the_bf16_store():
    """FP32 main_grad (Megatron wgrad_gemm_accum_fp32): 4 + 4 - 2 = 6 B; BF16 buffer (NeMo 1.x grad_sync_dtype
    bf16, TE accumulate into a bf16 main_grad): 2 + 2 - 2 = 2 B."""
    assert wgrad_accumulate_bytes(GRAD_SYNC_BYTES["fp32"]) == 6.0
    assert wgrad_accumulate_bytes(GRAD_SYNC_BYTES["bf16"]) == 2.0


@settings(max_examples=25, deadline=None)
@given(st.floats(1e3, 1e10), st.sampled_from(sorted(GRAD_SYNC_BYTES)), st.floats(0.0, 1.0))
def test_time_is_extra_bytes_over_achieved_bandwidth_times_exposure(elems, dtype, exposed):
    p = _params(0.0)
    gb = GRAD_SYNC_BYTES[dtype]
    want = exposed * elems * (2 * gb - 2) / (float(np.max(p.mem_bw)) * float(np.max(p.eff_mem)))
    assert float(wgrad_accumulate_time(elems, gb, p, exposed=exposed)) == pytest.approx(want, rel=1e-9)
    assert float(wgrad_accumulate_time(elems, gb, p.replace(epilogue_exposed=exposed))) == pytest.approx(want, rel=1e-9)


def test_default_calibration_exposes_nothing():
    """The shipped calibration's GEMM rate carries its own epilogue (epilogue_exposed 0): no step change."""
    assert train(**RUN, **PIN).breakdown["wgrad_accumulate"] == 0.0


def test_step_term_is_one_weight_per_microbatch_slot():
    """Per micro-batch, every transformer weight of the rank (12 h^2-class GEMM weights / TP) and the LM head
    accumulate once: the breakdown equals slots x (model weights / tp) x 6 B / achieved bandwidth x exposure,
    and the FP32 buffer costs 3x the BF16 one (6 B vs 2 B)."""
    cfg = load_llm(RUN["model"])
    p = _params(0.5)
    f32 = train(**RUN, **PIN, params=p).breakdown
    b16 = train(**RUN, **PIN, params=p, grad_sync="bf16").breakdown
    assert f32["wgrad_accumulate"] == pytest.approx(3.0 * b16["wgrad_accumulate"], rel=1e-9)
    h, f, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    qkv = h * (cfg.num_attention_heads + 2 * cfg.kv_heads) * cfg.hd
    layer = qkv + cfg.num_attention_heads * cfg.hd * h + 3 * h * f  # qkv, proj, gated MLP (gate, up, down)
    elems = (L * layer + h * cfg.vocab_size) / PIN["tp"]
    want = f32["m"] * 0.5 * elems * 6.0 / (float(np.max(p.mem_bw)) * float(np.max(p.eff_mem)))
    assert f32["wgrad_accumulate"] == pytest.approx(want, rel=0.02)


def test_lora_has_no_weight_gradient_to_accumulate():
    assert train(**RUN, **PIN, params=_params(1.0), lora=True).breakdown["wgrad_accumulate"] == 0.0


def test_tensor_memory_accumulators_hide_the_accumulate_epilogue():
    """B200 keeps 4 accumulator tiles of its 128 x 128 tile in tensor memory (opcost.accumulator_stages):
    the wgrad epilogue's extra read/write overlaps the next tile's MMA, none of it exposed."""
    b = ensure_vector(calibrated_params(get_chip("b200"))).replace(epilogue_exposed=0.5)
    assert float(wgrad_accumulate_time(1e9, GRAD_SYNC_BYTES["fp32"], b)) == 0.0
    assert float(wgrad_accumulate_time(1e9, GRAD_SYNC_BYTES["fp32"], b.replace(accum_stages=1.0))) > 0.0
