"""NVIDIA's FP8 BERT encoder (validation/bert_fp8.py) and BERT training's hidden dropout (validation/bert_dropout.py):
closed forms of the FLOPs and bytes they price, the stack rule, and invariants over the batch."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import Attention, Elementwise, MatMul
from tapeout.validation import bert_dropout, bert_fp8
from tapeout.validation.other_rows import fact, map_training, training_graphs
from tapeout.workloads.speech import BertConfig

H, FFN, LAYERS = 1024, 4096, 24
ENCODER_PARAMS = LAYERS * (3 * H * H + H * H + 2 * H * FFN)  # QKV, projection, FC1, FC2 (BERT-Large: 302 M)


def _tokens(g) -> int:
    return g.meta["batch"] * g.meta["seq_len"]


def _bytes(ops) -> float:  # Elementwise reads / writes are in units of its 2-byte dtype
    return sum(o.elems * (o.reads + o.writes) * 2.0 * o.count for o in ops)


def _flops(g) -> float:
    return sum(2.0 * o.m * o.n * o.k * o.count for o in g.ops if isinstance(o, MatMul))


def test_encoder_params_closed_form():
    g, _, _ = training_graphs("bert", 8)
    assert bert_fp8.encoder_weight_params(g) == ENCODER_PARAMS == 301_989_888


def test_only_the_encoder_runs_in_fp8():
    """te_layers: QKV, projection, FC1, FC2 and the fused attention in FP8; the MLM head and pooler outside
    fp8_autocast stay 16-bit; the GEMM FLOPs are the same work."""
    g, _, _ = training_graphs("bert", 8)
    g8, _, _ = bert_fp8.fp8_encoder(g)
    for o in g8.ops:
        if isinstance(o, MatMul):
            assert (o.math_dtype == "fp8") == (o.name in bert_fp8.ENCODER_GEMMS), o.name
        if isinstance(o, Attention):
            assert o.math_dtype == "fp8"
    assert {o.name for o in g8.ops if isinstance(o, MatMul) and o.math_dtype != "fp8"} == \
        {"mlm_transform", "mlm_decoder", "pooler_nsp"}
    assert _flops(g8) == _flops(g)


def test_cast_bytes_closed_form():
    """Per layer, forward: cast-transpose of the QKV and FC1 inputs (read 2 B, write 2 x 1 B on T x h), the
    projection input's FP8 transpose (1 B + 1 B on T x h), the weights' cast once (4 B per parameter);
    backward: cast-transpose of the projection's, FC2's and FC1's output gradients (4 B on T x h, T x h,
    T x ffn), FP8 transposes of FC2's input (T x ffn) and of dQKV (T x 3h), 2 B each."""
    g, _, _ = training_graphs("bert", 16)
    T = _tokens(g)
    _, qf, qb = bert_fp8.fp8_encoder(g)
    fwd = LAYERS * T * H * (4 + 4 + 2) + 4 * ENCODER_PARAMS
    bwd = LAYERS * T * (4 * H + 4 * H + 4 * FFN + 2 * FFN + 2 * 3 * H)
    assert _bytes(qf.ops) == pytest.approx(fwd, rel=1e-12)
    assert _bytes(qb.ops) == pytest.approx(bwd, rel=1e-12)
    assert sum(o.name.endswith("_transpose") for o in (*qf.ops, *qb.ops)) == len(bert_fp8.PRODUCER_FP8)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=256))
def test_fp8_invariants_over_the_batch(b):
    """Same GEMM work as 16-bit at every batch; activation casts linear in the tokens, the weight cast not."""
    g1, _, _ = training_graphs("bert", b)
    g2, _, _ = training_graphs("bert", 2 * b)
    (a1, f1, b1), (a2, f2, b2) = bert_fp8.fp8_encoder(g1), bert_fp8.fp8_encoder(g2)
    assert _flops(a1) == _flops(g1)
    w = 4 * ENCODER_PARAMS
    assert _bytes(f2.ops) - w == pytest.approx(2 * (_bytes(f1.ops) - w), rel=1e-12)
    assert _bytes(b2.ops) == pytest.approx(2 * _bytes(b1.ops), rel=1e-12)


def test_fp8_stack_rule_is_nvidia_hopper_only():
    stacks = fact("bert_train", "fp8_encoder_stacks")
    assert bert_fp8.runs_fp8("NVIDIA", "nvidia-hopper", stacks)
    assert not bert_fp8.runs_fp8("NVIDIA", "nvidia-ada", stacks)  # xFusion's L4 / L40 / L40S: no --use_transformer_engine2
    assert not bert_fp8.runs_fp8("NVIDIA", "nvidia-ampere", stacks)
    assert not bert_fp8.runs_fp8("Intel", "nvidia-hopper", stacks)


def _row(chip, n, gbs):
    return {"category": "mlperf-train", "workload": "MLPerf Training v4.0 bert", "accelerator": chip,
            "n_accelerators": str(n), "precision": "per submission", "software": "PyTorch", "unit": "minutes",
            "scenario": "time-to-train (closed)", "model_config": "",
            "notes": f"global_batch_size={gbs}; median last-eval epoch_num=2.5e+06"}


