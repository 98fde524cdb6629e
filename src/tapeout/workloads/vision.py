"""Vision op graphs: ResNet-50 v1.5, RetinaNet (ResNeXt50-32x4d FPN, the MLPerf variant),
ViT-L/16, 3D U-Net (MLPerf KiTS19) and the Real-ESRGAN SRVGGNetCompact super-resolution
net. Convolutions are lowered to GEMMs by im2col (blocks.py); batch-norm is folded into the
convolutions at inference (standard TensorRT/ONNX-Runtime fusion), so only ReLU/residual
adds remain as elementwise ops.

Sources (model_configs.csv): ResNet-50 v1.5 torchvision (bottlenecks [3,4,6,3], stride on
the 3x3 conv, 25,557,032 params, 4.09 GMACs at 224); ResNet-101 / -152 the same blocks at He et al. 2016
Table 1's depths ([3,4,23,3], [3,8,36,3]; ResNet-152 60.2 M params, 11.3 G multiply-adds at 224);
CLIP ViT-L/14 image encoder (ViT-L at patch 14, a 768-wide projection head); ViT-L/16 google-research
vision_transformer configs (hidden 1024, MLP 4096, 16 heads, 24 layers, patch 16, 61.55
GMACs at 224); RetinaNet: MLPerf Inference retinanet = torchvision retinanet_resnet50_fpn
layout with a ResNeXt50-32x4d backbone (Xie et al. 2017, arXiv:1611.05431), 800x800, 264
OpenImages classes, 9 anchors/position (Lin et al. 2017, arXiv:1708.02002); 3D U-Net:
nnU-Net KiTS19 layout of the MLPerf reference (channels 32-64-128-256-320-320, 128^3
patches, two 3x3x3 convs per level; Isensee et al. 2021); SRVGGNetCompact: Real-ESRGAN
inference_realesrgan.py (num_feat 64, num_conv 16/32, x4, PReLU).
"""

from __future__ import annotations

from ..errors import TapeoutError
from ..ops import Elementwise, EmbeddingGather, MatMul, Op, OpGraph
from ..precision import Precision
from .blocks import ConvMatMul, epilogue, as_precision, check_batch, check_multiple, conv2d, conv3d, distinct_weight_bytes, eltwise, linear, transformer_block

# --------------------------------------------------------------------------- ResNet family


def bottleneck_stages(ops: list[Op], n: int, h: int, w: int, cin: int, pr: Precision, widths, blocks,
                       out_mult: int = 4, groups: int = 1, prefix: str = "",
                       stride_in_1x1: bool = False) -> tuple[int, int, int, list]:
    """Bottleneck stages (v1.5: stride on the 3x3; `stride_in_1x1`: on the first 1x1, the original MSRA / Caffe2
    layout). Returns (channels, h, w, per-stage outputs)."""
    outs = []
    for si, (width, nb) in enumerate(zip(widths, blocks)):
        cout = width * out_mult if groups == 1 else (64 * 2 ** si) * 4
        for b in range(nb):
            stride = 2 if (b == 0 and si > 0) else 1
            tag = f"{prefix}s{si + 1}b{b + 1}" if b == 0 else f"{prefix}s{si + 1}b2-{nb}"
            cnt = 1 if b == 0 else nb - 1
            if b > 1:
                continue  # identical blocks 2..nb share one row with count nb-1
            c_in = cin if b == 0 else cout
            s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
            op, h1, w1 = conv2d(f"{tag}.conv1x1a", n, c_in, width, h, w, 1, pr, stride=s1, count=cnt)
            ops.append(op)
            ops += epilogue(f"{tag}.relu_a", n * h1 * w1 * width, pr, 1, count=cnt)
            op, ho, wo = conv2d(f"{tag}.conv3x3", n, width, width, h1, w1, 3, pr, stride=s3, groups=groups, count=cnt)
            ops.append(op)
            ops += epilogue(f"{tag}.relu_b", n * ho * wo * width, pr, 1, count=cnt)
            op, _, _ = conv2d(f"{tag}.conv1x1b", n, width, cout, ho, wo, 1, pr, count=cnt)
            ops.append(op)
            if b == 0:
                op, _, _ = conv2d(f"{tag}.downsample", n, c_in, cout, h, w, 1, pr, stride=stride, pad=0)
                ops.append(op)
            ops += epilogue(f"{tag}.add_relu", n * ho * wo * cout, pr, 2, reads=2, count=cnt)
            h, w = ho, wo
        cin = cout
        outs.append((cout, h, w))
    return cin, h, w, outs


