"""Issue 17 builders: YOLOv8 against Ultralytics' published model table, Wan2.2 A14B as two
resident 14B denoisers with one active per step, Whisper counted in output tokens."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.ops import MatMul
from tapeout.workloads import diffusion, speech, vision
from tapeout.workloads.catalog import build_workload, get_preset


def _gflops_params(g):
    mm = [o for o in g.ops if isinstance(o, MatMul)]
    return sum(2 * o.m * o.n * o.k * o.count for o in mm) / 1e9, sum(o.n * o.k * o.count for o in mm) / 1e6


# Ultralytics README (YOLOv8 detection, COCO, 640 px): params (M), FLOPs (B) - conv weights only here,
# so params are a few percent under (no BN / bias / DFL)
@pytest.mark.parametrize("model,params_m,gflops", [("yolov8n", 3.2, 8.7), ("yolov8m", 25.9, 78.9), ("yolov8x", 68.2, 257.8)])
def test_yolov8_matches_published_size(model, params_m, gflops):
    fl, pm = _gflops_params(vision.yolo_graph(model, 1, 640))
    assert fl == pytest.approx(gflops, rel=0.05)
    assert pm == pytest.approx(params_m, rel=0.06)


def test_yolo_cost_scales_with_pixels():
    a, _ = _gflops_params(vision.yolo_graph("yolov8s", 1, 320))
    b, _ = _gflops_params(vision.yolo_graph("yolov8s", 1, 640))
    assert b == pytest.approx(4 * a, rel=0.02)


def test_wan22_one_expert_per_step_two_resident():
    g21 = diffusion.wan_graph("wan2.1-14b", steps=40)
    g22 = diffusion.wan_graph("wan2.2-a14b")
    dit = lambda g: sum(o.flops * o.count for o in g.ops if o.name.startswith("dit."))  # noqa: E731
    assert g22.meta["steps"] == 40
    assert dit(g22) == pytest.approx(dit(g21))  # same per-step compute as one 14B DiT
    extra = g22.meta["weight_bytes"] - g21.meta["weight_bytes"]
    assert extra == pytest.approx(14e9 * 2, rel=0.1)  # a second 14B-parameter denoiser in bf16 (2 B/param)


def test_whisper_units_are_output_tokens():
    g = speech.whisper_graph(batch=4, output_tokens=50)
    assert g.meta["units"] == 200 and g.meta["samples"] == 4
    assert get_preset("whisper").metric == "tokens/s"


@pytest.mark.parametrize("kind,params", [("yolov8m", {"resolution": 600}), ("yolov8m", {"model": "yolov9"}),
                                         ("wan2.2-a14b", {"frames": 80}), ("yolov8m", {"num_classes": 0})])
def test_bad_params_are_one_line_errors(kind, params):
    with pytest.raises(TapeoutError) as e:
        build_workload(kind, **params)
    assert "\n" not in str(e.value)


def test_retinanet_query_returns_detections_not_logits():
    """A query moves the INT8 800x800x3 image in and <= 300 NMS'd detections of 7 four-byte words out
    (MLPerf reference detections_per_img; EfficientNMS boxes/score/class), not the 264-class logits."""
    from tapeout.perf.scenarios import io_bytes

    for n in (1, 8):
        g = vision.retinanet_graph(n, 800, "int8")
        assert io_bytes(g) == n * (800 * 800 * 3 + 300 * 7 * 4)
    # the result does not grow with the class count (the dense logits stay on the device)
    assert io_bytes(vision.retinanet_graph(1, 800, "int8", num_classes=600)) == io_bytes(vision.retinanet_graph(1, 800, "int8"))
