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
  attention core at the stack's attention library's rate (perf/train_attention.py: cuDNN, the
           calibrated one, or flash-attn 2 at its measured rate relative to cuDNN on the chip)
  recompute: full adds F; selective adds the attention core (Korthikanti et al. 2022)
  sequence parallelism (TP > 1, every Megatron/NeMo and MaxText stack on file): the norms between
           the TP blocks on the rank's T/TP-token shard (perf/sequence_parallel.py); each TP all-reduce
           becomes a reduce-scatter + all-gather, the gathers in FP8 where the stack's TE modules
           gather the FP8 GEMM operands (quantized_gathers; perf/train_recipe.gather_bytes)
  wgrad accumulation into the gradient buffer (Megatron/TE gradient_accumulation_fusion, beta = 1):
           the C read + D write in the buffer dtype beyond the calibrated BF16 store, exposed by the
           chip's epilogue_exposed (perf/train_backward.wgrad_accumulate_time; 0 in the default
           calibration, whose GEMM rate carries its own epilogue, and on chips whose cores hold two
           or more accumulator tiles, opcost.accumulator_stages)
  TP collectives run after their GEMMs, or overlapped with them as the run's stack does it
  (`tp_overlap`: Transformer Engine userbuffers, perf/tp_overlap.py, with the SMs it takes; without it
  the backward's async TP collectives on the TP communicator's `tp_comm_ctas`, perf/tp_backward.py)
  GEMMs at the fitted calibration's clock; the board's power-capped sustained clock behind
  perf/train_clock.SUSTAINED_CLOCK (off: the fit's bursts and the law would cap some chips twice), the die's
  measured sustained MSMF as a ceiling behind SUSTAINED_CEILING (on)
Step = (m + (p-1)/v) x (F + B) + exposed pipeline sends + exposed DP communication + optimizer
  pipeline sends (perf/pipeline_p2p.py): all of them when blocking; under overlap_p2p_comm the
  fill/drain hops and the loop-backs to the first device that the schedule's group of N = PP
  micro-batches leaves no slack for (2 (p v - 1) hops at Megatron-Core's default); a later release's
  held sends when the stack sets p2p_blocking_warmup / p2p_forward_send_wait (else the notes say
  what they would add)
  pipeline bubble fraction (p-1)/(v m + p - 1) (1F1B, Narayanan et al. 2021; v = 1 gives
  (p-1)/(m+p-1))
  DP gradient reduce-scatter + parameter all-gather (ZeRO-1 / distributed optimizer) of the
  stage's parameters, one collective per bucket of the stack's bucket rule, the ring latency paid
  per bucket or, for a chunk's coalesced Apex group, per pass of its busiest NCCL channel
  (perf/dp_buckets.py), overlaps the last micro-batch's backward: exposed = max(0, t_dp - B);
  (ZeRO-0 under a stack that all-reduces after the backward, `grad_sync_after_backward`: all of t_dp;
  ZeRO-2/3 whose collectives run on the compute stream, `zero_overlap_comm` False: m x (t_rs + t_ag) + m x t_ag
  for ZeRO-3, m x t_rs for ZeRO-2's reduce-scatters);
  interleaved (v > 1), chunk by chunk behind the other chunks' backward passes of the drain
  (Megatron-Core overlap_grad_reduce per model chunk, `chunked_exposure`), the all-gather
  likewise behind the next step's forwards; under NeMo's Apex DistributedFusedAdam (apex bucket rule)
  chunk 0's all-gather runs before the first forward and each later one hides behind the group's
  forwards of the chunk before it (perf/dp_buckets.apex_param_gather_exposed).
  optimizer: the stack's weight update on the rank's shard of the trainable parameters, memory-bound
  (perf/weight_update.py at data/software/llm_weight_update.yaml: Megatron-Core distributed Adam 38 B
  per parameter with an FP32 gradient buffer, Apex DistributedFusedAdam 30 B with BF16 gradients (the
  NeMo MLPerf stacks), MaxText AdamW 32 B under XLA).
  FP8 delayed scaling with reduce_amax: (m + (p-1)/v) x 2 x v blocking amax all-reduces over the stage's
  TP x DP x CP ranks (perf/fp8_amax.py; `fp8_reduce_amax`).
  Tied word embeddings with PP > 1: the first-last stage gradient all-reduce, and under Apex
  buckets that weight's deferred DP reduce-scatter, both exposed after the drain (perf/dp_buckets).
  Context parallelism: TE's per-ring-step output / LSE merges and dQ / dKV accumulations
  (perf/cp_correction), memory-bound, in the layer's forward and backward.
  Hybrid sharded DP (`shard`: PyTorch HSDP, MaxText FSDP per slice x DCN data parallelism):
  ZeRO collectives over the shard group, then one all-reduce of the gradient shard across the
  DP x CP / shard replicas, exposed = max(0, t_x - B).
  An overlapped DP / CP collective on `comm_ctas` cores slows the compute hiding it:
  exposed = max(exposed, share x t_comm) (perf/comm_contention.py; 0 CTAs by default), the share
  1 - F / F_beside (all-gather) or 1 - B / B_beside (reduce-scatter, CP ring: attention's), the
  kernels' waves over the cores left (perf/comm_waves.py; none on a chip whose collectives do not
  run on its cores, chip data collectives_on_cores). Per-tile GEMM grids in the point; persistent
  grids (not on file for any stack) widen the interval's upper end.
Memory per chip (bytes; Rajbhandari et al. 2020 ZeRO; Korthikanti et al. 2022 Table 2):
  parameters 2 P/(tp pp), gradients 4 P/(tp pp) (fp32 main grads by default, train_memory.GRAD_SYNC_BYTES), Adam states 12 P/(tp pp) (fp32
  master + m + v) divided by dp for ZeRO stage >= 1 (states), >= 2 (gradients), 3 (params)
  activations per layer per micro-batch  s b h (34 + 5 a s / h) / tp      (no recompute,
                                          with sequence parallelism: both terms / tp)
                                         s b h 34 / tp                    (selective)
                                         2 s b h / tp                     (full: layer input)
  times the layers a device holds and the micro-batches in flight on it under Megatron-Core's 1F1B
  or interleaved schedule (train_memory.in_flight_passes); 34 is
  Korthikanti's GPT count, each model takes its own (train_memory.saved_bytes_per_token: GQA,
  gated MLP width, MoE experts per token, no dropout masks).
Precision recipes (perf/train_recipe.py, data/precision/training_recipes.yaml: bf16, fp8 =
TE delayed scaling, fp8-current, mxfp8, nvfp4) generalise the FP8 one below (extra amax
passes, block-scale bytes, NVFP4's BF16 layers and Hadamard work); the chip's formats resolve
through formats.plan as in serving. FP8 (NVIDIA Transformer Engine recipe, precision 'fp8'): only the Linear-layer GEMMs of the
transformer layers run in FP8. The attention core (cuDNN/FlashAttention) stays BF16 unless
the run enables FP8 dot-product attention (`fp8_attention`, TE `fp8_dpa`; NVIDIA MLPerf v4.0
LoRA config sets FP8_DPA=1; then at the calibrated BF16 rate times the chip's measured FP8 attention
speedup, perf/train_attention.fp8_attention_speedup, plus TE's Q/K/V/O and dO/dQ/dK/dV boundary casts of FP8
attention without FP8 MHA, perf/fp8_dpa_casts; a CP > 1 layout on a stack whose context-parallel
ring has no FP8 path, Transformer Engine before 1.10 (PR #1114), runs it BF16: stack fp8_attention_cp,
shown as breakdown['attention_precision']), and the output layer (LM head) stays BF16 (Megatron-core builds
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
one evaluation costs ceil(E / GBS) x (m + (p-1)/v) x F_eval, F_eval = F without recompute; under ZeRO-3 each
micro-batch's forward gathers the parameters again: + m x what its forward does not hide (all of it on the
compute stream, zero_overlap_comm False; perf/zero3_fetch.pass_exposed, EVAL_GATHERS), at least the forward's core
share of it (contended_exposure, as in training).
A stack whose runs cap no NCCL channels (stack setting nccl_default_channels) takes NCCL 2.19's own channel count for
the job's ring as comm_ctas (perf/nccl_channels.py, switch NCCL_DEFAULT_CHANNELS).
MFU = model FLOPs / (step x chips x dense bf16 peak), model FLOPs = 6 N_active T + 12 L h
s T (attention, Chowdhery et al. 2022 PaLM App. B); LoRA: 4 N T (no weight gradients).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .calibration import calibrated_params, calibration_key, engine_params, fallback_calibration_notes
from ..errors import TapeoutError, require_positive
from ..hardware.catalog import Chip, get_chip
from ..hardware.fabric import cluster_fabric
from ..hardware.memory_capacity import GIB
from ..hardware.params import assumed_tdp_notes
from ..hardware.topology import Topology
from ..ops import Attention, Collective, MatMul, OpGraph
from ..workloads.llm import LLMStep, build_llm_graph
from ..workloads.llm_config import LLMConfig, load_llm
from .collectives import collective_time, node_forwarded_all_to_all, topology_for
from .eager_elementwise import chain_graph
from .moe import expected_nodes_per_token
from .zone_share import place_groups
from . import nccl_channels
from .opcost import K_ATTN, K_ELT, K_MATMUL, evaluate
from .train_layout import (DOTS_EXCEPT_FFN1, PINNABLE, TrainLayout, broken_rule, sequences, candidate_layouts,
                           even_stages, microbatches, nearest_chip_counts, nearest_global_batches, nearest_layouts, recompute_split,
                           stage_layers, chunk_layers, BLOCK)
from .train_recipe import (Recipe, copy_bytes, gather_bytes, gemm_dtype_precision, get_recipe, training_precision_name,
                           resolve, scale_bytes_per_elem, training_graph, weight_cast_bytes_per_param)
from ..formats import format_bits
from .kernels_db import held_out_of
from .train_attention import fp8_attention_speedup, library_ratio
from . import bf16_hp_grads
from .bf16_hp_grads import hp_grad_pass_time
from .train_backward import attention_backward_time, wgrad_accumulate_time
from .train_clock import BoardPower, board_power, graph_time, measured_times, op_times
from .unfused_attention import UNFUSED, attention_dropout_runs, core_attention_ops
from . import fused_sdpa
from .residual_ops import residual_ops
from .train_lora import LoraAdapters, adapter_ops, adapter_params
from .train_loss import logits_dtype, loss_ops
from .cp_correction import cp_merge_ops
from .cp_ring import backward_blocks, ring_exposed, ring_exposed_backward
from .comm_contention import contended_exposure, core_share, ctas_text, device_cores
from .comm_waves import slowdown, window_share
from .pipeline_p2p import default_group, fixed_group_rule, group_note, pipeline_send_time
from .dualpipe import PARAM_COPIES, comm_share as dualpipe_comm_share, dualpipe_bubble, dualpipe_time, overlapped_pair
from .dp_buckets import (apex_param_gather_exposed, bucketed_collective_time, collective_count, deferred_params,
                         first_last_stage_stride, ring_passes, tied_embedding_params, tied_embedding_sync_time)
from .nic_share import fill_drain_share
from .stack_features import StackFeatures
from .weight_update import llm_update_spec, shard_group, weight_update_s
from . import zero3_fetch
from .fp8_amax import amax_allreduce_per_step
from .step_fixed_work import SCALAR_BYTES, StepFixedWork, applies, step_fixed_work
from .fp8_scale_update import scale_update_time
from .host_issue import check_layer_chip, layer_issue
from .train_host import blocks_gpu_idle, step_host_idle
from .vocab_padding import padded_config
from .sequence_parallel import TP_PARTS, TPComm, shard_sequence, tp_block_comm
from .rank_spread import RankSpread, expected_max_normal, sync_slowdown, sync_slowdown_band
from .tp_backward import backward_tp_exposed
from .tp_overlap import SLOT_OF, TP_BLOCK_GEMMS, TP_COLLECTIVES, TP_GEMMS, TPOverlap, check_overlap, get_overlap, region_time
from .uncertainty import step_spread
from .train_reserve import SOURCE as RESERVE_SOURCE, training_reserve
from .chip_count import Count, Unholdable, smallest_running_count
from .gemm_table import MeasuredGemms, measured_gemms
from . import train_memory
from .train_memory import (GRAD_SYNC_BYTES, activation_bytes_per_layer, device_memory, device_params, shard_groups,
                           states_held_once, zero_memory_bytes)

__all__ = ["TrainLayout", "TrainResult", "activation_bytes_per_layer", "zero_memory_bytes", "pipeline_bubble", "train",
           "evaluate_layout", "model_flops_per_token", "chunked_exposure", "time_to_train_min", "eval_time_s", "num_evaluations",
           "fp8_training_graph", "clear_cache"]
HEAD_OPS = ("lm_head", "final_norm")  # the output layer, on the last pipeline stage

_RESULT_CACHE: dict = {}
EP_A2A = ("moe_dispatch_a2a", "moe_combine_a2a")  # the MoE block's token all-to-alls (workloads/llm.py moe_block)
EP_DISPATCH_FORMAT = "fp8_block"  # DeepSeek-V3's FP8 dispatch: 1x128 activation tiles (data/precision/formats.yaml)


def pipeline_bubble(p: int, m: int, v: int = 1) -> float:
    """Idle fraction of a 1F1B pipeline of p stages, m micro-batches, v virtual stages."""
    if p <= 1:
        return 0.0
    return (p - 1) / (v * m + p - 1)


def chunked_exposure(t_comm, t_compute, vp: int = 1, group: int = 1):
    """Exposed time of a data-parallel collective split over the vp model chunks of an
    interleaved pipeline (Megatron-Core DistributedDataParallel overlap_grad_reduce /
    overlap_param_gather: schedules.py forward_backward_pipelining_with_interleaving launches a
    chunk's gradient reduce-scatter (grad_sync_func) once its last micro-batch backward is done,
    and the next chunk's parameter all-gather (param_sync_func) during the previous chunk's
    forwards). The schedule runs `group` = N micro-batches of one chunk before the next
    (perf/pipeline_p2p.default_group: Megatron-Core's default pp when m is a multiple of pp)
    (get_model_chunk_id), backward from chunk vp-1 down to 0, so chunk k's t/vp of communication has
    k x group chunk passes of t_compute/vp after it plus its own last pass; the chain of chunks is
    exposed by max over k of (k+1) t/vp - (k group + 1) t_compute/vp, linear in k:
        max(0, (t - t_compute)/vp, t - ((vp-1) group + 1) t_compute/vp).
    t_compute: one micro-batch's backward (reduce-scatter) or forward (all-gather) of the device.
    vp = 1 gives max(0, t - t_compute): hidden behind one micro-batch, bucket by bucket.
    The all-gather under NeMo's Apex DistributedFusedAdam (vp > 1), which launches one chunk ahead only and
    chunk 0 before the first forward: perf/dp_buckets.apex_param_gather_exposed."""
    return np.maximum(0.0, np.maximum((t_comm - t_compute) / vp, t_comm - ((vp - 1) * group + 1) * t_compute / vp))


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
    """Transformer-Engine FP8 (delayed scaling) recipe applied to a forward graph whose GEMMs were
    built in FP8: (forward graph with attention core and LM head in BF16, forward cast-transpose
    kernels, backward cast-transpose kernels). See perf/train_recipe.py."""
    return training_graph(g, get_recipe("fp8"), fp8_attention, lora)


class _Fwd:
    """Cached per-micro-batch forward costs split by op class."""

    def __init__(self, cfg, p, pr, topo, stack: StackFeatures = StackFeatures(), fp8_attention: bool = False,
                 lora: bool = False, recipe: Recipe | None = None, attn_ratio: tuple[float, float] = (1.0, 1.0),
                 gemms: MeasuredGemms | None = None, bf16_attn_ratio: tuple[float, float] | None = None,
                 collectives_on_cores: bool = True, board: BoardPower | None = None):
        self.cfg, self.p, self.pr, self.topo = cfg, p, pr, topo
        self.gemms = gemms  # --kernels: the chip's measured GEMM times replace the fitted model's (perf/gemm_table)
        self.board = board  # GEMMs at the board's power-capped sustained clock (perf/train_clock; None: burst clock)
        self.stack = stack  # the stack's settings (perf/stack_features; read by evaluate_layout too)
        if stack.lm_loss is not None:
            loss_ops(stack.lm_loss, 1.0)  # an unknown loss is refused here, before any layout is costed
        # cores an overlapped DP / CP collective occupies (perf/comm_contention): none where the chip's
        # collectives do not run on its compute cores (chip data collectives_on_cores; perf/comm_waves)
        # a communicator's CTAs share one device's cores (device_cores: an MI250X GCD's 110 CUs, not the package's 220);
        # on a chip of several devices each runs its own, so the package loses devices x comm_ctas of its num_cores
        core_share(stack.comm_ctas, device_cores(p))  # out-of-range CTAs refused on every chip, used or not
        self.comm_ctas = stack.comm_ctas * float(np.max(p.devices)) if collectives_on_cores else 0
        self.collectives_on_cores = collectives_on_cores
        # the share of the cores the TP communicator's CTAs take from the backward GEMM an async TP collective
        # hides behind (perf/tp_backward); refused out of range on every chip, used or not
        tp_share = core_share(stack.tp_ctas, device_cores(p),
                              "comm_ctas" if stack.tp_comm_ctas is None else "tp_comm_ctas")
        self.tp_share = tp_share if collectives_on_cores else 0.0
        self.attn_ratio = attn_ratio  # (fwd, bwd) rate of the stack's attention library vs the calibrated one
        # the same in BF16 where FP8 attention was asked (None: it was not): the ring of a stack whose CP
        # attention has no FP8 path (stack.fp8_attention_cp False, TE < 1.10) runs at it (bf16_ring)
        self.bf16_attn_ratio = bf16_attn_ratio
        self.fp8_attention, self.lora, self.recipe = fp8_attention, lora, recipe
        self.tp_overlap: TPOverlap | None = get_overlap(stack.tp_overlap)  # userbuffers overlap (perf/tp_overlap)
        self.grad_bytes = GRAD_SYNC_BYTES[stack.grad_sync]  # gradient buffer and DP reduce-scatter dtype
        self.cache: dict = {}

    def _time(self, g: OpGraph) -> float:
        return graph_time(g, self.p, self.board)

    def cfg_at(self, tp: int):
        """The model as the stack runs it at tensor-parallel size `tp`: its padded vocabulary (perf/vocab_padding)."""
        return padded_config(self.cfg, self.stack.vocab_divisible_by, tp)

    def cp_merge(self, cp: int, tp: int, mbs: int, seq: int) -> tuple[float, float]:
        """(forward, backward) time of one layer's context-parallel merge kernels on one rank holding
        `seq` = s/CP tokens per sequence (perf/cp_correction; 0 without CP)."""
        key = ("cp_merge", cp, tp, mbs, seq)
        if key not in self.cache:
            c = self.cfg
            fo, bo = cp_merge_ops(cp, mbs * seq, c.num_attention_heads / tp, max(1.0, c.kv_heads / tp), c.hd)
            self.cache[key] = (self._time(OpGraph(name="cp_merge", ops=fo)), self._time(OpGraph(name="cp_merge_bwd", ops=bo)))
        return self.cache[key]

    def bf16_ring(self, cp: int) -> bool:
        """True when a layout at context parallelism `cp` runs the FP8 attention the run asked in BF16:
        the stack's CP ring has no FP8 path (stack.fp8_attention_cp False, Transformer Engine < 1.10)."""
        return cp > 1 and self.bf16_attn_ratio is not None and not self.stack.fp8_attention_cp

    def dpa_casts(self, bf16_attention: bool = False) -> bool:
        """True when the attention runs as FP8 dot-product attention (asked, at the FP8 rate or the measured FP8
        gain, and not in BF16 inside a CP ring): its boundary casts are priced (perf/fp8_dpa_casts)."""
        return (self.fp8_attention or self.bf16_attn_ratio is not None) and not bf16_attention

    def __call__(self, tp: int, ep: int, mbs: int, seq: int, bf16_attention: bool = False) -> dict:
        """Forward costs of one micro-batch through the whole model: the L layers' op classes
        (gemm, attn, elt, TP and EP collectives, FP8 casts) and the output layer (head).
        `bf16_attention`: the attention core in BF16 whatever the run asked (bf16_ring)."""
        key = (tp, ep, mbs, seq, bf16_attention)
        if key in self.cache:
            return self.cache[key]
        r = self.recipe
        out = self._costs(self.pr, tp, ep, mbs, seq, fp8_attention=self.fp8_attention and not bf16_attention,
                          dpa_casts=self.dpa_casts(bf16_attention))
        if r is not None and r.bf16_fraction > 0:
            # recipes that keep some layers in BF16 (NVFP4: first/last blocks): the average layer
            # mixes the two graphs; the output layer is BF16 in both
            b = self._costs(replace(self.pr, weights="bf16", compute="bf16", gemm_eff=1.0), tp, ep, mbs, seq, bf16=True)
            f = r.bf16_fraction
            out = {k: (v if k.startswith("head") else (1.0 - f) * v + f * b[k]) for k, v in out.items()}
        self.cache[key] = out
        return out

    def _costs(self, pr, tp: int, ep: int, mbs: int, seq: int, bf16: bool = False, fp8_attention: bool = False,
               dpa_casts: bool = False) -> dict:
        # EP wider than TP spans data-parallel ranks with their own tokens: each rank then
        # receives T k / TP routed tokens on average, not T k / EP (Megatron-Core MoE folding)
        spread = ep / tp if ep > tp else 1.0
        cfg = self.cfg_at(tp)
        g = build_llm_graph(cfg, LLMStep("prefill", mbs, seq, 0, pr, tp, ep, expert_imbalance=spread,
                                              lm_head_all_tokens=True))
        # an eager stack's norm / RoPE / activation chains, op by op (perf/eager_elementwise)
        g = chain_graph(g, self.stack.elementwise_chain)
        if self.stack.sequence_parallel:  # the norms between the TP blocks run on the T/TP-token shard
            g = shard_sequence(g, tp)
        if self.stack.lm_loss is not None:  # the head writes the logits in the loss's input dtype (perf/train_loss)
            g = OpGraph(name=g.name, meta=g.meta, ops=[replace(op, out_dtype=logits_dtype(self.stack.lm_loss))
                                                       if isinstance(op, MatMul) and op.name == "lm_head" else op
                                                       for op in g.ops])
        unfused = None  # the stack's attention core without a fused kernel (perf/unfused_attention): (forward, backward) s
        probs = {"probs_f": 0.0, "probs_b": 0.0}  # FusedSDPA's saved probabilities (perf/fused_sdpa), per step
        if self.stack.attention_kernel == UNFUSED:
            g, unfused = self._unfused_attention(g)
        elif self.stack.attention_probs_saved and fused_sdpa.FUSED_SDPA_PROBS:
            pf, pb = fused_sdpa.probs_ops(g)
            probs = {"probs_f": self._time(OpGraph(name="sdpa_probs", ops=pf)),
                     "probs_b": self._time(OpGraph(name="sdpa_probs_bwd", ops=pb))}
        cast_fwd = cast_bwd = q_elems = 0.0
        gathered = {}  # (GEMM, "input" | "grad") -> bytes its sequence-parallel all-gather moves vs BF16
        if self.recipe is not None and not bf16:
            ub = self.tp_overlap is not None and tp > 1 and self.stack.sequence_parallel  # userbuffers need SP
            g, gf, gb = training_graph(g, self.recipe, fp8_attention, self.lora, self.stack.frozen_dy_transpose,
                                       dy_shard=tp if self.stack.sequence_parallel else 1,
                                       ub_dy_gathered=self.tp_overlap.dy_gathered() if ub else frozenset(),
                                       dpa_casts=dpa_casts)
            cast_fwd, cast_bwd = self._time(gf), self._time(gb)
            q_elems = float(sum(op.count * op.elems for op in gf.ops + gb.ops))
            if self.stack.quantized_gathers:
                gathered = {(SLOT_OF.get(n, n), part): b for (n, part), b in gather_bytes(g, self.recipe, self.lora).items()}
        n_adapter = 0.0
        if isinstance(self.lora, LoraAdapters):  # memory-bound adapter kernels (elementwise class) + their TP collectives
            n_adapter = adapter_params(g, self.lora, tp) * tp
            g = OpGraph(name=g.name, ops=list(g.ops) + adapter_ops(g, self.lora, tp), meta=g.meta)
        # residual bias-dropout-adds (perf/residual_ops: T x h per rank, T/TP x h under sequence parallelism;
        # the mask with hidden dropout). Not in the serving graph, where inference engines fuse the add
        # into the next norm kernel.
        res_f, res_b = residual_ops(self.cfg.num_hidden_layers, mbs * seq, self.cfg.hidden_size, tp,
                                    self.stack.sequence_parallel, self.stack.hidden_dropout)
        t_res = self._time(OpGraph(name="residual", ops=res_f))
        t_res_b = self._time(OpGraph(name="residual_bwd", ops=res_b))
        loss = {"head_loss_f": 0.0, "head_loss_b": 0.0}
        if self.stack.lm_loss is not None:  # on the last stage, after the LM head (perf/train_loss)
            lf, lb = loss_ops(self.stack.lm_loss, mbs * seq * math.ceil(cfg.vocab_size / tp))
            loss = {"head_loss_f": self._time(OpGraph(name="loss", ops=[lf])),
                    "head_loss_b": self._time(OpGraph(name="loss_bwd", ops=[lb]))}
        ct = evaluate(g, self.p)
        t = ct.table
        # --kernels: the measured GEMM, its quantize taken off (the recipe's casts are priced above), a burst-clock
        # time at the step's sustained clock (perf/train_clock)
        times = measured_times(op_times(ct, self.p, self.board), ct, self.p, self.gemms, self.board)
        comm = {"tp": 0.0, "ep": 0.0}
        # per-op TP collective times (perf/tp_overlap.py): forward total and its parts (sequence_parallel.TPComm)
        named = {f"{p}:{k}": 0.0 for k in TP_COLLECTIVES for p in ("c", *TP_PARTS)}
        head = np.array([op.name in HEAD_OPS for op in t.ops])
        for i, op in enumerate(t.ops):
            if isinstance(op, Collective):
                if op.name in TP_COLLECTIVES and op.collective == "all_reduce":  # SP: RS + AG (perf/sequence_parallel)
                    col, row = TP_BLOCK_GEMMS[op.name]  # its all-gathers: the column GEMM's input, the row GEMM's dY
                    parts = tp_block_comm(op.payload_bytes, op.group, self.topo, self.stack.sequence_parallel,
                                          gathered.get((col, "input"), 1.0), gathered.get((row, "grad"), 1.0),
                                          gathered.get((row, "output"), 1.0))
                    c = parts.forward
                    for p in TP_PARTS:
                        named[f"{p}:{op.name}"] += getattr(parts, p) * op.count
                elif op.name in EP_A2A and op.group > 1:
                    c = float(self._ep_a2a(op, cfg, pr))
                else:
                    c = float(collective_time(op.collective, op.payload_bytes, op.group, self.topo)[0]) if op.group > 1 else 0.0
                times[i] = 0.0
                # all-to-alls are EP token routing, except the LoRA adapters' TP-group all-to-all
                comm["ep" if op.collective == "all_to_all" and "_lora_" not in op.name else "tp"] += c * op.count
                if op.name in TP_COLLECTIVES and op.collective != "all_to_all":
                    named[f"c:{op.name}"] += c * op.count
        w = times * t.count
        body = ~head
        # weight elements whose gradient the wgrad GEMMs accumulate (none for LoRA's frozen base)
        wg = {"wgrad_elems": 0.0, "head_wgrad_elems": 0.0}
        if not self.lora:
            for op in g.ops:
                if isinstance(op, MatMul) and op.shared_weight:
                    wg["head_wgrad_elems" if op.name in HEAD_OPS else "wgrad_elems"] += op.count * op.groups * op.k * op.n
        names = np.array([SLOT_OF.get(op.name, op.name) for op in t.ops])  # GPT-3's mlp_up fills the FC1 slots
        beside = self._beside(ct, times * t.count)
        named.update({f"g:{k}": float(w[(t.kind == K_MATMUL) & body & (names == k)].sum()) for k in TP_GEMMS})
        attn = {"attn": float(w[(t.kind == K_ATTN) & body].sum())} if unfused is None else dict(zip(("attn", "attn_bwd"), unfused))
        return {"gemm": float(w[(t.kind == K_MATMUL) & body].sum()), **attn, **probs,
                "elt": float(w[(t.kind == K_ELT) & body].sum()), "comm_tp": comm["tp"], "comm_ep": comm["ep"],
                "head_gemm": float(w[(t.kind == K_MATMUL) & head].sum()), "head_elt": float(w[(t.kind == K_ELT) & head].sum()),
                "flops": float(ct.total_flops), "cast_fwd": cast_fwd, "cast_bwd": cast_bwd, "quant_elems": q_elems,
                "adapter_params": n_adapter, "res": t_res, "res_bwd": t_res_b, **loss, **wg, **named,
                # the forward's distinct kernels: the backward repeats them as dgrad / wgrad of other
                # shapes, so the whole step's spread is at most this (perf/uncertainty.step_spread)
                "kernel_spread": step_spread(t, times),
                "gemm_extra": float(beside[0][(t.kind == K_MATMUL) & body].sum()),
                "gemm_extra_p": float(beside[1][(t.kind == K_MATMUL) & body].sum()),
                "attn_extra": float(beside[0][(t.kind == K_ATTN) & body].sum()),
                "head_gemm_extra": float(beside[0][(t.kind == K_MATMUL) & head].sum()),
                "head_gemm_extra_p": float(beside[1][(t.kind == K_MATMUL) & head].sum()),
                **self._backward_beside([op for op, hd in zip(t.ops, head) if isinstance(op, MatMul) and not hd])}

    def _ep_a2a(self, op: Collective, cfg, pr) -> float:
        """One EP dispatch / combine as the stack runs it. `ep_fp8_dispatch` under an FP8 recipe: the dispatch
        moves FP8 with one FP32 scale per 1 x 128 tile (formats.yaml fp8_block), the combine stays BF16
        (DeepSeek-V3, arXiv:2412.19437 Sec. 3.3.1-3.3.3; DeepEP internode.cu get_num_bytes_per_rdma_token: hidden
        + num_scales x 4 B); the backward mirrors it (the output gradient dispatched in FP8, combines in BF16).
        `ep_node_forwarding`: the token crosses the NIC once per distinct remote node its experts sit on and
        NVLink once per distinct rank (perf/moe.expected_nodes_per_token over nodes, then over ranks;
        perf/collectives.node_forwarded_all_to_all); else one all-to-all of the k copies."""
        S = op.payload_bytes
        if op.name == "moe_dispatch_a2a" and self.stack.ep_fp8_dispatch and pr.compute == "fp8":
            S = sum(copy_bytes(EP_DISPATCH_FORMAT, S / pr.act_bytes))  # 1 B + its 1x128 tile's FP32 scale
        if not self.stack.ep_node_forwarding:
            return collective_time(op.collective, S, op.group, self.topo)[0]
        k, E = cfg.num_experts_per_tok, cfg.num_experts
        g_out = self.topo.split(op.group)[1]
        route = dict(n_group=cfg.n_group, topk_group=cfg.topk_group)
        nodes = expected_nodes_per_token(k, E, g_out, **route) if E % g_out == 0 else float(min(k, g_out))
        ranks = expected_nodes_per_token(k, E, op.group, **route) if E % op.group == 0 else float(min(k, op.group))
        return node_forwarded_all_to_all(S, op.group, self.topo, nodes, ranks, k)[0]

    def _unfused_attention(self, g: OpGraph) -> tuple[OpGraph, tuple[float, float]]:
        """The graph without its fused attention ops, and the (forward, backward) time of Megatron-LM's
        CoreAttention in their place (perf/unfused_attention.py)."""
        fwd, bwd = [], []
        for op in g.ops:
            if isinstance(op, Attention):
                f, b = core_attention_ops(op.name, op.count, op.batch, op.q_len, op.heads, op.d_qk, causal=op.causal,
                                          dropout=attention_dropout_runs(self.stack.attention_dropout))
                fwd += f
                bwd += b
        rest = OpGraph(name=g.name, meta=g.meta, ops=[op for op in g.ops if not isinstance(op, Attention)])
        return rest, (self._time(OpGraph(name="core_attention", ops=fwd)), self._time(OpGraph(name="core_attention_bwd", ops=bwd)))

    def _backward_beside(self, gemms: list) -> dict:
        """Time beside the collective / alone of the layers' backward GEMMs (per-tile and persistent
        grids, perf/comm_waves), from their own shapes: dgrad dX[m, k] = dY[m, n] W^T (reduction n) and,
        unless LoRA (frozen base weights), wgrad dW[k, n] = X^T dY (reduction over the b x m tokens)."""
        if not self.comm_ctas or not gemms:
            return {"gemm_bwd_ratio": 1.0, "gemm_bwd_ratio_p": 1.0}
        ops = [replace(op, name=f"{op.name}_dgrad", n=op.k, k=op.n) for op in gemms]
        if not self.lora:
            ops += [replace(op, name=f"{op.name}_wgrad", m=op.k, n=op.n, k=op.m * (op.batch if op.shared_weight else 1),
                            batch=1 if op.shared_weight else op.batch) for op in gemms]
        ct = evaluate(OpGraph(name="backward_gemms", ops=ops), self.p)
        w = np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1).max(axis=1) * ct.table.count
        extra = self._beside(ct, w)
        total = float(w.sum())
        return {"gemm_bwd_ratio": 1.0 + float(extra[0].sum()) / total if total > 0 else 1.0,
                "gemm_bwd_ratio_p": 1.0 + float(extra[1].sum()) / total if total > 0 else 1.0}

    def _beside(self, ct, w) -> tuple[np.ndarray, np.ndarray]:
        """Extra seconds each op's `w` (its time x count) takes while an overlapped collective holds
        self.comm_ctas cores (perf/comm_waves.slowdown on the op's work units, on the share of its time
        that is the kernel's busy time): (per-tile grids, persistent GEMM grids); attention kernels keep
        a per-tile grid in both (FlashAttention-2's grid is one CTA per query tile and head)."""
        n = len(ct.table)
        flat = lambda a: np.asarray(a, dtype=float).reshape(n, -1).max(axis=1)  # noqa: E731
        if not self.comm_ctas:
            return np.zeros(n), np.zeros(n)
        comp, mem, tot = flat(ct.compute_time), flat(ct.memory_time), flat(ct.time)
        busy = np.where(tot > 0, np.minimum(np.maximum(comp, mem) / np.where(tot > 0, tot, 1.0), 1.0), 0.0)
        units = flat(ct.units)
        sk = np.asarray(ct.stream_k, dtype=bool).reshape(n, -1).any(axis=1)
        cores = float(np.max(self.p.num_cores))
        gemm = ct.table.kind == K_MATMUL
        out = []
        for persistent in (False, True):
            r = slowdown(units, cores, self.comm_ctas, persistent & gemm, comp >= mem, sk)
            out.append(np.nan_to_num(w * busy * (r - 1.0)))
        return out[0], out[1]


def tp_comm_per_layer(f: dict, L: int) -> dict:
    """One layer's TP block collectives (sequence_parallel.TPComm by collective name) from the
    whole model's per-op sums of `_Fwd`."""
    return {k: TPComm(**{p: f[f"{p}:{k}"] / L for p in TP_PARTS}) for k in TP_COLLECTIVES}


def model_flops_per_token(cfg: LLMConfig, seq: int, lora: bool = False) -> float:
    """6 N (4 N for LoRA: no weight gradients) + causal attention 6 L a d s (PaLM App. B / 2)."""
    return (4.0 if lora else 6.0) * cfg.param_count(active=True) + 6.0 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.hd * seq


def frozen_weight_bytes(rcp: Recipe | None, lora: bool) -> float:
    """Bytes per frozen base weight: LoRA under a quantized recipe keeps them in the recipe's format (NeMo
    `fp8_params`), else BF16."""
    return format_bits(rcp.gemm) / 8.0 if lora and rcp is not None and rcp.quantized else 2.0


def evaluate_layout(cfg: LLMConfig, chip: Chip, p, topo: Topology, pr, lay: TrainLayout, num_chips: int,
                    global_seqs: int, seq: int, fwd: _Fwd, lora: bool = False, mem_limit: float | None = None,
                    persistent_gemms: bool = False) -> dict | None:
    """Step time, memory and exposed communication of one layout (None when it breaks a rule).
    `mem_limit` (bytes): a layout whose memory exceeds it gets only its memory ({"mem": ...}); its step
    is not priced (the search drops it either way, and most candidates do not fit).
    `persistent_gemms`: the GEMMs beside an overlapped collective run persistent grids (perf/comm_waves;
    False: per-tile grids, opcost's stream-K GEMMs persistent either way)."""
    cfg = fwd.cfg_at(lay.tp)  # the stack's padded vocabulary at this TP
    if broken_rule(cfg, lay, num_chips, global_seqs, seq, int(np.max(p.scaleup_domain))):
        return None
    L = cfg.num_hidden_layers
    m = microbatches(global_seqs, lay.dp, lay.mbs)
    s_local = seq // lay.cp
    layers = stage_layers(L, lay.pp, lay.vp)
    rcp = fwd.recipe
    gb = fwd.grad_bytes
    # LoRA under a quantized recipe keeps the frozen weights quantized (no per-step weight cast
    # below): FP8 parameters, as NeMo's fp8_params, take the recipe format's bytes
    frozen = frozen_weight_bytes(rcp, lora)
    # TE 1.x FP8 (the recipe whose norm writes the FP8 GEMM input) saves trained linears' inputs in FP8
    # (train_memory.saved_bytes_per_token); LoRA's frozen base GEMMs keep the BF16 count
    saved_in = format_bits(rcp.gemm) / 8.0 if rcp is not None and rcp.quantized and rcp.norm_fused_cast and not lora else 2.0
    # the quantized weight copies TE keeps across micro-batches (train_memory.FP8_WEIGHT_CACHE)
    cache = (rcp.copies * format_bits(rcp.gemm) / 8.0 if train_memory.FP8_WEIGHT_CACHE and rcp is not None and rcp.quantized
             and not lora and not rcp.weight_casts_per_microbatch else 0.0)  # AQT keeps no quantized weight
    mem = device_memory(cfg, lay, layers, m, s_local, lora, frozen, grad_bytes=gb, sequence_parallel=fwd.stack.sequence_parallel,
                        gemm_input_bytes=saved_in, fused_attention=fwd.stack.attention_kernel != UNFUSED,
                        weight_cache_bytes=cache, fp32_params=fwd.stack.fp32_params)
    if mem_limit is not None and mem["mem"] > mem_limit:
        return {"mem": mem["mem"]}
    bf16_ring = fwd.bf16_ring(lay.cp)  # FP8 attention asked, but the stack's CP ring runs BF16
    f = fwd(lay.tp, lay.ep, lay.mbs, s_local, bf16_attention=bf16_ring)
    # group strides by the stack's rank order and the NIC share of flows leaving a zone (perf/zone_share)
    pg = place_groups(fwd.stack.fabric, lay.tp, lay.cp, lay.dp, lay.pp, lay.vp, topo.domain)
    # one layer (averaged over the model's layers) forward and backward
    gemm, attn, elt = f["gemm"] / L, f["attn"] / L, f["elt"] / L
    c_tp, c_ep = f["comm_tp"] / L, f["comm_ep"] / L
    cast_f, cast_b = f["cast_fwd"] / L, f["cast_bwd"] / L
    cp_f = cp_b = t_ring = 0.0
    # TE's ring merges each step's partial output / LSE and accumulates dQ, dKV (perf/cp_correction)
    merge_f, merge_b = fwd.cp_merge(lay.cp, lay.tp, lay.mbs, s_local)
    if lay.cp > 1:  # ring attention: each rank's queries meet all keys (cp x its local attention work)
        attn *= lay.cp
        kv = 2 * lay.mbs * s_local * cfg.kv_heads * cfg.hd * 2 / lay.tp
        # TE's P2P ring (AttnFuncWithCP): cp - 1 steps, each rank sends its KV block to the next CP
        # rank; CP ranks sit TP apart, so a ring longer than the domain has scale-out edges and
        # every step waits for its slowest edge (not a hierarchical all-gather: no in-domain split)
        crosses = lay.cp * lay.tp > topo.domain
        t_step = float(collective_time("send_recv", kv, 2, pg.topology(topo, "cp"),
                                       stride=topo.domain if crosses else pg.stride_cp)[0])
        t_ring = (lay.cp - 1) * t_step
        # KV ring steps overlap the attention of the previous chunk (Megatron-Core / TE context
        # parallelism, P2P ring): only what the attention does not cover is exposed; backward
        # sends KV and its gradient
    # 2.5x the FLOPs, at the backward kernel's rate; an unfused core: its own backward ops (perf/unfused_attention)
    attn_bwd = (f["attn_bwd"] / L * lay.cp if "attn_bwd" in f else float(np.max(attention_backward_time(attn, p))))
    # the stack's attention library (perf/train_attention.py; cuDNN, the calibrated one: 1, 1)
    ratio = fwd.bf16_attn_ratio if bf16_ring else fwd.attn_ratio
    attn, attn_bwd = attn / ratio[0], attn_bwd / ratio[1]
    # FusedSDPA without recompute writes P forward, reads it backward (perf/fused_sdpa): beside the fused
    # kernel's own time, at every CP ring step as the attention
    attn, attn_bwd = attn + f["probs_f"] / L * lay.cp, attn_bwd + f["probs_b"] / L * lay.cp
    # kernels beside an overlapped DP / CP collective's CTAs (perf/comm_waves): their time over the cores
    # it leaves / alone, from each kernel's work units (the backward GEMMs from their dgrad / wgrad
    # shapes; the output layer's backward at its forward's ratio)
    r_g = 1.0 + (f["gemm_extra_p" if persistent_gemms else "gemm_extra"] / f["gemm"] if f["gemm"] > 0 else 0.0)
    r_h = 1.0 + (f["head_gemm_extra_p" if persistent_gemms else "head_gemm_extra"] / f["head_gemm"]
                 if f["head_gemm"] > 0 else 0.0)
    r_a = 1.0 + (f["attn_extra"] / f["attn"] if f["attn"] > 0 else 0.0)
    r_gb = f["gemm_bwd_ratio_p" if persistent_gemms else "gemm_bwd_ratio"]  # dgrad / wgrad shapes' own waves
    if lay.cp > 1:
        # the ring's send/recv kernels take their CTAs' cores from the attention they hide behind
        share_cp = window_share(1.0, r_a)
        # each step's transfer hides behind one step's attention only (perf/cp_ring, TE's loop)
        cp_f = float(contended_exposure(ring_exposed(t_step, attn, lay.cp), t_ring, share_cp))
        # backward: K/V first, dK/dV last, both between (perf/cp_ring.backward_blocks)
        cp_b = float(contended_exposure(ring_exposed_backward(t_step, attn_bwd, lay.cp),
                                        sum(backward_blocks(lay.cp)) * t_step, share_cp))
    kb = 1.0 if lora else 2.0  # backward GEMMs: dgrad (+ wgrad)
    tp_f, tp_b = gemm + c_tp, kb * gemm + c_tp  # GEMMs + TP collectives, one after the other
    ov = fwd.tp_overlap
    ub_chunks = (0.0, 0.0)  # userbuffers chunk GEMMs' extra kernel fixed time, per layer (forward, backward)
    if ov is None and lay.tp > 1 and topo.nccl:  # Megatron / TE async backward collectives (perf/tp_backward.py)
        gn = {k: f["g:" + k] / L for k in TP_GEMMS}
        cn = tp_comm_per_layer(f, L)
        tp_b = kb * gemm + (c_tp - sum(c.forward for c in cn.values())) + backward_tp_exposed(
            gn, cn, fwd.stack.sequence_parallel, not lora, fwd.tp_share)
    if ov is not None and lay.tp > 1:  # the stack's userbuffers overlap (perf/tp_overlap.py)
        gn = {k: f["g:" + k] / L for k in TP_GEMMS}
        cn = tp_comm_per_layer(f, L)
        rest = gemm - sum(gn.values()), c_tp - sum(c.forward for c in cn.values())
        cores = float(np.max(p.num_cores))
        k_fix = float(np.max(p.kernel_overhead))  # one GEMM kernel's fixed time, per extra chunk GEMM
        reg = [region_time(gn, cn, ov, lay.tp, cores, bwd, lora, k_fix) for bwd in (False, True)]
        ub_chunks = tuple(r - region_time(gn, cn, ov, lay.tp, cores, bwd, lora) for r, bwd in zip(reg, (False, True)))
        tp_f = rest[0] + rest[1] + reg[0]
        tp_b = kb * rest[0] + rest[1] + reg[1]
    res, res_b = f["res"] / L, f["res_bwd"] / L  # residual (dropout-)adds, forward / backward (perf/residual_ops)
    # wgrad GEMMs accumulating into the gradient buffer (beta = 1 epilogue; perf/train_backward)
    # DeepSpeed BF16_Optimizer (ZeRO-0): autograd's wgrad writes a fresh BF16 gradient (beta = 0, no accumulate epilogue)
    # and the optimizer adds it into its FP32 buffer every micro-batch in a pass of its own (perf/bf16_hp_grads)
    if fwd.stack.bf16_hp_grad_pass and lay.zero == 0 and bf16_hp_grads.HP_GRAD_PASS:
        acc_l = float(np.max(hp_grad_pass_time(f["wgrad_elems"] / L, p)))
        acc_h = float(np.max(hp_grad_pass_time(f["head_wgrad_elems"], p)))
    else:
        acc_l = float(np.max(wgrad_accumulate_time(f["wgrad_elems"] / L, fwd.grad_bytes, p)))
        acc_h = float(np.max(wgrad_accumulate_time(f["head_wgrad_elems"], fwd.grad_bytes, p)))
    Fl = tp_f + attn + elt + res + c_ep + cast_f + cp_f + merge_f
    Bl = tp_b + attn_bwd + 2.0 * elt + res_b + c_ep + cast_b + cp_b + acc_l + merge_b
    # dots (XLA checkpoint_dots_with_no_batch_dims): attention, norms and activations run again.
    # The core attention's recompute reruns its CP merges and its KV ring: Megatron-Core / TE
    # `_checkpointed_attention_forward` checkpoints the whole core-attention call, which under CP is
    # AttnFuncWithCP with its P2P sends; XLA remat recomputes what the policy does not save, the
    # ring's collective-permutes included (not dots)
    # per recomputed layer; block recompute reruns the whole forward of the first k layers of each
    # chunk only (train_layout.recompute_split: `redo` layers per device)
    kind, redo = recompute_split(lay, L)
    # dots-except-ffn1 (train_layout.DOTS_EXCEPT_FFN1): what dots reruns plus the FFN1 GEMM's forward, whose output
    # the policy does not save (the GELU backward and the FC2 wgrad read it); its input all-gather is in the
    # backward under either policy (the FC1 wgrad reads the gathered input), so no collective is added
    fc1 = f["g:mlp_gate_up"] / L
    rc = {"full": Fl, "selective": attn + merge_f + cp_f, "dots": attn + merge_f + cp_f + elt,
          DOTS_EXCEPT_FFN1: attn + merge_f + cp_f + elt + fc1, "none": 0.0}[kind]
    # FP8 delayed scaling's amax-history / scale update kernels of the stack's TE line, every micro-batch in each
    # pass (perf/fp8_scale_update); after rc: a recomputed forward reuses the stashed scales (TE's recompute phase)
    su = (scale_update_time(fwd.stack.fp8_scale_update, fwd.stack.fp8_reduce_amax, L / (lay.pp * lay.vp),
                            float(np.max(p.kernel_overhead))) if rcp is not None and rcp.scaling == "delayed" else 0.0)
    Fl, Bl = Fl + su, Bl + su
    Fh = f["head_gemm"] + f["head_elt"] + f["head_loss_f"]
    Bh = kb * f["head_gemm"] + f["head_elt"] + acc_h + f["head_loss_b"]
    dev_t = [n * (Fl + Bl) + redo[d] * rc + (Fh + Bh if d == lay.pp - 1 else 0.0) for d, n in enumerate(layers)]
    d_slow = int(np.argmax(dev_t))
    n_slow = layers[d_slow]
    share = redo[d_slow] / n_slow if n_slow else 0.0  # the slowest device's layers that recompute
    Bl += share * rc  # per layer, averaged over the device's layers
    head_on = d_slow == lay.pp - 1
    F = n_slow * Fl + (Fh if head_on else 0.0)
    B = n_slow * Bl + (Bh if head_on else 0.0)
    # the same forward / backward beside an overlapped collective (perf/comm_waves): the share of the
    # compute lost while it runs, for the DP windows (all-gather: forward; reduce-scatter: backward)
    dF_l = (r_g - 1.0) * gemm + (r_a - 1.0) * attn
    dB_l = (r_gb - 1.0) * kb * gemm + (r_a - 1.0) * attn_bwd + share * {"full": dF_l, "selective": (r_a - 1.0) * attn,
                                                                       "dots": (r_a - 1.0) * attn,
                                                                       DOTS_EXCEPT_FFN1: (r_a - 1.0) * attn + (r_g - 1.0) * fc1,
                                                                       "none": 0.0}[kind]
    dF = n_slow * dF_l + ((r_h - 1.0) * f["head_gemm"] if head_on else 0.0)
    dB = n_slow * dB_l + ((r_h - 1.0) * kb * f["head_gemm"] if head_on else 0.0)
    share_f, share_b = window_share(F, F + dF), window_share(B, B + dB)
    p2p = t_send = S = 0.0
    if lay.pp > 1:
        S = lay.mbs * s_local * cfg.hidden_size * pr.residual_bytes / lay.tp
        t_send = float(collective_time("send_recv", S, 2, pg.topology(topo, "pp"), stride=pg.stride_pp)[0])
        p2p = 2 * t_send * lay.vp  # sends of one micro-batch (every chunk forward and backward)
    slots = m + (lay.pp - 1) / lay.vp  # 1F1B / interleaved 1F1B: m slots + (p-1)/v of bubble
    # micro-batches per group of the interleaved schedule (Megatron-Core microbatch_group_size_per_vp_stage)
    grp = default_group(int(m), lay.pp)
    # sends on the critical path: all of them, or under the stack's overlap_p2p_comm the fill/drain
    # hops and the warm-up / cool-down loop-backs the group leaves no slack for (perf/pipeline_p2p)
    held = {"blocking_warmup": fwd.stack.p2p_blocking_warmup, "forward_send_wait": fwd.stack.p2p_forward_send_wait}
    pp_send = pipeline_send_time(t_send, lay.pp, lay.vp, m, fwd.stack.overlap_p2p, t_fwd_chunk=F / lay.vp,
                                 t_bwd_chunk=B / lay.vp, group=grp, **held)
    compute_time = slots * (F + B) + pp_send
    dual = lay.schedule == "dualpipe"
    rerun = share * (kind == "full")  # the layers whose TP / EP collectives run again in the backward
    a2a_dual = bubble_dual = 0.0
    dual_info = None
    if dual:  # DualPipe (perf/dualpipe.py): m overlapped forward-backward pairs + the Table 2 bubble
        a2a_f, a2a_b = n_slow * c_ep, n_slow * (1.0 + rerun) * c_ep
        # W: the weight-gradient GEMMs (one forward GEMM's work each; none under LoRA)
        W = 0.0 if lora else n_slow * gemm + (f["head_gemm"] if head_on else 0.0)
        share_dp = dualpipe_comm_share(device_cores(p), fwd.collectives_on_cores)

        def dual_time(a2a: bool, send: bool) -> tuple[float, float, float]:
            """(pipeline time, its bubble, F&B) with / without the all-to-all and the PP sends."""
            da_f, da_b = (0.0, 0.0) if a2a else (a2a_f, a2a_b)  # without the all-to-all: its time taken out
            fb = overlapped_pair(F - a2a_f, B - a2a_b, a2a_f - da_f + send * t_send, a2a_b - da_b + send * t_send, share_dp)
            return dualpipe_time(lay.pp, m, fb, B - da_b, W), dualpipe_bubble(lay.pp, fb, B - da_b, W), fb
        compute_time, bubble_dual, fb_pair = dual_time(True, True)
        dual_info = {"F&B": fb_pair, "W": W, "a2a_fwd_chunk": a2a_f, "a2a_bwd_chunk": a2a_b, "comm_core_share": share_dp,
                     "pipeline_s": compute_time, "bubble_s": bubble_dual}
        pp_send = compute_time - dual_time(True, False)[0]
        a2a_dual = compute_time - dual_time(False, True)[0]
        slots = compute_time / (F + B)  # slots of F + B the step's pipeline takes (amax, per-pass counts)
    # data-parallel gradient reduce-scatter and parameter all-gather of the slowest device's
    # parameters (dense over DP x CP, experts over the expert-DP group)
    dense, ex = device_params(cfg, lay, n_slow, d_slow == 0, head_on)
    # LoRA: only the adapters train (their exact share of the parameters when the adapters are
    # given, perf/train_lora.adapter_params; else a nominal 1e-3)
    scale = (f["adapter_params"] / cfg.param_count() if f["adapter_params"] > 0 else 1e-3) if lora else 1.0
    g_dense, g_exp = shard_groups(lay)
    t_rs = t_ag = 0.0
    # gradients reduce in the stack's gradient dtype (fwd.grad_bytes: FP32 by default, train_memory);
    # ZeRO >= 1 gathers BF16 parameters, ZeRO-0's all-reduce is the gradient's reduce-scatter + all-gather
    ag_bytes = gb if lay.zero == 0 else 2.0
    # tied word embedding with PP > 1 (perf/dp_buckets): first-last stage all-reduce after the
    # backward, and under the apex rule its DP reduce-scatter deferred to the last bucket (taken
    # out of the overlapped buckets here so it is not counted twice)
    tied = tied_embedding_params(cfg.tie_word_embeddings, lay.pp, cfg.vocab_size, cfg.hidden_size, lay.tp, not lora)
    late = deferred_params(fwd.stack.dp_bucket, tied) if (d_slow == 0 or head_on) and lay.zero < 3 else 0.0
    t_tied_ar, t_tied_rs = tied_embedding_sync_time(tied, fwd.stack.dp_bucket, g_dense if lay.zero < 3 else 1, pg.stride_dp,
                                                     first_last_stage_stride(pg.stride_pp, lay.pp), gb, topo,
                                                     lay.dp * lay.cp)
    # the deferred tied weight leaves only the reduce-scatter: Apex DistributedFusedAdam gathers every
    # bucket's parameters after the step, the last (non-overlapped) bucket's too (`_start_bucket_param_sync`;
    # `_disable_overlap_grad_sync` is read by the grad-sync hook only)
    # DualPipe: two stages' gradients and parameters per device (perf/dualpipe.PARAM_COPIES), each over its
    # stage's DP ranks; the ring's bytes per rank double, its (g-1)/g factor is kept
    cp_ = PARAM_COPIES if dual else 1
    for P_rs, P_ag, g, stride, t_g in ((cp_ * (dense - late), cp_ * dense, g_dense, pg.stride_dp, pg.topology(topo, "dp")),
                                       (cp_ * ex, cp_ * ex, g_exp, max(lay.tp, lay.ep), topo)):
        if g > 1 and P_ag > 0:
            # one collective per bucket of the stack's DP buckets (perf/dp_buckets), the ring's latency
            # paid once per bucket, or per channel pass of a chunk's coalesced group (apex rule);
            # ZeRO-3/FSDP keeps one per gather (its units are not these buckets)
            n_rs, n_ag = ((ring_passes(P * scale, lay.vp, fwd.stack.dp_bucket, lay.dp * lay.cp, gb, b, g)
                           for P, b in ((P_rs, gb), (P_ag, ag_bytes))) if lay.zero < 3 else (1, 1))
            t_rs += bucketed_collective_time("reduce_scatter", gb * P_rs * scale, n_rs, g, t_g, stride=stride)
            # ZeRO-3/FSDP gathers the frozen base weights too under LoRA (they are sharded)
            t_ag += bucketed_collective_time("all_gather", ag_bytes * P_ag * (1.0 if lay.zero == 3 else scale), n_ag, g, t_g,
                                             stride=stride)
    # the fill/drain hops share their NIC with the DP collectives that cross it (perf/nic_share.py)
    nic_pp, nic_dp = fill_drain_share(S, topo.scaleout_bw * topo.eff_link, lay.pp,
                                      lay.zero < 3 and t_rs > 0 and topo.split(g_dense, pg.stride_dp)[1] > 1
                                      and topo.split(2, pg.stride_pp)[1] > 1)
    pp_send += nic_pp
    compute_time += nic_pp
    t_rs, t_ag = t_rs + nic_dp / 2.0, t_ag + nic_dp / 2.0  # drain hops with the RS, fill hops with the AG
    # overlap as Megatron-Core/NeMo run it (overlap_grad_reduce, overlap_param_gather): the
    # gradient reduce-scatter hides under the last micro-batch's backward, the parameter
    # all-gather under the next step's first forward; ZeRO-0 all-reduces under the backward;
    # ZeRO-2 reduce-scatters every micro-batch; ZeRO-3/FSDP also gathers the parameters before
    # every forward and backward (Rajbhandari et al. 2020; PyTorch FSDP prefetch)
    # hybrid sharded DP: the reduce-scattered gradient shard is then all-reduced across the
    # DP x CP / shard replicas (placed tp x shard chips apart: other slices / nodes), once per
    # step, overlapped with the backward like a ZeRO-0 all-reduce (PyTorch HSDP; MaxText
    # dcn_data_parallelism with XLA's async data-parallel all-reduce)
    dp_x = 0.0
    if lay.shard and lay.dp * lay.cp > lay.shard and dense > 0:
        t_x = float(collective_time("all_reduce", gb * dense * scale / lay.shard, lay.dp * lay.cp // lay.shard, topo,
                                    stride=lay.tp * lay.shard)[0])
        dp_x = float(contended_exposure(max(0.0, t_x - B), t_x, share_b))

    # the optimizer step on the rank's shard of the trainable parameters (dense over DP x CP, experts over
    # expert-DP; LoRA: the adapters), at the stack's sourced kernels and bytes (perf/weight_update.py,
    # data/software/llm_weight_update.yaml: Megatron-Core distributed Adam, Apex DistributedFusedAdam, MaxText AdamW)
    _, wu = llm_update_spec(chip.vendor, gb, lay.zero, apex=fwd.stack.dp_bucket.kind == "apex")
    trained = dense / shard_group(wu, g_dense, 1) + ex / shard_group(wu, g_exp, 1)
    optim = weight_update_s(wu, trained * scale, p)

    def hid(exposed, t, share):  # the collective's CTAs take their cores from the compute hiding it
        return float(contended_exposure(exposed, t, share))
    g1_f = g1_b = 0.0  # the first module's gather of a ZeRO-3 forward / backward pass where it is exposed (below)
    if lay.zero == 0 and fwd.stack.grad_sync_after_backward:  # all-reduced after the backward: nothing hides it
        dp_rs, dp_ag = t_rs + t_ag, 0.0
    elif lay.zero == 0:
        dp_rs, dp_ag = hid(chunked_exposure(t_rs + t_ag, B, lay.vp, grp), t_rs + t_ag, share_b), 0.0
    elif lay.zero == 1:
        dp_rs = hid(chunked_exposure(t_rs, B, lay.vp, grp), t_rs, share_b)
        if fwd.stack.dp_bucket.kind == "apex" and lay.vp > 1:
            # NeMo + Apex DistributedFusedAdam (overlap_param_sync): chunk 0's gather before the first forward,
            # the others one chunk ahead (perf/dp_buckets.apex_param_gather_exposed)
            n_b = collective_count(cp_ * dense * scale, lay.vp, fwd.stack.dp_bucket, lay.dp * lay.cp, gb)
            dp_ag = hid(apex_param_gather_exposed(t_ag, F, lay.vp, grp, t_ag / max(1, n_b), optim), t_ag, share_f)
        else:
            dp_ag = hid(chunked_exposure(t_ag, F, lay.vp, grp), t_ag, share_f)
    elif not fwd.stack.zero_overlap_comm:  # ZeRO-2/3 collectives on the compute stream (DeepSpeed overlap_comm false)
        # every micro-batch's gradient reduce-scatter, and ZeRO-3's parameter gathers before each forward and
        # backward, in line with the compute: nothing hides them (ZeRO-2's post-step all-gather as below)
        dp_rs = m * (t_rs + (t_ag if lay.zero == 3 else 0.0))
        dp_ag = m * t_ag if lay.zero == 3 else hid(max(0.0, t_ag - F), t_ag, share_f)
        g1_f = t_ag if lay.zero == 3 else 0.0  # in line, the whole gather shows: pass_exposed(t, F, t) = t (evaluation, below)
    elif lay.zero == 2:
        dp_rs, dp_ag = m * hid(max(0.0, t_rs - B), t_rs, share_b), hid(max(0.0, t_ag - F), t_ag, share_f)
    else:
        # ZeRO-3 on its own stream: each pass's gathers behind its compute (perf/zero3_fetch.pass_exposed); under
        # zero3_fetch.FIRST_FETCH_EXPOSED the first module's gather of each pass (the input embedding in the forward,
        # the LM head in the backward: on the stages that hold them) waits before any compute (DeepSpeed fetch_sub_module)
        if zero3_fetch.FIRST_FETCH_EXPOSED and t_ag > 0 and dense > 0:
            emb = float(cfg.vocab_size * cfg.hidden_size) * cp_
            g1_f = zero3_fetch.first_fetch_exposed(t_ag, cp_ * dense, min(emb, cp_ * dense)) if d_slow == 0 else 0.0
            g1_b = zero3_fetch.first_fetch_exposed(t_ag, cp_ * dense, min(emb, cp_ * dense)) if head_on else 0.0
        dp_rs = m * hid(zero3_fetch.pass_exposed(t_rs + t_ag, B, g1_b), t_rs + t_ag, share_b)
        dp_ag = m * hid(zero3_fetch.pass_exposed(t_ag, F, g1_f), t_ag, share_f)
    bw = float(np.max(p.mem_bw) * np.max(p.eff_mem))
    # weight quantize once per step (read bf16, write the recipe's copies; FP8: fp8 + fp8 transpose), or per dot
    # and micro-batch where the recipe keeps no quantized weight (AQT int8: train_recipe.weight_cast_bytes_per_param);
    # none for LoRA (quantized params); not for the layers a recipe keeps in BF16
    w_q = 0.0 if rcp is None or lora else cp_ * (dense + ex) * (1.0 - rcp.bf16_fraction)
    wcast = weight_cast_bytes_per_param(rcp, m) * w_q / bw if w_q else 0.0
    if lora and not fwd.stack.transpose_cache and rcp is not None and rcp.copies > 1:
        # quantized frozen weights (fp8_params) whose dgrad copy is not cached
        # (NeMo disable_parameter_transpose_cache): every micro-batch's backward reads the weight
        # and writes its transposed copy again (Hopper FP8 GEMMs take only the TN layout)
        wcast += m * 2.0 * format_bits(rcp.gemm) / 8.0 * (dense + ex) * (1.0 - rcp.bf16_fraction) / bw
    # block-scale bytes written per step on this device (activations/gradients of every real
    # micro-batch, and the weights once)
    scale_b = 0.0
    if rcp is not None and rcp.quantized:
        copies = 1 if lora else rcp.copies
        scale_b = copies * scale_bytes_per_elem(rcp.gemm) * (f["quant_elems"] / L * n_slow * m + w_q)
    # the first stage ends the 1F1B drain last and the optimizer's global grad-norm waits for it,
    # so the tied embedding's syncs add to the step whichever stage is slowest
    tied_sync = t_tied_ar + t_tied_rs
    amax = (amax_allreduce_per_step(slots, lay.vp, n_slow / lay.vp, lay.tp * lay.dp * lay.cp, topo)
            if fwd.stack.fp8_reduce_amax and rcp is not None and rcp.scaling == "delayed" else 0.0)
    # an eager stack (no CUDA graphs) issues each layer from the CPU: the GPU idles where the host is
    # behind, over one host-sync segment per step (perf/train_host.py; CPU time per layer perf/host_issue.py);
    # PP 1 only (under PP the schedule's P2P waits split the segments: not modelled, a note in train)
    host_idle = host_eval = 0.0
    host = None
    if fwd.stack.eager_layer and lay.pp == 1:
        def issue(**rc):
            return layer_issue(fwd.stack.eager_layer, fwd.stack.host_cpu, chip.id, fp8=rcp is not None and rcp.quantized,
                               adapters=len(getattr(lora, "targets", ()) or ()), cp=lay.cp, **rc)
        host = issue(recompute=kind)
        if share < 1.0:  # block recompute: the backward re-issues the forward of `share` of the layers
            bare = issue()
            host = replace(host, backward_s=bare.backward_s + share * (host.backward_s - bare.backward_s))
        host_idle = step_host_idle(host.forward_s, host.backward_s, Fl, Bl, n_slow, int(m))
        host_eval = blocks_gpu_idle([(host.forward_s, Fl, n_slow)] * int(m))
    # NeMo's per-step work outside the schedule on the Apex DistributedFusedAdam stacks (perf/step_fixed_work.py):
    # the gradient buffer's zeroing, the grad norm's world all-reduce, each micro-batch's loss averaged over DP
    fixed = StepFixedWork()
    if applies(fwd.stack.dp_bucket.kind):
        t_world = float(collective_time("all_reduce", SCALAR_BYTES, num_chips, topo)[0])
        t_loss = float(collective_time("all_reduce", SCALAR_BYTES, lay.dp, pg.topology(topo, "dp"), stride=pg.stride_dp)[0])
        fixed = step_fixed_work(m, lay.zero >= 1 and not lora, dense + ex, gb, bw, t_world, t_loss)
    step = compute_time + dp_rs + dp_ag + dp_x + tied_sync + optim + wcast + amax + host_idle + fixed.total_s
    # one forward-only pass over a global batch (evaluation): same pipeline schedule, no recompute
    # ZeRO-3 gathers the stage's parameters for every forward pass, an evaluation's too (DeepSpeed's evaluation
    # coordinator fetches module by module like the training one; FSDP / XLA shard the same weights): each
    # micro-batch's pass exposes what its forward does not hide (perf/zero3_fetch.EVAL_GATHERS)
    # (its all-gather's CTAs take their cores from the forward hiding it, as in training: hid, share_f)
    eval_gather = (m * hid(zero3_fetch.pass_exposed(t_ag, F, min(g1_f, t_ag)), t_ag, share_f)
                   if zero3_fetch.EVAL_GATHERS and lay.zero == 3 and t_ag > 0 else 0.0)
    eval_step = slots * F + pipeline_send_time(t_send, lay.pp, lay.vp, m, fwd.stack.overlap_p2p, forward_only=True,
                                                 t_fwd_chunk=F / lay.vp, group=grp, **held) + host_eval + eval_gather + fixed.eval_s
    n_fb = n_slow * slots
    exposed = {"tp_allreduce": n_fb * ((1.0 + rerun) * (tp_f - gemm) + tp_b - kb * gemm),
               # DualPipe: what the all-to-all adds to the step beyond the paired compute (perf/dualpipe)
               "ep_all_to_all": a2a_dual if dual else n_fb * (2.0 + rerun) * c_ep,
               "cp_kv_ring": n_fb * (cp_f + cp_b + (share * cp_f if kind != "none" else 0.0)),
               "pp_send_recv": pp_send, "dp_reduce_scatter": dp_rs, "dp_all_gather": dp_ag,
               "dp_replica_all_reduce": dp_x, "tied_embedding_sync": tied_sync, "fp8_amax_all_reduce": amax}
    return {"step": step, "m": m, "F": F, "B": B, "p2p": p2p, "eval_step": eval_step,
            # one transformer layer's forward / backward (recompute included) on the slowest device, per micro-batch
            "F_layer": Fl, "B_layer": Bl,
            "fp8_cast": (cast_f + cast_b) * n_fb + wcast, "quant_scale_bytes": scale_b, "residual_add": (res + res_b) * n_fb,
            "cp_merge": (merge_f + merge_b) * n_fb,
            "fp8_scale_update": 2.0 * su * n_fb,  # the delayed-scaling update kernels, per step (perf/fp8_scale_update)
            # userbuffers slots run their GEMM as TP / num_splits chunk kernels: the extra kernels' fixed time
            # (perf/tp_overlap.py "Chunked GEMMs"; kernel_overhead_us of the chip's calibration), per step
            "ub_chunk_launches": (ub_chunks[0] + ub_chunks[1]) * n_fb,
            "wgrad_accumulate": acc_l * n_fb + (acc_h * slots if head_on else 0.0),
            "bubble": bubble_dual / dual_info["pipeline_s"] if dual else pipeline_bubble(lay.pp, m, lay.vp),
            "bubble_over_ideal": bubble_dual / (dual_info["pipeline_s"] - bubble_dual) if dual else (lay.pp - 1) / (lay.vp * m),
            "stage_layers": layers, "slowest_device": d_slow,
            # layers per device whose forward the backward reruns (recompute_split; block:k the first k of each chunk)
            "recomputed_layers": redo if kind != "none" else [0] * lay.pp,
            "exposed_dp": dp_rs + dp_ag + tied_sync, "t_dp": t_rs + t_ag, "t_dp_all_gather": t_ag, "pp_nic_shared": nic_pp, "t_cp_ring": t_ring, "optimizer": optim,
            "exposed_comm_s": exposed, "kernel_spread": f["kernel_spread"], **mem,
            "comm_wave_share": {"forward": share_f, "backward": share_b},
            "host_issue_idle": host_idle, "step_fixed_work": fixed.as_dict(),
            # per evaluation step (one global batch): the ZeRO-3 gathers its forwards do not hide (zero3_fetch.EVAL_GATHERS)
            "eval_gather_s": eval_gather,
            **({"dualpipe": dual_info} if dual_info else {}),
            # the attention precision this layout ran, where FP8 was asked but the stack's CP ring has no FP8 path
            **({"attention_precision": "bf16 (fp8 asked; the stack's context-parallel ring has no FP8 path: "
                                       "fp8_attention_context_parallel false, Transformer Engine < 1.10)"} if bf16_ring else {}),
            **({"host_issue": {**host.shown(), "gpu_idle_per_step_ms": host_idle * 1e3}} if host is not None else {}),
            **({"zone_share": {"cp": pg.share_cp, "dp": pg.share_dp, "pp": pg.share_pp}} if fwd.stack.fabric.blocking else {})}


LAYOUT_FIELDS = ("tp", "pp", "cp", "ep", "vp", "mbs", "zero", "recompute", "shard", "schedule")


def train(model, chip, num_chips: int, global_batch_tokens: float, seq_len: int = 2048, precision: str = "bf16",
          layout: TrainLayout | None = None, lora: bool = False, max_layouts: int | None = None, params=None,
          tp: int | None = None, pp: int | None = None, fp8_attention: bool = False, cp: int | None = None,
          ep: int | None = None, vp: int | None = None, mbs: int | None = None, zero: int | None = None,
          recompute: str | None = None, fitted: dict | None = None, shard: int | None = None,
          cluster=None, rank_order=None, kernels: str | None = None, batch_range: tuple[int, int] | None = None,
          schedule: str | None = None, **stack) -> TrainResult:
    """Fastest layout that fits. `fp8_attention`: with precision 'fp8', run the attention core in
    FP8 too (TE fp8_dpa); default False keeps it BF16 (the Transformer Engine default).
    `lora`: True freezes the base weights (no weight gradients); a perf/train_lora.LoraAdapters
    also costs the adapter kernels.
    tp/pp/cp/ep/vp/mbs/zero/recompute pin those layout fields; the search picks the rest.
    `shard`: hybrid sharded DP, the ZeRO shard group in DP x CP ranks (never searched).
    `cluster`: the scale-out fabric beyond one zone, a name in data/clusters/clusters.yaml (e.g.
    "meta-rsc-24k") or a hardware.fabric.Fabric: zone size, oversubscription of the layer joining the
    zones and the rank order its stack groups ranks in; flows leaving a zone share its uplinks
    (perf/zone_share.py). None (the default): one non-blocking fabric, Megatron's rank order.
    `rank_order`: the order ranks are grouped in, innermost first ("tp,cp,dp,pp" Megatron-Core's default;
    "tp,cp,pp,dp" Llama 3's); None: the cluster's (Megatron's without a cluster).
    `fitted`: the calibration (perf/calibration.py; None: the shipped fit).
    `kernels`: "aiconfigurator" prices every dense GEMM from the chip's measured kernel table
    (perf/gemm_table.py; a chip of the database only), None the fitted model; the rest of the step
    is unchanged, the backward GEMMs keep the engine's rule (dgrad + wgrad = 2 x the forward GEMM).
    `schedule`: the pipeline schedule, "1f1b" (the default: Megatron-Core's 1F1B, interleaved when vp > 1) or
    "dualpipe" (DeepSeek-V3's, perf/dualpipe.py: its all-to-all and PP sends overlapped pair by pair); never searched.
    `batch_range`: the global batches (sequences, both ends included) the run may move to, e.g. an MLPerf
    benchmark's allowed range: a refusal's nearest global batches stay inside it (None: any).
    `**stack`: the software stack's settings, each a field of perf/stack_features.StackFeatures (what
    each prices is documented there; perf/train_stack.stack_settings fills them from
    data/software/training_stacks.yaml). An unknown name is one TapeoutError listing the fields."""
    fixed = {"tp": tp, "pp": pp, "cp": cp, "ep": ep, "vp": vp, "mbs": mbs, "zero": zero, "recompute": recompute,
             "shard": shard, "schedule": schedule}
    stack = StackFeatures.from_settings(stack, fabric=cluster_fabric(cluster, rank_order))
    stack.fabric.check_job(num_chips)
    memo = None
    if params is None and layout is None and max_layouts is None and isinstance(model, str) and isinstance(chip, str):
        memo = (model, chip, num_chips, global_batch_tokens, seq_len, precision, lora, fp8_attention,
                tuple(fixed.values()), calibration_key(fitted), stack, kernels, batch_range)
        if memo in _RESULT_CACHE:
            return copy.deepcopy(_RESULT_CACHE[memo])  # callers may annotate their copy
    r = _train(model, chip, num_chips, global_batch_tokens, seq_len, precision, layout, lora, params, fixed, fp8_attention,
               fitted, stack, kernels, batch_range)
    if memo is not None:
        _RESULT_CACHE[memo] = copy.deepcopy(r)
    return r


def clear_cache() -> None:
    """Forget memoised training results."""
    _RESULT_CACHE.clear()


def _check_inputs(num_chips, global_batch_tokens, seq_len) -> int:
    """Validate sizes; return the global batch in sequences."""
    for name, v in (("num_chips", num_chips), ("global_batch_tokens", global_batch_tokens), ("seq_len", seq_len)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise TapeoutError(f"{name} must be a finite number > 0, got {v}.")
        require_positive(name, v)
    global_seqs = int(round(global_batch_tokens / seq_len))
    if global_seqs < 1:
        raise TapeoutError(f"global_batch_tokens {global_batch_tokens:g} holds no whole sequence of seq_len {seq_len}; "
                           f"give at least {seq_len} tokens.")
    return global_seqs


def _refuse_unholdable(cfg, c, num_chips: int, cap: float, states: float, global_seqs: int, smallest) -> None:
    """Refuse a run whose weights, gradients and optimizer states, held once (train_memory.states_held_once),
    exceed the usable memory of all its chips together: no layout holds them, so none is searched. The usable
    memory is the runtime's reserve at one rank with no process group (TrainLayout()), the most any layout
    keeps (each group adds communicator buffers), so the bound refuses only what the search would.
    `smallest(need)`: the smallest chip count from the bound `need` up whose search finds a layout
    (perf/chip_count.smallest_running_count), named as the chips to add (searched when the message is read,
    chip_count.Unholdable)."""
    usable = training_reserve(TrainLayout(), c).usable(cap)
    if states <= num_chips * usable:
        return
    need = math.ceil(states / usable) if usable > 0 else None
    raise Unholdable(
        f"{cfg.name} ({float(cfg.param_count()):.3g} parameters: {cfg.num_hidden_layers:,} layers, hidden "
        f"{cfg.hidden_size:,}, FFN {cfg.intermediate_size:,}, vocabulary {cfg.vocab_size:,}) needs "
        f"{states / GIB:,.0f} GiB for its weights, gradients and optimizer states held once, which does not fit in "
        f"{num_chips:,} chips x {_usable_words(c, cap, usable)}; ",
        lambda: smallest(need).words(global_seqs) if need else "add chips", "; or check those fields of the model config.")


def _usable_words(c, cap: float, usable: float) -> str:
    """'<usable> GiB usable of <capacity> GiB under the <runtime> runtime's reserve, <its data file>'."""
    return (f"{usable / GIB:.1f} GiB usable of {cap / GIB:.1f} GiB of {c.id} under the "
            f"{training_reserve(TrainLayout(), c).runtime} runtime's reserve, {RESERVE_SOURCE}")


def _suggest(what: str, near, want: TrainLayout) -> str:
    """'; <what>: A; B; C', preceded by the pinned values every suggestion had to change."""
    note = near.pinned_note(want)
    return (f"; {note}" if note else "") + f"; {what}: {'; '.join(map(str, near.layouts))}"


def _no_layout(cfg, c, num_chips, global_seqs, seq_len, domain, fixed, why, cap, smallest, fits=None,
               batch_range: tuple[int, int] | None = None) -> TapeoutError:
    """The error when no layout runs: the rule(s) that ruled layouts out, or memory, and what would work
    (suggested batches within `batch_range` where given)."""
    pinned = {k: v for k, v in fixed.items() if v is not None}
    head = f"no layout of {cfg.name} runs on {num_chips} x {c.id} at global batch {global_seqs} x {seq_len}"
    if smallest is not None:  # valid layouts exist; none fits in memory
        return TapeoutError(f"{head}: every valid layout exceeds memory (smallest needs {smallest[0] / GIB:.0f} GiB of "
                            f"{_usable_words(c, cap, smallest[1])}); add chips (deeper PP / wider DP for ZeRO), use "
                            f"recompute, or a chip with more memory.")
    rule = why.most_common(1)[0][0] if why else "chips"
    want = TrainLayout(**{k: v for k, v in pinned.items()})
    want.dp = max(1, num_chips // max(1, want.tp * want.pp * want.cp))
    bad = broken_rule(cfg, want, num_chips, global_seqs, seq_len, domain) or rule
    near = nearest_layouts(cfg, want, num_chips, domain, global_seqs, seq_len, keep=fits, pinned=pinned)
    msg = f"{head}: breaks rule {bad}"
    if near.layouts:
        msg += _suggest("nearest valid layouts that fit memory", near, want)
    elif fits is not None and nearest_layouts(cfg, want, num_chips, domain, global_seqs, seq_len, k=1).layouts:
        msg += ("; the valid layouts nearest to it exceed memory: add chips (deeper PP / wider DP for ZeRO), use "
                "recompute, or a chip with more memory")
    else:
        # up to 4x the batch, or the chip count (a batch of one sequence per chip splits at DP = chips)
        batches = nearest_global_batches(cfg, num_chips, domain, global_seqs, seq_len, pinned,
                                         batch_range or (1, max(4 * global_seqs, num_chips)),
                                         fits)
        if batches:
            msg += "; nearest global batches with a valid layout" + (" that fits memory" if fits else "") + ": " + "; ".join(
                f"{sequences(g)} (e.g. {_split(lay)}; --global-batch-tokens {g * seq_len})" for g, lay in batches)
        counts = nearest_chip_counts(cfg, num_chips, domain, global_seqs, seq_len, pinned,
                                     keep=None if fits is None else lambda lay, n: fits(lay, global_seqs, n))
        if counts:
            msg += "; chip counts with a valid layout" + (" that fits memory" if fits else "") + f" at {sequences(global_seqs)}: {', '.join(map(str, counts))}"
    return TapeoutError(msg + ".")


def _split(lay: TrainLayout) -> str:
    """How a layout splits the chips (TP, PP, CP, DP), without the settings the search picks."""
    return f"TP{lay.tp} PP{lay.pp}" + (f" CP{lay.cp}" if lay.cp > 1 else "") + f" DP{lay.dp}"


def _no_even_layout(cfg, c, num_chips, global_seqs, seq_len, domain, fixed, lay, given, batch_range, fits) -> TapeoutError:
    """The refusal when the stack's even pipeline stages (even_pipeline) leave no layout: the rule that
    binds and the nearest fixes that run (global batches, chip counts, --stack none).

    The batch rule (GBS a multiple of DP x micro-batch) lets DP = chips / (TP PP CP) hold only
    divisors of the batch, so TP x PP x CP must carry the part of the chip count the batch lacks,
    chips / gcd(chips, GBS); TP is bounded by the heads and the scale-up domain, CP by the sequence,
    and an even PP must divide the layers."""
    L = cfg.num_hidden_layers
    rule = (f"training stack's even pipeline stages (even_pipeline; training_stacks.yaml even_pipeline_stages: "
            f"PP divides the {L} layers, VP the layers per stage)")
    pinned = {k: v for k, v in fixed.items() if v is not None}

    def even_fits(lay2, g=global_seqs, n=num_chips):  # what the stack runs and memory holds
        return even_stages(L, lay2.pp, lay2.vp) and fits(lay2, g, n)

    split = ""
    if given or "pp" in pinned or "vp" in pinned:  # the user chose the split: the layers rule binds
        split = (f"layout {lay} splits the {L} layers of {cfg.name} unevenly over PP {lay.pp} x VP {lay.vp}, "
                 f"which the {rule} does not run; choose PP dividing {L} and VP dividing the layers per stage")
        near = nearest_layouts(cfg, lay, num_chips, domain, global_seqs, seq_len,  # a given layout pins every field
                               keep=even_fits,
                               **({} if given else {"pinned": pinned}))
        if near.layouts:
            return TapeoutError(split + _suggest("nearest even layouts that fit memory", near, lay)
                                + "; or run without the stack (tapeout train --stack none).")
        # no even split keeps the other choices: the fixes below, with the split left to the search
        pinned = {k: v for k, v in pinned.items() if k not in ("pp", "vp")}
        split += "; and no even PP x VP runs here either: "
    head = f"no layout of {cfg.name} runs on {num_chips} x {c.id} at global batch {global_seqs:,} x {seq_len} under the {rule}"
    carry = num_chips // math.gcd(num_chips, global_seqs)
    if carry > 1:
        why = (f"breaks rule batch: a global batch of {sequences(global_seqs)} must be a multiple of DP x micro-batch, "
               f"so DP = {num_chips} / (TP x PP x CP) may hold only divisors of {global_seqs:,} and TP x PP x CP must be "
               f"a multiple of {carry} (= {num_chips} / gcd({num_chips}, {global_seqs})); no TP (dividing the "
               f"{cfg.num_attention_heads} heads, within the {domain}-chip domain), CP, or even PP (dividing {L}) gives it")
    else:
        why = f"every layout the other rules admit splits the {L} layers unevenly (first: {lay})"

    fixes = []
    batches = nearest_global_batches(cfg, num_chips, domain, global_seqs, seq_len, pinned, batch_range, even_fits)
    if batches:
        rng = f" within {batch_range[0]:,}-{batch_range[1]:,}" if batch_range else ""
        fixes.append(f"nearest global batches{rng} that split: " + "; ".join(
            f"{sequences(g)} (e.g. {_split(lay2)}; --global-batch-tokens {g * seq_len})" for g, lay2 in batches))
    counts = nearest_chip_counts(cfg, num_chips, domain, global_seqs, seq_len, pinned,
                                 keep=lambda lay2, n: even_fits(lay2, global_seqs, n))
    if counts:
        fixes.append(f"chip counts with an even layout that fits memory at {sequences(global_seqs)}: {', '.join(map(str, counts))}")
    fixes.append("or run without the stack (tapeout train --stack none: uneven first / last stages)")
    return TapeoutError(f"{split}{head}: {why}; {'; '.join(fixes)}.")


def _train(model, chip, num_chips, global_batch_tokens, seq_len, precision, layout, lora, params, fixed,
           fp8_attention=False, fitted=None, stack: StackFeatures = StackFeatures(), kernels: str | None = None,
           batch_range: tuple[int, int] | None = None) -> TrainResult:
    grad_sync, attention_kernel, rank_spread = stack.grad_sync, stack.attention_kernel, stack.rank_spread
    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    c = chip if isinstance(chip, Chip) else get_chip(chip)
    global_seqs = _check_inputs(num_chips, global_batch_tokens, seq_len)
    if stack.eager_layer is not None:  # refused before the search, whatever layout it picks (priced at PP 1)
        check_layer_chip(stack.eager_layer, c)
    ov = get_overlap(stack.tp_overlap)
    if ov is not None:  # a userbuffers config runs at its own TP only: the search keeps it where the user did not pin one
        check_overlap(ov, c, layout.tp if layout is not None else fixed["tp"])
        tp_from_overlap = layout is None and fixed["tp"] is None and ov.tp
        if tp_from_overlap:
            fixed = {**fixed, "tp": ov.tp}
    if grad_sync not in GRAD_SYNC_BYTES:
        raise TapeoutError(f"grad_sync '{grad_sync}' is not a gradient dtype; use one of {', '.join(GRAD_SYNC_BYTES)}.")
    # training keeps bf16 activations/KV; the GEMMs run in `precision`: a recipe
    # (data/precision/training_recipes.yaml) resolved on the chip through the serving policy
    # (formats.plan: visible fallback, or bad input), else a plain GEMM dtype
    from ..precision import COMPUTE_PEAK_FIELD

    recipe = get_recipe(precision)
    choices, notes = [], []
    if recipe is not None:
        recipe, pr, choices, notes = resolve(recipe, c, fp8_attention)
    else:
        pr = gemm_dtype_precision(precision)
    if ov is not None and tp_from_overlap:
        notes.append(f"TP {ov.tp}: the TP tp_overlap '{ov.name}' was written for (data/software/tp_comm_overlap.yaml "
                     f"tp; pin --tp to choose, with a config of that TP)")
    from .serving_sim import ensure_vector

    p = ensure_vector(params if params is not None else engine_params(c, fitted))
    topo = topology_for(p, c.family)
    cap = float(np.min(p.mem_capacity))
    if float(np.max(p.peak(COMPUTE_PEAK_FIELD.get(pr.compute, "bf16")))) <= 0:
        raise TapeoutError(f"chip '{c.id}' has no {pr.compute} matrix support; choose another --precision (supported: "
                           f"{', '.join(k for k in ('bf16', 'fp16', 'fp8', 'int8') if c.supports(k))}).")
    ratio = library_ratio(c.calibration_id, attention_kernel)  # the silicon's kernels: a power-capped or rewired variant keeps them
    if fp8_attention and attention_kernel != "cudnn":
        raise TapeoutError(f"attention_kernel '{attention_kernel}' has no FP8 attention; FP8 dot-product attention "
                           f"(fp8_attention) runs on cuDNN: use attention_kernel 'cudnn' or BF16 attention.")
    if ratio is None:
        notes.append(f"attention library {attention_kernel} is not measured on {c.id} "
                     f"(data/calibration/attention_kernels.csv): the calibrated attention rate is used")
    # FP8 attention: the calibrated BF16 attention sped up by the chip's measured FP8 gain (perf/train_attention.py)
    fp8_gain = (fp8_attention_speedup(c.calibration_id) if fp8_attention and recipe is not None and recipe.gemm == "fp8"
                and c.calibration_id not in held_out_of(fitted) else None)  # a held-out chip: as one never measured
    bf16_ratio = (ratio or (1.0, 1.0)) if fp8_attention and recipe is not None and recipe.gemm == "fp8" else None
    if fp8_gain is not None:
        ratio = tuple(x * fp8_gain for x in (ratio or (1.0, 1.0)))
    elif fp8_attention and recipe is not None and recipe.gemm == "fp8":
        notes.append(f"FP8 attention speedup is not measured on {c.id} (data/calibration/fp8_attention_speedup.yaml): "
                     "FP8 attention at the FP8 matrix rate")
    if kernels is not None and c.nominal_tdp_w is not None:  # a power-capped variant runs at a lower clock
        raise TapeoutError(f"--kernels {kernels}: the kernel database timed {c.calibration_id} at its full board power, "
                           f"not at {c.id}'s {float(c.get('tdp_w')):g} W cap; drop --power-limit or drop --kernels "
                           "(the fitted model follows the power cap).")
    gemms = measured_gemms(kernels, c.id)
    if gemms is not None:
        src = gemms.source
        notes.append(f"GEMMs from the measured kernel table: {src['package']} {src['package_version']}, {src['system']} "
                     f"{src['stack']} {src['stack_version']} (grouped GEMMs and formats it lacks: fitted model)")
    # a stack without an NCCL channel cap: its overlapped DP collectives hold NCCL's own channel count for the job's
    # ring (perf/nccl_channels; the job's chips are the DP group of the TP 1 PP 1 layouts such stacks run)
    ctas_from = "the stack settings"
    if nccl_channels.NCCL_DEFAULT_CHANNELS and stack.nccl_default_channels and not stack.comm_ctas:
        n_ch = nccl_channels.job_channels(topo, p, stack.fabric, num_chips)
        if n_ch:
            stack = replace(stack, comm_ctas=n_ch)
            ctas_from = (f"NCCL 2.19's default channel count for a ring of {num_chips} GPUs on this topology, "
                         f"the stack setting no cap (perf/nccl_channels.py)")
    fwd = _Fwd(cfg, p, pr, topo, stack, fp8_attention=fp8_attention and fp8_gain is None, lora=lora, recipe=recipe,
               attn_ratio=ratio or (1.0, 1.0), gemms=gemms, bf16_attn_ratio=bf16_ratio,
               collectives_on_cores=bool(c.get("collectives_on_cores", False)), board=board_power(c, fitted=fitted))
    domain = int(np.max(p.scaleup_domain))

    gate = stack.recompute_gate  # the recompute methods the stack runs (perf/recompute_gate; None: every one)

    def fits(lay, g: int = global_seqs, n: int = num_chips) -> bool:  # a suggested layout must run, not only obey the rules: its memory only (mem_limit -1)
        if gate is not None and not gate.allows(lay.recompute):  # and recompute as the stack can
            return False
        r = evaluate_layout(cfg, c, p, topo, pr, lay, n, g, seq_len, fwd, lora, mem_limit=-1.0)
        return r is not None and r["mem"] <= training_reserve(lay, c).usable(cap)

    def runs(lay, g: int = global_seqs, n: int = num_chips) -> bool:  # what the search keeps: the stack's rules, memory
        if stack.even_pipeline and not even_stages(cfg.num_hidden_layers, lay.pp, lay.vp):
            return False
        if stack.fixed_microbatch_group and fixed_group_rule(microbatches(g, lay.dp, lay.mbs), lay.pp, lay.vp):
            return False
        return fits(lay, g, n)

    def smallest_count(need: int) -> Count:  # the first chip count from `need` whose search keeps a layout
        pins = fixed if layout is None else {f: getattr(layout, f) for f in (*PINNABLE, "schedule")}
        return smallest_running_count(cfg, need, domain, global_seqs, seq_len, pins, lambda lay, n: runs(lay, global_seqs, n),
                                      most=stack.fabric.total_chips,
                                      **({"recompute_options": gate.searched()} if gate is not None else {}))

    if gate is not None:
        gate.check(layout.recompute if layout is not None else fixed.get("recompute"))
    _refuse_unholdable(cfg, c, num_chips, cap, states_held_once(
        float(cfg.param_count()), lora, frozen_weight_bytes(fwd.recipe, lora), fwd.grad_bytes, stack.fp32_params),
        global_seqs, smallest_count)
    if layout is not None:
        bad = broken_rule(cfg, layout, num_chips, global_seqs, seq_len, domain)
        if bad:
            near = nearest_layouts(cfg, layout, num_chips, domain, global_seqs, seq_len, keep=fits)
            raise TapeoutError(f"layout {layout} breaks rule {bad}" + (_suggest("nearest valid", near, layout)
                                                                       if near.layouts else "") + ".")
        cands, why = [layout], None
    else:
        cands, why = candidate_layouts(cfg, num_chips, domain, global_seqs, seq_len, fixed,
                                       **({"recompute_options": gate.searched()} if gate is not None else {}))
    if stack.fixed_microbatch_group:  # the stack's interleaved schedule takes only m a multiple of PP
        rule = {id(lay): fixed_group_rule(microbatches(global_seqs, lay.dp, lay.mbs), lay.pp, lay.vp) for lay in cands}
        grouped = [lay for lay in cands if rule[id(lay)]]
        cands = [lay for lay in cands if not rule[id(lay)]]
        if grouped and not cands:
            raise TapeoutError(f"layout {grouped[0]} breaks rule {rule[id(grouped[0])]} (training stack setting "
                               "fixed_microbatch_group; perf/pipeline_p2p.fixed_group_rule): pin VP 1, or a global "
                               "batch whose micro-batches per DP rank are a multiple of PP.")
    if stack.even_pipeline:
        L = cfg.num_hidden_layers
        uneven = [lay for lay in cands if not even_stages(L, lay.pp, lay.vp)]
        cands = [lay for lay in cands if even_stages(L, lay.pp, lay.vp)]
        if uneven and not cands:
            raise _no_even_layout(cfg, c, num_chips, global_seqs, seq_len, domain, fixed, uneven[0],
                                  layout is not None, batch_range, fits)
    def mem_of(lay2):
        return evaluate_layout(cfg, c, p, topo, pr, lay2, num_chips, global_seqs, seq_len, fwd, lora, mem_limit=-1.0)["mem"]

    searched_recompute = layout is None and fixed.get("recompute") is None  # the search picks the recompute
    best, smallest = None, None
    for lay in cands:  # block twins appended below are evaluated in turn
        usable = training_reserve(lay, c).usable(cap)
        r = evaluate_layout(cfg, c, p, topo, pr, lay, num_chips, global_seqs, seq_len, fwd, lora, mem_limit=usable)
        if r is None:
            continue
        if r["mem"] > usable:
            if smallest is None or r["mem"] < smallest[0]:
                smallest = (r["mem"], usable)
            continue
        if searched_recompute and lay.recompute == "full" and (gate is None or gate.block):  # fewer layers, where that fits
            twin = _block_twin(lay, cfg.num_hidden_layers, mem_of, usable)
            if twin is not None:
                cands.append(twin)
        if rank_spread is not None:  # the layouts differ in how much of the step is the ranks' own work
            r = _slowest_rank(r, rank_spread, num_chips)
        if best is None or r["step"] < best[1]["step"]:
            best = (lay, r)
    if best is None:  # suggest only what the search keeps (the stack's rules, memory)
        raise _no_layout(cfg, c, num_chips, global_seqs, seq_len, domain, fixed, why, cap, smallest, runs, batch_range)
    lay, r = best
    if stack.eager_layer and lay.pp > 1:
        notes.append(f"eager layers (no CUDA graphs): host issue time not priced at PP {lay.pp} (the pipeline's "
                     "send/recv waits split the host-sync segments; perf/train_host.py prices PP 1)")
    res = training_reserve(lay, c)
    notes.append(f"memory: {r['mem'] / GIB:.1f} GiB per chip; " + res.note(cap))
    notes += cfg.notes  # the model config's approximately priced fields (workloads/llm_config.APPROXIMATED_FIELDS)
    wave_hi = 1.0  # the interval's one-sided term for persistent GEMM grids beside the collective (perf/comm_waves)
    if stack.comm_ctas and fwd.comm_ctas:
        r_p = evaluate_layout(cfg, c, p, topo, pr, lay, num_chips, global_seqs, seq_len, fwd, lora, persistent_gemms=True)
        r_0 = evaluate_layout(cfg, c, p, topo, pr, lay, num_chips, global_seqs, seq_len, fwd, lora)
        wave_hi = max(1.0, r_p["step"] / r_0["step"])
        ws = r["comm_wave_share"]
        notes.append(f"overlapped DP / CP collectives on {ctas_text(stack.comm_ctas, p)} (comm_ctas, assumed to bind; where it came from: {ctas_from}): "
                     f"the kernels hiding them run on the other cores in more waves (perf/comm_waves.py), "
                     f"{ws['forward']:.1%} of the forward and {ws['backward']:.1%} of the backward lost while they run "
                     f"(per-tile GEMM grids; their HBM traffic is not charged); if the stack's GEMM library runs "
                     f"persistent grids (not on file for this stack) the step is {wave_hi - 1.0:+.1%}, in the interval's "
                     f"upper end")
    elif stack.comm_ctas:
        notes.append(f"comm_ctas {stack.comm_ctas}: {c.id}'s collectives do not run on its compute cores "
                     f"(chip data collectives_on_cores: {c.source_of('collectives_on_cores')}): no core share")
    if lay.zero >= 2 and lay.dp * lay.cp > 1:  # the overlap assumption changes the answer: say which ran
        notes.append(f"ZeRO-{lay.zero} collectives " + ("overlapped with the compute on their own stream (zero_overlap_comm "
                     "True, the default: DeepSpeed overlap_comm / FSDP prefetch)" if stack.zero_overlap_comm else
                     "on the compute stream, all exposed (zero_overlap_comm False: DeepSpeed overlap_comm false)") +
                     f": {r['exposed_dp']:.3f} s of DP communication exposed per step" +
                     (f"; {zero3_fetch.gather_bytes_per_step(r['params_dense'], shard_groups(lay)[0]) / 1e9:.0f} GB "
                      f"of parameters gathered per rank per micro-batch (forward + backward, perf/zero3_fetch.py)"
                      if lay.zero == 3 else ""))
    if r.get("dualpipe"):
        dp_ = r["dualpipe"]
        notes.append(f"pipeline schedule DualPipe (perf/dualpipe.py; arXiv:2412.19437 Sec. 3.2.1, Table 2): each forward "
                     f"chunk paired with a backward chunk, F&B {dp_['F&B'] * 1e3:.1f} ms against F + B "
                     f"{(r['F'] + r['B']) * 1e3:.1f} ms (all-to-all {dp_['a2a_fwd_chunk'] * 1e3:.1f} + "
                     f"{dp_['a2a_bwd_chunk'] * 1e3:.1f} ms per pair, on {dp_['comm_core_share']:.1%} of the cores, "
                     f"data/software/dualpipe.yaml); bubble (PP/2-1)(F&B+B-3W) = {dp_['bubble_s']:.2f} s; parameters "
                     f"held twice (stages d and PP-1-d), PP+1 chunks of activations in flight")
    held = _held_sends_note(lay, r, stack)
    if held:
        notes.append(held)
    rule = stack.dp_bucket
    if rule.kind == "apex" and rule.channels > 1 and lay.zero < 3 and lay.dp * lay.cp > 1:
        # the channel count and NCCL's group schedule change the answer: show the buckets one after another
        serial = copy.copy(fwd)
        serial.stack = replace(stack, dp_bucket=replace(rule, channels=1))
        r_1 = evaluate_layout(cfg, c, p, topo, pr, lay, num_chips, global_seqs, seq_len, serial, lora)
        notes.append(f"DP buckets: each model chunk's Apex buckets run as one coalesced NCCL group over {rule.channels} "
                     f"channels laid out {rule.nccl_group} (stack dp_bucket; where it came from: the stack settings), the "
                     f"ring latency paid once per pass of the busiest channel (perf/dp_buckets.py); the buckets one "
                     f"after another would make the step {r_1['step'] / r['step'] - 1.0:+.1%}")
    group = group_note(r["m"], lay.pp, lay.vp)  # the schedule's micro-batch group, where it is not Megatron-Core's default
    if group:
        notes.append(group)
    # the search's recompute choice changes the answer: show what the same layout costs without it
    bare = None
    if lay.recompute != "none" and searched_recompute:
        bare = evaluate_layout(cfg, c, p, topo, pr, replace(lay, recompute="none"), num_chips, global_seqs, seq_len, fwd,
                               lora)
        if bare is not None and rank_spread is not None:
            bare = _slowest_rank(bare, rank_spread, num_chips)
    tokens = global_seqs * seq_len
    tps = tokens / r["step"]
    flops_tok = model_flops_per_token(cfg, seq_len, lora)
    peak_key = COMPUTE_PEAK_FIELD.get(pr.compute, "bf16")
    mfu = flops_tok * tps / (num_chips * float(np.max(p.peak(peak_key))))  # vs the GEMM dtype's dense peak
    bf16_peak = float(np.max(p.peak("bf16")))  # 0 on a chip without bf16 (Ascend 910B runs fp16)
    mfu_bf16 = flops_tok * tps / (num_chips * bf16_peak) if bf16_peak > 0 else None
    from .mlperf import interval

    lo, hi = interval(r["step"], c, fitted=fitted, spread=r["kernel_spread"])
    if rank_spread is not None:  # one job's slowest rank is itself a draw: its 10-90% band on the compute
        base, comp, s = r["rank_spread"]["step_without_s"], r["rank_spread"]["compute_s"], r["rank_spread"]["slowdown"]
        band = sync_slowdown_band(rank_spread, num_chips)
        lo = lo * (base + comp * band[0]) / (base + comp * s)
        hi = hi * (base + comp * band[1]) / (base + comp * s)
    hi = hi * wave_hi
    without = _without_recompute(lay, r, bare, training_reserve(lay, c).usable(cap), mfu)
    if without:
        notes.append(_recompute_note(lay, without))
    return TrainResult(
        model=cfg.name, chip=c.id, num_chips=num_chips, precision=training_precision_name(precision), seq_len=seq_len,
        global_batch_tokens=tokens, step_time_s=r["step"], tokens_per_s=tps, mfu=mfu,
        memory_gib_per_chip=r["mem"] / GIB, capacity_gib_per_chip=cap / GIB, parallelism=str(lay), layout=asdict(lay),
        breakdown={**{k: (float(v) if isinstance(v, (int, float)) else v) for k, v in r.items()}, "mfu_vs_bf16_peak": mfu_bf16,
                   "memory_reserve": res.as_dict(cap),
                   "precision": _precision_record(recipe, choices, lora),
                   **({"gemm_source": dict(gemms.source)} if gemms is not None else {}),
                   **({"without_recompute": without} if without else {})},
        interval_80=(lo, hi), notes=list(notes) + assumed_tdp_notes(c) + fallback_calibration_notes(c, fitted),
    )


def _held_sends_note(lay: TrainLayout, r: dict, stack: StackFeatures) -> str:
    """What the later Megatron-Core releases' held pipeline sends (perf/pipeline_p2p.py) would add to the
    step at the chosen interleaved layout when the stack prices neither ('' otherwise): the default shown
    where the answer is."""
    if lay.pp <= 1 or lay.vp <= 1 or not stack.overlap_p2p or stack.p2p_blocking_warmup or stack.p2p_forward_send_wait:
        return ""
    m, F, B = int(r["m"]), r["F"], r["B"]
    t = r["p2p"] / (2.0 * lay.vp)
    args = (t, lay.pp, lay.vp, m, True)
    kw = {"t_fwd_chunk": F / lay.vp, "t_bwd_chunk": B / lay.vp, "group": default_group(m, lay.pp)}
    extra = pipeline_send_time(*args, blocking_warmup=True, forward_send_wait=True, **kw) - pipeline_send_time(*args, **kw)
    return (f"pipeline sends: Megatron-Core's asynchronous interleaved schedule (the releases of the stacks on file); "
            f"a current release's held sends (stack settings p2p_blocking_warmup, p2p_forward_send_wait) would add "
            f"{extra:.3f} s per step ({extra / r['step']:.1%}) at this layout")


def _block_twin(lay: TrainLayout, L: int, mem_of, usable: float) -> TrainLayout | None:
    """`lay` (full recompute, which fits) under Megatron-Core's block recompute with the smallest k
    (layers recomputed per chunk, train_layout.BLOCK) whose memory `mem_of` fits `usable`, or None when
    no k below the layers per chunk fits or the layout fits without recompute (then block is only
    slower than none, itself a candidate). Memory falls as k grows (each recomputed layer keeps its
    input only) and the step grows with k (one more forward rerun), so the smallest k that fits is the
    fastest block layout: bisection on k."""
    n = max(chunk_layers(L, lay.pp, lay.vp))
    if n < 2 or mem_of(replace(lay, recompute="none")) <= usable:
        return None
    lo, hi = 1, n  # hi: full recompute (fits)
    while lo < hi:
        k = (lo + hi) // 2
        if mem_of(replace(lay, recompute=f"{BLOCK}:{k}")) <= usable:
            hi = k
        else:
            lo = k + 1
    return replace(lay, recompute=f"{BLOCK}:{lo}") if lo < n else None


def _without_recompute(lay: TrainLayout, r: dict, bare: dict | None, usable: float, mfu: float) -> dict | None:
    """The searched layout's twin without recompute (`bare`, evaluate_layout's dict, or None): its memory
    against the usable memory and the step it would take had it fit, for the note and --json. None when the
    layout recomputes nothing or the user pinned the recompute."""
    if bare is None:
        return None
    return {"recompute": lay.recompute, "mem_gib": bare["mem"] / GIB, "act_gib": bare["act"] / GIB,
            "usable_gib": usable / GIB, "fits": bare["mem"] <= usable, "step_s": bare["step"],
            "mfu_had_it_fit": mfu * r["step"] / bare["step"], "step_with_recompute_s": r["step"],
            # the communication a shorter backward no longer hides (the overlapped DP / TP / CP collectives)
            "exposed_comm_s": sum(bare["exposed_comm_s"].values()),
            "exposed_comm_with_recompute_s": sum(r["exposed_comm_s"].values())}


# the twin's step within this fraction of the searched one reads as "the same step" in the note
SAME_STEP_REL = 1e-3


def _recompute_note(lay: TrainLayout, w: dict) -> str:
    """One line: why the search recomputes (the search's choice changes the answer by this much)."""
    if lay.pp > 1:
        held = (f"the micro-batches the {'interleaved ' if lay.vp > 1 else ''}1F1B schedule keeps in flight, "
                "Megatron-Core's: perf/train_memory.in_flight_passes")
    else:
        held = "one micro-batch: no pipeline"
    text = (f"recompute {w['recompute']} (searched): this layout without recompute needs {w['mem_gib']:.1f} GiB per chip "
            f"of {w['usable_gib']:.1f} usable (activations {w['act_gib']:.1f} GiB, {held})"
            + ("; had it fit, " if not w["fits"] else "; it fits and takes ") +
            f"{w['step_s']:.3f} s per step (MFU {w['mfu_had_it_fit']:.1%}) instead of {w['step_with_recompute_s']:.3f} s")
    grown = w["exposed_comm_s"] - w["exposed_comm_with_recompute_s"]
    if grown <= 0.0:
        return text
    same = abs(w["step_s"] - w["step_with_recompute_s"]) <= SAME_STEP_REL * w["step_with_recompute_s"]
    return text + (f": the backward it shortens was hiding the overlapped collectives, exposed {w['exposed_comm_s']:.3f} s "
                   f"per step without recompute against {w['exposed_comm_with_recompute_s']:.3f} s with it"
                   + (" (the step is bound by that communication, not the compute: recompute costs no time here)"
                      if same else ""))


def _slowest_rank(r: dict, spread: RankSpread, ranks: int) -> dict:
    """The step with its per-rank compute gated by the slowest of `ranks` ranks (perf/rank_spread.py).
    The exposed DP collectives run on the links, not the cores: not slowed; everything else is the
    ranks' own work (compute, exposed TP / CP / PP transfers waited on inside it, optimizer). The GPU
    idle an eager host leaves (host_issue_idle) is the CPU's time, not the GPU's: not slowed either."""
    not_slowed = r["exposed_dp"] + r["exposed_comm_s"]["dp_replica_all_reduce"] + r.get("host_issue_idle", 0.0)
    compute = r["step"] - not_slowed
    s = sync_slowdown(spread, ranks)
    out = dict(r)
    out["step"] = r["step"] + compute * s
    out["eval_step"] = r["eval_step"] * (1.0 + s)  # forward-only passes end in the same collectives
    out["rank_spread"] = {"ranks": ranks, "sigma_persistent": spread.persistent, "sigma_transient": spread.transient,
                          "expected_max_z": expected_max_normal(ranks), "slowdown": s, "compute_s": compute,
                          "added_s": compute * s, "step_without_s": r["step"], "source": spread.source}
    return out


def _precision_record(recipe: Recipe | None, choices, lora: bool) -> dict | None:
    """Which format each op class ran (formats.plan) and the recipe's quantize work, for --json."""
    if recipe is None:
        return None
    return {"recipe": recipe.name, "scaling": recipe.scaling, "gemm_format": recipe.gemm,
            "quantized_copies": (1 if lora else recipe.copies) if recipe.quantized else 0,
            "extra_reads": recipe.extra_reads, "bf16_layer_fraction": recipe.bf16_fraction,
            "op_classes": [c.as_dict() for c in choices], "source": recipe.source}


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
