"""Size the candidate causes of the SDXL Offline optimism (issue 17), one at a time, on the graph and
op costs validate uses. Nothing here changes a prediction or reads a measured end-to-end result.

    python scripts/sdxl_offline_mechanisms.py [CHIP:PRECISION ...]   (default: h100-sxm:fp8 h100-nvl:fp8 l40s:int8)
    python scripts/sdxl_offline_mechanisms.py --components [CHIP:PRECISION ...]   (time and rate per component)

Per chip (NVIDIA's TensorRT recipe: FP8 UNet on Hopper, INT8 on Ada; batch 8 = 16 latents with CFG):
  1. time per image by op class (where the modelled time goes);
  2. what-ifs, each as the factor on the image time:
     - q_pass: a standalone FP16 -> 8-bit quantize kernel (read 2 B, write 1 B per element) before every
       8-bit GEMM/conv input. ModelOpt's SDXL recipe disables output quantizers, so every layer writes
       FP16 and each 8-bit consumer needs a quantize; TensorRT cannot fuse it into a producer whose
       output must stay floating point (TensorRT docs, explicit quantization, Q/DQ fusion). Upper bound:
       it assumes none fuses into the preceding norm/pointwise op;
     - attn_cudnn: fused attention at cuDNN's FP8 head-dim-64 rate instead of the modelled one
       (FlashAttention-3 paper arXiv:2407.08608 Fig. 7, FP8 forward, no mask, head dim 64, H100 SXM5:
       cuDNN 398 TFLOPS/s at 1k, 413 at 4k tokens; FlashAttention-3 396 / 568);
     - vae_casts: the graph carries NVIDIA's INT8-FP32 VAE (workloads/diffusion.py tensorrt_int8_fp32_vae,
       casts fused); this charges the FP32<->FP16 casts around its FP16 convs as separate passes;
     - resize_fp32: the two UNet upsamplers' nearest Resize run in FP32 between casts (same file,
       update_resize).
  3. with the optional `kernels` extra: NVIDIA's measured TensorRT-LLM FP8 linear layers (AIConfigurator
     database, H100 SXM, M = 16,384 tokens): at fixed K the time per M*K element grows linearly in N,
     t / (M K) = 2 N / R + c. The slope gives the pure FP8 GEMM rate R (compared with the model's rate
     for the same GEMM), the intercept c the cost per input element that does not scale with N (read
     here as the 16-bit -> FP8 quantize of the activation inside the measured op; not verified).
"""
from __future__ import annotations

import collections
import sys
from dataclasses import replace

import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, Elementwise, MatMul, OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.validation.other_rows import OFFLINE_BATCH, half_precision, inference_graph
from tapeout.workloads.blocks import ConvMatMul

CUDNN_FP8_HD64 = {1024: 398e12, 4096: 413e12}  # FA3 paper Fig. 7 (see module doc), FLOP/s by tokens
UPSAMPLERS = ("unet.up2.upsample", "unet.up1.upsample")  # diffusers up_blocks.0 / .1 upsamplers


def seconds(ops, p) -> float:
    return float(evaluate(OpGraph("x", list(ops), {}), p).total_time)


def between_casts(name: str, count: float, middle, n_in: float, n_out: float, inner_fp32: bool) -> list:
    """`middle` between a cast of its n_in input elements and one of its n_out output elements, FP16 <->
    FP32 (inner_fp32: the middle runs in FP32). Casts count as FP16 traffic: an FP32 element = 2 reads/writes."""
    wide_in, wide_out = (1, 2) if inner_fp32 else (2, 1)
    return [Elementwise(name=f"{name}.cast_in", count=count, elems=float(n_in), reads=wide_in, writes=wide_out, dtype="fp16"),
            middle,
            Elementwise(name=f"{name}.cast_out", count=count, elems=float(n_out), reads=wide_out, writes=wide_in, dtype="fp16")]


def in_elems(o: MatMul) -> float:
    return o.input_elems if isinstance(o, ConvMatMul) and o.input_elems > 0 else float(o.m * o.k * o.groups)


def unfused_8bit(ops) -> list:
    """8-bit GEMM/conv ops whose input quantize the graph does not already run as its own pass
    (the graph carries the documented standalone ones, workloads/diffusion.py standalone_quantize_ops)."""
    have = {o.name for o in ops}
    return [o for o in ops if isinstance(o, MatMul) and o.a_dtype in ("fp8", "int8") and f"{o.name}.quantize" not in have]


def q_pass(ops):
    extra = [Elementwise(name=f"{o.name}.quantize", count=o.count, elems=in_elems(o), flops_per_elem=2, writes=0.5,
                         dtype="fp16") for o in unfused_8bit(ops)]  # read 2 B, write 1 B per element
    return list(ops) + extra


