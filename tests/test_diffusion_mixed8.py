"""SDXL as deployed in 8 bits (TensorRT + ModelOpt recipe, workloads/diffusion.py module doc)
and the two-pass GroupNorm."""

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, Elementwise, MatMul
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.workloads import diffusion


def _ops(g, prefix, kind):
    return [o for o in g.ops if o.name.startswith(prefix) and isinstance(o, kind)]


def test_fp8_unet_runs_8bit_gemms_with_fp16_tensors_between_layers():
    g = diffusion.sdxl_graph(1, steps=1, precision="fp8")
    assert g.meta["mixed_8bit"] is True
    mm = _ops(g, "unet.", MatMul)
    quant = [o for o in mm if o.math_dtype == "fp8"]
    kept = [o for o in mm if o.math_dtype == "fp16"]
    # every UNet GEMM writes FP16 (output quantizers disabled)
    assert all(o.out_dtype == "fp16" for o in mm)
    assert all(o.a_dtype == "fp8" and o.w_dtype == "fp8" for o in quant)
    # filter_func_unet keeps conv_in, conv_out, time embedding, the 1x1 skips, up_blocks.2.resnets.2 convs
    kept_names = {o.name for o in kept}
    assert {"unet.conv_in", "unet.conv_out", "unet.time_embed", "unet.up0.res2.conv1", "unet.up0.res2.conv2"} <= kept_names
    assert all(n.endswith(".skip") or n in {"unet.conv_in", "unet.conv_out", "unet.time_embed", "unet.up0.res2.conv1",
                                            "unet.up0.res2.conv2"} for n in kept_names)
    assert "unet.up0.res1.conv1" not in kept_names
    # FP8 recipe quantizes the fMHA BMMs; tensors around it are FP16
    att = _ops(g, "unet.", Attention)
    assert att and all(a.math_dtype == "fp8" and a.act_dtype == "fp16" for a in att)
    assert all(e.dtype == "fp16" for e in _ops(g, "unet.", Elementwise))
    # CLIP encoders are FP16 engines
    assert all(o.math_dtype == "fp16" for o in _ops(g, "text.", MatMul))


def test_int8_unet_keeps_attention_fp16():
    g = diffusion.sdxl_graph(1, steps=1, precision="int8")
    att = _ops(g, "unet.", Attention)
    assert all(a.math_dtype == "fp16" for a in att)
    assert any(o.math_dtype == "int8" for o in _ops(g, "unet.", MatMul))


def test_mixed_flag_off_and_16bit_unchanged():
    pure = diffusion.sdxl_graph(1, steps=1, precision="fp8", mixed_8bit=False)
    assert all(o.math_dtype == "fp8" for o in _ops(pure, "unet.", MatMul))
    assert all(a.math_dtype == "fp8" for a in _ops(pure, "unet.", Attention))
    a = diffusion.sdxl_graph(1, steps=1, precision="fp16")
    b = diffusion.sdxl_graph(1, steps=1, precision="fp16", mixed_8bit=False)
    assert [o for o in a.ops] == [o for o in b.ops]
    assert a.meta["mixed_8bit"] is False


def test_mixed_recipe_costs_more_than_pure_fp8_and_less_than_fp16():
    p = calibrated_params(get_chip("h100-sxm"))
    t = {k: float(evaluate(diffusion.sdxl_graph(2, precision=k[0], mixed_8bit=k[1]), p).total_time)
         for k in (("fp8", False), ("fp8", True), ("fp16", True))}
    assert t[("fp8", False)] < t[("fp8", True)] < t[("fp16", True)]
    # same FLOPs, only dtypes differ, plus the standalone quantize passes of the mixed recipe
    mixed = diffusion.sdxl_graph(2, precision="fp8")
    f1 = mixed.flops - sum(o.flops * o.count for o in mixed.ops if o.name.endswith(".quantize"))
    f2 = diffusion.sdxl_graph(2, precision="fp8", mixed_8bit=False).flops
    assert f1 == pytest.approx(f2)


def test_groupnorm_is_two_pass():
    g = diffusion.sdxl_graph(1, steps=1, precision="fp16")
    gn = [o for o in g.ops if isinstance(o, Elementwise) and (".gn" in o.name or "gn_silu" in o.name)]
    assert gn and all(o.reads == 2 and o.writes == 1 for o in gn)
    # closed form: conv_out GroupNorm at 128x128 latents, 320 ch, FP16: (2 reads + 1 write) x 2 B
    o = next(o for o in g.ops if o.name == "unet.out_gn_silu")
    assert o.elems == 1 * 2 * 128 * 128 * 320  # CFG doubles the latents
    assert o.input_bytes + o.output_bytes == pytest.approx(o.elems * 3 * 2)


