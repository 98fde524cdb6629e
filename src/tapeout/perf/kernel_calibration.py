"""An optional serving calibration from the measured kernel database (never the default).

Turns kernel_fit's structural parameters (fitted on AIConfigurator's measured kernels only,
never on end-to-end rows) into perf/calibration.py's `fitted` dict for the database's chips;
every other chip, the family and generic means, the power-transfer law and the vendor
kernel-time means stay those of the microbenchmark fit it starts from, so only the database's
chips predict differently.

- Default: each DB chip's parameters are refitted on that chip's own kernels (the chip has
  been measured; what a per-chip calibration can reach).
- `holdout`: the chip's kernels and microbenchmarks are both left out; its entry comes from the
  shared parameters fitted on every other chip (the transfer to an unmeasured chip).

Mapping of the kernel parameters x (kernel_fit.params_for):
  eff_compute[bf16, fp16]  eff_bf16  * c, capped at 1; c the clock a GEMM busy at eff_bf16 of the
                           peak sustains under the chip's power cap (perf/power_cap.py, the fit's
                           pj_flop_n7, or its own silicon's pair, silicon_cap.SILICON_CAP_ENERGY):
                           serving's GEMMs are priced as the compute-bound ones, a
                           sustained run at the cap, where the collector timed most kernels in a
                           burst at boost (perf/collector_clock.py: eff_bf16 is the boost efficiency);
                           with STEP_POWER_CLOCK (off) the entry also carries `step_power` (those clocks, the
                           TDP, pj_flop_n7 x the node's energy scale) and serving re-times each step at the clock
                           its average power sustains (perf/step_power.py)
  eff_compute[fp8]         eff_fp8   * ...   (per-tensor FP8 GEMM alone: the kernel fit models the
                                              database's unfused activation-quantize pass apart)
  eff_compute[fp4]         eff_nvfp4 * ...   (formats the chip's kernels lack: family mean)
  eff_mem                  the chip's measured DRAM efficiency of GB-sized weight streams
                           (perf/kernel_stream.py: the database's large memory-bound BF16 GEMMs),
                           the serving model's dominant DRAM traffic; held out, the other chips'
                           median (mem_bf16, the fit's one efficiency for every BF16 GEMM, where
                           no stream was measured)
  generation attention     per kernel class, the fit's own pricing (kernel_fit.generation_fields:
                           CTA stream at mem_decode_<kernel>, per-wave latency in series with it)
  kernel_overhead_us       ovh_bf16: fixed time of a BF16 GEMM kernel, plus the chip family's
                           offset (kernel_fit.FIXED_TIME_BY_FAMILY: fitted on the family's chips,
                           or measured on the other chips' empty GEMMs, perf/kernel_floor.py)
  eff_attention            eff_attention (fused attention vs GEMM)
  attn_eff_fp8             an FP8 attention op's MMA efficiency: eff_bf16 on a family whose context FMHA
                           is described (kernel_fit.ATTN_FP8_EFF, attn_fp8_eff), else 0 (eff_compute[fp8])
  kernel_library           the BF16 GEMM's library fields as the fit prices them (kernel_fit.gemm_fields:
                           split-K limit split_bf16, stream-K tail, one core's DRAM stream core_bw_share,
                           per-tile K overhead, exposed output-tile store); a row whose GEMMs run
                           per-tensor FP8 takes the FP8 class's (kernel_gemm_classes: split_fp8, equal
                           token tiles at the MMA's N step); per-tile K overhead of
                           attention work units, largest GQA group per KV pass, the
                           attention op's fixed time beyond a GEMM's (ovh_prefill/ovh_decode_<kernel> -
                           ovh_bf16; the generation kernel a GQA model runs on the chip,
                           kernel_fit.serving_decode_class): the ChipParams fields of the same names (the shipped fit
                           leaves the GEMM ones off; the attention ones default to
                           data/calibration/kernel_structure.yaml)
  eff_moe, moe_eff_mem     held out only (kernel_moe.MOE_FROM_DB): the grouped expert GEMMs' compute
                           efficiency (fraction of the dense GEMM's) and weight-stream efficiency (fraction
                           of eff_mem) that price the other database chips' measured fused-MoE layers best
                           (kernel_moe.fit_db_moe); per-chip builds keep the microbenchmark eff_moe
Fields the kernels do not inform (eff_vector, eff_link, scale-up latency, sigma_log,
attn_bwd_factor) keep the chip's microbenchmark values.
"""

