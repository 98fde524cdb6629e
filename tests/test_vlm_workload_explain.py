"""Vision-language serving on the one engine (image tokens from resolution, patch size and the
2x2 merger; the ViT encoder in each request's prefill) and `tapeout workload-explain`."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeout
from tapeout.errors import TapeoutError
from tapeout.workloads.blocks import weight_params
from tapeout.workloads.vlm import image_tokens, vision_graph, vision_spec

from _cli import run_cli

SPEC = vision_spec("qwen2.5-vl-7b")


def test_qwen25vl_image_tokens_closed_form():
    # 448 px: 32 x 32 patches of 14 px, merged 2 x 2 -> 16 x 16 = 256 tokens
    assert image_tokens(SPEC, 448) == 256
    # smart_resize rounds a side to the nearest multiple of 28: 1000 -> 1008 = 36 x 28
    assert image_tokens(SPEC, 1000) == 36 ** 2
    # the largest square within max_pixels 12,845,056 = 3584^2
    assert image_tokens(SPEC, 3584) == 128 ** 2
    assert vision_spec("llama-3.1-8b") is None


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 128), n=st.integers(1, 4))
def test_vision_graph_tokens_and_patches(k, n):
    g = vision_graph(SPEC, n, 28 * k)
    assert g.meta["tokens"] == n * k * k == n * image_tokens(SPEC, 28 * k)
    assert g.meta["patches"] == 4 * g.meta["tokens"]  # 2 x 2 merger


def test_vision_tower_params_match_published_split():
    # Qwen2.5-VL-7B 8.29B total (model card) - Qwen2.5-7B LM 7.61B = ~0.68B for ViT + merger
    assert weight_params(vision_graph(SPEC, 1, 448).ops) == pytest.approx(0.68e9, rel=0.03)


@pytest.mark.parametrize("size", [3600, 5000])
def test_image_larger_than_encoder_refused(size):
    with pytest.raises(TapeoutError, match="--image-size"):
        image_tokens(SPEC, size)


def test_vlm_serve_adds_encoder_to_prefill_and_tokens_to_context():
    kw = dict(model="qwen2.5-vl-7b", chip="h100-sxm", num_chips=1, output_len=256, batch=64, tp=1)
    v = tapeout.serve(input_len=200, images_per_request=2, image_size=448, **kw)
    t = tapeout.serve(input_len=200 + 512, **kw)  # text-only with the same context
    assert v.image_tokens_per_request == 512
    assert v.input_len == t.input_len == 712
    enc = v.encoder_s_per_request
    assert enc > 0
    # offline step: B/O requests are prefilled per step, each paying the encoder once
    assert v.tpot_s - t.tpot_s == pytest.approx(64 / 256 * enc, rel=1e-6)
    assert v.ttft_s - t.ttft_s == pytest.approx(enc, rel=1e-6)
    # encoder time scales with images (same graph, twice the rows) and TP splits it
    one = tapeout.serve(input_len=200, images_per_request=1, image_size=448, **kw)
    assert one.encoder_s_per_request < enc
    v2 = tapeout.serve(input_len=200, images_per_request=2, image_size=448, **{**kw, "num_chips": 2, "tp": 2})
    assert v2.encoder_s_per_request == pytest.approx(enc / 2, rel=1e-9)


def test_vlm_serve_cli_equals_api():
    kw = dict(model="qwen2.5-vl-7b", chip="h100-sxm", input_len=128, output_len=128, images_per_request=1,
              image_size=672)
    code, out, err = run_cli(["serve", *sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in kw.items()), []), "--json"])
    assert code == 0, err
    assert json.loads(out) == tapeout.serve(**kw).to_dict()
    assert json.loads(out)["image_tokens_per_request"] == 24 ** 2


@pytest.mark.parametrize("args, field", [
    (["--images-per-request", "-1"], "--images-per-request"),
    (["--images-per-request", "1", "--image-size", "5000"], "--image-size"),
    (["--images-per-request", "1", "--image-size", "0"], "--image-size"),
])
def test_vlm_bad_input_one_line_exit_2(args, field):
    code, out, err = run_cli(["serve", "--model", "qwen2.5-vl-7b", "--chip", "h100-sxm", *args])
    assert code == 2, (out, err)
    assert err.strip().count("\n") == 0 and field in err and "Traceback" not in err


def test_images_on_a_text_only_model_refused():
    code, _, err = run_cli(["serve", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--images-per-request", "1"])
    assert code == 2 and "no vision encoder" in err


@pytest.mark.parametrize("name, chip", [("yolov8m", "h100-sxm"), ("whisper-large-v3", "h100-sxm"), ("resnet50", "l4")])
def test_workload_explain_ops_sum_to_the_workload_run_time(name, chip):
    e = tapeout.workload_explain(name, chip)
    assert sum(r["time_ms"] for r in e.rows()) == pytest.approx(e.graph_time_s * 1e3, rel=1e-9)
    assert sum(r["share"] for r in e.rows()) == pytest.approx(1.0, rel=1e-9)
    # the table explains the same graph workload-run costs
    assert e.workload["time_s"] == pytest.approx(e.graph_time_s, rel=1e-9)


def test_workload_explain_api_equals_cli_json():
    code, out, err = run_cli(["workload-explain", "hstu", "--chip", "h100-sxm", "--set", "seq_len=1024", "--json"])
    assert code == 0, err
    assert json.loads(out) == tapeout.workload_explain("hstu", "h100-sxm", ["seq_len=1024"]).to_dict()
    assert tapeout.workload_explain("hstu", "h100-sxm", seq_len=1024).to_dict() == json.loads(out)


@pytest.mark.parametrize("name, chip", [("wan2.2-a14b", "h200"), ("dlrmv2", "h100-sxm")])
def test_workload_explain_runs_for_new_workloads(name, chip):
    e = tapeout.workload_explain(name, chip)
    assert len(e.rows()) > 3 and e.graph_time_s > 0 and e.energy_j > 0


def test_workload_explain_bad_param_one_line():
    code, _, err = run_cli(["workload-explain", "hstu", "--chip", "h100-sxm", "--set", "seq_len=-5"])
    assert code == 2 and "seq_len" in err and err.strip().count("\n") == 0
