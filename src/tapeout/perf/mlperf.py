"""MLPerf LLM presets: benchmark definitions (data/mlperf/benchmarks.yaml) and LLM serving
at cluster scale with automatic parallelism.

`serve_at_scale` searches tensor (TP), expert (EP), pipeline (PP) and data (DP, replicas)
parallelism for a model on N chips, keeps the layouts whose weights + paged KV cache fit,
and for each evaluates the steady state of perf/serving_sim.py: Offline = unconstrained
throughput, Server / Interactive = the highest load meeting the benchmark's p99 TTFT and
TPOT bounds (closed-form queue; `simulate=True` runs the event-driven simulation instead).
Where a benchmark's per-sample lengths are shipped, Offline is the simulated LoadGen run
(serving_sim.offline_run: sample count per mlperf.conf, drain included) of the leading layouts.
Outputs are in MLPerf units: output tokens/s of the whole system.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError, require_positive_given, unknown_name_error
from ..formats import plan
from ..hardware.catalog import Chip, get_chip
from ..hardware.memory_capacity import GIB
from ..precision import COMPUTE_PEAK_FIELD, Precision, get_precision
from ..workloads.llm_config import LLMConfig, load_llm
from .beam_prompt import prompt_sharing
from .calibration import active_fitted, calibrated_params, calibration_for, calibration_key, engine_params
from .collectives import topology_for
from .kernel_calibration import serving_decode_params, step_power_of
from .offline_schedule import KVPool
from .serving_memory import (ACTIVATION_RESERVE_FRACTION, MAX_BATCH, USABLE_MEMORY_FRACTION, kv_bytes_per_token_per_chip,
                             kv_tokens_per_request, weight_bytes_per_chip)
from .serving_sim import (StepModel, length_biased_parts, max_rate_closed_form, max_rate_sim, offline_best,
                          offline_point, offline_run)
from . import bench_engine, board_limit
from .bench_engine import engine_max_batch
from .stacks import (engine_attention_dp_moe, engine_settings, kv_beams_share_prompt, kv_block_waste_tokens, kv_static, kv_tokens_per_block, max_batch_per_micro_batch,
                     pipeline_parallel)
from .vlm import encoder_cost, encoder_weight_bytes

SCENARIOS = ("offline", "server", "interactive")
Z80 = 1.2815515655446004  # 80% two-sided normal quantile


@lru_cache(maxsize=1)
def benchmarks() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "benchmarks.yaml").read_text())


def value_of(x):
    return x["value"] if isinstance(x, dict) and "value" in x else x


INFERENCE_ALIASES = {"llama2-70b-99": "llama2-70b", "llama2-70b-99.9": "llama2-70b", "llama-2-70b": "llama2-70b",
                     "gptj-99": "gptj", "gptj-99.9": "gptj", "gpt-j": "gptj", "mixtral": "mixtral-8x7b",
                     "llama3.1-405b-instruct": "llama3.1-405b", "llama-3.1-405b": "llama3.1-405b",
                     "llama-3.1-8b": "llama3.1-8b", "deepseek-r1-0528": "deepseek-r1"}


def inference_benchmark(name: str) -> dict:
    key = name.strip().lower()
    key = INFERENCE_ALIASES.get(key, key)
    inf = benchmarks()["inference"]
    if key not in inf:
        raise unknown_name_error("inference benchmark", name, list(inf))
    b = dict(inf[key])
    b["name"] = key
    return b


@lru_cache(maxsize=8)
def dataset_lengths(benchmark: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-sample (input, output) token lengths of a benchmark's official dataset
    (data/mlperf/datasets/, provenance in its README), or None where none is shipped.
    Outputs are rescaled to the benchmark's generated mean when the file holds reference
    answers of another model (llama2-70b: GPT-4 answers, mean 218.9, vs 294.45 generated;
    assumption: the generated length is proportional to the reference length). A file with
    inputs only (gpt-oss-120b: MLCommons publishes the performance set's mean output length,
    not per-sample outputs) gives every request the benchmark's mean output (assumption)."""
    import csv

    b = inference_benchmark(benchmark)
    if not b.get("lengths_file"):
        return None
    path = resources.files("tapeout").joinpath("data", "mlperf", b["lengths_file"])
    target = float(value_of(b["mean_output_tokens"]))
    with open(path, newline="") as f:
        a = np.array([[float(r["input_length"]), float(r.get("output_length") or target)] for r in csv.DictReader(f)])
    ins, outs = a[:, 0], a[:, 1]
    if abs(outs.mean() / target - 1.0) > 0.01:
        cap = float(value_of(b.get("max_output_tokens", outs.max())) or outs.max())
        outs = np.clip(np.rint(outs * target / outs.mean()), 1, cap)
    outs = np.maximum(outs, 1.0)
    ins.setflags(write=False)
    outs.setflags(write=False)
    return ins, outs