from __future__ import annotations

import copy

import numpy as np

from ..hardware.params import KERNEL_STRUCTURE, kernel_structure
from ..ops import PEAK_KEYS
from . import context_tiles, kernel_fit, power_cap
from .calibration import VENDOR_FIELDS, load_fitted, vendor_means
from .kernel_replay import l2_read_bw
from .kernels_db import db_config, held_out_chips, held_out_of, holding_out

SERVING_FORMATS = kernel_fit.EFF_PARAM  # the serving formats a --kernels calibration prices, and their fitted efficiency
# the fit's GEMM kernel class a serving row's GEMMs run, by the precision's compute format: 16-bit on the
# BF16 GEMM; per-tensor FP8 on the cuBLASLt FP8 GEMM the database's fp8 kernels time (TensorRT-LLM's gemm
# plugin and cublas_scaled_mm alike put the tokens on cuBLAS's N: gemmPlugin.cpp getProblemParams
# `m = N; n = M`). Block-scaled and FP4 rows keep the BF16 class's library fields: the fit's kernels
# of those formats are the collector's fixed-tile kernels (no split-K fitted), not what serving autotunes
SERVING_GEMM_CLASSES = {"bf16": "bf16", "fp16": "bf16", "fp8": "fp8"}
# a serving step's clock from its average power (perf/step_power.py), not its GEMMs' (eff_compute's clock): the
# entry carries `step_power` and serving re-times each step (off: every op at eff_compute's capped clock, stop 33)
STEP_POWER_CLOCK = False
# with it, the least power an op draws as a fraction of TDP besides its DRAM energy (step_power.StepPower.floor_w):
# 0 = none (only FLOP and DRAM energy); family_defaults.yaml static_power_fraction (0.25, an assumption) bounds it
STEP_POWER_FLOOR = 0.0
# Whether a serving NVFP4 GEMM under a --kernels calibration is priced on the kernel structure its efficiency was
# fitted on: the fit prices the database's NVFP4 GEMMs as the collector's kernel runs them (kernel_tile.collector_tile:
# TensorRT-LLM's default SM100 / SM103 FP4 tile, no K splits; kernel_fit.Groups), and eff_nvfp4 is that structure's
# efficiency; serving applied it with the BF16 class's library fields (BF16 tiles, split-K up to ~11), which prices the
# same GEMMs 10-30 % faster than the fit does (docs/notes/issue-24.md, Round stop-39, branch issue-47e). Off: the BF16
# class's fields (stop 38). Kept off: sourced (the fit's structure; TensorRT-LLM's CUTLASS FP4 runner has no split-K),
# but alone it moves B200's four own-kernel FP4 rows away (16.2 -> 21.2 %) and GB200's three toward (9.1 -> 3.2 %),
# 13.0 -> 15.6 % over the seven; it belongs on together with formats.RATIO_ONLY_ON_ITS_FIT (the double count), which
# waits on what GB200's dense rows miss outside the kernels (the notes' tables).
FP4_FIT_STRUCTURE = False


def context_k_overhead(params: dict, family: str) -> float:
    """ChipParams.attn_ctx_tile_k_overhead of a chip `family` from fitted parameters (name -> value): the described
    context kernels' ctx_tile_k_overhead where kernel_fit.tile_k_overhead_param gives the family's context class it
    (CONTEXT_K_OVERHEAD), else -1 (the context phase on the shared attn_tile_k_overhead)."""
    name = kernel_fit.tile_k_overhead_param("prefill", family)
    return float(params[name]) if name != "attn_tile_k_overhead" else -1.0


