"""The cast kernels at the boundaries of Transformer Engine's FP8 dot-product attention.

With FP8 attention on (TE `DelayedScaling(fp8_dpa=True)`, Megatron-Core
`fp8_dot_product_attention`) but FP8 multi-head attention off (`fp8_mha=False`, Megatron-Core
`fp8_multi_head_attention` default False), the attention module receives BF16 Q, K, V from the
QKV GEMM and returns BF16 O to the projection GEMM, so it quantizes and dequantizes at its own
boundaries. TE's docstring (transformer_engine/common/recipe/__init__.py, DelayedScaling):
"When `fp8_mha = False, fp8_dpa = True`, a typical MHA module works as `LayerNormLinear (BF16
output) -> (cast to FP8) FP8 DPA (cast to BF16) -> Linear`"; `fp8_mha = True` "removes the
casting operations mentioned above". TE's FusedAttnFunc (pytorch/attention.py) with Megatron's
separate Q, K, V layout (`sbhd_sbhd_sbhd`, qkv_group 3) runs, per layer and micro-batch:
    forward   quantize Q, quantize K, quantize V (BF16 -> FP8), fused_attn_fwd, dequantize O
    backward  quantize dO (BF16 -> FP8), fused_attn_bwd, dequantize dQ, dK, dV
i.e. four memory-bound kernels in each pass. The measured FP8 attention gain the step prices the
kernel with (perf/train_attention.fp8_attention_speedup: TensorRT-LLM's context FMHA, whose FP8
inputs come from the QKV GEMM's epilogue) contains none of them.

NVIDIA's MLPerf v4.0 Llama-2-70B LoRA config sets `fp8_dot_product_attention: ${FP8_DPA}` (=1,
configs/config_common.sh) and no `fp8_multi_head_attention` (conf/megatron_gpt_peft_tuning_config.yaml
@62f111b7); NeMo's build_transformer_config copies only keys present in the config, so the
Megatron-Core default (False) holds. A stack that runs FP8 MHA would carry no such casts: none on
file does. Switch: FP8_DPA_BOUNDARY_CASTS (on; off restores the step without them).
"""

from __future__ import annotations

from ..ops import Attention, Elementwise

FP8_DPA_BOUNDARY_CASTS = True


def _cast(name: str, count: float, elems: float, to_fp8: bool, amax_flops: float, fp8_bits: float,
          extra_reads: float) -> Elementwise:
    # bf16-sized units: BF16 -> FP8 reads 1 (+ the recipe's amax passes) and writes fp8_bits/16 (and takes the
    # amax); back: the reverse, x scale_inv
    b = fp8_bits / 16.0
    return Elementwise(name=name, count=count, elems=elems, flops_per_elem=amax_flops if to_fp8 else 1.0,
                       reads=1.0 + extra_reads if to_fp8 else b, writes=b if to_fp8 else 1.0, dtype="bf16")


def dpa_boundary_casts(op: Attention, amax_flops: float = 1.0, fp8_bits: float = 8.0,
                       extra_reads: float = 0.0) -> tuple[list, list]:
    """(forward, backward) cast kernels of one FP8 attention op `op` (per-rank heads, its layer count):
    Q, K, V quantized and O dequantized forward; dO quantized and dQ, dK, dV dequantized backward.
    `extra_reads`: the recipe's amax passes before a quantize (current scaling; 0 under delayed scaling).
    Empty lists when the switch is off."""
    if not FP8_DPA_BOUNDARY_CASTS:
        return [], []
    q = op.batch * op.q_len * op.heads
    kv = op.batch * op.kv_len * op.kv_heads
    sizes = {"q": q * op.d_qk, "k": kv * op.d_qk, "v": kv * op.d_v}
    o = q * op.d_v
    n = op.name
    fwd = [_cast(f"{n}_fp8_dpa_{t}_quantize", op.count, e, True, amax_flops, fp8_bits, extra_reads) for t, e in sizes.items()]
    fwd.append(_cast(f"{n}_fp8_dpa_o_dequantize", op.count, o, False, amax_flops, fp8_bits, extra_reads))
    bwd = [_cast(f"{n}_fp8_dpa_do_quantize", op.count, o, True, amax_flops, fp8_bits, extra_reads)]
    bwd += [_cast(f"{n}_fp8_dpa_d{t}_dequantize", op.count, e, False, amax_flops, fp8_bits, extra_reads) for t, e in sizes.items()]
    return fwd, bwd