def rewrite(ops, one) -> list:
    """Each op replaced by the list `one(op)` returns."""
    return [x for o in ops for x in one(o)]


def attn_cudnn(ops, p):
    def one(o):
        if isinstance(o, Attention) and o.q_len in CUDNN_FP8_HD64 and o.math_dtype == "fp8" and o.d_qk == 64:
            rate = o.flops * o.count / seconds([o], p)
            return [replace(o, count=o.count * max(1.0, rate / CUDNN_FP8_HD64[o.q_len]))]
        return [o]
    return rewrite(ops, one)


def vae_casts(ops):
    """The FP32 <-> FP16 casts around the FP16 convs of NVIDIA's INT8-FP32 VAE (the graph carries that
    engine, workloads/diffusion.py tensorrt_int8_fp32_vae, with the casts fused) as separate passes."""
    def one(o):
        if isinstance(o, ConvMatMul) and o.name.startswith("vae.") and o.math_dtype == "fp16":
            return between_casts(o.name, o.count, o, in_elems(o), o.m * o.n * o.groups, inner_fp32=False)
        return [o]
    return rewrite(ops, one)


def resize_fp32(ops):
    """The graph's FP16 Resize of those two upsamplers (diffusion.nearest_upsample) replaced by an FP32 one
    between casts."""
    fp16_resize = {u.replace(".upsample", ".resize") for u in UPSAMPLERS}
    extra = []
    for o in ops:
        if o.name in UPSAMPLERS:  # the conv runs on the resized tensor: its input is the Resize output
            small = in_elems(o) / 4  # nearest x2: each FP32 input element (2 FP16 reads) -> 4 FP32 outputs
            resize = Elementwise(name=f"{o.name}.resize", count=o.count, elems=small, reads=2, writes=8, dtype="fp16")
            extra += between_casts(o.name, o.count, resize, small, in_elems(o), inner_fp32=True)
    return [o for o in ops if o.name not in fp16_resize] + extra


COMPONENTS = (  # (label, test on the op name and type), first match wins
    ("UNet self-attention", lambda o: o.name.startswith("unet.") and isinstance(o, Attention) and o.name.endswith(".attn")),
    ("UNet cross-attention", lambda o: o.name.startswith("unet.") and isinstance(o, Attention)),
    ("UNet transformer linears", lambda o: o.name.startswith("unet.") and type(o) is MatMul),
    ("UNet 3x3/1x1 convs", lambda o: o.name.startswith("unet.") and isinstance(o, ConvMatMul)),
    ("UNet GroupNorm(+SiLU)", lambda o: o.name.startswith("unet.") and ("gn" in o.name.split(".")[-1])),
    ("UNet LayerNorms", lambda o: o.name.startswith("unet.") and o.name.split(".")[-1].startswith("norm")),
    ("UNet GEGLU", lambda o: o.name.startswith("unet.") and o.name.endswith(".geglu")),
    ("UNet standalone quantizes", lambda o: o.name.endswith(".quantize")),
    ("UNet nearest x2 resize", lambda o: o.name.startswith("unet.") and o.name.endswith(".resize")),
    ("scheduler step", lambda o: o.name.startswith("scheduler")),
    ("VAE convs", lambda o: o.name.startswith("vae.") and isinstance(o, MatMul)),
    ("VAE norms + resize", lambda o: o.name.startswith("vae.") and isinstance(o, Elementwise)),
    ("VAE mid attention", lambda o: o.name.startswith("vae.") and isinstance(o, Attention)),
    ("text encoders", lambda o: o.name.startswith("text.")),
)


def _baseline(chip_id: str, prec: str):
    """The Offline SDXL graph at the harness batch on the chip, evaluated with its shipped calibration."""
    chip = get_chip(chip_id)
    b = OFFLINE_BATCH["sdxl"]
    g = inference_graph("sdxl", b, prec, "TensorRT", False, half_precision(chip), chip.family)
    p = calibrated_params(chip)
    r = evaluate(g, p)
    return chip, p, b, g, r, float(r.total_time)


