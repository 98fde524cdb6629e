"""`serve`: the LLM serving prediction of `tapeout serve --model`, `explain`, studies and the
quant frontier, in the units of one deployment (tokens/s, TTFT, TPOT, memory, power).

There is one serving engine, perf/mlperf.py `serve_at_scale` (the one `tapeout validate`
scores): layouts TP x EP x PP x DP, paged-KV batch limit, fused decode + chunked-prefill
step model (perf/serving_sim.py), Offline steady state, and for latency bounds the highest
load whose p99 TTFT/TPOT meet them. `serve` calls it and adds what a deployment report
needs and the engine does not carry: energy per token and power at the chosen operating
point (per-op energy of the decode and prefill steps, perf/opcost.py), memory breakdown and
the dominant bound of the decode step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import TapeoutError, require_positive, require_positive_given
from ..formats import fallback_notes, plan
from ..hardware.catalog import Chip, get_chip
from ..hardware.memory_capacity import GIB
from ..hardware.params import ChipParams, assumed_tdp_notes
from ..precision import Precision, get_precision
from ..workloads.llm import LLMStep, build_llm_graph
from ..workloads.llm_config import LLMConfig, load_llm
from .calibration import calibrated_params, fallback_calibration_notes
from .collectives import topology_for
from .kernel_calibration import serving_decode_params
from .opcost import CostTable, evaluate
from .serving_sim import serving_costs
from .serving_memory import (ACTIVATION_RESERVE_FRACTION, MAX_BATCH, PREFILL_CHUNK_TOKENS,  # noqa: F401 (re-exported)
                             USABLE_MEMORY_FRACTION, kv_bytes_per_token_per_chip, max_batch, weight_bytes_per_chip)


@dataclass
class ServingResult:
    model: str
    chip: str
    num_chips: int
    precision: str
    kv_precision: str
    input_len: int
    output_len: int
    batch_size: int  # sequences per replica
    parallelism: str
    tp: int
    ep: int
    dp: int
    ttft_s: float
    tpot_s: float
    decode_step_s: float
    prefill_s_per_request: float
    output_tokens_per_s: float
    output_tokens_per_s_per_chip: float
    bound: str
    weights_gib_per_chip: float
    kv_cache_gib_per_chip: float
    memory_gib_per_chip: float
    capacity_gib_per_chip: float
    max_batch_fits: int
    power_w_per_chip: float
    joules_per_token: float
    pp: int = 1
    interval_80: tuple[float, float] = (0.0, 0.0)
    notes: list[str] = field(default_factory=list)
    formats: list[dict] = field(default_factory=list)  # per op class: asked, ran, bytes/elem, fell back (tapeout.formats)
    image_tokens_per_request: int = 0  # VLM: LLM tokens from the request's images (in input_len)
    encoder_s_per_request: float = 0.0  # VLM: vision-encoder seconds per request on one replica

    def as_dict(self) -> dict:
        return asdict(self)


def serve(
    model: str | LLMConfig,
    chip: str | Chip,
    num_chips: int = 1,
    precision: str | Precision = "bf16",
    input_len: int = 1024,
    output_len: int = 256,
    batch: int | None = None,
    tp: int | None = None,
    ep: int | None = None,
    kv_precision: str | None = None,
    params: ChipParams | None = None,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    evaluator=None,
    weight_bytes_factor: float = 1.0,
    pp: int | None = None,
    images_per_request: int = 0,
    image_size: int = 448,
    stack: str | None = None,
    fitted: dict | None = None,
) -> ServingResult:
    """Max-throughput serving on `num_chips` chips, automatic layout and batch (the engine's
    Offline steady state). With max_tpot_s / max_ttft_s the engine's latency-bounded load is
    taken instead: the highest rate whose p99 TTFT and TPOT meet the bounds (MLPerf Server
    semantics, M/M/1 admission queue, perf/serving_sim.max_rate_closed_form).

    A vision-language model (a config.json with `vision_config`) takes `images_per_request`
    square images of `image_size` px: their tokens join the `input_len` text tokens and their
    encoder runs in each request's prefill (workloads/vlm.py, perf/vlm.py). `stack` names the serving
    stack (perf/stacks.py; None: the default). `fitted`: the calibration (None: the shipped fit; e.g.
    kernel_calibration.build's, calibrated on the measured kernel database)."""
    from .mlperf import serve_at_scale

    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    require_positive("num_chips", num_chips)
    require_positive("input_len", input_len)
    require_positive("output_len", output_len)
    require_positive_given(batch=batch, tp=tp, ep=ep, pp=pp)
    vision = vision_load(model if isinstance(model, str) else None, cfg, images_per_request, image_size)
    pr, choices = _resolved(precision, kv_precision, c, fitted)
    if tp is not None and num_chips % tp:
        raise TapeoutError(f"--tp {tp} must divide --num-chips {num_chips} (TP groups of equal size); give a --tp that "
                           f"divides it, or leave --tp out for the best.")
    bounded = max_tpot_s is not None or max_ttft_s is not None
    scenario = "server" if bounded else "offline"
    ttft = float(max_ttft_s) if max_ttft_s is not None else (float("inf") if bounded else None)
    r = serve_at_scale(model if isinstance(model, str) else cfg, chip if isinstance(chip, str) and params is None else c,
                       num_chips, pr, input_len,
                       output_len, scenario, ttft, max_tpot_s, tp=tp, pp=pp, ep=ep, batch=batch, params=params,
                       evaluator=evaluator, weight_bytes_factor=weight_bytes_factor, vision=vision, stack=stack,
                       fitted=fitted)
    # the generation kernel's fields of this model's rows, as the engine's step model takes them
    p = params if params is not None else serving_decode_params(calibrated_params(c, fitted), c, cfg, pr, r.tp, fitted)
    out = _deployment_view(cfg, c, pr, p, r, input_len + (vision.tokens_per_request if vision else 0), output_len, evaluator, weight_bytes_factor)
    if vision is not None:
        from .vlm import encoder_cost

        enc_s, enc_j = encoder_cost(vision, p, pr, r.tp, evaluator)
        out.image_tokens_per_request, out.encoder_s_per_request = vision.tokens_per_request, enc_s
        out.joules_per_token += enc_j / output_len
        out.power_w_per_chip = min(out.joules_per_token * out.output_tokens_per_s_per_chip, float(np.max(p.tdp_w)))
        out.notes.append(f"{images_per_request} image(s) of {image_size} px per request = {vision.tokens_per_request} image "
                         f"tokens added to {input_len} text tokens; vision encoder {enc_s * 1e3:.2f} ms per request "
                         f"(TP{r.tp}) in its prefill")
    out.formats = [ch.as_dict() for ch in choices]
    out.notes += fallback_notes(choices) + assumed_tdp_notes(c) + fallback_calibration_notes(c, fitted) + list(cfg.notes)
    return out


def vision_load(model: str | None, cfg: LLMConfig, images: int, image_size: int):
    """The images a request carries (workloads/vlm.VisionLoad), None for text-only requests."""
    require_positive("images_per_request", images, allow_zero=True)
    if not images:
        return None
    from ..workloads.vlm import VisionLoad, image_tokens, vision_spec

    spec = vision_spec(model) if model else None
    if spec is None:
        raise TapeoutError(f"--images-per-request: {cfg.name} has no vision encoder (no vision_config); "
                           "use a vision-language model such as qwen2.5-vl-7b or pass 0 images.")
    image_tokens(spec, image_size)  # refuses an image the encoder does not accept
    return VisionLoad(spec, int(images), int(image_size))


def _resolved(precision, kv_precision, chip, fitted: dict | None = None):
    """The precision policy resolved on the chip (formats.plan) under the calibration in use (`fitted`; None:
    shipped), as the engine's step model resolves it: fallbacks applied, per-class choices."""
    pr = precision if isinstance(precision, Precision) else get_precision(precision)
    if kv_precision:
        pr = pr.with_kv(kv_precision)
    return plan(pr, chip, fitted)


def _deployment_view(cfg, c, pr, p, r, I, O, evaluator, wfac) -> ServingResult:
    """Energy, power, memory and bound at the engine's operating point."""
    ev = evaluator or evaluate
    mb = max(1, round(r.batch_size / r.pp))  # sequences per pipeline micro-batch
    step = LLMStep("decode", mb, 1, int(I + O // 2), pr, r.tp, r.ep)
    dec = ev(build_llm_graph(cfg, step), p)
    nb = max(1, min(mb, PREFILL_CHUNK_TOKENS // max(int(I), 1)))
    pre = ev(build_llm_graph(cfg, LLMStep("prefill", nb, int(I), 0, pr, r.tp, r.ep)), p)
    # per-token energy of one replica (tp x pp chips): a decode step of mb tokens on every stage,
    # plus 1/O of a prompt's prefill per token; per-stage graphs hold all layers, so no pp factor
    e_tok = (float(np.max(dec.total_energy)) / mb + float(np.max(pre.total_energy)) / nb / O) * r.tp
    cap = float(np.min(p.mem_capacity))
    w = weight_bytes_per_chip(cfg, pr, r.tp, r.ep, wfac) / r.pp
    kv_seq = kv_bytes_per_token_per_chip(cfg, pr, r.tp, I + O / 2) / r.pp * (I + O / 2)  # one sequence's cache
    kv = kv_seq * r.batch_size
    bmax = int((cap * (USABLE_MEMORY_FRACTION - ACTIVATION_RESERVE_FRACTION) - w) // max(kv_seq, 1e-9))
    bound = dec.dominant_bound()
    bound = str(bound) if np.ndim(bound) == 0 else str(bound.flat[0])
    power = e_tok * r.output_tokens_per_s_per_chip
    return ServingResult(
        model=cfg.name, chip=c.id, num_chips=r.num_chips, precision=pr.name, kv_precision=pr.kv_cache,
        input_len=I, output_len=O, batch_size=r.batch_size, parallelism=r.parallelism, tp=r.tp, ep=r.ep, dp=r.dp,
        pp=r.pp, ttft_s=r.ttft_s, tpot_s=r.tpot_s, decode_step_s=float(np.max(dec.total_time)),
        prefill_s_per_request=float(np.max(pre.total_time)) / nb,
        output_tokens_per_s=r.output_tokens_per_s, output_tokens_per_s_per_chip=r.output_tokens_per_s_per_chip,
        bound=bound, weights_gib_per_chip=w / GIB, kv_cache_gib_per_chip=kv / GIB,
        memory_gib_per_chip=r.memory_gib_per_chip, capacity_gib_per_chip=cap / GIB,
        max_batch_fits=min(bmax, MAX_BATCH * r.pp), power_w_per_chip=min(power, float(np.max(p.tdp_w))),
        joules_per_token=e_tok, interval_80=r.interval_80, notes=list(r.notes),
    )


def step_costs(model, chip, precision="bf16", phase="decode", batch=1, input_len=1024, output_len=256, tp=1, ep=1,
               kv_precision=None) -> CostTable:
    """The CostTable of one step (for `tapeout explain` and the study's rooflines), collectives
    timed as the serving engine times them (serving_sim.serving_costs)."""
    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    pr, _ = _resolved(precision, kv_precision, c)
    if phase == "decode":
        st = LLMStep("decode", batch, 1, int(input_len + output_len // 2), pr, tp, ep)
    else:
        st = LLMStep("prefill", batch, int(input_len), 0, pr, tp, ep)
    p = serving_decode_params(calibrated_params(c), c, cfg, pr, tp)  # as the engine's step model (mlperf.step_model)
    return serving_costs(evaluate(build_llm_graph(cfg, st), p), topology_for(p, c.family))