def test_fp8_switch_moves_hopper_rows_only(monkeypatch):
    monkeypatch.setattr(bert_fp8, "BERT_FP8_ENCODER", False)
    h_off = map_training(_row("NVIDIA H100-SXM", 8, 768)).detail
    a_off = map_training(_row("NVIDIA A100-SXM-80GB", 8, 448)).detail
    monkeypatch.setattr(bert_fp8, "BERT_FP8_ENCODER", True)
    h_on = map_training(_row("NVIDIA H100-SXM", 8, 768)).detail
    a_on = map_training(_row("NVIDIA A100-SXM-80GB", 8, 448)).detail
    assert h_on["bert_graph"]["encoder"].startswith("FP8") and h_off["bert_graph"]["encoder"].startswith("16-bit")
    assert "not priced" in h_off["bert_graph"]["encoder"]  # the stack ran FP8: shown even when the switch is off
    assert a_on["bert_graph"]["encoder"].startswith("16-bit") and "not priced" not in a_on["bert_graph"]["encoder"]
    assert h_on["step_s"] < h_off["step_s"]
    assert a_on["step_s"] == a_off["step_s"]
    assert h_on["allreduce_s"] == h_off["allreduce_s"]  # the FP16 gradients and LAMB are unchanged


def test_dropout_bytes_closed_form():
    """Two dropout + residual kernels per layer, perf/residual_ops' rule (one rule for the one kernel): forward read x
    and the residual, write the sum (2 B each) and the 1-byte mask, 7 B per element of T x h; backward the join add
    (read 2 x 2 B, write 2 B) and the masked gradient (read the gradient and the mask, write 2 B), 11 B; the forward
    at the measured Philox share (a CUDA stack), a pure stream otherwise (bert_attention's rule)."""
    from tapeout.perf import unfused_attention
    from tapeout.perf.memory_kernels import philox_share

    g, _, _ = training_graphs("bert", 56)
    f, b = bert_dropout.dropout_graphs(g, H, LAYERS)
    assert all(o.count == 2 * LAYERS for o in (*f.ops, *b.ops))
    assert _bytes(f.ops) == pytest.approx(2 * LAYERS * _tokens(g) * H * 7, rel=1e-12)
    assert _bytes(b.ops) == pytest.approx(2 * LAYERS * _tokens(g) * H * 11, rel=1e-12)
    share = philox_share(7.0) if unfused_attention.DROPOUT_RNG else 1.0
    assert [o.stream_share for o in f.ops] == [pytest.approx(share)] and all(o.stream_share == 1.0 for o in b.ops)
    f_tpc, b_tpc = bert_dropout.dropout_graphs(g, H, LAYERS, measured_rng=False)
    assert all(o.stream_share == 1.0 for o in f_tpc.ops) and b_tpc.ops == b.ops
    cfg = BertConfig()
    assert (cfg.hidden, cfg.layers) == (H, LAYERS)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=256))
def test_dropout_bytes_linear_in_tokens(b):
    g, _, _ = training_graphs("bert", b)
    g2, _, _ = training_graphs("bert", 2 * b)
    for one, two in zip(bert_dropout.dropout_graphs(g, H, LAYERS), bert_dropout.dropout_graphs(g2, H, LAYERS)):
        assert [o.elems * 2 for o in one.ops] == [o.elems for o in two.ops]


@pytest.mark.parametrize("chip,accelerator,n,gbs", [("h100-sxm", "NVIDIA H100-SXM", 8, 768),
                                                    ("gaudi2", "Intel Gaudi2", 8, 448)])
def test_the_step_prices_the_dropout_kernels_once_with_their_own_backward(monkeypatch, chip, accelerator, n, gbs):
    """The step's dropout cost is the forward kernel + residual_ops' backward kernels, not 2x the forward again
    (the rule before issue-54d priced the backward as 2x a pure-stream forward: 14 B per element); Habana's stack
    (op by op, TPC kernels) draws at the streaming rate."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.train_clock import board_power, graph_time

    if not bert_dropout.BERT_HIDDEN_DROPOUT:
        pytest.skip("hidden dropout off")
    on = map_training(_row(accelerator, n, gbs)).detail
    monkeypatch.setattr(bert_dropout, "BERT_HIDDEN_DROPOUT", False)
    off = map_training(_row(accelerator, n, gbs)).detail
    c = get_chip(chip)
    p, board = calibrated_params(c), board_power(c)
    g, _, _ = training_graphs("bert", on["per_chip_batch"], c, n)
    f, b = bert_dropout.dropout_graphs(g, H, LAYERS, measured_rng=accelerator.startswith("NVIDIA"))
    assert on["fwd_s"] - off["fwd_s"] == pytest.approx(graph_time(f, p, board), rel=1e-6)
    assert on["bwd_s"] - off["bwd_s"] == pytest.approx(graph_time(b, p, board), rel=1e-6)
