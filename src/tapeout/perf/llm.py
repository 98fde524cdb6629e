"""LLM inference on one node (or several replicas): memory fit, step times, throughput.

Steady state of continuous batching (Yu et al., Orca, OSDI 2022; vLLM, Kwon et al. 2023):
a replica holds B sequences; every decode step emits B tokens; each finished sequence is
replaced by a new request whose prompt is prefilled in chunks between decode steps. With
output length O, B/O requests arrive per step on average, so

    tokens/s per replica = B / (t_decode(B, ctx) + (B/O) * t_prefill_per_request)

with ctx = I + O/2, the mean context over a sequence's life. Memory per chip must hold the
weight shard, the KV cache of B sequences of I+O tokens, and an activation reserve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import TapeoutError, require_positive
from ..hardware.catalog import Chip, get_chip
from ..hardware.params import ChipParams
from ..precision import Precision, get_precision
from ..workloads.llm import LLMStep, build_llm_graph
from ..workloads.llm_config import LLMConfig, load_llm
from .opcost import CostTable, evaluate

USABLE_MEMORY_FRACTION = 0.90  # vLLM gpu_memory_utilization default (docs.vllm.ai, engine args)
ACTIVATION_RESERVE_FRACTION = 0.04  # workspace for activations/graphs, share of capacity (assumption)
PREFILL_CHUNK_TOKENS = 8192  # chunked-prefill token budget per step (vLLM max_num_batched_tokens order)
MAX_BATCH = 4096


@dataclass
class Parallelism:
    tp: int = 1
    ep: int = 1
    dp: int = 1
    pp: int = 1

    def __str__(self) -> str:
        s = f"TP{self.tp}"
        if self.ep > 1:
            s += f" EP{self.ep}"
        if self.pp > 1:
            s += f" PP{self.pp}"
        return s + f" x DP{self.dp}"


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
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def weight_bytes_per_chip(cfg: LLMConfig, pr: Precision, tp: int, ep: int, weight_bytes_factor: float = 1.0) -> float:
    """Weight bytes one chip holds. `weight_bytes_factor` scales all but the embeddings
    (compression: sparsity metadata, group scales), applied by tapeout.quant."""
    full = _weight_bytes_per_chip(cfg, pr, tp, ep)
    if weight_bytes_factor == 1.0:
        return full
    emb = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2) / tp * pr.weight_bytes
    return emb + (full - emb) * weight_bytes_factor


def _weight_bytes_per_chip(cfg: LLMConfig, pr: Precision, tp: int, ep: int) -> float:
    total = cfg.param_count()
    if cfg.is_moe:
        moe_total, _ = cfg.moe_params()
        experts = cfg.n_moe_layers * (moe_total - cfg.hidden_size * cfg.num_experts)
        dense = total - experts
        moe_tp = max(1, tp // ep)
        return dense / tp * pr.weight_bytes + experts / (ep * moe_tp) * pr.weight_bytes
    return total / tp * pr.weight_bytes


def kv_bytes_per_token_per_chip(cfg: LLMConfig, pr: Precision, tp: int) -> float:
    full = cfg.kv_bytes_per_token(pr.kv_bytes)
    if cfg.is_mla:
        return full  # the latent cache is replicated across TP ranks
    local_heads = max(1, cfg.kv_heads // tp)
    return full * local_heads / cfg.kv_heads


def max_batch(cfg, pr, tp, ep, capacity_bytes, seq_tokens, weight_bytes_factor: float = 1.0) -> int:
    usable = capacity_bytes * (USABLE_MEMORY_FRACTION - ACTIVATION_RESERVE_FRACTION)
    free = usable - weight_bytes_per_chip(cfg, pr, tp, ep, weight_bytes_factor)
    per_seq = kv_bytes_per_token_per_chip(cfg, pr, tp) * seq_tokens
    if free <= 0:
        return 0
    return int(min(MAX_BATCH, free // per_seq))


def _step_cost(cfg, pr, par: Parallelism, phase, batch, q_len, context, params: ChipParams, imbalance=1.0, evaluator=None) -> CostTable:
    g = build_llm_graph(cfg, LLMStep(phase, batch, q_len, context, pr, par.tp, par.ep, expert_imbalance=imbalance))
    return (evaluator or evaluate)(g, params)


def _pow2_upto(n: int) -> list[int]:
    out, b = [], 1
    while b < n:
        out.append(b)
        b *= 2
    out.append(n)
    return sorted(set(out))


def parallelism_candidates(cfg: LLMConfig, num_chips: int, domain: int) -> list[Parallelism]:
    cands = []
    for tp in (1, 2, 4, 8, 16, 32, 64):
        if tp > num_chips or num_chips % tp or tp > max(domain, 1) or cfg.num_attention_heads % tp:
            continue
        eps = [1]
        if cfg.is_moe and tp > 1 and cfg.num_experts % tp == 0:
            eps.append(tp)
        for ep in eps:
            cands.append(Parallelism(tp=tp, ep=ep, dp=num_chips // tp))
    return cands


def serve(
    model: str | LLMConfig,
    chip: str | Chip,
    num_chips: int = 1,
    precision: str = "bf16",
    input_len: int = 1024,
    output_len: int = 256,
    batch: int | None = None,
    tp: int | None = None,
    ep: int | None = None,
    kv_precision: str | None = None,
    params: ChipParams | None = None,
    expert_imbalance: float = 1.0,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    evaluator=None,
    weight_bytes_factor: float = 1.0,
) -> ServingResult:
    """Max-throughput serving prediction with automatic parallelism and batch.

    With max_tpot_s / max_ttft_s, only operating points meeting those per-token and
    first-token latencies (steady-state means, not percentiles) are considered."""
    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    require_positive("num_chips", num_chips)
    require_positive("input_len", input_len)
    require_positive("output_len", output_len)
    if batch is not None:
        require_positive("batch", batch)
    pr = precision if isinstance(precision, Precision) else get_precision(precision)
    if kv_precision:
        pr = pr.with_kv(kv_precision)
    p = params if params is not None else c.params()
    if float(np.max(p.peak(_compute_key(pr)))) <= 0:
        raise TapeoutError(
            f"chip '{c.id}' has no {pr.compute} matrix support; choose another --precision "
            f"(supported: {', '.join(k for k in ('fp32','tf32','bf16','fp16','fp8','int8','int4','fp4') if c.supports(k))})."
        )
    domain = int(np.max(p.scaleup_domain))
    if tp is not None:
        require_positive("tp", tp)
        if num_chips % tp:
            raise TapeoutError(f"tp={tp} must divide num_chips={num_chips}.")
        cands = [Parallelism(tp=tp, ep=ep or 1, dp=num_chips // tp)]
    else:
        cands = parallelism_candidates(cfg, num_chips, domain)
        if ep is not None:
            cands = [x for x in cands if x.ep == ep] or [Parallelism(tp=ep, ep=ep, dp=num_chips // ep)]
    cap = float(np.min(p.mem_capacity))
    seq = input_len + output_len
    best: ServingResult | None = None
    fit_msgs: list[str] = []
    slo_misses: list[ServingResult] = []
    for par in cands:
        bmax = max_batch(cfg, pr, par.tp, par.ep, cap, seq, weight_bytes_factor)
        if bmax < 1:
            need = weight_bytes_per_chip(cfg, pr, par.tp, par.ep, weight_bytes_factor) / 2**30
            free = cap / 2**30 * (USABLE_MEMORY_FRACTION - ACTIVATION_RESERVE_FRACTION) - need
            if free > 0:  # the weights fit; one sequence's KV cache does not
                kv = kv_bytes_per_token_per_chip(cfg, pr, par.tp) * seq / 2**30
                fit_msgs.append(f"{par}: weights fit ({need:.1f} GiB/chip) but the KV cache of one {seq:,}-token "
                                f"sequence needs {kv:.1f} GiB/chip of the {free:.1f} GiB left")
                continue
            fit_msgs.append(f"{par}: weights need {need:.1f} GiB/chip of {need + free:.1f} usable (after the activation reserve)")
            continue
        batches = [batch] if batch is not None else _pow2_upto(bmax)
        for b in batches:
            if b > bmax:
                raise TapeoutError(
                    f"batch={b} does not fit: at {par} the KV cache of {seq} tokens/sequence allows at most "
                    f"{bmax} sequences per replica on {c.id} ({cap / 2**30:.0f} GiB). Lower --batch or add chips."
                )
            r = _evaluate_point(cfg, c, pr, par, p, b, input_len, output_len, num_chips, bmax, expert_imbalance,
                                evaluator, weight_bytes_factor)
            if (max_tpot_s and r.tpot_s > max_tpot_s) or (max_ttft_s and r.ttft_s > max_ttft_s):
                slo_misses.append(r)
                continue
            if best is None or r.output_tokens_per_s > best.output_tokens_per_s:
                best = r
    if best is None and slo_misses:
        fastest = min(slo_misses, key=lambda x: x.tpot_s)
        raise TapeoutError(
            f"{cfg.name} on {num_chips} x {c.id} cannot meet the latency bound (TPOT <= {max_tpot_s} s, TTFT <= {max_ttft_s} s): "
            f"best TPOT {fastest.tpot_s:.3f} s, TTFT {fastest.ttft_s:.3f} s at {fastest.parallelism} batch {fastest.batch_size}."
        )
    if best is None:
        raise TapeoutError(
            f"{cfg.name} at {pr.name} does not fit on {num_chips} x {c.id}: " + "; ".join(fit_msgs[:3])
            + ". Use more chips (--num-chips), a smaller precision, shorter sequences, or a chip with more memory."
        )
    return best


def _compute_key(pr: Precision) -> str:
    from ..precision import COMPUTE_PEAK_FIELD

    return COMPUTE_PEAK_FIELD.get(pr.compute, "bf16")


def _evaluate_point(cfg, c, pr, par, p, b, I, O, num_chips, bmax, imbalance, evaluator=None, wfac=1.0) -> ServingResult:
    ctx = I + O // 2
    dec = _step_cost(cfg, pr, par, "decode", b, 1, ctx, p, imbalance, evaluator)
    t_dec = float(np.max(dec.total_time))
    # prefill in chunks of ~PREFILL_CHUNK_TOKENS tokens: nb requests per chunk
    nb = max(1, min(b, PREFILL_CHUNK_TOKENS // I))
    pre = _step_cost(cfg, pr, par, "prefill", nb, I, 0, p, imbalance, evaluator)
    t_pre_chunk = float(np.max(pre.total_time))
    t_pre_req = t_pre_chunk / nb
    one = _step_cost(cfg, pr, par, "prefill", 1, I, 0, p, imbalance, evaluator) if nb > 1 else pre
    ttft = float(np.max(one.total_time))
    step = t_dec + (b / O) * t_pre_req
    per_replica = b / step
    total = per_replica * par.dp
    e_tok = (float(np.max(dec.total_energy)) + (b / O) * float(np.max(pre.total_energy)) / nb) * par.tp / b
    power = e_tok * per_replica / par.tp
    w = weight_bytes_per_chip(cfg, pr, par.tp, par.ep, wfac)
    kv = kv_bytes_per_token_per_chip(cfg, pr, par.tp) * (I + O) * b
    bound = str(dec.dominant_bound()) if np.ndim(dec.dominant_bound()) == 0 else str(dec.dominant_bound().flat[0])
    return ServingResult(
        model=cfg.name, chip=c.id, num_chips=num_chips, precision=pr.name, kv_precision=pr.kv_cache,
        input_len=I, output_len=O, batch_size=b, parallelism=str(par), tp=par.tp, ep=par.ep, dp=par.dp,
        ttft_s=ttft, tpot_s=step, decode_step_s=t_dec, prefill_s_per_request=t_pre_req,
        output_tokens_per_s=total, output_tokens_per_s_per_chip=total / num_chips, bound=bound,
        weights_gib_per_chip=w / 2**30, kv_cache_gib_per_chip=kv / 2**30,
        memory_gib_per_chip=(w + kv) / 2**30 + float(np.min(p.mem_capacity)) * ACTIVATION_RESERVE_FRACTION / 2**30,
        capacity_gib_per_chip=float(np.min(p.mem_capacity)) / 2**30, max_batch_fits=bmax,
        power_w_per_chip=min(power, float(np.max(p.tdp_w))), joules_per_token=e_tok,
    )


def step_costs(model, chip, precision="bf16", phase="decode", batch=1, input_len=1024, output_len=256, tp=1, ep=1, kv_precision=None):
    """The CostTable of one step (for `tapeout explain`)."""
    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    pr = get_precision(precision)
    if kv_precision:
        pr = pr.with_kv(kv_precision)
    par = Parallelism(tp=tp, ep=ep)
    if phase == "decode":
        return _step_cost(cfg, pr, par, "decode", batch, 1, input_len + output_len // 2, c.params())
    return _step_cost(cfg, pr, par, "prefill", batch, input_len, 0, c.params())


def _ceil_div(a, b):
    return int(math.ceil(a / b))
