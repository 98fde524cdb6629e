"""Training memory per chip: parameters, gradients and optimizer states under ZeRO, and
activations under recompute, for each pipeline device of a (possibly uneven) layout.

Parameters a device holds (Megatron-Core layout): the dense part of its layers split TP ways,
the routed experts of its layers split max(TP, EP) ways (EP ranks, each expert's FFN split
TP/EP ways when EP < TP), the input embedding on the first device and the output layer on
the last (both, as copies, when tied and PP > 1). Optimizer sharding (distributed optimizer /
ZeRO) runs over the data-parallel group of each part: DP x CP for dense parameters, the
expert data-parallel group TP CP DP / max(TP, EP) for experts (Megatron-Core MoE folding).
"""

from __future__ import annotations

from .dualpipe import PARAM_COPIES, in_flight_chunks

# Gradients of a BF16 model are accumulated and reduced in FP32: Megatron-LM
# training/arguments.py forces accumulate_allreduce_grads_in_fp32 for --bf16 ("bfloat16 requires
# gradient accumulation and all-reduce to be done in fp32"; only --grad-reduce-in-bf16 opts out),
# the main_grad buffer is torch.float (megatron/core/distributed/param_and_grad_buffer.py), and
# NeMo 2's bf16_mixed() precision recipe sets grad_reduce_in_fp32=True. Megatron-LM's distributed
# optimizer doc (its table of bytes per parameter) counts "bf16 param, fp32 grads" as 6 + 12/d bytes
# per parameter: 2 (bf16 weight) + 4 (fp32 grad) + 12/d (fp32 master, Adam m, v). NeMo 1.x's
# Apex distributed_fused_adam takes grad_sync_dtype (its docs: "default precision of fp32"; NVIDIA's
# MLPerf GPT-3 configs set bf16), a stack setting (data/software/training_stacks.yaml).
GRAD_SYNC_BYTES = {"fp32": 4.0, "bf16": 2.0}
GRAD_BYTES = GRAD_SYNC_BYTES["fp32"]  # the default

# Transformer Engine 1.x keeps the quantized copies of every trained linear weight across the step's
# micro-batches (module/linear.py `get_fp8_weights_scratchpad`: with fp8 on, BF16 primary weights and
# `is_first_microbatch` set, the persistent `weight1_fp8` / `weight1_t_fp8` placeholders that
# `set_fp8_weights` allocates, one FP8 copy and its FP8 transpose, each out x in; Megatron-Core's
# TELinear passes is_first_microbatch unless `disable_parameter_transpose_cache`). The step model already
# prices that cast once per step (train_recipe.weight_cast); this is its memory: the recipe's copies x
# format bytes per trained linear weight (2 B for FP8 delayed scaling). FP8 primary weights (NeMo
# `fp8_params`, TE fp8_model_init) keep no such copy: get_fp8_weights_scratchpad returns [None, None].
# Off: sourced, but with it on the GPT-3 v4.0 512-chip submission (TP4 PP8 VP4 MBS2, no recompute, a
# layout that ran) needs 71.9 GiB against 68.1 usable; either that run kept FP8 primary weights (its
# custom.yaml is not stored) or the 11.5% fragmentation reserve (an A100 measurement without expandable
# segments, data/software/training_reserve.yaml) is too large for it, and which is not read
# (docs/notes/issue-18.md, Round stop-42 issue-62b).
FP8_WEIGHT_CACHE = False

# MaxText keeps its trained parameters in FP32 (base.yml `weight_dtype: float32`; `dtype: bfloat16` is the compute
# dtype the layers cast to) and optax's Adam moments in the parameters' dtype (MaxText optimizers.py
# `optax.adamw(...)` with no mu_dtype: mu, nu = zeros_like(params); its `adam_pax` likewise): the FP32 parameters
# are the optimizer's master, with no 16-bit copy kept, so a parameter holds 4 B + its gradient + 8 B of moments,
# not Megatron's 2 B weight + gradient + 12 B (FP32 master, m, v). A stack setting (fp32_params,
# data/software/training_stacks.yaml). On: sourced, and every verdict of the TPU v5p GPT-3 scripts stands with it
# (docs/notes/issue-18.md, Round stop-42 issue-63a); it moves no validation row (their layouts are pinned).
FP32_PARAM_STATES = True


