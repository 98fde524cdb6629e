"""LLM training step at cluster scale: 4D parallelism, memory, pipeline bubble, exposed
communication, MFU; automatic choice of the fastest layout that fits.

Layout (Megatron-LM rank order tp < cp < dp < pp; Narayanan et al. SC'21): TP inside a
scale-up domain, then context parallelism (CP), data parallelism (DP) and pipeline stages
(PP, optionally interleaved into v virtual stages per device). EP for MoE shares the TP
ranks (as in the inference graphs).

Time per micro-batch on one stage (the op graph of workloads/llm.py for one forward pass of
`mbs` sequences of seq/cp tokens, timed by perf/opcost.py, collectives by perf/collectives.py):
  forward  F = L_stage/L x (GEMMs + attention + elementwise + TP all-reduces)
  backward B = 2 x GEMMs (dgrad + wgrad) + 2.5 x attention FLOPs (FlashAttention-2 backward,
           Dao 2023) at the backward kernel's rate (attn_bwd_factor, fitted on published
           cuDNN/FlashAttention-3 kernel rates) + 2 x elementwise + TP collectives; LoRA:
           dgrad only (1 x GEMMs)
  recompute: full adds F; selective adds the attention core (Korthikanti et al. 2022)
Step = (m + (p-1)/v) x (F + B) + exposed DP communication + optimizer
  pipeline bubble fraction (p-1)/(v m + p - 1) (1F1B, Narayanan et al. 2021; v = 1 gives
  (p-1)/(m+p-1))
  DP gradient reduce-scatter + parameter all-gather (ZeRO-1 / distributed optimizer) of the
  stage's parameters overlaps the last micro-batch's backward: exposed = max(0, t_dp - B).
Memory per chip (bytes; Rajbhandari et al. 2020 ZeRO; Korthikanti et al. 2022 Table 2):
  parameters 2 P/(tp pp), gradients 2 P/(tp pp) (bf16) , Adam states 12 P/(tp pp) (fp32
  master + m + v) divided by dp for ZeRO stage >= 1 (states), >= 2 (gradients), 3 (params)
  activations per layer per micro-batch  s b h (34 + 5 a s / h) / tp      (no recompute,
                                          with sequence parallelism: both terms / tp)
                                         s b h 34 / tp                    (selective)
                                         2 s b h / tp                     (full: layer input)
  times the layers a stage holds and the p micro-batches in flight on the first stage.
FP8 (NVIDIA Transformer Engine recipe, precision 'fp8'): only the Linear-layer GEMMs of the
transformer layers run in FP8. The attention core (cuDNN/FlashAttention) stays BF16 unless
the run enables FP8 dot-product attention (`fp8_attention`, TE `fp8_dpa`; NVIDIA MLPerf v4.0
LoRA config sets FP8_DPA=1), and the output layer (LM head) stays BF16 (Megatron-core builds
it as tensor_parallel.ColumnParallelLinear, not a TE module). Every FP8 GEMM pays a
memory-bound cast-transpose kernel (TE `cast_transpose`): forward, read the BF16 input
activation and write an FP8 copy plus the FP8 transposed copy used by wgrad (2 + 1 + 1 bytes
per element); backward, the same for the output gradient dY. LoRA (frozen base weights, no
wgrad) writes no transposed copy (2 + 1 bytes). Weights are cast once per step (TE
`is_first_microbatch` caches the FP8 weight across micro-batches): 2 + 1 + 1 bytes per
parameter of the rank; none for LoRA (NVIDIA LoRA config stores FP8 params, fp8_params=True).
Counting a standalone cast for every GEMM input is an upper bound: TE fuses the cast of the
QKV and FC1 inputs into the LayerNorm kernel (LayerNormLinear / LayerNormMLP).
Evaluation (MLPerf time-to-train, see eval_time_s): forward-only passes of the same layout;
NeMo pads the validation set to whole global batches (`pad_samples_to_global_batch_size`), so
one evaluation costs ceil(E / GBS) x (m + (p-1)/v) x F_eval, F_eval = F without recompute.
MFU = model FLOPs / (step x chips x dense bf16 peak), model FLOPs = 6 N_active T + 12 L h
s T (attention, Chowdhery et al. 2022 PaLM App. B); LoRA: 4 N T (no weight gradients).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .calibration import calibrated_params, calibration_key
from ..errors import TapeoutError, require_positive
from ..hardware.catalog import Chip, get_chip
from ..hardware.topology import Topology
from ..ops import Attention, Collective, Elementwise, MatMul, OpGraph
from ..precision import get_precision
from ..workloads.llm import LLMStep, build_llm_graph
from ..workloads.llm_config import LLMConfig, load_llm
from .collectives import collective_time, topology_for
from .opcost import K_ATTN, K_ELT, K_MATMUL, evaluate

GIB = 2 ** 30
_RESULT_CACHE: dict = {}
USABLE = 0.92  # usable share of HBM for the training framework (allocator fragmentation)


def pipeline_bubble(p: int, m: int, v: int = 1) -> float:
    """Idle fraction of a 1F1B pipeline of p stages, m micro-batches, v virtual stages."""
    if p <= 1:
        return 0.0
    return (p - 1) / (v * m + p - 1)


def activation_bytes_per_layer(s: int, b: int, h: int, a: int, tp: int = 1, recompute: str = "none",
                               sequence_parallel: bool = True) -> float:
    """Korthikanti et al. 2022 (arXiv:2205.05198) Eq. 1-4, 16-bit activations."""
    if recompute == "full":
        return 2.0 * s * b * h / (tp if sequence_parallel else 1)
    base = 34.0 / tp if sequence_parallel else (10.0 + 24.0 / tp)
    if recompute == "selective":
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


@dataclass
class TrainLayout:
    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vp: int = 1
    mbs: int = 1
    zero: int = 1
    recompute: str = "selective"

    def __str__(self):
        s = f"TP{self.tp} PP{self.pp}" + (f"(v{self.vp})" if self.vp > 1 else "") + f" DP{self.dp}"
        if self.cp > 1:
            s += f" CP{self.cp}"
        if self.ep > 1:
            s += f" EP{self.ep}"
        return s + f" mbs{self.mbs} ZeRO-{self.zero} recompute={self.recompute}"


@dataclass
class TrainResult:
    model: str
    chip: str
    num_chips: int
    precision: str
    seq_len: int
    global_batch_tokens: float
    step_time_s: float
    tokens_per_s: float
    mfu: float
    memory_gib_per_chip: float
    capacity_gib_per_chip: float
    parallelism: str
    layout: dict
    breakdown: dict
    interval_80: tuple = (0.0, 0.0)
    notes: list[str] = field(default_factory=list)
    time_to_train_min: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def fp8_training_graph(g: OpGraph, fp8_attention: bool = False, lora: bool = False) -> tuple[OpGraph, OpGraph, OpGraph]:
    """Transformer-Engine FP8 recipe applied to a forward graph whose GEMMs were built in FP8.

    Returns (forward graph with the attention core and LM head back in BF16, forward
    cast-transpose kernels, backward cast-transpose kernels). See the module docstring.
    """
    ops, fwd_casts, bwd_casts = [], [], []
    w_cast = 0.5 if lora else 1.0  # extra FP8 transposed copy only when wgrad needs it (bf16-sized units)
    for op in g.ops:
        if isinstance(op, Attention) and op.math_dtype == "fp8" and not fp8_attention:
            op = replace(op, math_dtype="bf16")
        elif isinstance(op, MatMul) and op.name == "lm_head" and op.math_dtype == "fp8":
            op = replace(op, math_dtype="bf16", w_dtype="bf16")
        elif isinstance(op, MatMul) and op.math_dtype == "fp8":
            n_in = op.groups * op.batch * op.m * op.k
            n_out = op.groups * op.batch * op.m * op.n
            fwd_casts.append(Elementwise(name=f"{op.name}_fp8_cast_transpose", count=op.count, elems=n_in,
                                         flops_per_elem=2, reads=1, writes=w_cast, dtype="bf16"))
            bwd_casts.append(Elementwise(name=f"{op.name}_dgrad_fp8_cast_transpose", count=op.count, elems=n_out,
                                         flops_per_elem=2, reads=1, writes=w_cast, dtype="bf16"))
        ops.append(op)
    return (OpGraph(name=g.name, ops=ops, meta=g.meta), OpGraph(name=g.name + ":fp8_cast_fwd", ops=fwd_casts or ops[:0], meta=g.meta),
            OpGraph(name=g.name + ":fp8_cast_bwd", ops=bwd_casts or ops[:0], meta=g.meta))


class _Fwd:
    """Cached per-micro-batch forward costs split by op class."""

    def __init__(self, cfg, p, pr, topo, fp8_attention: bool = False, lora: bool = False):
        self.cfg, self.p, self.pr, self.topo = cfg, p, pr, topo
        self.fp8_attention, self.lora = fp8_attention, lora
        self.cache: dict = {}

    def _time(self, g: OpGraph) -> float:
        if not g.ops:
            return 0.0
        ct = evaluate(g, self.p)
        t = ct.table
        times = np.asarray(ct.time, dtype=float).reshape(len(t), -1).max(axis=1)
        return float((times * t.count).sum())

    def __call__(self, tp: int, ep: int, mbs: int, seq: int) -> dict:
        key = (tp, ep, mbs, seq)
        if key in self.cache:
            return self.cache[key]
        g = build_llm_graph(self.cfg, LLMStep("prefill", mbs, seq, 0, self.pr, tp, ep, lm_head_all_tokens=True))
        cast_fwd = cast_bwd = 0.0
        if self.pr.compute == "fp8":
            g, gf, gb = fp8_training_graph(g, self.fp8_attention, self.lora)
            cast_fwd, cast_bwd = self._time(gf), self._time(gb)
        ct = evaluate(g, self.p)
        t = ct.table
        times = np.asarray(ct.time, dtype=float).reshape(len(t), -1).max(axis=1)
        comm = 0.0
        for i, op in enumerate(t.ops):
            if isinstance(op, Collective):
                c = float(collective_time(op.collective, op.payload_bytes, op.group, self.topo)[0]) if op.group > 1 else 0.0
                times[i] = 0.0
                comm += c * op.count
        w = times * t.count
        out = {"gemm": float(w[t.kind == K_MATMUL].sum()), "attn": float(w[t.kind == K_ATTN].sum()),
               "elt": float(w[t.kind == K_ELT].sum()), "comm": comm, "flops": float(ct.total_flops),
               "cast_fwd": cast_fwd, "cast_bwd": cast_bwd}
        self.cache[key] = out
        return out


def model_flops_per_token(cfg: LLMConfig, seq: int, lora: bool = False) -> float:
    """6 N (4 N for LoRA: no weight gradients) + causal attention 6 L a d s (PaLM App. B / 2)."""
    return (4.0 if lora else 6.0) * cfg.param_count(active=True) + 6.0 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.hd * seq


def evaluate_layout(cfg: LLMConfig, chip: Chip, p, topo: Topology, pr, lay: TrainLayout, num_chips: int,
                    global_seqs: int, seq: int, fwd: _Fwd, lora: bool = False) -> dict | None:
    L = cfg.num_hidden_layers
    if L % lay.pp or (L // lay.pp) % lay.vp:
        return None
    per_dp = global_seqs / lay.dp
    if per_dp < lay.mbs or abs(per_dp / lay.mbs - round(per_dp / lay.mbs)) > 1e-9:
        return None
    m = int(round(per_dp / lay.mbs))
    if lay.pp > 1 and m < lay.pp:
        return None
    s_local = seq // lay.cp
    f = fwd(lay.tp, lay.ep, lay.mbs, s_local)
    frac = 1.0 / lay.pp
    gemm, attn, elt, comm = f["gemm"] * frac, f["attn"] * frac, f["elt"] * frac, f["comm"] * frac
    cast_f, cast_b = f.get("cast_fwd", 0.0) * frac, f.get("cast_bwd", 0.0) * frac
    if lay.cp > 1:  # ring attention: each rank sees all keys (cp x its local attention work)
        attn *= lay.cp
        kv = 2 * lay.mbs * s_local * cfg.kv_heads * cfg.hd * 2 / lay.tp * (L // lay.pp)
        comm += float(collective_time("all_gather", kv * lay.cp, lay.cp, topo, stride=lay.tp)[0]) * 3  # fwd + bwd
    F = gemm + attn + elt + comm + cast_f
    attn_bwd = 2.5 * attn * float(np.max(p.attn_bwd_factor))  # 2.5x the FLOPs, at the backward kernel's rate
    B = (1.0 if lora else 2.0) * gemm + attn_bwd + 2.0 * elt + comm + cast_b
    if lay.recompute == "full":
        B += F
    elif lay.recompute == "selective":
        B += attn
    p2p = 0.0
    if lay.pp > 1:
        S = lay.mbs * s_local * cfg.hidden_size * pr.residual_bytes / lay.tp
        p2p = 2 * float(collective_time("send_recv", S, 2, topo, stride=lay.tp * lay.cp * lay.dp)[0]) * lay.vp
    slot = F + B + p2p
    compute_time = (m + (lay.pp - 1) / lay.vp) * slot
    # parameters of one model-parallel rank
    P_total = cfg.param_count()
    P_rank = P_total / (lay.tp * lay.pp) if not cfg.is_moe else P_total / (lay.tp * lay.pp)  # experts split by ep within tp
    P_train = P_rank if not lora else P_rank * 0.001
    t_dp = 0.0
    if lay.dp > 1:
        grad_b = 2.0 * P_train  # bf16 gradients
        t_rs = float(collective_time("reduce_scatter", grad_b, lay.dp, topo, stride=lay.tp * lay.cp)[0])
        t_ag = float(collective_time("all_gather", grad_b, lay.dp, topo, stride=lay.tp * lay.cp)[0])
        t_dp = t_rs + t_ag
    exposed_dp = max(0.0, t_dp - B)
    optim = 16.0 * P_train / max(lay.dp if lay.zero >= 1 else 1, 1) / float(np.max(p.mem_bw) * np.max(p.eff_mem)) * 1.5
    # FP8 weight cast-transpose once per step (read bf16, write fp8 + fp8 transpose); none for LoRA (fp8 params)
    wcast = 0.0
    if pr.compute == "fp8" and not lora:
        wcast = 4.0 * P_rank / float(np.max(p.mem_bw) * np.max(p.eff_mem))
    step = compute_time + exposed_dp + optim + wcast
    # one forward-only pass over a global batch (evaluation): same pipeline schedule, no recompute
    eval_step = (m + (lay.pp - 1) / lay.vp) * (F + p2p / 2.0)
    # memory
    mem = zero_memory_bytes(P_rank, lay.dp, lay.zero) if not lora else {"weights": 2.0 * P_rank, "grads": 0.0, "optimizer": 16.0 * P_train}
    act_layer = activation_bytes_per_layer(s_local, lay.mbs, cfg.hidden_size, cfg.num_attention_heads, lay.tp, lay.recompute)
    in_flight = min(m, lay.pp) if lay.pp > 1 else 1
    act = act_layer * (L // lay.pp) * in_flight * (1 + (lay.pp - 1) / (lay.pp * lay.vp) if lay.vp > 1 else 1)
    logits = lay.mbs * s_local * cfg.vocab_size / lay.tp * 4.0  # fp32 logits on the last stage
    total_mem = sum(mem.values()) + act + logits
    return {"step": step, "m": m, "F": F, "B": B, "eval_step": eval_step, "fp8_cast": (cast_f + cast_b) * (m + (lay.pp - 1) / lay.vp) + wcast, "bubble": pipeline_bubble(lay.pp, m, lay.vp), "exposed_dp": exposed_dp,
            "t_dp": t_dp, "optimizer": optim, "mem": total_mem, "act": act, **{f"mem_{k}": v for k, v in mem.items()}}


def train(model, chip, num_chips: int, global_batch_tokens: float, seq_len: int = 2048, precision: str = "bf16",
          layout: TrainLayout | None = None, lora: bool = False, max_layouts: int | None = None, params=None,
          tp: int | None = None, pp: int | None = None, fp8_attention: bool = False, fitted: dict | None = None) -> TrainResult:
    """Fastest layout that fits. `fp8_attention`: with precision 'fp8', run the attention core in
    FP8 too (TE fp8_dpa); default False keeps it BF16 (the Transformer Engine default). `fitted`: the
    calibration (perf/calibration.py; None: the shipped fit)."""
    memo = None
    if params is None and layout is None and max_layouts is None and isinstance(model, str) and isinstance(chip, str):
        memo = (model, chip, num_chips, global_batch_tokens, seq_len, precision, lora, tp, pp, fp8_attention,
                calibration_key(fitted))
        if memo in _RESULT_CACHE:
            return copy.deepcopy(_RESULT_CACHE[memo])  # callers may annotate their copy
    r = _train(model, chip, num_chips, global_batch_tokens, seq_len, precision, layout, lora, params, tp, pp, fp8_attention,
               fitted)
    if memo is not None:
        _RESULT_CACHE[memo] = copy.deepcopy(r)
    return r


def clear_cache() -> None:
    """Forget memoised training results."""
    _RESULT_CACHE.clear()


def _train(model, chip, num_chips, global_batch_tokens, seq_len, precision, layout, lora, params, tp, pp,
           fp8_attention=False, fitted=None) -> TrainResult:
    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    require_positive("num_chips", num_chips)
    require_positive("global_batch_tokens", global_batch_tokens)
    require_positive("seq_len", seq_len)
    pr = get_precision(precision)
    # training keeps bf16 activations/KV; the GEMMs run in `precision`
    from ..precision import Precision

    pr = Precision(pr.name, pr.compute if pr.compute in ("fp8", "int8", "bf16", "fp16") else "bf16", "bf16", "bf16", pr.compute)
    from ..precision import COMPUTE_PEAK_FIELD
    from .serving_sim import ensure_vector

    p = ensure_vector(params if params is not None else calibrated_params(c, fitted))
    topo = topology_for(p, c.family)
    cap = float(np.min(p.mem_capacity))
    if float(np.max(p.peak(COMPUTE_PEAK_FIELD.get(pr.compute, "bf16")))) <= 0:
        raise TapeoutError(f"chip '{c.id}' has no {pr.compute} matrix support; choose another --precision (supported: "
                           f"{', '.join(k for k in ('bf16', 'fp16', 'fp8', 'int8') if c.supports(k))}).")
    global_seqs = max(1, int(round(global_batch_tokens / seq_len)))
    fwd = _Fwd(cfg, p, pr, topo, fp8_attention=fp8_attention, lora=lora)
    domain = int(np.max(p.scaleup_domain))
    cands = [layout] if layout is not None else _layouts(cfg, num_chips, domain, global_seqs, tp, pp)
    best = None
    for lay in cands:
        r = evaluate_layout(cfg, c, p, topo, pr, lay, num_chips, global_seqs, seq_len, fwd, lora)
        if r is None or r["mem"] > cap * USABLE:
            continue
        if best is None or r["step"] < best[1]["step"]:
            best = (lay, r)
    if best is None:
        raise TapeoutError(f"no layout of {cfg.name} fits on {num_chips} x {c.id} ({cap / GIB:.0f} GiB each) at global batch "
                           f"{global_seqs} x {seq_len}; add chips, raise the batch or use a chip with more memory.")
    lay, r = best
    tokens = global_seqs * seq_len
    tps = tokens / r["step"]
    flops_tok = model_flops_per_token(cfg, seq_len, lora)
    peak_key = COMPUTE_PEAK_FIELD.get(pr.compute, "bf16")
    mfu = flops_tok * tps / (num_chips * float(np.max(p.peak(peak_key))))  # vs the GEMM dtype's dense peak
    bf16_peak = float(np.max(p.peak("bf16")))  # 0 on a chip without bf16 (Ascend 910B runs fp16)
    mfu_bf16 = flops_tok * tps / (num_chips * bf16_peak) if bf16_peak > 0 else None
    from .mlperf import interval

    lo, hi = interval(r["step"], c, fitted=fitted)
    return TrainResult(
        model=cfg.name, chip=c.id, num_chips=num_chips, precision=precision, seq_len=seq_len,
        global_batch_tokens=tokens, step_time_s=r["step"], tokens_per_s=tps, mfu=mfu,
        memory_gib_per_chip=r["mem"] / GIB, capacity_gib_per_chip=cap / GIB, parallelism=str(lay), layout=asdict(lay),
        breakdown={**{k: (float(v) if isinstance(v, (int, float)) else v) for k, v in r.items()}, "mfu_vs_bf16_peak": mfu_bf16},
        interval_80=(lo, hi),
    )


def num_evaluations(train_samples: float, eval_every_samples: float, skip_evals: int = 0) -> int:
    """Evaluations inside run_start..run_stop: one at every multiple of `eval_every_samples` up
    to the convergence point (MLPerf stops at the evaluation that reaches the target), minus the
    first `skip_evals` the submission skips."""
    require_positive("eval_every_samples", eval_every_samples)
    n = int(math.floor(train_samples / eval_every_samples + 1e-9))
    return max(0, n - max(0, int(skip_evals)))


def eval_time_s(r: TrainResult, eval_samples: float, n_evals: int) -> float:
    """Time of `n_evals` forward-only passes over an `eval_samples`-sequence validation set with
    the training layout of `r`; the set is padded to whole global batches (NeMo
    pad_samples_to_global_batch_size), each global batch costing breakdown['eval_step']."""
    gbs = max(1, int(round(r.global_batch_tokens / r.seq_len)))
    return n_evals * math.ceil(eval_samples / gbs) * float(r.breakdown["eval_step"])


def time_to_train_min(r: TrainResult, train_samples: float, eval_every_samples: float | None = None,
                      eval_samples: float = 0.0, skip_evals: int = 0) -> dict:
    """MLPerf time-to-train (run_start..run_stop) = training steps + evaluation passes.

    Training: train_samples sequences at the predicted step time (tokens / tokens_per_s).
    Evaluation: num_evaluations(...) passes, each eval_time_s of the validation set.
    Checkpoint loading and warm-up are not modelled (NVIDIA runs warm-up on synthetic data
    before run_start: NeMo `run_warmup_on_synth_data`)."""
    train_s = train_samples * r.seq_len / r.tokens_per_s
    n = num_evaluations(train_samples, eval_every_samples, skip_evals) if eval_every_samples and eval_samples else 0
    ev = eval_time_s(r, eval_samples, n) if n else 0.0
    return {"minutes": (train_s + ev) / 60.0, "train_min": train_s / 60.0, "eval_min": ev / 60.0, "n_evals": n}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _layouts(cfg, num_chips, domain, global_seqs, tp=None, pp=None) -> list[TrainLayout]:
    out = []
    L = cfg.num_hidden_layers
    for t in (1, 2, 4, 8):
        if (tp and t != tp) or t > domain or num_chips % t or cfg.num_attention_heads % t:
            continue
        for pl in (1, 2, 4, 8, 16, 32):
            if (pp and pl != pp) or num_chips % (t * pl) or L % pl:
                continue
            for cp in (1, 2):
                if num_chips % (t * pl * cp):
                    continue
                dp = num_chips // (t * pl * cp)
                if global_seqs % dp:
                    continue
                for mbs in (1, 2, 4):
                    for vp in (1, 2, 3, 4, 6, 12):
                        if vp > 1 and (pl == 1 or (L // pl) % vp):
                            continue
                        for rc in ("none", "selective", "full"):
                            eps = [1] if not cfg.is_moe else [e for e in (1, 2, 4, 8) if e <= t and t % e == 0]
                            for e in eps:
                                out.append(TrainLayout(t, pl, dp, cp, e, vp, mbs, 1, rc))
    return out
