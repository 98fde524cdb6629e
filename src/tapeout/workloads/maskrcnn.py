"""Mask R-CNN (ResNet-50-FPN) as MLPerf Training v1.0-v3.1 ran it (benchmark `maskrcnn`): the op graph of one
chip's training step or evaluation batch. Every constant below is read from the benchmark definition and the
submitted implementation; validation/other_rows.py training_graphs splits the graph into trained and forward-only
parts, data/mlperf/other_benchmarks.yaml maskrcnn_train holds the facts with their sources.

Sources: mlcommons/training object_detection (maskrcnn-benchmark, e2e_mask_rcnn_R_50_FPN_1x.yaml) and NVIDIA's
implementation mlcommons/training_results_v2.0 NVIDIA/benchmarks/maskrcnn/implementations/pytorch @a6ae3e1
(maskrcnn_benchmark/config/defaults.py, config_DGXA100.sh, run_and_time.sh):
- input: min side 800, max side 1333 (INPUT.MIN/MAX_SIZE_TRAIN), padded to a multiple of 32; with CUDA graphs
  (USE_CUDA_GRAPH True in every NVIDIA config) DATALOADER.ALWAYS_PAD_TO_MAX pads every batch to one shape per
  orientation (CUDA_GRAPH_NUM_SHAPES_PER_ORIENTATION 1: (800, 1344) or (1344, 800); the synthetic loader of the
  same trainer uses img_h=800, img_w=1344). Same FLOPs either orientation: priced at 800 x 1344.
- backbone ResNet-50 (bottlenecks [3, 4, 6, 3]) with frozen batch-norm everywhere (BottleneckWithFixedBatchNorm,
  StemWithFixedBatchNorm) and the stem + layer1 frozen (MODEL.BACKBONE.FREEZE_CONV_BODY_AT 2); the stride of each
  stage's first block is on its first 1x1 conv (RESNETS.STRIDE_IN_1X1 True, the MSRA / Caffe2 R-50.pkl layout
  the benchmark's weights come in), not on the 3x3 as in torchvision's v1.5.
- FPN on C2..C5, 256 channels, P6 = max-pool stride 2 of P5 (LastLevelMaxPool).
- RPN: one 3x3 conv 256 + objectness (A) and box (4A) 1x1 convs per level P2..P6, weights shared over levels;
  A = 3 anchors per position (one size per level, ANCHOR_SIZES (32..512), ASPECT_RATIOS (0.5, 1, 2)),
  strides 4..64 (ANCHOR_STRIDE). Proposal decode / top-k / NMS: forward-only memory pass over the anchors.
- RoI heads: RoIAlign (MultiScaleRoIAlign) 7 x 7, sampling ratio 2 -> box head FC 12544 -> 1024 -> 1024,
  class (81) and box (4 x 81) predictors, on ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512 sampled RoIs per image in
  training, the post-NMS proposals (FPN_POST_NMS_TOP_N_TEST 1000) in evaluation; mask head RoIAlign 14 x 14,
  four 3x3 convs 256, a 2x2 stride-2 deconvolution to 28 x 28 and a 1x1 conv to 81 class masks, on the positive
  RoIs in training (at most POSITIVE_FRACTION 0.25 x 512 = 128 per image) and the kept detections
  (DETECTIONS_PER_IMG 100) in evaluation.
RoIAlign is a gather: each output element averages sampling_ratio^2 bilinear samples of 4 neighbours each
(ROIAlign_cuda.cu); priced as a memory-bound op reading 4 s^2 input elements per output element (no cache
reuse assumed: an upper bound on its traffic) and writing one.
"""

from __future__ import annotations

from ..ops import Elementwise, MatMul, Op, OpGraph
from ..precision import Precision
from .blocks import as_precision, check_batch, conv2d, distinct_weight_bytes, eltwise, epilogue, linear
from .vision import bottleneck_stages, resnet_stem

