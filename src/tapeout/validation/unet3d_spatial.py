"""NVIDIA's spatial parallelism of MLPerf Training 3D U-Net (the `-sgs` option of its MXNet implementation): each
128^3 sample split over a group of `sgs` GPUs along its depth. Facts: other_benchmarks.yaml unet3d_train
spatial_groups / spatial_blocks / halo_exchange, each with its source.

Switch SPATIAL_PARALLEL (below): off; with it off every run has sgs 1 and takes the old path exactly.
Which runs: the configs that set -sgs (768 chips at global batch 84: sgs 8; 432 chips at 84: sgs 4), matched by chip
count and global batch; every other run has sgs 1 and is priced exactly as before. Training ranks = global batch x
sgs (main.py), one sample per group; the gradient all-reduce runs over every training rank (Horovod on train_comm).

Per chip, per step (the busiest, interior rank of a group):
  - the spatial layers (input block, down0, down1, up2..up4, output conv) on a 1/sgs depth slab: each op's voxels / sgs;
  - the layers between the gather and the split (down2, down3, bottleneck, up0, up1) whole on every rank;
  - per spatial 3x3x3 conv, one halo convolution per received plane (the filter's 3 x 3 edge slice over one boundary
    output plane), forward and (by the backward pricing) its dgrad and wgrad; two neighbours at stride 1, one at
    stride 2 (the stride test in the kernel, even slabs);
  - per spatial conv and direction, the exchange of one H x W x C_in plane (FP16) with each neighbour over the
    group's links (collective engine send_recv; a rank's sends share its egress), overlapped with the slab's own
    convolution: exposed only its excess over it;
  - the all-gather of down1's output before the replicated layers (forward) and of up1's output gradient at the split
    (backward: the split's gradient; the gather's gradient is the local slice, no traffic, since every rank of the
    group computes the same replicated gradient);
  - GroupInstanceNorm: one all-reduce of per-channel statistics (FP32) per spatial norm, forward and backward.
    model/gbn.py (v2.0 @a6ae3e1, read via find_string 'class GroupInstanceNorm'): InstanceNormV2 with the group's
    CUDA-IPC peer buffers ("sync mean and variance between all GPUs in the group", log2(group) sync steps); the
    backward's sync (the group sums of dy and dy x-hat an instance norm's input gradient needs) is inferred, the
    kernel not read. Priced as the collective engine's all-reduce of those bytes (latency-bound).
Not modelled: DiceCE loss partial sums reduced over the group (a few floats, once a step); evaluation's sharded mode
(`--eval_mode sharded` splits a case's windows over min(eval ranks, sgs) ranks) is priced as whole cases per eval rank.
"""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

from ..ops import Elementwise, OpGraph
from ..perf.collectives import collective_time, topology_for
from ..perf.train_backward import backward_time
from ..perf.train_clock import graph_time
from .other_rows import fact

# Price NVIDIA's -sgs runs as their implementation splits them. Off: sourced (the configs, the model code and the
# convolution kernel, other_benchmarks.yaml unet3d_train), but on it moves the 4 rows it touches past their
# measurements (768 H100 +34% -> -52%, 432 H100 +25% -> -50%, 768 A100 +111% -> -27%: median |err| 34% -> 51%,
# docs/notes/issue-18.md Round stop-39 issue-48b): the ~3 ms per-chip step it prices leaves what a batch-1 step
# costs beyond its kernels (already -19..-28% on the 72-chip H100 rows) and the sharded evaluation unmodelled.
SPATIAL_PARALLEL = False

HALF = 2  # FP16 activations and gradients (unet3d_train.precision)
STAT_BYTES = 2 * 4  # per channel: FP32 sum and sum of squares


def _f(key: str):
    return fact("unet3d_train", key)


def spatial_group(n_chips: int, global_batch: float) -> int:
    """The spatial group size NVIDIA's config for `n_chips` at `global_batch` runs; 1 for every other run."""
    if not SPATIAL_PARALLEL:
        return 1
    for chips, gb, sgs in _f("spatial_groups"):
        if int(n_chips) == int(chips) and float(global_batch) == float(gb):
            return int(sgs)
    return 1


def is_spatial(name: str) -> bool:
    return any(fnmatchcase(name, pat) for pat in _f("spatial_blocks"))


def _halo_conv(op) -> bool:
    return is_spatial(op.name) and getattr(op, "taps", 1) == 27


