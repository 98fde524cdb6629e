"""SDXL per component, counted by hand from the published configs (issue 17, round stop-20):
UNet (generative-models sd_xl_base.yaml = diffusers unet/config.json: block_out_channels 320/640/1280,
2 res-blocks down / 3 up, transformer depth 0/2/10, head dim 64, context 2048 x 77 tokens, GEGLU 4x),
VAE decoder (diffusers AutoencoderKL: 512/512/256/128 channels from 128 to 1024 px, single-head
mid attention) and the two CLIP text encoders. A 3x3 conv = 9 C_in C_out H W MACs at its output
resolution, a 1x1 conv C_in C_out H W; numbers below are written out, not taken from the builder."""

import pytest

from tapeout.ops import Attention, Elementwise, MatMul
from tapeout.workloads import diffusion
from tapeout.workloads.blocks import ConvMatMul

A, B, C = 128 * 128, 64 * 64, 32 * 32  # UNet positions per latent at the three levels (1024 px image)


def c3(ci, co, hw):
    return 9 * ci * co * hw


def c1(ci, co, hw):
    return ci * co * hw


def _macs(ops):
    return sum(o.flops / 2 * o.count for o in ops)


def _unet(n=1):
    return diffusion.sdxl_unet_ops(n, 128, 128, diffusion.as_precision("fp16"))


def test_unet_conv_macs_closed_form():
    """Every UNet conv of one evaluation on one 128x128 latent, block by block (skip widths from
    diffusers: up_blocks.0 res 1280+1280, 1280+1280, 1280+640; up_blocks.1 1280+640, 640+640, 640+320;
    up_blocks.2 640+320, 320+320, 320+320)."""
    hand = (c3(4, 320, A) + 4 * c3(320, 320, A) + c3(320, 320, B)                       # conv_in, down0, downsample
            + c3(320, 640, B) + c3(640, 640, B) + c1(320, 640, B) + 2 * c3(640, 640, B)  # down1
            + c3(640, 640, C)                                                          # downsample
            + c3(640, 1280, C) + c3(1280, 1280, C) + c1(640, 1280, C) + 2 * c3(1280, 1280, C)  # down2
            + 4 * c3(1280, 1280, C)                                                     # mid res0, res1
            + 2 * (c3(2560, 1280, C) + c3(1280, 1280, C) + c1(2560, 1280, C))
            + c3(1920, 1280, C) + c3(1280, 1280, C) + c1(1920, 1280, C)                 # up2
            + c3(1280, 1280, B)                                                        # upsample to 64x64
            + c3(1920, 640, B) + c3(640, 640, B) + c1(1920, 640, B)
            + c3(1280, 640, B) + c3(640, 640, B) + c1(1280, 640, B)
            + c3(960, 640, B) + c3(640, 640, B) + c1(960, 640, B)                       # up1
            + c3(640, 640, A)                                                          # upsample to 128x128
            + c3(960, 320, A) + c3(320, 320, A) + c1(960, 320, A)
            + 2 * (c3(640, 320, A) + c3(320, 320, A) + c1(640, 320, A))                 # up0
            + c3(320, 4, A))                                                           # conv_out
    convs = [o for o in _unet() if isinstance(o, ConvMatMul)]
    assert _macs(convs) == hand


def test_unet_transformer_linear_and_attention_macs_closed_form():
    """Per transformer block of width c over T tokens: q/k/v/out (4c^2), cross q/out (2c^2), GEGLU
    c -> 8c and 4c -> c (12c^2) = 18 c^2 per token, plus the context K/V (2 x 77 x 2048 x c) and
    proj_in/proj_out (2 c^2 per token) per spatial transformer. Level 1 (64x64, c 640): 10 blocks in
    5 transformers; level 2 (32x32, c 1280): 60 blocks in 6 (2 down, mid, 3 up)."""
    ctx = 77 * 2048
    hand_linear = (10 * (18 * B * 640 ** 2 + 2 * ctx * 640) + 5 * 2 * B * 640 ** 2
                   + 60 * (18 * C * 1280 ** 2 + 2 * ctx * 1280) + 6 * 2 * C * 1280 ** 2)
    ops = _unet()
    lin = [o for o in ops if type(o) is MatMul and ".attn" in o.name]
    assert _macs(lin) == hand_linear
    # attention: QK^T and PV, T x kv x c each per block
    hand_attn = 10 * (2 * B * B * 640 + 2 * B * 77 * 640) + 60 * (2 * C * C * 1280 + 2 * C * 77 * 1280)
    att = [o for o in ops if isinstance(o, Attention)]
    assert sum(o.batch * o.heads * o.q_len * o.kv_len * (o.d_qk + o.d_v) * o.count for o in att) == hand_attn


