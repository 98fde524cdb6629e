"""Training step of the non-LLM MLPerf training rows (validation/other_rows.py): batch-norm
passes that inference folds away, frozen encoders run forward only, and the time-to-train vs
throughput label (issue 18)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from tapeout.validation.other_rows import fact, bn_training_ops, training_graphs
from tapeout.validation.train_rows import measures
from tapeout.workloads import vision
from tapeout.workloads.blocks import ConvMatMul, as_precision


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 64))
def test_bn_traffic_is_eight_accesses_per_conv_output(batch):
    g = vision.resnet50_graph(batch, 224, "bf16")
    ops = bn_training_ops(g, as_precision("bf16"))
    outs = sum(o.m * o.n * o.groups * o.count for o in g.ops if isinstance(o, ConvMatMul))
    # forward: 2 reads + 1 write; backward: 4 reads + 1 write, of each conv output element
    assert sum(o.elems * (o.reads + o.writes) * o.count for o in ops) == 8 * outs


def test_resnet50_conv_outputs_hand_count():
    # stem 112x112x64; stage outputs per block: see torchvision ResNet-50 (hand count of one image)
    g = vision.resnet50_graph(1, 224, "bf16")
    outs = sum(o.m * o.n * o.groups * o.count for o in g.ops if isinstance(o, ConvMatMul))
    stem = 112 * 112 * 64
    s1 = 56 * 56 * (64 + 64 + 256) * 3 + 56 * 56 * 256  # 3 blocks + downsample
    s2 = 56 * 56 * 128 + 28 * 28 * (128 + 512) + 28 * 28 * 512 + 3 * 28 * 28 * (128 + 128 + 512)
    s3 = 28 * 28 * 256 + 14 * 14 * (256 + 1024) + 14 * 14 * 1024 + 5 * 14 * 14 * (256 + 256 + 1024)
    s4 = 14 * 14 * 512 + 7 * 7 * (512 + 2048) + 7 * 7 * 2048 + 2 * 7 * 7 * (512 + 512 + 2048)
    assert outs == stem + s1 + s2 + s3 + s4


def test_stable_diffusion_trains_only_the_unet():
    g, once, _ = training_graphs("stable-diffusion", 4)
    assert not any(o.name.startswith(("vae.", "text.")) for o in g.ops)  # UNet only is trained (3x)
    # precomputed latent moments (reference) and caption embeddings (NVIDIA v4.0 custom.yaml): neither the VAE
    # nor the frozen text encoder runs per step
    assert fact("sd_train", "text_encoder_per_step") is False
    # the once graph holds only the UNet's adds outside its convs (validation/conv_unfused_passes.py UNET set)
    assert not any(o.name.startswith(("vae.", "text.")) for o in once.ops)
    assert all(o.name.startswith("unet.") and o.kind == "elementwise" for o in once.ops)


def test_resnet_step_carries_bn_once():
    g, once, _ = training_graphs("resnet", 8)
    # no chip: the one implementation on file (NVIDIA's), whose block-ending BN-add-ReLU forward is its own op
    # (validation/conv_unfused_passes.py, tests/test_resnet_bn_add_relu.py)
    assert [o.name for o in once.ops][:2] == ["bn_train.fwd", "bn_train.bwd"]
    assert all(o.name.endswith(".bn_add_relu_nhwc") for o in once.ops[2:]) and len(once.ops) == 10
    g2, once2, _ = training_graphs("bert", 8)
    assert not once2.ops


def test_measures_label():
    assert measures(True) == "throughput"
    assert measures(False) == "time-to-train"


def _llama31_row(notes: str) -> dict:
    return {"id": "T", "category": "mlperf-train", "workload": "MLPerf Training v5.1 llama31_8b", "scenario": "time-to-train",
            "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "precision": "bf16", "unit": "minutes", "value": "100",
            "notes": notes, "software": "NeMo"}


def test_llama31_8b_pretraining_row_is_predicted_with_the_rows_convergence_point():
    from tapeout.validation.train_rows import map_row

    a = map_row(_llama31_row("global_batch_size=32; samples_count=100000"))
    b = map_row(_llama31_row("global_batch_size=32; samples_count=200000"))
    assert a.detail["measures"] == "throughput"
    # twice the sequences to converge: twice the training time (evaluations every 46,080 sequences also double)
    assert 1.9 < b.predicted / a.predicted < 2.1


def test_llama31_row_without_convergence_point_runs_at_the_benchmark_definition():
    """No samples_count in the row: the benchmark's RCP at its batch (a time-to-train prediction); above the
    largest RCP (128) benchmarks.yaml's tokens_to_train, the fallback `train --benchmark` uses too."""
    import pytest

    from tapeout.validation.train_rows import map_row

    p = map_row(_llama31_row("global_batch_size=32"))
    assert p.detail["measures"] == "time-to-train" and p.detail["time_to_train"] is None
    assert p.detail["samples_to_converge"] == pytest.approx((8 * 172032 + 10 * 184320) / 18)  # olympic mean by hand
    q = map_row(_llama31_row("global_batch_size=256"))
    assert q.detail["samples_to_converge"] == pytest.approx(1465210197 / 8192)


def test_dlrm_time_to_train_adds_twenty_evaluations_per_epoch():
    """DLRM-DCNv2 evaluates 20 times per epoch over 89,137,319 validation pairs inside the timed
    region (reference README); a run converging at epoch 0.75 ran 15 forward-only passes."""
    import math

    from tapeout.validation.other_rows import map_training

    row = {"category": "mlperf-train", "workload": "MLPerf Training v3.0 dlrm_dcnv2", "accelerator": "NVIDIA H100-SXM",
           "n_accelerators": "8", "precision": "per submission", "software": "HugeCTR",
           "scenario": "time-to-train (closed)", "model_config": "", "unit": "minutes",
           "notes": "global_batch_size=55296; median last-eval epoch_num=0.749898"}
    p = map_training(row)
    d = p.detail
    assert d["n_evals"] == 15
    steps = d["samples_to_converge"] / 55296
    t_fwd = d["eval_min"] * 60 / (15 * math.ceil(89137319 / 55296))
    assert 0 < t_fwd < d["step_s"] / 2  # a forward-only batch is cheaper than a training step
    assert math.isclose(p.predicted * 60, steps * d["step_s"] + d["eval_min"] * 60, rel_tol=1e-9)


def test_resnet_evaluates_every_four_epochs_over_the_validation_set():
    from tapeout.validation.other_rows import map_training

    row = {"category": "mlperf-train", "workload": "MLPerf Training v3.1 resnet", "accelerator": "NVIDIA A100-SXM-80GB",
           "n_accelerators": "8", "precision": "per submission", "software": "MXNet", "scenario": "time-to-train (closed)",
           "model_config": "", "unit": "minutes", "notes": "global_batch_size=3264; median last-eval epoch_num=36"}
    d = map_training(row).detail
    assert d["n_evals"] == 9  # 36 epochs / 4
    assert 0 < d["eval_min"] * 60 < 0.02 * d["samples_to_converge"] / 3264 * d["step_s"]  # well under 2% of training