def state_bytes(fp32_params: bool = False) -> tuple[float, float]:
    """(weight, optimizer) bytes per trained parameter: (4, 8) for a stack whose FP32 parameters are the master
    (FP32_PARAM_STATES), else (2, 12): a 16-bit weight beside the FP32 master and Adam's two moments."""
    return (4.0, 8.0) if fp32_params and FP32_PARAM_STATES else (2.0, 12.0)


# Korthikanti et al. 2022 Sec. 4.1 count for a GPT layer (MHA, 4h GELU MLP, dropout), bytes per
# token per hidden unit: 10 outside the tensor-parallel regions (2 LayerNorm inputs 4, QKV and FC1
# inputs 4, 2 dropout masks 2), 24 inside (Q, K 4, V 2, out-proj input 2, GELU in 8 and out 8)
KORTHIKANTI_SAVED = (10.0, 24.0)


def _widths(cfg) -> dict:
    """Per-token widths, in units of h, of what a layer's matmuls produce: the attention's Q, K, V
    and output (GQA: kv_heads x head_dim for K and V; MLA: the decompressed per-head K/V plus the
    latent up-projection inputs), the FC1 outputs (gate and up for a gated MLP) and the FFN width
    per token averaged over dense and MoE layers (top_k routed + shared experts), and the
    dispatched token copies an MoE layer makes (top_k, averaged over layers)."""
    h = float(cfg.hidden_size)
    a = cfg.num_attention_heads
    if cfg.is_mla:
        qk = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
        attn = (2 * a * qk + 2 * a * cfg.v_head_dim + (cfg.q_lora_rank or 0) + cfg.kv_lora_rank) / h
        qkv = (2 * a * qk + a * cfg.v_head_dim) / h
        o = a * cfg.v_head_dim / h
    else:
        attn = cfg.hd * (2 * a + 2 * cfg.kv_heads) / h
        qkv = cfg.hd * (a + 2 * cfg.kv_heads) / h
        o = a * cfg.hd / h
    L = cfg.num_hidden_layers
    ffn, copies = cfg.intermediate_size / h, 0.0
    if cfg.is_moe:
        per_tok = (cfg.num_experts_per_tok * cfg.expert_ffn + cfg.shared_ffn) / h
        ffn = (cfg.n_dense_layers * ffn + cfg.n_moe_layers * per_tok) / L
        copies = cfg.n_moe_layers * cfg.num_experts_per_tok / L
    return {"attn": attn, "qkv": qkv, "o": o, "fc1": (cfg.mlp_mats - 1) * ffn, "ffn": ffn, "copies": copies}


def saved_bytes_per_token(cfg, dropout: bool = False, gemm_input_bytes: float = 2.0) -> tuple[float, float]:
    """(outside, inside) tensor-parallel regions: 16-bit bytes per token per hidden unit one layer of
    `cfg` keeps for its backward with fused attention, Korthikanti's count term by term for the
    layer's own shapes (_widths), averaged over the model's dense and MoE layers:
      outside  2 norm inputs (norm backward) + 2 norm outputs (QKV / FC1 inputs, for wgrad)   2 x 4
               dropout masks after attention and MLP (1 byte each), only with `dropout`      2
      inside   Q, K, V and the attention output (FlashAttention saves Q, K, V, O and the
               row log-sum-exp; O is the out-projection's input): 2 x widths; K/V replicated
               when kv_heads < TP are not counted
               MLP  FC1 outputs and the activation's output (FC2 input): 2 (fc1 + ffn); an MoE
               layer's dispatched token copies (the experts' FC1 inputs) 2 x top_k
    GPT with dropout gives (10, 24) (KORTHIKANTI_SAVED). Dropout is off by default: the
    pretraining configs on file (HF attention_dropout 0.0 for Llama/Mistral/Qwen/DeepSeek;
    NVIDIA's MLPerf GPT-3 NeMo config hidden/attention/ffn_dropout 0.0) use none.

    `gemm_input_bytes`: bytes per element of the GEMM inputs the linear layers save for their wgrad.
    2 (BF16): the norm outputs, and the out-projection input is the attention's own saved O (one
    tensor). Under Transformer Engine 1.x FP8 (DelayedScaling) a trained linear saves its FP8 input,
    not the BF16 one (module/linear.py `_Linear.forward`: `saved_inputmat = inputmat` or its FP8
    transpose when `fp8 and not override_linear_precision.wgrad`, `inputmat_no_fp8` only otherwise),
    and LayerNormLinear / LayerNormMLP save the norm's FP8 output (ln_out written in FP8 by the norm):
    the QKV / FC1 inputs and FC2's input take 1 byte, and the out-projection keeps an FP8 copy of O
    beside the attention's BF16 O. GPT-3 in FP8: 4 + 2 outside, 8 + 1 + 8 + 4 inside = 27."""
    w = _widths(cfg)
    outside = 4.0 + 2.0 * gemm_input_bytes + (2.0 if dropout else 0.0)
    o_copy = 0.0 if gemm_input_bytes == 2.0 else gemm_input_bytes * w["o"]
    return outside, 2.0 * (w["attn"] + w["fc1"] + w["copies"]) + gemm_input_bytes * w["ffn"] + o_copy


