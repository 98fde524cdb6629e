"""Shared building blocks for the non-LLM front ends: convolutions lowered to GEMM, linear
layers, transformer blocks, norms. Every block returns ops of the closed op set (ops.py).

Convolution via im2col (Chellapilla et al. 2006, "High performance convolutional neural
networks for document processing"; the lowering cuDNN's implicit-GEMM kernels use):
  output [N, Cout, Ho, Wo] = W[Cout, Cin*kh*kw] x cols[Cin*kh*kw, N*Ho*Wo]
  -> MatMul m = N*Ho*Wo, n = Cout/groups, k = Cin/groups*kh*kw, groups = groups
  Ho = floor((H + 2*pad - kh) / stride) + 1   (same for W; 3-D convs add the depth axis).
A transposed convolution with kernel = stride (U-Net up-sampling) is a GEMM over the
input voxels: m = N*Din*Hin*Win, n = Cout*prod(kernel), k = Cin.

MAC vs FLOP: ops count 1 MAC = 2 FLOPs (ops.py). `macs(graph)` returns multiply-accumulates
of the matrix ops (MatMul + the QK^T and PV products of Attention), the convention of
torchvision's "GFLOPS" column (which counts MACs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TapeoutError, require_positive
from ..inputs import finite
from ..ops import Attention, Elementwise, MatMul, Op, OpGraph
from ..precision import Precision, dtype_bytes, get_precision


@dataclass(frozen=True)
class ConvMatMul(MatMul):
    """A convolution lowered to GEMM (im2col shape, exact FLOPs) whose activation traffic is
    that of implicit GEMM: the real input tensor (`input_elems` elements) is read once, not
    the kh*kw-times larger im2col matrix (cuDNN/CUTLASS implicit-GEMM convolution).
    `taps` = filter positions (kh*kw, or kd*kh*kw): k = C_in/groups x taps, which the
    backward pass needs to form its data-gradient GEMM (perf/train_backward.py). `output_elems`
    (> 0) = the elements the kernel writes where they are not its GEMM's m x n: a data-gradient
    kernel writes dx, which has the input's shape (perf/train_backward.DGRAD_WRITES_INPUT_SHAPE)."""

    input_elems: float = 0.0
    taps: int = 1
    output_elems: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        require_positive(f"{self.name}.taps", self.taps)
        if self.k % self.taps:
            raise TapeoutError(f"{self.name}: k={self.k} is not C_in/groups x taps={self.taps}; set taps to the filter size.")

    @property
    def input_bytes(self) -> float:
        if self.input_elems <= 0:
            return super().input_bytes
        return self.input_elems * dtype_bytes(self.a_dtype)

    @property
    def output_bytes(self) -> float:
        if self.output_elems <= 0:
            return super().output_bytes
        return self.output_elems * dtype_bytes(self.out_dtype)


def as_precision(p: str | Precision) -> Precision:
    return p if isinstance(p, Precision) else get_precision(p)


def conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def linear(name: str, tokens: float, n: int, k: int, pr: Precision, count: float = 1, out_dtype: str | None = None) -> MatMul:
    return MatMul(name=name, count=count, m=int(tokens), n=int(n), k=int(k), a_dtype=pr.activations,
                  w_dtype=pr.weights, out_dtype=out_dtype or pr.activations, math_dtype=pr.compute)


