"""One convolution's three training kernels priced one at a time, as the training graphs price them.

A 2-D convolution of a training graph is one implicit-GEMM op (workloads/blocks.conv2d, ConvMatMul) in the
forward and two GEMMs in the backward (perf/train_backward.gradient_gemms; the mapping of CUTLASS
media/docs/implicit_gemm_convolution.md):
  fprop  y  = conv(x, W)           GEMM m = N Ho Wo,          n = C_out, k = C_in R S
  dgrad  dx = conv(dy, flipped W)  GEMM m = N Ho Wo,          n = C_in,  k = C_out R S
  wgrad  dW = x_col^T dy           GEMM m = C_in R S,         n = C_out, k = N Ho Wo
each with 2 N Ho Wo C_out C_in R S FLOPs (`ConvShape.flops`). `kernel_times` prices each as the one-op graph the
training step sums (perf/train_clock.graph_time: opcost.evaluate, the chip's GEMM calibration, the sustained
clock where `board` is given), so a kernel-level convolution timing (cuDNN / CUTLASS, one kernel, one shape)
can be set against exactly the number the step uses. `gemm_twin` is the plain GEMM of the same m, n, k (its
operands read as dense matrices): the model prices a convolution at the GEMM efficiency, and the two differ only
by the implicit GEMM's activation traffic (ConvMatMul.input_bytes).

Kernel-level convolution timings on a catalog chip: none on file (data/measured/microbenchmarks.csv has no
convolution row; docs/notes/issue-24.md, Round stop-40 issue-51h lists the sources searched and why each
failed). scripts/conv_kernel_table.py tabulates the model's own conv rates by kind and compares any rows that
are added later (`is_conv_row`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import TapeoutError
from ..ops import MatMul, OpGraph
from ..workloads.blocks import as_precision, conv2d, conv_out
from .train_backward import gradient_gemms
from .train_clock import graph_time

KINDS = ("fprop", "dgrad", "wgrad")


@dataclass(frozen=True)
class ConvShape:
    """A square-filter 2-D convolution: batch n, C_in c, C_out k, input h x w, filter r x r, stride, padding
    (None: r // 2, the 'same' padding of the ResNet / RetinaNet / U-Net layers)."""

    n: int
    c: int
    k: int
    h: int
    w: int
    r: int
    stride: int = 1
    pad: int | None = None

    def __post_init__(self):
        for f in ("n", "c", "k", "h", "w", "r", "stride"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise TapeoutError(f"ConvShape.{f}={v!r}: must be a positive integer; set {f} to the layer's value.")
        if self.pad is not None and (not isinstance(self.pad, int) or self.pad < 0):
            raise TapeoutError(f"ConvShape.pad={self.pad!r}: must be a non-negative integer or None (r // 2).")
        if min(self.out_hw) <= 0:
            raise TapeoutError(f"ConvShape: input {self.h}x{self.w} is too small for filter {self.r} stride "
                               f"{self.stride}; raise h and w.")

    @property
    def padding(self) -> int:
        return self.r // 2 if self.pad is None else self.pad

    @property
    def out_hw(self) -> tuple[int, int]:
        return (conv_out(self.h, self.r, self.stride, self.padding), conv_out(self.w, self.r, self.stride, self.padding))

    @property
    def flops(self) -> float:
        """2 N Ho Wo C_out C_in R S: the FLOPs of each of fprop, dgrad and wgrad."""
        ho, wo = self.out_hw
        return 2.0 * self.n * ho * wo * self.k * self.c * self.r * self.r

    def op(self, precision="bf16") -> MatMul:
        """The forward implicit-GEMM op the training graphs build for this layer (workloads/blocks.conv2d)."""
        op, _, _ = conv2d("conv", self.n, self.c, self.k, self.h, self.w, self.r, as_precision(precision),
                          stride=self.stride, pad=self.padding)
        return op


def kernel_ops(op: MatMul) -> dict[str, MatMul]:
    """fprop, dgrad and wgrad GEMMs of one forward convolution op (one instance: count 1)."""
    one = replace(op, count=1)
    dgrad, wgrad = gradient_gemms(one, input_grad=True)
    return {"fprop": one, "dgrad": dgrad, "wgrad": wgrad}


def kernel_times(op: MatMul, p, board=None) -> dict[str, float]:
    """Seconds of each kernel of one forward convolution op on chip params p (one design point), each priced as
    the one-op graph the training step sums (train_clock.graph_time; `board`: the training GEMMs' sustained
    clock, None: as evaluated)."""
    return {kind: graph_time(OpGraph(f"{op.name}:{kind}", [g]), p, board) for kind, g in kernel_ops(op).items()}


def gemm_twin(op: MatMul) -> MatMul:
    """The plain GEMM of a convolution kernel's m, n, k and groups (operands read as dense matrices)."""
    return MatMul(name=f"{op.name}:gemm", count=op.count, m=op.m, n=op.n, k=op.k, groups=op.groups, batch=op.batch,
                  a_dtype=op.a_dtype, w_dtype=op.w_dtype, out_dtype=op.out_dtype, math_dtype=op.math_dtype)


def conv_class(op: MatMul) -> dict:
    """Filter size, stride and C_in of a forward convolution op, for tables by kind. The stride is read off the
    positions: input positions over output positions ~ stride^dims (exact for 'same' padding)."""
    taps = int(getattr(op, "taps", 1))
    cin = op.k // taps * op.groups
    dims = 2 if round(math.sqrt(taps)) ** 2 == taps else 3  # a 3-D filter has r^3 taps (blocks.conv3d)
    r = int(round(taps ** (1.0 / dims)))
    ratio = op.input_elems / max(cin * op.m, 1) if getattr(op, "input_elems", 0) else 1.0
    stride = max(1, int(round(ratio ** (1.0 / dims))))
    return {"filter": "x".join([str(r)] * dims), "stride": stride, "c_in": cin}


def is_conv_row(row: dict) -> bool:
    """A microbenchmarks.csv row timing one convolution kernel (workload names a convolution)."""
    return str(row.get("workload", "")).lower().startswith("convolution")


__all__ = ["KINDS", "ConvShape", "kernel_ops", "kernel_times", "gemm_twin", "conv_class", "is_conv_row"]
