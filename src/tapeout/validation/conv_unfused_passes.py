"""The elementwise kernels NVIDIA's MLPerf conv nets run outside their convolutions: RetinaNet's backbone (issue 18,
round stop-42 issue-63b), Mask R-CNN's backbone backward and mask branch (issue-63c) and Stable Diffusion's UNet
(issue-64b); one pricing, per benchmark kernel sets in other_benchmarks.yaml.

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

The same reading for NVIDIA's Mask R-CNN (round stop-42 issue-63c; other_benchmarks.yaml
maskrcnn_train.backbone_elementwise, with the source): every backbone block, layer1 included, is apex.contrib.bottleneck's
SpatialBottleneck (`MODEL.RESNETS.FIRST_TRANS_FUNC` / `TRANS_FUNC` = SpatialBottleneckWithFixedBatchNorm in every
stored config), whose forward is cuDNN conv + scale + bias (+ add) + ReLU fusions throughout (nothing outside the convs)
and whose backward fuses drelu / dscale into the inner dgrads, but starts each block with `drelu_dscale1` /
`drelu_dscale2`, a TorchScript kernel that reads the incoming gradient and the block's saved output and writes two
gradients (the last 1x1 conv's and the identity / downsample branch's). `bench` picks the benchmark's spec; a kernel
whose forward moves no bytes has no forward op.

Mask R-CNN's mask branch (maskrcnn_train.head_elementwise, `key` HEAD): MaskRCNNFPNFeatureExtractor runs
`F.relu(conv(x))` after each of its four 3x3 convs and MaskRCNNC4Predictor `F.relu(deconv(x))` and
`nhwc_to_nchw_transform(logits)`, each an eager op of its own (forward) with its own autograd node (backward).

Stable Diffusion's UNet (round stop-42 issue-64b; other_benchmarks.yaml sd_train.unet_elementwise, `key` UNET, with the
source): NeMo's ResBlock._forward (openaimodel.py) runs `h = h + emb_out` after conv1 and `skip_connection(x) + h` after
conv2, and SpatialTransformer.forward `x_in + x` after proj_out; each sits between a cuDNN / cuBLAS call and apex's
NHWC GroupNorm (or a conv), so no producer or consumer can absorb it: a kernel of its own. Their backward: the
broadcast emb_out's gradient sums the incoming gradient over H x W (one read), and the block input, read by the
GroupNorm and by the skip / residual branch, gets its two gradients added (autograd's accumulation: two reads, one
write over the input's elements). A kernel with `elems: input` counts the producing conv's input elements (the block
input) instead of its output's.

The SD UNet's BasicTransformerBlock (sd_train.transformer_elementwise, `key` TRANSFORMER; attention.py): the self-attention
stacks its separate to_q / to_k / to_v outputs into one packed tensor for flash-attn (`torch.stack([q, k, v], dim=2)`,
a copy), and its three residual adds (attn1 / attn2 / ff output + x) are, at the least, one read and one write more
than the priced LayerNorms (eager: an add kernel of their own; Inductor: fused into the next LayerNorm, which then also
reads the residual and stores the sum); the last one feeds proj_out's GEMM and stands alone. Their backward adds the
residual's gradient into the branch's (at least one read).

NVIDIA's MXNet ResNet-50 (round stop-42 issue-64d; other_benchmarks.yaml resnet_train.backbone_elementwise, with the
source) trains its batch norm (statistics + normalize: other_rows.bn_training_ops prices every conv output's BN); the
block-ending BatchNormAddRelu kernel also reads the residual addend forward and writes its gradient backward, so the
last 1x1 convs' outputs leave the generic rule (`covered`) and are priced from that kernel's own reads / writes.
"""

from __future__ import annotations

from ..ops import OpGraph
from ..workloads.blocks import eltwise

# On: each pass is a kernel the source runs (bytes read off its nvFuser definitions), nothing fitted; it moves the
# NVIDIA RetinaNet rows toward their measurements overall (docs/notes/issue-18.md, Round stop-42 issue-63b). Off:
# the backbone's BN / ReLU / residual add are free, fused into the convolutions as before.
RETINANET_BACKBONE_KERNELS = True
# On: apex's SpatialBottleneck backward runs drelu_dscale as its own kernel per trained block (read off its source,
# nothing fitted); it moves the NVIDIA Mask R-CNN rows toward their measurements overall (docs/notes/issue-18.md, Round
# stop-42 issue-63c). Off: that gradient pass is free, fused into the convolutions as before.
MASKRCNN_BACKBONE_KERNELS = True

