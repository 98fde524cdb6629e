"""The elementwise kernels NVIDIA's MLPerf RetinaNet backbone runs outside its convolutions (issue 18, round stop-42
issue-63b).

NVIDIA's ResNeXt-50 bottleneck under `--jit` (training_results_v4.0 NVIDIA/benchmarks/ssd/implementations/pytorch
model/resnet.py BottleneckJIT; other_benchmarks.yaml retinanet_train.backbone_elementwise, with the source) fuses
only its first 1x1 conv with the frozen batch norm and ReLU (cuDNN ConvFrozenScaleBiasReLU); after the grouped 3x3
conv a frozen-BN + ReLU nvFuser kernel, and after the last 1x1 conv a frozen-BN (+ the downsample branch's frozen
BN) + residual add + ReLU nvFuser kernel each read and write the conv's output again and save a 1-byte ReLU mask;
their backward reads the gradient and the mask and writes the input gradient(s). The workload graph fuses every
epilogue (workloads/blocks.FUSE_EPILOGUES), so without this module those passes are free.

`passes(g, pr)` returns (forward, backward) Elementwise ops for the backbone convs of graph `g`: the forward passes
of every backbone block (the frozen layer1 too: it runs forward, in training and evaluation), the backward passes of
the trained blocks (callers hand the trained graph). Each op carries the kernel's own reads / writes, so its
backward is priced as written, not as the 2x-forward rule of perf/train_backward.py.
"""

from __future__ import annotations

from ..ops import OpGraph
from ..workloads.blocks import eltwise

# On: each pass is a kernel the source runs (bytes read off its nvFuser definitions), nothing fitted; it moves the
# NVIDIA RetinaNet rows toward their measurements overall (docs/notes/issue-18.md, Round stop-42 issue-63b). Off:
# the backbone's BN / ReLU / residual add are free, fused into the convolutions as before.
RETINANET_BACKBONE_KERNELS = True

BACKBONE_PREFIX = "bb."


def spec() -> dict:
    from .other_rows import fact  # other_rows builds the graphs with this module: imported late

    return fact("retinanet_train", "backbone_elementwise")


def applies(vendor: str | None) -> bool:
    """True where the run follows a stack whose backbone kernels are on file (NVIDIA's); `vendor` None (no chip)
    takes the one implementation on file."""
    return RETINANET_BACKBONE_KERNELS and (vendor is None or vendor in spec()["vendors"])


def output_elems(op) -> float:
    """Output elements of one conv op (all its `count` instances): rows x output channels per group x groups."""
    return float(op.m * op.n * op.groups * op.batch * op.count)


def passes(g: OpGraph, pr) -> tuple[list, list]:
    """(forward, backward) elementwise ops of the backbone kernels after each `bb.*.<after>` conv of `g`."""
    fwd, bwd = [], []
    for kname, k in spec()["kernels"].items():
        for o in g.ops:
            if o.name.startswith(BACKBONE_PREFIX) and o.name.endswith("." + k["after"]) and hasattr(o, "taps"):
                base = o.name[: -len(k["after"])] + kname
                e = output_elems(o)
                fwd.append(eltwise(base, e, pr, 2, float(k["fwd_reads"]), float(k["fwd_writes"])))
                bwd.append(eltwise(base + "_bwd", e, pr, 2, float(k["bwd_reads"]), float(k["bwd_writes"])))
    return fwd, bwd


__all__ = ["BACKBONE_PREFIX", "RETINANET_BACKBONE_KERNELS", "applies", "output_elems", "passes", "spec"]
