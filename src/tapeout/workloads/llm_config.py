"""LLM architecture description, read from a Hugging Face config.json (offline) or a preset.

Covers dense GQA decoders (Llama, Mistral, Qwen3, GPT-J), MoE (Mixtral, Qwen3-MoE, Llama-4 with
interleaved MoE layers and a shared expert, GPT-OSS with alternating sliding-window layers) and
MLA + MoE (DeepSeek-V3/R1, Kimi K2, DeepSeek-V3.2-Exp; multi-token prediction layers off), GLM-4.5 (GQA + MoE
with a shared expert) and Gemma 3 (5 sliding-window layers per global one). Parameter counts and KV-cache bytes
are closed-form from the config. A config.json whose `model_type` is not one of
SUPPORTED_MODEL_TYPES is refused with one line listing them; one whose layers tapeout cannot price
(linear attention: Qwen3-Next's Gated DeltaNet) is refused naming the field. A config field that changes
the cost but is priced approximately (DeepSeek Sparse Attention's index_topk, a sliding_window without
layer_types, multi-token-prediction layers) is not dropped silently: `LLMConfig.notes` names it and how it
is priced, and serve / train print the notes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import TapeoutError, unknown_name_error, validation_error


# HF model types whose positions are learned absolute embeddings, not rotary (transformers
# GPT2Model: wpe added to the input embeddings)
LEARNED_POSITION_MODEL_TYPES = ("gpt2",)


# model_type values whose HF modeling file has a two-matrix (non-gated) MLP: transformers GPT2MLP c_fc / c_proj,
# GPTJMLP fc_in / fc_out, GPTNeoMLP, CodeGenMLP, GPTBigCodeMLP, GPTNeoXMLP dense_h_to_4h / dense_4h_to_h, OPT fc1 /
# fc2, BloomMLP, FalconMLP, PhiMLP fc1 / fc2, Starcoder2MLP c_fc / c_proj, MptMLP up_proj / down_proj; every other
# decoder here (Llama, Mistral, Qwen, DeepSeek, Gemma's GeGLU) gates its FFN with a third matrix
NON_GATED_MLP_MODEL_TYPES = frozenset({"gpt2", "gptj", "gpt_neo", "codegen", "gpt_bigcode", "gpt_neox", "opt", "bloom",
                                       "falcon", "phi", "starcoder2", "mpt"})
# model_type values whose HF config defaults the FFN width to 4 x hidden_size when it is absent / None
FFN_4X_MODEL_TYPES = frozenset({"gpt2", "gptj", "gpt_neo", "codegen", "gpt_bigcode"})

# Attention kinds of HF `layer_types` tapeout prices: full, sliding-window (GPT-OSS, Gemma 3) and chunked
# (Llama 4's attention_chunk_size). A linear-attention layer (Qwen3-Next "linear_attention": Gated DeltaNet, a
# fixed-size recurrent state instead of a per-token KV cache) is refused by name, never priced as full attention.
LOCAL_ATTENTION_TYPES = ("sliding_attention", "chunked_attention")
LAYER_TYPES = ("full_attention",) + LOCAL_ATTENTION_TYPES

# A local-attention layer's KV cache holds at most its window: vLLM v1's hybrid KV-cache manager frees the blocks a
# sliding-window or chunked-local layer no longer attends to (vllm/v1/core/single_type_kv_cache_manager.py,
# SlidingWindowManager / ChunkedLocalAttentionManager.remove_skipped_blocks) and TensorRT-LLM keeps a cyclic cache of
# max_attention_window_size tokens per layer (variable sliding-window attention). On: the serving memory of GPT-OSS
# / Gemma 3 / Llama 4 past the window is what those stacks hold (no end_to_end row runs past a window: PUB-0200 /
# PUB-0215 Llama-4-Maverick hold <= 2,176 tokens of 8,192, Mistral-7B's preset has no layer_types; stop 40).
# False: every layer holds the whole sequence (before stop 40).
LOCAL_KV_CAP = True
# Llama 4's chunked attention (attention_chunk_size on its RoPE layers, 3 of 4: transformers Llama4TextConfig
# no_rope_layers / layer_types "chunked_attention") priced as a sliding window of the chunk: a query at position p
# sees the p mod C + 1 keys of its chunk, the window min(p + 1, C) keys, so the window is an upper bound on the
# layer's FLOPs and KV reads (exact within the first chunk, 2x the mean past it); the serving notes say so.
# False: the chunked layers priced as full attention (before stop 40; also noted).
CHUNKED_AS_WINDOW = True

# DeepSeek Sparse Attention (DeepSeek-V3.2-Exp, config index_topk / index_n_heads / index_head_dim; inference/model.py
# Indexer and the DeepSeek-V3.2-Exp report): a lightning indexer scores every cached token per query (index_n_heads
# FP8 dot products of index_head_dim, ReLU, weighted sum over the heads), and the MLA attention then reads and attends
# to the index_topk best tokens only. On: the MLA attention op is capped at index_topk keys (the Attention op's window:
# at most k keys and k cached tokens read), the indexer is priced as one MQA attention pass of its own over every
# cached token (FP8 keys of index_head_dim + one FP32 scale per token, inference/kernel.py act_quant block 128), its
# projections as GEMMs and its keys in the KV cache; the top-k selection itself is not priced (noted). No end_to_end row
# runs V3.2 (stop 40). False: dense MLA, an upper bound past index_topk tokens (noted). Off: the indexer is not an
# attention kernel (DeepGEMM's fp8 MQA-logits GEMM) and the Attention op's cost model prices it as one: its
# generation path reads the keys once per query head beyond attn_head_pack (64x the keys) and its context path runs
# a 1-wide value at ~2% of the FP8 peak, so the sparse step came out 2-3x SLOWER than dense MLA on H200 (8,192-token
# prompts 1,376 vs 2,992 tok/s; docs/notes/physical-limits.md, Round stop-40, issue-51c). It needs an op of its own.
DSA_SPARSE = False
DSA_KEY_SCALE_BYTES = 4  # one FP32 scale per index key (act_quant block 128 = index_head_dim)

# Config fields that change a model's cost which tapeout prices approximately: the note LLMConfig.notes carries
# when a config sets one (value, then how it is priced). Source of each behaviour in the note.
APPROXIMATED_FIELDS = {
    "index_topk": ("DeepSeek Sparse Attention: the MLA attention priced over the index_topk tokens each query "
                   "selects, its lightning indexer as an FP8 MQA pass over every cached token (keys in the KV cache); "
                   "the top-k selection kernel is not priced" if DSA_SPARSE else
                   "DeepSeek Sparse Attention (each query attends to the index_topk tokens its lightning indexer picks) "
                   "priced as dense MLA: attention FLOPs and KV reads of every cached token, an upper bound past "
                   "index_topk tokens; the lightning indexer's weights are counted in the parameters and the weight memory, "
                   "but the indexer is not priced in the step (its projections and scoring pass) and its FP8 key cache "
                   "is not counted (DSA_SPARSE off)"),
    "num_nextn_predict_layers": "the multi-token-prediction layer(s) are left out of parameters, weights and steps "
                                "(serving without speculative decoding, training without the MTP loss)",
    "mlp_only_layers": "layers listed as dense (Qwen2/3-MoE mlp_only_layers) are priced as MoE layers",
}

# the config's sizes and counts (integers); sliding_window is left out (false there reads as 0: no window)
DIMENSION_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                    "intermediate_size", "vocab_size", "max_position_embeddings", "num_experts", "num_experts_per_tok",
                    "moe_intermediate_size", "n_shared_experts", "first_k_dense_replace", "n_group", "topk_group",
                    "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "moe_layer_freq",
                    "attention_chunk_size", "shared_expert_intermediate_size",
                    "index_topk", "index_n_heads", "index_head_dim")


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    name: str = "custom"
    hidden_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    intermediate_size: int = Field(gt=0)
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False
    max_position_embeddings: int = Field(default=4096, gt=0)
    mlp_type: str = "swiglu"  # swiglu (3 matrices) or gelu (2 matrices)
    parallel_attn_mlp: bool = False
    qk_norm: bool = False
    # how positions enter: "rope" (rotary on Q and K in every layer: Llama, Mistral, Qwen, GPT-J...) or
    # "learned" (absolute position embeddings added once to the token embeddings: GPT-2/GPT-3,
    # Megatron-LM position_embedding_type learned_absolute), which adds no per-layer pass
    position_embedding_type: Literal["rope", "learned"] = "rope"
    # MoE
    num_experts: int = Field(default=0, ge=0)
    num_experts_per_tok: int = Field(default=0, ge=0)
    moe_intermediate_size: int | None = Field(default=None, gt=0)
    n_shared_experts: int = Field(default=0, ge=0)
    # the shared expert's FFN width when the config gives it on its own (Qwen2-MoE / Qwen3-Next
    # shared_expert_intermediate_size: one shared MLP of that width); None: n_shared_experts x the expert FFN
    shared_expert_intermediate_size: int | None = Field(default=None, gt=0)
    first_k_dense_replace: int = Field(default=0, ge=0)
    # group-limited routing (DeepSeek-V2/V3 MoEGate): experts in n_group contiguous groups, each token's
    # experts only within its topk_group best groups; None: no limit (Mixtral, Qwen3-MoE)
    n_group: int | None = Field(default=None, gt=0)
    topk_group: int | None = Field(default=None, gt=0)
    # MLA (DeepSeek-V2/V3)
    q_lora_rank: int | None = Field(default=None, gt=0)  # None: Q projected without compression (DeepSeek-V2-Lite)
    kv_lora_rank: int | None = Field(default=None, gt=0)
    qk_nope_head_dim: int | None = Field(default=None, gt=0)
    qk_rope_head_dim: int | None = Field(default=None, gt=0)
    v_head_dim: int | None = Field(default=None, gt=0)
    # DeepSeek Sparse Attention (DeepSeek-V3.2-Exp; DSA_SPARSE): tokens each query attends to, indexer heads and dim
    index_topk: int | None = Field(default=None, gt=0)
    index_n_heads: int | None = Field(default=None, gt=0)
    index_head_dim: int | None = Field(default=None, gt=0)
    # interleaved MoE (Llama-4 Maverick: every 2nd layer) and sliding-window layers (GPT-OSS)
    moe_layer_freq: int = Field(default=1, gt=0)
    sliding_window: int | None = Field(default=None, ge=0)  # None or 0: no window (attention_kinds)
    attention_chunk_size: int | None = Field(default=None, gt=0)  # Llama 4 chunked attention (CHUNKED_AS_WINDOW)
    layer_types: list[str] | None = None
    # how the config's approximately priced fields are priced (APPROXIMATED_FIELDS; serve / train print them)
    notes: tuple[str, ...] = ()
    model_type: str = ""
    published_params: float | None = None
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _hf_aliases(cls, d):
        if not isinstance(d, dict):
            return d
        d = dict(d)
        if isinstance(d.get("text_config"), dict) and "hidden_size" not in d:  # Llama-4: the LM sits in text_config
            d = {**d, **d["text_config"], "model_type": d.get("model_type", d["text_config"].get("model_type", ""))}
        if str(d.get("model_type", "")).startswith("llama4"):
            # Llama-4: intermediate_size is the expert FFN, intermediate_size_mlp the dense FFN; one shared
            # expert per MoE layer (HF transformers Llama4TextMoe)
            d.setdefault("moe_intermediate_size", d.get("intermediate_size"))
            if d.get("intermediate_size_mlp"):
                d["intermediate_size"] = d["intermediate_size_mlp"]
            d.setdefault("n_shared_experts", 1)
            d.setdefault("moe_layer_freq", d.get("interleave_moe_layer_step", 1))
            if d.get("attention_chunk_size") and d.get("layer_types") is None:
                # transformers Llama4TextConfig: no_rope_layers[i] = int((i + 1) % no_rope_layer_interval != 0)
                # (interval 4); the RoPE layers are the chunked ones, every 4th (NoPE) layer is global
                nope = d.get("no_rope_layers") or [int((i + 1) % int(d.get("no_rope_layer_interval") or 4) != 0)
                                                   for i in range(int(d.get("num_hidden_layers") or 0))]
                d["layer_types"] = ["chunked_attention" if r else "full_attention" for r in nope]
        if str(d.get("model_type", "")).startswith("gemma3"):
            # Gemma3Attention normalises Q and K (q_norm, k_norm); transformers Gemma3TextConfig derives layer_types
            # from sliding_window_pattern: layer i is sliding unless (i + 1) % pattern == 0 (5 local : 1 global)
            d.setdefault("qk_norm", True)
            pattern = d.get("sliding_window_pattern")
            if d.get("layer_types") is None and isinstance(pattern, int) and pattern > 0 and d.get("num_hidden_layers"):
                d["layer_types"] = ["sliding_attention" if (i + 1) % pattern else "full_attention"
                                    for i in range(int(d["num_hidden_layers"]))]
        aliases = {
            "n_embd": "hidden_size", "d_model": "hidden_size", "n_layer": "num_hidden_layers",
            "num_layers": "num_hidden_layers", "n_head": "num_attention_heads",
            "n_inner": "intermediate_size", "ffn_dim": "intermediate_size", "n_positions": "max_position_embeddings",
            "num_local_experts": "num_experts", "n_routed_experts": "num_experts", "experts_per_token": "num_experts_per_tok",
            "n_expert_groups": "n_group", "n_limited_groups": "topk_group",  # DeepSeek's inference/configs spelling
            "use_qk_norm": "qk_norm",  # GLM-4.5 (Glm4MoeAttention q_norm / k_norm when use_qk_norm)
            # Qwen2-MoE / Qwen3-MoE: layer i is MoE when (i + 1) % decoder_sparse_step == 0, i.e. one in every step
            "decoder_sparse_step": "moe_layer_freq",
            "_published_params": "published_params", "_source": "source",
        }
        for a, b in aliases.items():
            if a in d and b not in d:
                d[b] = d.pop(a)
        if str(d.get("model_type", "")) in LEARNED_POSITION_MODEL_TYPES:
            d.setdefault("position_embedding_type", "learned")
        elif d.get("position_embedding_type") in ("learned_absolute", "absolute"):  # Megatron-LM's / HF BERT-style spellings
            d["position_embedding_type"] = "learned"
        elif d.get("position_embedding_type") == "rotary":
            d["position_embedding_type"] = "rope"
        if "mlp_type" not in d and str(d.get("model_type", "")) in NON_GATED_MLP_MODEL_TYPES:
            d["mlp_type"] = "gelu"
        if "notes" not in d:
            d["notes"] = tuple(config_notes(d))
        if d.get("intermediate_size") is None and d.get("hidden_size"):
            # only the GPT-2 family's configs leave the FFN width out on purpose: HF GPT2Config / GPTJConfig /
            # CodeGenConfig / GPTBigCodeConfig n_inner=None and GPTNeoConfig intermediate_size=None mean 4 x hidden.
            # Any other decoder (Llama, Qwen, Mistral: SwiGLU FFNs of ~2.7-3.5 x hidden) has no such default.
            if str(d.get("model_type", "")) in FFN_4X_MODEL_TYPES:  # else pydantic names the missing field
                d["intermediate_size"] = 4 * int(d["hidden_size"])
        return d

    @field_validator(*DIMENSION_FIELDS, mode="before")
    @classmethod
    def _no_switch_as_size(cls, v):
        """JSON true / false in a size field is a slip, not 1 / 0 (pydantic's lax int would take it)."""
        if isinstance(v, bool):
            raise ValueError(f"a size (a whole number), got {str(v).lower()}")
        return v

    @model_validator(mode="after")
    def _shapes_divide(self):
        """The divisibility every HF decoder needs: grouped-query attention shares each KV head
        among num_attention_heads / num_key_value_heads query heads (transformers repeat_kv), the
        head dimension is hidden_size / num_attention_heads unless head_dim is given, and a token
        is routed to at most num_experts experts."""
        H = self.num_attention_heads
        if self.num_key_value_heads and H % self.num_key_value_heads:
            raise ValueError(f"num_attention_heads ({H}) must be a multiple of num_key_value_heads "
                             f"({self.num_key_value_heads})")
        if self.head_dim is None and not self.is_mla and self.hidden_size % H:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads ({H}), "
                             f"or give head_dim")
        if self.is_mla:  # DeepseekV2/V3Attention sizes its projections from all three head dimensions
            missing = [f for f in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"kv_lora_rank ({self.kv_lora_rank}) makes the attention MLA, which needs "
                                 f"{', '.join(missing)} too (DeepSeek-V3: qk_nope_head_dim 128, qk_rope_head_dim 64, "
                                 f"v_head_dim 128)")
        if self.index_topk is not None and not (self.is_mla and self.index_n_heads and self.index_head_dim):
            raise ValueError(f"index_topk ({self.index_topk}) makes the attention DeepSeek Sparse Attention, which needs "
                             f"kv_lora_rank (MLA), index_n_heads and index_head_dim too (DeepSeek-V3.2-Exp: 512, 64, 128)")
        if self.layer_types is not None:
            bad = sorted({t for t in self.layer_types if t not in LAYER_TYPES})
            if bad:
                raise ValueError(f"layer_types: {', '.join(repr(b) for b in bad)} layers are not modelled (tapeout "
                                 f"prices {', '.join(LAYER_TYPES)}); a linear-attention layer keeps a fixed-size state, "
                                 f"not a KV cache, and is never priced as full attention")
            if len(self.layer_types) != self.num_hidden_layers:
                raise ValueError(f"layer_types lists {len(self.layer_types)} layers, num_hidden_layers is "
                                 f"{self.num_hidden_layers}: give one type per layer")
            if "sliding_attention" in self.layer_types and not self.sliding_window:
                raise ValueError("layer_types has sliding_attention layers but sliding_window is not set: give the "
                                 "window in tokens (GPT-OSS: 128, Gemma 3: 1024)")
            if "chunked_attention" in self.layer_types and not self.attention_chunk_size:
                raise ValueError("layer_types has chunked_attention layers but attention_chunk_size is not set: give "
                                 "the chunk in tokens (Llama 4: 8192)")
        if not self.num_experts and (self.num_experts_per_tok or self.n_shared_experts):
            # a misspelt expert count would price an MoE model as a dense one with every expert's FFN dropped
            field = "num_experts_per_tok" if self.num_experts_per_tok else "n_shared_experts"
            raise ValueError(f"{field} ({getattr(self, field)}) is given but the model has no routed experts: give "
                             f"num_experts (HF spellings num_local_experts, n_routed_experts), or drop {field} for a "
                             f"dense model")
        if self.num_experts and not 1 <= self.num_experts_per_tok <= self.num_experts:
            raise ValueError(f"num_experts_per_tok ({self.num_experts_per_tok}) must be between 1 and num_experts "
                             f"({self.num_experts})")
        return self

    # ---- derived ----
    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def is_dsa(self) -> bool:
        """DeepSeek Sparse Attention priced as sparse (DSA_SPARSE and an index_topk)."""
        return DSA_SPARSE and self.index_topk is not None

    @property
    def index_key_bytes(self) -> int:
        """Bytes of one token's indexer key in one layer's cache (FP8 + its scale; 0 without DSA pricing)."""
        return self.index_head_dim + DSA_KEY_SCALE_BYTES if self.is_dsa else 0

    def indexer_params(self) -> int:
        """One layer's lightning indexer (DeepSeek-V3.2-Exp inference/model.py Indexer): wq_b (q_lora_rank ->
        heads x dim), wk (hidden -> dim), k_norm (LayerNorm: weight and bias), weights_proj (hidden -> heads)."""
        if self.index_topk is None:
            return 0
        hi, di, h = self.index_n_heads, self.index_head_dim, self.hidden_size
        return (self.q_lora_rank or h) * hi * di + h * di + 2 * di + h * hi

    @property
    def n_moe_layers(self) -> int:
        return (self.num_hidden_layers - self.first_k_dense_replace) // self.moe_layer_freq if self.is_moe else 0

    def attention_kinds(self) -> list[tuple[str, float, int]]:
        """(op name, share of the layers, window in tokens: 0 = full) of each attention kind in the layers
        (HF `layer_types`): a sliding layer sees its last sliding_window tokens, a chunked layer (Llama 4)
        is priced as a window of attention_chunk_size (CHUNKED_AS_WINDOW; an upper bound). Shares sum to 1."""
        if not self.layer_types:
            return [("attention", 1.0, 0)]
        n = len(self.layer_types)
        windows = {"full_attention": ("attention", 0), "sliding_attention": ("attention_sliding", self.sliding_window or 0),
                   "chunked_attention": ("attention_chunked", (self.attention_chunk_size or 0) if CHUNKED_AS_WINDOW else 0)}
        return [(windows[t][0], self.layer_types.count(t) / n, windows[t][1]) for t in LAYER_TYPES
                if t in self.layer_types]

    @property
    def n_dense_layers(self) -> int:
        return self.num_hidden_layers - self.n_moe_layers

    @property
    def expert_ffn(self) -> int:
        return self.moe_intermediate_size or self.intermediate_size

    @property
    def mlp_mats(self) -> int:
        return 3 if self.mlp_type == "swiglu" else 2

    # ---- parameter counts (closed form) ----
    def attn_params(self) -> int:
        h, H = self.hidden_size, self.num_attention_heads
        if self.is_mla:
            qr, kr = self.q_lora_rank, self.kv_lora_rank
            nope, rope, vd = self.qk_nope_head_dim, self.qk_rope_head_dim, self.v_head_dim
            q = (h * qr + qr + qr * H * (nope + rope)) if qr else h * H * (nope + rope)
            kv = h * (kr + rope) + kr + kr * H * (nope + vd)
            return q + kv + H * vd * h + self.indexer_params()
        p = h * H * self.hd + 2 * h * self.kv_heads * self.hd + H * self.hd * h
        if self.qk_norm:
            p += 2 * self.hd
        return p

    def dense_mlp_params(self) -> int:
        return self.mlp_mats * self.hidden_size * self.intermediate_size

    @property
    def shared_ffn(self) -> int:
        """FFN width of the shared expert(s) of an MoE layer, summed (0: none)."""
        return self.shared_expert_intermediate_size or self.n_shared_experts * self.expert_ffn

    def moe_params(self) -> tuple[int, int]:
        """(total, active per token) parameters of one MoE block incl. router and shared experts."""
        h, f = self.hidden_size, self.expert_ffn
        per_expert = self.mlp_mats * h * f
        router = h * self.num_experts
        shared = self.mlp_mats * h * self.shared_ffn
        total = self.num_experts * per_expert + router + shared
        active = self.num_experts_per_tok * per_expert + router + shared
        return total, active

    def param_count(self, active: bool = False) -> int:
        h = self.hidden_size
        emb = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        norms = 2 * h
        layer_dense = self.attn_params() + self.dense_mlp_params() + norms
        total = emb + h + self.n_dense_layers * layer_dense
        if self.is_moe:
            moe_total, moe_active = self.moe_params()
            total += self.n_moe_layers * (self.attn_params() + norms + (moe_active if active else moe_total))
        return int(total)

    def kv_bytes_per_token(self, kv_dtype_bytes: float = 2.0, seq_tokens: float | None = None) -> float:
        """KV-cache bytes one token adds over all layers (exact). With `seq_tokens`, the mean bytes per token
        of a sequence that long: a local-attention layer holds at most its window (LOCAL_KV_CAP), so its
        share is min(1, window / seq_tokens)."""
        if self.is_mla:  # compressed latent + decoupled RoPE key (DeepSeek-V2 paper, Sec 2.1.3)
            return (self.kv_lora_rank + self.qk_rope_head_dim) * self.num_hidden_layers * kv_dtype_bytes \
                + self.num_hidden_layers * self.index_key_bytes
        full = 2 * self.kv_heads * self.hd * self.num_hidden_layers * kv_dtype_bytes
        if seq_tokens is None or not LOCAL_KV_CAP or seq_tokens <= 0:
            return full
        return full * sum(share * (min(1.0, w / seq_tokens) if w else 1.0) for _, share, w in self.attention_kinds())

    def summary(self) -> dict:
        return {
            "name": self.name,
            "params_b": self.param_count() / 1e9,
            "active_params_b": self.param_count(active=True) / 1e9,
            "layers": self.num_hidden_layers,
            "hidden": self.hidden_size,
            "heads": self.num_attention_heads,
            "kv_heads": self.kv_heads,
            "experts": self.num_experts,
            "experts_per_token": self.num_experts_per_tok,
            "attention": "MLA" if self.is_mla else ("GQA" if self.kv_heads < self.num_attention_heads else "MHA"),
            "kv_bytes_per_token_bf16": self.kv_bytes_per_token(2.0),
            "local_attention": ", ".join(f"{share:.0%} {name} ({w} tokens)" for name, share, w in self.attention_kinds() if w),
            "notes": list(self.notes),
            "source": self.source,
        }


