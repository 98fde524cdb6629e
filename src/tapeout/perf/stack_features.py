"""The software stack's settings of one training step, as one hashable value.

perf/training.train takes them as keywords (`**stack`; perf/train_stack.stack_settings fills them from
data/software/training_stacks.yaml) and builds one StackFeatures (`from_settings`), which travels into
the layout search (`_train`, the per-micro-batch cost cache) and keys the result memo. The fabric comes
from train's `cluster` and `rank_order` (hardware/fabric). What each setting prices:

`tp_overlap`: a stack's TP communication overlap (data/software/tp_comm_overlap.yaml; None: none).
`transpose_cache`: False re-transposes quantized frozen LoRA weights every micro-batch (NeMo
disable_parameter_transpose_cache).
`even_pipeline`: the stack needs the same layer count on every pipeline device and virtual stage
(train_layout.even_stages; Megatron-LM / NeMo 1.x); False allows uneven first/last stages.
`grad_sync`: dtype of the gradient buffer and its DP reduce-scatter, "fp32" (Megatron-LM / Megatron-Core
/ NeMo 2 default for BF16 models) or "bf16" (NeMo 1.x distributed_fused_adam grad_sync_dtype: bf16).
`attention_kernel`: the attention library the stack ran ("cudnn", the calibrated one; "fa2": flash-attn 2; "fa1": flash-attn 1.x),
at its measured rate relative to cuDNN on the chip (perf/train_attention.py); a chip without that
measurement keeps the calibrated rate and says so in the notes. "unfused": no fused kernel, Megatron-LM's
CoreAttention (batched GEMMs, softmax and dropout over the materialised s x s scores), op by op
(perf/unfused_attention.py).
`comm_ctas`: CTAs (one SM each) an overlapped DP / CP collective occupies (NCCL channels); the
compute it hides behind runs on the other cores (perf/comm_contention.py). 0: free (the default:
a stack that does not cap its DP communicator's CTAs); a stack on file with the cap
(training_stacks.yaml nccl_max_ctas, NeMo 23.09: 8) sets it, and the result's notes show the share.
`tp_comm_ctas`: CTAs the tensor-parallel communicator's collectives occupy where the backward runs them
asynchronously beside a GEMM (perf/tp_backward.py: the dgrad all-reduce / reduce-scatter behind the wgrad
GEMM, the input re-gather behind the dgrad GEMM); that GEMM runs on the other cores meanwhile. None (the
default): the TP collectives take `comm_ctas` (the rule before this setting). A stack that caps its TP
communicator (training_stacks.yaml nccl_max_ctas tp, NeMo 23.09: 8) or a run whose NCCL channel count is
on file (data/measured/layer_times.csv: NCCL's 24 coll channels on an 8-GPU A100 NVSwitch node) sets it.
`fixed_microbatch_group`: the stack's interleaved schedule runs the micro-batches in groups of exactly PP
(Megatron-Core before `microbatch_group_size_per_vp_stage`), so a layout with VP > 1 needs m a multiple of
PP (perf/pipeline_p2p.fixed_group_rule); the search keeps only those. Default False: the current schedule's
tunable group (perf/pipeline_p2p.default_group).
`overlap_p2p`: the stack's overlap_p2p_comm: interleaved schedules (vp > 1) hide the steady-state
pipeline sends, leaving the fill/drain hops and the loop-backs the schedule's group N = PP leaves
no slack for exposed (perf/pipeline_p2p.py). Default True:
Megatron-LM's training default (--no-overlap-p2p-communication is store_false; forced off without
virtual stages) and NeMo 2's comm-overlap callback at VP > 1.
`p2p_blocking_warmup`, `p2p_forward_send_wait`: the interleaved schedule's sends of later Megatron-Core
releases (perf/pipeline_p2p.py): the warm-up / cool-down sends held on the device
(overlap_p2p_comm_warmup_flush False), and each steady-state forward send waited on before the next chunk
(Megatron-LM 260cba71, 2026-04-16). Default False: the asynchronous schedule of the releases the stacks on
file ran; the training result's notes give what both would add at the chosen layout.
`rank_spread`: per-rank compute-speed spread (perf/rank_spread.RankSpread); the step's compute then
waits for the slowest of all ranks (expected max of a normal over num_chips ranks), shown in
breakdown['rank_spread'] and in the interval. None (the default): every rank at the calibrated
rate; no size for data-centre fleets is on file (docs/notes/issue-18.md, Round stop-20 issue-20sa).
`dp_bucket`: the stack's DP bucket rule (perf/dp_buckets.bucket_rule: None = Megatron-Core's
max(40M, 1M x DP x CP) parameters on the first model chunk; "apex" / {kind: apex, cap_mb: 100} =
Apex DistributedFusedAdam): one reduce-scatter and one all-gather per bucket, each paying the ring latency.
`sequence_parallel`: at TP > 1 the norms between the TP-sharded blocks run on each rank's T/TP-token
shard and the activations they save are sharded too (perf/sequence_parallel.py, train_memory).
Default True: NeMo runs TP-overlapped stacks only with it, MaxText shards the same ops on its
tensor axis.
`bf16_hp_grad_pass`: at ZeRO-0 the stack's optimizer is DeepSpeed's BF16_Optimizer, which adds every micro-batch's
BF16 gradients into its FP32 buffer in a pass of its own (10 B a parameter; perf/bf16_hp_grads.py), where Megatron-LM /
NeMo accumulate in the wgrad GEMM's epilogue. Default False.
`attention_dropout`: an "unfused" attention core (perf/unfused_attention.py) runs its attention-dropout kernel
(Megatron-LM attention_dropout > 0, its default 0.1). False: the run's attention dropout is 0 and its code builds
no dropout module then (Habana's Megatron-DeepSpeed fork, megatron/model/transformer.py CoreAttention:
`torch.nn.Dropout(args.attention_dropout) if args.attention_dropout != 0 else None`), so no dropout pass over
the scores (unfused_attention.ZERO_DROPOUT_SKIPPED). Default True: the core as Megatron-LM prices it.
`hidden_dropout`: the residual bias-dropout-adds after the attention and the MLP draw a dropout mask (Megatron-LM
hidden_dropout > 0; GPT-3 / Korthikanti et al. 2022's layer: 0.1, the two s b h masks of their Sec. 4.1 count):
forward writes the 1-byte mask beside the sum and draws its Philox numbers at the measured dropout share
(perf/memory_kernels.py), backward runs the masked gradient (read grad and mask, write) per residual
(perf/training.py, residual_ops). Default False: the pretraining configs on file run hidden dropout 0.
`lm_loss`: the stack's loss kernels over the logits on the last stage (perf/train_loss.LOSSES:
"vocab_parallel_fp32", Megatron / NeMo's FP32 vocab-parallel cross-entropy); None (the default): not
costed (a stack not on file; XLA stacks fuse it differently).
`frozen_dy_transpose`: the stack quantizes a frozen (LoRA) GEMM's output gradient with its transposed
copy too (Transformer Engine 1.x grad_output_preprocess; perf/train_recipe.py). Default False: one copy,
what the frozen GEMM's dgrad reads.
`vocab_divisible_by`: the stack pads the vocabulary to a multiple of this x TP (Megatron / NeMo
make_vocab_size_divisible_by; perf/vocab_padding.py): the LM head, the loss, the embedding's memory and
its tied sync run on the padded V. Default 1: the tokenizer's V (a stack not on file, MaxText).
`quantized_gathers`: the stack's GEMM modules all-gather their sequence-parallel operands (a norm-fed
GEMM's input, a row-parallel GEMM's dY) in the recipe's quantized format where the recipe quantizes them
before the gather (Transformer Engine; train_recipe.gather_bytes). Default False: BF16 gathers, as a stack
whose linear layers cast after Megatron's gather runs them.
`grad_sync_after_backward`: with ZeRO-0 the stack all-reduces the DP gradients once after the whole
backward (NeMo 1.x megatron_amp_O2 MainParamsOptimizerWrapper: async_grad_allreduce is off under
sequence parallelism, PP > 1 or gradient-accumulation fusion; training_step calls
allreduce_main_grads() after fwd_bwd_step), so the all-reduce is exposed whole. Default False: it
overlaps the last micro-batch's backward (PyTorch DDP / Megatron-Core DDP buckets).
`fp8_reduce_amax`: under the FP8 delayed-scaling recipe, the amaxes are MAX all-reduced over the stage's
TP x DP x CP ranks at each model chunk's forward exit and backward, blocking the compute stream
(TE reduce_amax, NeMo FP8_REDUCE_AMAX; perf/fp8_amax.py). Default False: local amax updates only.
`eager_layer`: the run issues its layers eagerly (no CUDA graphs): the layer type whose CPU calls per
layer data/software/host_issue.yaml tallies; the step adds the GPU idle the host leaves
(perf/train_host.py rule, one segment per step, PP 1), shown in breakdown['host_issue']. Default None: no
host issue time (a CUDA-graph run, or a stack whose eager layer is not on file).
`host_cpu`: the eager run's host CPU, one with a measured per-call CPU time (host_issue.yaml). None: the
chip's own (a Grace superchip), else the reference host, shown as assumed. Set only with eager_layer.
`fp8_scale_update`: the Transformer Engine line whose FP8 delayed-scaling update kernels (amax history roll,
scale computation: per module per pass in TE 0.x / 1.0, per autocast region later) each layer launches, an entry
of data/software/fp8_scale_update.yaml; priced at the chip's per-kernel fixed time under the delayed recipe
(perf/fp8_scale_update.py). Default None: not priced.
`fp8_attention_cp`: a run that asked FP8 attention (train's fp8_attention) keeps it inside the
context-parallel ring (Transformer Engine >= 1.10, AttnFuncWithCP's FP8 path). False (a stack of an
earlier TE, training_stacks.yaml fp8_attention_context_parallel): a CP > 1 layout runs its attention
core in BF16, shown in breakdown['attention_precision']; CP 1 layouts keep FP8. Default True.
`recompute_gate`: the recompute methods the stack runs (perf/recompute_gate.RecomputeGate, from
training_stacks.yaml recompute_methods): the search tries only those (block:k only where the stack runs block), and a
pinned recompute outside them is refused naming the stack. None (the default, a stack not on file): every method the
model prices.
`zero_overlap_comm`: under ZeRO-2 / ZeRO-3 the gradient reduce-scatters (and ZeRO-3's per-micro-batch parameter
all-gathers) run on their own stream beside the compute. False (DeepSpeed `zero_optimization.overlap_comm: false`):
they run on the compute stream, so every one is exposed: DeepSpeed ZeRO-3 (deepspeed/runtime/zero/
parameter_offload.py DeepSpeedZeRoOffload: `allgather_stream = Stream() if overlap_comm else default_stream()`;
stage3.py DeepSpeedZeroOptimizer_Stage3: `reduce_and_partition_stream = Stream() if overlap_comm else
default_stream()`). Default True: DeepSpeed's overlap_comm default for ZeRO-3 and PyTorch FSDP's prefetch; the
result's notes say which a ZeRO-2/3 layout ran.
`nccl_default_channels`: the stack's runs set no NCCL channel / CTA cap, so an overlapped DP collective holds NCCL's
own channel count for the job's ring (perf/nccl_channels.job_channels, under its switch NCCL_DEFAULT_CHANNELS) as
`comm_ctas` when comm_ctas is 0. Default False: a stack whose NCCL environment is not on file keeps 0.
`elementwise_chain`: the stack runs its model's RMSNorm, RoPE and SwiGLU activation op by op (eager PyTorch, e.g.
the Hugging Face modeling code): a chain name of data/software/eager_elementwise.yaml whose per-op reads and
writes replace the fused kernels' in the graph (perf/eager_elementwise.py). None (the default): fused kernels,
as Megatron-Core / Transformer Engine run them.
`ep_node_forwarding`: the stack's EP dispatch / combine crosses the scale-out network once per destination node
and forwards over NVLink to the experts there (DeepEP normal internode kernels, as DeepSeek-V3's training ran
them, arXiv:2412.19437 Sec. 3.2.2; Megatron-Core `moe_token_dispatcher_type: flex` with `moe_enable_deepep`):
the NIC bytes per token are its expected distinct remote nodes under the model's routing (group-limited where
its config has n_group / topk_group; perf/moe.expected_nodes_per_token), not k copies
(perf/collectives.node_forwarded_all_to_all). Default False: Megatron-Core's `alltoall` dispatcher, one NCCL
all-to-all of the k permuted copies of every token (token_dispatcher.py MoEAlltoAllTokenDispatcher).
`ep_fp8_dispatch`: under an FP8 recipe the EP dispatch moves FP8 activations with a FP32 scale per 1 x 128 tile,
the combine BF16 (DeepSeek-V3's recipe, arXiv:2412.19437 Sec. 3.3.2). Default False: Megatron-Core dispatches
the BF16 hidden states, flex/DeepEP included (megatron/core/transformer/moe/fused_a2a.py @02ad939b:
get_hidden_bytes = hidden x max(element_size, 2); HybridEP "we do not support fp8 dispatch").
`fp32_params`: the stack keeps its trained parameters in FP32 and they are the optimizer's master copy, Adam's
moments in the same dtype (MaxText weight_dtype float32, optax adamw without mu_dtype): 4 B weight + gradient + 8 B
of moments per parameter (perf/train_memory.state_bytes, switch FP32_PARAM_STATES). Default False: a 16-bit weight
beside an FP32 master and moments, 2 + gradient + 12 B (Megatron-LM's distributed optimizer table).
Every switch above is True or False, comm_ctas a whole number >= 0 and tp_comm_ctas one or None: anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import TapeoutError
from ..hardware.fabric import Fabric
from .dp_buckets import BucketRule, bucket_rule
from .eager_elementwise import chain_ops
from .fp8_scale_update import check_update
from .host_issue import check_host_issue
from .rank_spread import RankSpread
from .recompute_gate import RecomputeGate
from .vocab_padding import check_divisible_by


@dataclass(frozen=True)
class StackFeatures:
    tp_overlap: str | None = None  # userbuffers TP overlap config name (perf/tp_overlap)
    transpose_cache: bool = True  # FP8 weight transposes cached across micro-batches (perf/train_recipe)
    even_pipeline: bool = False  # only layouts splitting the layers evenly over PP x VP
    fixed_microbatch_group: bool = False  # interleaved groups of exactly PP micro-batches (perf/pipeline_p2p)
    grad_sync: str = "fp32"  # gradient buffer and DP reduce-scatter dtype (perf/train_memory)
    attention_kernel: str = "cudnn"  # attention library (perf/train_attention)
    attention_probs_saved: bool = False  # Habana FusedSDPA, recompute off: P written / read in HBM (perf/fused_sdpa)
    attention_dropout: bool = True  # an unfused core's attention-dropout kernel runs (perf/unfused_attention)
    comm_ctas: int = 0  # cores an overlapped collective occupies (perf/comm_contention)
    tp_comm_ctas: int | None = None  # cores an async backward TP collective occupies (perf/tp_backward; None: comm_ctas)
    overlap_p2p: bool = True  # pipeline sends behind compute (perf/pipeline_p2p)
    p2p_blocking_warmup: bool = False  # later Megatron-Core: warm-up / cool-down sends held (perf/pipeline_p2p)
    p2p_forward_send_wait: bool = False  # Megatron-LM 260cba71: steady-state forward sends waited on (perf/pipeline_p2p)
    rank_spread: RankSpread | None = None  # per-rank speed spread (perf/rank_spread)
    dp_bucket: BucketRule = field(default_factory=BucketRule)  # DP bucket rule (perf/dp_buckets)
    sequence_parallel: bool = True  # norms on the T/TP shard (perf/sequence_parallel)
    lm_loss: str | None = None  # loss kernels over the logits (perf/train_loss; None: not costed)
    hidden_dropout: bool = False  # the residual bias-dropout-adds draw and store a dropout mask (perf/training)
    frozen_dy_transpose: bool = False  # a frozen GEMM's dY also quantized transposed (perf/train_recipe)
    fabric: Fabric = field(default_factory=Fabric)  # zones, oversubscription, rank order (hardware/fabric, perf/zone_share)
    grad_sync_after_backward: bool = False  # ZeRO-0 DP all-reduce after the whole backward (perf/training)
    bf16_hp_grad_pass: bool = False  # DeepSpeed BF16_Optimizer's FP32 gradient add per micro-batch at ZeRO-0 (perf/bf16_hp_grads)
    fp8_reduce_amax: bool = False  # delayed scaling's amax all-reduce per chunk per micro-batch (perf/fp8_amax)
    quantized_gathers: bool = False  # SP all-gathers move the recipe's quantized operands (perf/train_recipe.gather_bytes)
    vocab_divisible_by: int = 1  # V padded to a multiple of this x TP (perf/vocab_padding; 1: none)
    eager_layer: str | None = None  # layers issued eagerly: their host_issue.yaml layer type (perf/host_issue)
    host_cpu: str | None = None  # the host CPU of an eager run (perf/host_issue; None: the chip's, else the reference)
    fp8_attention_cp: bool = True  # FP8 attention inside the CP ring too (TE >= 1.10; False: BF16 at CP > 1)
    recompute_gate: RecomputeGate | None = None  # the stack's recompute methods (perf/recompute_gate; None: all)
    ep_node_forwarding: bool = False  # EP all-to-all once per node, NVLink forwarding (DeepEP; perf/collectives)
    ep_fp8_dispatch: bool = False  # EP dispatch in FP8 + 1x128 scales under an FP8 recipe (DeepSeek-V3 Sec. 3.3.2)
    zero_overlap_comm: bool = True  # ZeRO-2/3 collectives on their own stream (DeepSpeed overlap_comm; perf/training)
    elementwise_chain: str | None = None  # norms / RoPE / activation run op by op (perf/eager_elementwise; None: fused)
    nccl_default_channels: bool = False  # no NCCL channel cap: overlapped DP collectives on NCCL's own count (perf/nccl_channels)
    fp8_scale_update: str | None = None  # TE line of the FP8 delayed-scaling update kernels (perf/fp8_scale_update; None: none)
    fp32_params: bool = False  # FP32 parameters are the optimizer's master: 4 + grad + 8 B per parameter (perf/train_memory)

    def __post_init__(self):
        check_divisible_by(self.vocab_divisible_by)
        for f in fields(self):
            # a switch given as "no" / 0 / nan would be read by truth value: refuse anything but a boolean
            if f.type == "bool" and not isinstance(getattr(self, f.name), (bool, np.bool_)):
                raise TapeoutError(f"stack setting {f.name} = {getattr(self, f.name)!r}: give True or False "
                                   f"(perf/stack_features.StackFeatures).")
        c = self.comm_ctas
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c < 0:
            raise TapeoutError(f"stack setting comm_ctas = {c!r}: give a whole number >= 0 of CTAs (one core each) "
                               f"an overlapped DP / CP collective occupies; 0 for none (perf/comm_contention.py).")
        t = self.tp_comm_ctas
        if t is not None and (isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) or t < 0):
            raise TapeoutError(f"stack setting tp_comm_ctas = {t!r}: give a whole number >= 0 of CTAs (one core each) "
                               f"an async backward TP collective occupies, or None to take comm_ctas (perf/tp_backward.py).")
        if self.elementwise_chain is not None:
            chain_ops(self.elementwise_chain)
        if self.fp8_scale_update is not None:
            check_update(self.fp8_scale_update)
        if self.eager_layer is not None or self.host_cpu is not None:
            check_host_issue(self.eager_layer, self.host_cpu)
        if self.host_cpu is not None and self.eager_layer is None:
            raise TapeoutError(f"stack setting host_cpu = {self.host_cpu!r} acts only on an eager run: set eager_layer "
                               f"too (the layer type the host issues, data/software/host_issue.yaml), or leave host_cpu unset.")
        if self.rank_spread is not None and not isinstance(self.rank_spread, RankSpread):
            raise TapeoutError(f"rank_spread must be a perf.rank_spread.RankSpread (or None); "
                               f"got {type(self.rank_spread).__name__}.")
        if not isinstance(self.dp_bucket, BucketRule):
            raise TapeoutError(f"dp_bucket must be a perf.dp_buckets.BucketRule (perf.dp_buckets.bucket_rule builds one "
                               f"from a kind name or {{kind, cap_mb}}); got {type(self.dp_bucket).__name__}.")
        if self.recompute_gate is not None and not isinstance(self.recompute_gate, RecomputeGate):
            raise TapeoutError(f"recompute_gate must be a perf.recompute_gate.RecomputeGate (perf.recompute_gate.gate_of "
                               f"builds one from a stack's recompute_methods) or None; got {type(self.recompute_gate).__name__}.")
        if not isinstance(self.fabric, Fabric):
            raise TapeoutError(f"fabric must be a hardware.fabric.Fabric (hardware.fabric.get_fabric builds one from a "
                               f"cluster name); got {type(self.fabric).__name__}.")

    @property
    def tp_ctas(self) -> int:
        """CTAs an async backward TP collective occupies: tp_comm_ctas, else comm_ctas."""
        return self.comm_ctas if self.tp_comm_ctas is None else self.tp_comm_ctas

    @classmethod
    def from_settings(cls, settings: dict, fabric: Fabric | None = None) -> "StackFeatures":
        """The features from keyword settings (train's `**stack`): the stack file's DP bucket spelling
        normalised by dp_buckets.bucket_rule; an unknown name is one TapeoutError listing the fields."""
        names = [f.name for f in fields(cls) if f.name != "fabric"]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise TapeoutError(f"unknown training stack setting(s) {', '.join(unknown)}: the settings are "
                               f"{', '.join(names)} (perf/stack_features.StackFeatures).")
        settings = dict(settings)
        settings["dp_bucket"] = bucket_rule(settings.get("dp_bucket"))
        return cls(**settings, **({"fabric": fabric} if fabric is not None else {}))