TRAIN_SHAPE = (800, 1344)  # (h, w) every training batch is padded to (module docstring)
FPN_CHANNELS = 256
ANCHORS_PER_POSITION = 3  # RPN.ASPECT_RATIOS (0.5, 1.0, 2.0), one ANCHOR_SIZE per FPN level
RPN_STRIDES = (4, 8, 16, 32, 64)  # P2..P6 (RPN.ANCHOR_STRIDE of e2e_mask_rcnn_R_50_FPN_1x.yaml)
NUM_CLASSES = 81  # 80 COCO categories + background (ROI_BOX_HEAD.NUM_CLASSES)
BOX_POOL, MASK_POOL, SAMPLING_RATIO = 7, 14, 2  # ROI_BOX_HEAD / ROI_MASK_HEAD POOLER_RESOLUTION, SAMPLING_RATIO
BOX_HEAD_DIM = 1024  # ROI_BOX_HEAD.MLP_HEAD_DIM
MASK_CONVS = 4  # ROI_MASK_HEAD.CONV_LAYERS (256, 256, 256, 256)
TRAIN_BOX_ROIS, TRAIN_MASK_ROIS = 512, 128  # per image: BATCH_SIZE_PER_IMAGE, x POSITIVE_FRACTION 0.25
EVAL_BOX_ROIS, EVAL_MASK_ROIS = 1000, 100  # per image: FPN_POST_NMS_TOP_N_TEST, DETECTIONS_PER_IMG


