"""The gradient-accumulation passes a BERT training config runs: its GRADIENT_STEPS, where the config is on file.

NVIDIA's MLPerf BERT (and its partner copies) runs BATCHSIZE / GRADIENT_STEPS sequences per forward and backward,
GRADIENT_STEPS times before the one LAMB step (run_pretraining.py --gradient_accumulation_steps; the configs' naming
{nodes}x{gpus}x{local batch}x{accumulation}, other_benchmarks.yaml bert_train.grad_accumulation). The engine splits a
per-chip batch only where the memory rule needs it (validation/train_fit.check_fits: the fewest passes whose micro-batch
fits), which is one pass on most chips; several configs choose more (2 x A30 and 2 x RTX A5000: 14 passes of 16
sequences; the 1-node 4 x A100-PCIe configs: 2 of 56). Where other_benchmarks.yaml bert_train.config_settings gives a
config's `gradient_steps` (each with its file), the step is priced as that many passes of the micro-batch, through the
same machinery as the memory rule's passes (train_fit.PRICE_PASSES: op counts x passes, rnnt_train.micro_batched): a
smaller GEMM M per pass and every per-pass op repeated. Never fewer passes than the memory rule needs.

BERT_CONFIG_PASSES: see docs/notes/issue-18.md, round stop-42 (issue-63e), for the rows as they came out and why it
is on. Off: the memory rule's passes on every row.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..errors import TapeoutError
from . import train_fit

BERT_CONFIG_PASSES = True


def config_passes(rule: dict | None) -> int | None:
    """The GRADIENT_STEPS a config rule (bert_train.config_settings) states; None where no rule or none stated."""
    if rule is None or "gradient_steps" not in rule:
        return None
    gs = rule["gradient_steps"]
    if not isinstance(gs, int) or isinstance(gs, bool) or gs < 1:
        raise TapeoutError(f"bert_train.config_settings: gradient_steps {gs!r} in the {rule['round']} {rule['submitter']} "
                           "rule must be a whole number >= 1 (the config's GRADIENT_STEPS)")
    return gs


def with_config_passes(fit, gradient_steps: int | None, bench: str, chip, n_chips: int, per_chip: int, sgs: int, p):
    """`fit` (train_fit.StepMemory) split into the config's `gradient_steps` passes where that is more than the memory
    rule's (micro-batch ceil(per_chip / gradient_steps), passes ceil(per_chip / micro)); `fit` unchanged otherwise, or with the switch off."""
    if not BERT_CONFIG_PASSES or gradient_steps is None or gradient_steps <= fit.passes:
        return fit
    micro = math.ceil(per_chip / int(gradient_steps))
    passes = math.ceil(per_chip / micro)  # the last pass takes the remainder (the memory rule's split)
    if passes <= fit.passes:
        return fit
    return replace(train_fit.step_memory(bench, chip, n_chips, micro, sgs, p), passes=passes, micro_batch=micro)


__all__ = ["BERT_CONFIG_PASSES", "config_passes", "with_config_passes"]