def dot_output_bytes_per_token(cfg, ffn1: bool = True) -> tuple[float, float]:
    """(outside, inside) as saved_bytes_per_token, for XLA's checkpoint_dots_with_no_batch_dims
    (recompute "dots", MaxText remat_policy "minimal"): JAX saves only the outputs of dot_generals
    without batch dimensions (jax.checkpoint_policies: DotsSaveable(only_if_no_batch_dims=True)),
    i.e. the weight projections, and the layer input (the remat boundary); norms, the activation
    function and attention (batched einsums / the flash kernel) are recomputed:
      outside  layer input 2;  inside  Q, K, V projections 2 qkv, out-projection output 2,
      FC1 outputs 2 fc1, FC2 output 2, MoE dispatched copies 2 x top_k.
    `ffn1` False: the same set without the FC1 outputs (recompute "dots-except-ffn1", Praxis
    SAVE_DOT_EXCEPT_LOGITS_FFN1 / MaxText save_dot_except_mlpwi: 'mlpwi' / 'ffn1' is not among the saved
    names; train_layout.DOTS_EXCEPT_FFN1)."""
    w = _widths(cfg)
    return 2.0, 2.0 * (w["qkv"] + 1.0 + (w["fc1"] if ffn1 else 0.0) + 1.0 + w["copies"])


def activation_bytes_per_layer(s: int, b: int, h: int, a: int, tp: int = 1, recompute: str = "none",
                               sequence_parallel: bool = True, fused_attention: bool = False,
                               saved: tuple[float, float] = KORTHIKANTI_SAVED) -> float:
    """Korthikanti et al. 2022 (arXiv:2205.05198) Eq. 1-4, 16-bit activations; `saved` the
    layer's (outside, inside) tensor-parallel bytes per token per hidden unit
    (saved_bytes_per_token; default Korthikanti's GPT count, 34 in all).

    `fused_attention`: a fused (FlashAttention-style) kernel never stores the a s^2 scores,
    softmax or its dropout mask (Dao et al. 2022, arXiv:2205.14135: O(s) memory, the
    probabilities are recomputed inside the backward kernel), so without recompute a layer
    keeps what selective recompute keeps (Korthikanti Sec. 5: the 5 a s / h term)."""
    if recompute == "full":
        return 2.0 * s * b * h / (tp if sequence_parallel else 1)
    outside, inside = saved
    base = (outside + inside) / tp if sequence_parallel else (outside + inside / tp)
    if recompute in ("selective", "dots", "dots-except-ffn1") or fused_attention:
        return s * b * h * base
    return s * b * h * (base + 5.0 * a * s / (h * tp))


def zero_memory_bytes(params: float, dp: int, stage: int, param_bytes: float = 2.0, grad_bytes: float = 2.0,
                      optim_bytes: float = 12.0) -> dict:
    """Per-chip bytes of weights, gradients and optimizer states for `params` parameters
    held by one model-parallel rank (Rajbhandari et al. 2020, ZeRO stages 0-3)."""
    w = params * param_bytes / (dp if stage >= 3 else 1)
    g = params * grad_bytes / (dp if stage >= 2 else 1)
    o = params * optim_bytes / (dp if stage >= 1 else 1)
    return {"weights": w, "grads": g, "optimizer": o}


def states_held_once(params: float, lora: bool = False, frozen_bytes: float = 2.0, grad_bytes: float = GRAD_BYTES,
                     fp32_params: bool = False) -> float:
    """Bytes of weights, gradients and optimizer states of `params` parameters held once: the least any
    layout holds over all its chips together (ZeRO-3 over every chip shards each state exactly once; every
    other layout replicates some), before activations. Under LoRA: the frozen weights and the adapters'
    states (device_memory's count)."""
    if lora:
        return params * (frozen_bytes + 16.0e-3)
    w, o = state_bytes(fp32_params)
    return sum(zero_memory_bytes(params, 1, 0, param_bytes=w, grad_bytes=grad_bytes, optim_bytes=o).values())


