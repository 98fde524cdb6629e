"""ONNX import, workload files, video engines and the MLPerf row mappers."""

import json

import numpy as np
import pytest

from tapeout.errors import TapeoutError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tapeout.ops import EmbeddingGather, MatMul  # noqa: E402
from tapeout.workloads.imported import load_workload, lower_onnx, save_workload  # noqa: E402


def _model(path, rows=100):
    X = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 4])
    Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.zeros((16, 3, 3, 3), np.float32), "w"),
             numpy_helper.from_array(np.zeros((16 * 8 * 8, 10), np.float32), "fc"),
             numpy_helper.from_array(np.zeros((rows, 32), np.float32), "emb")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("MatMul", ["f", "fc"], ["y"]),
             helper.make_node("Gather", ["emb", "ids"], ["e"])]
    E = helper.make_tensor_value_info("e", TensorProto.FLOAT, None)
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [X, ids], [Y, E], inits)), str(path))
    return path


def test_onnx_lowering_counts(tmp_path):
    g = lower_onnx(_model(tmp_path / "m.onnx"), {"batch": 8})
    conv = next(o for o in g.ops if o.name.startswith("Conv"))
    assert (conv.m, conv.n, conv.k) == (8 * 8 * 8, 16, 27)  # im2col: N*Ho*Wo, Cout, Cin*kh*kw
    mm = next(o for o in g.ops if o.name.startswith("MatMul"))
    assert isinstance(mm, MatMul) and (mm.m, mm.n, mm.k) == (8, 10, 1024)
    emb = next(o for o in g.ops if isinstance(o, EmbeddingGather))
    assert emb.lookups == 32 and emb.rows == 100 and emb.row_bytes == 128
    assert g.flops == pytest.approx(2 * (512 * 16 * 27 + 8 * 10 * 1024) + 512 * 16 + 32 * 32, rel=1e-6)


def test_workload_file_roundtrip_and_errors(tmp_path):
    g = lower_onnx(_model(tmp_path / "m.onnx"), {"batch": 2})
    f = save_workload(g, tmp_path / "m.workload.json")
    g2 = load_workload(f)
    assert g2.flops == pytest.approx(g.flops) and len(g2.ops) == len(g.ops)
    with pytest.raises(TapeoutError, match="batch"):
        lower_onnx(tmp_path / "m.onnx")  # unbound symbolic dim
    with pytest.raises(TapeoutError, match="rows"):
        lower_onnx(_model(tmp_path / "z.onnx", rows=0), {"batch": 2})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "nope", "ops": []}))
    with pytest.raises(TapeoutError, match="format"):
        load_workload(bad)


