"""Serving under load: one step-time model, a closed-form steady state and an event-driven
simulation (Poisson arrivals, continuous batching, chunked prefill, paged KV cache).

Step-time model (StepModel). One engine iteration runs `b` decode tokens (context `ctx`)
fused with `c` prefill tokens of requests of prompt length I (Sarathi-Serve / vLLM chunked
prefill, Agrawal et al. OSDI 2024):

    t(b, ctx, c) = L(b + c) + A_dec(b, ctx) + c * A_pre(I) / I

L(n) = every non-attention op (GEMMs, norms, collectives, LM head) for n tokens, A_dec the
decode attention over the KV cache, A_pre(I) the causal attention of one whole prompt.
Each term is the per-op cost model (perf/opcost.py) on the op graph (workloads/llm.py),
with collectives re-timed on the system topology (perf/collectives.py: best of ring /
tree / one-shot / two-shot / in-switch per message size) and MoE layers scaled by the
expected busiest-rank load (perf/moe.py). L is evaluated on a geometric grid of n and
interpolated (cached), so a simulation step costs microseconds.

Paged KV cache (Kwon et al. 2023, vLLM): memory is allocated per token as a sequence grows,
so the steady-state occupancy of a sequence is I + O/2 tokens on average; concurrency is
capped by (usable memory - weights) / (kv bytes per token * (I + O/2)).

Closed form (offline): B sequences in flight; each step emits B tokens and must prefill
B/O new prompts (B*I/O tokens) to keep B constant, so tokens/s = B / t(B, I+O/2, B*I/O).
Pipeline parallelism over pp stages keeps pp micro-batches in flight:
tokens/s = B / t_stage_sum(B/pp).

Offline run (`offline_run`): MLPerf Offline issues every sample at t = 0 and times the whole
query, so the result also pays for per-sample length spread (long answers hold their slots
longer: length-biased KV occupancy) and the drain after the last admission. Simulated
request by request on B slots over measured per-sample lengths (data/mlperf/datasets).

Latency-bounded load (MLPerf Server / Interactive): `max_rate_closed_form` treats admission
as an M/M/1 queue in front of a B-slot batch (service rate mu = B / (O t)) and takes the
highest load whose p99 queueing delay plus prefill time meets the TTFT bound while t meets
the TPOT bound; `simulate` checks it event by event and `max_rate_sim` bisects the
arrival rate on the simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..hardware.topology import Topology
from ..ops import PEAK_KEYS, Collective
from ..workloads.llm import LLMStep, build_llm_graph
from .collectives import collective_time, serving_collective_time, topology_for
from .moe import expected_max_load_factor
from .offline_schedule import KVPool, pool_schedule, slot_schedule
from .beam_prompt import dram_fraction, shared_prompt_time
from .opcost import K_ATTN, CostTable, cta_stream_on, evaluate

GRID_RATIO = 2 ** 0.25  # geometric grid for L(n) (interpolation error < 1% on smooth L)
VECTOR_FALLBACK_RATIO = 1.0 / 16.0  # FP32 vector / BF16 matrix peak: A100 19.5/312, H100 67/989 (datasheets)
LAST_STAGE_OPS = ("final_norm", "lm_head")  # ops of workloads/llm.py that pipeline parallelism places on the last stage


def _row_times(ct: CostTable) -> np.ndarray:
    """Time per instance of each row of an evaluated table (the slowest design point)."""
    return np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1).max(axis=1)


def _node(j: int) -> int:
    """The j-th node of the interpolation grid, round(GRID_RATIO^j) (>= 1; consecutive nodes may repeat)."""
    return max(1, int(round(GRID_RATIO ** j)))


def ensure_vector(p):
    """Chips whose catalog entry lacks an FP32 (vector) peak would make every norm/activation
    infinitely slow; assume 1/16 of the dense BF16 matrix peak (assumption, basis above)."""
    if float(np.min(p.vector_flops)) > 0:
        return p
    return p.replace(vector_flops=np.asarray(p.peak("bf16"), dtype=float) * VECTOR_FALLBACK_RATIO)


def serving_costs(ct: CostTable, topo: Topology, stack: str | None = None) -> CostTable:
    """A serving step's CostTable with its collectives re-timed on the system topology as the
    serving stack (`stack`, None: the default) dispatches them (collectives.serving_collective_time);
    the rest unchanged.
    The engine's step model and `tapeout explain` both read this."""
    time = np.array(ct.time, dtype=float)
    comm = np.array(ct.comm_time, dtype=float)
    for i, op in enumerate(ct.table.ops):
        if isinstance(op, Collective) and op.group > 1:
            time[i] = comm[i] = float(serving_collective_time(op.collective, op.payload_bytes, op.group, topo,
                                                                        stack=stack)[0])
    return replace(ct, time=time, comm_time=comm)


