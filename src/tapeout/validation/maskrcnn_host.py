"""Host issue time of the part of NVIDIA's MLPerf Mask R-CNN training step that runs outside its CUDA graph.

NVIDIA's implementation (other_benchmarks.yaml maskrcnn_train.eager_calls, with its sources) captures the backbone,
FPN and RPN head in one CUDA graph (one replay forward, one backward) and runs the rest eagerly from Python: with
more than one image per GPU the RPN box selection, the RPN loss, the RoI matching and sampling, the box head and the
mask head with their losses; with one image per GPU (GraphableTrainBS1) only the mask head. Each eager call costs
the host one call's CPU time, c = perf/host_issue.call_cpu_s (the measured torch.nn.Linear forward of the run's host,
host_issue.yaml; the same per-call source the eager LLM path uses). The GPU idle this leaves is perf/train_host.py's
rule over each host-synchronisation segment (blocks_gpu_idle): the CPU runs ahead of the GPU until a sync; a run of
calls leaves the GPU idle where their issue time exceeds the GPU work queued ahead of them. The captured part pays
one call per replay, not one per kernel.

Calls per step of piece i: per_step_i + per_image_i x images + per_level_i x FPN levels. Segments: each host
synchronisation inside a piece (`syncs`: a device value read on the host — arange(max), masked_select, nonzero,
list(counts) in the batched matcher / samplers with more than one image per GPU) ends a segment, the CPU waiting
for the GPU to drain, so the calls after it are issued onto an empty queue; a piece's syncs are spread evenly over
its calls. With one image per GPU the sampling is captured and nothing eager syncs: one segment per step. Each piece's GPU time is spread evenly over
its calls; the captured graph's GPU time is the step's forward / backward minus the eager part's.

Switch: MASKRCNN_EAGER_HOST (on: the calls and the sync are read from NVIDIA's source, the per-call time is a
measured microbenchmark, nothing is fitted to end-to-end rows; it moves the maskrcnn rows toward their measurements,
docs/notes/issue-18.md "Round stop-39 (branch issue-48d)"). Off: no host term, as before.
"""

from __future__ import annotations

from ..errors import TapeoutError
from ..ops import OpGraph
from ..perf.host_issue import call_cpu_s, resolve_host
from ..perf.train_backward import backward_time
from ..perf.train_clock import graph_time
from ..perf.train_host import blocks_gpu_idle
from ..workloads.maskrcnn import RPN_STRIDES
from .other_rows import fact

MASKRCNN_EAGER_HOST = True

# which graph ops each eager piece's GPU work is (workloads/maskrcnn.py names); pieces absent here do no GPU work
# the graph prices (index bookkeeping, the replays are the captured part)
GPU_OPS = {"rpn_select": ("decode.",), "box_head": ("roi.box_align", "box."), "box_loss": ("loss.box",),
           "mask_head": ("roi.mask_align", "mask.", "loss.mask_bce")}
BACKWARD_OF = {"box_backward": ("box_head", "box_loss"), "mask_backward": ("mask_head",)}


def pieces() -> list[dict]:
    return list(fact("maskrcnn_train", "eager_calls"))


def calls(piece: dict, images: int) -> int:
    """Eager calls of one piece per step at `images` per GPU: per_step + per_image x images + per_level x levels."""
    if int(images) != images or images < 1:
        raise TapeoutError(f"images per GPU must be a whole number >= 1; got {images}.")
    return int(piece["per_step"] + piece["per_image"] * images + piece["per_level"] * len(RPN_STRIDES))


