"""MLPerf BERT training rows (validation/other_rows.py, other_benchmarks.yaml bert_train /
train-bert): padding-free sequences at the benchmark's mean length, NVIDIA's distributed LAMB
weight update after the backward, and the rules' evaluation interval (issue 18)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, MatMul
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.ops import OpGraph
from tapeout.perf.train_backward import backward_time
from tapeout.perf.weight_update import bytes_per_param, weight_update_s
from tapeout.validation.other_rows import (fact, bert_train_shape, bert_gradient_sync_s,
                                           eval_interval, map_training, training_graphs, workload_facts)
from tapeout.workloads import speech

H, FFN, LAYERS, VOCAB = 1024, 4096, 24, 30522  # BERT-Large (Devlin et al. 2019)


def _layer_flops(g):
    lin = sum(o.flops * o.count for o in g.ops if isinstance(o, MatMul) and o.name.startswith("layer."))
    att = sum(o.flops * o.count for o in g.ops if isinstance(o, Attention))
    return lin, att


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 64), st.integers(16, 512))
def test_encoder_flops_hand_count(batch, seq):
    """Per token per layer: QKV 3h^2 + out h^2 + FFN 2 h ffn multiply-adds (24 h^2 at ffn = 4h);
    attention per sequence per layer: QK^T and PV, 2 x 2 L^2 h (no causal mask), plus the op's
    5 softmax FLOPs per score (16 heads x L^2 scores)."""
    lin, att = _layer_flops(speech.bert_graph(batch, seq, "bf16", head="pretrain"))
    assert lin == 2 * LAYERS * batch * seq * (4 * H * H + 2 * H * FFN)
    assert att == LAYERS * batch * (4 * seq * seq * H + 5 * 16 * seq * seq)


def test_packed_sample_costs_half_a_padded_one():
    """A padding-free sample costs its real tokens: the projections and MLP scale with the
    length (254/512), attention with its square; the MLM head with the real masked count."""
    seq, masked = bert_train_shape()
    lin_p, att_p = _layer_flops(speech.bert_graph(8, 512, "bf16", head="pretrain"))
    lin_u, att_u = _layer_flops(speech.bert_graph(8, seq, "bf16", head="pretrain", mlm_per_seq=masked))
    assert lin_u / lin_p == pytest.approx(seq / 512, rel=1e-12)
    assert att_u / att_p == pytest.approx((seq / 512) ** 2, rel=1e-12)  # per-sequence (varlen) attention
    assert 0.49 < lin_u / lin_p < 0.50  # Krell et al. 2021: padding is over 50% of the tokens at 512


def test_length_statistics_agree_with_the_packing_report():
    """NVIDIA's packing report gives the padded and the packed token counts of the same data set:
    the real tokens they imply agree, and 512 / mean length is the report's speed-up bound 2.012."""
    f = workload_facts()["bert_train"]
    n, pad, mean = f["n_sequences"]["value"], f["padding_tokens"]["value"], f["mean_tokens"]["value"]
    real_padded = n * 512 - pad
    packs = n / f["sequences_per_pack"]["value"]
    real_packed = packs * 512 - 2.67e8  # 'Added 2.67e+08 padding tokens' to 78,404,631 packs
    assert real_packed == pytest.approx(real_padded, rel=2e-3)
    assert real_padded / n == pytest.approx(mean, abs=0.05)
    assert 512 / mean == pytest.approx(2.012, abs=0.005)
    seq, masked = bert_train_shape()
    assert (seq, masked) == (254, 38)  # round(0.15 x 254) masked positions, under the 76 cap


@pytest.mark.parametrize("gbs, every", [(448, 150_000), (768, 150_000), (4608, 200_000), (13888, 300_000)])
def test_bert_evaluation_interval_rule(gbs, every):
    """floor(0.05 (230.23 B + 3,000,000), 25,000): 150,000 for the 448/352-sample configs and
    200,000 for NVIDIA's 4,608-sample config (EVAL_ITER_SAMPLES in their config files)."""
    assert eval_interval(workload_facts()["train-bert"], gbs) == every


def test_lamb_update_closed_form():
    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    dense = 2.0 * 335e6
    assert bert_gradient_sync_s(p, chip.family, 1, dense) == 0.0
    # DistributedFusedLAMB: compute_update_term (r g16, p, m, v; w m, v, u: 26 B) + update_weights (r u, p; w p, p16:
    # 14 B) + l2norms of u and p (8 B)
    spec = fact("weight_update", "bert")
    assert bytes_per_param(spec) == 48
    opt1, opt8 = weight_update_s(spec, 335e6, p, 1), weight_update_s(spec, 335e6, p, 8)
    bw = float(p.mem_bw) * float(p.eff_mem)
    assert opt1 >= 335e6 * 48 / float(p.mem_bw) and opt1 == pytest.approx(335e6 * 48 / bw, rel=0.05)
    assert opt8 < opt1 / 7  # LAMB on the rank's 1/n shard
    comm8 = bert_gradient_sync_s(p, chip.family, 8, dense)
    # one node: reduce-scatter + all-gather of the fp16 buffer, at least 2 (n-1)/n S over the NVLink
    assert comm8 >= 2 * 7 / 8 * dense / float(p.scaleup_bw)


