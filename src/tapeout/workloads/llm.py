"""LLM op graphs for one step: prefill (a batch of prompts) or decode (one token per
sequence), sharded over tensor parallelism (TP) and expert parallelism (EP).

Per decoder layer (counts multiply by the number of layers of that type):
  norm -> QKV proj -> RoPE -> attention -> O proj -> [TP all-reduce] -> norm
  -> dense MLP (gate/up, act, down) or MoE (router, grouped experts, shared experts,
     [EP all-to-all dispatch + combine]) -> [TP all-reduce]
then the final norm and the LM head (for the last token of each sequence only).
RoPE with the KV-cache append (`qkv_preprocess`: a pass of its own in TensorRT-LLM and vLLM, its
launch counted in the attention op's fixed time) and the gated activation (gate-up GEMM epilogue)
are marked fused: their bytes count, no launch overhead of their own.
TP follows Megatron-LM (Shoeybi et al. 2019): column-parallel QKV/gate/up, row-parallel
O/down, one all-reduce after each. MLA follows DeepSeek-V2/V3 (arXiv:2405.04434): prefill
expands the latent KV; decode uses the absorbed form and reads only the latent cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TapeoutError, require_positive
from ..ops import Attention, Collective, Elementwise, MatMul, Op, OpGraph
from ..formats import quant_flops, separate_quantize
from ..precision import Precision, dtype_bytes, get_precision
from .llm_config import LLMConfig
from .moe_kernels import (act_quantize_separate, finalize_op, fp8_dequant_scale_op, gemm_setup_ops, input_quantize_separate, permute_op,
                          routing_op, sort_ops)


def quantize_ops(name: str, elems: float, count: float, fmt: str, separate: bool | None = None) -> list[Op]:
    """Activation quantization of `elems` 16-bit values into the GEMM format `fmt` (amax per
    block, scale, convert; formats.yaml quant_flops). Fused into the producing norm/activation
    epilogue (vector work only, its bytes are the producer's quantized output), except for
    formats the serving stack quantizes in a kernel of its own (formats.yaml separate_quantize):
    a launch that reads the 16-bit activation and writes the format (the producer's write is
    still counted at the format's width). `separate` overrides the table (a kernel benchmark that
    quantizes in its own kernel)."""
    qf = quant_flops(fmt)
    if not qf:
        return []
    if separate_quantize(fmt) if separate is None else separate:
        return [Elementwise(name=name, count=count, elems=elems, flops_per_elem=qf, reads=2.0 / dtype_bytes(fmt),
                            writes=1, dtype=fmt)]
    return [Elementwise(name=name, count=count, fused=True, elems=elems, flops_per_elem=qf, reads=0, writes=0, dtype=fmt)]


def qkv_preprocess(tokens: float, heads: int, kv_heads: int, head_dim: int, act_dtype: str = "bf16",
                   kv_bytes: float | None = None, count: float = 1, kv_cache: bool = True,
                   rope: bool = True) -> Elementwise | None:
    """The pass between the QKV GEMM and fused attention: RoPE on Q and K (3 FLOPs per rotated
    element) and, when serving, the new K and V appended to the KV cache. TensorRT-LLM runs it as
    one kernel before the MHA (`invokeQKVPreprocessing`, cpp/tensorrt_llm/common/attentionOp.cpp),
    vLLM as rotary_embedding + reshape_and_cache. Serving reads the fused QKV activation and writes
    Q (activation width) and K, V (`kv_bytes` per element, the cache's width): read (H + 2 KV) d,
    write H d + 2 KV d. Training (`kv_cache=False`) has no cache: RoPE reads and writes Q and K only.
    Marked fused: its launch is part of the attention op's fixed time (perf/opcost.py). A model with
    learned absolute positions (`rope=False`: GPT-2/GPT-3) has no rotation: serving keeps the cache
    append without its FLOPs, training has no pass at all (None)."""
    ab = dtype_bytes(act_dtype)
    if not kv_cache:
        if not rope:
            return None
        return Elementwise(name="rope", count=count, fused=True, elems=tokens * (heads + kv_heads) * head_dim,
                           flops_per_elem=3, reads=1, writes=1, dtype=act_dtype)
    kvb = ab if kv_bytes is None else kv_bytes
    width = (heads + 2 * kv_heads) * head_dim
    return Elementwise(name="qkv_preprocess", count=count, fused=True, elems=tokens * width,
                       flops_per_elem=(3.0 if rope else 0.0) * (heads + kv_heads) / (heads + 2 * kv_heads), reads=1,
                       writes=(heads * ab + 2 * kv_heads * kvb) / ((heads + 2 * kv_heads) * ab), dtype=act_dtype,
                       steps=qkv_thread_steps(tokens, heads, head_dim, ab))


# bytes one thread of TensorRT-LLM's QKV preprocessing kernel loads per step (BYTES_PER_LOAD, one 16-byte
# vector of the activation; applyBiasRopeUpdateKVCacheV2, cpp/tensorrt_llm/kernels/unfusedAttentionKernels/
# unfusedAttentionKernels_2_template.h)
QKV_VECTOR_BYTES = 16.0


def qkv_thread_steps(tokens: float, heads: int, head_dim: int, act_bytes: float = 2.0) -> float:
    """Thread steps of TensorRT-LLM's QKV preprocessing kernel (applyBiasRopeUpdateKVCacheV2): its grid is
    (token blocks, query heads), one thread per 16-byte vector of a head's row (VECS_PER_HEAD = head size x
    element bytes / 16) per token, and every query head's thread loads its Q vector and its KV head's K and V
    vectors (stored by the group's first head only): tokens x query heads x vectors per head, whatever the
    KV heads. Each step is the same instruction sequence (five vector loads with the rotation pairs, the
    cos/sin cache, index math, a barrier, the stores): the op's Elementwise.steps."""
    return float(tokens) * heads * head_dim * act_bytes / QKV_VECTOR_BYTES


@dataclass(frozen=True)
class LLMStep:
    """One scenario step: `batch` sequences, each adding `q_len` tokens to `context` cached."""

    phase: str  # "prefill" or "decode"
    batch: int
    q_len: int
    context: int  # tokens already in the KV cache before this step
    precision: Precision
    tp: int = 1
    ep: int = 1
    expert_imbalance: float = 1.0  # max/mean tokens per expert (1 = perfectly balanced)
    lm_head_all_tokens: bool = False  # training computes logits for every token

    @property
    def tokens(self) -> int:
        return self.batch * self.q_len

    @property
    def kv_len(self) -> int:
        return self.context + self.q_len


def expected_active_experts(num_experts: int, top_k: int, tokens: float) -> float:
    """Experts hit at least once when `tokens` tokens each pick top_k of num_experts
    uniformly: E * (1 - (1 - k/E)^T). Decode at small batch reads only these."""
    if num_experts <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def build_llm_graph(cfg: LLMConfig, step: LLMStep) -> OpGraph:
    for f in ("batch", "q_len", "tp", "ep"):
        require_positive(f, getattr(step, f))
    require_positive("context", step.context, allow_zero=True)
    tp, ep = step.tp, step.ep
    if cfg.num_attention_heads % tp:
        raise TapeoutError(
            f"tp={tp} must divide the {cfg.num_attention_heads} attention heads of {cfg.name}; pick a divisor."
        )
    if cfg.is_moe and cfg.num_experts % ep:
        raise TapeoutError(f"ep={ep} must divide the {cfg.num_experts} experts of {cfg.name}.")
    pr = step.precision
    a, w, o = pr.activations, pr.weights, pr.activations
    math_dt = pr.compute
    act_b = pr.act_bytes
    resid_b = pr.residual_bytes  # TP all-reduce and MoE combine payloads (16-bit residual stream)
    resid_dt = a if act_b >= 2 else "bf16"  # its element type
    h = cfg.hidden_size
    T = step.tokens
    H = cfg.num_attention_heads // tp
    KV = max(1, cfg.kv_heads // tp)  # KV heads replicate when tp > kv_heads
    L = cfg.num_hidden_layers
    mm = lambda name, n, k, count, **kw: MatMul(  # noqa: E731
        name=name, count=count, m=T, n=n, k=k, a_dtype=a, w_dtype=w, out_dtype=o, math_dtype=math_dt,
        eff_scale=pr.gemm_eff, **kw
    )
    # precision policy per op class (tapeout.formats): attention math and its Q/O activations
    att_dt = pr.attention or math_dt
    att_act = pr.attention or a
    serving = not step.lm_head_all_tokens  # a training step (logits for every token) keeps no KV cache
    ops: list[Op] = []

    def quantize(name: str, elems: float, count: float) -> list[Op]:
        return quantize_ops(name, elems, count, a)

    def attention_block(count: int) -> list[Op]:
        blk: list[Op] = [Elementwise(name="attn_norm", count=count, elems=T * h, flops_per_elem=4, reads=1, writes=1, dtype=a)]
        blk += quantize("qkv_quantize", T * h, count)
        if cfg.is_mla:
            qr, kr = cfg.q_lora_rank, cfg.kv_lora_rank
            nope, rope, vd = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
            if qr:
                blk.append(mm("q_a_proj", qr, h, count))
                blk.append(mm("q_b_proj", H * (nope + rope), qr, count))
            else:
                blk.append(mm("q_proj", H * (nope + rope), h, count))
            blk.append(mm("kv_a_proj", kr + rope, h, count))
            sparse = cfg.index_topk if cfg.is_dsa else 0  # DSA: each query attends to index_topk selected tokens
            if cfg.is_dsa:
                blk += dsa_indexer(count, qr or h)
            if step.phase == "decode":
                # absorbed: q_nope @ W_UK per head -> latent query; attention over the latent
                # cache; output latent @ W_UV per head
                blk.append(MatMul(name="q_absorb_uk", count=count, m=T, n=kr, k=nope, batch=H, shared_weight=False,
                                  a_dtype=a, w_dtype=w, out_dtype=o, math_dtype=math_dt))
                blk.append(Attention(name="mla_attention", count=count, batch=step.batch, q_len=step.q_len,
                                     kv_len=step.kv_len, heads=H, kv_heads=1, d_qk=kr + rope, d_v=kr,
                                     act_dtype=att_act, kv_dtype=pr.kv_cache, math_dtype=att_dt, kv_cache=serving,
                                     kv_bytes_per_token=(kr + rope) * pr.kv_bytes, window=sparse))
                blk.append(MatMul(name="o_absorb_uv", count=count, m=T, n=vd, k=kr, batch=H, shared_weight=False,
                                  a_dtype=a, w_dtype=w, out_dtype=o, math_dtype=math_dt))
            else:
                blk.append(mm("kv_b_proj", H * (nope + vd), kr, count))
                blk.append(Attention(name="attention", count=count, batch=step.batch, q_len=step.q_len,
                                     kv_len=step.kv_len, heads=H, kv_heads=H, d_qk=nope + rope, d_v=vd,
                                     act_dtype=att_act, kv_dtype=pr.kv_cache, math_dtype=att_dt, kv_cache=serving,
                                     kv_bytes_per_token=(kr + rope) * pr.kv_bytes, window=sparse))
            blk.append(mm("o_proj", h, H * vd, count))
        else:
            d = cfg.hd
            blk.append(mm("qkv_proj", (H + 2 * KV) * d, h, count))
            pre = qkv_preprocess(T, H, KV, d, a, pr.kv_bytes, count, kv_cache=serving,
                                 rope=cfg.position_embedding_type == "rope")
            if pre is not None:
                blk.append(pre)
            for nm_, share, win in cfg.attention_kinds():  # full, sliding-window and chunked layers
                cnt = count * share
                if cnt > 0:
                    blk.append(Attention(name=nm_, count=cnt, batch=step.batch, q_len=step.q_len, kv_len=step.kv_len,
                                         heads=H, kv_heads=KV, d_qk=d, d_v=d, act_dtype=att_act, kv_dtype=pr.kv_cache,
                                         math_dtype=att_dt, window=win, kv_cache=serving))
            blk += quantize("o_quantize", T * H * d, count)
            blk.append(mm("o_proj", h, H * d, count))
        if tp > 1:
            blk.append(Collective(name="attn_allreduce", count=count, collective="all_reduce",
                                  payload_bytes=T * h * resid_b, group=tp))
        return blk

    def dsa_indexer(count: int, q_in: int) -> list[Op]:
        """DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2-Exp inference/model.py Indexer, replicated
        on every TP rank: plain Linear layers): its query / key / head-weight projections, then one MQA pass of
        index_n_heads heads over every cached token's index key (index_key_bytes each: FP8 + scale), scoring
        (dot product, ReLU, weighted sum over heads: priced as attention scores with a 1-wide value)."""
        hi, di = cfg.index_n_heads, cfg.index_head_dim
        return [mm("indexer_q", hi * di, q_in, count), mm("indexer_k", di, h, count), mm("indexer_weights", hi, h, count),
                Attention(name="dsa_indexer", count=count, batch=step.batch, q_len=step.q_len, kv_len=step.kv_len,
                          heads=hi, kv_heads=1, d_qk=di, d_v=1, act_dtype=att_act, kv_dtype=pr.kv_cache,
                          math_dtype=att_dt, kv_cache=serving, kv_bytes_per_token=cfg.index_key_bytes)]

    def dense_mlp(count: int, ffn: int, name: str = "mlp") -> list[Op]:
        f = ffn // tp
        blk: list[Op] = [Elementwise(name=f"{name}_norm", count=count, elems=T * h, flops_per_elem=4, dtype=a)]
        blk += quantize(f"{name}_quantize", T * h, count)
        if cfg.mlp_type == "swiglu":
            blk.append(mm(f"{name}_gate_up", 2 * f, h, count))
            blk.append(Elementwise(name=f"{name}_act", count=count, fused=True, elems=T * f, flops_per_elem=5, reads=2, writes=1, dtype=a))
        else:
            blk.append(mm(f"{name}_up", f, h, count))
            blk.append(Elementwise(name=f"{name}_act", count=count, fused=True, elems=T * f, flops_per_elem=8, reads=1, writes=1, dtype=a))
        blk += quantize(f"{name}_down_quantize", T * f, count)
        blk.append(mm(f"{name}_down", h, f, count))
        return blk

    def moe_block(count: int) -> list[Op]:
        E, k = cfg.num_experts, cfg.num_experts_per_tok
        E_local = E // ep
        # the EP group reuses the TP ranks: experts are split E/ep ways and each expert's
        # FFN tp/ep ways (moe_tp), the same layout weight_bytes_per_chip stores
        f = cfg.expert_ffn // max(1, tp // ep)
        blk: list[Op] = [Elementwise(name="moe_norm", count=count, elems=T * h, flops_per_elem=4, dtype=a)]
        blk += quantize_ops("experts_quantize", T * h, count, a, input_quantize_separate(a, serving))
        blk.append(MatMul(name="router", count=count, m=T, n=E, k=h, a_dtype=a, w_dtype="bf16", out_dtype="fp32", math_dtype="bf16"))
        # tokens routed to this EP rank's experts: T*k/ep on average, x imbalance at the busiest rank
        routed = T * k / ep * step.expert_imbalance
        active = max(1.0, min(E_local, expected_active_experts(E_local, max(1, round(k * E_local / E)) if E_local < E else k, T)))
        # the fused MoE op's kernels around its GEMMs (workloads/moe_kernels.py: TensorRT-LLM moe_kernels.cu runMoe)
        blk.append(routing_op(T, E, k, count))
        blk += sort_ops(T, E_local, k, count)
        if ep > 1:
            blk.append(Collective(name="moe_dispatch_a2a", count=count, collective="all_to_all",
                                  payload_bytes=T * k * h * act_b, group=ep))
        m_per_expert = max(1, math.ceil(routed / active))
        rows = m_per_expert * active  # routed rows, as the grouped GEMMs run them
        blk.append(permute_op(rows, h, a, count))
        blk += gemm_setup_ops(E_local, w, count, serving)
        mats = 2 if cfg.mlp_type == "swiglu" else 1
        blk += fp8_dequant_scale_op("experts_gate_up_alpha", E_local, w, count, serving)
        blk.append(MatMul(name="experts_gate_up", count=count, m=m_per_expert, n=mats * f, k=h, groups=int(round(active)),
                          a_dtype=a, w_dtype=w, out_dtype=o, math_dtype=math_dt, experts=True, eff_scale=pr.gemm_eff))
        # its own kernel after the grouped GEMM (moe_kernels.cu gemm1 -> doActivation; Megatron-Core's grouped MLP
        # likewise): reads the GEMM's 16-bit output (UnfusedGemmOutputType; mats x f per row), writes f per row
        blk.append(Elementwise(name="experts_act", count=count, elems=rows * f, flops_per_elem=5 if mats == 2 else 8,
                               reads=mats * resid_b / act_b, writes=1, dtype=a))
        blk += quantize_ops("experts_down_quantize", rows * f, count, a, act_quantize_separate(serving))
        blk += fp8_dequant_scale_op("experts_down_alpha", E_local, w, count, serving)
        blk.append(MatMul(name="experts_down", count=count, m=m_per_expert, n=h, k=f, groups=int(round(active)),
                          a_dtype=a, w_dtype=w, out_dtype=o, math_dtype=math_dt, experts=True, eff_scale=pr.gemm_eff))
        blk.append(finalize_op(T, rows, h, resid_dt, count))
        if ep > 1:
            blk.append(Collective(name="moe_combine_a2a", count=count, collective="all_to_all",
                                  payload_bytes=T * k * h * resid_b, group=ep))
        if cfg.shared_ffn:
            sf = cfg.shared_ffn // tp
            blk.append(mm("shared_expert_gate_up", mats * sf, h, count))
            blk.append(mm("shared_expert_down", h, sf, count))
        return blk

    def tp_allreduce(count: int) -> list[Op]:
        if tp > 1:
            return [Collective(name="mlp_allreduce", count=count, collective="all_reduce", payload_bytes=T * h * resid_b, group=tp)]
        return []

    nd, nm = cfg.n_dense_layers, cfg.n_moe_layers
    if nd:
        ops += attention_block(nd) + dense_mlp(nd, cfg.intermediate_size) + tp_allreduce(nd)
    if nm:
        ops += attention_block(nm) + moe_block(nm) + tp_allreduce(nm)
    logits_rows = T if step.lm_head_all_tokens else step.batch
    ops.append(Elementwise(name="final_norm", count=1, elems=logits_rows * h, flops_per_elem=4, dtype=a))
    if pr.lm_head:  # the policy names the output-embedding format (e.g. BF16 under NVFP4 checkpoints)
        ops.append(MatMul(name="lm_head", count=1, m=logits_rows, n=math.ceil(cfg.vocab_size / tp), k=h,
                          a_dtype=pr.lm_head, w_dtype=pr.lm_head, out_dtype="fp32", math_dtype=pr.lm_head))
    else:
        ops.append(MatMul(name="lm_head", count=1, m=logits_rows, n=math.ceil(cfg.vocab_size / tp), k=h,
                          a_dtype=a, w_dtype=w if w in ("bf16", "fp16", "fp8") else "bf16", out_dtype="fp32",
                          math_dtype=math_dt, eff_scale=pr.gemm_eff))
    _ = L
    return OpGraph(
        name=f"{cfg.name}:{step.phase}:b{step.batch}:q{step.q_len}:ctx{step.context}:tp{tp}:ep{ep}",
        ops=ops,
        meta={"model": cfg.name, "phase": step.phase, "batch": step.batch, "tp": tp, "ep": ep},
    )


def prefill_graph(cfg: LLMConfig, batch: int, input_len: int, precision: str | Precision = "bf16", tp: int = 1, ep: int = 1, context: int = 0, **kw) -> OpGraph:
    pr = precision if isinstance(precision, Precision) else get_precision(precision)
    return build_llm_graph(cfg, LLMStep("prefill", batch, input_len, context, pr, tp, ep, **kw))


def decode_graph(cfg: LLMConfig, batch: int, context: int, precision: str | Precision = "bf16", tp: int = 1, ep: int = 1, **kw) -> OpGraph:
    pr = precision if isinstance(precision, Precision) else get_precision(precision)
    return build_llm_graph(cfg, LLMStep("decode", batch, 1, context, pr, tp, ep, **kw))
