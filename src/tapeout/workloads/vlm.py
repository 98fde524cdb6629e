"""Vision encoder of a vision-language model (Qwen2.5-VL class): image tokens per image and
the op graph of the ViT + patch merger that turns images into LLM input tokens.

Qwen2.5-VL (Technical Report, arXiv:2502.13923, Sec. 2.1; HF transformers
modeling_qwen2_5_vl.py / Qwen2VLImageProcessor):
- the image processor resizes each side to a multiple of patch x merge = 28 px
  (`smart_resize`), within [min_pixels, max_pixels] of the preprocessor config;
- a side of s px gives g = s / 14 patches; a still image is repeated to temporal_patch_size = 2
  frames, so the Conv3d patch embedding is a GEMM with K = 3 x 2 x 14 x 14 = 1176;
- 32 ViT blocks (RMSNorm, QKV, SwiGLU MLP); all but `fullatt_block_indexes` attend within
  windows of window_size = 112 px (8 x 8 patches), the others over the whole image;
- the merger concatenates 2 x 2 neighbouring patches (4 x 1280) and projects them with an MLP
  5120 -> 5120 -> out_hidden_size: one LLM token per 4 patches, (s / 28)^2 tokens per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TapeoutError
from ..ops import OpGraph
from ..precision import Precision
from .blocks import as_precision, eltwise, linear, transformer_block


@dataclass(frozen=True)
class VisionSpec:
    """The vision tower of a VLM config.json (`vision_config`) and its image processor limits."""

    depth: int
    hidden: int
    ffn: int
    heads: int
    out_hidden: int
    patch: int
    merge: int
    temporal_patch: int
    window_px: int
    full_blocks: int
    min_pixels: int
    max_pixels: int
    in_chans: int = 3

    @property
    def factor(self) -> int:
        """Side granularity of the image processor (patch x merge, 28 px for Qwen2.5-VL)."""
        return self.patch * self.merge

    @property
    def max_side(self) -> int:
        """Largest square side the processor takes without downscaling."""
        return math.isqrt(self.max_pixels) // self.factor * self.factor

    @property
    def min_side(self) -> int:
        return max(self.factor, math.ceil(math.sqrt(self.min_pixels) / self.factor) * self.factor)


@dataclass(frozen=True)
class VisionLoad:
    """Images each request carries, for the serving engine (hashable: a cache key)."""

    spec: VisionSpec
    images_per_request: int
    image_size: int

    @property
    def tokens_per_request(self) -> int:
        return self.images_per_request * image_tokens(self.spec, self.image_size)


# the vision_config fields of the one vision tower priced (transformers Qwen2_5_VLVisionConfig)
QWEN_VISION_FIELDS = ("depth", "hidden_size", "intermediate_size", "num_heads")


def vision_spec(model: str) -> VisionSpec | None:
    """The vision tower of a model preset or config.json; None for a text-only model."""
    from .llm_config import raw_config

    data, _ = raw_config(model)
    v = data.get("vision_config")
    if not isinstance(v, dict):
        return None
    missing = [f for f in QWEN_VISION_FIELDS if f not in v]
    if missing:  # another family's tower (Gemma 3's SigLIP: num_hidden_layers, image_size, mm_tokens_per_image)
        raise TapeoutError(f"{model}: field 'vision_config.{missing[0]}' is missing: the vision encoder priced here is "
                           f"Qwen2.5-VL's (vision_config {', '.join(QWEN_VISION_FIELDS)}); "
                           f"{v.get('model_type') or 'this'} vision tower is not modelled: serve it with 0 images.")
    proc = data.get("_image_processor", {})
    full = v.get("fullatt_block_indexes")
    depth = int(v["depth"])
    return VisionSpec(depth=depth, hidden=int(v["hidden_size"]), ffn=int(v["intermediate_size"]),
                      heads=int(v["num_heads"]), out_hidden=int(v.get("out_hidden_size", data.get("hidden_size"))),
                      patch=int(v.get("patch_size", 14)), merge=int(v.get("spatial_merge_size", 2)),
                      temporal_patch=int(v.get("temporal_patch_size", 2)), window_px=int(v.get("window_size", 0)),
                      full_blocks=depth if full is None else len(full),
                      min_pixels=int(proc.get("min_pixels", 56 * 56)), max_pixels=int(proc.get("max_pixels", 12845056)),
                      in_chans=int(v.get("in_chans", 3)))


def resized_side(spec: VisionSpec, image_size: int) -> int:
    """The side the image processor feeds the encoder (nearest multiple of 28 px); refuses an
    image outside what the encoder accepts."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise TapeoutError(f"--image-size must be a whole number of pixels > 0, got {image_size}.")
    side = max(spec.factor, round(image_size / spec.factor) * spec.factor)
    if side > spec.max_side:
        raise TapeoutError(f"--image-size {image_size} px is larger than the vision encoder accepts "
                           f"(max_pixels {spec.max_pixels:,} = {spec.max_side} px square); use --image-size <= {spec.max_side}.")
    if side < spec.min_side:
        raise TapeoutError(f"--image-size {image_size} px is smaller than the vision encoder accepts "
                           f"(min_pixels {spec.min_pixels:,}); use --image-size >= {spec.min_side}.")
    return side