def pp_hops(pp: int, tp: int, domain: int) -> tuple[int, int]:
    """(stage-to-stage hops inside a scale-up domain, hops across domains) of one pipeline.
    Ranks are TP-innermost, PP next (TensorRT-LLM tensorrt_llm/mapping.py: pp group = ranks
    tp apart; vLLM the same), so a domain of `domain` chips holds domain // tp consecutive
    stages and only the hop from its last stage to the next domain's first leaves it."""
    if pp <= 1:
        return 0, 0
    per = domain // tp if 0 < tp <= domain else 0
    across = pp - 1 if per <= 1 else math.ceil(pp / per) - 1
    return pp - 1 - across, across


class StepModel:
    """Step time of a fused decode + chunked-prefill iteration on one model replica."""

    def __init__(self, cfg, params, precision, tp=1, ep=1, pp=1, topo: Topology | None = None,
                 moe_cv: float = 0.0, family: str = "", evaluator=None, encoder_s: float = 0.0, stack: str | None = None,
                 static_ctx: float = 0.0, beam_prompt: tuple[int, float] = (1, 0.0), power=None):
        params = ensure_vector(params)
        # the step's power-capped clock from its average power (perf/step_power.py), where the calibration asks
        # for it (a --kernels calibration with kernel_calibration.STEP_POWER_CLOCK); None: eff_compute's clock
        self.power = power
        # VLM: vision-encoder seconds per prefilled request (perf/vlm.py), spread over the pipeline stages
        self.encoder_s = encoder_s / pp
        self.evaluator = evaluator or evaluate  # graph -> CostTable (tapeout.quant passes a compressed one)
        self.cfg, self.p, self.pr = cfg, params, precision
        self.tp, self.ep, self.pp = tp, ep, pp
        self.topo = topo or topology_for(params, family)
        self.moe_cv = moe_cv
        self.stack = stack  # serving stack dispatching the collectives (perf/stacks.py)
        # static-shape KV cache (perf/stacks.kv_static): decode attention reads every slot's whole padded cache
        self.static_ctx = float(static_ctx)
        # (beams, prompt tokens) whose prompt KV a request's beams read from one set of blocks (perf/beam_prompt.py)
        self.beam_prompt = (int(beam_prompt[0]), float(beam_prompt[1]))
        self._cache: dict = {}

    # ---- one graph evaluation, split into linear / attention parts ----
    def _eval(self, phase: str, batch: int, q_len: int, ctx: int) -> tuple[float, float]:
        key = (phase, batch, q_len, ctx)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ct = self._cost_table(phase, batch, q_len, ctx)  # (its time and energy over clocks too: _curves)
        t, times = ct.table, _row_times(ct)
        # pipeline stages split the decoder layers; the final norm and the LM head run on the last
        # stage only (TensorRT-LLM builds ln_f / lm_head where mapping.is_last_pp_rank(),
        # tensorrt_llm/models/llama/model.py, modeling_utils.py DecoderModelForCausalLM; vLLM where
        # get_pp_group().is_last_rank). Each of the pp micro-batches passes every stage once per
        # step, so the slowest (last) stage sets the pace: a stage is costed as that one.
        per_stage = t.count / np.where(np.isin(np.asarray(t.names), LAST_STAGE_OPS), 1.0, self.pp)
        w = times * per_stage
        attn = t.kind == K_ATTN
        out = (float(w[~attn].sum()), float(w[attn].sum()))
        self._cache[key] = out
        if self.power is not None:
            from .step_power import curves

            # an FP8 attention op at its own MMA efficiency is priced at boost (ChipParams.attn_eff_fp8)
            fp8_attn = np.any(np.asarray(self.p.attn_eff_fp8) > 0)
            boost = (attn & (t.peak_key == PEAK_KEYS.index("fp8"))) if fp8_attn else None
            self._cache[("curves",) + key] = tuple(np.array(curves(ct, rows, per_stage, self.power, boost))
                                                   for rows in (~attn, attn))
        return out

    def _curves(self, phase: str, batch: int, q_len: int, ctx: int) -> tuple:
        """(non-attention, attention) parts of one graph evaluation as (time, energy) over step_power.CLOCKS."""
        key = ("curves", phase, batch, q_len, ctx)
        if key not in self._cache:
            self._eval(phase, batch, q_len, ctx)
        return self._cache[key]

    def _cost_table(self, phase: str, batch: int, q_len: int, ctx: int) -> CostTable:
        """One step's graph, costed, its collectives as the serving stack dispatches them."""
        cfg = self.cfg
        imb = 1.0
        if cfg.is_moe and self.ep > 1:
            imb = expected_max_load_factor(batch * q_len, cfg.num_experts_per_tok, cfg.num_experts, self.ep, self.moe_cv)
        g = build_llm_graph(cfg, LLMStep(phase, batch, q_len, ctx, self.pr, self.tp, self.ep, expert_imbalance=imb))
        return serving_costs(self.evaluator(g, self.p), self.topo, self.stack)

    def _costs(self, phase: str, batch: int, q_len: int, ctx: int):
        """(op table, time per instance of each row) of one step's graph."""
        ct = self._cost_table(phase, batch, q_len, ctx)
        return ct.table, _row_times(ct)

    def _attn_beam_shared(self, batch: int, ctx: int) -> float:
        """Decode attention of `batch` beam rows over `ctx` cached tokens (one stage's share) when the
        beams of a request read their prompt's KV from one set of blocks (self.beam_prompt): each
        attention row's DRAM term at perf/beam_prompt.dram_fraction of its bytes; none off a CTA stream."""
        key = ("beam", batch, ctx)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ct = self._cost_table("decode", batch, 1, ctx)
        rows = len(ct.table)
        per = [np.asarray(a, dtype=float).reshape(rows, -1).max(axis=1) for a in (ct.compute_time, ct.memory_time, ct.time)]
        beams, prompt = self.beam_prompt
        f = 1.0 if np.any(cta_stream_on(self.p)) else dram_fraction(beams, prompt, ctx)
        attn = np.flatnonzero(ct.table.kind == K_ATTN)
        out = sum(float(ct.table.count[i]) * shared_prompt_time(per[0][i], per[1][i], per[2][i], f) for i in attn) / self.pp
        self._cache[key] = out
        return out

    def kernel_spread(self, batch: float, ctx: float) -> float:
        """Sum of the squared time shares of the distinct kernels of a decode step at `batch`
        sequences and `ctx` cached tokens (perf/uncertainty.step_spread): how much of the
        per-kernel scatter survives in the step's time."""
        from .uncertainty import step_spread

        key = ("spread", int(max(1, round(batch))), int(max(1, round(ctx / 64.0) * 64)))
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = step_spread(*self._costs("decode", key[1], 1, key[2]))
        return hit

    @staticmethod
    def _grid(n: float) -> tuple[int, int, float]:
        n = max(float(n), 1.0)
        k = math.floor(math.log(n) / math.log(GRID_RATIO))
        # one fixed node set g(j) = round(r^j) for every n: lo the largest node <= n, hi the next one. The rounded
        # nodes must bracket n (round(r^k) can exceed n, round(r^(k+1)) fall short of it: e.g. n = 1.75 between
        # 1.68 and 2), and an off-grid node (ceil(n)) used on one side of a node but not the other made the
        # interpolated curve non-monotone (45.25 prompts priced above 46.25 across a wave step at 46).
        while k > 0 and _node(k) > n:
            k -= 1
        while _node(k + 1) <= n:
            k += 1
        lo, hi = _node(k), _node(k + 1)
        return lo, hi, min(max((n - lo) / (hi - lo), 0.0), 1.0)

    def _time_part(self, phase: str, batch: int, q_len: int, ctx: int, part: int):
        """One graph evaluation's non-attention (part 0) or attention (1) time, at eff_compute's clock."""
        return self._eval(phase, batch, q_len, ctx)[part]

    def _curve_part(self, phase: str, batch: int, q_len: int, ctx: int, part: int):
        """The same as (time, energy) over step_power.CLOCKS (self.power set)."""
        return self._curves(phase, batch, q_len, ctx)[part]

    def linear(self, n_tokens: float, part=None):
        """L(n): non-attention time for n tokens in one step (per pipeline stage). `part` (internal): the
        getter of one evaluation's value, _time_part (default) or _curve_part (time and energy by clock)."""
        part = part or self._time_part
        if n_tokens <= 0:
            return 0.0
        lo, hi, f = self._grid(n_tokens)
        a = part("decode", lo, 1, 1, 0)
        b = part("decode", hi, 1, 1, 0)
        return a + f * (b - a)

    def attn_decode(self, b: float, ctx: float, part=None):
        part = part or self._time_part
        if b <= 0:
            return 0.0
        ctx = self.static_ctx or ctx
        c = int(max(1, round(ctx / 64.0) * 64))
        lo, hi, f = self._grid(b)
        if self.beam_prompt[0] > 1 and not self.static_ctx and part == self._time_part:  # beams reading one prompt
            a, z = self._attn_beam_shared(lo, c), self._attn_beam_shared(hi, c)  # (perf/beam_prompt.py)
        else:
            a, z = part("decode", lo, 1, c, 1), part("decode", hi, 1, c, 1)
        return a + f * (z - a)

    @staticmethod
    def _prefill_len(prompt_len: float) -> int:
        return int(max(1, round(prompt_len / 16.0) * 16))  # evaluated prompt lengths: a 16-token grid

    def attn_prefill_per_token(self, prompt_len: float, part=None):
        part = part or self._time_part
        I = self._prefill_len(prompt_len)
        return part("prefill", 1, I, 0, 1) / I

    def attn_prefill(self, prompts: float, prompt_len: float, part=None):
        """Context attention of `prompts` prompts of `prompt_len` tokens prefilled in one step (one
        stage's share). The stack runs the step's context requests as one attention kernel per layer
        (TensorRT-LLM GPTAttentionPlugin::enqueueImpl counts the leading context requests and runs
        them in one enqueueSome over their packed tokens, cpp/tensorrt_llm/plugins/gptAttentionPlugin/
        gptAttentionPlugin.cpp; vLLM's varlen FlashAttention likewise), so n prompts cost one kernel at
        batch n (one fixed time, shared waves; interpolated between grid batches as for decode), not n
        batch-1 kernels; AIConfigurator's database times the context op the same way (issue-15 note,
        stop-17). Fewer tokens than one prompt (a chunk) pay their share of one prompt's kernel."""
        part = part or self._time_part
        I = self._prefill_len(prompt_len)
        if prompts <= 1:
            return prompts * prompt_len * self.attn_prefill_per_token(prompt_len, part)
        lo, hi, f = self._grid(prompts)
        a, z = part("prefill", lo, I, 0, 1), part("prefill", hi, I, 0, 1)
        return (a + f * (z - a)) * prompt_len / I  # prompt_len / I: the 16-token grid, as per token

    def prefill_sharing(self, prompts: float, prompt_len: float) -> float:
        """Time saved by prefilling `prompts` prompts of mean length `prompt_len` in one kernel
        instead of one kernel each (offline_run subtracts it from its per-prompt sums)."""
        return prompts * prompt_len * self.attn_prefill_per_token(prompt_len) - self.attn_prefill(prompts, prompt_len)

    def step(self, b_dec: float, ctx: float, c_pre: float = 0.0, prompt_len: float = 1.0) -> float:
        if self.power is not None:  # at the clock its average power sustains (perf/step_power.py)
            return self._step_at_power(b_dec, ctx, c_pre, prompt_len)[1]
        return self._step_ref(b_dec, ctx, c_pre, prompt_len)

    def _step_ref(self, b_dec: float, ctx: float, c_pre: float, prompt_len: float) -> float:
        """One step's time at eff_compute's clock (its parts as evaluated)."""
        t = self.linear(b_dec + c_pre) + self.attn_decode(b_dec, ctx)
        if c_pre > 0:
            t += self.attn_prefill(c_pre / max(prompt_len, 1.0), max(prompt_len, 1.0))
            if self.encoder_s:  # c_pre / prompt_len requests' images encoded in this step
                t += c_pre / max(prompt_len, 1.0) * self.encoder_s
        return t

    def _step_at_power(self, b_dec: float, ctx: float, c_pre: float, prompt_len: float) -> tuple[float, float]:
        """(clock, time) of one step whose clock is set by its average power (self.power; step_power.solve):
        its parts' time and energy over the clock grid summed, the encoder's time added unstretched."""
        from .step_power import solve

        part = self._curve_part
        te = np.zeros((2, 1)) + self.linear(b_dec + c_pre, part) + self.attn_decode(b_dec, ctx, part)
        extra = 0.0
        if c_pre > 0:
            te = te + self.attn_prefill(c_pre / max(prompt_len, 1.0), max(prompt_len, 1.0), part)
            extra = c_pre / max(prompt_len, 1.0) * self.encoder_s
        clock, t = solve(te[0] + extra, te[1], self.power.tdp_w)
        return clock, t

    def clock_ratio(self, b_dec: float, ctx: float, c_pre: float = 0.0, prompt_len: float = 1.0) -> float:
        """A step's time at the clock its average power sustains over its time at eff_compute's clock (1
        without self.power): for callers that sum a step's parts themselves (offline_run)."""
        if self.power is None:
            return 1.0
        key = ("ratio", round(b_dec), round(ctx / 64.0), round(c_pre), round(prompt_len / 16.0))
        hit = self._cache.get(key)
        if hit is None:
            off = self._step_ref(b_dec, ctx, c_pre, prompt_len)
            hit = self._cache[key] = self.step(b_dec, ctx, c_pre, prompt_len) / off if off > 0 else 1.0
        return hit

    def pp_p2p(self, tokens: float) -> float:
        """Activation send/recv between pipeline stages for one micro-batch (all hops)."""
        if self.pp <= 1:
            return 0.0
        hit = self._cache.get(("p2p", tokens))  # the simulated runs ask for the same sizes millions of times
        if hit is None:
            S = tokens * self.cfg.hidden_size * self.pr.residual_bytes
            inside, across = pp_hops(self.pp, self.tp, self.topo.domain)
            t_in = collective_time("send_recv", S, 2, self.topo, stride=1)[0] if inside else 0.0
            t_out = collective_time("send_recv", S, 2, self.topo, stride=max(self.topo.domain, 1))[0] if across else 0.0
            hit = self._cache[("p2p", tokens)] = float(inside * t_in + across * t_out) / self.pp
        return hit


