"""Backward pass of a trained op graph, op by op (the non-LLM MLPerf training mappers).

Convolutions (implicit GEMM, blocks.ConvMatMul): the backward runs two GEMMs of the forward's
FLOPs (2 m n k per group) but of other shapes (cuDNN/CUTLASS dgrad and wgrad; CUTLASS
media/docs/implicit_gemm_convolution.md gives the mapping), each costed by perf/opcost.py with
its own tile padding, wave quantization and split-K:
  dgrad  dx = conv(dy, flipped W)   rows m (positions), outputs C_in/g, reduction C_out/g x taps
  wgrad  dW = x_col^T dy            rows C_in/g x taps, outputs C_out/g, reduction m (all positions)
A weight gradient of a convolution has a small output and a reduction over every position of
the batch; the forward's im2col GEMM is neither shape.
The data gradient dx has the input's shape, N H W C_in elements: CUTLASS's dgrad GEMM covers every
input position (include/cutlass/conv/conv2d_problem_size.h implicit_gemm_problem_size, kDgrad:
M = N*H*W, N = C, K = R*S*K), and for a strided convolution the input positions no filter tap
reaches (3 of 4 for a 1x1 stride-2 layer) are still written (as zeros). Its GEMM rows are the
forward's N Ho Wo positions above (the MACs are the forward's), but it writes stride^2 x more than
m x n elements (DGRAD_WRITES_INPUT_SHAPE).
Linear layers (MatMul): dgrad + wgrad = 2x the forward GEMM time, the rule of the LLM training
engine (perf/training.py), whose GEMM tiling is calibrated on forward-shaped GEMMs.
An op whose input needs no gradient (the first layer reading the data, a layer after a frozen
prefix: PyTorch autograd computes input gradients only for tensors that require them,
"Excluding subgraphs from backward", autograd mechanics docs) runs its weight gradient only
(`no_input_grad`).
Fused attention: 2.5x the forward FLOPs (FlashAttention-2 backward recomputes the scores and
runs 5 GEMMs to the forward's 2, Dao 2023 sec. 3.1) at the backward kernel's rate
(ChipParams.attn_bwd_factor, fitted on published FlashAttention/cuDNN backward kernel rates);
the LLM training engine (perf/training.py) uses the same rule.
Elementwise, embedding and other ops: 2x their forward time (read the output gradient and the
saved input, write the input gradient; scatter-add for a gather).
Weight-gradient accumulation (`wgrad_accumulate_time`): Megatron-LM / NeMo / Transformer Engine
accumulate each micro-batch's weight gradient straight into the gradient buffer
(gradient_accumulation_fusion: Megatron fused_weight_gradient_mlp_cuda wgrad_gemm_accum_fp32 /
_fp16, cublasGemmEx with beta = 1 and C = D = main_grad; TE Linear(fuse_wgrad_accumulation=True),
gemm(..., accumulate=True, out=weight.main_grad)). Its epilogue reads the C tile and writes the D
tile in the buffer's dtype: 2 x grad bytes per weight element instead of the 2 bytes (BF16 D) of
the beta = 0 GEMMs the compute rate is calibrated on. The extra store/load traffic costs time only
as far as the epilogue is not overlapped with the next tile's main loop, the chip's
ChipParams.epilogue_exposed (perf/opcost.epilogue_time; 0 unless a kernel calibration fitted it).
"""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

import numpy as np

from ..ops import MatMul, OpGraph
from .opcost import K_ATTN, K_MATMUL, accumulator_stages, evaluate
from .train_clock import graph_time, op_times

ATTN_BWD_FLOPS = 2.5  # FlashAttention-2 backward FLOPs / forward FLOPs (Dao 2023)
# A convolution's dgrad kernel writes dx in the input's shape (N H W C_in), not its GEMM's m x n = N Ho Wo C_in
# (module docstring; CUTLASS conv2d_problem_size.h kDgrad M = N*H*W): differs only for strided / unpadded convs.
# On: sourced from the kernel library's problem mapping (physics: dx has x's shape) and it adds only time to the
# strided layers of conv-net training steps, which are all predicted fast (docs/notes/issue-24.md stop-40 51h).
DGRAD_WRITES_INPUT_SHAPE = True
BETA0_OUTPUT_BYTES = 2.0  # D of the calibrated (beta = 0) GEMMs: BF16


