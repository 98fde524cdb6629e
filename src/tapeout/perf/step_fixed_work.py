"""Work NeMo's Megatron GPT training step does outside the pipeline schedule, on the stacks that run Apex
DistributedFusedAdam (the NVIDIA MLPerf GPT-3 stacks: data/software/training_stacks.yaml dp_bucket kind apex).

Three pieces, each read in the source of the stack's code path and each on the step's critical path (on the compute
stream or a blocking collective the compute stream waits for):

  zero_grad     NeMo 1.x MegatronGPTModel.training_step starts every step with `self._optimizer.zero_grad()`
                ("we zero grads here because we also call backward in the megatron-core fwd/bwd functions";
                NVIDIA/NeMo nemo/collections/nlp/models/language_modeling/megatron_gpt_model.py, the same call in
                the stored NeMo 1.x Megatron models); Apex DistributedFusedAdam.zero_grad with contiguous_grad_buffer
                (the stacks' conf/optim: contiguous_grad_buffer True) runs `self._grad_buffer.zero_()` over the whole
                buffer (NVIDIA/apex apex/contrib/optimizers/distributed_fused_adam.py @d571f3e), which holds every
                local parameter's gradient in grad_sync_dtype (not the 1/DP shard): one memory-bound write of
                P_device x grad bytes before the first forward, nothing to hide behind.
                time = P_device x grad_bytes / (HBM bandwidth x eff_mem)
  grad_norm     NeMo's MegatronDistributedFusedAdam.grad_norm (nemo/core/optim/distributed_adam.py) sums the local
                squared norm with `torch.distributed.all_reduce(grad_norm_sq, op=SUM)` and no group: the default
                (world) group, one float, blocking, before the Adam step (gradient clipping, clip_grad 1.0 in the
                GPT-3 configs). time = one all-reduce of 4 B over all the run's chips.
  loss_average  NeMo's GPT loss_func averages every micro-batch's loss over the data-parallel group on the last
                pipeline stage: `average_losses_across_data_parallel_group([loss_for_ub])` (a torch.distributed
                all_reduce of one float on parallel_state.get_data_parallel_group(), blocking), in training and in
                validation. The last stage is on the pipeline's critical path in the steady state: per step
                m x one all-reduce of 4 B over DP; per evaluation pass the same.

Sizes for GPT-3 175B on H100 (engine pricing; docs/notes/issue-18.md, round stop-42): zeroing 3.7 ms per step at
TP4 PP8 (5.5e9 parameters x 2 B at 2.98 TB/s effective), 4.9 ms at TP4 PP6; the world all-reduce 0.1-0.3 ms;
the loss all-reduces 8.4 ms at 512 chips (m 128), 1.0-1.3 ms at 10,752 (m 6-8).

What this module does not price (sized in the notes, left out): the world broadcast of the mean loss from the
last rank that some NeMo 1.x releases run after the fwd/bwd (`torch.distributed.broadcast(loss_mean,
get_last_rank())`; later ones send it to rank 0 only), since which one the pinned NeMo commits run is not stored;
NeMo's sequence-parallel layernorm-gradient all-reduce over TP (KB inside a node); host-side per-step work.
"""

from __future__ import annotations

from dataclasses import dataclass

# On: every piece is read in the stacks' own source (NeMo training_step / loss_func / MegatronDistributedFusedAdam,
# Apex DistributedFusedAdam.zero_grad), priced by the engine's own memory and collective models, no fitted constant;
# it adds time to the NeMo GPT-3 / LoRA rows, all of which are optimistic (docs/notes/issue-18.md, round stop-42).
STEP_FIXED_WORK = True

SCALAR_BYTES = 4.0  # one FP32 value (the squared norm, a micro-batch's loss)


@dataclass(frozen=True)
class StepFixedWork:
    """Seconds per step of each piece (eval_s: per evaluation pass over one global batch)."""
    zero_grad_s: float = 0.0
    grad_norm_s: float = 0.0
    loss_average_s: float = 0.0
    eval_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.zero_grad_s + self.grad_norm_s + self.loss_average_s

    def as_dict(self) -> dict:
        return {"zero_grad_s": self.zero_grad_s, "grad_norm_s": self.grad_norm_s,
                "loss_average_s": self.loss_average_s, "total_s": self.total_s, "eval_s": self.eval_s}


def applies(dp_bucket_kind: str) -> bool:
    """The NeMo + Apex DistributedFusedAdam stacks (dp_bucket kind apex) run this training step."""
    return STEP_FIXED_WORK and dp_bucket_kind == "apex"


def zero_grad_s(params: float, grad_bytes: float, hbm_bytes_per_s: float) -> float:
    """One write of the device's contiguous gradient buffer (params x grad_bytes) at the effective HBM rate."""
    if params < 0 or grad_bytes < 0 or hbm_bytes_per_s <= 0:
        raise ValueError("zero_grad_s needs params >= 0, grad_bytes >= 0 and a positive bandwidth")
    return params * grad_bytes / hbm_bytes_per_s


def step_fixed_work(m: float, distributed_optimizer: bool, params: float, grad_bytes: float, hbm_bytes_per_s: float,
                    t_world_allreduce: float, t_dp_allreduce: float) -> StepFixedWork:
    """The three pieces for one step of `m` micro-batches per replica. `distributed_optimizer`: the step runs Apex
    DistributedFusedAdam (ZeRO >= 1, trained weights; a LoRA or ZeRO-0 run keeps only the loss averaging);
    `t_world_allreduce` / `t_dp_allreduce`: one all-reduce of one FP32 value over all chips / over DP (s)."""
    if m < 0 or t_world_allreduce < 0 or t_dp_allreduce < 0:
        raise ValueError("step_fixed_work needs m >= 0 and non-negative collective times")
    loss = m * t_dp_allreduce
    if not distributed_optimizer:
        return StepFixedWork(loss_average_s=loss, eval_s=loss)
    return StepFixedWork(zero_grad_s(params, grad_bytes, hbm_bytes_per_s), t_world_allreduce, loss, loss)