# ----------------------------------------------------------------------------------------
@dataclass
class SteadyState:
    tokens_per_s: float  # output tokens/s of one replica
    batch: int  # sequences in flight
    step_s: float  # time between two tokens of one sequence (TPOT)
    ttft_s: float  # prefill of one prompt (no queueing)
    max_batch: int


def offline_point(sm: StepModel, B: int, I: float, O: float, beams: int = 1) -> SteadyState:
    pp = sm.pp
    mb = max(B / pp, 1.0)
    c = mb * I / O
    t_stage = sm.step(mb * beams, I + O / 2, c, I) + sm.pp_p2p(mb * beams + c)
    step = t_stage * pp  # a sequence advances once per full pipeline pass
    tps = B / step
    ttft = (sm.linear(I) + sm.attn_prefill_per_token(I) * I + sm.encoder_s) * pp
    return SteadyState(tps, B, step, ttft, 0)


def batch_grid(bmax: int) -> list[int]:
    """Candidate batch sizes: bmax divided by powers of GRID_RATIO, down to 1."""
    return sorted({max(1, int(round(bmax / GRID_RATIO ** k))) for k in range(0, 60)} | {bmax})


def offline_best(sm: StepModel, bmax: int, I: float, O: float, beams: int = 1) -> SteadyState:
    best = None
    for B in batch_grid(bmax):
        r = offline_point(sm, B, I, O, beams)
        if best is None or r.tokens_per_s > best.tokens_per_s:
            best = r
    best.max_batch = bmax
    return best


