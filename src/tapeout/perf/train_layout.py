"""Training layouts: the parallelism rules real frameworks enforce, uneven pipeline stage
splits, the candidate layouts the search tries, and the nearest valid layouts for an error.

Rules (Megatron-Core `parallel_state.initialize_model_parallel` and
`training/arguments.py`; one name each so an error can cite it):
  heads        TP divides the attention heads and the KV heads (query groups) it shards
  chips        TP x PP x CP divides the chip count; DP = chips / (TP PP CP)
  domain       TP stays inside one scale-up (NVLink) domain
  layers       every (virtual) pipeline stage holds a layer, or the first one only the input
               embedding and the last one only the output layer and loss: PP x VP <= layers + 2
               (Megatron-Core `account_for_embedding_in_pipeline_split` /
               `account_for_loss_in_pipeline_split` each add one to num_layers before the split,
               megatron/core/transformer/transformer_block.py; Llama 3, Dubey et al. 2024 Sec. 3.3.2,
               paraphrased: with one layer fewer on the first and the last stage, the first chunk of
               the first stage holds only the embedding and the last chunk of the last stage only the
               output projection and the loss: 126 layers on PP16 x V8)
  batch        the global batch (sequences) is a multiple of DP x micro-batch
               (`get_num_microbatches`: GBS % (MBS x DP) == 0)
  seq          CP splits the sequence into 2 CP load-balanced chunks: seq % (2 CP) == 0
  experts      EP divides the routed experts; the EP group is carved out of the TP x CP x DP
               ranks (Megatron-Core MoE "parallel folding": expert TP x EP x expert DP =
               TP x CP x DP), so EP divides TP x CP x DP and, when larger than TP, is a
               multiple of it; dense models have EP 1
  interleave   virtual stages need PP >= 2 and at least PP micro-batches (interleaved 1F1B)
  shard        hybrid sharded DP (PyTorch HSDP, MaxText ici_fsdp x dcn_data): the ZeRO shard
               group divides DP x CP and needs ZeRO >= 1; the search never picks one (pin it)
Uneven stages: Megatron-Core `decoder_first/last_pipeline_num_layers` and Llama 3 (Dubey et
al. 2024, arXiv:2407.21783 Sec. 3.3.2: 126 layers on PP16, one layer fewer on the first and
the last stage, which hold the embedding and the output layer): middle stages hold
ceil(L / (PP VP)) layers per virtual stage, the first and the last split the remainder.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from ..errors import TapeoutError
from .dualpipe import SCHEDULES, dualpipe_rule

# "dots": XLA's jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims (MaxText remat_policy
# "minimal"): a run's own setting, pinned, never searched (Megatron stacks offer none, selective, full).
# "dots-except-ffn1": a save_only_these_names policy that keeps the dot outputs but the FFN1 (MLP up-projection)
# output, which the backward recomputes with the rest: Praxis AutodiffCheckpointType.SAVE_DOT_EXCEPT_LOGITS_FFN1
# (google/praxis praxis/layers/checkpoint_policy.py @1e634344: 'combined_qkv_proj', 'query_proj', 'value_proj',
# 'key_proj', 'context', 'out_proj', 'ffn2'), the save_dot_except_logits_ffn1 of Google's MLPerf v4.0 GPT-3 MaxText
# scripts (its MaxText f586e43 body is not stored), and the same set in MaxText's stored save_dot_except_mlpwi
# (AI-Hypercomputer/maxtext MaxText/layers/models.py get_remat_policy: 'query_proj', 'value_proj', 'key_proj',
# 'qkv_proj', 'out_proj', 'mlpwo'; 'mlpwi' is FFN1); pinned, never searched (memory: train_memory.dot_output_bytes_per_token;
# time: the FFN1 GEMM's forward on top of dots' reruns, perf/training.py)
DOTS_EXCEPT_FFN1 = "dots-except-ffn1"
RECOMPUTE = ("none", "selective", "full", "dots", DOTS_EXCEPT_FFN1)
SEARCHED_RECOMPUTE = ("none", "selective", "full")
# Megatron-Core's partial recompute, "block:k": --recompute-granularity full --recompute-method block
# --recompute-num-layers k. TransformerBlock._checkpointed_forward (NVIDIA/Megatron-LM
# megatron/core/transformer/transformer_block.py, stored versions @767a8a81 and @0034bda6, the
# `elif self.config.recompute_method == 'block'` branch): for l in range(num_layers_per_pipeline_rank),
# layers l < recompute_num_layers run under tensor_parallel.checkpoint (keep only their input, rerun
# their forward in the backward), the rest run plainly (keep all their activations). A TransformerBlock
# is one model chunk (one virtual stage), so k counts per chunk. ("uniform" checkpoints every layer in
# groups of k: the whole forward again, what "full" prices.) The search takes the smallest k that fits
# where full recompute would otherwise be chosen (perf/training.py `_block_twin`).
BLOCK = "block"


def block_layers(recompute: str) -> int | None:
    """k of a "block:k" recompute (layers recomputed per model chunk), None for any other value
    (or a malformed one: broken_rule / check_recompute name it)."""
    m = isinstance(recompute, str) and re.fullmatch(rf"{BLOCK}:(\d+)", recompute)
    return int(m.group(1)) if m else None


def check_recompute(recompute: str | None, field: str = "--recompute") -> None:
    """One error naming the field when `recompute` is neither a RECOMPUTE value nor "block:k", k >= 1
    (k below the layers per chunk is checked against the layout: broken_rule)."""
    if recompute is None or recompute in RECOMPUTE:
        return
    k = block_layers(recompute)
    if k is None or k < 1:
        raise TapeoutError(f"{field} must be one of {', '.join(RECOMPUTE)} or {BLOCK}:k (Megatron-Core "
                           f"--recompute-method block --recompute-num-layers k, k >= 1 layers per model chunk), "
                           f"got '{recompute}'.")


def check_schedule(schedule: str | None, field: str = "--pipeline-schedule") -> None:
    """One error naming the field when `schedule` is not a pipeline schedule of SCHEDULES (interleaved 1F1B is
    "1f1b" with VP > 1, perf/pipeline_sim.py), before any layout is searched."""
    if schedule is None or schedule in SCHEDULES:
        return
    raise TapeoutError(f"{field} must be one of {', '.join(SCHEDULES)} (interleaved 1F1B: 1f1b with --vp > 1), "
                       f"got {schedule!r}.")


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
    shard: int = 0  # ZeRO shard group in DP x CP ranks (hybrid sharded DP); 0: the whole DP x CP group
    schedule: str = "1f1b"  # pipeline schedule: "1f1b" (Megatron-Core, interleaved when vp > 1) or "dualpipe" (perf/dualpipe.py)

    def __str__(self):
        s = f"TP{self.tp} PP{self.pp}" + (f"(v{self.vp})" if self.vp > 1 else "") + f" DP{self.dp}"
        if self.cp > 1:
            s += f" CP{self.cp}"
        if self.ep > 1:
            s += f" EP{self.ep}"
        s += f" mbs{self.mbs} ZeRO-{self.zero}" + (f"/shard{self.shard}" if self.shard else "")
        return s + f" recompute={self.recompute}" + (f" schedule={self.schedule}" if self.schedule != "1f1b" else "")


def chunk_layers(L: int, pp: int, vp: int = 1) -> list[int]:
    """Layers of each of the pp vp virtual stages (model chunks), in order; chunk c lives on device
    c mod pp. Middle chunks hold n = ceil(L / (pp vp)); the first and the last split what is left
    (Llama 3 / Megatron-Core first/last-stage layer counts); when that is negative the split is
    near-equal."""
    chunks = pp * vp
    n = math.ceil(L / chunks)
    if chunks == 1:
        per = [L]
    elif L % chunks == 0:
        per = [n] * chunks
    else:
        rest = L - (chunks - 2) * n
        if rest >= 0:
            per = [rest // 2] + [n] * (chunks - 2) + [rest - rest // 2]
        else:
            q, r = divmod(L, chunks)
            per = [q + (1 if c < r else 0) for c in range(chunks)]
    return per


def stage_layers(L: int, pp: int, vp: int = 1) -> list[int]:
    """Layers held by each of the `pp` devices (all its `vp` virtual stages together, chunk_layers)."""
    dev = [0] * pp
    for c, k in enumerate(chunk_layers(L, pp, vp)):
        dev[c % pp] += k
    return dev


def recompute_split(lay, L: int) -> tuple[str, list[int]]:
    """(kind, counts): the recompute the recomputed layers run (a RECOMPUTE value) and, per device, how
    many of its layers run it; the device's other layers recompute nothing. Every layer for none /
    selective / full / dots / dots-except-ffn1; for "block:k" the first min(k, layers) layers of each of the device's
    chunks, as "full" (Megatron-Core `_checkpointed_forward`, BLOCK)."""
    k = block_layers(lay.recompute)
    if k is None:
        return lay.recompute, stage_layers(L, lay.pp, lay.vp)
    dev = [0] * lay.pp
    for c, n in enumerate(chunk_layers(L, lay.pp, lay.vp)):
        dev[c % lay.pp] += min(k, n)
    return "full", dev


def microbatches(global_seqs: int, dp: int, mbs: int) -> int | None:
    """Micro-batches per step, or None when GBS is not a multiple of DP x MBS."""
    if global_seqs % (dp * mbs):
        return None
    return global_seqs // (dp * mbs)


def sequences(n: int) -> str:
    """'1 sequence', '2,048 sequences': a global batch in the refusals' words."""
    return f"{n:,} sequence" + ("" if n == 1 else "s")