def context_eff_attention(params: dict, family: str) -> float:
    """ChipParams.attn_ctx_eff_attention of a chip `family` from fitted parameters (name -> value): the described
    context kernels' ctx_eff_attention where kernel_fit.attention_eff_param gives the family's context class it
    (CONTEXT_KERNEL_EFF), else 0 (the context phase at eff_attention)."""
    name = kernel_fit.attention_eff_param("prefill", family)
    return float(params[name]) if name != "eff_attention" else 0.0


def chip_entry(params: dict, chip, source: str, formats=tuple(SERVING_FORMATS), stream_eff: float | None = None,
               held_out=frozenset()) -> dict:
    """The calibration entry one chip's kernel parameters imply (see the module docstring);
    `stream_eff` the chip's large-stream DRAM efficiency (kernel_stream), else the fit's mem_bf16;
    `held_out` the chips whose microbenchmarks the fit left out (the power cap's pairs, silicon_cap)."""
    # a GEMM's fixed time as the fit prices it on the chip's family: the shared ovh_bf16 plus the family's
    # fitted offset (kernel_fit.FIXED_TIME_BY_FAMILY; 0 for a family the fit never saw), and an attention op's
    # likewise where its kernel runs on several families (kernel_fit.ATTN_FAMILY_CLASSES); an attention op's
    # fixed time beyond a GEMM's (below) is their difference, so it stays the fit's ovh_<phase> on the family
    params = {**params, **{f"ovh_{c}": max(params[f"ovh_{c}"] + params.get(kernel_fit.fixed_time_param(chip.family, c), 0.0), 0.0)
                           for c in ("bf16", *kernel_fit.ATTN_FAMILY_CLASSES)}}
    eff = np.array([params[kernel_fit.eff_param(k)] for k in PEAK_KEYS])
    # per PEAK_KEYS format: the clock a GEMM that keeps the peak busy at eff sustains under the cap (its own
    # silicon's measured cap energy where silicon_cap.SILICON_CAP_ENERGY, as in the fit)
    pd = kernel_fit.cap_power_density(chip, held_out)
    scale = power_cap.clock_factor(np.minimum(eff, 1.0), pd, params["pj_flop_n7"], power_cap.node_energy_scale(chip))
    dec = kernel_fit.serving_decode_class(chip)  # the generation kernel a GQA model runs on this chip
    out = {"eff_compute": {k: round(min(params[n] * float(scale[PEAK_KEYS.index(k)]), 1.0), 4)
                           for k, n in SERVING_FORMATS.items() if k in formats},
           "eff_attention": params["eff_attention"], "family": chip.family, "kernel_db": source,
           # a GEMM's split-K limit, stream-K tail, per-core DRAM stream, tile overheads and token tiles, as
           # the fit prices the chip's BF16 GEMMs (kernel_fit.gemm_fields); a row whose GEMMs run another
           # fitted format takes that format's (kernel_gemm_classes, serving_gemm_params)
           "kernel_library": {**kernel_fit.gemm_fields(params, "bf16"),
                              "attn_tile_k_overhead": params["attn_tile_k_overhead"],
                              # the context phase's own where the fit gives the family's context kernel one
                              # (kernel_fit.CONTEXT_K_OVERHEAD); -1: the shared one above
                              "attn_ctx_tile_k_overhead": context_k_overhead(params, chip.family),
                              # and its own efficiency likewise (kernel_fit.CONTEXT_KERNEL_EFF); 0: eff_attention
                              "attn_ctx_eff_attention": context_eff_attention(params, chip.family),
                              # and its CTAs' Q and O tiles serialised per wave, as the fit prices them
                              # (kernel_fit.CONTEXT_IO_EXPOSED)
                              "attn_ctx_io_exposed": 1.0 if kernel_fit.CONTEXT_IO_EXPOSED or kernel_fit.CONTEXT_IO_CORE_STREAM else 0.0,
                              # at no more than one core's stream (kernel_fit.CONTEXT_IO_CORE_STREAM); 0: the DRAM's
                              "attn_ctx_io_core_bw": params.get("ctx_io_core_bw", 0.0) * 1e9 if kernel_fit.CONTEXT_IO_CORE_STREAM else 0.0,
                              "attn_head_pack": params["attn_head_pack"],
                              # an attention op's fixed time beyond the GEMM kernel's (kernel_overhead_us)
                              "attn_prefill_fixed": max(params["ovh_prefill"] - params["ovh_bf16"], 0.0) * 1e-6,
                              **decode_fields(params, dec),
                              # the attention work decomposition and per-wave CTA cost of each phase,
                              # fitted with the efficiencies above (perf/kernel_fit.py)
                              "attn_tiling": params["attn_tiling"],
                              # the context grid's makespan, as the fit prices every context kernel
                              # (kernel_fit.params_for: attn_ctx_makespan=1)
                              "attn_ctx_makespan": 1.0,
                              # and its softmax overlapped with the MMAs where the family's kernel does so
                              "attn_ctx_softmax_overlap": context_tiles.softmax_overlap(chip.family) if kernel_fit.SOFTMAX_OVERLAP else 0.0,
                              "attn_unit_flops": params["unit_prefill"], "attn_unit_time": params["unitlat_prefill"] * 1e-6,
                              # the QKV preprocessing pass's steps through the chip's L2 (kernel_fit.QKV_STEP_BOUND)
                              "elt_step_time": kernel_fit.qkv_step_time(params, l2_read_bw(chip)),
                              # an FP8 attention op's own MMA efficiency (kernel_fit.ATTN_FP8_EFF), unscaled by the
                              # GEMM's power-capped clock as in the fit (capped_time: GEMM rows only)
                              "attn_eff_fp8": kernel_fit.attn_fp8_eff(params, "prefill", chip.family),
                              # the fill + epilogue is tile_k_overhead here; the microbenchmark
                              # fit's per-wave time (tile_overhead_us) would count it twice
                              "tile_overhead": 0.0},
           # every generation kernel the chip can dispatch, for serving to pick the one the row's model
           # runs (serving_decode_params); kernel_library above holds the GQA default's
           "kernel_decode_classes": {cls: decode_fields(params, cls) for cls in decode_classes(chip)},
           # and every fitted GEMM kernel class the chip's kernels measured, for serving to pick the row's
           "kernel_gemm_classes": {cls: kernel_fit.gemm_fields(params, cls) for cls in SERVING_GEMM_CLASSES.values()
                                   if any(SERVING_GEMM_CLASSES.get(k) == cls for k in formats)}}
    if STEP_POWER_CLOCK:  # what a step's clock from its average power needs (step_power_of)
        # the board's nominal TDP (the format power density before silicon_cap's energy ratio): step_power_of
        # matches it against the chip's; the step's energy per FLOP stays the shared one (not silicon_cap's)
        nominal = kernel_fit.format_power_density(chip)
        out["step_power"] = {"tdp_w": round(float(nominal[PEAK_KEYS.index("bf16")] * chip.peak_tflops("bf16")), 3),
                             "pj_flop": round(params["pj_flop_n7"] * power_cap.node_energy_scale(chip), 5),
                             "ref_clock": {k: round(float(c), 5) for k, c in zip(PEAK_KEYS, scale)},
                             "floor_fraction": STEP_POWER_FLOOR}
    if "bf16" in formats:  # streaming and fixed time come from the BF16 GEMMs
        out.update(eff_mem=params["mem_bf16"] if stream_eff is None else stream_eff, kernel_overhead_us=params["ovh_bf16"])
    return out