def conv_geometry(op) -> tuple[int, int, int, int]:
    """(input side, output side, C_in, stride) of a cubic 3x3x3 conv op of workloads/vision.unet3d_graph."""
    cin = op.k // op.taps
    s_in = round((op.input_elems / cin) ** (1 / 3))
    s_out = round(op.m ** (1 / 3))
    if s_in ** 3 * cin != op.input_elems or s_out ** 3 != op.m:
        raise ValueError(f"{op.name}: not a cubic volume (input {op.input_elems:g} elements, {op.m} output voxels)")
    return s_in, s_out, cin, s_in // s_out


def neighbours(stride: int) -> int:
    """Planes an interior rank receives per conv per direction: two at stride 1, one at stride 2 (even slabs)."""
    return 2 if stride == 1 else 1


def halo_bytes(op) -> float:
    """Bytes an interior rank sends (= receives) for one spatial 3x3x3 conv in one direction: one H x W x C_in FP16
    plane per neighbour."""
    s_in, _, cin, stride = conv_geometry(op)
    return neighbours(stride) * s_in * s_in * cin * HALF * op.count


def _slab(op, sgs: int):
    if isinstance(op, Elementwise):
        return replace(op, elems=op.elems / sgs)
    if hasattr(op, "input_elems"):
        return replace(op, m=op.m // sgs, input_elems=op.input_elems / sgs)
    return replace(op, m=op.m // sgs)


def _halo_op(op):
    """The halo convolutions of one spatial conv: per received plane, the 3 x 3 edge slice of the filter over one
    boundary output plane."""
    s_in, s_out, cin, stride = conv_geometry(op)
    return replace(op, name=f"{op.name}.halo", count=op.count * neighbours(stride), m=s_out * s_out, k=cin * 9,
                   taps=9, input_elems=float(s_in * s_in * cin))


def per_chip_graph(g: OpGraph, sgs: int) -> OpGraph:
    """One rank's share of a one-sample training graph split over `sgs` ranks (module docstring); `g` at sgs 1."""
    if sgs <= 1:
        return g
    for o in g.ops:
        if is_spatial(o.name) and hasattr(o, "m") and o.m % sgs:
            raise ValueError(f"{o.name}: {o.m} voxels do not split over {sgs} ranks")
    ops = [_slab(o, sgs) if is_spatial(o.name) else o for o in g.ops]
    ops += [_halo_op(o) for o in g.ops if _halo_conv(o)]
    return OpGraph(f"{g.name}:sgs{sgs}", ops, dict(g.meta))


def group_comm_s(g: OpGraph, p, family: str, sgs: int, board=None, no_input_grad: tuple[str, ...] = ()) -> dict:
    """Exposed seconds of one step's traffic inside a spatial group (module docstring), for the one-sample graph
    `g`: halo exchanges beyond the slab convolutions they overlap, the gather / split all-gathers, the norms'
    statistics all-reduces."""
    out = {"sgs": int(sgs), "halo_s": 0.0, "halo_exposed_s": 0.0, "gather_split_s": 0.0, "norm_stats_s": 0.0,
           "exposed_s": 0.0}
    if sgs <= 1:
        return out
    topo = topology_for(p, family)
    convs = [o for o in g.ops if _halo_conv(o)]
    for o in convs:
        t_x = float(collective_time("send_recv", halo_bytes(o), 2, topo)[0])
        slab = OpGraph(f"{o.name}:slab", [_slab(o, sgs)], dict(g.meta))
        t_f = graph_time(slab, p, board)
        t_b = backward_time(slab, p, no_input_grad, board)
        out["halo_s"] += 2 * t_x
        out["halo_exposed_s"] += max(0.0, t_x - t_f) + max(0.0, t_x - t_b)
        out["norm_stats_s"] += 2 * float(collective_time("all_reduce", o.n * STAT_BYTES * o.count, sgs, topo)[0])
    convs3 = [o for o in g.ops if hasattr(o, "taps")]
    # the gather of the last spatial encoder conv's output and the split of the last replicated decoder conv's
    last_enc = [o for o in convs3 if is_spatial(o.name) and o.name.startswith("enc")][-1]
    last_rep_dec = [o for o in convs3 if not is_spatial(o.name) and o.name.startswith("dec")][-1]
    for o in (last_enc, last_rep_dec):
        out["gather_split_s"] += float(collective_time("all_gather", o.m * o.n * HALF * o.count, sgs, topo)[0])
    out["exposed_s"] = out["halo_exposed_s"] + out["gather_split_s"] + out["norm_stats_s"]
    return out


__all__ = ["SPATIAL_PARALLEL", "spatial_group", "is_spatial", "conv_geometry", "neighbours", "halo_bytes",
           "per_chip_graph", "group_comm_s"]