def broken_rule(cfg, lay: TrainLayout, num_chips: int, global_seqs: int, seq: int, domain: int) -> str | None:
    """The first rule `lay` breaks, as one phrase naming it, or None when it is valid."""
    if cfg.num_attention_heads % lay.tp or (cfg.kv_heads >= lay.tp and cfg.kv_heads % lay.tp):
        return f"heads: TP {lay.tp} must divide the {cfg.num_attention_heads} attention heads and {cfg.kv_heads} KV heads"
    if lay.tp > domain:
        return f"domain: TP {lay.tp} must stay inside the {domain}-chip scale-up domain"
    if num_chips % (lay.tp * lay.pp * lay.cp) or lay.dp * lay.tp * lay.pp * lay.cp != num_chips:
        return f"chips: TP x PP x CP x DP must equal the {num_chips} chips"
    L = cfg.num_hidden_layers
    if lay.pp * lay.vp > L + 2:
        return (f"layers: PP x VP = {lay.pp * lay.vp} virtual stages exceed the {L} layers plus the embedding "
                f"and the loss stage")
    if seq % (2 * lay.cp) and lay.cp > 1:
        return f"seq: CP {lay.cp} needs seq_len {seq} divisible by 2 x CP"
    if cfg.is_moe:
        fold = lay.tp * lay.cp * lay.dp
        if cfg.num_experts % lay.ep or fold % lay.ep or (lay.ep > lay.tp and lay.ep % lay.tp):
            return (f"experts: EP {lay.ep} must divide the {cfg.num_experts} experts and TP x CP x DP = {fold} "
                    f"(and be a multiple of TP when larger)")
    elif lay.ep != 1:
        return f"experts: {cfg.name} is dense; EP must be 1"
    m = microbatches(global_seqs, lay.dp, lay.mbs)
    if m is None:
        return (f"batch: global batch of {sequences(global_seqs)} must be a multiple of DP x micro-batch = "
                f"{lay.dp} x {lay.mbs}")
    if lay.schedule not in SCHEDULES:
        return f"schedule: pipeline schedule {lay.schedule!r} must be one of {', '.join(SCHEDULES)}"
    if lay.schedule == "dualpipe" and dualpipe_rule(lay.pp, m, lay.vp):
        return dualpipe_rule(lay.pp, m, lay.vp)
    if lay.vp > 1 and (lay.pp < 2 or m < lay.pp):
        return f"interleave: {lay.vp} virtual stages need PP >= 2 and >= PP micro-batches (have {m})"
    k = block_layers(lay.recompute)
    if (lay.recompute not in RECOMPUTE and (k is None or k < 1)) or lay.zero not in (0, 1, 2, 3):
        return f"recompute must be one of {', '.join(RECOMPUTE)} or {BLOCK}:k, and ZeRO stage 0-3"
    n = max(chunk_layers(L, lay.pp, lay.vp)) if k is not None else 0
    if k is not None and k >= n:
        return (f"recompute: {lay.recompute} recomputes k layers of each model chunk and needs 1 <= k < the "
                f"{n} layers per chunk of PP {lay.pp} x VP {lay.vp} (k = {n} is full recompute: use full)")
    if lay.shard and (lay.zero < 1 or (lay.dp * lay.cp) % lay.shard or lay.shard < 1):
        return (f"shard: a ZeRO shard group of {lay.shard} must divide DP x CP = {lay.dp * lay.cp} and needs "
                f"ZeRO stage >= 1")
    return None