def test_unet_attention_shapes():
    """Head dim 64 everywhere: 10 heads at 4096 tokens (64x64), 20 heads at 1024 tokens (32x32);
    cross-attention over the 77 context tokens."""
    shapes = {}
    for o in _unet():
        if isinstance(o, Attention):
            key = (o.q_len, o.kv_len, o.heads, o.d_qk)
            shapes[key] = shapes.get(key, 0) + o.count
    assert shapes == {(4096, 4096, 10, 64): 10, (4096, 77, 10, 64): 10,
                      (1024, 1024, 20, 64): 60, (1024, 77, 20, 64): 60}


def test_vae_decoder_macs_closed_form():
    """Decoder of one 128x128x4 latent to 1024x1024: conv_in 4 -> 512, mid (2 res-blocks + attention),
    up_blocks 512 @128, 512 @256, 256 @512, 128 @1024 (3 res-blocks each), a nearest x2 + 3x3 conv
    between them, conv_out 128 -> 3. Mid attention: one head of width 512 over 16384 tokens."""
    D, E, F = 256 * 256, 512 * 512, 1024 * 1024
    hand_conv = (c3(4, 512, A) + 4 * c3(512, 512, A) + 6 * c3(512, 512, A) + c3(512, 512, D)
                 + 6 * c3(512, 512, D) + c3(512, 512, E)
                 + c3(512, 256, E) + c3(256, 256, E) + c1(512, 256, E) + 4 * c3(256, 256, E) + c3(256, 256, F)
                 + c3(256, 128, F) + c3(128, 128, F) + c1(256, 128, F) + 4 * c3(128, 128, F) + c3(128, 3, F))
    ops = diffusion.vae_decoder_ops(1, 128, 128, diffusion.as_precision("fp16"))
    assert _macs([o for o in ops if isinstance(o, ConvMatMul)]) == hand_conv
    assert _macs([o for o in ops if type(o) is MatMul]) == 4 * A * 512 ** 2
    (att,) = [o for o in ops if isinstance(o, Attention)]
    assert (att.q_len, att.kv_len, att.heads, att.d_qk) == (A, A, 1, 512)
    # the mid-block norm is a GroupNorm (two reads), and no other norm sits in the attention block
    assert [o.name for o in ops if o.name.startswith("vae.mid.attn") and isinstance(o, Elementwise)] == ["vae.mid.attn.gn"]


@pytest.mark.parametrize("n", [1, 8])
def test_upsample_resize_bytes_closed_form(n):
    """Nearest x2 before each upsampling conv: read C H W, write 4 C H W (FP16). UNet: 1280 ch 32 -> 64
    and 640 ch 64 -> 128 per latent; VAE: 512 ch to 256 and 512 px, 256 ch to 1024 px per image."""
    pr = diffusion.as_precision("fp16")
    unet = [o for o in diffusion.sdxl_unet_ops(n, 128, 128, pr) if o.name.endswith(".resize")]
    out = n * (1280 * B + 640 * A)
    assert sum(o.input_bytes + o.output_bytes for o in unet) == pytest.approx(2 * out * 1.25)
    vae = [o for o in diffusion.vae_decoder_ops(n, 128, 128, pr) if o.name.endswith(".resize")]
    out_v = n * (512 * 256 ** 2 + 512 * 512 ** 2 + 256 * 1024 ** 2)
    assert sum(o.input_bytes + o.output_bytes for o in vae) == pytest.approx(2 * out_v * 1.25)


def test_text_encoder_linear_macs_closed_form():
    """CLIP ViT-L/14 text (12 layers, 768, FFN 3072) and OpenCLIP bigG/14 text (32 layers, 1280, FFN
    5120) on 77 tokens: 4c^2 + 2 c ffn per token per layer; CFG encodes 2 prompts per image."""
    g = diffusion.sdxl_graph(1, steps=1, precision="fp16")
    per_prompt = 77 * (12 * (4 * 768 ** 2 + 2 * 768 * 3072) + 32 * (4 * 1280 ** 2 + 2 * 1280 * 5120))
    assert _macs([o for o in g.ops if o.name.startswith("text.") and isinstance(o, MatMul)]) == 2 * per_prompt