def config_notes(d: dict) -> list[str]:
    """How the cost-changing fields of config dict `d` that tapeout prices approximately are priced: one
    line each, naming the field and its value (APPROXIMATED_FIELDS; a sliding_window without layer_types;
    chunked attention)."""
    notes = [f"{f} = {d[f]}: {why}" for f, why in APPROXIMATED_FIELDS.items() if d.get(f)]
    if d.get("sliding_window") and d.get("layer_types") is None and d.get("use_sliding_window", True):
        notes.append(f"sliding_window = {d['sliding_window']} without layer_types: every layer priced as full attention "
                     f"(HF Mistral applies the window to every layer: an upper bound past {d['sliding_window']} tokens); "
                     f"give layer_types to price the windowed layers")
    if d.get("attention_chunk_size") and "chunked_attention" not in (d.get("layer_types") or []):
        notes.append(f"attention_chunk_size = {d['attention_chunk_size']} without chunked_attention layer_types: every "
                     f"layer priced as full attention (an upper bound past {d['attention_chunk_size']} tokens); give "
                     f"layer_types to price the chunked layers")
    elif d.get("attention_chunk_size"):
        n = d["layer_types"].count("chunked_attention")
        notes.append(f"attention_chunk_size = {d['attention_chunk_size']}: {n} of {len(d['layer_types'])} layers' chunked "
                     + (f"attention priced as a sliding window of {d['attention_chunk_size']} tokens (an upper bound: a "
                        f"query sees 1 to {d['attention_chunk_size']} keys of its chunk)" if CHUNKED_AS_WINDOW else
                        "attention priced as full attention (an upper bound; CHUNKED_AS_WINDOW off)"))
    return notes


