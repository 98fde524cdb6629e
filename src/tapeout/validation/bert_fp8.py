"""NVIDIA's MLPerf BERT encoder in FP8 (`--use_transformer_engine2`): Hopper rows.

What the rows ran (NVIDIA's implementation, and the partners' copies of it):
- Every Hopper config read passes `--use_transformer_engine2` (run_pretraining.py: help='Enable FP8 layers'):
  mlcommons/training_results_v3.1 @f33f944 NVIDIA/benchmarks/bert/implementations/v30-pytorch/config_DGXH100_8x8x72x1.sh
  (the v3.0 code), .../pytorch/config_DGXH100_8x8x36x1_pack.sh (v3.1), ASUSTeK/.../config_ESC-N8-E11.sh (v3.1,
  HGX H100), training_results_v4.0 @62f111b NVIDIA/.../eos_n8_ngc23.04_pytorch/config_DGXH100_8x8x72x1.sh (v4.0).
- With it, modeling.py `BertEncoder` builds every layer as `BertTransformerLayer2` (FP8_MHA + LayerNormMLP of
  te_layers.py) and runs all of them inside `fp8_autocast(enabled=True, fp8_recipe=DelayedScaling(margin=0,
  interval=1, fp8_format=HYBRID, amax_history_len=1, amax_compute_algo="most_recent", reduce_amax=False))`
  (training_results_v3.1 @f33f944 ASUSTeK/benchmarks/bert/implementations/pytorch/modeling.py, NVIDIA's file).
  No device-capability test: the flag decides.
- te_layers.py (training_results_v3.1 @f33f944 NVIDIA/.../v30-pytorch/te_layers.py): `_MHA` runs the QKV GEMM
  (`ext.fp8_gemm`, FP8 output), the fused attention forward and backward in FP8 (`fused_attn_fwd_qkvpacked` /
  `fused_attn_bwd_qkvpacked` with `fp8_dtype_forward`, scale / amax of S, O, dP, dQKV) and the projection GEMM,
  forward, dgrad and wgrad, all `fp8_gemm`; `_LayerNormMLP` runs FC1 (GELU epilogue, FP8 output) and FC2, forward,
  dgrad and wgrad, in FP8. Casts: `fp8_cast_transpose_fused` of the layer input and of the norm output (rowwise +
  columnwise copies), of each weight in every forward, of the projection's and FC2's output gradients (with bgrad);
  the rest are transposes or fused (FP8 GEMM outputs + `fp8_transpose`; `fp8_cast_transpose_bgrad_dgelu_fused`).
- Not in FP8: the embeddings, the masked-LM head (`BertLMPredictionHead`: nn.Linear transform, FusedMlp decoder)
  and the pooler / NSP head sit outside the encoder's fp8_autocast; the run is `--fp16` (same 16-bit rate).
- Not Ada: xFusion's L4 / L40 / L40S configs (training_results_v3.1 @f33f944 xFusion/benchmarks/bert/
  implementations/pytorch/config_2288H_V7x6xL4.sh, config_G5500V7x10xL40.sh, config_G5500V7x8xL40S.sh) pass
  `--unpad --fused_mha`, no `--use_transformer_engine2`; not Ampere (no FP8 tensor cores).
Which rows: other_benchmarks.yaml bert_train.fp8_encoder_stacks ([vendor, chip family] pairs).
- Except NVIDIA's multi-node pack configs at 2-3 packs per GPU (training_results_v3.1 @f33f944 NVIDIA/.../v30-pytorch/
  config_DGXH100_64x8x3x1_pack_clipafter.sh, _96x8x3x1_..., _384x8x2x1_..., pytorch/config_DGXH100_434x8x2x1_pack_
  clipafter.sh): no --use_transformer_engine2 (nor --fused_gemm_gelu). Those configs' rows carry `fp8_encoder: false` in
  bert_train.config_settings and run 16-bit (config_fp8, switch BERT_CONFIG_FP8; round stop-42 issue-64c).

Priced with the LLM engine's recipe machinery (perf/train_recipe.training_graph, recipe `fp8`, FP8 attention):
the four encoder GEMMs and the attention core in FP8, a cast kernel (2 copies) on each GEMM's input and output
gradient, and the encoder weights' cast once per forward (te_layers casts them in every forward). Three of those
tensors arrive in FP8 from their producer, so te_layers runs only `fp8_transpose` (read 1 B, write 1 B per
element) for the second copy, not a cast (PRODUCER_FP8): the projection's input (the FP8 attention's context,
`context_t = tex.fp8_transpose(context)` in the forward), FC2's input (FC1's FP8 GELU epilogue, `gelu_out_t =
tex.fp8_transpose(gelu_out)` in the backward) and the QKV GEMM's output gradient (the FP8 attention backward's
dQKV, `fp8_transpose_bgrad_fused`). FC1's output gradient is cast with the dGELU (`fp8_cast_transpose_bgrad_
dgelu_fused`), charged as the cast. The 1-byte outputs the FP8 producers write (QKV, context, GELU) are not
credited. No amax reduction (reduce_amax=False).

BERT_FP8_ENCODER: see docs/notes/issue-18.md, round stop-40 (issue-51g), for the rows as they came out and why it
is on or off. On (lead, round stop-40): the Hopper rows ran their encoder in FP8 (NVIDIA's configs pass
--use_transformer_engine2 in every v3.0-v4.0 H100 / H200 config read), so pricing them in 16 bits is wrong by
construction and hid the shortfall every other NVIDIA chip shows; with it on the H100-SXM BERT rows go from about 0%
to -16..-18% signed, the class median 21.5 -> 24.2% (main before the round: 26.4%). The named cause of what is left
on Hopper: the fitted FP8 GEMM rate at BERT's shapes is 1.1-1.6x faster than the measured kernel database (issue-51g
note). A chip never measured gets the FP8 encoder where its stack rule (bert_train.fp8_encoder_stacks) names it.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import TapeoutError
from ..formats import format_bits
from ..ops import Attention, Elementwise, MatMul, OpGraph
from ..perf.train_recipe import get_recipe, training_graph

BERT_FP8_ENCODER = True
# a config on file that does not pass --use_transformer_engine2 (bert_train.config_settings `fp8_encoder: false`) runs
# its encoder 16-bit whatever its stack rule says; see docs/notes/issue-18.md round stop-42 (issue-64c). Off: the
# stack rule alone decides.
BERT_CONFIG_FP8 = True
ENCODER_GEMMS = ("layer.qkv", "layer.attn_out", "layer.fc1", "layer.fc2")  # workloads/blocks.transformer_block names
ENCODER_ATTENTION = "layer.attn"
# GEMM operands te_layers receives in FP8 from their producer: (GEMM, "input" | "grad") -> forward | backward,
# where its fp8_transpose runs (module docstring)
PRODUCER_FP8 = {("layer.attn_out", "input"): "fwd", ("layer.fc2", "input"): "bwd", ("layer.qkv", "grad"): "bwd"}


def runs_fp8(vendor: str, family: str, stacks: list) -> bool:
    """Whether a row of `vendor` on a chip of `family` runs the FP8 encoder ([vendor, family] pairs)."""
    return any(vendor == v and family == f for v, f in stacks)


def config_fp8(rule: dict | None) -> bool | None:
    """Whether a config rule (bert_train.config_settings) says its config passes --use_transformer_engine2 (the
    rule's `fp8_encoder`); None where no rule or none stated (the stack rule decides). A value that is not true /
    false is one TapeoutError naming the field."""
    if rule is None or "fp8_encoder" not in rule:
        return None
    v = rule["fp8_encoder"]
    if not isinstance(v, bool):
        raise TapeoutError(f"bert_train.config_settings: fp8_encoder {v!r} in the {rule['round']} {rule['submitter']} "
                           "rule must be true or false (whether the config passes --use_transformer_engine2)")
    return v


def runs_fp8_config(stack_fp8: bool, rule: dict | None) -> bool:
    """Whether a row runs the FP8 encoder: its stack rule (`stack_fp8`, runs_fp8), unless its config rule says the
    config does not pass the flag (BERT_CONFIG_FP8 on). A config cannot turn FP8 on where the stack rule does not
    (the flag needs FP8 tensor cores)."""
    return stack_fp8 and not (BERT_CONFIG_FP8 and config_fp8(rule) is False)


def encoder_weight_params(g: OpGraph) -> float:
    """Weights of the encoder GEMMs of BERT graph `g` (all layers)."""
    return float(sum(o.n * o.k * o.count for o in g.ops if isinstance(o, MatMul) and o.name in ENCODER_GEMMS))


def fp8_encoder(g: OpGraph) -> tuple[OpGraph, OpGraph, OpGraph]:
    """BERT graph `g` (16-bit) as the FP8 encoder runs it: (graph with the encoder GEMMs and attention core in FP8,
    forward cast kernels incl. the weights' cast, backward cast kernels). Heads and embeddings unchanged."""
    r = get_recipe("fp8")
    ops = [replace(o, w_dtype=r.gemm, math_dtype=r.gemm) if isinstance(o, MatMul) and o.name in ENCODER_GEMMS
           else replace(o, math_dtype=r.gemm) if isinstance(o, Attention) and o.name == ENCODER_ATTENTION else o
           for o in g.ops]
    g8, qf, qb = training_graph(replace(g, name=f"{g.name}:fp8_encoder", ops=ops), r, fp8_attention=True)
    casts = {(n, "input"): f"{n}_{r.gemm}_quantize" for n in ENCODER_GEMMS}
    casts.update({(n, "grad"): f"{n}_dgrad_{r.gemm}_quantize" for n in ENCODER_GEMMS})
    produced = {casts[k]: where for k, where in PRODUCER_FP8.items()}
    b = format_bits(r.gemm) / 16.0  # bf16-sized units

    def transposed(o: Elementwise) -> Elementwise:  # read the FP8 tensor, write its FP8 transpose
        return replace(o, name=o.name.replace("quantize", "transpose"), flops_per_elem=0.0, reads=b, writes=b)

    moved = [transposed(o) for o in (*qf.ops, *qb.ops) if o.name in produced]
    fwd = [o for o in qf.ops if o.name not in produced] + [o for o in moved if produced[o.name.replace("transpose", "quantize")] == "fwd"]
    bwd = [o for o in qb.ops if o.name not in produced] + [o for o in moved if produced[o.name.replace("transpose", "quantize")] == "bwd"]
    # every forward: read the 16-bit weight, write its FP8 copy and transpose (fp8_cast_transpose_fused)
    fwd.append(Elementwise(name=f"encoder_weight_{r.gemm}_cast", count=1, elems=encoder_weight_params(g),
                           flops_per_elem=r.quant_flops, reads=1, writes=r.copies * b, dtype="bf16"))
    return g8, replace(qf, ops=fwd), replace(qb, ops=bwd)


__all__ = ["BERT_CONFIG_FP8", "BERT_FP8_ENCODER", "config_fp8", "runs_fp8_config", "ENCODER_ATTENTION", "ENCODER_GEMMS", "PRODUCER_FP8", "encoder_weight_params", "fp8_encoder", "runs_fp8"]
