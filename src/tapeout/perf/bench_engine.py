"""The engine settings a benchmark harness picks itself: trtllm-bench's max_batch_size and max_num_tokens.

`trtllm-bench throughput --backend pytorch` run without --max_batch_size / --max_num_tokens (the command of
NVIDIA's perf-overview tables, NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md @00f37686) sets both from
a closed form of the model, the dataset's mean ISL / OSL, TP, PP and kv_cache_free_gpu_mem_fraction
(tensorrt_llm/bench/benchmark/utils/general.py get_settings -> bench/build/build.py get_benchmark_engine_settings ->
bench/build/tuning.py calc_engine_setting / finetune_setting; read at NVIDIA/TensorRT-LLM 04cba882, the formula
unchanged across the v1.0-era versions on file):

    engine GiB   = param_count x BYTES_PER_ELEM[quant_algo] / 2^30        (NO_QUANT 2, FP8 1, FP8_BLOCK_SCALES 1, NVFP4 0.5)
    GiB / token  = 2 x attention layers x max(tp, kv heads) x head size x BYTES_PER_ELEM[kv_cache_quant_algo] / 2^30
    requests     = frac x (device GiB x tp x pp - engine GiB) / (GiB / token x (ISL + OSL))
    raw_bs       = min(requests, 4096) / pp;   raw_tokens = min(raw_bs x (1 + ISL / OSL), 32768)
    max_bs       = max(64, 32 ceil(raw_bs / 32)) below 256; 128 ceil(raw_bs / 128) below 1024; else 256 ceil(raw_bs / 256)
    max_tokens   = max(2048, 256 ceil(t / 256)) below 4096; 512 ceil(t / 512) below 8192; else 1024 ceil(t / 1024)

`param_count` is the sum of the checkpoint's safetensors element counts (bench/build/dataclasses.py
ModelConfig.get_param_count): one per FP8 / BF16 weight, but a ModelOpt NVFP4 checkpoint stores each linear weight as
uint8 pairs (n / 2 elements) plus one FP8 scale per 16 (n / 16), so its engine size is under-counted (later
releases use the checkpoint's byte size instead: tests/unittest/bench test_calc_engine_setting_prequantized_nvfp4,
"The buggy path would use 230B * 0.5"). Device GiB is NVML's total (bench/build/utils.get_device_memory); the chip's
catalog capacity stands for it. Other weight formats are not in TUNED_QUANTS and get BuildConfig's defaults: no cap
known here (None).

The PyTorch backend then runs with these as its scheduler's limits: max_batch_size bounds the sequences in flight
(and the CUDA-graph batch sizes); with chunked prefill off (trtllm-bench's default) max_num_tokens is raised to at
least max ISL + max_batch_size, so a fixed-length prompt is never split: the engine's prefill chunking does not bind
and only the batch cap matters to the model.
"""

from __future__ import annotations

import math

from ..hardware.memory_capacity import GIB
from ..precision import Precision
from ..workloads.llm_config import LLMConfig

# bench/build/tuning.py BYTES_PER_ELEM, keyed by tapeout's weight format (QuantAlgo NO_QUANT / FP8 / FP8_BLOCK_SCALES /
# NVFP4); a weight format absent here is not in build.py TUNED_QUANTS: trtllm-bench falls back to BuildConfig defaults.
BYTES_PER_ELEM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp8_block": 1.0, "nvfp4": 0.5}
# elements a ModelOpt NVFP4 checkpoint stores per linear weight: packed uint8 pairs + one FP8 scale per 16 values
NVFP4_ELEMENTS_PER_WEIGHT = 1 / 2 + 1 / 16
DEFAULT_KV_FRACTION = 0.95  # calc_engine_setting kv_cache_gpu_mem_fraction default (trtllm-bench's flag default too)