BACKBONE_PREFIX = "bb."

# On: NVIDIA's MXNet BatchNormAddRelu reads the addend and writes its gradient (read off the kernel's parameters,
# nothing fitted); it moves the NVIDIA ResNet-50 rows toward their measurements overall (docs/notes/issue-18.md, Round
# stop-42 issue-64d). Off: those block outputs take the generic BN rule (no addend traffic), as before.
RESNET_BN_ADD_RELU = True


# On: the mask branch's F.relu after each conv / the deconvolution and the logits' NHWC -> NCHW transform are kernels
# of their own in NVIDIA's source (read off it, nothing fitted); they move the NVIDIA Mask R-CNN rows toward their
# measurements overall (docs/notes/issue-18.md, Round stop-42 issue-63c). Off: free, fused as before.
MASKRCNN_HEAD_KERNELS = True

# On: NeMo's SD UNet runs its timestep-embedding add, residual adds and their gradients as kernels of their own (read
# off openaimodel.py / attention.py, nothing fitted); see docs/notes/issue-18.md, Round stop-42 issue-64b, for the rows.
# Off: free, fused into the convolutions as before.
SD_UNET_KERNELS = True
# On: the transformer blocks' packed-QKV stack and residual adds, read off attention.py (lower bounds, nothing fitted);
# see docs/notes/issue-18.md, Round stop-42 issue-64b. Off: free, as before.
SD_TRANSFORMER_KERNELS = True
# The FPN's top-down pathway (round stop-42 issue-65a; other_benchmarks.yaml retinanet_train / maskrcnn_train
# fpn_elementwise, with the source): `F.interpolate(last_inner, mode="nearest")` is an eager kernel of its own (reads
# the coarser level, writes the upsampled tensor), RetinaNet's `inner_lateral + inner_top_down` another (Mask R-CNN's
# add is the graph's fpn.topdown op already); backward: upsample_nearest2d_backward and autograd's sum of the coarser
# last_inner's two gradients. NVIDIA's own fpn files are not stored: upstream maskrcnn-benchmark / torchvision taken
# (ASSUMPTION, stated in the data). On: see docs/notes/issue-18.md, Round stop-42 issue-65a, for the rows it moves.
FPN_TOPDOWN_KERNELS = True
# RetinaNet's block-input gradient sum (round stop-42 issue-65a; retinanet_train.grad_sum_elementwise, with the source):
# every trained BottleneckJIT reads its input x twice (conv1's ConvFrozenScaleBiasReLU, and the identity into
# bn_add_relu_jit or the downsample conv), so autograd adds x's two gradients (PyTorch InputBuffer accumulation: read
# 2, write 1), a kernel of its own; not layer2's first block (its input needs no gradient). On: documented autograd
# behaviour, nothing fitted; see docs/notes/issue-18.md, Round stop-42 issue-65a, for the rows. Off: free, as before.
RETINANET_INPUT_GRAD_SUM = True

BACKBONE = "backbone_elementwise"
HEAD = "head_elementwise"
UNET = "unet_elementwise"
TRANSFORMER = "transformer_elementwise"
FPN = "fpn_elementwise"
GRAD_SUM = "grad_sum_elementwise"
# the other_benchmarks.yaml section of a benchmark whose section is not `<bench>_train`
SECTION = {"stable-diffusion": "sd_train"}


def _switch(bench: str, key: str) -> bool:
    return {("retinanet", BACKBONE): RETINANET_BACKBONE_KERNELS, ("maskrcnn", BACKBONE): MASKRCNN_BACKBONE_KERNELS,
            ("maskrcnn", HEAD): MASKRCNN_HEAD_KERNELS, ("stable-diffusion", UNET): SD_UNET_KERNELS,
            ("stable-diffusion", TRANSFORMER): SD_TRANSFORMER_KERNELS,
            ("resnet", BACKBONE): RESNET_BN_ADD_RELU, ("retinanet", FPN): FPN_TOPDOWN_KERNELS,
            ("maskrcnn", FPN): FPN_TOPDOWN_KERNELS, ("retinanet", GRAD_SUM): RETINANET_INPUT_GRAD_SUM}.get((bench, key), False)


