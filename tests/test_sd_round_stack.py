"""Stable Diffusion's NVIDIA stack by round (issue 18, round stop-42 issue-63d; validation/sd_round.py,
other_benchmarks.yaml sd_train.round_stacks): v3.1 runs the frozen OpenCLIP text encoder every step (23 of 24 blocks,
`layer: penultimate`), apex FusedAdam with master weights on every rank (megatron_fused_adam, no distributed
optimizer) and NeMo's gradient all-reduce after the backward, exposed (main.py turns DDP's own hook off:
no_ddp_communication_hook=True); v4.0 and rows without a round keep the v4.0 recipe."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.perf.weight_update import bytes_per_param, weight_update_s
from tapeout.validation import sd_round
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.validation.other_training import data_parallel_sync_s, optimizer_s, training_time
from tapeout.workloads import diffusion
from tapeout.workloads.blocks import as_precision

CHIP = get_chip("h100-sxm")
P = calibrated_params(CHIP)
DENSE = training_graphs("stable-diffusion", 1)[2]  # bf16 bytes of the trained UNet
V31 = fact("sd_train", "round_stacks")["v3.1"]


def test_v31_settings_read_from_the_configs():
    st31 = sd_round.stack("v3.1", "NVIDIA")
    assert st31["text_encoder_layers"] == 23  # ViT-H-14's 24 text blocks, `penultimate`: the last one skipped
    assert st31["distributed_optimizer"] is False and st31["allreduce_overlapped"] is False
    # capturable FusedAdam with FP32 master weights: unscale r+w 2 + clip norm r 2 + Adam r 14 w 16 = 36 B
    assert bytes_per_param(st31["weight_update"]) == 36 and st31["weight_update"]["shard"] == "none"
    # the kernels of the same apex optimizer as weight_update.retinanet, plus the clip's norm read
    retina = fact("weight_update", "retinanet")
    assert [k for k in st31["weight_update"]["kernels"] if k["name"] != "grad_norm_clip"] == retina["kernels"]


def test_other_rounds_vendors_and_the_switch_keep_the_recipe(monkeypatch):
    assert sd_round.stack("v4.0", "NVIDIA") is None
    assert sd_round.stack(None, "NVIDIA") is None  # `tapeout train`: no round
    assert sd_round.stack("v3.1", "Intel") is None  # Habana's own stack
    assert sd_round.text_encoder_layers(None) is None
    monkeypatch.setattr(sd_round, "SD_ROUND_STACK", False)
    assert sd_round.stack("v3.1", "NVIDIA") is None


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([1, 2, 4, 32, 64]), st.integers(1, 24))
def test_text_encoder_once_graph_closed_form(batch, layers):
    _, once, dense = training_graphs("stable-diffusion", batch, text_encoder_layers=layers)
    ref = diffusion.clip_text_ops("text.openclip_h", batch, layers, 1024, 16, 4096, as_precision("bf16"))
    # the encoder's ops (the once graph also carries the UNet's adds outside its convs: test_sd_unet_kernels.py)
    text = [o for o in once.ops if o.name.startswith("text.")]
    assert sum(o.flops * o.count for o in text) == pytest.approx(sum(o.flops * o.count for o in ref), rel=1e-12)
    _, none, dense0 = training_graphs("stable-diffusion", batch, text_encoder_layers=0)
    assert not any(o.name.startswith("text.") for o in none.ops) and dense == dense0  # frozen: no trained weight added


def test_penultimate_drops_one_block_of_the_full_encoder():
    f = {k: sum(o.flops * o.count for o in training_graphs("stable-diffusion", 8, text_encoder_layers=k)[1].ops
                if o.name.startswith("text.")) for k in (1, 2, 23, 24)}
    assert f[24] - f[23] == pytest.approx(f[2] - f[1], rel=1e-9) and f[23] == pytest.approx(f[24] * 23 / 24, rel=1e-9)  # one identical block less


def test_v31_update_is_replicated_on_every_rank():
    spec = V31["weight_update"]
    one = optimizer_s("stable-diffusion", CHIP, P, 8, DENSE, spec)
    assert one == optimizer_s("stable-diffusion", CHIP, P, 1024, DENSE, spec)
    assert one == pytest.approx(weight_update_s(spec, DENSE / 2.0, P))
    # >= the bytes at peak DRAM bandwidth; 8x the v4.0 node-sharded update's parameters
    assert one >= 36 * DENSE / 2.0 / float(P.mem_bw) * 0.999
    assert one > optimizer_s("stable-diffusion", CHIP, P, 8, DENSE)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([2, 8, 64, 512, 1024]), st.floats(0.0, 0.5))
def test_v31_all_reduce_after_the_backward_is_exposed(n, t_bwd):
    # DDP's hook is a no-op (main.py no_ddp_communication_hook=True); NeMo all-reduces after the backward
    total, exposed = data_parallel_sync_s("stable-diffusion", P, CHIP.family, n, DENSE, 0.01, t_bwd, V31)
    ar = float(collective_time("all_reduce", DENSE, n, topology_for(P, CHIP.family))[0])
    assert total == pytest.approx(ar, rel=1e-12) and exposed == total  # no backward hides it


def test_v31_row_step_and_v40_unchanged():
    r31 = training_time("stable-diffusion", CHIP, 1024, 2048, None, mlperf_round="v3.1")
    r40 = training_time("stable-diffusion", CHIP, 1024, 2048, None, mlperf_round="v4.0")
    r00 = training_time("stable-diffusion", CHIP, 1024, 2048, None)
    # v4.0's once work: the UNet's adds outside its convs only (test_sd_unet_kernels.py); v3.1 adds the encoder
    assert r40["step_s"] == r00["step_s"] and "sd_stack" not in r40 and r40["once_s"] == r00["once_s"]
    assert r31["sd_stack"]["text_encoder_layers"] == 23 and r31["once_s"] > r40["once_s"]
    assert r31["fwd_s"] == r40["fwd_s"] and r31["bwd_s"] == r40["bwd_s"]  # the UNet itself is the same
    _, exposed = data_parallel_sync_s("stable-diffusion", P, CHIP.family, 1024, DENSE, r31["fwd_s"], r31["bwd_s"], V31)
    assert r31["step_s"] == pytest.approx(r31["fwd_s"] + r31["bwd_s"] + r31["once_s"] + exposed + r31["optimizer_s"],
                                          rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 16, 32]))
def test_text_encoder_time_grows_with_the_batch(b):
    t = [training_time("stable-diffusion", CHIP, 8, 8 * k, None, mlperf_round="v3.1")["once_s"] for k in (b, 2 * b)]
    assert 0.0 < t[0] <= t[1]