def singlestream_inputs(benchmark: str) -> np.ndarray | None:
    """Per-sample prompt lengths for a SingleStream percentile where the benchmark ships only the
    shape of its prompt distribution (`singlestream_input_shape_file`: the same articles tokenized
    by another model's tokenizer): rescaled to `mean_input_tokens`, clipped at `max_input_tokens`.
    None where the benchmark names no such file."""
    b = inference_benchmark(benchmark)
    ref = value_of(b.get("singlestream_input_shape_file"))
    if not ref:
        return None
    import csv

    with resources.files("tapeout").joinpath("data", "mlperf", ref).open(newline="") as f:
        ins = np.array([float(r["input_length"]) for r in csv.DictReader(f)])
    ins *= float(value_of(b["mean_input_tokens"])) / ins.mean()
    cap = value_of(b.get("max_input_tokens"))
    return np.clip(np.rint(ins), 1.0, float(cap) if cap else np.inf)


def offline_sample_count(benchmark: str, tokens_per_s: float, mean_output: float) -> int:
    """Samples LoadGen issues in an Offline run: max(min_query_count, slack x min_duration x
    expected QPS), with the expected QPS the predicted one (benchmarks.yaml offline_run)."""
    b = inference_benchmark(benchmark)
    run = benchmarks()["offline_run"]
    qps = tokens_per_s / max(mean_output, 1e-9)
    return int(max(value_of(b["offline_min_query_count"]), math.ceil(value_of(run["sample_slack"]) * value_of(run["min_duration_s"]) * qps)))


@dataclass
class ScaleResult:
    model: str
    chip: str
    num_chips: int
    scenario: str
    precision: str
    input_len: float
    output_len: float
    output_tokens_per_s: float
    output_tokens_per_s_per_chip: float
    parallelism: str
    tp: int
    ep: int
    pp: int
    dp: int
    batch_size: int  # sequences in flight per replica
    tpot_s: float
    ttft_s: float
    memory_gib_per_chip: float
    capacity_gib_per_chip: float
    interval_80: tuple[float, float] = (0.0, 0.0)
    candidates: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    benchmark: str = ""
    offline_run: dict | None = None  # the simulated Offline run (mlperf._simulate_offline), if any
    kernel_spread: float = 1.0  # sum of squared time shares of the step's distinct kernels (perf/uncertainty.py)

    def as_dict(self) -> dict:
        return asdict(self)


_SM_CACHE: dict = {}
_RESULT_CACHE: dict = {}


def clear_caches() -> None:
    """Forget cached step models and results (caches are keyed on the calibration; this frees memory)."""
    _SM_CACHE.clear()
    _RESULT_CACHE.clear()
    from .training import clear_cache

    clear_cache()


def step_model(cfg: LLMConfig, chip: Chip, pr, tp: int, ep: int, pp: int, params=None, moe_cv: float = 0.0,
               evaluator=None, fitted: dict | None = None, vision=None, stack: str | None = None,
               static_ctx: float = 0.0, beam_prompt: tuple[int, float] = (1, 0.0)) -> StepModel:
    """The step-time model of one layout; cached for the plain cost model only (explicit params
    or a custom evaluator are never cached), on the whole model config and the chip (a catalog
    chip by id, any other Chip object by identity).
    `vision` (workloads/vlm.VisionLoad): each prefilled request also pays its images' encoder.
    `stack`: the serving stack whose collectives dispatch the step (perf/stacks.py; None: default);
    `static_ctx` > 0: every decode step attends over that many tokens per slot (static KV cache);
    `beam_prompt` (beams, prompt tokens): the beams of a request read one prompt's KV (perf/beam_prompt.py)."""
    cacheable = params is None and evaluator is None
    pr = plan(pr, chip, fitted)[0]  # the precision policy as it runs on this chip (tapeout.formats)
    # the whole config (two config.json files share a name), the chip by id or identity
    key = (cfg.model_dump_json(), _chip_key(chip), pr, tp, ep, pp, moe_cv, calibration_key(fitted), vision, stack,
           static_ctx, tuple(beam_prompt))
    hit = _SM_CACHE.get(key) if cacheable else None
    sm = hit[1] if hit is not None and hit[0] is chip else None
    if sm is None:
        # a --kernels calibration's generation kernel for this model's GQA group, head dim and KV format
        p = params if params is not None else serving_decode_params(calibrated_params(chip, fitted), chip, cfg, pr, tp, fitted)
        power = step_power_of(chip, p, fitted)
        if params is None and board_limit.applies(chip):  # a power-limited chip: its nominal params, the step
            base = board_limit.nominal_chip(chip)          # clock from the limit (perf/board_limit.py)
            p_nom = serving_decode_params(calibrated_params(base, fitted), base, cfg, pr, tp, fitted)
            limited = board_limit.step_power_at(chip, p_nom, fitted)
            if limited is not None:
                p, power = p_nom, limited
        sm = StepModel(cfg, p, pr, tp, ep, pp, topology_for(p, chip.family), moe_cv=moe_cv, family=chip.family,
                       evaluator=evaluator, encoder_s=encoder_cost(vision, p, pr, tp, evaluator)[0] if vision else 0.0,
                       stack=stack, static_ctx=static_ctx, beam_prompt=beam_prompt, power=power)
        if cacheable:
            _SM_CACHE[key] = (chip, sm)  # the chip held: its id() is not reused while cached
    return sm