# Whether a serving stack whose harness sets the engine's limits itself (serving_stacks.yaml `engine_settings`:
# trtllm-bench) runs at most the max_batch_size that harness computes, in validation and in `tapeout serve --stack`.
# On: sourced software behaviour (the heuristic above, read from TensorRT-LLM's source), and of the 15 trtllm-bench
# rows it binds on 4 (dense models whose memory-fit batch is above it) and moves 3 toward their measurements (summed
# |error| 103.4 -> 97.2 points; PUB-0077 moves away through the batch search's grid), every moved row toward under
# --kernels aiconfigurator: docs/notes/issue-24.md round stop-39 (branch issue-50a). Off: the model's own batch.
TRTLLM_BENCH_ENGINE_SETTINGS = True


def counted_params(cfg: LLMConfig, weights: str) -> float:
    """The checkpoint's safetensors element count trtllm-bench reads as param_count: every parameter once, except
    an NVFP4 checkpoint's linear weights (packed, with block scales); embeddings and LM head stay BF16."""
    total = float(cfg.param_count())
    if weights != "nvfp4":
        return total
    emb = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    return emb + (total - emb) * NVFP4_ELEMENTS_PER_WEIGHT


def _ladder(x: float, lowest: int, rungs: tuple[tuple[float, int], ...]) -> int:
    """x rounded up to the multiple of the first rung whose limit exceeds it, at least `lowest` (the floor only acts
    on the first rung: every later rung's values exceed it)."""
    mult = next(m for limit, m in rungs if x < limit)
    return max(lowest, mult * math.ceil(x / mult))


def finetune_setting(kv_max_requests: float, isl: float, osl: float, pp: int) -> tuple[int, int]:
    """tuning.py finetune_setting with optimistic tuning (every non-hybrid model): (max_batch_size, max_num_tokens)."""
    raw_bs = min(kv_max_requests, 4096) / pp
    raw_token = min(raw_bs * (1 + isl / osl), 32768)
    return (_ladder(raw_bs, 64, ((256, 32), (1024, 128), (math.inf, 256))),
            _ladder(raw_token, 2048, ((4096, 256), (8192, 512), (math.inf, 1024))))


def trtllm_bench_settings(cfg: LLMConfig, pr: Precision, device_gib: float, tp: int, pp: int, isl: float, osl: float,
                          kv_fraction: float = DEFAULT_KV_FRACTION) -> tuple[int, int] | None:
    """(max_batch_size, max_num_tokens) trtllm-bench gives the engine (tuning.py calc_engine_setting); None where the
    weight format is not one trtllm-bench tunes, or the model's KV cache is not per-head (MLA: not this formula)."""
    w = BYTES_PER_ELEM.get(pr.weights)
    if w is None or cfg.is_mla:
        return None
    kv = 1.0 if pr.kv_cache.startswith("fp8") else 2.0  # BYTES_PER_ELEM of kv_cache_quant_algo (FP8: 1, else 2)
    per_token = 2 * cfg.num_hidden_layers * max(tp, cfg.kv_heads) * cfg.hd * kv / GIB
    engine = counted_params(cfg, pr.weights) * w / GIB
    requests = (device_gib * tp * pp - engine) * kv_fraction / (per_token * (isl + osl))
    if requests < 1:
        return None  # trtllm-bench refuses the run (RuntimeError); the memory model declines it on its own terms
    return finetune_setting(requests, isl, osl, pp)


def engine_max_batch(settings: str | None, cfg: LLMConfig, pr: Precision, device_gib: float, tp: int, pp: int,
                     isl: float, osl: float, on: bool | None = None) -> int | None:
    """The engine's max batch size the stack's harness sets (`settings`: serving_stacks.yaml engine_settings);
    None where it sets none, the switch is off, or trtllm-bench would not tune this format. `on`: the switch unless
    given."""
    on = TRTLLM_BENCH_ENGINE_SETTINGS if on is None else on
    if not on or settings is None:
        return None
    if settings != "trtllm-bench":
        raise ValueError(f"engine_settings {settings!r}: only 'trtllm-bench' is modelled (perf/bench_engine.py); "
                         f"fix data/software/serving_stacks.yaml")
    s = trtllm_bench_settings(cfg, pr, device_gib, tp, pp, isl, osl)
    return None if s is None else s[0]
