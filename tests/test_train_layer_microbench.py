"""One transformer layer against published per-layer timings (Korthikanti et al. 2022 Table 4), and the
unfused attention core of Megatron-LM 2022 that those timings ran (perf/unfused_attention.py)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.ops import Elementwise, MatMul
from tapeout.perf.layer_check import layer_times, published_layers
from tapeout.perf.train_attention import library_ratio
from tapeout.perf.unfused_attention import core_attention_ops
from tapeout.perf.training import train


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 8), h=st.integers(1, 32), s=st.sampled_from([128, 512, 2048, 4096]),
       d=st.sampled_from([64, 96, 128]))
def test_core_attention_closed_forms(b, h, s, d):
    fwd, bwd = core_attention_ops("a", 1, b, s, h, d)
    E = b * h * s * s
    # forward: QK^T and PV over every score, causal or not (Korthikanti App. A: 2 B s^2 h each)
    assert sum(op.flops for op in fwd if isinstance(op, MatMul)) == pytest.approx(4.0 * E * d)
    assert sum(op.flops for op in bwd if isinstance(op, MatMul)) == pytest.approx(8.0 * E * d)  # 2 gradients each
    # score tensors through DRAM: softmax out (2 B), dropout mask (1 B) and output (2 B) = Korthikanti's 5 a s^2 b
    assert all(op.elems == E for op in fwd + bwd if isinstance(op, Elementwise) and "copy" not in op.name)
    scores = [op for op in fwd if isinstance(op, Elementwise) and "copy" not in op.name]
    assert sum(op.output_bytes for op in scores) == pytest.approx(5.0 * E)
    # backward reads both softmax output and gradient, the mask, and writes two gradients
    sb = [op for op in bwd if isinstance(op, Elementwise) and "copy" not in op.name]
    assert sum(op.input_bytes for op in sb) == pytest.approx((2 + 1 + 2 + 2) * E)


def test_no_dropout_drops_the_kernel_and_its_mask():
    f1, b1 = core_attention_ops("a", 1, 1, 1024, 8, 128)
    f0, b0 = core_attention_ops("a", 1, 1, 1024, 8, 128, dropout=False)
    assert len(f1) - len(f0) == 1 and len(b1) - len(b0) == 1


def test_unfused_is_not_a_library_rate_and_has_no_fp8():
    assert library_ratio("a100-sxm", "unfused") == (1.0, 1.0)
    with pytest.raises(TapeoutError, match="unfused"):
        library_ratio("a100-sxm", "not-a-library")
    with pytest.raises(TapeoutError, match="no FP8 attention"):
        train("gpt3-175b", "h100-sxm", 64, 64 * 2048, 2048, "fp8", tp=8, pp=8, fp8_attention=True,
              attention_kernel="unfused")


ROWS = {r["id"]: r for r in published_layers()}
MODEL = {k: layer_times(r) for k, r in ROWS.items()}


@pytest.mark.parametrize("rid", sorted(ROWS))
def test_layer_within_25_percent_of_korthikanti_table4(rid):
    """Stated error: 25%. The model is below every row (-10% to -19% with the TP channels' SM share of round
    stop-34; -10% to -22% before, docs/notes/issue-18.md round stop-31): the remaining gap is named there, not fitted."""
    r, (f, b) = ROWS[rid], MODEL[rid]
    assert f * 1e3 == pytest.approx(float(r["forward_ms"]), rel=0.25)
    assert b * 1e3 == pytest.approx(float(r["backward_ms"]), rel=0.25)


def test_recompute_overheads_against_table4():
    """The backward's extra time from recompute, measured (Table 4) vs modelled: full reruns the whole
    forward (7.6 ms measured), selective the unfused attention core (1.3 ms measured: QK^T, softmax,
    dropout, attention over V). Within 30%."""
    meas = lambda k: float(ROWS[k]["backward_ms"])  # noqa: E731
    full, sel = MODEL["LT-0003"][1] - MODEL["LT-0001"][1], MODEL["LT-0004"][1] - MODEL["LT-0001"][1]
    assert full * 1e3 == pytest.approx(meas("LT-0003") - meas("LT-0001"), rel=0.30)
    assert sel * 1e3 == pytest.approx(meas("LT-0004") - meas("LT-0001"), rel=0.30)
    # a fused core stores nothing of the scores: its selective recompute costs far less (Dao et al. 2022)
    fused = dict(ROWS["LT-0004"], attention_kernel="cudnn")
    base = dict(ROWS["LT-0001"], attention_kernel="cudnn")
    assert layer_times(fused)[1] - layer_times(base)[1] < 0.5 * sel


def test_unfused_core_slower_than_fused_on_the_same_layer():
    unf = layer_times(ROWS["LT-0001"])
    fused = layer_times(dict(ROWS["LT-0001"], attention_kernel="cudnn"))
    assert unf[0] > fused[0] and unf[1] > fused[1]


def test_unfused_core_keeps_its_scores_without_recompute():
    """Korthikanti et al. 2022 Eq. 1-2: the unfused core stores 5 a s^2 b bytes per layer (split over TP) that a
    fused kernel never writes; with selective or full recompute neither stores them."""
    from tapeout.perf.train_layout import TrainLayout
    from tapeout.perf.train_memory import device_memory
    from tapeout.perf.layer_check import layer_model
    cfg = layer_model(ROWS["LT-0001"])
    s, b, tp = 2048, 4, 8
    for rc, extra in (("none", 5.0 * cfg.num_attention_heads * s * s * b / tp), ("selective", 0.0), ("full", 0.0)):
        lay = TrainLayout(tp=tp, pp=1, dp=1, mbs=b, recompute=rc)
        unf = device_memory(cfg, lay, [cfg.num_hidden_layers], 1, s, fused_attention=False)
        fused = device_memory(cfg, lay, [cfg.num_hidden_layers], 1, s)
        assert unf["act"] - fused["act"] == pytest.approx(extra * cfg.num_hidden_layers)


def _lt1(**stack):
    """LT-0001's setup through the training engine (as layer_check.layer_times), with the given stack settings."""
    import dataclasses

    import numpy as np

    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.layer_check import layer_model
    r = ROWS["LT-0001"]
    p = calibrated_params(get_chip(r["chip"]))
    p = dataclasses.replace(p, mem_capacity=np.asarray(p.mem_capacity, dtype=float) * 1e3)
    res = train(layer_model(r), r["chip"], 8, 4 * 2048, 2048, "bf16", params=p, tp=8, pp=1, cp=1, mbs=4, zero=1,
                recompute="none", sequence_parallel=False, attention_kernel="unfused", **stack)
    return res, float(np.max(p.num_cores))


