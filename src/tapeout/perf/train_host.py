"""Host issue time of an eager training stack (no CUDA graphs): the GPU idle it leaves.

In eager PyTorch the CPU issues every kernel of a layer (Python, the ATen dispatcher, the
Megatron / Transformer Engine module code, cudaLaunchKernel) onto the stream and runs ahead of
the GPU: issue is asynchronous until a host-device synchronisation (`.item()`, a blocking
collective such as an FP8 amax all-reduce waited on by the host) empties the queue. Between two
synchronisations, with layer k issued in c_k seconds of CPU and executed in g_k seconds of GPU,
layer k starts on the GPU when it is issued and the previous layer is done:

    F_k = max(F_{k-1}, c_1 + ... + c_k) + g_k,   F_0 = 0;   GPU idle = F_n - (g_1 + ... + g_n)

For n identical layers this is c + (n - 1) max(0, c - g): the first layer's issue time is paid
once per synchronisation segment, and each further layer leaves max(0, c - g) idle (the CPU's lead
is used up when c > g; the GPU never waits when c <= g). A CUDA graph issues the whole captured
segment with one launch: the per-kernel host cost becomes one graph launch (NVIDIA CUDA Graph
best-practice guide, https://docs.nvidia.com/dl-cuda-graph/latest; Transformer Engine
make_graphed_callables per layer, the `layer_cuda_graph` stack feature).

The rule is a property of the host (CPU, stack) against the chip's own GPU time, so it carries to
a chip never seen. Over a sequence the GPU idle is max_k (c_k + sum_{j<k} (c_j - g_j)) (the
recurrence unrolled: F_n = max_k (c_1 + ... + c_k + g_k + ... + g_n)); `blocks_gpu_idle` evaluates it
over runs of identical layers (a micro-batch's forward, then its backward), which is how
perf/training.py prices an eager run: one segment per optimizer step (the step's one host
synchronisation is the grad-norm `.item()` of gradient clipping; NeMo / Megatron clip_grad_norm_fp32),
the CPU time per layer from perf/host_issue.py. Which runs were eager is on file per stack
(`layer_cuda_graph`) and per submission config (benchmarks.yaml submission_layouts; the v4.0 NeMo LoRA
runs: eager, "Round stop-23 (branch issue-23td)"); the size, "Round stop-25 (branch issue-25lo)".
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError


def _checked(name: str, values) -> np.ndarray:
    a = np.atleast_1d(np.asarray(values, dtype=float))
    if a.ndim != 1 or a.size == 0:
        raise TapeoutError(f"{name} must be a non-empty sequence of per-layer seconds; got shape {a.shape}.")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise TapeoutError(f"{name} must be finite seconds >= 0 per layer; got {a.tolist()[:4]}... "
                           f"(pass the measured issue / kernel time of each layer).")
    return a


def segment_gpu_idle(cpu_issue_s, gpu_busy_s, cuda_graph: bool = False) -> float:
    """GPU idle (s) over one synchronisation segment of layers issued in order: per layer the CPU
    issue time and the GPU kernel time (equal-length sequences, or scalars for one layer).
    With CUDA graphs the layers' kernels are issued by graph replay: no per-kernel host idle (0)."""
    c, g = _checked("cpu_issue_s", cpu_issue_s), _checked("gpu_busy_s", gpu_busy_s)
    if c.size != g.size:
        raise TapeoutError(f"cpu_issue_s has {c.size} layers and gpu_busy_s {g.size}: give one value per layer to both.")
    if cuda_graph:
        return 0.0
    issued = np.cumsum(c)
    finish = 0.0
    for k in range(g.size):  # F_k = max(F_{k-1}, issued_k) + g_k
        finish = max(finish, float(issued[k])) + float(g[k])
    return finish - float(g.sum())


def uniform_segment_idle(cpu_layer_s: float, gpu_layer_s: float, layers: int, cuda_graph: bool = False) -> float:
    """Closed form of segment_gpu_idle for `layers` identical layers: c + (layers - 1) max(0, c - g)."""
    if layers < 1:
        raise TapeoutError(f"layers must be >= 1 (layers per synchronisation segment); got {layers}.")
    c, g = float(_checked("cpu_layer_s", cpu_layer_s)[0]), float(_checked("gpu_layer_s", gpu_layer_s)[0])
    if cuda_graph:
        return 0.0
    return c + (layers - 1) * max(0.0, c - g)


def break_even_issue_s(gpu_layer_s: float, launches_per_layer: float) -> float:
    """CPU time per launch (s) above which an eager layer of `launches_per_layer` kernels leaves
    the GPU idle: the GPU time of the layer shared over its launches."""
    g = float(_checked("gpu_layer_s", gpu_layer_s)[0])
    if not launches_per_layer > 0:
        raise TapeoutError(f"launches_per_layer must be > 0 (kernels the host issues per layer); got {launches_per_layer}.")
    return g / float(launches_per_layer)


def blocks_gpu_idle(blocks) -> float:
    """GPU idle (s) over one synchronisation segment given as runs of identical layers
    [(cpu_s, gpu_s, count), ...] in issue order: max over layers k of c_k + sum_{j<k} (c_j - g_j),
    which within a run is largest at its first or last layer. Equals segment_gpu_idle of the
    expanded sequence."""
    best, prefix = 0.0, 0.0
    for c, g, n in blocks:
        c, g = float(_checked("cpu_s", c)[0]), float(_checked("gpu_s", g)[0])
        if int(n) != n or n < 0:
            raise TapeoutError(f"a run's layer count must be a whole number >= 0; got {n}.")
        if n == 0:
            continue
        best = max(best, prefix + c, prefix + (n - 1) * (c - g) + c)
        prefix += n * (c - g)
    return best


def step_host_idle(cpu_fwd_s: float, cpu_bwd_s: float, gpu_fwd_s: float, gpu_bwd_s: float, layers: int,
                   micro_batches: int) -> float:
    """GPU idle (s) of one optimizer step of `micro_batches` x (forward of `layers` layers, then their
    backward) issued eagerly with no host synchronisation inside the step (pipeline parallelism 1)."""
    if layers < 1 or micro_batches < 1:
        raise TapeoutError(f"layers and micro_batches must be >= 1; got {layers}, {micro_batches}.")
    return blocks_gpu_idle([(cpu_fwd_s, gpu_fwd_s, layers), (cpu_bwd_s, gpu_bwd_s, layers)] * int(micro_batches))
