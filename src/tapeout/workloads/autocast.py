"""Weight casts of PyTorch autocast (AMP "O1") in a training step.

autocast casts a GEMM / convolution operand to the lower-precision dtype only where it is not
already in it (pytorch/pytorch aten/src/ATen/autocast_mode.cpp, v2.3.0, cached_cast:
`is_eligible(arg) && arg.scalar_type() != to_type`). An FP32 weight (a leaf tensor that requires
grad) is cast once per autocast region and the cast is cached, so every later use in the forward
and the backward reuses it (same function, `can_try_cache`: to_type is the lower-precision dtype,
arg is FP32, requires_grad, is_leaf, not a view; torch/amp/autocast_mode.py clears the cache on
leaving the outermost region). Per step and FP32 weight element:
  forward   the cast reads the FP32 weight and writes its 16-bit copy         4 + 2 B
  backward  the cast's backward (ToCopyBackward0) turns the 16-bit weight
            gradient into the FP32 .grad                                     2 + 4 B
Weights already in the 16-bit dtype (AMP O2, or NeMo's Stable Diffusion UNet built with
unet_precision fp16: data/mlperf/other_benchmarks.yaml sd_train.unet_weight_dtype) pay neither.
The ops are memory passes run once per step, outside the forward/backward rule of
perf/train_backward.py (each is priced as it runs).
"""

from __future__ import annotations

from ..ops import Elementwise
from ..precision import dtype_bytes


def weight_cast_ops(prefix: str, weight_elems: float, weight_dtype: str, autocast_dtype: str) -> list[Elementwise]:
    """The forward weight cast and its backward gradient cast of `weight_elems` trained weights
    stored in `weight_dtype` under autocast to `autocast_dtype` (module doc); [] where the weights
    are no wider than the autocast dtype (nothing to cast)."""
    wide = dtype_bytes(weight_dtype) / dtype_bytes(autocast_dtype)  # tensor accesses of the wide side
    if wide <= 1 or weight_elems <= 0:
        return []
    return [Elementwise(name=f"{prefix}.weight_cast", elems=float(weight_elems), flops_per_elem=1, reads=wide, writes=1,
                        dtype=autocast_dtype),
            Elementwise(name=f"{prefix}.wgrad_cast", elems=float(weight_elems), flops_per_elem=1, reads=1, writes=wide,
                        dtype=autocast_dtype)]


__all__ = ["weight_cast_ops"]