def fpn_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """(h, w) of P2..P6 for an h x w input (a multiple of 32): P_l = input / 2^l, P6 = ceil(P5 / 2) (max-pool
    kernel 1, stride 2)."""
    sizes = [(h // s, w // s) for s in RPN_STRIDES[:4]]
    h5, w5 = sizes[-1]
    return sizes + [((h5 + 1) // 2, (w5 + 1) // 2)]


def anchors_per_level(h: int = TRAIN_SHAPE[0], w: int = TRAIN_SHAPE[1]) -> list[int]:
    """RPN anchors of each level P2..P6 of one h x w image: positions x ANCHORS_PER_POSITION."""
    return [hh * ww * ANCHORS_PER_POSITION for hh, ww in fpn_sizes(h, w)]


def roi_align(name: str, rois: float, pool: int, pr: Precision, channels: int = FPN_CHANNELS) -> Elementwise:
    """RoIAlign of `rois` RoIs to pool x pool x channels: one written element per output, 4 x SAMPLING_RATIO^2
    gathered reads (bilinear neighbours of each sample point), 3 FLOPs per read (weight, multiply, add)."""
    reads = 4 * SAMPLING_RATIO ** 2
    return eltwise(name, rois * pool * pool * channels, pr, 3 * reads, reads=reads, writes=1)


def mask_head_ops(rois: float, pr: Precision) -> list[Op]:
    """The mask branch on `rois` RoIs: RoIAlign 14 x 14, MASK_CONVS 3x3 convs 256 -> 256, the 2x2 stride-2
    deconvolution to 28 x 28 (a GEMM over the 14 x 14 inputs: 256 -> 4 x 256 outputs) and the 1x1 mask logits."""
    r = int(rois)
    c = FPN_CHANNELS
    ops: list[Op] = [roi_align("roi.mask_align", r, MASK_POOL, pr)]
    op, _, _ = conv2d("mask.fcn", r, c, c, MASK_POOL, MASK_POOL, 3, pr, count=MASK_CONVS)
    ops.append(op)
    ops += epilogue("mask.fcn.relu", r * MASK_POOL ** 2 * c, pr, 1, count=MASK_CONVS)
    ops.append(MatMul(name="mask.deconv", m=r * MASK_POOL ** 2, n=4 * c, k=c, a_dtype=pr.activations,
                      w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute))
    op, _, _ = conv2d("mask.logits", r, c, NUM_CLASSES, 2 * MASK_POOL, 2 * MASK_POOL, 1, pr)
    ops.append(op)
    return ops


def mask_head_flops(rois: float) -> float:
    """Closed form of mask_head_ops' GEMM FLOPs (2 per MAC) on `rois` RoIs."""
    c, p = FPN_CHANNELS, MASK_POOL
    return 2.0 * rois * (MASK_CONVS * p * p * c * c * 9 + p * p * c * 4 * c + (2 * p) ** 2 * c * NUM_CLASSES)


def maskrcnn_graph(batch: int = 1, precision: str | Precision = "bf16", train: bool = True,
                   shape: tuple[int, int] = TRAIN_SHAPE) -> OpGraph:
    """One chip's Mask R-CNN forward on `batch` images of `shape` (h, w): the training step's (`train`: 512 box /
    128 mask RoIs per image, the losses) or an evaluation batch's (1000 / 100 RoIs). Frozen stem + layer1 are
    named `stem.` / `bb.s1`; proposal decoding is `decode.` (forward only)."""
    n = check_batch(batch)
    pr = as_precision(precision)
    h, w = shape
    ops: list[Op] = []
    h2, w2 = resnet_stem(ops, n, h, w, pr)
    _, _, _, outs = bottleneck_stages(ops, n, h2, w2, 64, pr, (64, 128, 256, 512), (3, 4, 6, 3), prefix="bb.",
                                      stride_in_1x1=True)
    c = FPN_CHANNELS
    levels = fpn_sizes(h, w)
    for lvl, (ci, hi, wi) in enumerate(outs):  # C2..C5
        op, _, _ = conv2d(f"fpn.lateral{lvl + 2}", n, ci, c, hi, wi, 1, pr)
        ops.append(op)
        if lvl < 3:  # top-down: nearest upsample of the coarser level added to this lateral
            ops.append(eltwise(f"fpn.topdown{lvl + 2}", n * hi * wi * c, pr, 1, reads=2, writes=1))
        op, _, _ = conv2d(f"fpn.out{lvl + 2}", n, c, c, hi, wi, 3, pr)
        ops.append(op)
    h6, w6 = levels[-1]
    ops.append(eltwise("fpn.p6_pool", n * h6 * w6 * c, pr, 1, reads=1, writes=1))
    a = ANCHORS_PER_POSITION
    for lvl, (hh, ww) in enumerate(levels):
        tag = f"rpn.p{lvl + 2}"
        for name, cout, k in (("conv", c, 3), ("cls", a, 1), ("box", 4 * a, 1)):
            op, _, _ = conv2d(f"{tag}.{name}", n, c, cout, hh, ww, k, pr)
            ops.append(op)
    anchors = sum(anchors_per_level(h, w))
    # proposals: objectness + 4 deltas per anchor read, decoded, top-k and NMS'd on the device (forward only)
    ops.append(eltwise("decode.rpn_proposals", n * anchors * 5, pr, 10, reads=1, writes=1))
    box_rois = n * (TRAIN_BOX_ROIS if train else EVAL_BOX_ROIS)
    mask_rois = n * (TRAIN_MASK_ROIS if train else EVAL_MASK_ROIS)
    ops.append(roi_align("roi.box_align", box_rois, BOX_POOL, pr))
    ops.append(linear("box.fc6", box_rois, BOX_HEAD_DIM, c * BOX_POOL ** 2, pr))
    ops.append(linear("box.fc7", box_rois, BOX_HEAD_DIM, BOX_HEAD_DIM, pr))
    ops.append(linear("box.cls", box_rois, NUM_CLASSES, BOX_HEAD_DIM, pr))
    ops.append(linear("box.reg", box_rois, 4 * NUM_CLASSES, BOX_HEAD_DIM, pr))
    ops += mask_head_ops(mask_rois, pr)
    mask_px = mask_rois * (2 * MASK_POOL) ** 2
    if train:  # per-pixel sigmoid BCE on the target class's 28 x 28 mask; box-head softmax + smooth-L1
        ops.append(eltwise("loss.mask_bce", mask_px, pr, 6, reads=2, writes=1))
        ops.append(eltwise("loss.box", box_rois * 5 * NUM_CLASSES, pr, 6, reads=1, writes=1))
    else:  # sigmoid of the detected class's mask (the paste into the image runs on the host)
        ops.append(eltwise("decode.mask_sigmoid", mask_px, pr, 4, reads=1, writes=1))
    shared = {f"rpn.p{lvl + 2}.": 0 for lvl in range(1, len(levels))}  # P3..P6 reuse P2's RPN head
    return OpGraph(f"maskrcnn:b{n}:{h}x{w}:{'train' if train else 'eval'}:{pr.name}", ops,
                   {"model": "maskrcnn", "batch": n, "units": n, "unit": "images", "resolution": h,
                    "weight_bytes": distinct_weight_bytes(ops, shared), "shared_weights": shared})


__all__ = ["maskrcnn_graph", "mask_head_ops", "mask_head_flops", "roi_align", "anchors_per_level", "fpn_sizes",
           "TRAIN_SHAPE"]