def _preset_dir():
    return resources.files("tapeout").joinpath("data", "models", "llm")


@lru_cache(maxsize=1)
def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".json"))


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def is_preset(name: str) -> bool:
    """True when `name` (or an alias) is an LLM preset of data/models/llm."""
    key = _normalize(name)
    return MODEL_ALIASES.get(key, key) in preset_names()


SUPPORTED_MODEL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "deepseek_v2",
                         "deepseek_v3", "gptj", "gpt2", "gpt_oss", "llama4", "llama4_text",
                         "qwen2_5_vl", "gemma3", "gemma3_text", "glm4_moe", "kimi_k2", "deepseek_v32")

# model types refused with the reason: layers whose cost tapeout does not model
UNMODELLED_MODEL_TYPES = {
    "qwen3_next": "its Gated DeltaNet linear-attention layers (3 of every full_attention_interval = 4) keep a fixed-size "
                  "recurrent state, not a per-token KV cache, and tapeout prices no linear attention",
}
# fields that only linear-attention layers have (Qwen3-Next: transformers Qwen3NextConfig)
LINEAR_ATTENTION_FIELDS = ("linear_num_value_heads", "linear_num_key_heads", "full_attention_interval")

MODEL_ALIASES = {
    "llama2-70b": "llama-2-70b", "llama-2-70b-chat": "llama-2-70b", "llama-2-70b-chat-hf": "llama-2-70b",
    "llama2-7b": "llama-2-7b", "llama2-13b": "llama-2-13b", "llama3.1-8b": "llama-3.1-8b",
    "llama3.1-70b": "llama-3.1-70b", "llama3.1-405b": "llama-3.1-405b", "llama3.3-70b": "llama-3.3-70b",
    "llama-3-70b": "llama-3.1-70b", "llama-3-8b": "llama-3.1-8b", "gptj": "gpt-j-6b", "gpt-j": "gpt-j-6b",
    "mixtral": "mixtral-8x7b", "qwen3-235b": "qwen3-235b-a22b", "gptoss-120b": "gpt-oss-120b", "gptoss-20b": "gpt-oss-20b",
    "qwen3-30b": "qwen3-30b-a3b", "mistral-7b-v0.1": "mistral-7b",
    "qwen2.5-vl": "qwen2.5-vl-7b", "qwen2.5-vl-7b-instruct": "qwen2.5-vl-7b",
}