def max_rate_closed_form(sm: StepModel, bmax: int, I: float, O: float, ttft_bound: float,
                         tpot_bound: float | None, beams: int = 1, whole_query_bound: bool = False,
                         chunk_tokens: int = 2048) -> SteadyState | None:
    """Highest output tokens/s meeting p99 TTFT and TPOT bounds (M/M/1 admission queue in
    front of a B-slot continuous batch; p99 of an exponential wait = ln(100) x mean)."""
    best = None
    for B in batch_grid(bmax):
        r = offline_point(sm, B, I, O, beams)
        step = r.step_s
        if tpot_bound is not None and step > tpot_bound:
            continue
        mu = B / (O * step)  # requests/s the batch can complete
        # prompt prefill rides in chunks of `chunk_tokens` alongside decode steps
        t_pre = max(r.ttft_s, math.ceil(I / chunk_tokens) * step)
        budget = (ttft_bound - t_pre) if not whole_query_bound else (ttft_bound - t_pre - O * step)
        if budget <= 0:
            continue
        # M/M/1 waiting time tail: P(W > t) = rho exp(-(mu - lam) t); solve for p99
        lo, hi = 0.0, 1.0
        for _ in range(40):
            rho = (lo + hi) / 2
            lam = rho * mu
            w99 = max(0.0, math.log(100 * rho) / (mu - lam)) if rho > 0.01 else 0.0
            if w99 <= budget:
                lo = rho
            else:
                hi = rho
        rho = lo
        tps = rho * mu * O
        if best is None or tps > best.tokens_per_s:
            best = SteadyState(tps, B, step, t_pre, bmax)
    return best