def components(chip_id: str, prec: str) -> None:
    """Time per image by SDXL component, with the rate each achieves: TFLOP/s for matrix work, TB/s of
    DRAM traffic for the memory-bound ops (the numbers the note compares with kernel-level sources)."""
    chip, p, b, g, r, base = _baseline(chip_id, prec)
    acc = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    for i, o in enumerate(g.ops):
        label = next((lab for lab, hit in COMPONENTS if hit(o)), "other")
        t = float(r.time[i]) * float(r.table.count[i])
        a = acc[label]
        a[0] += t
        a[1] += float(o.flops) * o.count
        a[2] += (float(o.input_bytes) + float(o.output_bytes)) * o.count
    print(f"\n{chip_id} ({prec} UNet), batch {b}: {base / b * 1e3:.0f} ms per image")
    for label, _ in COMPONENTS + (("other", None),):
        if label in acc:
            t, fl, by = acc[label]
            rate = f"{fl / t / 1e12:6.0f} TFLOP/s" if "conv" in label or "linear" in label or "attention" in label \
                or label == "text encoders" else f"{by / t / 1e12:6.2f} TB/s   "
            print(f"  {label:28s} {t / b * 1e3:7.1f} ms  {100 * t / base:5.1f}%  {rate}")


def report(chip_id: str, prec: str) -> None:
    chip, p, b, g, r, base = _baseline(chip_id, prec)
    by = collections.Counter()
    for i, o in enumerate(g.ops):
        by[f"{o.name.split('.')[0]}:{type(o).__name__}"] += float(r.time[i]) * float(r.table.count[i])
    print(f"\n{chip_id} ({prec} UNet): {base / b * 1e3:.0f} ms per image, {b / base:.2f} images/s")
    for k, t in by.most_common(8):
        print(f"  {k:28s} {t / b * 1e3:7.1f} ms  {100 * t / base:4.1f}%")
    for name, ops in (("q_pass", q_pass(g.ops)), ("attn_cudnn", attn_cudnn(g.ops, p)),
                      ("vae_casts", vae_casts(g.ops)), ("resize_fp32", resize_fp32(g.ops))):
        print(f"  what-if {name:14s} x{seconds(ops, p) / base:.3f} image time")


def quantize_signature(chip_id: str = "h100-sxm", m: int = 16384, min_n: int = 512) -> float | None:
    """Least-squares t / (M K) = 2 N / R + c over the measured N >= min_n at each K; prints R (and the
    model's rate for the same GEMM) and c; returns the median c (seconds per input element) or None."""
    try:
        from tapeout.perf.kernels_db import read_kernels
        k = read_kernels().cols
    except Exception as e:  # the optional extra is not installed
        print(f"\nkernel database not available ({e}); skipped")
        return None
    p = calibrated_params(get_chip(chip_id))
    sel = (k["chip"] == chip_id) & (k["op"] == "gemm") & (k["fmt"] == "fp8") & (k["m"] == m) & (k["n"] >= min_n)
    print(f"\n{chip_id} FP8 linear layers (TensorRT-LLM, AIConfigurator database), M = {m}, N >= {min_n}:")
    cs = []
    for kk in sorted(set(k["k"][sel])):
        s_k = sel & (k["k"] == kk)
        n, t = k["n"][s_k].astype(float), k["latency_s"][s_k].astype(float)
        if len(set(n)) < 2:
            continue
        slope, c = np.polyfit(n, t / (m * kk), 1)
        cs.append(c)
        mm = MatMul(name="g", m=m, n=int(n.max()), k=int(kk), a_dtype="fp8", w_dtype="fp8", out_dtype="fp16",
                    math_dtype="fp8")
        model = 2.0 * m * n.max() * kk / seconds([mm], p)
        print(f"  K={int(kk):5d} N={int(n.min())}..{int(n.max())}: pure GEMM {2 / slope / 1e12:5.0f} TFLOPS/s "
              f"(model {model / 1e12:5.0f}), {c * 1e12:.2f} ps per input element not scaling with N")
    return float(np.median(cs)) if cs else None


def q_pass_at(ops, p, per_elem_s: float) -> float:
    """Image-time factor of one standalone quantize per 8-bit GEMM input at `per_elem_s` per element."""
    extra = sum(in_elems(o) * o.count for o in unfused_8bit(ops))
    base = seconds(ops, p)
    return (base + extra * per_elem_s) / base


if __name__ == "__main__":
    if sys.argv[1:2] == ["--components"]:
        for arg in sys.argv[2:] or ["h100-sxm:fp8", "h200:fp8", "l40s:int8"]:
            components(*arg.split(":"))
        sys.exit(0)
    for arg in sys.argv[1:] or ["h100-sxm:fp8", "h100-nvl:fp8", "l40s:int8"]:
        report(*arg.split(":"))
    c = quantize_signature()
    if c:
        chip = get_chip("h100-sxm")
        g = inference_graph("sdxl", OFFLINE_BATCH["sdxl"], "fp8", "TensorRT", False, half_precision(chip), chip.family)
        print(f"  what-if q_pass at the measured {c * 1e12:.2f} ps/element (h100-sxm): "
              f"x{q_pass_at(g.ops, calibrated_params(chip), c):.3f} image time")