def _chip_key(chip: Chip):
    """A catalog chip by its id; any other Chip object (a design point, a modified copy of a
    catalog chip) by identity: two objects with one id may hold different specs."""
    try:
        if get_chip(chip.id) is chip:
            return chip.id
    except TapeoutError:
        pass
    return ("object", id(chip))


def sigma_log_for(chip: Chip, fitted: dict | None = None) -> float:
    """Log-space sigma of a prediction: the chip's calibration residual spread combined with
    the held-out spread of calibrated efficiencies across chips (generic sigma_log)."""
    cal = calibration_for(chip, fitted)
    fitted = active_fitted(fitted)
    gen = float(fitted.get("generic", {}).get("sigma_log", 0.2) or 0.2)
    own = float(cal.sigma_log)
    return math.sqrt(own ** 2 + gen ** 2) if cal.origin.get("sigma_log") == "chip fit" else math.sqrt(2) * max(own, gen)


def interval(value: float, chip: Chip, shares: dict | None = None, input_sigma: float = 0.0,
             fitted: dict | None = None, spread: float = 1.0) -> tuple[float, float]:
    """80% interval from the microbenchmark calibration (perf/uncertainty.py): per-term
    leave-one-chip-out sigmas combined by time share; largest term when shares are unknown;
    `spread`: the step's kernel spread (StepModel.kernel_spread; 1 when not known)."""
    from .uncertainty import interval_for

    return interval_for(value, chip, shares=shares, input_sigma=input_sigma, fitted=fitted, spread=spread)


def layouts(cfg: LLMConfig, num_chips: int, domain: int, tp: int | None = None, pp: int | None = None,
            ep: int | None = None) -> list[tuple[int, int, int]]:
    out = []
    for t in (1, 2, 4, 8, 16, 32, 64):
        if tp is not None and t != tp:
            continue
        if t > num_chips or num_chips % t or cfg.num_attention_heads % t or t > max(domain, 1):
            continue
        for p in (1, 2, 4, 8, 16):
            if pp is not None and p != pp:
                continue
            if num_chips % (t * p) or cfg.num_hidden_layers < p:
                continue
            eps = [1]
            if cfg.is_moe:
                eps = [e for e in (1, 2, 4, 8, 16, 32, 64) if e <= t and t % e == 0 and cfg.num_experts % e == 0]
            for e in eps:
                if ep is not None and e != ep:
                    continue
                out.append((t, e, p))
    return out


