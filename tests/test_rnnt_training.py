"""MLPerf Training rnnt (issue 18, round stop-39 issue-47b): the RNN-T graph from its definition
(workloads/rnnt.py, baseline_v3-1023sp.yaml), the step and the evaluation (validation/rnnt_train.py), the rows'
mapping (validation/other_rows.py) and `tapeout train --benchmark rnnt`."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _cli import refusal
from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.ops import MatMul
from tapeout.validation import rnnt_train
from tapeout.validation.other_rows import map_training, samples_to_converge
from tapeout.validation.other_training import training_time
from tapeout.hardware.catalog import get_chip
from tapeout.workloads.blocks import as_precision
from tapeout.workloads.rnnt import (RNNT, encoder_frames, lstm_layer_flops, lstm_ops, rnnt_greedy_decode_graph,
                                    rnnt_train_graph)

BF16 = as_precision("bf16")


@pytest.mark.parametrize("n_in,h", [(240, 1024), (1024, 1024), (2048, 1024), (512, 512)])
def test_one_lstm_layer_step_is_eight_h_times_in_plus_h_flops(n_in, h):
    """The two GEMMs of one layer over one frame of one sequence: 8 h (n_in + h) FLOPs; over B x T the same x B x T."""
    assert lstm_layer_flops(n_in, h) == 8 * h * (n_in + h)
    B, T = 7, 13
    ops = [o for o in lstm_ops("l", B, T, n_in, h, 1, BF16) if isinstance(o, MatMul)]
    assert sum(o.flops * o.count for o in ops) == 8 * h * (n_in + h) * B * T


def test_lstm_backward_gemms_are_twice_the_forward():
    """perf/train_backward.py: a linear layer's dgrad + wgrad are 2x its forward (4x the layer's FLOPs in all with
    the input projection's data gradient; 8 h (n_in + h) x 2 per token for the backward GEMMs)."""
    from tapeout.perf.train_backward import gradient_gemms

    ops = [o for o in lstm_ops("l", 4, 5, 240, 1024, 1, BF16) if isinstance(o, MatMul)]
    fwd = sum(o.flops * o.count for o in ops)
    bwd = sum(g.flops * o.count for o in ops for g in gradient_gemms(o))
    assert bwd == 2 * fwd == 2 * 8 * 1024 * (240 + 1024) * 4 * 5


def test_encoder_frames_after_splicing_and_time_stacking():
    """10 ms hop (1 + floor(samples / 160) STFT frames), stack 3 / keep every 3rd, then the encoder's x2 stacking."""
    assert encoder_frames(1.0) == (34, 17)  # 101 frames -> ceil(101/3) = 34 -> 17
    assert encoder_frames(16.7) == (557, 279)  # 1671 frames -> 557 -> ceil(557/2) = 279
    t1, t2 = encoder_frames(12.3)
    assert (t1, t2) == (math.ceil(1231 / 3), math.ceil(math.ceil(1231 / 3) / 2))
    assert RNNT.in_feats == 240  # the config's in_feats: 80 mel x 3


def test_joint_tensor_is_packed_over_real_pairs():
    """apex transducer joint (pack): B x T2 x (U + 1) rows into the vocabulary GEMM (1023 pieces + blank), however
    long the padded recurrence."""
    B, d, u = 6, 10.0, 30.0
    for rec in (None, 16.0):
        g = rnnt_train_graph(B, d, u, recurrent_duration_s=rec)
        out = next(o for o in g.ops if o.name == "joint.out")
        t2 = encoder_frames(d)[1]
        assert out.m == B * t2 * (u + 1) and out.n == 1024 and out.k == 512
        loss = next(o for o in g.ops if o.name == "loss.transducer")
        assert loss.elems == B * t2 * (u + 1) * 1024


def test_padding_lengthens_only_the_recurrent_chains():
    g0 = rnnt_train_graph(8, 10.0, 40.0)
    g1 = rnnt_train_graph(8, 10.0, 40.0, recurrent_duration_s=16.0)
    by0, by1 = {o.name: o for o in g0.ops}, {o.name: o for o in g1.ops}
    assert by1["enc.pre.l0.h"].count == encoder_frames(16.0)[0] > by0["enc.pre.l0.h"].count
    assert by1["enc.pre.l0.x"].m == by0["enc.pre.l0.x"].m  # the input projection: real frames
    with pytest.raises(TapeoutError, match="recurrent_duration_s"):
        rnnt_train_graph(8, 10.0, 40.0, recurrent_duration_s=5.0)


