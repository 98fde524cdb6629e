"""Diffusion and video-generation op graphs: SDXL (UNet per step x steps, two CLIP text
encoders, VAE decode) and a DiT video model (Wan2.1: 3-D patchify, full attention over the
spatio-temporal tokens, cross-attention to umT5 text), with latency per image / clip.

SDXL base 1.0 (model_configs.csv, generative-models sd_xl_base.yaml): latent 4 ch at 1/8
resolution; UNet model_channels 320, channel_mult [1,2,4], 2 res-blocks per level,
transformer depth [0,2,10] (levels 2 and 3), 64-channel heads, cross-attention to 77 tokens
of width 2048, GEGLU feed-forward 4x. Text encoders: CLIP ViT-L/14 text (12 layers, 768,
12 heads, FFN 3072) and OpenCLIP ViT-bigG/14 text (32 layers, 1280, 20 heads, FFN 5120),
77 tokens (Radford et al. 2021; open_clip ViT-bigG-14.json). VAE decoder: ch 128,
ch_mult [1,2,4,4], 2+1 res-blocks per level, mid-block attention (Rombach et al. 2022).
Classifier-free guidance runs the UNet on 2 latents per image per step (cfg=True).

GroupNorm(+SiLU) is a two-pass memory-bound op: statistics over C/32 channels x H x W do not
fit one SM, so TensorRT's plugin runs groupNormNHWCSum (read x) then groupNormNHWCScale
(read x again, write y, SiLU fused): 2 reads + 1 write per element (NVIDIA/TensorRT
plugin/groupNormPlugin/groupNormKernel.h; status: sourced). NVIDIA's MLPerf SDXL harness parses
the exported GroupNorm (Reshape -> InstanceNormalization -> Reshape -> Mul -> Add) into TensorRT's
native normalization layer instead (builder.py NATIVE_INSTANCENORM); the two reads still hold on
physical grounds: one group is C/32 x H x W elements (1.3 MB FP16 at 320 ch x 128 x 128), more than
one SM's shared memory, so the statistics need a pass over x before the normalizing pass.
Upsample2D is nearest x2 (its own ONNX Resize node) then a 3x3 conv at the new size.

8-bit SDXL as deployed (`mixed_8bit=True`, applied when the UNet precision is int8/fp8):
NVIDIA's MLPerf Inference SDXL recipe (mlcommons/inference_results_v4.1
closed/NVIDIA/code/stable-diffusion-xl/tensorrt/{download_model.sh,builder.py}: FP8 UNet built
strongly typed, FP16 CLIP encoders; quantization config SDXL_FP8_CFG and filter_func_unet in
closed/NVIDIA/code/stable-diffusion-xl/modelopt/utils.py of the v5.1 results, the same
quantize_unet.py invocation; status: sourced) quantizes only the *inputs and weights* of the
convs/linears (and, for FP8, the q/k/v/softmax BMM inputs of fMHA); output quantizers are
disabled and `trt_high_precision_dtype` is Half, so every tensor between layers is FP16:
  - GEMM/conv: 8-bit inputs and weights, FP16 output; the FP16 -> 8-bit quantize of an input is
    fused into its producer, except where TensorRT's documented Q/DQ fusion rule keeps it a
    separate pass (the producer's output must also stay FP16, or the input is a graph input):
    the downsampler conv inputs and the cross-attention K/V inputs
    (data/software/tensorrt_qdq_fusion.yaml, standalone_quantize_ops);
  - norms, GEGLU, scheduler: FP16 reads/writes;
  - attention: FP8 math with the FP8 recipe; FP16 under INT8 (ModelOpt supports MHA
    quantization only for FP8, TensorRT-Model-Optimizer examples/diffusers quantize.py
    QuantizationConfig.validate; status: sourced);
  - kept FP16 by filter_func_unet: time/add embeddings, conv_in, conv_out, every 1x1
    conv_shortcut, and up_blocks.2.resnets.2.conv1/conv2 (here unet.up0.res2.conv1/2);
  - CLIP text encoders run FP16 (builder.py, precision='fp16').
The VAE's own precision is the caller's `vae_precision`, or NVIDIA's TensorRT VAE engine with
`vae_int8_fp32` (tensorrt_int8_fp32_vae: INT8 convs, FP32 tensors between layers, some layers FP16),
which NVIDIA's harness builds below compute capability 10; from compute capability 10 (Blackwell)
it builds the VAE in FP32 with TF32 allowed (closed/NVIDIA/code/stable-diffusion-xl/tensorrt/
builder.py SDXLVAEBuilder, v5.1); validation/other_rows.py picks one per row.

Wan2.1-T2V-14B (model_configs.csv, Wan-Video/Wan2.1 configs): dim 5120, FFN 13824, 40
heads, 40 layers, patch (1,2,2), VAE stride (4,8,8), text 512 tokens of umT5-XXL (4096
wide), 50 steps, CFG. Tokens = (1 + (frames-1)/4) * (H/16) * (W/16); 720x1280x81 -> 75,600.
The Wan-VAE decoder is approximated by a causal 3-D conv decoder with the same base width
(96) and channel multipliers [1,2,4,4] (ASSUMPTION: layer widths from the Wan2.1 repo's
vae.py defaults, not from model_configs.csv).

FLUX.1 [dev]/[schnell] (black-forest-labs/flux src/flux/util.py configs = the HF
transformer/config.json; data/models/workloads/flux.yaml): a rectified-flow MMDiT of 19
double-stream blocks (separate image/text weights, one joint attention over text + image
tokens) and 38 single-stream blocks (one fused linear to QKV + MLP, parallel attention/MLP) at
hidden 3072, 24 heads x 128, MLP ratio 4; AdaLN modulation from the pooled CLIP-L vector +
timestep (+ guidance embedding on dev). Latents: 16 channels at 1/8 resolution, 2x2-packed
-> in_channels 64, so 1024x1024 -> 64 x 64 = 4,096 image tokens. Guidance-distilled: one
transformer pass per step (no CFG doubling). Text: T5-XXL encoder (24 layers, d 4096, 64 heads,
FFN 10240 gated-GELU; 512 tokens dev / 256 schnell) and CLIP-L (pooled vector only), once per
prompt. VAE: the SD decoder layout (ch 128, mult [1,2,4,4]) with z = 16.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from importlib import resources

import yaml

from ..errors import TapeoutError, require_positive
from ..ops import Attention, Elementwise, MatMul, Op, OpGraph
from ..precision import Precision, dtype_bytes
from .blocks import (ConvMatMul, as_precision, check_batch, check_multiple, conv2d, distinct_weight_bytes, eltwise, epilogue,
                     linear, transformer_block)

# ------------------------------------------------------------------------------ SDXL


GROUPNORM_READS = 2  # two-pass GroupNorm (sum pass + scale pass), module doc


def nearest_upsample(name: str, out_elems: float, pr: Precision, count: float = 1) -> Elementwise:
    """diffusers Upsample2D: F.interpolate(scale_factor=2, mode="nearest") before the 3x3 conv, its own
    ONNX Resize node (NVIDIA's SDXL graph surgery edits /up_blocks.{0,1}/upsamplers.0/Resize as a node):
    a memory pass reading each input element once and writing it 4 times (reads = 1/4 of the output)."""
    return eltwise(name, out_elems, pr, 0, reads=0.25, count=count)


def _vae_mid_attention(n: int, tokens: int, c: int, pr: Precision) -> list[Op]:
    """AutoencoderKL decoder mid-block attention (diffusers Attention with norm_num_groups=32,
    heads = 1 of width c, residual_connection): GroupNorm, q/k/v and out projections, one
    single-head self-attention over all h x w tokens; the residual add is a GEMM epilogue."""
    T = n * tokens
    a = pr.activations
    return [eltwise("vae.mid.attn.gn", T * c, pr, 5, reads=GROUPNORM_READS),
            linear("vae.mid.attn.qkv", T, 3 * c, c, pr),
            Attention(name="vae.mid.attn.attn", batch=n, q_len=tokens, kv_len=tokens, heads=1, kv_heads=1, d_qk=c,
                      d_v=c, causal=False, act_dtype=a, kv_dtype=pr.kv_cache, math_dtype=pr.compute),
            linear("vae.mid.attn.out", T, c, c, pr)]


def _resblock(ops, tag, n, cin, cout, h, w, pr, count=1):
    ops.append(eltwise(f"{tag}.gn_silu1", n * h * w * cin, pr, 10, reads=GROUPNORM_READS, count=count))
    op, _, _ = conv2d(f"{tag}.conv1", n, cin, cout, h, w, 3, pr, count=count)
    ops.append(op)
    ops.append(eltwise(f"{tag}.gn_silu2", n * h * w * cout, pr, 10, reads=GROUPNORM_READS, count=count))
    op, _, _ = conv2d(f"{tag}.conv2", n, cout, cout, h, w, 3, pr, count=count)
    ops.append(op)
    if cin != cout:
        op, _, _ = conv2d(f"{tag}.skip", n, cin, cout, h, w, 1, pr, count=count)
        ops.append(op)


def _spatial_transformer(ops, tag, n, c, h, w, depth, pr, ctx_len, ctx_dim, count=1):
    T = n * h * w
    ops.append(eltwise(f"{tag}.gn", T * c, pr, 5, reads=GROUPNORM_READS, count=count))
    ops.append(linear(f"{tag}.proj_in", T, c, c, pr, count))
    ops += transformer_block(f"{tag}.block", n, h * w, c, c // 64, 4 * c, pr, count=count * depth, mlp="geglu",
                             cross_len=ctx_len, cross_dim=ctx_dim)
    ops.append(linear(f"{tag}.proj_out", T, c, c, pr, count))


def sdxl_unet_ops(n: int, lh: int, lw: int, pr: Precision, count: float = 1, ctx_len: int = 77, ctx_dim: int = 2048) -> list[Op]:
    """One SDXL UNet evaluation on n latents of lh x lw (count multiplies: steps)."""
    return unet_ops(n, lh, lw, pr, count, ctx_len, ctx_dim)


def unet_ops(n: int, lh: int, lw: int, pr: Precision, count: float = 1, ctx_len: int = 77, ctx_dim: int = 2048,
             mc: int = 320, mult=(1, 2, 4), depth=(0, 2, 10), adm: int = 2816) -> list[Op]:
    """A latent-diffusion UNet (SD/SDXL family): len(mult) levels of 2 res-blocks (+ depth[l]
    transformer blocks), mid block, 3 res-blocks per level on the way up."""
    ops: list[Op] = [linear("unet.time_embed", n, 4 * mc, adm + mc, pr, count)]
    op, _, _ = conv2d("unet.conv_in", n, 4, mc, lh, lw, 3, pr, count=count)
    ops.append(op)
    h, w, c = lh, lw, mc
    skips = [c]
    for lvl, m in enumerate(mult):
        cout = mc * m
        for b in range(2):
            _resblock(ops, f"unet.down{lvl}.res{b}", n, c, cout, h, w, pr, count)
            c = cout
            if depth[lvl]:
                _spatial_transformer(ops, f"unet.down{lvl}.attn{b}", n, c, h, w, depth[lvl], pr, ctx_len, ctx_dim, count)
            skips.append(c)
        if lvl < len(mult) - 1:
            op, h2, w2 = conv2d(f"unet.down{lvl}.downsample", n, c, c, h, w, 3, pr, stride=2, count=count)
            ops.append(op)
            h, w = h2, w2
            skips.append(c)
    _resblock(ops, "unet.mid.res0", n, c, c, h, w, pr, count)
    _spatial_transformer(ops, "unet.mid.attn", n, c, h, w, max(1, max(depth) if depth[-1] == 0 else depth[-1]), pr,
                         ctx_len, ctx_dim, count)
    _resblock(ops, "unet.mid.res1", n, c, c, h, w, pr, count)
    for lvl in range(len(mult) - 1, -1, -1):
        cout = mc * mult[lvl]
        for b in range(3):
            skip = skips.pop()
            _resblock(ops, f"unet.up{lvl}.res{b}", n, c + skip, cout, h, w, pr, count)
            c = cout
            if depth[lvl]:
                _spatial_transformer(ops, f"unet.up{lvl}.attn{b}", n, c, h, w, depth[lvl], pr, ctx_len, ctx_dim, count)
        if lvl > 0:
            h, w = h * 2, w * 2
            ops.append(nearest_upsample(f"unet.up{lvl}.resize", n * c * h * w, pr, count))
            op, _, _ = conv2d(f"unet.up{lvl}.upsample", n, c, c, h, w, 3, pr, count=count)
            ops.append(op)
    ops.append(eltwise("unet.out_gn_silu", n * h * w * c, pr, 10, reads=GROUPNORM_READS, count=count))
    op, _, _ = conv2d("unet.conv_out", n, c, 4, h, w, 3, pr, count=count)
    ops.append(op)
    return ops


def clip_text_ops(tag: str, n: int, layers: int, hidden: int, heads: int, ffn: int, pr: Precision, seq: int = 77) -> list[Op]:
    return transformer_block(tag, n, seq, hidden, heads, ffn, pr, count=layers, causal=True)


def vae_decoder_ops(n: int, lh: int, lw: int, pr: Precision, ch: int = 128, mult=(1, 2, 4, 4), z: int = 4) -> list[Op]:
    """SD/SDXL VAE decoder: conv_in, mid (res, attn, res), 4 up levels of 3 res-blocks, upsample x2 between."""
    ops: list[Op] = []
    c = ch * mult[-1]
    h, w = lh, lw
    op, _, _ = conv2d("vae.conv_in", n, z, c, h, w, 3, pr)
    ops.append(op)
    _resblock(ops, "vae.mid.res0", n, c, c, h, w, pr)
    ops += _vae_mid_attention(n, h * w, c, pr)
    _resblock(ops, "vae.mid.res1", n, c, c, h, w, pr)
    for lvl in range(len(mult) - 1, -1, -1):
        cout = ch * mult[lvl]
        _resblock(ops, f"vae.up{lvl}.res0", n, c, cout, h, w, pr)
        _resblock(ops, f"vae.up{lvl}.res1-2", n, cout, cout, h, w, pr, count=2)
        c = cout
        if lvl > 0:
            h, w = h * 2, w * 2
            ops.append(nearest_upsample(f"vae.up{lvl}.resize", n * c * h * w, pr))
            op, _, _ = conv2d(f"vae.up{lvl}.upsample", n, c, c, h, w, 3, pr)
            ops.append(op)
    ops.append(eltwise("vae.out_gn_silu", n * h * w * c, pr, 10, reads=GROUPNORM_READS))
    op, _, _ = conv2d("vae.conv_out", n, c, 3, h, w, 3, pr)
    ops.append(op)
    return ops


# layers ModelOpt's filter_func_unet leaves unquantized (FP16) in the NVIDIA MLPerf SDXL UNet
# (time_embedding/add_embedding, conv_in, conv_out, conv_shortcut, up_blocks.2.resnets.2.conv1/2)
UNET_FP16_LAYERS = ("unet.time_embed", "unet.conv_in", "unet.conv_out", "unet.up0.res2.conv1", "unet.up0.res2.conv2")
HIGH_PRECISION = "fp16"  # trt_high_precision_dtype "Half" of SDXL_FP8_CFG (module doc)


def mixed_8bit_ops(ops: list[Op], pr: Precision, fp16_layers=UNET_FP16_LAYERS, hp: str = HIGH_PRECISION) -> list[Op]:
    """Re-type an 8-bit graph the way TensorRT runs a ModelOpt-quantized diffusion model
    (module doc): FP16 between layers, 8-bit GEMM inputs/weights, FP16 GEMM outputs,
    attention in FP8 only with the FP8 recipe, listed layers (and 1x1 skips) in FP16.
    `hp`: the 16-bit format of those tensors (bf16 on a chip without FP16 matrix support)."""
    if pr.compute not in ("int8", "fp8"):
        return list(ops)
    out: list[Op] = []
    for o in ops:
        if isinstance(o, MatMul):
            keep = o.name.startswith(fp16_layers) or o.name.endswith(".skip")
            if keep:
                out.append(replace(o, a_dtype=hp, w_dtype=hp, out_dtype=hp, math_dtype=hp))
            else:
                out.append(replace(o, out_dtype=hp))
        elif isinstance(o, Attention):
            out.append(replace(o, act_dtype=hp, kv_dtype=hp, math_dtype="fp8" if pr.compute == "fp8" else hp))
        elif isinstance(o, Elementwise):
            out.append(replace(o, dtype=hp))
        else:
            out.append(o)
    return out


QUANTIZE_FLOPS = 2  # scale multiply + saturating convert per element


@lru_cache(maxsize=1)
def standalone_quantize_rules() -> tuple[tuple[str, int, str], ...]:
    """(op-name suffix, quantize passes per op, element count) of the 8-bit GEMM/conv inputs whose
    quantize TensorRT cannot fuse into a producer (data/software/tensorrt_qdq_fusion.yaml, sourced)."""
    text = resources.files("tapeout").joinpath("data", "software", "tensorrt_qdq_fusion.yaml").read_text()
    return tuple((r["suffix"], int(r["quantizes"]), r["elems"]) for r in yaml.safe_load(text)["standalone"])


def _quantize_input_elems(o: MatMul, kind: str) -> float:
    """Elements of the GEMM/conv input: the real conv input (not im2col) or the GEMM's m x k operand."""
    if kind == "conv_input" and isinstance(o, ConvMatMul):
        return float(o.input_elems)
    if kind == "gemm_input":
        return float(o.batch * o.m * o.k)
    raise TapeoutError(f"tensorrt_qdq_fusion.yaml: elems '{kind}' does not apply to {o.name}; use conv_input "
                       "(convolutions) or gemm_input.")


def standalone_quantize_ops(ops: list[Op], hp: str = HIGH_PRECISION) -> list[Op]:
    """Insert, before each 8-bit GEMM/conv the rules name, its standalone FP16 -> 8-bit quantize
    pass(es): memory-bound, reading the `hp` tensor and writing the 8-bit one (elems * (2 + 1) B for
    FP16 -> FP8/INT8). Ops not named, and 16-bit ops, are returned unchanged."""
    rules = standalone_quantize_rules()
    out: list[Op] = []
    for o in ops:
        rule = next((r for r in rules if o.name.endswith(r[0])), None)
        if rule is not None and isinstance(o, MatMul) and dtype_bytes(o.a_dtype) < dtype_bytes(hp):
            out.append(Elementwise(name=f"{o.name}.quantize", count=o.count * rule[1], elems=_quantize_input_elems(o, rule[2]),
                                   flops_per_elem=QUANTIZE_FLOPS, reads=1, writes=dtype_bytes(o.a_dtype) / dtype_bytes(hp),
                                   dtype=hp))
        out.append(o)
    return out


# NVIDIA's MLPerf SDXL VAE engine below compute capability 10 (closed/NVIDIA/code/stable-diffusion-xl/
# tensorrt/builder.py SDXLVAEBuilder: modelopt_models/vae.int8, strongly typed; README "VAE is quantized
# to INT8-FP32"; sdxl_graphsurgeon.py insert_vae_fp16_conv_cast / insert_vae_fp16_linear_casts, v5.1):
# INT8 convs writing FP32, FP32 norms/activations between layers, and in FP16 (between FP32<->FP16
# casts) conv_in, the mid-block resnet convs, the mid attention (q/k/v/out and both BMMs) and the
# up_blocks.2/.3 resnets.1-2 convs (here vae.up1/vae.up0 res1-2).
VAE_TRT_FP16_LAYERS = ("vae.conv_in", "vae.mid.", "vae.up1.res1-2.conv", "vae.up0.res1-2.conv")


def tensorrt_int8_fp32_vae(ops: list[Op]) -> list[Op]:
    """Re-type an FP32 VAE graph as NVIDIA's INT8-FP32 engine (above). The casts around the FP16 layers
    are taken as fused into the neighbouring pointwise op or conv epilogue (TensorRT fuses adjacent
    pointwise layers); scripts/sdxl_offline_mechanisms.py vae_casts sizes them as separate passes."""
    out: list[Op] = []
    for o in ops:
        if not o.name.startswith("vae.") or isinstance(o, Elementwise):
            out.append(o)
        elif o.name.startswith(VAE_TRT_FP16_LAYERS):
            out += _all_fp16([o])
        elif isinstance(o, MatMul):
            out.append(replace(o, a_dtype="int8", w_dtype="int8", out_dtype="fp32", math_dtype="int8"))
        else:
            out.append(o)
    return out


def _all_fp16(ops: list[Op], hp: str = HIGH_PRECISION) -> list[Op]:
    out: list[Op] = []
    for o in ops:
        if isinstance(o, MatMul):
            out.append(replace(o, a_dtype=hp, w_dtype=hp, out_dtype=hp, math_dtype=hp))
        elif isinstance(o, Attention):
            out.append(replace(o, act_dtype=hp, kv_dtype=hp, math_dtype=hp))
        elif isinstance(o, Elementwise):
            out.append(replace(o, dtype=hp))
        else:
            out.append(o)
    return out


def sdxl_graph(batch: int = 1, steps: int = 20, resolution: int = 1024, precision: str | Precision = "fp16",
               cfg: bool = True, vae_precision: str | Precision | None = None, height: int | None = None,
               mixed_8bit: bool = True, high_precision: str = HIGH_PRECISION, tensorrt: bool = True,
               vae_int8_fp32: bool = False) -> OpGraph:
    """`batch` images: text encoders once, UNet x steps (x2 latents with CFG), VAE decode once.
    With an 8-bit `precision` and mixed_8bit, the UNet and text encoders follow the deployed
    TensorRT recipe (module doc); mixed_8bit=False runs every tensor in the 8-bit format.
    `high_precision`: the 16-bit format of the recipe's non-8-bit tensors (FP16 under TensorRT;
    a chip without FP16 matrix support runs them in BF16, e.g. Intel's Gaudi2 SDXL submission,
    declared 'fp8 UNet / bf16').
    `tensorrt`: the 8-bit recipe runs as a TensorRT engine, so the quantizes its Q/DQ fusion rule
    cannot fuse are separate passes (standalone_quantize_ops); False for another runtime, whose
    fusion the source does not describe.
    `vae_int8_fp32`: the VAE as NVIDIA's TensorRT harness builds it below compute capability 10
    (tensorrt_int8_fp32_vae; replaces `vae_precision`)."""
    n = check_batch(batch)
    require_positive("steps", steps)
    H = resolution if height is None else height  # height=0 is refused below, not read as "square"
    check_multiple("resolution", resolution, 32, "SDXL latent stride x UNet depth (8 x 4)")
    check_multiple("height", H, 32, "SDXL latent stride x UNet depth (8 x 4)")
    pr = as_precision(precision)
    vpr = as_precision(vae_precision) if vae_precision else (pr if pr.compute in ("bf16", "fp16") else as_precision("fp16"))
    if vae_int8_fp32:
        vpr = as_precision("fp32")
    lh, lw = H // 8, resolution // 8
    guided = 2 * n if cfg else n
    mixed = mixed_8bit and pr.compute in ("int8", "fp8")
    text = clip_text_ops("text.clip_l", guided, 12, 768, 12, 3072, pr)
    text += clip_text_ops("text.openclip_g", guided, 32, 1280, 20, 5120, pr)
    unet = sdxl_unet_ops(guided, lh, lw, pr, count=steps)
    unet.append(eltwise("scheduler_step", n * lh * lw * 4, pr, 10, reads=3, count=steps))
    if mixed:
        text = _all_fp16(text, high_precision)
        unet = mixed_8bit_ops(unet, pr, hp=high_precision)
        if tensorrt:
            unet = standalone_quantize_ops(unet, high_precision)
    ops: list[Op] = text + unet
    vae = vae_decoder_ops(n, lh, lw, vpr)
    ops += tensorrt_int8_fp32_vae(vae) if vae_int8_fp32 else vae
    wb = distinct_weight_bytes(ops, {"unet.": steps, "scheduler": steps})
    return OpGraph(f"sdxl:b{n}:{steps}steps:{resolution}x{H}:{pr.name}{'-mixed' if mixed else ''}", ops,
                   {"model": "sdxl", "batch": n, "units": n, "unit": "images", "steps": steps, "weight_bytes": wb,
                    "mixed_8bit": mixed})


# ------------------------------------------------------------------------------ DiT video

WAN_CONFIGS = {
    "wan2.1-14b": dict(dim=5120, ffn=13824, heads=40, layers=40, patch=(1, 2, 2), vae_stride=(4, 8, 8), text_len=512,
                       text_dim=4096, z=16, steps=50),
    "wan2.1-1.3b": dict(dim=1536, ffn=8960, heads=12, layers=30, patch=(1, 2, 2), vae_stride=(4, 8, 8), text_len=512,
                        text_dim=4096, z=16, steps=50),
    # Wan2.2 T2V A14B (Wan2.2 wan/configs/wan_t2v_A14B.py): two Wan2.1-14B-shaped DiTs, a
    # high-noise expert for timesteps above boundary 0.875 x 1000 and a low-noise expert below;
    # one expert runs per step (compute = one 14B DiT), both are resident (weights = 2 x 14B).
    # 40 sampling steps, CFG on both experts (guide scales 3.0/4.0), Wan2.1 VAE.
    "wan2.2-a14b": dict(dim=5120, ffn=13824, heads=40, layers=40, patch=(1, 2, 2), vae_stride=(4, 8, 8), text_len=512,
                        text_dim=4096, z=16, steps=40, experts=2, boundary=0.875),
}


def dit_video_tokens(model: str, frames: int, height: int, width: int) -> tuple[int, int, int]:
    cfg = WAN_CONFIGS[model]
    st, sh, sw = cfg["vae_stride"]
    pt, ph, pw = cfg["patch"]
    require_positive("frames", frames)
    if (frames - 1) % st:
        raise TapeoutError(f"frames={frames} must be 1 + a multiple of the VAE temporal stride {st} (e.g. 81).")
    check_multiple("height", height, sh * ph, "VAE stride x patch size")
    check_multiple("width", width, sw * pw, "VAE stride x patch size")
    lt = 1 + (frames - 1) // st
    return lt // pt, height // (sh * ph), width // (sw * pw)


def wan_graph(model: str = "wan2.1-14b", batch: int = 1, frames: int = 81, height: int = 720, width: int = 1280,
              steps: int | None = None, precision: str | Precision = "bf16", cfg_guidance: bool = True,
              include_vae: bool = True, include_text: bool = True) -> OpGraph:
    if model not in WAN_CONFIGS:
        raise TapeoutError(f"unknown DiT video model '{model}'. Known: {', '.join(WAN_CONFIGS)}.")
    c = WAN_CONFIGS[model]
    n = check_batch(batch)
    steps = c["steps"] if steps is None else steps  # 0 is refused below, not taken as "the default"
    require_positive("steps", steps)
    pr = as_precision(precision)
    t, hh, ww = dit_video_tokens(model, frames, height, width)
    L = t * hh * ww
    g = 2 * n if cfg_guidance else n
    d = c["dim"]
    pt, ph, pw = c["patch"]
    ops: list[Op] = []
    if include_text:  # umT5-XXL encoder: 24 layers, d 4096, 64 heads, FFN 10240 (gated-GELU)
        ops += transformer_block("text.umt5", g, c["text_len"], 4096, 64, 10240, pr, count=24, mlp="geglu")
    ops.append(linear("dit.text_proj", g * c["text_len"], d, c["text_dim"], pr, steps))
    ops.append(linear("dit.patchify", g * L, d, c["z"] * pt * ph * pw, pr, steps))
    ops.append(linear("dit.time_mod", g, 6 * d, d, pr, steps))
    ops += transformer_block("dit.block", g, L, d, c["heads"], c["ffn"], pr, count=c["layers"] * steps,
                             cross_len=c["text_len"], cross_dim=d)
    ops.append(linear("dit.unpatchify", g * L, c["z"] * pt * ph * pw, d, pr, steps))
    ops.append(eltwise("scheduler_step", n * L * c["z"] * pt * ph * pw, pr, 10, reads=3, count=steps))
    if include_vae:
        ops += _wan_vae_decoder(n, 1 + (frames - 1) // c["vae_stride"][0], height // 8, width // 8, pr, z=c["z"])
    wb = distinct_weight_bytes(ops, {"dit.": steps, "vae.": 1 + (frames - 1) // c["vae_stride"][0]})
    experts = c.get("experts", 1)
    if experts > 1:  # the other denoiser(s) are resident but idle on this step: weights only
        wb += (experts - 1) * distinct_weight_bytes([o for o in ops if o.name.startswith("dit.")], {"dit.": steps})
    return OpGraph(f"{model}:b{n}:{frames}f:{width}x{height}:{steps}steps:{pr.name}", ops,
                   {"model": model, "batch": n, "units": n, "unit": "clips", "tokens": L, "steps": steps, "weight_bytes": wb,
                    "experts": experts})


def _wan_vae_decoder(n: int, lt: int, lh: int, lw: int, pr: Precision, z: int = 16, base: int = 96, mult=(1, 2, 4, 4)) -> list[Op]:
    """Causal 3-D conv decoder (3x3x3 convs as implicit GEMMs), run chunk by chunk: one latent
    frame -> 4 video frames per chunk with cached causal context, as Wan-VAE decodes (so the
    activations of one chunk, not the whole clip, are live). Approximate (see module doc)."""
    ops: list[Op] = []
    t, h, w = 1, lh, lw
    c = base * mult[-1]
    chunks = lt

    def conv(tag, cin, cout, t, h, w, count=1):
        ops.append(ConvMatMul(name=tag, count=count * chunks, m=n * t * h * w, n=cout, k=cin * 27, a_dtype=pr.activations,
                              w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute,
                              input_elems=float(n * t * h * w * cin), taps=27))
        ops.append(eltwise(f"{tag}.norm_act", n * t * h * w * cout, pr, 8, count=count * chunks))

    conv("vae.conv_in", z, c, t, h, w)
    conv("vae.mid", c, c, t, h, w, count=4)
    for lvl in range(len(mult) - 1, -1, -1):
        cout = base * mult[lvl]
        conv(f"vae.up{lvl}.res", c, cout, t, h, w)
        conv(f"vae.up{lvl}.res_rest", cout, cout, t, h, w, count=5)
        c = cout
        if lvl > 0:
            h, w = h * 2, w * 2
            if lvl >= 2:  # temporal x2 on the two deepest levels: 4 frames per latent frame
                t = 2 * t
            conv(f"vae.up{lvl}.upsample", c, c, t, h, w)
    conv("vae.conv_out", c, 3, t, h, w)
    return ops


# ------------------------------------------------------------------------------ FLUX.1 (MMDiT)

FLUX_CONFIGS = {  # data/models/workloads/flux.yaml (black-forest-labs/flux util.py, HF transformer/config.json)
    "flux1-dev": dict(hidden=3072, heads=24, double=19, single=38, mlp_ratio=4, in_channels=64, vec_dim=768,
                      ctx_dim=4096, guidance_embed=True, t5_len=512, steps=50),
    "flux1-schnell": dict(hidden=3072, heads=24, double=19, single=38, mlp_ratio=4, in_channels=64, vec_dim=768,
                          ctx_dim=4096, guidance_embed=False, t5_len=256, steps=4),
}
FLUX_LATENT_STRIDE = 16  # VAE /8 x 2x2 packing (flux cli.py rounds height/width to 16)


def flux_tokens(height: int, width: int) -> int:
    check_multiple("height", height, FLUX_LATENT_STRIDE, "VAE stride x 2x2 latent packing")
    check_multiple("width", width, FLUX_LATENT_STRIDE, "VAE stride x 2x2 latent packing")
    return (height // FLUX_LATENT_STRIDE) * (width // FLUX_LATENT_STRIDE)


def _flux_stream(tag: str, T: float, d: int, mlp: int, pr: Precision, count: float) -> tuple[list[Op], list[Op]]:
    """One stream of a double block: (ops before the joint attention, ops after it)."""
    pre = [eltwise(f"{tag}.norm1_mod", T * d, pr, 7, count=count),
           linear(f"{tag}.qkv", T, 3 * d, d, pr, count),
           eltwise(f"{tag}.qk_rmsnorm_rope", T * 2 * d, pr, 8, count=count)]
    post = [linear(f"{tag}.proj", T, d, d, pr, count),
            *epilogue(f"{tag}.gate_residual1", T * d, pr, 2, reads=2, count=count),
            eltwise(f"{tag}.norm2_mod", T * d, pr, 7, count=count),
            linear(f"{tag}.fc1", T, mlp, d, pr, count),
            *epilogue(f"{tag}.gelu", T * mlp, pr, 8, count=count),
            linear(f"{tag}.fc2", T, d, mlp, pr, count),
            *epilogue(f"{tag}.gate_residual2", T * d, pr, 2, reads=2, count=count)]
    return pre, post


def flux_transformer_ops(n: int, img_tokens: int, txt_tokens: int, pr: Precision, count: float = 1,
                         cfg: dict = FLUX_CONFIGS["flux1-dev"]) -> list[Op]:
    """One FLUX transformer evaluation on n latents (count multiplies: steps)."""
    d, heads, mlp = cfg["hidden"], cfg["heads"], cfg["mlp_ratio"] * cfg["hidden"]
    L = img_tokens + txt_tokens
    Ti, Tt, T = n * img_tokens, n * txt_tokens, n * L
    dh = d // heads
    embedders = ("time_in",) + (("guidance_in",) if cfg["guidance_embed"] else ())
    ops: list[Op] = [linear("flux.img_in", Ti, d, cfg["in_channels"], pr, count),
                     linear("flux.txt_in", Tt, d, cfg["ctx_dim"], pr, count)]
    for e in embedders:  # MLPEmbedder(256 -> d -> d) on the sinusoidal timestep / guidance
        ops += [linear(f"flux.{e}.in", n, d, 256, pr, count), linear(f"flux.{e}.out", n, d, d, pr, count)]
    ops += [linear("flux.vector_in.in", n, d, cfg["vec_dim"], pr, count), linear("flux.vector_in.out", n, d, d, pr, count)]

    def joint_attn(name: str, c: float) -> Attention:
        return Attention(name=name, count=c, batch=n, q_len=L, kv_len=L, heads=heads, kv_heads=heads, d_qk=dh,
                         d_v=dh, causal=False, act_dtype=pr.activations, kv_dtype=pr.activations, math_dtype=pr.compute)

    cd = count * cfg["double"]
    img_pre, img_post = _flux_stream("flux.double.img", Ti, d, mlp, pr, cd)
    txt_pre, txt_post = _flux_stream("flux.double.txt", Tt, d, mlp, pr, cd)
    ops += [linear("flux.double.img_mod", n, 6 * d, d, pr, cd), linear("flux.double.txt_mod", n, 6 * d, d, pr, cd)]
    ops += img_pre + txt_pre + [joint_attn("flux.double.joint_attn", cd)] + img_post + txt_post
    cs = count * cfg["single"]
    ops += [linear("flux.single.mod", n, 3 * d, d, pr, cs),
            eltwise("flux.single.norm_mod", T * d, pr, 7, count=cs),
            linear("flux.single.linear1", T, 3 * d + mlp, d, pr, cs),
            eltwise("flux.single.qk_rmsnorm_rope", T * 2 * d, pr, 8, count=cs),
            joint_attn("flux.single.attn", cs),
            *epilogue("flux.single.gelu", T * mlp, pr, 8, count=cs),
            linear("flux.single.linear2", T, d, d + mlp, pr, cs),
            *epilogue("flux.single.gate_residual", T * d, pr, 2, reads=2, count=cs)]
    ops += [linear("flux.final.mod", n, 2 * d, d, pr, count),
            linear("flux.final.proj", Ti, cfg["in_channels"], d, pr, count)]
    return ops


def flux_text_ops(n: int, cfg: dict, pr: Precision) -> list[Op]:
    """FLUX's frozen text encoders on n prompts: T5-XXL (cfg t5_len tokens) and CLIP-L (pooled vector)."""
    return (transformer_block("text.t5xxl", n, cfg["t5_len"], 4096, 64, 10240, pr, count=24, mlp="geglu")
            + clip_text_ops("text.clip_l", n, 12, 768, 12, 3072, pr))


def flux_graph(model: str = "flux1-dev", batch: int = 1, height: int = 1024, width: int = 1024,
               steps: int | None = None, precision: str | Precision = "bf16", include_text: bool = True,
               include_vae: bool = True) -> OpGraph:
    """`batch` images: T5-XXL + CLIP-L once per prompt, the transformer x steps (guidance-
    distilled: one pass per step), VAE decode once (module doc)."""
    if model not in FLUX_CONFIGS:
        raise TapeoutError(f"unknown FLUX model '{model}'. Known: {', '.join(FLUX_CONFIGS)}.")
    c = FLUX_CONFIGS[model]
    n = check_batch(batch)
    steps = c["steps"] if steps is None else steps
    require_positive("steps", steps)
    pr = as_precision(precision)
    img = flux_tokens(height, width)
    ops: list[Op] = []
    if include_text:
        ops += flux_text_ops(n, c, pr)
    ops += flux_transformer_ops(n, img, c["t5_len"], pr, count=steps, cfg=c)
    ops.append(eltwise("scheduler_step", n * img * c["in_channels"], pr, 3, reads=2, count=steps))  # x += dt * v
    if include_vae:
        ops += vae_decoder_ops(n, height // 8, width // 8, pr, z=16)
    wb = distinct_weight_bytes(ops, {"flux.": steps})
    return OpGraph(f"{model}:b{n}:{width}x{height}:{steps}steps:{pr.name}", ops,
                   {"model": model, "batch": n, "units": n, "unit": "images", "steps": steps, "image_tokens": img,
                    "text_tokens": c["t5_len"], "weight_bytes": wb})