def decode_fields(params: dict, cls: str) -> dict:
    """The ChipParams fields serving takes from one generation-kernel class: its fixed time beyond
    a GEMM kernel's (kernel_overhead_us) and the fit's own pricing of the kernel
    (kernel_fit.generation_fields: per-wave CTA cost in series with its CTAs' KV stream)."""
    return {"attn_decode_fixed": max(params["ovh_" + cls] - params["ovh_bf16"], 0.0) * 1e-6,
            **kernel_fit.generation_fields(params, cls)}


def decode_classes(chip) -> list[str]:
    """The generation-kernel classes TensorRT-LLM can dispatch on the chip's family
    (kernels_db.yaml decode_kernels; kernel_fit.decode_kernel)."""
    cfg = db_config()["decode_kernels"]
    if chip.family in cfg["trtllm_gen_families"]:  # masked MHA above trtllm_gen_max_group
        return ["decode_mmha", "decode_trtllmgen"]
    return ["decode_mmha"] + [f"decode_{k}" for k in ("hmma", "qgmma") if chip.family in cfg[f"{k}_families"]]


def _own_entry(chip, fitted: dict | None) -> dict:
    """The chip's entry in the calibration in force (empty where it has none)."""
    from .calibration import active_fitted

    return active_fitted(fitted).get("chips", {}).get(getattr(chip, "calibration_id", chip.id), {})


