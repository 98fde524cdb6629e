"""Fixed-function video engines (NVDEC / NVENC and their peers) and transcode + super-
resolution pipelines.

Engine throughput comes from the chip catalog (data/chips/extra_specs.csv): number of
engines (`video_decoders`, `video_encoders`) and per-engine frames/s at 1080p for a codec
(`video_decode_fps_1080p_<codec>`, `video_encode_fps_1080p_<codec>`, from the vendor's
NVDEC/NVENC support matrices). Rates scale with pixels per frame (engines are
macroblock-throughput bound: NVIDIA Video Codec SDK NVDEC/NVENC application notes quote
rates per resolution that scale ~ inversely with pixel count):
    fps(codec, W x H) = fps_1080p(codec) * (1920*1080) / (W*H)
    t_engine(frames)  = frames / (engines * fps)
A pipeline decode -> super-resolution -> encode runs the three stages concurrently
(engines and tensor cores are separate units), so frames/s = min over stages. Without
engines (or when asked), decode/encode run in software on the vector units at an assumed
cost per pixel (SOFTWARE_CODEC_FLOPS_PER_PIXEL, an order-of-magnitude assumption, not a
sourced number) and share the chip with the SR network (their times add).
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from ..hardware.catalog import Chip, get_chip
from .calibration import engine_params
from .opcost import evaluate

REF_PIXELS = 1920 * 1080
CODECS = ("h264", "hevc", "av1", "vp9")
# the fix a missing engine's error names: the CLI flag and the Python argument (naming only
# software_codec=True left a `tapeout transcode` user without the flag to type)
SOFTWARE_FIX = "--software-codec (software_codec=True in Python)"
# software codec cost on general-purpose vector units, FLOPs per output pixel (assumption)
SOFTWARE_CODEC_FLOPS_PER_PIXEL = {"decode": 300.0, "encode": 3000.0}


def engine_rate(chip: Chip | str, engine: str = "decode", codec: str = "h264", width: int = 1920, height: int = 1080) -> float:
    """Frames/s of all `engine` units of a chip for one codec at width x height."""
    chip = get_chip(chip) if isinstance(chip, str) else chip
    kind = "decode" if "dec" in engine else "encode"
    codec = codec.lower()
    if codec not in CODECS:
        raise TapeoutError(f"codec must be one of {', '.join(CODECS)}, got '{codec}'.")
    if width <= 0 or height <= 0:
        raise TapeoutError(f"resolution must be positive, got {width}x{height}.")
    count_field = "video_decoders" if kind == "decode" else "video_encoders"
    n = chip.get(count_field)
    if n is None:
        raise TapeoutError(
            f"chip '{chip.id}' has no '{count_field}' field; add it to data/chips/extra_specs.csv "
            f"(engine count from the datasheet) or run the codec in software ({SOFTWARE_FIX})."
        )
    n = float(n)
    if n <= 0:
        raise TapeoutError(
            f"chip '{chip.id}' has {count_field}=0 (no hardware video {kind}); use {SOFTWARE_FIX} or a chip with engines."
        )
    fps_field = f"video_{kind}_fps_1080p_{codec}"
    fps = chip.get(fps_field)
    if fps is None and codec != "h264":
        raise TapeoutError(f"chip '{chip.id}' lacks '{fps_field}' ({codec} {kind} rate); add it to data/chips/extra_specs.csv.")
    if fps is None:
        raise TapeoutError(
            f"chip '{chip.id}' lacks '{fps_field}' (per-engine 1080p {codec} {kind} frames/s); add it to "
            f"data/chips/extra_specs.csv from the NVDEC/NVENC support matrix, or use {SOFTWARE_FIX}."
        )
    return n * float(fps) * REF_PIXELS / (width * height)


def engine_time(chip: Chip | str, frames: float, engine: str = "decode", codec: str = "h264", width: int = 1920,
                height: int = 1080) -> float:
    if frames < 0:
        raise TapeoutError(f"frames must be >= 0, got {frames}.")
    return frames / engine_rate(chip, engine, codec, width, height)


def software_codec_time(params, frames: float, kind: str, width: int, height: int):
    flops = frames * width * height * SOFTWARE_CODEC_FLOPS_PER_PIXEL[kind]
    return flops / (np.asarray(params.vector_flops, dtype=float) * params.eff_vector)


def transcode_sr_pipeline(chip: Chip | str, frames: int = 1, width: int = 1920, height: int = 1080, codec: str = "h264",
                          sr_model: str = "realesr-general-x4v3", precision: str = "fp16", out_codec: str | None = None,
                          software_codec: bool = False, sr_batch: int = 8) -> dict:
    """Decode (W x H) -> SR x4 on the matrix engines -> encode (4W x 4H): frames/s and where time goes."""
    from ..workloads.vision import SRVGG_CONFIGS, srvgg_graph

    chip = get_chip(chip) if isinstance(chip, str) else chip
    p = engine_params(chip)
    scale = SRVGG_CONFIGS.get(sr_model, {}).get("upscale", 4)
    g = srvgg_graph(sr_model, sr_batch, width, height, precision)
    sr_t = float(evaluate(g, p).total_time) / sr_batch
    ow, oh = width * scale, height * scale
    out_codec = out_codec or codec
    if software_codec:
        dec = float(software_codec_time(p, 1, "decode", width, height))
        enc = float(software_codec_time(p, 1, "encode", ow, oh))
        per_frame = dec + sr_t + enc  # all on the same units
        mode = "software codec on vector units + SR on matrix engines (serial)"
    else:
        dec = 1.0 / engine_rate(chip, "decode", codec, width, height)
        try:
            enc = 1.0 / engine_rate(chip, "encode", out_codec, ow, oh)
            enc_mode = "engine"
        except TapeoutError:
            enc = float(software_codec_time(p, 1, "encode", ow, oh))
            enc_mode = "software"
        per_frame = max(dec, sr_t, enc) if enc_mode == "engine" else max(dec, sr_t + enc)
        mode = f"decode engines | SR matrix engines | encode {enc_mode} (pipelined)"
    stages = {"decode": dec, "super_resolution": sr_t, "encode": enc}
    return {"chip": chip.id, "frames_per_s": 1.0 / per_frame, "time_per_frame_s": per_frame, "stage_time_s": stages,
            "bottleneck": max(stages, key=stages.get), "mode": mode, "input": f"{width}x{height} {codec}",
            "output": f"{ow}x{oh} {out_codec}", "clip_time_s": per_frame * frames}