def expert_params(cfg) -> float:
    """Routed-expert parameters of the whole model (0 for a dense model)."""
    if not cfg.is_moe:
        return 0.0
    return float(cfg.n_moe_layers * cfg.num_experts * cfg.mlp_mats * cfg.hidden_size * cfg.expert_ffn)


def device_params(cfg, lay, layers: int, first: bool, last: bool) -> tuple[float, float]:
    """(dense, expert) parameters one chip of a pipeline device holding `layers` layers keeps."""
    emb = float(cfg.vocab_size * cfg.hidden_size)
    L = cfg.num_hidden_layers
    body = cfg.param_count() - emb * (1 if cfg.tie_word_embeddings else 2) - cfg.hidden_size
    ex = expert_params(cfg)
    dense = (body - ex) * layers / L / lay.tp
    dense += (emb / lay.tp if first else 0.0) + (emb / lay.tp if last and (not cfg.tie_word_embeddings or lay.pp > 1) else 0.0)
    return dense, ex * layers / L / max(lay.tp, lay.ep)


def shard_groups(lay) -> tuple[int, int]:
    """(dense, expert) data-parallel group sizes the optimizer states shard over. A hybrid
    sharded layout (`lay.shard`, dense parameters) shards over that group and replicates
    across the DP x CP / shard replicas."""
    return lay.shard or lay.dp * lay.cp, max(1, lay.tp * lay.cp * lay.dp // max(lay.tp, lay.ep))


def in_flight_passes(pp: int, vp: int, m: int, d: int, group: int | None = None) -> float:
    """Micro-batches of activations pipeline device `d` (0 = first) holds at its peak, in passes
    over all its layers, under Megatron-Core's schedules (megatron/core/pipeline_parallel/schedules.py):

      1F1B (vp 1)       `forward_backward_pipelining_without_interleaving`: min(pp - d - 1, m) warm-up
                        forwards, then one forward before each backward: min(m, pp - d)
      interleaved 1F1B  `forward_backward_pipelining_with_interleaving`: 2 (pp - d - 1) + (vp - 1) N
                        warm-up chunk forwards (N = config.microbatch_group_size_per_vp_stage, default
                        pp), +1 in the steady state; when that reaches all m vp chunk passes the device
                        runs every forward first (all_warmup_microbatches); each chunk holds 1/vp of the
                        device's layers: min(m vp, 2 (pp - d - 1) + (vp - 1) N + 1) / vp

    The first device at m >= 2 pp keeps pp + (pp - 1)/vp (Narayanan et al. SC'21 Sec. 2.2.2: the
    first stage's 1F1B memory times 1 + (pp - 1)/(pp vp)); each later device keeps 2/vp fewer, not 1
    (the (vp - 1) N warm-up chunks are the same on every device); at m <= pp + (pp - 1)/vp the
    first device runs every forward first and holds all m micro-batches."""
    if vp <= 1:
        return float(min(m, pp - d))
    n = pp if group is None else group
    return min(m * vp, 2 * (pp - d - 1) + (vp - 1) * n + 1) / vp


def device_memory(cfg, lay, layers: list[int], m: int, s_local: int, lora: bool = False,
                  frozen_bytes: float = 2.0, grad_bytes: float = GRAD_BYTES, sequence_parallel: bool = True,
                  gemm_input_bytes: float = 2.0, fused_attention: bool = True, weight_cache_bytes: float = 0.0,
                  fp32_params: bool = False) -> dict:
    """Bytes per chip on the pipeline device that needs the most, with its parts.

    `frozen_bytes`: bytes per frozen base weight under LoRA (2 in BF16; 1 when a quantized
    recipe keeps them as FP8 parameters, NeMo `fp8_params`). `grad_bytes`: bytes per gradient of
    the gradient buffer (GRAD_SYNC_BYTES). `gemm_input_bytes`: bytes of the GEMM inputs saved for wgrad
    (saved_bytes_per_token). `fused_attention` False: the stack's attention core is unfused
    (perf/unfused_attention.py) and a layer without recompute also keeps its scores (the 5 a s / h term).
    `weight_cache_bytes`: bytes per trained linear weight of the quantized copies kept across micro-batches
    (FP8_WEIGHT_CACHE; 0: none), over the device's transformer-layer weights (not the embedding or the BF16
    output layer), in `mem_weight_cache`. `fp32_params`: the stack keeps FP32 parameters as the master (state_bytes).

    Device d keeps in_flight_passes micro-batches of activations over its layers (its chunks' layers
    averaged per pass, as in_flight_passes counts passes): under "block:k" its recomputed layers keep
    their input only and the rest all their activations, r act_full + (n - r) act_none per pass. The last device
    also holds the fp32 softmax of one micro-batch's logits (Megatron-Core VocabParallelCrossEntropy
    saves exp_logits, fp32, s x V/TP, for its backward; 1F1B keeps one micro-batch in flight there)."""
    from .train_layout import DOTS_EXCEPT_FFN1, recompute_split

    g_dense, g_exp = shard_groups(lay)
    # attention is costed as a fused kernel (perf/opcost.py, calibrated on FlashAttention/cuDNN
    # rates), so its memory is the fused kernel's too, unless the stack's core is unfused. A layer the recompute covers keeps what its
    # kind keeps; under block recompute the chunk's other layers keep everything (recompute_split)
    kind, redo = recompute_split(lay, cfg.num_hidden_layers)

    def act_of(rc):
        return activation_bytes_per_layer(s_local, lay.mbs, cfg.hidden_size, cfg.num_attention_heads, lay.tp,
                                          rc, sequence_parallel, fused_attention=fused_attention,
                                          saved=(dot_output_bytes_per_token(cfg, ffn1=rc == "dots")
                                                 if rc in ("dots", DOTS_EXCEPT_FFN1)
                                                 else saved_bytes_per_token(cfg, gemm_input_bytes=gemm_input_bytes)))
    act_layer, act_kept = act_of(kind), act_of("none")
    # DualPipe (perf/dualpipe.py, arXiv:2412.19437 Table 2): device d holds stages d and PP-1-d, each stage's
    # copies shard their optimizer states over twice the DP ranks, and PP + 1 chunks of activations are in flight
    dual = getattr(lay, "schedule", "1f1b") == "dualpipe"
    copies = PARAM_COPIES if dual else 1
    g_dense, g_exp = g_dense * copies, g_exp * copies
    best = None
    for d, n in enumerate(layers):
        first, last = d == 0, d == lay.pp - 1
        dense, ex = device_params(cfg, lay, n, first, last)
        if dual:  # the mirrored stage: the last stage's head on device 0, the first's embedding on device PP-1
            mirror = lay.pp - 1 - d
            dense2, ex2 = device_params(cfg, lay, layers[mirror], mirror == 0, mirror == lay.pp - 1)
            dense, ex, first, last = dense + dense2, ex + ex2, first or mirror == 0, last or mirror == lay.pp - 1
        if lora:  # frozen base weights (sharded over DP under ZeRO-3/FSDP), adapters (~0.1%) with Adam
            shard = (dense / g_dense + ex / g_exp) if lay.zero >= 3 else dense + ex
            states = {"weights": frozen_bytes * shard, "grads": 0.0, "optimizer": 16.0e-3 * (dense + ex)}
        else:
            w, o = state_bytes(fp32_params)
            a = zero_memory_bytes(dense, g_dense, lay.zero, param_bytes=w, grad_bytes=grad_bytes, optim_bytes=o)
            b = zero_memory_bytes(ex, g_exp, lay.zero, param_bytes=w, grad_bytes=grad_bytes, optim_bytes=o)
            states = {k: a[k] + b[k] for k in a}
        if weight_cache_bytes and not lora:  # the layers' linear weights (norms and biases < 0.1% of them)
            body, body_ex = device_params(cfg, lay, n + (layers[lay.pp - 1 - d] if dual else 0), False, False)
            states["weight_cache"] = weight_cache_bytes * (body + body_ex)
        passes = in_flight_chunks(lay.pp) if dual else in_flight_passes(lay.pp, lay.vp, m, d)
        act = (act_layer * redo[d] + act_kept * (n - redo[d])) * passes
        logits = lay.mbs * s_local * cfg.vocab_size / lay.tp * 4.0 if last else 0.0
        total = sum(states.values()) + act + logits
        if best is None or total > best["mem"]:
            best = {"mem": total, "act": act, "logits": logits, "device": d, "params_dense": dense, "params_expert": ex,
                    **{f"mem_{k}": v for k, v in states.items()}}
    return best