def step_power_of(chip, p, fitted: dict | None = None):
    """The serving step's power inputs (step_power.StepPower) where the calibration in force carries them
    (a --kernels calibration built with STEP_POWER_CLOCK), at the TDP its GEMM clocks were priced for; else
    None (every op at eff_compute's clock). A power-limited variant of the chip (MaxQ, chip.power_capped) keeps
    None: its eff_compute is the nominal one times the power transfer (calibration._power_cap)."""
    from .step_power import StepPower

    e = _own_entry(chip, fitted).get("step_power")
    if not e:
        return None
    tdp = chip.get("tdp_w") if hasattr(chip, "get") else None
    if isinstance(tdp, (int, float)) and abs(float(tdp) - float(e["tdp_w"])) > 1e-6 * float(e["tdp_w"]):
        return None
    return StepPower(tdp_w=float(e["tdp_w"]), j_per_flop=float(e["pj_flop"]) * 1e-12,
                     rate_multiple=tuple(kernel_fit.BF16_RATE_MULTIPLE.get(k, 1.0) for k in PEAK_KEYS),
                     ref_clock=tuple(float(e["ref_clock"].get(k, 1.0)) for k in PEAK_KEYS),
                     dram_j_per_byte=float(np.max(p.dram_pj_per_byte)) * 1e-12,
                     floor_w=float(e.get("floor_fraction", 0.0)) * float(e["tdp_w"]))


def serving_gemm_params(p, chip, pr, fitted: dict | None = None):
    """`p` with the GEMM library fields of the kernel class the serving row's GEMMs run
    (SERVING_GEMM_CLASSES by the precision's compute format) where the calibration in force holds
    per-class values (a --kernels calibration: kernel_gemm_classes, kernel_fit.gemm_fields); else `p`."""
    classes = _own_entry(chip, fitted).get("kernel_gemm_classes") or {}
    cls = SERVING_GEMM_CLASSES.get(str(pr.compute))
    if FP4_FIT_STRUCTURE and classes and str(pr.compute) == "nvfp4":
        return fp4_fit_structure(p, chip)
    return p.replace(**classes[cls]) if cls in classes else p


def fp4_fit_structure(p, chip):
    """`p` with the NVFP4 GEMM structure the kernel fit prices the chip's database NVFP4 GEMMs on (FP4_FIT_STRUCTURE):
    the collector's tile (kernel_tile.collector_tile of the chip's database system), its epilogue store fill and
    accumulator stages, and no K splits; `p` unchanged where the database names no tile for the chip."""
    from .kernel_tile import collector_tile, store_fill

    ids = {chip.id, getattr(chip, "calibration_id", chip.id)}
    system = next((s for s, e in db_config()["systems"].items() if e.get("chip") in ids), None)
    tile = collector_tile(system, "trtllm", "nvfp4") if system else None
    if tile is None:
        return p
    return p.replace(tile_m=tile["m"], min_tile_m=tile["m"], tile_n=tile["n"], epilogue_store_fill=store_fill(tile, p),
                     accum_stages=tile.get("accum_stages", 0.0), max_split_k=1.0)