# ----------------------------------------------------------------------------------------
@dataclass
class OfflineRun:
    """One replica's share of an MLPerf Offline run, simulated request by request."""

    tokens_per_s: float  # generated tokens / wall time of the whole run (drain included)
    samples: int
    steps: int
    wall_s: float
    steady_tokens_per_s: float  # the same run while all B slots are busy (no drain)
    drain_s: float  # time from the last admission to the last completion
    mean_batch: float  # decoding sequences per step, time-averaged
    pauses: int = 0  # requests paused (KV pool full) and later recomputed


def length_biased_occupancy(inputs: np.ndarray, outputs: np.ndarray) -> float:
    """Mean KV tokens one continuous-batching slot holds over time (paged cache). A slot
    holds a request for O steps with I + j tokens at step j, so by the renewal-reward
    theorem the time average is E[I*O + O^2/2] / E[O], not E[I] + E[O]/2: long answers
    occupy their slots longer and weigh more."""
    return sum(length_biased_parts(inputs, outputs))


def length_biased_parts(inputs: np.ndarray, outputs: np.ndarray) -> tuple[float, float]:
    """`length_biased_occupancy` split into its prompt and generated tokens:
    (E[I*O] / E[O], E[O^2/2] / E[O]); a beam-search cache holds the first once per request and
    the second once per beam (serving_memory.kv_tokens_per_request)."""
    i = np.asarray(inputs, dtype=float)
    o = np.asarray(outputs, dtype=float)
    return float((i * o).sum() / o.sum()), float((o * o / 2.0).sum() / o.sum())


