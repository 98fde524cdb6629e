"""The RNN-T LSTMs' recurrent chains priced as cuDNN runs them: where the recurrent weights are read from, and what
the backward of a recurrence launches (MLPerf Training `rnnt`, validation/rnnt_train.py; workloads/rnnt.py builds the
chains: per time step a recurrent GEMM `<tag>.l<i>.h` at M = the batch and a pointwise cell kernel `<tag>.l<i>.cell`).

Switch RECURRENT_WEIGHTS_ON_CHIP (on): a layer's recurrent weight matrix (4h x h, 8 MB of bf16 at h = 1024, 2 MB at
512) is the same operand at every time step, and between two steps the chain touches only the batch's gates and
states (B x 4h elements). Where the matrix fits the chip's last-level cache (ChipParams.sram_bytes, the L2: 40 MB on
A100, 50 MB on H100, data/chips) every step after the first reads it from the L2, at the chip's measured L2 read
bandwidth (perf/kernel_replay.l2_read_bw: the `l2_bandwidth_tbps` spec, gpu-benches gpu-l2-cache, every SM
streaming a data set that fits the L2; data/chips/supplement_specs.csv), not from DRAM. A chip whose L2 bandwidth is
not described keeps the DRAM price (l2_read_bw's DRAM fallback would otherwise be taken at eff_mem 1, faster than
the DRAM as priced): stated, not guessed. The rule holds for any chip, an NPU with a large SRAM included: only the
size and the described bandwidth enter. The per-kernel fixed time stays: within one cudnnRNNForward cuDNN queues
the per-step kernels on one stream back to back (Appleyard et al. 2016, arXiv 1604.01946, the cuDNN v5 LSTM: one
GEMM per step for the four gates, the cell's pointwise operations fused into one kernel), so each step pays the
dependent-kernel gap that perf/calibration.py's kernel_overhead_us is fitted to (CUDA-graph / stream replay gaps),
and the cell kernel is not fused with the GEMM (the forward graph already prices the two kernels per step).

Switch CUDNN_BACKWARD_WEIGHTS (off, measured: see the switch): the generic backward rule (perf/train_backward.py: a
GEMM's backward = dgrad + wgrad at 2x its forward time, elementwise 2x) prices a recurrence's backward as two
sequential per-step GEMMs and two per-step pointwise kernels. cuDNN splits it into two calls (PyTorch
aten/src/ATen/native/cudnn/RNN.cpp: _cudnn_rnn_backward_input runs cudnnRNNBackwardData, then
_cudnn_rnn_backward_weight, "MUST BE CALLED AFTER _cudnn_rnn_backward_input", runs cudnnRNNBackwardWeights on the
forward's reserve space): BackwardData walks the chain back, per step one GEMM (dh_{t-1} = dgates_t W_h: m = B, n =
h, k = 4h, the same weights and flops as the forward step) and one fused pointwise kernel (the LSTM cell's
derivatives: reads dh, dc, the four saved gates and c; writes the four gate gradients and dc); BackwardWeights needs
no chain (dW_h = sum_t dgates_t^T h_{t-1}, every term already stored), so it is one GEMM over all steps: m = 4h, n =
h, k = B x T. ASSUMPTION in that form: cuDNN is closed source; the one-GEMM wgrad is the least its API allows (the
weight gradient call takes no per-step input), the backward twin of the forward's input GEMMs over all steps at once
(Appleyard et al.).

Layer wavefront (cuDNN's streams over layers, Appleyard et al.: layer l+1 step t overlaps layer l step t+1, a
multi-layer chain of T + L - 1 steps instead of L x T, `chain_steps`): only where one cudnnRNNForward runs the
stacked layers (NVIDIA's MULTILAYER_LSTM=true single-node configs); the multi-node configs, where the chain binds,
build each layer as its own torch.nn.LSTM (common/rnn.py DecoupledLSTM, docs/notes/issue-18.md Round stop-39
issue-48c), so no cross-layer overlap there. LAYER_WAVEFRONT is off: how two layers' concurrent step kernels share
the SMs at the single-node batches (192 per GPU) has no sourced rule here (docs/notes/issue-18.md, Round stop-40
issue-51b).
"""

from __future__ import annotations

import re

import numpy as np

from ..ops import MatMul, OpGraph
from ..perf.kernel_replay import l2_read_bw
from ..perf.train_backward import backward_time
from ..perf.train_clock import graph_time
from ..workloads.rnnt import LSTM_GATES

# on since round stop-40 (issue-51b): sourced (L2 sizes and measured L2 bandwidths on file); on the rnnt rows mean
# |ln(pred / measured)| 0.181 -> 0.163, 22 of the 33 rows it moves closer (docs/notes/issue-18.md)
RECURRENT_WEIGHTS_ON_CHIP = True
# off (round stop-40, issue-51b): the call split is read in PyTorch's RNN.cpp, the one-GEMM wgrad is an assumption
# about closed-source cuDNN, and on the rnnt rows (with the weights on chip) it moves mean |ln| 0.163 -> 0.234, the
# one-node rows from +4% to -17%, while the 64-1,536-chip rows come closer (docs/notes/issue-18.md)
CUDNN_BACKWARD_WEIGHTS = False
LAYER_WAVEFRONT = False  # off: the multi-node configs run one LSTM per layer; no sourced overlap rule (docstring)