def test_cli_import_and_run(tmp_path, capsys):
    from tapeout.cli import main

    m = _model(tmp_path / "m.onnx")
    out = tmp_path / "m.workload.json"
    main(["import", str(m), "--dim", "batch=4", "--out", str(out)])
    capsys.readouterr()
    main(["run-workload", str(out), "--chip", "h100-sxm", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["time_s"] > 0 and res["throughput_per_s"] == pytest.approx(4 / res["time_s"])
    assert res["bound"] in ("compute", "memory", "overhead", "comm", "fixed")


def test_video_engine_scaling_and_missing_fields():
    from tapeout.hardware.catalog import Chip, Spec
    from tapeout.perf import video

    c = Chip("vchip", "vchip", "x", "generic", specs={
        "video_decoders": Spec(4.0, "", "test", "test"), "video_decode_fps_1080p_h264": Spec(500.0, "", "test", "test")})
    assert video.engine_rate(c, "decode", "h264", 1920, 1080) == pytest.approx(2000)
    assert video.engine_rate(c, "decode", "h264", 3840, 2160) == pytest.approx(500)  # 4x the pixels
    with pytest.raises(TapeoutError, match="video_encoders"):
        video.engine_rate(c, "encode", "h264")
    with pytest.raises(TapeoutError, match="codec"):
        video.engine_rate(c, "decode", "mpeg1")


def test_precision_rule_and_mappers():
    from tapeout.hardware import get_chip
    from tapeout.validation.other_rows import compute_precision, map_inference, map_training, samples_to_converge

    h100 = get_chip("h100-sxm")
    assert compute_precision("int8", h100) == "int8"
    assert compute_precision("fp8/fp16/int8 mixed (per submission)", h100) == "fp8"
    row = {"category": "mlperf-inf", "workload": "MLPerf Inference v4.1 resnet", "scenario": "Offline",
           "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "precision": "int8"}
    p8 = map_inference(row).predicted
    p4 = map_inference({**row, "n_accelerators": "4"}).predicted
    assert p8 == pytest.approx(2 * p4)
    assert map_inference({**row, "workload": "MLPerf Inference v4.1 llama2-70b-99"}) is None
    assert samples_to_converge("resnet", "epoch_num=35 ") == pytest.approx(35 * 1281167)
    trow = {"category": "mlperf-train", "workload": "MLPerf Training v3.0 resnet", "accelerator": "NVIDIA H100-SXM",
            "n_accelerators": "8", "notes": "global_batch_size=3264; epoch_num=35 (x)"}
    assert 1 < map_training(trow).predicted < 100  # minutes


def _extra_spec_rows():
    import csv
    from importlib import resources

    with resources.files("tapeout").joinpath("data", "chips", "extra_specs.csv").open(newline="") as f:
        return {(r["chip_id"], r["field"]): float(r["value"]) for r in csv.DictReader(f)}


@pytest.mark.parametrize("chip_id", ["l40s", "l4", "l40", "h100-sxm", "h100-pcie", "a100-sxm", "a40"])
def test_catalog_engine_rate_is_engines_times_per_engine_fps(chip_id):
    """Closed form from the sourced CSV rows: chip rate = engines x per-engine 1080p fps x (1080p pixels / W*H)."""
    from tapeout.perf import video

    rows = _extra_spec_rows()
    n_dec = rows[(chip_id, "video_decoders")]
    for codec in ("h264", "hevc"):
        fps = rows[(chip_id, f"video_decode_fps_1080p_{codec}")]
        assert video.engine_rate(chip_id, "decode", codec) == pytest.approx(n_dec * fps)
        assert video.engine_rate(chip_id, "decode", codec, 3840, 2160) == pytest.approx(n_dec * fps / 4)
    res = video.transcode_sr_pipeline(chip_id, width=1920, height=1080, codec="h264")
    assert res["stage_time_s"]["decode"] == pytest.approx(1 / (n_dec * rows[(chip_id, "video_decode_fps_1080p_h264")]))
    n_enc = rows[(chip_id, "video_encoders")]
    if n_enc > 0:  # encode runs at the x4 SR output: 16x the 1080p pixels
        enc_fps = rows[(chip_id, "video_encode_fps_1080p_h264")]
        assert video.engine_rate(chip_id, "encode", "h264") == pytest.approx(n_enc * enc_fps)
        assert res["stage_time_s"]["encode"] == pytest.approx(16 / (n_enc * enc_fps))
        assert "encode engine" in res["mode"]
    else:  # no NVENC (GA100 / GH100): encode falls back to software, decode still on NVDEC
        assert "encode software" in res["mode"]
    assert res["frames_per_s"] == pytest.approx(1 / res["time_per_frame_s"])


def test_transcode_l40s_closed_form():
    # L40S: 3 NVDEC x 903 fps (Ada H.264, NVDEC app note 13.0); 3 NVENC x 885 fps (Ada H.264 P1 VBR HQ)
    from tapeout.perf import video

    assert video.engine_rate("l40s", "decode", "h264") == pytest.approx(3 * 903)
    assert video.engine_rate("l40s", "encode", "h264", 7680, 4320) == pytest.approx(3 * 885 / 16)