def serving_decode_params(p, chip, cfg, pr, tp: int, fitted: dict | None = None):
    """`p` with the fields of the kernels the serving row's model runs: its GEMM class's library
    fields (serving_gemm_params), and the generation-kernel fields of its generation kernel (GQA group
    and head dim per GPU after tensor parallelism, KV-cache format; kernel_fit.decode_kernel): the
    masked-MHA kernel's vector work over an FP8 cache (fp8_cache_vector_work, any calibration), and
    where the calibration in force holds per-class values (a --kernels calibration) that class's.
    MLA models keep the chip's default generation class."""
    p = serving_gemm_params(p, chip, pr, fitted)
    if getattr(cfg, "is_mla", False):
        return p
    heads = cfg.num_attention_heads // tp
    kv_heads = max(1, cfg.kv_heads // tp)  # KV heads replicate when tp > kv_heads (workloads/llm.py)
    kv_fmt = "fp8" if str(pr.kv_cache).startswith("fp8") else str(pr.kv_cache)
    kernel = str(kernel_fit.decode_kernel(chip.family, [kv_fmt], [heads], [kv_heads], [cfg.hd])[0])
    # the masked-MHA kernel over an FP8 cache keeps the default model's vector work even under --kernels,
    # where the fit instead halves its CTAs' byte rate (kernel_fit.cta_width): pricing it the fit's way moved
    # H200's GPT-J rows -4.4 -> +18.3 % (docs/notes/issue-24.md, Round stop-27 issue-27sv); an open mismatch
    p = fp8_cache_vector_work(p, chip.family, kernel, kv_fmt, held_out_of(fitted))
    classes = _own_entry(chip, fitted).get("kernel_decode_classes")
    cls = "decode_" + kernel
    if not (classes and cls in classes):
        return p
    p = p.replace(**classes[cls])
    # and the kernel's resident CTAs per SM from its source where it has one, as the fit (kernel_fit.kernel_residency)
    ctas = float(kernel_fit.kernel_residency(chip, [cls], [heads], [kv_heads], [cfg.hd], [kv_fmt])[0])
    p = p.replace(attn_ctas_per_core=ctas) if ctas > 0 else p
    # and the CTAs one SM runs per wave where its source gives them, as the fit (kernel_fit.kernel_wave_ctas)
    wave = float(kernel_fit.kernel_wave_ctas(chip, [cls], [heads], [kv_heads], [cfg.hd])[0])
    return p.replace(attn_gen_wave_ctas=wave) if wave > 0 else p


def fp8_cache_vector_work(p, family: str, kernel: str, kv_fmt: str, held_out=frozenset()):
    """`p` with the vector-unit work of TensorRT-LLM's masked-MHA generation kernel over an FP8 KV
    cache (kernel_structure.yaml mmha_fp8_kv_vflops_*) where the dispatch rule
    (kernel_fit.decode_kernel) runs that kernel on an NVIDIA family it covers; else `p` unchanged.
    The kernel computes on the CUDA cores, so each FP8 KV element is converted before its FMA;
    the XQA kernels feed the tensor cores and BF16 caches need no conversion. `held_out`: the chips a held-out
    calibration leaves out (kernels_db.held_out_of); where the values were fitted on one of them
    (kernel_structure.yaml fitted_on: H200), the values fitted on another chip's kernels (`without`: H100)."""
    cfg = db_config()["decode_kernels"]
    nvidia = set(cfg["trtllm_gen_families"]) | set(cfg["qgmma_families"]) | set(cfg["hmma_families"])
    if kernel != "mmha" or kv_fmt != "fp8" or family not in nvidia:
        return p
    per_byte = kernel_structure("mmha_fp8_kv_vflops_per_byte", held_out)
    per_score = kernel_structure("mmha_fp8_kv_vflops_per_score", held_out)
    if per_byte is None or per_score is None:
        return p
    return p.replace(attn_gen_vflops_per_kv_byte=per_byte, attn_gen_vflops_per_score=per_score)


def db_fitted(per_chip: dict, source: dict, base: dict | None = None, holdout: str | None = None,
              stream: dict | None = None) -> dict:
    """`base` (default: the shipped microbenchmark fit) with the entry of every chip in
    `per_chip` ({chip: (kernel parameters, GEMM formats measured, how fitted)}) replaced;
    `stream` {chip: large-stream DRAM efficiency} (kernel_stream.stream_efficiencies)."""
    stream = stream or {}
    from .kernels_db import chip_for

    base = base if base is not None else load_fitted()
    out = copy.deepcopy(base)
    # pin the microbenchmark vendor means: a DB chip's kernel time must not move chips without kernels
    vendors = {str(c.get("family", "")).split("-")[0] for c in base.get("chips", {}).values()} - {""}
    out["vendor_means"] = {v: vendor_means(base, v) for v in sorted(vendors)}
    pkg = f"{source['package']} {source['package_version']}"
    for cid, (params, fmts, how) in sorted(per_chip.items()):
        e = source["chips"].get(cid, {})
        read = f"{e.get('stack')} " + ", ".join(f"{op} {v}" for op, v in e.get("stack_versions", {}).items()) if e else ""
        formats = [k for k in SERVING_FORMATS if SERVING_FORMATS[k].removeprefix("eff_") in fmts]
        own = {k: v for k, v in out["chips"].get(cid, {}).items() if k not in VENDOR_FIELDS}
        out["chips"][cid] = {**own, **chip_entry(params, chip_for(cid), f"{pkg} {read}; {how}", formats, stream.get(cid),
                                                 held_out_chips(chip_for(holdout).id) if holdout else frozenset())}
    out["about"] = ("Microbenchmark fit (fitted.yaml) with the chips of the kernel database calibrated from it by "
                    "tapeout/perf/kernel_calibration.py; nothing fitted to end-to-end rows.")
    out["kernel_db"] = {"source": source, "holdout": holdout, "stream_eff": dict(stream),
                        "params": {c: p for c, (p, _, _) in per_chip.items()}}
    return holding_out(out, holdout) if holdout else out


def _gemm_formats(k) -> set:
    return {f for f, o in zip(k.cols["fmt"], k.cols["op"]) if o == "gemm"}


def build(holdout: str | None = None, stack: str | None = None, stack_version: str | None = None,
          per_group: int = 300, chips: list[str] | None = None) -> dict:
    """Read the installed database, fit (per chip, or shared without `holdout`'s kernels) and
    return the calibration. Raises TapeoutError in one line without the package.
    `chips` (per-chip fits only): refit just these database chips (their entries equal the full
    build's: each chip's fit reads only its own kernels); every other chip keeps the base fit."""
    from ..errors import TapeoutError
    from .kernels_db import chip_for, held_out_chips, read_kernels, without_chips

    systems = None
    if chips is not None:
        if holdout is not None:
            raise TapeoutError("kernel_calibration.build: give `chips` (per-chip fits) or `holdout` (shared fit), not both.")
        systems = [s for s, e in db_config()["systems"].items() if e["chip"] in set(chips)]
        if not systems:
            raise TapeoutError(f"kernel_calibration.build: chips {', '.join(chips)}: none is a chip of the kernel database "
                               "(data/calibration/kernels_db.yaml systems).")
    k = read_kernels(stack=stack, stack_version=stack_version, per_group=per_group, systems=systems)
    chips = sorted(set(k.cols["chip"]))
    hid = chip_for(holdout).id if holdout is not None else None
    if hid is not None and hid not in chips:
        raise TapeoutError(f"--holdout '{holdout}': the kernel database has no kernels of it; use one of "
                           f"{', '.join(chips)}.")
    stream = large_stream_efficiencies(chips, hid, stack, stack_version)
    if hid is None:
        per_chip = {}
        for c in chips:
            kc = k.where(k.cols["chip"] == c)
            per_chip[c] = (kernel_fit.fit(kernel_fit.Groups(kc))["params"], _gemm_formats(kc),
                           "tapeout/perf/kernel_fit.py refitted on this chip's kernels")
        return db_fitted(per_chip, kernel_fit.source_of(k), stream=stream)
    out = held_out_chips(hid)  # the chip and its twins (same GPU die and memory on another board)
    k = without_chips(k, out)
    from .kernel_floor import read_floors

    # every chip's empty GEMMs but the held-out one's, where the fixed time's family offset is measured on them
    floors = read_floors(hid, stack, stack_version) if kernel_fit.FIXED_TIME_BY_FAMILY == "measured" else {}
    f = kernel_fit.fit(kernel_fit.Groups(k, floors=floors, held_out=out))["params"]
    return held_out_fitted(k, hid, f, floors, stream[hid], stream, stack)


def held_out_fitted(k, hid: str, f: dict, floors: dict, stream: float, streams: dict | None = None,
                    stack: str | None = None) -> dict:
    """The serving calibration of `hid` from a shared kernel fit `f` on `k` (without hid's and its twins' kernels,
    `floors` its fixed-time floors) and its large-stream DRAM efficiency: build(holdout=hid) from a fit already made
    (`tapeout calibrate --kernels --holdout` reuses its report's fit). With `streams` (every database chip's
    large-stream efficiency) and kernel_moe.MOE_FROM_DB, its grouped expert GEMMs' eff_moe and weight-stream
    efficiency come from the other chips' measured fused-MoE layers at the same fit (kernel_moe.fit_db_moe): its
    family's chips where any has MoE layers, else every other chip."""
    from .fit import fit_all
    from .kernel_moe import MOE_FROM_DB, fit_db_moe
    from .kernels_db import chip_for, held_out_chips

    out = held_out_chips(hid)
    how = (f"tapeout/perf/kernel_fit.py shared parameters fitted without {' and '.join(sorted(out))}'s kernels "
           "(and microbenchmarks)")
    base = fit_all(exclude=set(out))
    cal = db_fitted({hid: (_with_floor(f, floors, hid), set(kernel_fit.GEMM_FMTS), how)}, kernel_fit.source_of(k), base,
                    hid, stream={hid: stream})
    if not (MOE_FROM_DB and streams):
        return cal
    # the other database chips priced at the same shared fit, for their measured MoE layers: those of its family
    # (TensorRT-LLM builds its grouped GEMM per SM architecture: SM80 GemmGrouped, SM90 / SM100 TMA warp-specialised,
    # moe_gemm_template_dispatch*.h)
    # where the family has any, else all (the family -> generic fallback of perf/calibration.py)
    train = sorted(c for c in streams if c not in out)
    others = db_fitted({c: (_with_floor(f, floors, c), set(kernel_fit.GEMM_FMTS), how) for c in train},
                       kernel_fit.source_of(k), base, hid, stream=streams)
    family = [c for c in train if chip_for(c).family == chip_for(hid).family]
    moe = (fit_db_moe(family, others, stack) if family else {}) or fit_db_moe(train, others, stack)
    if moe:
        e = cal["chips"][hid]
        e["eff_moe"] = moe["eff_moe"]
        # a weight stream cannot beat the DRAM's peak, whatever the grid's ratio times eff_mem gives
        e["kernel_library"]["moe_eff_mem"] = round(min(1.0, moe["stream_ratio"] * float(e.get("eff_mem", f["mem_bf16"]))), 4)
        cal["kernel_db"]["moe"] = moe
    return cal


def _with_floor(f: dict, floors: dict, cid: str) -> dict:
    """`f` with the chip's GEMM fixed time as the fit prices it: the shared one plus its family's offset
    (perf/kernel_floor.py; an attention op's fixed time beyond it shrinks by as much, as in the fit)."""
    from .kernel_floor import family_offsets, offset_of

    if kernel_fit.FIXED_TIME_BY_FAMILY != "measured":
        return f
    return {**f, "ovh_bf16": max(f["ovh_bf16"] + offset_of(family_offsets(floors), cid, "bf16") * 1e6, 0.0)}


def large_stream_efficiencies(chips: list[str], holdout: str | None, stack: str | None, stack_version: str | None) -> dict:
    """Per chip, the DRAM efficiency of GB-sized weight streams measured on every GEMM of the
    database (kernel_stream; the fit's hash sample holds too few large skinny ones); `holdout`
    gets the median of the other chips' and its kernels are not read."""
    from .calibration import calibrated_params
    from .kernel_stream import stream_efficiencies
    from .kernels_db import chip_for, db_config, held_out_chips, read_kernels

    out = held_out_chips(holdout) if holdout else frozenset()
    systems = [s for s, e in db_config()["systems"].items() if e["chip"] not in out]
    g = read_kernels(stack=stack, stack_version=stack_version, systems=systems, ops=("gemm",), per_group=None)
    return stream_efficiencies(g, {c: float(calibrated_params(chip_for(c)).mem_bw) for c in chips}, holdout)