def _bert_row(chip: str, n: int, gbs: int) -> dict:
    return {"category": "mlperf-train", "workload": "MLPerf Training v4.0 bert", "accelerator": chip,
            "n_accelerators": str(n), "precision": "per submission", "software": "PyTorch", "unit": "minutes",
            "scenario": "time-to-train (closed)", "model_config": "",
            "notes": f"global_batch_size={gbs}; median last-eval epoch_num=2.5e+06"}


def test_nvidia_step_exposes_the_weight_update(monkeypatch):
    """NVIDIA rows: step = forward + backward + reduction + LAMB, nothing hidden; the GEMMs at the board's
    sustained training clock (perf/train_clock: the MSMF floor and scale, H100 <- H200's pair). The 16-bit encoder
    (the Hopper FP8 encoder, validation/bert_fp8.py, has its own tests in test_bert_fp8_dropout.py)."""
    from tapeout.perf.train_clock import board_power, graph_time
    from tapeout.validation import bert_fp8

    monkeypatch.setattr(bert_fp8, "BERT_FP8_ENCODER", False)
    d = map_training(_bert_row("NVIDIA H100-SXM", 8, 768)).detail
    from tapeout.validation import bert_dropout

    g, once, _ = training_graphs("bert", 96)
    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    board = board_power(chip)
    t_fwd = graph_time(g, p, board)
    t_bwd = backward_time(g, p, board=board)  # BERT: every input needs a gradient (train_no_input_grad.bert empty)
    if bert_dropout.BERT_HIDDEN_DROPOUT:  # training's dropout + residual kernels (validation/bert_dropout.py)
        f, b = bert_dropout.dropout_graphs(g, 1024, 24)
        t_fwd, t_bwd = t_fwd + graph_time(f, p, board), t_bwd + graph_time(b, p, board)
    assert d["allreduce_s"] > 0 and d["optimizer_s"] > 0
    assert d["step_s"] == pytest.approx(t_fwd + t_bwd + d["allreduce_s"] + d["optimizer_s"], rel=1e-9)
    # evaluations: every 150,000 samples over 10,000, forward only
    assert d["n_evals"] == round(2.5e6 / 150_000)
    assert d["eval_min"] * 60 == pytest.approx(d["n_evals"] * math.ceil(10_000 / 768) * t_fwd, rel=1e-9)


def test_other_vendors_keep_the_overlapped_reduction():
    d = map_training(_bert_row("Intel Gaudi2", 8, 448)).detail
    g, once, dense = training_graphs("bert", 56)
    p = calibrated_params(get_chip("gaudi2"))
    # the LAMB update replicated on every rank (no DistributedFusedLAMB sharding)
    assert d["optimizer_s"] == pytest.approx(weight_update_s(fact("weight_update", "bert"), dense / 2, p, 1), rel=1e-12)
    # Habana's PyTorch BERT: the masked-LM head over every slot (validation/bert_mlm.py), the attention core op by
    # op over the packs' 512 slots (validation/bert_attention.py)
    from tapeout.validation import bert_attention as ba
    from tapeout.validation import bert_dropout
    from tapeout.validation.bert_mlm import all_slot_head

    packs, slots = ba.packed_core_shape(56, 512, fact("bert_train", "sequences_per_pack"))
    g = all_slot_head(g, packs, slots)
    fwd, rest, core_bwd = ba.unfused_attention_split(g, packs, slots)
    t_fwd = float(evaluate(fwd, p).total_time)
    # BERT: every input needs a gradient (train_no_input_grad.bert empty)
    t_bwd = backward_time(rest, p) + float(evaluate(core_bwd, p).total_time)
    if bert_dropout.BERT_HIDDEN_DROPOUT:  # training's dropout + residual kernels (validation/bert_dropout.py)
        f, b = bert_dropout.dropout_graphs(g, 1024, 24, measured_rng=False)  # Habana's TPC: a pure stream
        t_fwd, t_bwd = t_fwd + float(evaluate(f, p).total_time), t_bwd + float(evaluate(b, p).total_time)
    assert d["step_s"] == pytest.approx(t_fwd + t_bwd + max(0.0, d["allreduce_s"] - t_bwd) + d["optimizer_s"], rel=1e-9)


def test_mlm_positions_must_be_positive():
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match="mlm_per_seq"):
        speech.bert_graph(2, 128, "bf16", head="pretrain", mlm_per_seq=0)


def test_epoch_num_below_one_batch_is_not_a_sample_count():
    """Four v2.0 rows log epoch_num=1 (Baidu, Samsung loggers): not the samples the BERT logger
    counts, so the row's own convergence cannot be used; since round stop-42 such a row is priced on
    time-to-train at the benchmark definition's RCP for its batch (BS 448 has one), and says why."""
    row = _bert_row("NVIDIA A100-SXM-80GB", 8, 448)
    row["notes"] = "global_batch_size=448; median last-eval epoch_num=1"
    p = map_training(row)
    assert p.detail["measures"] == "time-to-train"
    assert "epoch_num=1 is below one global batch" in p.detail["own_convergence"]
    assert p.detail["convergence"]["global_batch"] == 448
    assert p.detail["samples_to_converge"] == p.detail["convergence"]["samples_to_converge"]