def image_tokens(spec: VisionSpec, image_size: int) -> int:
    """LLM tokens of one square image: (side / (patch x merge))^2."""
    return (resized_side(spec, image_size) // spec.factor) ** 2


def vision_graph(spec: VisionSpec, images: int, image_size: int, precision: str | Precision = "bf16") -> OpGraph:
    """Op graph of encoding `images` square images of `image_size` px (one forward pass)."""
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise TapeoutError(f"images must be a whole number >= 1, got {images}.")
    pr = as_precision(precision)
    side = resized_side(spec, image_size)
    g = side // spec.patch  # patches per side
    P = g * g  # patches per image
    h = spec.hidden
    ops = [linear("vit.patch_embed", images * P, h, spec.in_chans * spec.temporal_patch * spec.patch ** 2, pr)]
    windowed = spec.depth - spec.full_blocks
    if windowed and spec.window_px:
        wp = spec.window_px // spec.patch  # patches per window side (8)
        n_win = math.ceil(g / wp) ** 2
        # windows at the edge hold fewer patches (variable-length attention): mean length per window
        ops += transformer_block("vit.window_block", images * n_win, max(1, round(P / n_win)), h, spec.heads, spec.ffn,
                                 pr, count=windowed, mlp="swiglu")
    elif windowed:
        ops += transformer_block("vit.block", images, P, h, spec.heads, spec.ffn, pr, count=windowed, mlp="swiglu")
    if spec.full_blocks:
        ops += transformer_block("vit.full_block", images, P, h, spec.heads, spec.ffn, pr, count=spec.full_blocks,
                                 mlp="swiglu")
    T = images * P // spec.merge ** 2  # LLM tokens out of the merger
    m = h * spec.merge ** 2
    ops += [eltwise("vit.merger.norm", images * P * h, pr, 5), linear("vit.merger.fc1", T, m, m, pr),
            eltwise("vit.merger.gelu", T * m, pr, 8), linear("vit.merger.fc2", T, spec.out_hidden, m, pr)]
    return OpGraph(f"vit:{images}x{side}px:{pr.name}", ops,
                   {"batch": images, "units": images, "unit": "images", "tokens": T, "patches": images * P})


def vision_language_presets() -> list[dict]:
    """The LLM presets with a vision encoder, as `tapeout workloads` lists them (served by the LLM
    engine with `serve --images-per-request N --image-size S`), each with its config's source."""
    from .llm_config import preset_names, raw_config

    rows = []
    for name in preset_names():
        spec = vision_spec(name)
        if spec is None:
            continue
        data, _ = raw_config(name)
        src = "; ".join(s for s in (data.get("_source"), data.get("_image_processor", {}).get("_source")) if s)
        rows.append({"name": name, "kind": "vlm", "metric": "output tokens/s", "unit": "token",
                     "defaults": {"image_size": 448},  # serve's --image-size default
                     "description": f"vision-language serving: {spec.depth}-block ViT + patch merger "
                                    f"({spec.factor} px per image token side, <= {spec.max_side} px) feeding the LLM "
                                    f"on the serving engine; `tapeout serve --model {name} --images-per-request N "
                                    f"--image-size S`",
                     "source": src, "data_file": f"data/models/llm/{name}.json"})
    return rows