def split_calls(n: int, syncs: int) -> list[int]:
    """A piece's n calls in syncs + 1 runs, one sync after each run but the last (spread evenly: where in the
    piece each sync falls is not modelled finer); the remainder goes to the last run."""
    if syncs < 0:
        raise TapeoutError(f"syncs must be >= 0; got {syncs}.")
    return [n // (syncs + 1)] * syncs + [n - syncs * (n // (syncs + 1))]


def syncs_per_step(images: int) -> int:
    """Host synchronisations inside one step's eager part (the pieces' `syncs`)."""
    return sum(int(p.get("syncs", 0)) for p in eager_pieces(images))


def eager_pieces(images: int) -> list[dict]:
    """The pieces the host issues call by call at `images` per GPU (the captured ones dropped at one image)."""
    return [p for p in pieces() if not (images == 1 and p["captured_bs1"])]


def eager_calls(images: int) -> dict:
    """{"forward": n, "backward": n} eager calls per step (graph replays counted as one call each)."""
    out = {"forward": 0, "backward": 0}
    for p in eager_pieces(images):
        out[p["pass"]] += calls(p, images)
    return out


def _ops(g: OpGraph, prefixes: tuple[str, ...]) -> OpGraph:
    return OpGraph(f"{g.name}:{'+'.join(prefixes)}", [o for o in g.ops if o.name.startswith(prefixes)], g.meta)


def piece_gpu_s(g: OpGraph, p, images: int, no_input_grad: tuple = (), board=None) -> dict:
    """GPU seconds of each eager piece at `images` per GPU: its ops' forward (GPU_OPS) or the backward of the
    forward pieces it differentiates (BACKWARD_OF); pieces captured at one image are the graph's."""
    names = {q["name"] for q in eager_pieces(images)}
    out = {}
    for name in names:
        if name in GPU_OPS:
            out[name] = graph_time(_ops(g, GPU_OPS[name]), p, board)
        elif name in BACKWARD_OF:
            pre = tuple(x for k in BACKWARD_OF[name] for x in GPU_OPS[k])
            out[name] = backward_time(_ops(g, pre), p, no_input_grad, board)
        else:
            out[name] = 0.0
    return out


def host_idle_s(images: int, call_s: float, t_fwd: float, t_bwd: float, piece_s: dict, t_opt: float = 0.0) -> float:
    """GPU idle (s) per step the eager host leaves: perf/train_host.blocks_gpu_idle over each sync segment.
    `t_fwd` / `t_bwd`: the whole step's forward / backward GPU time (captured + eager); `piece_s`: piece_gpu_s;
    `t_opt`: the optimizer's GPU time (the `optimizer` piece's)."""
    if not call_s >= 0:
        raise TapeoutError(f"call_s must be >= 0 seconds per call; got {call_s}.")
    ps = eager_pieces(images)
    eager_f = sum(piece_s.get(q["name"], 0.0) for q in ps if q["pass"] == "forward")
    eager_b = sum(piece_s.get(q["name"], 0.0) for q in ps if q["pass"] == "backward")
    gpu = dict(piece_s, graph_forward=max(0.0, t_fwd - eager_f), graph_backward=max(0.0, t_bwd - eager_b),
               optimizer=t_opt)
    segments, run = [], []
    for q in ps:
        n, k = calls(q, images), int(q.get("syncs", 0))
        g = gpu.get(q["name"], 0.0) / n if n else 0.0
        for i, m in enumerate(split_calls(n, k)):  # the piece's calls between its syncs
            if m:
                run.append((call_s, g, m))
            if i < k:  # a sync: the CPU waits for the GPU; the next call starts a new segment
                segments.append(run)
                run = []
    segments.append(run)
    return sum(blocks_gpu_idle(s) for s in segments if s)


def step_host_idle(chip, g: OpGraph, p, images: int, t_fwd: float, t_bwd: float, t_opt: float,
                   no_input_grad: tuple = (), board=None) -> dict:
    """The host term of one NVIDIA Mask R-CNN step on `chip` (its host CPU, else the reference host: assumed)."""
    host, assumed = resolve_host(None, chip.id)
    c = call_cpu_s(host)
    piece_s = piece_gpu_s(g, p, images, no_input_grad, board)
    idle = host_idle_s(images, c, t_fwd, t_bwd, piece_s, t_opt)
    return {"host_idle_s": idle, "eager_calls": eager_calls(images), "syncs": syncs_per_step(images), "call_cpu_us": c * 1e6,
            "host_cpu": host + (" (assumed: no measurement of the run's host)" if assumed else ""),
            "source": "other_benchmarks.yaml maskrcnn_train.eager_calls; data/software/host_issue.yaml"}