def conv2d(name: str, n: int, cin: int, cout: int, h: int, w: int, k: int, pr: Precision, stride: int = 1,
           pad: int | None = None, groups: int = 1, count: float = 1) -> tuple[MatMul, int, int]:
    """A 2-D convolution as one im2col GEMM; returns (op, Ho, Wo)."""
    pad = (k // 2) if pad is None else pad
    if cin % groups or cout % groups:
        raise TapeoutError(f"{name}: groups={groups} must divide channels {cin}->{cout}.")
    ho, wo = conv_out(h, k, stride, pad), conv_out(w, k, stride, pad)
    if ho <= 0 or wo <= 0:
        raise TapeoutError(f"{name}: input {h}x{w} is too small for kernel {k} stride {stride}; raise the resolution.")
    op = ConvMatMul(name=name, count=count, m=n * ho * wo, n=cout // groups, k=cin // groups * k * k, groups=groups,
                    a_dtype=pr.activations, w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute,
                    input_elems=float(n * cin * h * w), taps=k * k)
    return op, ho, wo


def conv3d(name: str, n: int, cin: int, cout: int, dhw: tuple[int, int, int], k: int, pr: Precision, stride: int = 1,
           pad: int | None = None, count: float = 1) -> tuple[MatMul, tuple[int, int, int]]:
    pad = (k // 2) if pad is None else pad
    out = tuple(conv_out(s, k, stride, pad) for s in dhw)
    if min(out) <= 0:
        raise TapeoutError(f"{name}: input {dhw} is too small for kernel {k} stride {stride}.")
    vox = out[0] * out[1] * out[2]
    op = ConvMatMul(name=name, count=count, m=n * vox, n=cout, k=cin * k ** 3, a_dtype=pr.activations, w_dtype=pr.weights,
                    out_dtype=pr.activations, math_dtype=pr.compute, input_elems=float(n * cin * dhw[0] * dhw[1] * dhw[2]),
                    taps=k ** 3)
    return op, out


# Inference engines fuse bias, activation and residual add into the producing GEMM/conv's
# epilogue (TensorRT layer fusion; CUTLASS epilogue visitors), so those elementwise ops cost
# no extra memory pass. Norms, pooling and softmax outside attention stay separate ops.
FUSE_EPILOGUES = True


def epilogue(name: str, elems: float, pr: Precision, flops: float = 1, reads: float = 1, writes: float = 1,
             count: float = 1) -> list[Elementwise]:
    """An activation / residual op that is fused away when FUSE_EPILOGUES (else a real op)."""
    if FUSE_EPILOGUES:
        return []
    return [eltwise(name, elems, pr, flops, reads, writes, count)]


def eltwise(name: str, elems: float, pr: Precision, flops: float = 1, reads: float = 1, writes: float = 1, count: float = 1) -> Elementwise:
    return Elementwise(name=name, count=count, elems=float(elems), flops_per_elem=flops, reads=reads, writes=writes,
                       dtype=pr.activations)


def transformer_block(prefix: str, batch: int, seq: int, hidden: int, heads: int, ffn: int, pr: Precision,
                      count: float = 1, causal: bool = False, mlp: str = "gelu", kv_len: int | None = None,
                      q_len: int | None = None, cross_len: int = 0, cross_dim: int | None = None,
                      norm_flops: float = 5, cross_kv_cached: bool = False) -> list[Op]:
    """Pre-norm transformer block: [norm, QKV, attention, O] (+ cross-attention) + [norm, MLP].

    q_len query tokens per sequence (default `seq`) attend over kv_len keys (default `seq`).
    `cross_len` > 0 adds cross-attention to `cross_len` context tokens of width cross_dim
    (K/V projections of the context are computed here unless cross_kv_cached).
    mlp: "gelu" (2 matrices, hidden->ffn->hidden), "geglu" (proj to 2*ffn, 3 matrices' worth),
    "swiglu" (gate+up, down).
    """
    q = q_len or seq
    kv = kv_len or seq
    T = batch * q
    d = hidden // heads
    a = pr.activations
    ops: list[Op] = [
        eltwise(f"{prefix}.norm1", T * hidden, pr, norm_flops, count=count),
        linear(f"{prefix}.qkv", T, 3 * hidden, hidden, pr, count),
        Attention(name=f"{prefix}.attn", count=count, batch=batch, q_len=q, kv_len=kv, heads=heads, kv_heads=heads,
                  d_qk=d, d_v=d, causal=causal, act_dtype=a, kv_dtype=pr.kv_cache, math_dtype=pr.compute),
        linear(f"{prefix}.attn_out", T, hidden, hidden, pr, count),
    ]
    ops += epilogue(f"{prefix}.residual1", T * hidden, pr, 1, reads=2, count=count)
    if cross_len:
        cd = cross_dim or hidden
        ops += [
            eltwise(f"{prefix}.norm_x", T * hidden, pr, norm_flops, count=count),
            linear(f"{prefix}.xq", T, hidden, hidden, pr, count),
        ]
        if not cross_kv_cached:
            ops.append(linear(f"{prefix}.xkv", batch * cross_len, 2 * hidden, cd, pr, count))
        ops += [
            Attention(name=f"{prefix}.xattn", count=count, batch=batch, q_len=q, kv_len=cross_len, heads=heads,
                      kv_heads=heads, d_qk=d, d_v=d, causal=False, act_dtype=a, kv_dtype=pr.kv_cache, math_dtype=pr.compute),
            linear(f"{prefix}.xattn_out", T, hidden, hidden, pr, count),
        ]
        ops += epilogue(f"{prefix}.residual_x", T * hidden, pr, 1, reads=2, count=count)
    ops.append(eltwise(f"{prefix}.norm2", T * hidden, pr, norm_flops, count=count))
    if mlp == "gelu":
        ops += [linear(f"{prefix}.fc1", T, ffn, hidden, pr, count),
                *epilogue(f"{prefix}.gelu", T * ffn, pr, 8, count=count),
                linear(f"{prefix}.fc2", T, hidden, ffn, pr, count)]
    elif mlp in ("geglu", "swiglu"):
        ops += [linear(f"{prefix}.fc1", T, 2 * ffn, hidden, pr, count),
                eltwise(f"{prefix}.{mlp}", T * ffn, pr, 8, reads=2, count=count),
                linear(f"{prefix}.fc2", T, hidden, ffn, pr, count)]
    else:
        raise TapeoutError(f"mlp must be gelu, geglu or swiglu, got '{mlp}'.")
    ops += epilogue(f"{prefix}.residual2", T * hidden, pr, 1, reads=2, count=count)
    return ops


def macs(graph: OpGraph | list[Op]) -> float:
    """Multiply-accumulates of the matrix work (MatMul + attention QK^T and PV), per graph."""
    ops = graph.ops if isinstance(graph, OpGraph) else graph
    total = 0.0
    for o in ops:
        if isinstance(o, MatMul):
            total += o.flops / 2 * o.count
        elif isinstance(o, Attention):
            scores = o.batch * o.heads * o.q_len * o.keys_per_query
            total += scores * (o.d_qk + o.d_v) * o.count
    return total


def weight_params(ops: list[Op]) -> float:
    """Weights of the matrix ops (shared-weight MatMuls, counted once per count)."""
    return float(sum(o.groups * o.k * o.n * o.count for o in ops if isinstance(o, MatMul) and o.shared_weight))


def check_batch(batch: int, field: str = "batch") -> int:
    """A whole number > 0; text, NaN, inf and fractions are refused with one line naming `field`."""
    return int(finite(field, batch, gt=0, integer=True))


def check_multiple(field: str, value: int, multiple: int, what: str) -> None:
    require_positive(field, value)
    if value % multiple:
        lo = value // multiple * multiple
        near = f"{lo} or {lo + multiple}" if lo else f"{multiple}"
        raise TapeoutError(f"{field}={value} is not a multiple of the {what} ({multiple}); use {near}.")


def ceil_div(a: float, b: float) -> int:
    return int(math.ceil(a / b))


def distinct_weight_bytes(ops: list[Op], repeats: dict[str, float] | None = None) -> float:
    """Bytes of distinct weights: sum of weight_bytes * count over matrix ops, with the count
    of ops whose name starts with a prefix in `repeats` divided by that factor (the count
    there repeats the same weights over steps/windows instead of stacking layers; a factor
    of 0 means the weights are shared with another op and counted there)."""
    repeats = repeats or {}
    total = 0.0
    for o in ops:
        if not isinstance(o, MatMul) or not o.shared_weight:
            continue
        mult = o.count
        for pre, f in repeats.items():
            if o.name.startswith(pre):
                mult = 0.0 if f == 0 else o.count / f
                break
        total += o.weight_bytes * mult
    return total