def spec(bench: str = "retinanet", key: str = BACKBONE) -> dict:
    """The benchmark's `key` fact (other_benchmarks.yaml `<bench>_train`)."""
    from .other_rows import fact  # other_rows builds the graphs with this module: imported late

    return fact(SECTION.get(bench, f"{bench}_train"), key)


def applies(vendor: str | None, bench: str = "retinanet", key: str = BACKBONE) -> bool:
    """True where `bench` has `key` kernels on file, their switch is on and the run follows a stack whose kernels
    are on file (NVIDIA's); `vendor` None (no chip) takes the one implementation on file."""
    return _switch(bench, key) and (vendor is None or vendor in spec(bench, key)["vendors"])


def all_passes(g: OpGraph, pr, vendor: str | None, bench: str) -> tuple[list, list]:
    """(forward, backward) ops of every kernel set of `bench` that applies to `vendor`."""
    fwd, bwd = [], []
    for key in (BACKBONE, HEAD, UNET, TRANSFORMER, FPN, GRAD_SUM):
        if applies(vendor, bench, key):
            f, b = passes(g, pr, bench, key)
            fwd += f
            bwd += b
    return fwd, bwd


def output_elems(op) -> float:
    """Output elements of one conv / GEMM op (all its `count` instances): rows x output columns per group x groups x
    batch."""
    return float(op.m * op.n * op.groups * op.batch * op.count)


def input_elems(op) -> float:
    """Input elements of one conv op (all its `count` instances): the real input tensor, not im2col."""
    return float(op.input_elems * op.count)


def producers(g: OpGraph, k: dict) -> list:
    """The conv / GEMM ops of `g` whose output kernel `k` reads: `<prefix>*.<after>` (prefix: the kernel's own, else
    `bb.`)."""
    prefix = k.get("prefix", BACKBONE_PREFIX)
    return [o for o in g.ops if o.name.startswith(prefix) and o.name.endswith("." + k["after"]) and hasattr(o, "m")]


def covered(g: OpGraph, vendor: str | None, bench: str) -> set[str]:
    """Names of the ops of `g` whose output a `bench` kernel set that applies to `vendor` prices in full (their
    batch norm included): the generic BN rule skips them (other_rows.bn_training_ops)."""
    if not applies(vendor, bench, BACKBONE):
        return set()
    return {o.name for k in spec(bench, BACKBONE)["kernels"].values() for o in producers(g, k)}


def passes(g: OpGraph, pr, bench: str = "retinanet", key: str = BACKBONE) -> tuple[list, list]:
    """(forward, backward) elementwise ops of `bench`'s `key` kernels after each `<prefix>*.<after>` conv / GEMM of
    `g` (prefix: the kernel's own, else `bb.`), over the op's output elements (`elems: input`: its input's); a kernel
    with no forward (or backward) bytes has no op on that side."""
    fwd, bwd = [], []
    for kname, k in spec(bench, key)["kernels"].items():
        for o in producers(g, k):
            base = o.name[: -len(k["after"])] + kname
            e = input_elems(o) if k.get("elems", "output") == "input" else output_elems(o)
            for side, suffix, io in ((fwd, "", "fwd"), (bwd, "_bwd", "bwd")):
                r, w = float(k[f"{io}_reads"]), float(k[f"{io}_writes"])
                if r or w:
                    side.append(eltwise(base + suffix, e, pr, 2, r, w))
    return fwd, bwd


__all__ = ["BACKBONE", "BACKBONE_PREFIX", "FPN", "FPN_TOPDOWN_KERNELS", "GRAD_SUM", "HEAD", "MASKRCNN_BACKBONE_KERNELS",
           "MASKRCNN_HEAD_KERNELS", "RESNET_BN_ADD_RELU", "RETINANET_BACKBONE_KERNELS", "RETINANET_INPUT_GRAD_SUM", "SD_TRANSFORMER_KERNELS",
           "SD_UNET_KERNELS", "SECTION", "TRANSFORMER", "UNET", "all_passes", "applies", "covered", "input_elems",
           "output_elems", "passes", "producers", "spec"]