def test_step_and_guidance_counts():
    """20 steps x 2 latents per image (CFG) UNet evaluations; text encoders and VAE once per image."""
    g1 = diffusion.sdxl_graph(1, steps=1, precision="fp16")
    g20 = diffusion.sdxl_graph(1, steps=20, precision="fp16")
    unet1 = _macs([o for o in g1.ops if o.name.startswith("unet.") and isinstance(o, MatMul)])
    unet20 = _macs([o for o in g20.ops if o.name.startswith("unet.") and isinstance(o, MatMul)])
    assert unet20 == pytest.approx(20 * unet1)
    assert unet1 == pytest.approx(2 * _macs([o for o in _unet(1) if isinstance(o, MatMul)]))
    assert [o for o in g20.ops if o.name.startswith(("vae.", "text."))] == \
        [o for o in g1.ops if o.name.startswith(("vae.", "text."))]


def test_tensorrt_int8_fp32_vae_types():
    """NVIDIA's VAE engine below compute capability 10 (builder.py SDXLVAEBuilder, sdxl_graphsurgeon.py):
    INT8 convs writing FP32, FP32 norms/activations, FP16 conv_in / mid block / up_blocks.2-3 resnets.1-2
    convs. Only the VAE changes; its FP32 norms move twice the bytes of FP16 ones."""
    plain = diffusion.sdxl_graph(1, steps=1, precision="fp8", vae_precision="fp16")
    trt = diffusion.sdxl_graph(1, steps=1, precision="fp8", vae_int8_fp32=True)
    assert [o for o in trt.ops if not o.name.startswith("vae.")] == [o for o in plain.ops if not o.name.startswith("vae.")]
    vae = [o for o in trt.ops if o.name.startswith("vae.")]
    assert all(o.dtype == "fp32" for o in vae if isinstance(o, Elementwise))
    fp16 = {o.name for o in vae if isinstance(o, MatMul) and o.math_dtype == "fp16"}
    assert fp16 == {"vae.conv_in", "vae.mid.res0.conv1", "vae.mid.res0.conv2", "vae.mid.res1.conv1", "vae.mid.res1.conv2",
                    "vae.mid.attn.qkv", "vae.mid.attn.out", "vae.up1.res1-2.conv1", "vae.up1.res1-2.conv2",
                    "vae.up0.res1-2.conv1", "vae.up0.res1-2.conv2"}
    int8 = [o for o in vae if isinstance(o, MatMul) and o.name not in fp16]
    assert int8 and all((o.a_dtype, o.w_dtype, o.math_dtype, o.out_dtype) == ("int8", "int8", "int8", "fp32") for o in int8)
    gn = lambda g: sum(o.input_bytes + o.output_bytes for o in g.ops if o.name == "vae.out_gn_silu")  # noqa: E731
    assert gn(trt) == pytest.approx(2 * gn(plain)) == pytest.approx(4 * 3 * 128 * 1024 ** 2)


@pytest.mark.parametrize("family, software, want", [
    ("nvidia-hopper", "TensorRT 10.2", "int8-fp32"),
    ("nvidia-ada", "TensorRT 10.2", "int8-fp32"),
    ("nvidia-blackwell", "TensorRT 10.8", "fp32"),
    ("amd-cdna3", "ROCm 6.2, MIGraphX", "fp16"),
])
def test_validation_picks_the_harness_vae(family, software, want):
    """Which VAE engine a row's harness builds: NVIDIA's builder.py (FP32 + TF32 from compute capability
    10, INT8-FP32 below); another stack keeps the recipe's 16-bit format."""
    from tapeout.validation.other_rows import inference_graph
    g = inference_graph("sdxl", 1, "fp8", software, False, "fp16", family)
    convs = [o for o in g.ops if o.name.startswith("vae.up") and isinstance(o, ConvMatMul)]
    got = {(o.math_dtype, o.out_dtype) for o in convs}
    assert got == {"int8-fp32": {("int8", "fp32"), ("fp16", "fp16")}, "fp32": {("tf32", "fp32")},
                   "fp16": {("fp16", "fp16")}}[want]