def load_llm(name_or_path: str) -> LLMConfig:
    """A preset name (see `tapeout models`) or a path to a Hugging Face config.json."""
    data, where = raw_config(name_or_path)
    return _validate(data, where)


def raw_config(name_or_path: str) -> tuple[dict, str]:
    """The config.json of a preset name or a file, as a dict (with "name"), and where it came from."""
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():  # `model: false` in a YAML file
        raise unknown_name_error("model", name_or_path, preset_names())
    p = Path(name_or_path)
    if p.suffix == ".json" or p.is_file():
        if not p.is_file():
            raise TapeoutError(f"model config file '{p}' not found.")
        from ..inputs import read_text

        try:
            data = json.loads(read_text(p, "model config file", "model"))
        except json.JSONDecodeError as e:
            raise TapeoutError(f"{p}: not valid JSON ({e.msg} at line {e.lineno}).") from None
        if not isinstance(data, dict):
            raise TapeoutError(f"{p}: a model config must be a JSON object (a Hugging Face config.json).")
        data.setdefault("name", p.stem)
        return data, str(p)
    key = _normalize(name_or_path)
    key = MODEL_ALIASES.get(key, key)
    if key not in preset_names() and p.is_dir():  # a model's folder, not its config
        raise TapeoutError(f"model '{p}' is a directory: give the config.json inside it ({p / 'config.json'}) or a "
                           f"preset name (tapeout models).")
    if key not in preset_names():
        raise unknown_name_error("model", name_or_path, preset_names())
    data = json.loads(_preset_dir().joinpath(f"{key}.json").read_text())
    data["name"] = key
    return data, key


