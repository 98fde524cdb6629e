"""The software stack's settings of one training step, as one hashable value.

perf/training.train takes them as keywords (perf/train_stack.stack_settings fills them from
data/software/training_stacks.yaml); built once there, they travel as one value into the layout
search (`_train`, the per-micro-batch cost cache) and key the result memo. What each setting
prices is in train()'s docstring and the module named beside the field."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import TapeoutError
from ..hardware.fabric import Fabric
from .dp_buckets import BucketRule
from .rank_spread import RankSpread
from .vocab_padding import check_divisible_by


@dataclass(frozen=True)
class StackFeatures:
    tp_overlap: str | None = None  # userbuffers TP overlap config name (perf/tp_overlap)
    transpose_cache: bool = True  # FP8 weight transposes cached across micro-batches (perf/train_recipe)
    even_pipeline: bool = False  # only layouts splitting the layers evenly over PP x VP
    grad_sync: str = "fp32"  # gradient buffer and DP reduce-scatter dtype (perf/train_memory)
    attention_kernel: str = "cudnn"  # attention library (perf/train_attention)
    comm_ctas: int = 0  # cores an overlapped collective occupies (perf/comm_contention)
    overlap_p2p: bool = True  # pipeline sends behind compute (perf/pipeline_p2p)
    rank_spread: RankSpread | None = None  # per-rank speed spread (perf/rank_spread)
    dp_bucket: BucketRule = field(default_factory=BucketRule)  # DP bucket rule (perf/dp_buckets)
    sequence_parallel: bool = True  # norms on the T/TP shard (perf/sequence_parallel)
    lm_loss: str | None = None  # loss kernels over the logits (perf/train_loss; None: not costed)
    frozen_dy_transpose: bool = False  # a frozen GEMM's dY also quantized transposed (perf/train_recipe)
    fabric: Fabric = field(default_factory=Fabric)  # zones, oversubscription, rank order (hardware/fabric, perf/zone_share)
    grad_sync_after_backward: bool = False  # ZeRO-0 DP all-reduce after the whole backward (perf/training)
    fp8_reduce_amax: bool = False  # delayed scaling's amax all-reduce per chunk per micro-batch (perf/fp8_amax)
    quantized_gathers: bool = False  # SP all-gathers move the recipe's quantized operands (perf/train_recipe.gather_bytes)
    vocab_divisible_by: int = 1  # V padded to a multiple of this x TP (perf/vocab_padding; 1: none)

    def __post_init__(self):
        check_divisible_by(self.vocab_divisible_by)
        if self.rank_spread is not None and not isinstance(self.rank_spread, RankSpread):
            raise TapeoutError(f"rank_spread must be a perf.rank_spread.RankSpread (or None); "
                               f"got {type(self.rank_spread).__name__}.")
        if not isinstance(self.dp_bucket, BucketRule):
            raise TapeoutError(f"dp_bucket must be a perf.dp_buckets.BucketRule (perf.dp_buckets.bucket_rule builds one "
                               f"from a kind name or {{kind, cap_mb}}); got {type(self.dp_bucket).__name__}.")
        if not isinstance(self.fabric, Fabric):
            raise TapeoutError(f"fabric must be a hardware.fabric.Fabric (hardware.fabric.get_fabric builds one from a "
                               f"cluster name); got {type(self.fabric).__name__}.")