def offline_run(sm: StepModel, B: int, inputs: np.ndarray, outputs: np.ndarray, beams: int = 1,
                pool: KVPool | None = None) -> OfflineRun:
    """All requests queued at t = 0 (MLPerf Offline issues one query of every sample), B
    continuous-batching slots; a slot takes the next request in issue order as soon as its
    request finishes. A request starting at step s is prefilled (its first token) in step s
    and decodes in steps s+1 .. s+O-1; all slots advance together, so the schedule in steps
    is exact and only the step durations need the cost model:

        t(n) = L(d_n beams + p_n) + A_dec(d_n beams, ctx_n) + P_n

    with d_n decoding sequences, ctx_n their mean context, p_n prompt tokens prefilled and
    P_n their causal attention time. The run ends when the last request finishes: while
    the last long answers drain, the batch shrinks and the chip idles on weight reads.

    `pool` (the replica's paged KV cache, perf/offline_schedule.KVPool): requests start and
    grow only while their blocks fit, and the newest generating request is paused and later
    recomputed when they do not (offline_schedule.pool_schedule, the stack's capacity
    scheduler); the per-slot schedule is used where it never holds more blocks than the pool
    (then both are the same schedule). None: slots only.

    Pipeline parallelism (pp stages): slot j belongs to micro-batch j mod pp for its lifetime
    (TensorRT-LLM in-flight batching keeps one request set per micro-batch, mNumMicroBatches =
    pp; vLLM's virtual engines one scheduler each), so a step's prompts land in the micro-batches
    whose slots freed. Each micro-batch's stage time is its own L + A_dec + P over the stage's
    layers plus the activation hop; the stages then run as a cyclic flow shop
    (`pipeline_cycle_ends`): a micro-batch enters stage s+1 when it left stage s and stage s+1
    is free, and its next step enters stage 0 only after its sampled tokens left the last
    stage. A heavy (prefill) micro-batch thus stalls the others: the bubble of an unbalanced
    pipeline."""
    ins = np.asarray(inputs, dtype=np.int64)
    outs = np.maximum(np.asarray(outputs, dtype=np.int64), 1)
    n = len(ins)
    B = max(1, min(int(B), n))
    seg = slot_schedule(ins, outs, B)
    dec_k, ctx_k, pre_k, n_pre_k, pre_attn_k = _step_cells(seg, sm.pp, sm)
    if pool is not None:
        tokens = ctx_k.sum(axis=1) + pre_k.sum(axis=1)  # tokens held per step (contexts + prompts)
        held = dec_k.sum(axis=1) + n_pre_k.sum(axis=1)  # requests holding them
        if (pool.bound(tokens, held) > pool.blocks).any():  # the slots alone would overfill the pool
            seg = pool_schedule(ins, outs, B, pool)
            dec_k, ctx_k, pre_k, n_pre_k, pre_attn_k = _step_cells(seg, sm.pp, sm)
    n_steps, pp = dec_k.shape
    dec = dec_k.sum(axis=1)
    stage = np.zeros((n_steps, pp))  # one micro-batch's time on one stage (its share of the layers)
    for m in range(n_steps):
        for k in range(pp):
            b = dec_k[m, k] * beams
            c = pre_k[m, k]
            if b + c <= 0:
                continue
            ctx = ctx_k[m, k] / dec_k[m, k] if dec_k[m, k] > 0 else 0.0
            # the prompts' attention is already one stage's share (StepModel._eval divides by pp)
            pre = pre_attn_k[m, k] - sm.prefill_sharing(n_pre_k[m, k], c / n_pre_k[m, k]) if c > 0 else 0.0
            # at the clock the step's average power sustains (perf/step_power.py; 1 without it)
            clock = sm.clock_ratio(b, ctx, c, c / n_pre_k[m, k]) if c > 0 else sm.clock_ratio(b, ctx)
            stage[m, k] = (sm.linear(b + c) + sm.attn_decode(b, ctx) + pre) * clock + sm.pp_p2p(b + c)
    t = stage[:, 0] if pp == 1 else pipeline_cycle_ends(stage)
    wall = float(t.sum())
    toks = float(outs.sum())
    # steady part: steps before the last admission (every slot busy)
    last_admit = int(seg.start[seg.first].max())
    full = slice(0, max(last_admit, 1))
    emitted = dec + n_pre_k.sum(axis=1)  # decode tokens + first tokens
    steady = float(emitted[full].sum() / max(t[full].sum(), 1e-12))
    return OfflineRun(toks / wall, n, n_steps, wall, steady, float(t[last_admit:].sum()),
                      float((dec * t).sum() / wall), seg.pauses)