def resnet_stem(ops, n, res_h, res_w, pr):
    op, h, w = conv2d("stem.conv7x7", n, 3, 64, res_h, res_w, 7, pr, stride=2, pad=3)
    ops.append(op)
    ops += epilogue("stem.relu", n * h * w * 64, pr, 1)
    h, w = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    ops.append(eltwise("stem.maxpool", n * h * w * 64, pr, 9, reads=4))
    return h, w


# Bottleneck blocks per stage of the bottleneck ResNets (He et al. 2016, "Deep Residual Learning for Image
# Recognition", CVPR, Table 1: 50-layer [3, 4, 6, 3], 101-layer [3, 4, 23, 3], 152-layer [3, 8, 36, 3]); stage widths
# 64-128-256-512 with 4x expansion in all three
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def resnet_graph(depth: int = 50, batch: int = 1, resolution: int = 224, precision: str | Precision = "bf16",
                 num_classes: int = 1000) -> OpGraph:
    """Bottleneck ResNet-`depth` (50 / 101 / 152) in the torchvision v1.5 layout (stride on the 3x3 conv)."""
    if depth not in RESNET_BLOCKS:
        raise TapeoutError(f"ResNet depth {depth} has no bottleneck layout on file; use one of "
                           f"{', '.join(map(str, RESNET_BLOCKS))}.")
    n = check_batch(batch)
    check_multiple("resolution", resolution, 32, "ResNet total stride")
    pr = as_precision(precision)
    ops: list[Op] = []
    h, w = resnet_stem(ops, n, resolution, resolution, pr)
    c, h, w, _ = bottleneck_stages(ops, n, h, w, 64, pr, (64, 128, 256, 512), RESNET_BLOCKS[depth])
    ops.append(eltwise("avgpool", n * h * w * c, pr, 1, writes=1 / (h * w)))
    ops.append(linear("fc", n, num_classes, c, pr, out_dtype="fp32"))
    return OpGraph(f"resnet{depth}:b{n}:{resolution}px:{pr.name}", ops,
                   {"model": f"resnet{depth}", "batch": n, "units": n, "unit": "images", "resolution": resolution})


def resnet50_graph(batch: int = 1, resolution: int = 224, precision: str | Precision = "bf16", num_classes: int = 1000) -> OpGraph:
    return resnet_graph(50, batch, resolution, precision, num_classes)


# What a RetinaNet query returns: the MLPerf reference model post-processes on the device and keeps
# at most detections_per_img = 300 boxes after NMS (score_thresh 0.05, topk_candidates 1000 per level;
# mlcommons/inference vision/classification_and_detection/python/models/resnext50/retinanet.py
# RetinaNet.__init__ / postprocess_detections); NVIDIA's engine appends the EfficientNMS plugin
# (closed/NVIDIA code: retinanet_resnext50_32x4d_efficientNMS.800x800.onnx), whose outputs per
# detection are a box (4 fp32), a score (fp32) and a class (int32): 7 words of 4 bytes.
RETINANET_DETECTIONS = 300
RETINANET_DETECTION_WORDS = 7