def test_mixed_recipe_on_a_chip_without_fp16_keeps_its_16bit_tensors_in_bf16():
    """Gaudi2 has no FP16 matrix rate in the catalog; its SDXL submission declares 'fp8 UNet /
    bf16': the recipe's 16-bit tensors run BF16 there, FP16 (TensorRT 'Half') elsewhere, and the
    8-bit GEMMs are the same on both."""
    from tapeout.validation.other_rows import half_precision

    assert half_precision(get_chip("gaudi2")) == "bf16" and half_precision(get_chip("h100-sxm")) == "fp16"
    fp16 = diffusion.sdxl_graph(1, steps=1, precision="fp8")
    bf16 = diffusion.sdxl_graph(1, steps=1, precision="fp8", vae_precision="bf16", high_precision="bf16")
    used = {d for o in bf16.ops for d in (getattr(o, "math_dtype", None), getattr(o, "out_dtype", None),
                                         getattr(o, "act_dtype", None), getattr(o, "dtype", None)) if d}
    assert "fp16" not in used and {"bf16", "fp8"} <= used
    assert [o.math_dtype for o in _ops(bf16, "unet.", MatMul) if o.math_dtype == "fp8"] == \
        [o.math_dtype for o in _ops(fp16, "unet.", MatMul) if o.math_dtype == "fp8"]
    p = calibrated_params(get_chip("gaudi2"))
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match="fp16"):
        evaluate(fp16, p)  # the FP16 recipe cannot be costed on gaudi2 (the rows were skipped)
    assert float(evaluate(bf16, p).total_time) > 0


# --- standalone quantize passes (data/software/tensorrt_qdq_fusion.yaml, issue 17 round stop-17)

SDXL_CROSS_ATTN_BLOCKS = 2 * 2 + 2 * 10 + 10 + 3 * 2 + 3 * 10  # down1, down2, mid, up1, up2 transformer blocks


@pytest.mark.parametrize("prec", ["fp8", "int8"])
def test_standalone_quantize_bytes_in_closed_form(prec):
    """Hand count for one UNet evaluation on 2 latents (batch 1 with CFG), 1024x1024 -> 128x128 latents:
    each standalone quantize reads 2 B (FP16) and writes 1 B (8-bit) per element.
    Downsamplers: 320 ch at 128x128 and 640 ch at 64x64 (SDXL block_out_channels 320/640/1280).
    Cross-attention: to_k and to_v each quantize encoder_hidden_states, 77 tokens x 2048, in all 70 blocks."""
    g = diffusion.sdxl_graph(1, steps=1, precision=prec)
    q = [o for o in g.ops if o.name.endswith(".quantize")]
    assert all(isinstance(o, Elementwise) and o.dtype == "fp16" for o in q)
    down = 2 * (320 * 128 * 128 + 640 * 64 * 64)
    cross = SDXL_CROSS_ATTN_BLOCKS * 2 * (2 * 77 * 2048)
    got = sum(o.count * (o.input_bytes + o.output_bytes) for o in q)
    assert got == pytest.approx(3 * (down + cross), rel=1e-12)
    assert sum(o.count * o.elems for o in q if "downsample" in o.name) == pytest.approx(down)
    # each pass sits right before the 8-bit op it feeds
    names = [o.name for o in g.ops]
    for o in q:
        consumer = g.ops[names.index(o.name) + 1]
        assert consumer.name + ".quantize" == o.name and consumer.a_dtype == prec


def test_no_standalone_quantize_in_16bit_pure_8bit_or_non_tensorrt_graphs():
    for g in (diffusion.sdxl_graph(1, steps=1, precision="fp16"),
              diffusion.sdxl_graph(1, steps=1, precision="fp8", mixed_8bit=False),
              diffusion.sdxl_graph(1, steps=1, precision="fp8", tensorrt=False)):
        assert not [o for o in g.ops if o.name.endswith(".quantize")]


def test_standalone_quantize_is_memory_bound_at_hbm_rate():
    """On H100 SXM the passes are memory-bound: time >= bytes / peak HBM bandwidth (3.35 TB/s)."""
    p = calibrated_params(get_chip("h100-sxm"))
    g = diffusion.sdxl_graph(2, steps=1, precision="fp8")
    q = [o for o in g.ops if o.name.endswith(".quantize")]
    from tapeout.ops import OpGraph
    r = evaluate(OpGraph("q", q, {}), p)
    moved = sum(o.count * (o.input_bytes + o.output_bytes) for o in q)
    assert float(r.total_time) >= moved / 3.35e12