def serve_at_scale(model, chip, num_chips: int = 1, precision: str = "bf16", input_len: float = 1024,
                   output_len: float = 256, scenario: str = "offline", ttft_bound: float | None = None,
                   tpot_bound: float | None = None, beams: int = 1, tp: int | None = None, pp: int | None = None,
                   ep: int | None = None, batch: int | None = None, whole_query_bound: bool = False,
                   moe_cv: float = 0.0, simulate: bool = False, max_in: int | None = None,
                   max_out: int | None = None, params=None, max_batch: int | None = None,
                   dataset: str | None = None, kv_precision: str | None = None, evaluator=None,
                   weight_bytes_factor: float = 1.0, fitted: dict | None = None, vision=None,
                   stack: str | None = None, replicas: int | None = None) -> ScaleResult:
    """`max_batch` caps the sequences one engine (replica) holds, as a runtime setting does
    (TensorRT-LLM max_batch_size, vLLM max_num_seqs; Offline fills it where the KV cache allows; per
    pipeline micro-batch where the stack applies it so, perf/stacks.max_batch_per_micro_batch);
    `batch` fixes it instead. `dataset`
    names an MLPerf benchmark whose per-sample lengths are shipped (`dataset_lengths`):
    Offline is then simulated request by request over a LoadGen-sized run (drain included)
    and the KV occupancy per slot is the dataset's length-biased mean. `kv_precision`
    overrides the KV-cache dtype; `fitted` is the calibration (None: the shipped fit); `evaluator` (graph, params -> CostTable) and
    `weight_bytes_factor` are the compression hooks of tapeout.quant. `vision` (workloads/vlm.VisionLoad) serves a
    vision-language model: its image tokens join `input_len` (text tokens), each request's images are encoded in
    its prefill (perf/vlm.py) and the vision tower's weights are held with the LLM's. `stack` names the serving
    stack (data/software/serving_stacks.yaml; None: the default): its all-reduce dispatch, KV block size and the
    parallelism it supports (no PP where the stack has none in this scenario). `replicas` fixes how many engine
    replicas the chips run (a harness that drives one engine endpoint: 1, so tp x pp = num_chips); None: any.

    This is tapeout's one LLM serving engine: `tapeout serve --model/--benchmark`, `explain`,
    studies, the quant frontier and validation all call it (perf/llm.serve adapts its result).
    Results are memoised on every argument and the calibration, and handed out as copies."""
    require_positive_given(tp=tp, pp=pp, ep=ep)  # 0 is not "any" (None is): a caller skipping perf/llm.serve's check
    memo = None
    if params is None and evaluator is None and isinstance(model, str) and not isinstance(chip, Chip):
        memo = (model, chip, num_chips, precision, input_len, output_len, scenario, ttft_bound, tpot_bound, beams, tp,
                pp, ep, batch, whole_query_bound, moe_cv, simulate, max_in, max_out, max_batch, dataset, kv_precision,
                weight_bytes_factor, calibration_key(fitted), vision, stack, replicas, bench_engine.TRTLLM_BENCH_ENGINE_SETTINGS)
        if memo in _RESULT_CACHE:
            import copy

            return copy.deepcopy(_RESULT_CACHE[memo])
    r = _serve_at_scale(model, chip, num_chips, precision, input_len, output_len, scenario, ttft_bound, tpot_bound,
                        beams, tp, pp, ep, batch, whole_query_bound, moe_cv, simulate, max_in, max_out, params, max_batch,
                        dataset, kv_precision, evaluator, weight_bytes_factor, fitted, vision, stack, replicas)
    if scenario != "offline":
        # a latency-bounded load never beats every query at once on the same system: the system's Offline (its best
        # layout, where the stack pipelines only online - vLLM 0.5.1-0.7 AsyncLLMEngine - its best non-PP one) caps
        # it. Each layout is already capped at its own Offline rate (_cap_at_offline); this also covers a layout
        # whose simulated Offline run the Offline search ranked without simulating it.
        pp_off = pp if pipeline_parallel(stack, "offline") else None
        off = serve_at_scale(model, chip, num_chips, precision, input_len, output_len, "offline", beams=beams, tp=tp,
                             pp=pp_off, ep=ep, batch=batch, moe_cv=moe_cv, max_in=max_in, max_out=max_out,
                             params=params, max_batch=max_batch, dataset=dataset, kv_precision=kv_precision,
                             evaluator=evaluator, weight_bytes_factor=weight_bytes_factor, fitted=fitted,
                             vision=vision, stack=stack, replicas=replicas)
        if off.output_tokens_per_s < r.output_tokens_per_s:
            r.notes.append(f"capped at the system's Offline ({off.parallelism}): "
                           f"{r.output_tokens_per_s:.0f} -> {off.output_tokens_per_s:.0f} tok/s")
            r.output_tokens_per_s = off.output_tokens_per_s
            r.output_tokens_per_s_per_chip = off.output_tokens_per_s / num_chips
            r.interval_80, r.kernel_spread = off.interval_80, off.kernel_spread
    if memo is not None:
        import copy

        _RESULT_CACHE[memo] = copy.deepcopy(r)
    return r