def from_dims(dims: dict, where: str) -> LLMConfig:
    """A dense or MoE decoder given by its dimensions (config.json field names: layers, hidden,
    heads, KV heads, FFN, experts, top-k, vocabulary), checked exactly as a config.json is."""
    return _validate(dict(dims), where)


def _validate(data: dict, where: str) -> LLMConfig:
    mt = data.get("model_type") or (data.get("text_config") or {}).get("model_type", "")
    if mt in UNMODELLED_MODEL_TYPES:
        raise TapeoutError(f"{where}: field 'model_type': architecture '{mt}' cannot be priced: {UNMODELLED_MODEL_TYPES[mt]}. "
                           f"Supported: {', '.join(SUPPORTED_MODEL_TYPES)}.")
    linear = [f for f in LINEAR_ATTENTION_FIELDS if isinstance(data, dict) and data.get(f)]
    if linear:
        raise TapeoutError(f"{where}: field '{linear[0]}': linear-attention layers (Gated DeltaNet, Qwen3-Next) are not "
                           f"modelled: their fixed-size state is no KV cache and tapeout never prices them as full "
                           f"attention; remove the field only if the model has no such layers.")
    if mt and mt not in SUPPORTED_MODEL_TYPES:
        raise TapeoutError(f"{where}: field 'model_type': architecture '{mt}' is not supported. "
                           f"Supported: {', '.join(SUPPORTED_MODEL_TYPES)}.")
    try:
        return LLMConfig.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, where, "config", "Fix that field of the config.json.") from None


def check_context(model: str, tokens: int, field: str) -> None:
    """A sequence longer than the model's maximum position (config max_position_embeddings) is
    bad input: one error naming `field`, both numbers and the fix."""
    cfg = load_llm(model)
    if tokens > cfg.max_position_embeddings:
        raise TapeoutError(f"{field} = {tokens:,} tokens exceeds {cfg.name}'s maximum context of "
                           f"{cfg.max_position_embeddings:,} (max_position_embeddings); shorten it or pick a longer-context model.")