def test_tp_channels_take_their_share_of_the_hidden_backward_all_reduces():
    """Closed form (perf/tp_backward.py, comm_contention: exposed = max(c - g, f c)): without sequence
    parallelism each block's dgrad all-reduce (the forward's, c per block) hides behind its column GEMM's
    wgrad (c < g on this layer), so n CTAs on S SMs add exactly (n / S) x c per block to the backward: the
    two blocks' c is the forward's exposed TP time per layer."""
    r0, cores = _lt1(tp_comm_ctas=0)
    r24, _ = _lt1(tp_comm_ctas=24)
    b = r0.breakdown
    c_layer = b["exposed_comm_s"]["tp_allreduce"] / (48 * b["m"])  # the two forward all-reduces, per layer
    assert cores == 108  # A100: 108 SMs (NVIDIA A100 Tensor Core GPU Architecture whitepaper)
    assert r24.breakdown["B_layer"] - b["B_layer"] == pytest.approx(24 / cores * c_layer, rel=1e-9)
    assert r24.breakdown["F_layer"] == b["F_layer"]  # the forward all-reduces block: nothing runs beside them


def test_tp_ctas_default_to_comm_ctas_and_refuse_bad_input():
    """None (the default) takes the DP setting comm_ctas, the rule before tp_comm_ctas; a number overrides it."""
    same = _lt1(comm_ctas=8)[0].breakdown["B_layer"]
    assert _lt1(comm_ctas=8, tp_comm_ctas=8)[0].breakdown["B_layer"] == same
    assert _lt1(comm_ctas=8, tp_comm_ctas=0)[0].breakdown["B_layer"] < same
    for bad in (-1, True, 2.5, 54):  # 54 of 108 SMs: half the chip, refused by comm_contention.core_share
        with pytest.raises(TapeoutError, match="tp_comm_ctas"):
            _lt1(tp_comm_ctas=bad)


def test_tp_channels_move_every_row_toward_table4():
    """The TP channels' share (layer_times.csv tp_comm_ctas, NCCL's 24 on an 8-GPU A100 NVSwitch node) lengthens
    every row's backward, never its forward, and no row passes its measurement (the rest of the gap is named in
    docs/notes/issue-18.md, not fitted)."""
    import tapeout.perf.layer_check as lc
    for rid, r in ROWS.items():
        lc.TP_COMM_CTAS = False
        try:
            off = layer_times(r)
        finally:
            lc.TP_COMM_CTAS = True
        on = MODEL[rid]
        assert on[0] == off[0]
        assert off[1] < on[1] < float(r["backward_ms"]) * 1e-3
