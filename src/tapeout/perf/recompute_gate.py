"""Which activation-recompute methods a training software stack can run (data/software/training_stacks.yaml
`recompute_methods`, each stack's list with its source), applied to the layout search and to pins.

Method names are the training model's recompute kinds (perf/train_layout.RECOMPUTE) plus "block", Megatron-Core's
partial recompute of the first k layers of each model chunk ("block:k", any k):
  none       keep every activation
  selective  Megatron's selective recompute: the attention core only (Korthikanti et al. 2022)
  full       rerun every layer's forward from its saved input (Megatron "full"/"uniform", JAX nothing_saveable)
  dots       XLA jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims (MaxText "minimal", Pax
             SAVE_DOT_WITH_NO_BATCH_DIM): keep the projection outputs, rerun the rest
  block      Megatron-Core / NeMo --recompute-method block --recompute-num-layers k (activations_checkpoint_method
             block): only some layers of each chunk recompute. A JAX stack that scans its layers
             (Pax StackedTransformerRepeated, MaxText scan_layers) applies one jax.checkpoint policy to the scanned
             layer body, so every layer recomputes alike: no "first k layers" there.
A stack not on file, or one whose entry lists no methods, keeps every method the model prices (RecomputeGate None).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TapeoutError
from .train_layout import BLOCK, RECOMPUTE, SEARCHED_RECOMPUTE, block_layers

METHODS = RECOMPUTE + (BLOCK,)


def method_of(recompute: str) -> str:
    """The method a recompute value runs: "block" for any "block:k", else the value itself."""
    return BLOCK if block_layers(recompute) is not None else recompute


@dataclass(frozen=True)
class RecomputeGate:
    stack: str  # the stack whose list this is (named in a refusal)
    methods: tuple  # the methods it runs, names of METHODS

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if not self.methods or bad or not isinstance(self.methods, tuple):
            raise TapeoutError(f"training stack '{self.stack}' recompute_methods {list(self.methods)!r}: give a non-empty list of "
                               f"{', '.join(METHODS)} (data/software/training_stacks.yaml).")
        if BLOCK in self.methods and "full" not in self.methods:  # block is a method of full granularity
            raise TapeoutError(f"training stack '{self.stack}' recompute_methods {list(self.methods)!r}: block needs full too "
                               f"(NeMo activations_checkpoint_method 'uniform', 'block': 'not used with selective', i.e. a "
                               f"method of full granularity; the search tries block:k as a twin of a full-recompute layout) (data/software/training_stacks.yaml).")

    def allows(self, recompute: str) -> bool:
        return method_of(recompute) in self.methods

    @property
    def block(self) -> bool:
        """The stack runs Megatron-Core's block recompute (the search may try block:k)."""
        return BLOCK in self.methods

    def searched(self) -> list[str]:
        """The recompute kinds the layout search tries under this stack: the searched ones (none, selective,
        full) it runs; a stack running none of those is searched over its own methods (block:k aside)."""
        return [r for r in SEARCHED_RECOMPUTE if r in self.methods] or [m for m in self.methods if m != BLOCK]

    def check(self, recompute: str | None, field: str = "recompute") -> None:
        """One error naming the stack and its methods when a pinned `recompute` is one it cannot run."""
        if recompute is not None and not self.allows(recompute):
            raise TapeoutError(f"{field} '{recompute}' is not a recompute method the training stack '{self.stack}' runs: "
                               f"it runs {', '.join(self.methods)} (data/software/training_stacks.yaml recompute_methods); "
                               f"pin one of those, or run without the stack (tapeout train --stack none).")


def gate_of(stack_name: str, methods) -> RecomputeGate | None:
    """The gate of a stack's `recompute_methods` value (a list), None where the stack gives none."""
    if methods is None:
        return None
    if not isinstance(methods, (list, tuple)):
        raise TapeoutError(f"training stack '{stack_name}' recompute_methods = {methods!r}: give a list of "
                           f"{', '.join(METHODS)} (data/software/training_stacks.yaml).")
    return RecomputeGate(stack_name, tuple(methods))
