"""What the MLPerf RetinaNet training step runs beyond the convolutions (NVIDIA's implementation,
workloads/detection_train.py) and why Stable Diffusion has no evaluation term (issue 18, round stop-32)."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from _cli import run_cli
from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.validation.other_rows import fact, training_graphs, workload_facts
from tapeout.perf.weight_update import bytes_per_param, weight_update_op, weight_update_s
from tapeout.validation.other_training import head_grad_s, optimizer_s, training_time
from tapeout.workloads import vision
from tapeout.workloads.blocks import as_precision
from tapeout.workloads.detection_train import head_output_elems, head_output_passes

# 9 anchors (3 sizes x 3 ratios) at each position of the 100/50/25/13/7 maps of an 800 px image
ANCHORS_800 = 9 * (100 * 100 + 50 * 50 + 25 * 25 + 13 * 13 + 7 * 7)


def test_anchor_count_by_hand():
    assert ANCHORS_800 == 120087  # NVIDIA engine.init_scratchpad allocates [batch, 120087] targets


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 64))
def test_head_outputs_are_anchors_times_classes_and_box_deltas(batch):
    e = head_output_elems(vision.retinanet_graph(batch, 800, "bf16"))
    assert e == {"cls": batch * ANCHORS_800 * 264, "box": batch * ANCHORS_800 * 4}


def test_concatenation_and_focal_forward_run_forward_only_once_per_step_and_in_evaluation():
    g, once, _ = training_graphs("retinanet", 16)
    cats = {o.name: o for o in once.ops if o.name.startswith("head.")}
    assert set(cats) == {"head.cls.cat", "head.box.cat"}
    # one read and one write of every output element (bf16)
    assert cats["head.cls.cat"].input_bytes == cats["head.cls.cat"].output_bytes == 16 * ANCHORS_800 * 264 * 2
    assert any(o.name == "decode.sigmoid_topk" for o in once.ops)  # the fused focal forward / eval score decode
    # none in the trained graph, whose elementwise ops the backward prices at 2x their forward
    assert not any(o.name.endswith(".cat") or o.name.startswith("decode.") for o in g.ops)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 32))
def test_class_logits_are_read_and_written_eight_times_per_step(batch):
    # cat (fwd) + focal forward (read logits, write partial gradient) + focal backward in place + GradClone:
    # 4 reads and 4 writes of the batch's anchors x classes logits
    g, once, _ = training_graphs("retinanet", batch)
    fwd, bwd = head_output_passes(g, as_precision("bf16"))
    elems = batch * ANCHORS_800 * 264
    passes = sum((o.reads + o.writes) * o.elems * o.count for o in fwd + bwd if o.elems == elems)
    passes += sum((o.reads + o.writes) * o.elems for o in once.ops if o.name == "decode.sigmoid_topk")
    assert passes == 8 * elems


def test_weight_update_bytes_per_parameter():
    # unscale in place (fp16 g: 2 + 2) + AdamCapturableFunctor2 (reads g16, master p, m, v: 14; writes g16, p16,
    # master p, m, v: 16) = 34 bytes per trainable parameter
    assert bytes_per_param(fact("weight_update", "retinanet")) == 34
    op = weight_update_op(1e6, 34)
    assert op.input_bytes + op.output_bytes == 34e6


def test_retinanet_step_adds_grad_copy_and_weight_update():
    chip = get_chip("h100-sxm")
    r = training_time("retinanet", chip, 8, 256, 4681204)
    assert r["head_grad_s"] > 0 and r["optimizer_s"] > 0
    t_ar = r["allreduce_s"]
    exposed = max(0.0, t_ar - (r["bwd_s"] + r["head_grad_s"]))
    parts = r["fwd_s"] + r["bwd_s"] + r["head_grad_s"] + r["once_s"] + exposed + r["optimizer_s"]
    assert abs(r["step_s"] - parts) < 1e-12
    # the update is the memory-bound op over the trained graph's distinct weights (bf16 bytes / 2 parameters)
    g, _, dense = training_graphs("retinanet", 32)
    p = calibrated_params(chip)
    assert r["optimizer_s"] == weight_update_s(fact("weight_update", "retinanet"), dense / 2, p)
    # at least the update's bytes at the chip's peak DRAM bandwidth
    assert r["optimizer_s"] >= 34 * dense / 2 / float(p.mem_bw)


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 16, 32]))
def test_weight_update_does_not_depend_on_batch_and_copies_grow_with_it(batch):
    p = calibrated_params(get_chip("h100-sxm"))
    g1, _, d1 = training_graphs("retinanet", batch)
    g2, _, d2 = training_graphs("retinanet", 2 * batch)
    chip = get_chip("h100-sxm")
    c1, u1 = head_grad_s(g1, p), optimizer_s("retinanet", chip, p, 8, d1)
    c2, u2 = head_grad_s(g2, p), optimizer_s("retinanet", chip, p, 8, d2)
    assert d1 == d2 and u1 == u2
    assert c2 > c1


def test_other_benchmarks_get_no_detection_terms():
    r = training_time("resnet", get_chip("h100-sxm"), 8, 2048, 1281167 * 36)
    assert r["head_grad_s"] == 0.0 and r["optimizer_s"] > 0.0  # ResNet's LARS update (tests/test_weight_update.py)


def test_stable_diffusion_evaluation_is_outside_the_timed_region():
    # NVIDIA's implementation evaluates the timestamped checkpoints after training and logs run_stop at the
    # passing checkpoint's timestamp (other_benchmarks.yaml sd_train.evaluation_in_timed_region)
    assert fact("sd_train", "evaluation_in_timed_region") is False
    assert "train-stable-diffusion" not in workload_facts()
    r = training_time("stable-diffusion", get_chip("h100-sxm"), 64, 512, 2_048_000)
    assert r["n_evals"] == 0 and r["eval_min"] == 0.0
    assert abs(r["minutes"] - 2_048_000 / 512 * r["step_s"] / 60) < 1e-9


def test_cli_json_carries_the_retinanet_terms():
    code, out, _ = run_cli(["train", "--benchmark", "retinanet", "--chip", "h100-sxm", "-n", "8", "--json"])
    assert code == 0
    bd = json.loads(out)["breakdown"]
    assert bd["optimizer_s"] > 0 and bd["head_grad_s"] > 0
    code, out, _ = run_cli(["train", "--benchmark", "stable-diffusion", "--chip", "h100-sxm", "-n", "8", "--json"])
    assert code == 0 and json.loads(out)["breakdown"]["n_evals"] == 0


def test_head_passes_follow_the_graph_not_the_benchmark_name():
    # the trained RetinaNet graph carries its head outputs; any graph with them gets the passes, any without none
    p = calibrated_params(get_chip("h100-sxm"))
    g, _, _ = training_graphs("retinanet", 4)
    elems = head_output_elems(g)
    assert elems["cls"] == 4 * 120087 * 264 and elems["box"] == 4 * 120087 * 4  # A anchors x K classes / 4 deltas
    t = head_grad_s(g, p)
    assert t > 0
    # the same head on another graph (renamed, the same ops) prices the same; a graph without it prices nothing
    other = OpGraph("detector", list(g.ops), g.meta)
    assert head_grad_s(other, p) == t
    for bench in ("resnet", "stable-diffusion", "bert"):
        assert head_grad_s(training_graphs(bench, 4)[0], p) == 0.0
    # with the head's outputs removed the term vanishes: it is the head's ops, not the name, that carry it
    headless = OpGraph(g.name, [o for o in g.ops if not o.name.endswith((".cls.out", ".box.out"))], g.meta)
    assert head_grad_s(headless, p) == 0.0