def _step_cells(seg, pp: int, sm: StepModel):
    """Per (step, micro-batch) cell of a schedule: decoding sequences, their summed context,
    prompt tokens prefilled, prompts prefilled and the prompts' attention time. A segment decodes
    at steps start < m < end with context prompt + (m - start); its slot's micro-batch is slot mod pp."""
    start, ins, end = seg.start, seg.prompt, seg.end
    n_steps = int(end.max())
    mb = seg.slot % pp
    cells = (n_steps + 1) * pp
    d = np.zeros(cells)
    ctx_base = np.zeros(cells)  # context at m is ins + (m - start); difference arrays over steps
    np.add.at(d, (start + 1) * pp + mb, 1.0)
    np.add.at(d, end * pp + mb, -1.0)
    np.add.at(ctx_base, (start + 1) * pp + mb, (ins - start).astype(float))
    np.add.at(ctx_base, end * pp + mb, -(ins - start).astype(float))
    dec_k = np.cumsum(d.reshape(n_steps + 1, pp), axis=0)[:n_steps]
    ctx_k = np.cumsum(ctx_base.reshape(n_steps + 1, pp), axis=0)[:n_steps] + np.arange(n_steps)[:, None] * dec_k
    pre_k = np.bincount(start * pp + mb, weights=ins.astype(float), minlength=cells)[:n_steps * pp].reshape(n_steps, pp)
    n_pre_k = np.bincount(start * pp + mb, minlength=cells)[:n_steps * pp].reshape(n_steps, pp)
    uniq, inv = np.unique(ins, return_inverse=True)
    attn_pre = np.array([sm.attn_prefill_per_token(float(i)) * float(i) for i in uniq])
    pre_attn_k = np.bincount(start * pp + mb, weights=attn_pre[inv], minlength=cells)[:n_steps * pp].reshape(n_steps, pp)
    return dec_k, ctx_k, pre_k, n_pre_k, pre_attn_k


def pipeline_cycle_ends(stage: np.ndarray) -> np.ndarray:
    """Durations of the steps of a pp-stage pipeline serving pp micro-batches in turn (a
    cyclic flow shop; `stage[m, k]` = micro-batch k's time on any one stage in step m, every
    stage costed as the slowest, the last one with the LM head: StepModel._eval). Micro-batch k of step m enters stage s when it left
    stage s-1 and stage s finished the micro-batch before it; it enters stage 0 when its step
    m-1 left the last stage (its next tokens are sampled there). Returns, per step, the time
    from the previous step's last exit to this one's, so the sum is the wall time. Balanced
    micro-batches give pp x stage per step (no bubble); one heavy micro-batch of time h in a
    step gives up to pp x h."""
    n, pp = stage.shape
    free = np.zeros(pp)  # when each stage is next free
    ready = np.zeros(pp)  # when each micro-batch's previous step left the last stage
    idx = np.arange(pp)
    ends = np.empty(n)
    for m in range(n):
        for k in range(pp):
            tk = stage[m, k]
            # finish at stage s = (s+1) t + max(ready, max_{j<=s} (free_j - j t))  (start = max(prev stage, free))
            free = (idx + 1) * tk + np.maximum(ready[k], np.maximum.accumulate(free - idx * tk))
            ready[k] = free[-1]
        ends[m] = ready.max()
    return np.diff(np.concatenate(([0.0], np.maximum.accumulate(ends))))


# ----------------------------------------------------------------------------------------
@dataclass
class SimResult:
    rate: float
    completed: int
    tokens_per_s: float
    ttft_p50: float
    ttft_p99: float
    tpot_p50: float
    tpot_p99: float
    mean_batch: float
    ttft: np.ndarray = field(repr=False, default=None)
    tpot: np.ndarray = field(repr=False, default=None)


def sample_lengths(n: int, mean: float, max_len: int, rng, shape: float = 2.0) -> np.ndarray:
    """Gamma(shape) lengths with the given mean, clipped to [1, max_len] (assumption: the
    published statistics are means and caps; shape 2 gives a CV of 0.71)."""
    x = rng.gamma(shape, mean / shape, size=n)
    return np.clip(np.rint(x), 1, max_len).astype(int)


