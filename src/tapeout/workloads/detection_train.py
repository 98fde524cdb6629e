"""What NVIDIA's MLPerf Training RetinaNet step runs on the GPU beyond the backbone, FPN and head
convolutions of workloads/vision.retinanet_graph (the non-LLM training mapper, validation/other_training.py).

Source: mlcommons/training_results_v3.0 NVIDIA/benchmarks/ssd/implementations/pytorch @9f08e30
(model/retinanet.py, engine.py), run with the flags every stored NVIDIA config passes since v3.1
(config_DGXH100_001x08x032.sh @f33f944, v4.0 config_L40S_002x04x032.sh @62f111b: --apex-head-fusion
--apex-focal-loss --cls-head-pad --reg-head-pad --cuda-graphs --apex-adam --master-weights).

- Head outputs: each level's fused ConvBias output (channels-last, so view/permute/reshape to
  (N, HWA, K) are views) is concatenated over the five levels (`torch.cat(all_cls_logits, dim=1)`,
  RetinaNetClassificationHead.forward; the same for the box head): one read and one write of the
  whole output, in training and in evaluation (the same forward). In the backward, `GradClone`
  ("cloning grad in backprop to make it contiguous for fusion code") copies the output gradient once.
- Focal loss (--apex-focal-loss: apex/contrib/focal_loss/focal_loss.py FocalLoss): the forward kernel reads the
  concatenated logits and writes the loss and a partial gradient of the logits' size; the backward scales that
  partial gradient in place ("The backward kernel is actually in-place"): one read and one write, not the 2x of an
  elementwise op's backward. The forward pass is the graph's `decode.sigmoid_topk` op (same elements; evaluation
  runs it as the score decode), so the mapper runs the decode ops forward-only and adds this backward here.
- Weight update: `scaler.step(optimizer)` inside the captured step (v3.1 @f33f944 model_capture.whole_model_capture)
  with apex FusedAdam(capturable=True): GradScaler._check_inf_per_device unscales the gradients in
  place (read + write), then one multi-tensor Adam kernel; priced by perf/weight_update.py at
  data/mlperf/other_benchmarks.yaml weight_update.retinanet.
"""

from __future__ import annotations

from ..ops import OpGraph
from .blocks import eltwise

HEADS = ("cls", "box")


def head_output_elems(g: OpGraph) -> dict[str, float]:
    """Elements of each head's output over all FPN levels: the m x n of its `head.p<l>.<head>.out` convs
    (batch x positions x anchors x classes for `cls`, x 4 box deltas for `box`)."""
    return {h: float(sum(o.m * o.n * o.count for o in g.ops if o.name.startswith("head.p") and o.name.endswith(f".{h}.out")))
            for h in HEADS}


def head_output_passes(g: OpGraph, pr) -> tuple[list, list]:
    """(forward, backward) memory passes over the head outputs per step beyond the convolutions: the
    concatenation over levels (forward, also run by evaluation); the fused focal loss's in-place
    gradient scaling and GradClone's copy of each output gradient (backward). One read + one write each."""
    elems = head_output_elems(g)
    fwd = [eltwise(f"head.{h}.cat", elems[h], pr, 0, 1, 1) for h in HEADS if elems[h]]
    bwd = [eltwise("loss.focal_bwd", elems["cls"], pr, 1, 1, 1)] if elems["cls"] else []
    bwd += [eltwise(f"head.{h}.grad_clone", elems[h], pr, 0, 1, 1) for h in HEADS if elems[h]]
    return fwd, bwd


__all__ = ["HEADS", "head_output_elems", "head_output_passes"]