def even_stages(L: int, pp: int, vp: int = 1) -> bool:
    """Every device and every virtual stage holds the same number of layers: L % pp == 0 and
    (L / pp) % vp == 0. Megatron-LM / NeMo 1.x assert both ('num_layers must be divisible by
    transformer_pipeline_model_parallel_size', _get_num_layers; 'Make sure the number of model chunks
    is the same across all pipeline stages'); stacks that split first/last stages unevenly do not
    (stage_layers)."""
    return pp <= 1 or (L % pp == 0 and (L // pp) % vp == 0)


def _divisors_upto(n: int, cap: int) -> list[int]:
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def virtual_stage_options(L: int, pp: int) -> list[int]:
    """The virtual pipeline sizes the search tries for `L` layers on `pp` devices: every VP the
    `layers` rule admits, 1 .. floor((L + 2) / pp). Megatron-Core's `pipeline_model_parallel_layout`
    (MR 2795, "flexible asymmetric VPP with custom PP layout") places any number of layers, the
    embedding and the loss in each virtual stage, so no VP in that range is refused for divisibility;
    the older `--num-layers-per-virtual-pipeline-stage` path needs VP to divide each stage's layers,
    which `even_stages` checks for the stacks that run it (even_pipeline). One device: no interleaving."""
    return list(_vp_range(L, pp))


def _vp_range(L: int, pp: int) -> range:
    """virtual_stage_options as a range: its size is known without listing it (search_size)."""
    return range(1, (L + 2) // pp + 1) if pp > 1 else range(1, 2)


def _replica_grid(cfg, num_chips: int, seq: int, fixed: dict, why: Counter | None = None):
    """(TP, CP, PP) of the search's grid (pinned values where `fixed` has them) whose product divides
    `num_chips` at the TP x CP level; `why` counts the TP x CP pairs the chip count cannot hold."""
    def opts(name, default):
        return [fixed[name]] if fixed.get(name) is not None else default

    for t in opts("tp", [1, 2, 4, 8]):
        for cp in opts("cp", [c for c in (1, 2, 4, 8) if c == 1 or seq >= 2048 * c]):
            if num_chips % (t * cp):
                if why is not None:
                    why["chips"] += 1
                continue
            for pl in opts("pp", _divisors_upto(num_chips // (t * cp), min(cfg.num_hidden_layers, 64))):
                yield t, cp, pl


def candidate_layouts(cfg, num_chips: int, domain: int, global_seqs: int, seq: int, fixed: dict | None = None,
                      check: bool = True, recompute_options=SEARCHED_RECOMPUTE) -> tuple[list[TrainLayout], Counter]:
    """Layouts the search tries (valid ones when `check`), and how many broke each rule.

    `fixed` pins fields (tp, pp, cp, ep, vp, mbs, zero, recompute) to the user's values; `recompute_options`:
    the recompute kinds tried where it is not pinned (a stack's own, perf/recompute_gate.RecomputeGate.searched)."""
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    n = search_size(cfg, num_chips, seq, fixed, recompute_options)
    if n > SEARCH_LIMIT:
        L = cfg.num_hidden_layers
        raise TapeoutError(f"the layout search for {cfg.name} on {num_chips} chips would check {n:,} candidate layouts "
                           f"(every VP 1 .. (layers + 2) / PP of each PP, for its {L:,} layers), more than the "
                           f"{SEARCH_LIMIT:,} it checks (perf/train_layout.SEARCH_LIMIT): check field "
                           f"'num_hidden_layers' of the model config, or pin --pp and --vp.")
    out, why = [], Counter()
    for t, cp, pl in _replica_grid(cfg, num_chips, seq, fixed, why):
        dp = num_chips // (t * pl * cp) if num_chips % (t * pl * cp) == 0 else 0
        eps, mbss, vps, zeros, rcs = _grid_options(cfg, pl, fixed, recompute_options)
        sched = fixed.get("schedule", "1f1b")
        for e in eps:
            for mbs in mbss:
                for vp in vps:
                    for z in zeros:
                        for rc in rcs:
                            lay = TrainLayout(t, pl, max(dp, 1), cp, e, vp, mbs, z, rc,
                                              fixed.get("shard", 0), sched)
                            bad = broken_rule(cfg, lay, num_chips, global_seqs, seq, domain) if check else None
                            if bad:
                                why[bad.split(":")[0]] += 1
                                continue
                            out.append(lay)
    return out, why


# The most candidate layouts one search checks. A tool budget, not a model bound: the search prices about
# 2,500 candidates a second on one core (measured here: DeepSeek-V3 on 2,048 H800, 25,056 candidates, 10 s;
# Llama 3.1 405B on 16,384 H100, 13,824, 3 s), so 250,000 is ~100 s; a layer count of 10^6 asks for millions
# (and 10^12 for more than memory holds: a MemoryError before this check).
SEARCH_LIMIT = 250_000


def _grid_options(cfg, pl: int, fixed: dict, recompute_options) -> tuple:
    """The EP, micro-batch, VP, ZeRO and recompute values the search tries at PP `pl` (pinned ones alone)."""
    def opts(name, default):
        return [fixed[name]] if name in fixed else default

    eps = [e for e in (1, 2, 4, 8, 16, 32, 64, 128, 256) if e <= cfg.num_experts] if cfg.is_moe else [1]
    vps = [1] if fixed.get("schedule", "1f1b") == "dualpipe" else _vp_range(cfg.num_hidden_layers, pl)
    return (opts("ep", eps), opts("mbs", [1, 2, 4] if not cfg.is_moe else [1, 2]), opts("vp", vps),
            opts("zero", [1, 3] if pl == 1 and not cfg.is_moe else [1]), opts("recompute", list(recompute_options)))


def search_size(cfg, num_chips: int, seq: int, fixed: dict | None = None, recompute_options=SEARCHED_RECOMPUTE) -> int:
    """How many layouts candidate_layouts would build (valid or not), counted without building them."""
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    return sum(math.prod(len(o) for o in _grid_options(cfg, pl, fixed, recompute_options))
               for _, _, pl in _replica_grid(cfg, num_chips, seq, fixed))


NUMERIC_FIELDS = ("tp", "pp", "cp", "ep", "vp", "mbs")
PINNABLE = NUMERIC_FIELDS + ("zero", "recompute", "shard")


def _distance(a: TrainLayout, b: TrainLayout, fields=NUMERIC_FIELDS) -> float:
    return sum(abs(math.log2(getattr(a, k)) - math.log2(getattr(b, k))) for k in fields)


@dataclass
class Nearest:
    """The valid layouts nearest to a refused one, and the pinned fields every one of them changes
    (empty: each keeps every value the user pinned)."""
    layouts: list[TrainLayout]
    changed: tuple[str, ...] = ()

    def pinned_note(self, want: TrainLayout) -> str:
        """'' when the layouts keep every pinned value, else the pinned values they had to change."""
        if not self.changed:
            return ""
        vals = ", ".join(f"{k.upper() if k in NUMERIC_FIELDS else k} {getattr(want, k)}" for k in self.changed)
        return f"no valid layout found keeps your pinned {vals}; these change {'it' if len(self.changed) == 1 else 'them'}"


def nearest_layouts(cfg, want: TrainLayout, num_chips: int, domain: int, global_seqs: int, seq: int,
                    k: int = 3, keep=None, tries: int = 4000, pinned=PINNABLE) -> Nearest:
    """Up to k valid layouts closest to `want`; with `keep` (e.g. "fits in memory") only those it
    accepts, among the `tries` closest (4000: the grid holds every VP up to (L + 2) / PP, and a memory
    check prices no step, perf/training.py `fits`).

    `pinned`: the fields the user set (a whole given layout pins them all). The search varies what is
    not pinned first (recompute and ZeRO included): layouts are ranked by how many pinned values they
    change, then by log-distance over the pinned sizes, then over all of TP, PP, CP, EP, VP, MBS. Every
    layout returned changes the same pinned fields (Nearest.changed), those of the best one found."""
    pinned = tuple(f for f in PINNABLE if f in pinned)
    # the search's grid, plus the pinned values themselves where they lie off it (e.g. VP 5): each alone
    # and all together, so a valid layout keeping them is among the candidates
    fixes = [{}, {f: getattr(want, f) for f in pinned}] + [{f: getattr(want, f)} for f in pinned]
    # the schedule is kept as asked (a suggestion changes the split, never the schedule)
    lays = [lay for fx in fixes for lay in candidate_layouts(cfg, num_chips, domain, global_seqs, seq,
                                                             {"shard": want.shard, "schedule": want.schedule, **fx})[0]]
    if want.shard:  # a pinned shard group that no layout admits: offer the whole-group ZeRO too
        lays += candidate_layouts(cfg, num_chips, domain, global_seqs, seq, {"schedule": want.schedule})[0]
    order = {r: i for i, r in enumerate(SEARCHED_RECOMPUTE)}

    def changed(lay):
        return tuple(f for f in pinned if getattr(lay, f) != getattr(want, f))

    def rank(lay):
        return (len(changed(lay)), _distance(lay, want, [f for f in pinned if f in NUMERIC_FIELDS]),
                _distance(lay, want), abs(order.get(lay.recompute, 0) - order.get(want.recompute, 0)), lay.zero)

    seen, sizes, out, first = set(), set(), [], None
    for lay in sorted(lays, key=rank):
        s = str(lay)
        if s in seen:
            continue
        seen.add(s)
        size = (lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vp, lay.mbs)  # one suggestion per split of the chips
        if size not in sizes and (first is None or changed(lay) == first) and (keep is None or keep(lay)):
            first = changed(lay)
            sizes.add(size)
            out.append(lay)
        if len(out) == k or len(seen) >= tries:
            break
    return Nearest(out, first or ())


def _minimal(fixed: dict | None) -> dict:
    """The pins that make a layout search cheapest and a layout's memory smallest (no interleaving, one
    sequence per micro-batch, full recompute) under the user's own pins `fixed`, which win: a nearby size
    admits a layout the user can run if it admits one of these."""
    return {"vp": 1, "mbs": 1, "zero": 1, "recompute": "full", **(fixed or {})}


def nearest_chip_counts(cfg, num_chips: int, domain: int, global_seqs: int, seq: int, fixed: dict | None = None,
                        span: int = 4096, keep=None) -> list[int]:
    """The nearest chip counts below and above `num_chips` that admit a valid layout (one `keep(layout,
    chips)` accepts, e.g. the stack's even stages or the memory check, where given)."""
    found = []
    for direction in (-1, 1):
        for d in range(1, span):
            n = num_chips + direction * d
            if n < 1:
                break
            if any(keep is None or keep(lay, n) for lay in candidate_layouts(cfg, n, domain, global_seqs, seq,
                                                                          _minimal(fixed))[0]):
                found.append(n)
                break
    return found


def nearest_global_batches(cfg, num_chips: int, domain: int, global_seqs: int, seq: int, fixed: dict | None = None,
                           bounds: tuple[int, int] | None = None, keep=None, k: int = 3) -> list[tuple[int, TrainLayout]]:
    """Up to `k` global batches (sequences) nearest to `global_seqs`, inside `bounds` (the batches the
    run may choose, both ends included; None: 1 .. 4 x global_seqs), that admit a valid layout on
    `num_chips` which `keep(layout, batch)` accepts; each with the first such layout found."""
    lo, hi = bounds or (1, 4 * global_seqs)
    # only a multiple of some DP x micro-batch of the grid can pass the batch rule: try those alone, nearest
    # first (the lower of two at the same distance first), so a chip count far beyond the batch (10^8 chips)
    # is answered from a handful of candidates instead of a layout search per batch in the range
    pinned = {kk: v for kk, v in (fixed or {}).items() if v is not None}
    mbs_opts = [pinned["mbs"]] if "mbs" in pinned else [1, 2, 4]
    steps = {num_chips // (t * cp * pl) * m for t, cp, pl in _replica_grid(cfg, num_chips, seq, pinned)
             if num_chips % (t * cp * pl) == 0 for m in mbs_opts}
    batches = sorted({g for s in steps for g in range(-(-lo // s) * s, hi + 1, s)} - {global_seqs},
                     key=lambda g: (abs(g - global_seqs), g))
    out = []
    for g in batches:
        lay = next((x for x in candidate_layouts(cfg, num_chips, domain, g, seq, _minimal(fixed))[0]
                    if keep is None or keep(x, g)), None)
        if lay is not None:
            out.append((g, lay))
            if len(out) == k:
                return out
    return out