def _serve_at_scale(model, chip, num_chips, precision, input_len, output_len, scenario, ttft_bound, tpot_bound,
                    beams, tp, pp, ep, batch, whole_query_bound, moe_cv, simulate, max_in, max_out, params,
                    max_batch=None, dataset=None, kv_precision=None, evaluator=None, weight_bytes_factor=1.0,
                    fitted=None, vision=None, stack=None, replicas=None) -> ScaleResult:
    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    if vision is not None:
        input_len = input_len + vision.tokens_per_request  # image tokens enter the prompt
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    if scenario not in SCENARIOS:
        raise TapeoutError(f"--scenario must be one of {', '.join(SCENARIOS)}, got '{scenario}'.")
    pr = precision if isinstance(precision, Precision) else get_precision(precision)
    if kv_precision:
        pr = pr.with_kv(kv_precision)
    pr = plan(pr, c, fitted)[0]  # the precision policy as it runs on this chip (tapeout.formats)
    p = params if params is not None else engine_params(c, fitted)
    key = COMPUTE_PEAK_FIELD.get(pr.compute, "bf16")
    if float(np.max(p.peak(key))) <= 0:
        raise TapeoutError(f"chip '{c.id}' has no {pr.compute} matrix support; choose another precision.")
    domain = int(np.max(p.scaleup_domain))
    cap = float(np.min(p.mem_capacity))
    usable = cap * (USABLE_MEMORY_FRACTION - ACTIVATION_RESERVE_FRACTION)
    held = (input_len, output_len / 2.0)  # paged KV: mean prompt and generated tokens a request holds
    notes: list[str] = []
    lengths = dataset_lengths(dataset) if dataset else None
    if lengths is not None:
        ins, outs = lengths
        if abs(ins.mean() / input_len - 1) > 0.01 or abs(outs.mean() / output_len - 1) > 0.01:
            notes.append(f"lengths differ from the {dataset} dataset's means: closed-form steady state, no run simulation")
            lengths = None
        else:
            held = length_biased_parts(ins, outs)
    # each beam's last block is half empty; beams share the prompt's blocks where the stack's cache does
    occupancy = kv_tokens_per_request(*held, beams, kv_block_waste_tokens(stack), kv_beams_share_prompt(stack))
    static_ctx = 0.0
    if kv_static(stack):  # static shapes: a slot holds, and each decode step reads, the longest request's tokens
        static_ctx = _longest_request(input_len, output_len, max_in, max_out, dataset)
        occupancy = static_ctx * beams
    if replicas is not None and (int(replicas) < 1 or num_chips % int(replicas)):
        raise TapeoutError(f"replicas={replicas}: the engine replicas must be a whole number >= 1 that divides "
                           f"--num-chips {num_chips}; change replicas or the chip count.")
    if not pipeline_parallel(stack, scenario):  # the stack serves a replica on TP (and EP) only here
        if pp is not None and pp > 1:
            raise TapeoutError(f"--pp {pp}: serving stack '{stack}' has no pipeline parallelism in scenario {scenario} "
                               f"(data/software/serving_stacks.yaml); use --pp 1.")
        pp = 1
    results = []
    misses = []
    fit_misses = 0  # layouts that fail on memory alone
    batch_cap = 0  # the largest batch any layout holds (for a pinned `batch` that fits none)
    for t, e, pl in layouts(cfg, num_chips, domain, tp, pp, ep):
        if replicas is not None and num_chips // (t * pl) != int(replicas):
            continue  # the deployment runs a fixed number of engine replicas (e.g. one API server)
        w = weight_bytes_per_chip(cfg, pr, t, e, weight_bytes_factor) / pl + encoder_weight_bytes(vision, pr, t)
        kv_tok = kv_bytes_per_token_per_chip(cfg, pr, t, occupancy / beams) / pl  # a beam's window caps its own cache
        free = usable - w
        if free <= 0:
            misses.append(f"TP{t} PP{pl}: weights {w / GIB:.3g} GiB/chip of {usable / GIB:.3g} usable")
            fit_misses += 1
            continue
        bmax = int(min(MAX_BATCH * pl, free // (kv_tok * occupancy)))
        if max_batch is not None:  # per micro-batch where the stack's runtime setting is (TensorRT-LLM)
            bmax = min(bmax, int(max_batch) * (pl if max_batch_per_micro_batch(stack) else 1))
        # the max batch the stack's harness gives the engine itself (trtllm-bench; perf/bench_engine.py)
        engine_cap = engine_max_batch(engine_settings(stack), cfg, pr, cap / GIB, t, pl, input_len, output_len)
        if engine_cap is not None:  # per attention-DP rank where the stack runs MoE models so (TP ranks per replica)
            ranks = t if cfg.is_moe and engine_attention_dp_moe(stack) else 1
            engine_cap *= ranks * (pl if max_batch_per_micro_batch(stack) else 1)
            bmax = min(bmax, engine_cap)
        batch_cap = max(batch_cap, bmax)
        if bmax < 1:
            misses.append(f"TP{t} PP{pl}: weights fit ({w / GIB:.1f} GiB/chip) but not the KV cache of one sequence")
            fit_misses += 1
            continue
        if batch is not None:
            if batch > bmax:
                misses.append(f"TP{t} PP{pl}: batch {batch} > {bmax} sequences that fit")
                continue
            bmax = batch
        sm = step_model(cfg, c, pr, t, e, pl, params, moe_cv, evaluator, fitted, vision, stack, static_ctx,
                        prompt_sharing(beams, input_len, kv_beams_share_prompt(stack)))
        dp = num_chips // (t * pl)
        if scenario == "offline":
            # a pinned batch, or a runtime max_batch: with every query queued at once the in-flight
            # batcher admits requests while a slot and KV blocks are free, so it runs full (TensorRT-LLM
            # capacity scheduler: nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/
            # useful-runtime-flags.html; vLLM max_num_seqs); without either, the best batch (what
            # tuning max_batch would find)
            # (the harness's engine cap only bounds bmax: the best batch under it, so it never raises the batch)
            st = offline_best(sm, bmax, input_len, output_len, beams) if batch is None and max_batch is None else \
                offline_point(sm, bmax, input_len, output_len, beams)
        elif simulate:
            kv_cap_tokens = free / kv_tok
            tps, _ = max_rate_sim(sm, kv_cap_tokens, input_len, output_len, max_in or int(4 * input_len),
                                  max_out or int(4 * output_len), ttft_bound, tpot_bound, beams=beams, max_batch=bmax,
                                  prompt_copies=1 if kv_beams_share_prompt(stack) else beams)
            st = offline_best(sm, bmax, input_len, output_len, beams)
            st.tokens_per_s = tps
        else:
            st = max_rate_closed_form(sm, bmax, input_len, output_len, ttft_bound, tpot_bound, beams, whole_query_bound)
            if st is None:
                misses.append(f"TP{t} EP{e} PP{pl}: no batch meets the latency bounds")
                continue
        total = st.tokens_per_s * dp
        mem = w + kv_tok * occupancy * st.batch + cap * ACTIVATION_RESERVE_FRACTION
        # the replica's paged KV pool (None: a static cache, every slot sized for the longest request)
        pool = None if static_ctx else KVPool(int(free / kv_tok) // kv_tokens_per_block(stack), kv_tokens_per_block(stack),
                                              beams, 1 if kv_beams_share_prompt(stack) else beams)
        results.append(dict(tp=t, ep=e, pp=pl, dp=dp, tokens_per_s=total, batch=st.batch, tpot=st.step_s,
                            ttft=st.ttft_s, mem=mem, _sm=sm, _bmax=bmax, _pool=pool,
                            **({} if engine_cap is None else {"engine_max_batch": engine_cap})))
    if not results and not misses:  # no layout at all: the pinned --tp/--pp does not divide the chips
        raise TapeoutError(f"no layout of {cfg.name} with tp={tp or 'any'} pp={pp or 'any'} replicas={replicas or 'any'} "
                           f"on {num_chips} x {c.id}: "
                           f"tp x pp must divide --num-chips, tp must divide {cfg.num_attention_heads} heads and fit the "
                           f"scale-up domain of {domain}; change --tp or --num-chips.")
    if not results and misses and fit_misses == len(misses):
        raise TapeoutError(f"{cfg.name} at {pr.name} does not fit on {num_chips} x {c.id}: " + "; ".join(misses[:4])
                           + ". Use more chips (--num-chips), a smaller precision, shorter sequences, or a chip with "
                           "more memory.")
    if not results and batch is not None and batch > batch_cap:
        raise TapeoutError(f"batch={batch} does not fit: the KV cache of {occupancy:.0f} tokens/sequence allows at most "
                           f"{batch_cap} sequences per replica on {num_chips} x {c.id}. Lower --batch or add chips.")
    if not results:
        raise TapeoutError(f"{cfg.name} at {pr.name} cannot be served on {num_chips} x {c.id} in scenario "
                           f"{scenario}: " + "; ".join(misses[:4]) + ". Add chips or lower the precision.")
    results.sort(key=lambda r: -r["tokens_per_s"])
    run = None
    if scenario == "offline" and lengths is not None:
        run = _simulate_offline(results, lengths, dataset, output_len, beams)
        notes.append(f"Offline run simulated over {run['samples_per_replica']} samples per replica (LoadGen sizing, "
                     f"{dataset} per-sample lengths): steady {run['steady_tokens_per_s_per_replica']:.0f} tok/s per "
                     f"replica, drain {run['drain_s']:.1f} s of {run['wall_s']:.1f} s")
    elif scenario != "offline":
        if lengths is not None and not simulate:
            _server_on_dataset(results, input_len, output_len, beams, lengths, dataset)
            notes.append(f"Server service rate from the {dataset} per-sample lengths (steady simulated run at the "
                         f"chosen batch), the admission queue as in the closed form")
        capped = _cap_at_offline(results, input_len, output_len, beams, lengths, dataset)
        if capped:
            notes.append(f"{capped} layout(s) capped at their Offline rate (a latency bound never raises throughput)")
    # the interval's kernel averaging: a decode step of the chosen layout at its batch (one pipeline stage's share)
    spread = results[0]["_sm"].kernel_spread(results[0]["batch"] / results[0]["pp"], input_len + output_len / 2)
    for r in results:
        for k in ("_sm", "_run", "_bmax", "_pool", "_capped", "_on_dataset"):
            r.pop(k, None)
    b = results[0]
    if "engine_max_batch" in b:
        notes.append(f"batch capped at {b['engine_max_batch']} sequences per replica: the max_batch_size the stack's "
                     f"harness ({engine_settings(stack)}) sets itself from the model, lengths and memory "
                     f"(perf/bench_engine.py)")
    par = f"TP{b['tp']}" + (f" EP{b['ep']}" if b["ep"] > 1 else "") + (f" PP{b['pp']}" if b["pp"] > 1 else "") + f" x DP{b['dp']}"
    lo, hi = interval(b["tokens_per_s"], c, fitted=fitted, spread=spread)
    return ScaleResult(
        model=cfg.name, chip=c.id, num_chips=num_chips, scenario=scenario, precision=pr.name,
        input_len=input_len, output_len=output_len, output_tokens_per_s=b["tokens_per_s"],
        output_tokens_per_s_per_chip=b["tokens_per_s"] / num_chips, parallelism=par, tp=b["tp"], ep=b["ep"],
        pp=b["pp"], dp=b["dp"], batch_size=int(b["batch"]), tpot_s=b["tpot"], ttft_s=b["ttft"],
        memory_gib_per_chip=b["mem"] / GIB, capacity_gib_per_chip=cap / GIB, interval_80=(lo, hi), kernel_spread=spread,
        candidates=[{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in results[:8]],
        notes=notes, offline_run=run,
    )


def _longest_request(input_len: float, output_len: float, max_in, max_out, dataset: str | None) -> float:
    """Tokens of the longest request a static-shape stack must hold per slot: the given maxima, else the
    benchmark's (benchmarks.yaml max_input_tokens + max_output_tokens), else the mean lengths (no padding known)."""
    b = inference_benchmark(dataset) if dataset else {}
    mi = max_in or value_of(b.get("max_input_tokens")) or input_len
    mo = max_out or value_of(b.get("max_output_tokens")) or output_len
    return float(max(mi, input_len) + max(mo, output_len))


SIMULATED_LAYOUTS = 3  # Offline layouts re-ranked by the run simulation (best closed-form first)


def _simulate_offline(results: list[dict], lengths, dataset: str, mean_output: float, beams: int) -> dict:
    """Replace the closed-form Offline rate of the leading layouts by a simulated run: LoadGen
    issues offline_sample_count samples (drawn uniformly from the dataset, fixed seed), split
    evenly over the dp replicas; each replica runs serving_sim.offline_run. The best
    SIMULATED_LAYOUTS layouts are simulated, and every other one whose closed-form rate (times the
    most favourable simulated ratio where above 1) would beat the simulated leader; the rest are ranked at
    their closed-form rate times the least favourable ratio, and one that would then lead is simulated too.
    Sorts `results` best first and returns the leading layout's run."""
    ins, outs = lengths

    def simulate(r: dict) -> float:
        n_total = offline_sample_count(dataset, r["tokens_per_s"], mean_output)
        per = max(1, math.ceil(n_total / r["dp"]))
        idx = np.random.default_rng(0).integers(0, len(ins), per)
        o = offline_run(r["_sm"], r["batch"], ins[idx], outs[idx], beams, r["_pool"])
        if r["_bmax"] > r["batch"]:
            # the closed form picked a smaller batch than fits (its mean-length step sits on GEMM wave-quantisation
            # steps at one token count); a tuner measures runs: keep the full batch where its run is faster
            full = offline_run(r["_sm"], r["_bmax"], ins[idx], outs[idx], beams, r["_pool"])
            if full.tokens_per_s > o.tokens_per_s:
                o, r["batch"] = full, r["_bmax"]
        ratio = o.tokens_per_s * r["dp"] / r["tokens_per_s"]
        r["tokens_per_s"] = o.tokens_per_s * r["dp"]
        r["_run"] = dict(samples_total=n_total, samples_per_replica=per, wall_s=round(o.wall_s, 2),
                         drain_s=round(o.drain_s, 2), steps=o.steps, mean_batch=round(o.mean_batch, 1), pauses=o.pauses,
                         steady_tokens_per_s_per_replica=round(o.steady_tokens_per_s, 1))
        return ratio

    ratios = [simulate(r) for r in results[:SIMULATED_LAYOUTS]]
    worst = min(ratios)
    for r in results[SIMULATED_LAYOUTS:]:
        # a layout whose closed form could still lead at a run/closed-form ratio of 1 (or the most favourable one
        # seen, if higher) is simulated: the ratios differ by layout (PP bubbles, drain, length spread), so the
        # leaders' ratios do not bound another layout's; the rest are ranked at the worst ratio
        lead = max(x["tokens_per_s"] for x in results if "_run" in x)
        if r["tokens_per_s"] * max(1.0, *ratios) > lead:
            ratios.append(simulate(r))
        else:
            r["tokens_per_s"] *= worst
    results.sort(key=lambda r: -r["tokens_per_s"])
    while "_run" not in results[0]:
        results[0]["tokens_per_s"] /= worst  # back to its closed form, then simulate
        simulate(results[0])
        results.sort(key=lambda r: -r["tokens_per_s"])
    return results[0]["_run"]


def _dataset_samples(lengths, dataset: str, tokens_per_s: float, mean_output: float, dp: int):
    """The per-sample (input, output) lengths one replica serves in a LoadGen-sized run (fixed seed)."""
    ins, outs = lengths
    n_total = offline_sample_count(dataset, tokens_per_s, mean_output)
    idx = np.random.default_rng(0).integers(0, len(ins), max(1, math.ceil(n_total / dp)))
    return ins[idx], outs[idx]


def _server_on_dataset(results: list[dict], input_len: float, output_len: float, beams: int, lengths,
                       dataset: str) -> None:
    """The closed-form Server rate is rho(B) x mu(B), with the service rate mu from the mean-length
    step (serving_sim.offline_point). Where the benchmark's per-sample lengths are shipped, Offline
    is the simulated run over them; the Server queue is fed by the same engine, so its service rate
    is that run's steady (all slots busy, no drain) rate at the same batch: each layout's rate is
    scaled by steady / closed-form at its batch. Sorts `results` (best first) as it goes, adjusting
    from the leader down until the leader is an adjusted one."""
    def adjust(r: dict) -> None:
        closed = offline_point(r["_sm"], r["batch"], input_len, output_len, beams).tokens_per_s
        ins, outs = _dataset_samples(lengths, dataset, r["tokens_per_s"], output_len, r["dp"])
        steady = offline_run(r["_sm"], r["batch"], ins, outs, beams, r["_pool"]).steady_tokens_per_s
        r["tokens_per_s"] *= steady / closed
        r["_on_dataset"] = True

    results.sort(key=lambda r: -r["tokens_per_s"])
    while not results[0].get("_on_dataset"):
        adjust(results[0])
        results.sort(key=lambda r: -r["tokens_per_s"])


def _cap_at_offline(results: list[dict], input_len: float, output_len: float, beams: int, lengths,
                    dataset: str | None) -> int:
    """Server / Interactive never beat Offline on the same system: the same engine with every
    request queued at once (no latency bound, same batch cap) is an upper bound on any load
    that meets a latency bound. Each layout's rate is capped at its own Offline rate - the
    simulated LoadGen run where the dataset's per-sample lengths are shipped (it carries the
    one-prefill-per-step cost the closed forms spread out), else the closed form - from the
    leading layout down until the leader is a capped one. Sorts `results`; returns how many
    layouts the cap lowered."""
    lowered = 0

    def cap(r: dict) -> None:
        nonlocal lowered
        st = offline_best(r["_sm"], r["_bmax"], input_len, output_len, beams)
        off = st.tokens_per_s * r["dp"]
        if lengths is not None:
            ins, outs = _dataset_samples(lengths, dataset, off, output_len, r["dp"])
            off = offline_run(r["_sm"], st.batch, ins, outs, beams, r["_pool"]).tokens_per_s * r["dp"]
        if r["tokens_per_s"] > off:
            r["tokens_per_s"] = off
            lowered += 1
        r["_capped"] = True

    results.sort(key=lambda r: -r["tokens_per_s"])
    while not results[0].get("_capped"):
        cap(results[0])
        results.sort(key=lambda r: -r["tokens_per_s"])
    return lowered


def serve_benchmark(benchmark: str, chip, num_chips: int = 8, scenario: str = "offline", precision: str | None = None,
                    simulate: bool = False, input_len: float | None = None, tp: int | None = None,
                    max_batch: int | None = None, stack: str | None = None, fitted: dict | None = None) -> ScaleResult:
    """`tapeout serve --benchmark NAME`: the benchmark's model, dataset lengths and bounds.
    `tp` fixes the tensor-parallel degree (pipeline parallelism off), `max_batch` caps one engine,
    `stack` names the serving stack (perf/stacks.py; None: the default), `fitted` the calibration (None: shipped)."""
    b = inference_benchmark(benchmark)
    scenario = scenario.lower()
    lat = b.get("latency", {})
    ttft = tpot = None
    whole = False
    if scenario != "offline":
        if scenario not in lat:
            raise TapeoutError(f"benchmark {b['name']} has no {scenario} scenario (has: offline, {', '.join(lat)}).")
        ttft, tpot = lat[scenario]["ttft_p99_s"], lat[scenario].get("tpot_p99_s")
        whole = bool(lat[scenario].get("whole_query"))
    c = get_chip(chip)
    if precision is None:
        precision = "fp8" if c.supports("fp8") else ("int8" if c.supports("int8") else "bf16")
    I = float(input_len or value_of(b["mean_input_tokens"]))
    O = float(value_of(b["mean_output_tokens"]))
    r = serve_at_scale(b["model"], c, num_chips, precision, I, O, scenario, ttft, tpot, beams=int(b.get("beams", 1)),
                       whole_query_bound=whole, simulate=simulate, tp=tp, pp=1 if tp else None, max_batch=max_batch,
                       dataset=b["name"], stack=stack, fitted=fitted,
                       max_in=int(value_of(b.get("max_input_tokens", 4 * I)) or 4 * I),
                       max_out=int(value_of(b.get("max_output_tokens", 4 * O)) or 4 * O))
    r.benchmark = b["name"]
    st = b["mean_input_tokens"].get("status") if isinstance(b["mean_input_tokens"], dict) else ""
    r.notes.append(f"dataset means: input {I:.0f} tok ({st}), output {O:.0f} tok; see data/mlperf/benchmarks.yaml")
    if scenario != "offline":
        r.notes.append(f"bounds: p99 TTFT <= {ttft} s" + (f", p99 TPOT <= {tpot} s" if tpot else "")
                       + ("; simulated" if simulate else "; closed-form M/M/1 admission queue"))
    return r