_STEP = re.compile(r"^(?P<layer>.+\.l\d+)\.(?P<part>h|cell)$")
CELL_BWD_READS = 2 + LSTM_GATES + 1  # dh, dc, the four saved gate activations, c (per hidden unit)
CELL_BWD_WRITES = LSTM_GATES + 1  # the four gate gradients, dc


def chain_steps(steps: int, layers: int, wavefront: bool | None = None) -> int:
    """Sequential steps of `layers` stacked recurrent layers over `steps` time steps: L x T one layer after the
    other, T + L - 1 with cuDNN's layer wavefront (layer l+1 step t beside layer l step t+1)."""
    t, n = max(0, int(steps)), max(0, int(layers))
    on = LAYER_WAVEFRONT if wavefront is None else wavefront
    if t == 0 or n == 0:
        return 0
    return t + n - 1 if on else t * n


def is_step(op) -> bool:
    """Whether `op` is a per-time-step op of a recurrent chain (workloads/rnnt.py lstm_ops: `.h` or `.cell`)."""
    return _STEP.match(op.name) is not None


def split(g: OpGraph) -> tuple[OpGraph, OpGraph]:
    """(g without its recurrent chains, the chains' per-step ops) of a graph built by workloads/rnnt.py."""
    rec = [o for o in g.ops if is_step(o)]
    rest = [o for o in g.ops if not is_step(o)]
    return OpGraph(f"{g.name}:rest", rest, g.meta), OpGraph(f"{g.name}:chains", rec, g.meta)


def l2_described(chip) -> bool:
    """Whether the chip's L2 read bandwidth is described (the `l2_bandwidth_tbps` spec)."""
    spec = getattr(chip, "specs", {}).get("l2_bandwidth_tbps") if chip is not None else None
    return spec is not None and float(spec.value or 0.0) > 0.0


def weights_on_chip(op, p, chip, on: bool | None = None) -> bool:
    """Whether a recurrent GEMM's weights are read from the chip's L2 at every step (module docstring): the switch,
    a described L2 bandwidth, and the weight matrix within the L2's size."""
    use = RECURRENT_WEIGHTS_ON_CHIP if on is None else on
    if not use or not isinstance(op, MatMul) or not l2_described(chip):
        return False
    l2 = float(np.min(np.asarray(p.sram_bytes, dtype=float)))
    return 0.0 < op.weight_bytes <= l2


def weights_read_from(chains: OpGraph, p, chip, on: bool | None = None) -> str:
    """Where the chains' recurrent weights were priced from, in words (shown with the answer): the L2 at its
    described bandwidth, or the DRAM and why (switch off, no described L2 bandwidth, weights larger than the L2)."""
    gemms = [o for o in chains.ops if isinstance(o, MatMul)]
    if not gemms:
        return "no recurrent chain"
    if not (RECURRENT_WEIGHTS_ON_CHIP if on is None else on):
        return "DRAM: validation/rnnt_recurrence.RECURRENT_WEIGHTS_ON_CHIP is off"
    if not l2_described(chip):
        return (f"DRAM: {getattr(chip, 'id', 'the chip')} has no described L2 read bandwidth (spec l2_bandwidth_tbps, "
                "data/chips/supplement_specs.csv), so the recurrent weights keep the DRAM price (validation/rnnt_recurrence.py)")
    near = [o for o in gemms if weights_on_chip(o, p, chip, on)]
    l2 = float(np.min(np.asarray(p.sram_bytes, dtype=float)))
    if len(near) < len(gemms):
        big = max(o.weight_bytes for o in gemms if o not in near)
        return (f"DRAM for {len(gemms) - len(near)} of {len(gemms)} recurrent GEMMs: weights of up to {big / 1e6:.1f} MB "
                f"exceed the {l2 / 1e6:.0f} MB L2" + ("; the others from the L2" if near else ""))
    return f"L2 at {l2_read_bw(chip) / 1e12:.1f} TB/s (l2_bandwidth_tbps; weights <= {l2 / 1e6:.0f} MB L2)"


def onchip_params(p, chip):
    """The chip's parameters with its memory stream at the described L2 read bandwidth (measured, eff 1)."""
    return p.replace(mem_bw=l2_read_bw(chip), eff_mem=1.0)


def _op_seconds(ops, p, board) -> np.ndarray:
    """Per op of `ops`: seconds of one launch (op_times of the evaluated table)."""
    from ..perf.opcost import evaluate
    from ..perf.train_clock import op_times

    return op_times(evaluate(OpGraph("rnnt:chains", list(ops)), p), p, board) if ops else np.zeros(0)


