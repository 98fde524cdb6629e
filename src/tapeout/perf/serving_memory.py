"""Memory accounting of LLM serving on one chip: the weight shard, the KV cache per token
and the sequences that fit (paged KV cache, vLLM; Kwon et al. 2023)."""

from __future__ import annotations

from ..hardware.memory_capacity import USABLE_MEMORY_FRACTION  # noqa: F401  (re-exported for perf/llm, perf/mlperf)
from ..precision import Precision
from ..workloads.llm_config import LLMConfig

ACTIVATION_RESERVE_FRACTION = 0.04  # workspace for activations/graphs, share of capacity (assumption)
PREFILL_CHUNK_TOKENS = 8192  # chunked-prefill token budget per step (vLLM max_num_batched_tokens order)
MAX_BATCH = 4096


def weight_bytes_per_chip(cfg: LLMConfig, pr: Precision, tp: int, ep: int, weight_bytes_factor: float = 1.0) -> float:
    """Weight bytes one chip holds. `weight_bytes_factor` scales all but the embeddings
    (compression: sparsity metadata, group scales), applied by tapeout.quant."""
    full = dense_weight_bytes_per_chip(cfg, pr, tp, ep)
    if weight_bytes_factor == 1.0:
        return full
    emb = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2) / tp * pr.weight_bytes
    return emb + (full - emb) * weight_bytes_factor


def dense_weight_bytes_per_chip(cfg: LLMConfig, pr: Precision, tp: int, ep: int) -> float:
    """Uncompressed weight bytes one chip holds (experts split over EP, the rest over TP)."""
    total = cfg.param_count()
    if cfg.is_moe:
        moe_total, _ = cfg.moe_params()
        experts = cfg.n_moe_layers * (moe_total - cfg.hidden_size * cfg.num_experts)
        dense = total - experts
        moe_tp = max(1, tp // ep)
        return dense / tp * pr.weight_bytes + experts / (ep * moe_tp) * pr.weight_bytes
    return total / tp * pr.weight_bytes


def kv_bytes_per_token_per_chip(cfg: LLMConfig, pr: Precision, tp: int, seq_tokens: float | None = None) -> float:
    """KV-cache bytes per token one chip holds; with `seq_tokens`, the mean over a sequence that long
    (local-attention layers hold at most their window: LLMConfig.kv_bytes_per_token)."""
    full = cfg.kv_bytes_per_token(pr.kv_bytes, seq_tokens)
    if cfg.is_mla:
        return full  # the latent cache is replicated across TP ranks
    local_heads = max(1, cfg.kv_heads // tp)
    return full * local_heads / cfg.kv_heads


def kv_tokens_per_request(prompt: float, generated: float, beams: int = 1, block_waste: float = 0.0,
                          shared_prompt: bool = False) -> float:
    """Mean KV tokens a request holds in a paged cache: its prompt, its generated tokens and the
    half-empty last block (`block_waste`), once per beam; a stack whose cache shares the prompt's
    blocks among a request's beams (copy-on-write: TensorRT-LLM `BlockManager::addSequence`,
    vLLM's PagedAttention, Kwon et al. SOSP 2023 Sec. 4.4) holds the prompt once."""
    per_beam = generated + block_waste
    return (prompt if shared_prompt else prompt * beams) + beams * per_beam


def max_batch(cfg, pr, tp, ep, capacity_bytes, seq_tokens, weight_bytes_factor: float = 1.0) -> int:
    usable = capacity_bytes * (USABLE_MEMORY_FRACTION - ACTIVATION_RESERVE_FRACTION)
    free = usable - weight_bytes_per_chip(cfg, pr, tp, ep, weight_bytes_factor)
    per_seq = kv_bytes_per_token_per_chip(cfg, pr, tp, seq_tokens) * seq_tokens
    if free <= 0:
        return 0
    return int(min(MAX_BATCH, free // per_seq))