def wgrad_accumulate_bytes(grad_bytes: float) -> float:
    """Epilogue bytes per weight element of a wgrad GEMM accumulating into a gradient buffer of
    `grad_bytes` per element (read C + write D), beyond a beta = 0 GEMM's BF16 store."""
    return max(0.0, 2.0 * float(grad_bytes) - BETA0_OUTPUT_BYTES)


def wgrad_accumulate_time(weight_elems, grad_bytes: float, p, exposed=None):
    """Exposed time of the accumulate epilogue of wgrad GEMMs producing `weight_elems` gradient
    elements (one micro-batch): the extra bytes (wgrad_accumulate_bytes) at the chip's achieved
    DRAM bandwidth, times the exposed epilogue fraction (`exposed`, default the chip's
    ChipParams.epilogue_exposed, the rule of perf/opcost.epilogue_time with every core active:
    none where the core holds two or more accumulator tiles of the chip's GEMM tile)."""
    frac = np.asarray(p.epilogue_exposed if exposed is None else exposed, dtype=float)
    frac = np.where(accumulator_stages(p, p.tile_m, p.tile_n) >= 2, 0.0, frac)
    bw = np.asarray(p.mem_bw, dtype=float) * np.asarray(p.eff_mem, dtype=float)
    return frac * float(weight_elems) * wgrad_accumulate_bytes(grad_bytes) / bw


def attention_backward_time(t_attn_fwd, p):
    """Backward time of fused attention whose forward takes t_attn_fwd on chip p."""
    return ATTN_BWD_FLOPS * t_attn_fwd * np.asarray(p.attn_bwd_factor, dtype=float)


def gradient_gemms(op: MatMul, input_grad: bool = True) -> list[MatMul]:
    """The dgrad (unless input_grad is False) and wgrad GEMMs of one forward GEMM/convolution."""
    taps = int(getattr(op, "taps", 1))
    conv = hasattr(op, "input_elems")  # implicit GEMM: each operand tensor is read once
    out = []
    if input_grad:  # reads dy (m x n per group) and the filter
        extra = {"input_elems": float(op.m * op.n * op.groups * op.batch), "taps": 1} if conv else {}
        if conv and DGRAD_WRITES_INPUT_SHAPE:
            extra["output_elems"] = float(op.input_elems)  # dx: the input's N H W C_in elements
        out.append(replace(op, name=f"{op.name}.dgrad", m=op.m, n=op.k // taps, k=op.n * taps, **extra))
    # a shared weight's gradient reduces over every row of the batch; an activation x activation
    # product (shared_weight False) keeps its batch of independent GEMMs; reads the saved input x
    rows = op.m * op.batch if op.shared_weight else op.m
    extra = {"input_elems": op.input_elems, "taps": 1, "output_elems": 0.0} if conv else {}
    out.append(replace(op, name=f"{op.name}.wgrad", m=op.k, n=op.n, k=rows, batch=1 if op.shared_weight else op.batch,
                       **extra))
    return out


def backward_time(g: OpGraph, p, no_input_grad: tuple[str, ...] = (), board=None) -> float:
    """Backward time of graph g on chip p (module docstring); `no_input_grad`: name patterns
    (fnmatch) of the GEMMs whose input needs no gradient; `board`: the training GEMMs' sustained
    clock / MSMF ceiling (perf/train_clock.board_power; None: as evaluated)."""
    def input_grad(o) -> bool:
        return not any(fnmatchcase(o.name, pat) for pat in no_input_grad)

    convs = [o for o in g.ops if hasattr(o, "taps")]
    rest = [o for o in g.ops if not hasattr(o, "taps")]
    t = 0.0
    if convs:
        bwd = [b for o in convs for b in gradient_gemms(o, input_grad(o))]
        t += graph_time(OpGraph(f"{g.name}:conv_grads", bwd, g.meta), p, board)
    if rest:
        c = evaluate(OpGraph(f"{g.name}:rest", rest, g.meta), p)
        per_op = op_times(c, p, board) * c.table.count
        mm, attn = c.table.kind == K_MATMUL, c.table.kind == K_ATTN
        gemm_x = np.array([2.0 if input_grad(o) else 1.0 for o in rest])  # dgrad + wgrad, as perf/training.py
        t += float((per_op * gemm_x)[mm].sum()) + float(attention_backward_time(per_op[attn].sum(), p))
        t += 2.0 * float(per_op[~mm & ~attn].sum())
    return t


__all__ = ["ATTN_BWD_FLOPS", "BETA0_OUTPUT_BYTES", "attention_backward_time", "wgrad_accumulate_bytes",
           "wgrad_accumulate_time", "gradient_gemms", "backward_time"]