def forward_s(chains: OpGraph, p, chip, board=None, on: bool | None = None, wavefront: bool | None = None) -> float:
    """Seconds of the chains' per-step ops: a GEMM whose weights stay on chip at the L2's stream, the rest as priced;
    with the layer wavefront (LAYER_WAVEFRONT) a stack of L layers over T steps takes chain_steps(T, L) steps of its
    slowest layer's step instead of every layer's T steps in turn."""
    if not chains.ops:
        return 0.0
    near = np.array([weights_on_chip(o, p, chip, on) for o in chains.ops])
    t = np.zeros(len(chains.ops))
    for mask, q in ((near, onchip_params(p, chip) if near.any() else p), (~near, p)):
        idx = np.flatnonzero(mask)
        if idx.size:
            t[idx] = _op_seconds([chains.ops[i] for i in idx], q, board)
    counts = np.array([float(o.count) for o in chains.ops])
    if not (LAYER_WAVEFRONT if wavefront is None else wavefront):
        return float((t * counts).sum())
    stacks: dict[str, dict[str, list[int]]] = {}
    for i, o in enumerate(chains.ops):  # <stack>.l<i>.<part>: the stack, then its layers
        layer = _STEP.match(o.name)["layer"] if is_step(o) else o.name
        stacks.setdefault(layer.rsplit(".l", 1)[0], {}).setdefault(layer, []).append(i)
    passes = max(1, int(chains.meta.get("passes", 1)))  # micro-batches: the chain once per pass
    total = 0.0
    for layers in stacks.values():
        steps = max(counts[i] for ix in layers.values() for i in ix) / passes
        per_step = max(float(sum(t[i] for i in ix)) for ix in layers.values())
        total += passes * chain_steps(int(round(steps)), len(layers), True) * per_step
    return total


def backward_graph(chains: OpGraph) -> OpGraph:
    """cuDNN's backward of the chains (module docstring): per layer and pass, BackwardData's chain (per step a dgrad
    GEMM m = B, n = h, k = 4h and one pointwise kernel over B x h) and BackwardWeights' one GEMM m = 4h, n = h,
    k = B x steps. Counts keep the forward's (steps x micro-batch passes)."""
    passes = max(1, int(chains.meta.get("passes", 1)))
    ops = []
    for o in chains.ops:
        m = _STEP.match(o.name)
        if m["part"] == "h":
            h, b, steps = o.k, o.m, o.count / passes
            ops += [MatMul(name=f"{m['layer']}.dgrad", count=o.count, m=b, n=h, k=LSTM_GATES * h, a_dtype=o.a_dtype,
                           w_dtype=o.w_dtype, out_dtype=o.out_dtype, math_dtype=o.math_dtype),
                    MatMul(name=f"{m['layer']}.wgrad", count=passes, m=LSTM_GATES * h, n=h, k=max(1, int(round(b * steps))),
                           a_dtype=o.a_dtype, w_dtype=o.a_dtype, out_dtype=o.out_dtype, math_dtype=o.math_dtype)]
        else:
            ops.append(type(o)(name=f"{m['layer']}.cell_bwd", count=o.count, elems=o.elems, flops_per_elem=o.flops_per_elem,
                               reads=CELL_BWD_READS, writes=CELL_BWD_WRITES, dtype=o.dtype))
    return OpGraph(f"{chains.name}:bwd", ops, chains.meta)


def backward_s(chains: OpGraph, p, chip, board=None, on: bool | None = None, weights_on: bool | None = None) -> float:
    """Seconds of the chains' backward: cuDNN's split where CUDNN_BACKWARD_WEIGHTS (the dgrad GEMMs read the same
    weights, on chip as the forward's), else perf/train_backward.py's generic rule on the forward ops."""
    use = CUDNN_BACKWARD_WEIGHTS if on is None else on
    if not chains.ops:
        return 0.0
    if not use:
        near = [o for o in chains.ops if weights_on_chip(o, p, chip, weights_on)]
        far = [o for o in chains.ops if not weights_on_chip(o, p, chip, weights_on)]
        t = backward_time(OpGraph(f"{chains.name}:dram", far, chains.meta), p, (), board) if far else 0.0
        if near:
            t += backward_time(OpGraph(f"{chains.name}:l2", near, chains.meta), onchip_params(p, chip), (), board)
        return t
    bwd = backward_graph(chains)
    chain = OpGraph(bwd.name, [o for o in bwd.ops if not o.name.endswith(".wgrad")], bwd.meta)
    wgrad = OpGraph(f"{bwd.name}:wgrad", [o for o in bwd.ops if o.name.endswith(".wgrad")], bwd.meta)
    return forward_s(chain, p, chip, board, weights_on) + graph_time(wgrad, p, board)


__all__ = ["CELL_BWD_READS", "CELL_BWD_WRITES", "CUDNN_BACKWARD_WEIGHTS", "LAYER_WAVEFRONT", "RECURRENT_WEIGHTS_ON_CHIP",
           "backward_graph", "backward_s", "chain_steps", "forward_s", "is_step", "l2_described", "onchip_params", "split",
           "weights_on_chip", "weights_read_from"]