def test_weights_are_the_reference_models_size():
    """Distinct weights counted once (a recurrent weight is reused every step): encoder 2 + 3 LSTMs of 1024, the
    prediction LSTMs of 512 with the embedding, joint 1024->512, 512->512, 512->1024: 4 h (n_in + h) per layer."""
    g = rnnt_train_graph(2, 5.0, 10.0)
    lstm = (4 * 1024 * (240 + 1024) + 4 * 1024 * 2048 + 4 * 1024 * (2048 + 1024) + 2 * 4 * 1024 * 2048
            + 2 * 4 * 512 * 1024)
    other = 512 * 1024 + 512 * 512 + 1024 * 512 + 1024 * 512
    assert g.meta["weight_bytes"] == 2 * (lstm + other)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "x"])
def test_bad_durations_and_tokens_are_refused_by_name(bad):
    with pytest.raises(TapeoutError, match="duration_s"):
        rnnt_train_graph(4, bad, 10.0)
    with pytest.raises(TapeoutError, match="tokens"):
        rnnt_greedy_decode_graph(4, 5.0, bad)


def test_epoch_num_converts_to_utterances():
    assert samples_to_converge("rnnt", "global_batch_size=1536; median last-eval epoch_num=49") == 49 * 281241


def test_speed_stretch_is_the_mean_inverse_rate():
    assert rnnt_train.speed_stretch() == pytest.approx(math.log(1.15 / 0.85) / 0.30)


def _row(chips: int, gb: int, epochs: float, acc: str = "NVIDIA H100-SXM5-80GB") -> dict:
    return {"id": "T", "category": "mlperf-train", "workload": "MLPerf Training v3.0 rnnt", "accelerator": acc,
            "n_accelerators": str(chips), "notes": f"global_batch_size={gb}; median last-eval epoch_num={epochs}"}


def test_a_row_maps_and_adds_one_evaluation_per_epoch():
    row = map_training(_row(8, 1536, 48))
    assert row.unit == "minutes" and row.benchmark == "train-rnnt"
    d = row.detail
    assert d["per_chip_batch"] == 192 and d["n_evals"] == 48
    steps = 48 * 281241 / 1536
    assert row.predicted == pytest.approx((steps * d["step_s"]) / 60 + d["eval_min"])
    # an evaluation: the 2,703 dev-clean utterances in one batch per chip (NVIDIA EVAL_BATCHSIZE 338 on 8 GPUs)
    assert rnnt_train.eval_batch(8) == 338 and rnnt_train.eval_batch(128) == 22


def test_api_matches_the_row_and_takes_the_v11_rcp():
    row = map_training(_row(8, 1536, 48))
    r = api.train_benchmark("rnnt", "h100-sxm", 8, global_batch=1536, samples_to_converge=48 * 281241)
    assert r.time_to_train_min == row.predicted and r.step_time_s == row.detail["step_s"]
    d = api.train_benchmark("rnnt", "h100-sxm", 8)
    assert d.global_batch in (1024, 2048, 3072) and d.samples_to_converge > 0
    assert "0.058" in d.quality_target["value"]


def test_cli_refuses_a_batch_below_the_chips():
    out = refusal(["train", "--benchmark", "rnnt", "--chip", "h100-sxm", "--num-chips", "16", "--global-batch", "8"])
    assert "--global-batch" in out


@settings(max_examples=12, deadline=None)
@given(d=st.floats(2.0, 30.0), extra=st.floats(0.1, 10.0))
def test_longer_utterances_take_a_longer_step(d, extra):
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.train_clock import graph_time

    p = calibrated_params(get_chip("h100-sxm"))
    t = [graph_time(rnnt_train_graph(16, x, 4.0 * x), p) for x in (d, d + extra)]
    assert t[1] > t[0]


@settings(max_examples=8, deadline=None)
@given(per_chip=st.sampled_from([8, 32, 96, 192]), k=st.sampled_from([2, 4, 16]))
def test_more_chips_at_the_same_per_chip_batch_are_not_slower_per_step_beyond_the_allreduce(per_chip, k):
    chip = get_chip("h100-sxm")
    a = training_time("rnnt", chip, 8, 8 * per_chip, None)
    b = training_time("rnnt", chip, 8 * k, 8 * k * per_chip, None)
    assert b["step_s"] - b["allreduce_s"] - b["optimizer_s"] <= a["step_s"] + 1e-12
    assert b["samples_per_s"] > a["samples_per_s"]