def retinanet_graph(batch: int = 1, resolution: int = 800, precision: str | Precision = "bf16", num_classes: int = 264,
                    anchors: int = 9) -> OpGraph:
    """RetinaNet with a ResNeXt50-32x4d backbone + FPN (P3-P7) + class/box subnets."""
    n = check_batch(batch)
    check_multiple("resolution", resolution, 32, "backbone total stride")
    pr = as_precision(precision)
    ops: list[Op] = []
    h, w = resnet_stem(ops, n, resolution, resolution, pr)
    # ResNeXt50 32x4d: bottleneck width 128*2^i (32 groups x 4 channels), outputs 256*2^i
    c, h, w, outs = bottleneck_stages(ops, n, h, w, 64, pr, (128, 256, 512, 1024), (3, 4, 6, 3), groups=32, prefix="bb.")
    levels = []
    for i, (ci, hi, wi) in enumerate(outs[1:]):  # C3, C4, C5
        op, _, _ = conv2d(f"fpn.lateral{i + 3}", n, ci, 256, hi, wi, 1, pr)
        ops.append(op)
        op, _, _ = conv2d(f"fpn.out{i + 3}", n, 256, 256, hi, wi, 3, pr)
        ops.append(op)
        levels.append((hi, wi))
    h5, w5 = levels[-1]
    op, h6, w6 = conv2d("fpn.p6", n, 256, 256, h5, w5, 3, pr, stride=2)
    ops.append(op)
    op, h7, w7 = conv2d("fpn.p7", n, 256, 256, h6, w6, 3, pr, stride=2)
    ops.append(op)
    levels += [(h6, w6), (h7, w7)]
    positions = sum(hh * ww for hh, ww in levels)
    # the heads share their weights across levels but run once per level (torchvision
    # RetinaNetHead.forward loops over the FPN maps; so does NVIDIA's MLPerf implementation,
    # whose cuDNN fusion warm-up lists the 100/50/25/13/7 maps of an 800 px image), so each
    # level is its own GEMM with its own tiles and waves
    for lvl, (hh, ww) in enumerate(levels):
        m = n * hh * ww
        for head, cout in (("cls", anchors * num_classes), ("box", anchors * 4)):
            tag = f"head.p{lvl + 3}.{head}"
            ops.append(ConvMatMul(name=f"{tag}.conv3x3", count=4, m=m, n=256, k=256 * 9, a_dtype=pr.activations,
                                  w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute,
                                  input_elems=float(m * 256), taps=9))
            ops += epilogue(f"{tag}.relu", m * 256, pr, 1, count=4)
            ops.append(ConvMatMul(name=f"{tag}.out", m=m, n=cout, k=256 * 9, a_dtype=pr.activations,
                                  w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute,
                                  input_elems=float(m * 256), taps=9))
    ops.append(eltwise("decode.sigmoid_topk", n * positions * anchors * num_classes, pr, 4))
    # NMS runs on the device and a query returns only the kept detections, not the class logits
    # (detections_per_img boxes x (4 box + score + label) words; module constants)
    ops.append(Elementwise(name="decode.nms_detections", elems=float(n * RETINANET_DETECTIONS * RETINANET_DETECTION_WORDS),
                           flops_per_elem=1, reads=1, writes=1, dtype="fp32"))
    shared = {f"head.p{lvl + 3}.": 0 for lvl in range(1, len(levels))}  # P4..P7 reuse P3's head weights
    return OpGraph(f"retinanet:b{n}:{resolution}px:{pr.name}", ops,
                   {"model": "retinanet", "batch": n, "units": n, "unit": "images", "resolution": resolution,
                    "weight_bytes": distinct_weight_bytes(ops, shared), "shared_weights": shared})


# --------------------------------------------------------------------------- ViT


VIT_CONFIGS = {
    "vit-b16": dict(hidden=768, layers=12, heads=12, mlp=3072, patch=16),
    "vit-l16": dict(hidden=1024, layers=24, heads=16, mlp=4096, patch=16),
    "vit-h14": dict(hidden=1280, layers=32, heads=16, mlp=5120, patch=14),
    # CLIP ViT-L/14 image encoder (Radford et al. 2021, Table 20; openai/clip-vit-large-patch14 config.json
    # vision_config: hidden_size 1024, num_hidden_layers 24, num_attention_heads 16, intermediate_size 4096,
    # patch_size 14, image_size 224 -> 257 tokens); its head is the 1024 -> 768 visual projection (projection_dim)
    "clip-vit-l14": dict(hidden=1024, layers=24, heads=16, mlp=4096, patch=14, head=768),
}


