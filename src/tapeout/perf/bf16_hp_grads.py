"""DeepSpeed BF16_Optimizer's high-precision gradient accumulation: one pass over a stage's gradients per micro-batch.

DeepSpeed's BF16_Optimizer (ZeRO stage 0 with bf16 enabled: the optimizer Habana's Megatron-DeepSpeed GPT-3 runs,
run_gpt.sh ZERO_STAGE=0 and ds_config "bf16": {"enabled": true}) keeps the model's gradients in BF16 (`lp.grad`, what
autograd's weight-gradient GEMMs write, beta = 0) and accumulates them into a flat FP32 buffer itself, once per
micro-batch, per parameter (deepspeed-fork runtime/bf16_optimizer.py `update_hp_grad`, stored with
mlcommons/training_results_v3.0 @9f08e30 and v3.1 @f33f944 Intel-HabanaLabs/benchmarks/gpt3/deepspeed-fork):

    hp_grad.data.add_(lp.grad.data.to(hp_grad.dtype).view(hp_grad.shape))

The pipeline engine calls it after every micro-batch's backward on every stage but the last
(runtime/pipe/engine.py `_exec_backward_pass`: `self.optimizer.update_hp_grads(clear_lp_grads=False)`, "manually
call because we don't call optimizer.backward()"); the last stage's backward goes through `optimizer.backward`,
which calls it too. v3.1's fork adds `accumulate_grads_via_hooks` (ds_config "accumulate_grads_via_hooks": true in
its run_gpt.sh): the same `update_hp_grad` from a hook on each parameter's grad accumulator as its gradient is
ready, instead of all of them after the backward; the bytes are the same. Megatron-LM / NeMo instead accumulate in
the wgrad GEMM's epilogue (gradient_accumulation_fusion, perf/train_backward.wgrad_accumulate_time), which the
engine prices for every stack; this pass is what a BF16_Optimizer stack runs in place of it.

Bytes per parameter and micro-batch: read the BF16 gradient (2 B), read and write the FP32 accumulator (4 + 4 B):
10 B, a pure stream at the chip's achieved HBM bandwidth (the cast is fused into the add by the graph compiler or
not; the unfused form would add a 4 B write and read, not priced). Priced into each layer's backward (and the LM
head's on the last stage), so it is on the pipeline's critical path like the rest of the backward, in place of the
wgrad-epilogue accumulation term (autograd's wgrad GEMM writes a fresh BF16 gradient: the optimizer sets lp.grad to
None before each backward, clear_lp_grads). The engine does
not model Gaudi's TPC running beside its MME, so the hook mode's pass is priced like the post-backward one.
"""

from __future__ import annotations

import numpy as np

# the per-micro-batch FP32 accumulation pass of DeepSpeed's BF16_Optimizer (stack setting bf16_hp_grad_pass, ZeRO-0
# layouts only). On: read in DeepSpeed's source (above) and absent from every price before (round stop-42,
# issue-62e); it moves the Habana Megatron-DeepSpeed GPT-3 rows it touches toward their measurements. Off: no pass.
HP_GRAD_PASS = True  # off: the wgrad-epilogue accumulation the other stacks get (perf/train_backward)
LP_GRAD_BYTES = 2.0  # the BF16 gradient autograd wrote
HP_GRAD_BYTES = 4.0  # the FP32 accumulator, read and written
PASS_BYTES = LP_GRAD_BYTES + 2.0 * HP_GRAD_BYTES


def hp_grad_pass_time(weight_elems: float, p, on: bool = True):
    """Time of the accumulation pass over `weight_elems` gradient elements (one micro-batch) at the chip's
    achieved DRAM bandwidth; 0 when the stack does not run it (`on` False) or the switch is off."""
    if not (on and HP_GRAD_PASS):
        return np.zeros_like(np.asarray(p.mem_bw, dtype=float))
    bw = np.asarray(p.mem_bw, dtype=float) * np.asarray(p.eff_mem, dtype=float)
    return float(weight_elems) * PASS_BYTES / bw


__all__ = ["HP_GRAD_PASS", "PASS_BYTES", "hp_grad_pass_time"]