def simulate(sm: StepModel, rate: float, inputs: np.ndarray, outputs: np.ndarray, kv_tokens_cap: float,
             max_batch: int = 4096, chunk_tokens: int = 2048, beams: int = 1, seed: int = 0,
             prompt_copies: int | None = None) -> SimResult:
    """Event-driven continuous batching on one replica. Requests arrive as a Poisson
    process of `rate`/s; each engine iteration schedules all running decodes plus up to
    `chunk_tokens` prefill tokens (FCFS); a request is admitted when its KV need (prompt
    + tokens so far, paged) fits `kv_tokens_cap`. A request's prompt is held `prompt_copies`
    times (None: once per beam; 1 where the cache shares it among beams), its generated
    tokens once per beam."""
    pc = beams if prompt_copies is None else prompt_copies
    rng = np.random.default_rng(seed)
    n = len(inputs)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, size=n))
    now = 0.0
    nxt = 0
    waiting: list[int] = []
    prefill_left = {}
    running: list[int] = []  # decoding
    produced = np.zeros(n, dtype=int)
    first = np.full(n, np.nan)
    done = np.full(n, np.nan)
    kv_used = 0.0
    batch_acc = steps = 0
    while True:
        while nxt < n and arrivals[nxt] <= now:
            waiting.append(nxt)
            nxt += 1
        # admit (FCFS) while KV and batch slots allow
        while waiting and len(running) + len(prefill_left) < max_batch:
            r = waiting[0]
            need = inputs[r] * pc + beams
            if kv_used + need > kv_tokens_cap and (running or prefill_left):
                break
            waiting.pop(0)
            prefill_left[r] = int(inputs[r])
            kv_used += need
        if not running and not prefill_left:
            if nxt >= n:
                break
            now = max(now, arrivals[nxt])
            continue
        budget = chunk_tokens
        chunk = 0
        finished_prefill = []
        for r in list(prefill_left):
            if budget <= 0:
                break
            take = min(budget, prefill_left[r])
            prefill_left[r] -= take
            budget -= take
            chunk += take
            if prefill_left[r] == 0:
                finished_prefill.append(r)
        b = len(running)
        ctx = float(np.mean(inputs[running] + produced[running])) if b else 0.0
        mean_I = float(np.mean([inputs[r] for r in finished_prefill])) if finished_prefill else float(np.mean(inputs[:50]))
        dt = sm.step(b * beams, ctx, chunk, mean_I)
        now += dt
        steps += 1
        batch_acc += b
        still = []
        for r in running:
            produced[r] += 1
            kv_used += beams
            if produced[r] >= outputs[r]:
                done[r] = now
                kv_used -= inputs[r] * pc + produced[r] * beams
            else:
                still.append(r)
        running = still
        for r in finished_prefill:
            del prefill_left[r]
            first[r] = now
            produced[r] = 1
            if outputs[r] <= 1:
                done[r] = now
                kv_used -= inputs[r] * pc + beams
            else:
                running.append(r)
    ok = ~np.isnan(done)
    ttft = first[ok] - arrivals[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outputs[ok] > 1, (done[ok] - first[ok]) / np.maximum(outputs[ok] - 1, 1), 0.0)
    span = float(np.nanmax(done) - arrivals[0]) if ok.any() else 1.0
    # measure throughput over the middle of the run (exclude ramp-up and drain)
    toks = float(outputs[ok].sum())
    return SimResult(rate, int(ok.sum()), toks / max(span, 1e-9), float(np.percentile(ttft, 50)),
                     float(np.percentile(ttft, 99)), float(np.percentile(tpot, 50)), float(np.percentile(tpot, 99)),
                     batch_acc / max(steps, 1), ttft, tpot)


def max_rate_sim(sm: StepModel, kv_tokens_cap: float, mean_in: float, mean_out: float, max_in: int, max_out: int,
                 ttft_bound: float, tpot_bound: float | None, n_requests: int = 1000, beams: int = 1,
                 max_batch: int = 4096, chunk_tokens: int = 2048, seed: int = 0, rate_hi: float | None = None,
                 iters: int = 10, prompt_copies: int | None = None) -> tuple[float, SimResult | None]:
    """Bisect the Poisson rate (requests/s) on the simulation for the highest load whose
    p99 TTFT and p99 TPOT meet the bounds. Returns (output tokens/s, last passing run)."""
    rng = np.random.default_rng(seed)
    ins = sample_lengths(n_requests, mean_in, max_in, rng)
    outs = sample_lengths(n_requests, mean_out, max_out, rng)
    if rate_hi is None:
        st = offline_point(sm, max(1, min(max_batch, int(kv_tokens_cap / (mean_in + mean_out / 2)))), mean_in, mean_out, beams)
        rate_hi = 1.5 * st.tokens_per_s / mean_out
    lo, hi, best = 0.0, rate_hi, None
    for _ in range(iters):
        mid = (lo + hi) / 2
        r = simulate(sm, mid, ins, outs, kv_tokens_cap, max_batch, chunk_tokens, beams, seed, prompt_copies)
        ok = r.ttft_p99 <= ttft_bound and (tpot_bound is None or r.tpot_p99 <= tpot_bound)
        if ok:
            lo, best = mid, r
        else:
            hi = mid
    return (lo * float(outs.mean())), best