def vit_graph(model: str = "vit-l16", batch: int = 1, resolution: int = 224, precision: str | Precision = "bf16",
              num_classes: int = 1000) -> OpGraph:
    if model not in VIT_CONFIGS:
        raise TapeoutError(f"unknown ViT '{model}'. Known: {', '.join(VIT_CONFIGS)}.")
    cfg = VIT_CONFIGS[model]
    n = check_batch(batch)
    p = cfg["patch"]
    check_multiple("resolution", resolution, p, "patch size")
    pr = as_precision(precision)
    patches = (resolution // p) ** 2
    seq = patches + 1  # + class token
    hd = cfg["hidden"]
    ops: list[Op] = [linear("patch_embed", n * patches, hd, 3 * p * p, pr)]
    ops += transformer_block("layer", n, seq, hd, cfg["heads"], cfg["mlp"], pr, count=cfg["layers"])
    ops.append(eltwise("final_norm", n * hd, pr, 5))
    ops.append(linear("head", n, cfg.get("head", num_classes), hd, pr, out_dtype="fp32"))
    return OpGraph(f"{model}:b{n}:{resolution}px:{pr.name}", ops,
                   {"model": model, "batch": n, "units": n, "unit": "images", "tokens": seq})


# --------------------------------------------------------------------------- 3D U-Net


UNET3D_CHANNELS = (32, 64, 128, 256, 320, 320)
# Sub-volumes per KiTS19 case in the MLPerf sliding-window inference (ROI 128^3, overlap 0.5).
# ASSUMPTION (no sourced per-case count): a typical case resampled to the MLPerf spacing
# (1.6 x 1.2 x 1.2 mm) is about 190 x 330 x 330 voxels -> 2 x 5 x 5 = 50 windows of stride 64.
UNET3D_PATCHES_PER_CASE = 50


def unet3d_graph(batch: int = 1, patch: int = 128, patches_per_sample: float = UNET3D_PATCHES_PER_CASE,
                 precision: str | Precision = "bf16", in_channels: int = 1, classes: int = 3) -> OpGraph:
    """nnU-Net 3D (MLPerf KiTS19): `batch` cases, each `patches_per_sample` windows of patch^3."""
    n = check_batch(batch)
    check_multiple("patch", patch, 32, "U-Net total stride")
    pr = as_precision(precision)
    windows = n * patches_per_sample
    nb = 1  # windows are batched along m (count multiplies)
    ops: list[Op] = []
    dhw = (patch, patch, patch)
    c_prev = in_channels
    skips = []
    for lvl, c in enumerate(UNET3D_CHANNELS):
        stride = 1 if lvl == 0 else 2
        op, dhw = conv3d(f"enc{lvl}.conv1", nb, c_prev, c, dhw, 3, pr, stride=stride, count=windows)
        ops.append(op)
        op, _ = conv3d(f"enc{lvl}.conv2", nb, c, c, dhw, 3, pr, count=windows)
        ops.append(op)
        vox = dhw[0] * dhw[1] * dhw[2]
        ops.append(eltwise(f"enc{lvl}.norm_act", vox * c, pr, 8, count=2 * windows))
        skips.append((c, dhw))
        c_prev = c
    for lvl in range(len(UNET3D_CHANNELS) - 2, -1, -1):
        c, sdhw = skips[lvl]
        in_vox = dhw[0] * dhw[1] * dhw[2]
        # transposed conv, kernel = stride = 2: GEMM over input voxels
        ops.append(MatMul(name=f"dec{lvl}.upconv", count=windows, m=in_vox, n=c * 8, k=c_prev, a_dtype=pr.activations,
                          w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute))
        dhw = sdhw
        op, _ = conv3d(f"dec{lvl}.conv1", nb, 2 * c, c, dhw, 3, pr, count=windows)
        ops.append(op)
        op, _ = conv3d(f"dec{lvl}.conv2", nb, c, c, dhw, 3, pr, count=windows)
        ops.append(op)
        vox = dhw[0] * dhw[1] * dhw[2]
        ops.append(eltwise(f"dec{lvl}.norm_act", vox * c, pr, 8, count=2 * windows))
        c_prev = c
    vox = patch ** 3
    ops.append(MatMul(name="head.conv1x1", count=windows, m=vox, n=classes, k=c_prev, a_dtype=pr.activations,
                      w_dtype=pr.weights, out_dtype=pr.activations, math_dtype=pr.compute))
    ops.append(eltwise("gaussian_accumulate", vox * classes, pr, 2, reads=2, count=windows))
    wb = distinct_weight_bytes(ops, {"enc": windows, "dec": windows, "head": windows})
    return OpGraph(f"3d-unet:b{n}:{patch}^3x{patches_per_sample:g}:{pr.name}", ops,
                   {"model": "3d-unet", "batch": n, "units": n, "unit": "volumes", "weight_bytes": wb})


# --------------------------------------------------------------------------- video SR


SRVGG_CONFIGS = {  # Real-ESRGAN inference_realesrgan.py
    "realesr-general-x4v3": dict(num_feat=64, num_conv=32, upscale=4),
    "realesr-animevideov3": dict(num_feat=64, num_conv=16, upscale=4),
}


def srvgg_graph(model: str = "realesr-general-x4v3", frames: int = 1, width: int = 1920, height: int = 1080,
                precision: str | Precision = "fp16") -> OpGraph:
    """SRVGGNetCompact on `frames` input frames of width x height (output upscale x larger):
    conv3x3 3->F, num_conv x [conv3x3 F->F + PReLU], conv3x3 F->3*s^2, pixel-shuffle, + bilinear base."""
    if model not in SRVGG_CONFIGS:
        raise TapeoutError(f"unknown SR model '{model}'. Known: {', '.join(SRVGG_CONFIGS)}.")
    cfg = SRVGG_CONFIGS[model]
    n = check_batch(frames, "frames")
    pr = as_precision(precision)
    f, s = cfg["num_feat"], cfg["upscale"]
    ops: list[Op] = []
    op, h, w = conv2d("conv_first", n, 3, f, height, width, 3, pr)
    ops.append(op)
    op, _, _ = conv2d("body.conv", n, f, f, h, w, 3, pr, count=cfg["num_conv"])
    ops.append(op)
    ops += epilogue("body.prelu", n * h * w * f, pr, 2, count=cfg["num_conv"] + 1)
    op, _, _ = conv2d("conv_last", n, f, 3 * s * s, h, w, 3, pr)
    ops.append(op)
    ops.append(eltwise("pixel_shuffle_add_base", n * h * w * 3 * s * s, pr, 8, reads=2))
    return OpGraph(f"{model}:{n}f:{width}x{height}:{pr.name}", ops,
                   {"model": model, "batch": n, "units": n, "unit": "frames", "width": width, "height": height})


# --------------------------------------------------------------------------- YOLO


# Ultralytics YOLOv8 (ultralytics/cfg/models/v8/yolov8.yaml scales [depth, width, max_channels];
# blocks ultralytics/nn/modules/block.py C2f/SPPF, head.py Detect with reg_max 16).
YOLO_SCALES = {"yolov8n": (0.33, 0.25, 1024), "yolov8s": (0.33, 0.50, 1024), "yolov8m": (0.67, 0.75, 768),
               "yolov8l": (1.00, 1.00, 512), "yolov8x": (1.00, 1.25, 512)}


def yolo_graph(model: str = "yolov8m", batch: int = 1, resolution: int = 640, precision: str | Precision = "bf16",
               num_classes: int = 80) -> OpGraph:
    """YOLOv8 detector: CSP backbone of C2f blocks + SPPF, PAN neck, anchor-free decoupled head
    on P3-P5 (box: 4 x reg_max DFL bins; cls: num_classes). NMS runs on the host (not costed)."""
    if model not in YOLO_SCALES:
        raise TapeoutError(f"unknown YOLO model '{model}'. Known: {', '.join(YOLO_SCALES)}.")
    if num_classes < 1:
        raise TapeoutError(f"num_classes must be >= 1, got {num_classes}.")
    dm, wm, cmax = YOLO_SCALES[model]
    n = check_batch(batch)
    check_multiple("resolution", resolution, 32, "YOLO total stride")
    pr = as_precision(precision)
    ops: list[Op] = []
    ch = lambda c: int(-(-min(c, cmax) * wm // 8) * 8)  # noqa: E731  (make_divisible(min(c, max) * width, 8))
    rep = lambda r: max(round(r * dm), 1)  # noqa: E731

    def conv(tag, cin, cout, h, w, k=1, stride=1):
        op, ho, wo = conv2d(tag, n, cin, cout, h, w, k, pr, stride=stride)
        ops.append(op)
        ops.extend(epilogue(f"{tag}.silu", n * ho * wo * cout, pr, 4))
        return ho, wo

    def c2f(tag, cin, cout, h, w, reps):
        c = cout // 2
        conv(f"{tag}.cv1", cin, 2 * c, h, w)
        for i in range(reps):  # Bottleneck(c, c, e=1.0): two 3x3 convs
            conv(f"{tag}.m{i}.cv1", c, c, h, w, 3)
            conv(f"{tag}.m{i}.cv2", c, c, h, w, 3)
        conv(f"{tag}.cv2", (2 + reps) * c, cout, h, w)

    h = w = resolution
    h, w = conv("b0", 3, ch(64), h, w, 3, 2)
    h, w = conv("b1", ch(64), ch(128), h, w, 3, 2)
    c2f("b2", ch(128), ch(128), h, w, rep(3))
    feats = []
    for i, (c_in, c_out, r) in enumerate(((128, 256, 6), (256, 512, 6), (512, 1024, 3))):
        h, w = conv(f"b{3 + 2 * i}", ch(c_in), ch(c_out), h, w, 3, 2)
        c2f(f"b{4 + 2 * i}", ch(c_out), ch(c_out), h, w, rep(r))
        feats.append((ch(c_out), h, w))
    c5, h5, w5 = feats[2]
    conv("sppf.cv1", c5, c5 // 2, h5, w5)
    ops.append(eltwise("sppf.maxpool5x3", n * h5 * w5 * c5 // 2, pr, 25 * 3, reads=3))
    conv("sppf.cv2", c5 // 2 * 4, c5, h5, w5)
    (c3, h3, w3), (c4, h4, w4) = feats[0], feats[1]
    c2f("neck.up4", c5 + c4, ch(512), h4, w4, rep(3))
    c2f("neck.up3", ch(512) + c3, ch(256), h3, w3, rep(3))  # P3 out
    conv("neck.down3", ch(256), ch(256), h3, w3, 3, 2)
    c2f("neck.down4", ch(256) + ch(512), ch(512), h4, w4, rep(3))  # P4 out
    conv("neck.down4s", ch(512), ch(512), h4, w4, 3, 2)
    c2f("neck.down5", ch(512) + c5, ch(1024), h5, w5, rep(3))  # P5 out
    reg_max = 16
    outs = ((ch(256), h3, w3), (ch(512), h4, w4), (ch(1024), h5, w5))
    cb = max(16, outs[0][0] // 4, reg_max * 4)
    cc = max(outs[0][0], min(num_classes, 100))
    for lvl, (c, hh, ww) in enumerate(outs):
        for br, cm, cout in (("box", cb, 4 * reg_max), ("cls", cc, num_classes)):
            conv(f"head{lvl}.{br}.cv1", c, cm, hh, ww, 3)
            conv(f"head{lvl}.{br}.cv2", cm, cm, hh, ww, 3)
            op, _, _ = conv2d(f"head{lvl}.{br}.out", n, cm, cout, hh, ww, 1, pr)
            ops.append(op)
    anchors = sum(hh * ww for _, hh, ww in outs)
    ops.append(eltwise("decode.dfl_sigmoid", n * anchors * (4 * reg_max + num_classes), pr, 6))
    return OpGraph(f"{model}:b{n}:{resolution}px:{pr.name}", ops,
                   {"model": model, "batch": n, "units": n, "unit": "images", "resolution": resolution})


__all__ = ["resnet50_graph", "retinanet_graph", "vit_graph", "unet3d_graph", "srvgg_graph", "yolo_graph", "VIT_CONFIGS", "EmbeddingGather"]
