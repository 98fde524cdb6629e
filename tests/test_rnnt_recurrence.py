"""RNN-T's recurrent chains as cuDNN runs them (issue 18, round stop-40 issue-51b; validation/rnnt_recurrence.py):
recurrent weights read from the L2 where they fit and the L2 bandwidth is described, cuDNN's backward split, the
layer wavefront's chain length."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernel_replay import l2_read_bw
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_backward import backward_time
from tapeout.perf.train_clock import graph_time
from tapeout.validation import rnnt_recurrence as rr
from tapeout.validation import rnnt_train
from tapeout.validation.other_training import training_time
from tapeout.workloads.blocks import as_precision
from tapeout.workloads.rnnt import lstm_ops, rnnt_train_graph


def _chains(batch=8, steps=100, hidden=1024, layers=2):
    g = OpGraph("t", lstm_ops("enc", batch, steps, hidden, hidden, layers, as_precision("bf16")), {})
    return rr.split(g)[1]


def _params(cid):
    chip = get_chip(cid)
    return chip, calibrated_params(chip, None)


def test_split_takes_the_per_step_ops_only():
    g = OpGraph("t", lstm_ops("enc.post", 8, 50, 2048, 1024, 3, as_precision("bf16")), {})
    rest, chains = rr.split(g)
    assert sorted(o.name for o in chains.ops) == sorted(f"enc.post.l{i}.{p}" for i in range(3) for p in ("h", "cell"))
    assert [o.name for o in rest.ops] == [f"enc.post.l{i}.x" for i in range(3)]


def test_recurrent_weights_fit_the_l2_of_a100_and_h100():
    """4h x h bf16 at h = 1024 is 8.4 MB: within A100's 40 MB and H100's 50 MB L2 (data/chips); a chip without a
    described L2 bandwidth (A30) keeps the DRAM price; the switch off, no chip does."""
    w = _chains().ops[0]
    assert w.weight_bytes == 4 * 1024 * 1024 * 2
    for cid in ("a100-sxm", "h100-sxm"):
        chip, p = _params(cid)
        assert rr.weights_on_chip(w, p, chip) and not rr.weights_on_chip(w, p, chip, on=False)
    a30, p30 = _params("a30")
    assert not rr.l2_described(a30) and not rr.weights_on_chip(w, p30, a30)
    big = _chains(hidden=4096).ops[0]  # 134 MB: above H100's 50 MB
    chip, p = _params("h100-sxm")
    assert not rr.weights_on_chip(big, p, chip)


@pytest.mark.parametrize("cid", ["a100-sxm", "h100-sxm"])
def test_per_step_weight_stream_is_at_the_l2_bandwidth(cid):
    """Closed form: a recurrent GEMM's memory time is its bytes over the stream; from the L2 the stream is the
    measured l2_bandwidth_tbps (eff 1), from the DRAM mem_bw x eff_mem; same bytes, same fill, same fixed latency."""
    chip, p = _params(cid)
    g = OpGraph("h", [_chains().ops[0]], {})
    hbm = float(np.max(evaluate(g, p).memory_time))
    l2 = float(np.max(evaluate(g, rr.onchip_params(p, chip)).memory_time))
    ovh = float(np.max(p.mem_overhead))
    dram_bw = float(np.max(np.asarray(p.mem_bw) * np.asarray(p.eff_mem)))
    assert (l2 - ovh) == pytest.approx((hbm - ovh) * dram_bw / l2_read_bw(chip), rel=1e-9)
    assert l2 < hbm


def test_switches_off_price_as_before():
    """Off, the chains cost what perf/train_clock and perf/train_backward price (main's model)."""
    chip, p = _params("h100-sxm")
    c = _chains()
    assert rr.forward_s(c, p, chip, on=False) == pytest.approx(graph_time(c, p), rel=1e-12)
    assert rr.backward_s(c, p, chip, on=False, weights_on=False) == pytest.approx(backward_time(c, p), rel=1e-12)


def test_cudnn_backward_has_the_forward_flops_twice():
    """BackwardData's dgrad chain and BackwardWeights' one GEMM do the generic rule's math (dgrad + wgrad = 2x the
    forward GEMM flops), regrouped: T dgrad steps of the forward's shape and one wgrad of k = B x T."""
    c = _chains(batch=8, steps=100)
    bwd = rr.backward_graph(c)
    fwd_flops = sum(o.flops * o.count for o in c.ops if o.kind == "matmul")
    assert sum(o.flops * o.count for o in bwd.ops if o.kind == "matmul") == pytest.approx(2 * fwd_flops)
    wg = [o for o in bwd.ops if o.name.endswith(".wgrad")]
    assert [(o.m, o.n, o.k, o.count) for o in wg] == [(4096, 1024, 800, 1)] * 2
    assert sum(1 for o in bwd.ops if o.name.endswith(".dgrad") and o.count == 100) == 2


def test_cudnn_backward_is_faster_than_the_generic_rule_at_a_small_batch():
    """One wgrad GEMM instead of T per-step ones: the backward drops by about T x (one step GEMM) at batch 8."""
    chip, p = _params("h100-sxm")
    c = _chains(batch=8, steps=500)
    assert rr.backward_s(c, p, chip, on=True) < rr.backward_s(c, p, chip, on=False)


def test_chain_length_closed_forms():
    """L layers over T steps: L x T one after the other; T + L - 1 with the layer wavefront."""
    assert rr.chain_steps(561, 2, False) == 1122 and rr.chain_steps(561, 2, True) == 562
    assert rr.chain_steps(281, 3, False) == 843 and rr.chain_steps(281, 3, True) == 283
    assert rr.chain_steps(0, 3, True) == 0 and rr.chain_steps(10, 1, True) == rr.chain_steps(10, 1, False) == 10


@settings(max_examples=30, deadline=None)
@given(t=st.integers(1, 3000), layers=st.integers(1, 8))
def test_wavefront_never_lengthens_the_chain(t, layers):
    assert rr.chain_steps(t, layers, True) <= rr.chain_steps(t, layers, False)
    assert rr.chain_steps(t + 1, layers, True) > rr.chain_steps(t, layers, True)


def test_wavefront_prices_t_plus_l_minus_1_slowest_steps():
    chip, p = _params("h100-sxm")
    c = _chains(batch=8, steps=100, layers=3)
    one_layer = rr.forward_s(_chains(batch=8, steps=100, layers=1), p, chip, wavefront=False) / 100
    assert rr.forward_s(c, p, chip, wavefront=True) == pytest.approx(102 * one_layer, rel=1e-9)
    assert rr.forward_s(c, p, chip, wavefront=False) == pytest.approx(300 * one_layer, rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(mb=st.lists(st.floats(1.0, 200.0), min_size=2, max_size=2), batch=st.sampled_from([4, 8, 32, 192]))
def test_a_bigger_cache_is_never_slower(mb, batch):
    chip, p = _params("h100-sxm")
    small, big = sorted(mb)
    c = _chains(batch=batch, steps=20)
    t_small = rr.forward_s(c, p.replace(sram_bytes=small * 1e6), chip) + rr.backward_s(c, p.replace(sram_bytes=small * 1e6), chip)
    t_big = rr.forward_s(c, p.replace(sram_bytes=big * 1e6), chip) + rr.backward_s(c, p.replace(sram_bytes=big * 1e6), chip)
    assert t_big <= t_small * (1 + 1e-12)


@settings(max_examples=10, deadline=None)
@given(d=st.lists(st.floats(2.0, 30.0), min_size=2, max_size=2), bwd=st.booleans())
def test_a_longer_sequence_is_never_faster(d, bwd):
    chip, p = _params("a100-sxm")
    short, long_ = sorted(d)

    def chain_s(dur):
        c = rr.split(rnnt_train_graph(8, dur, dur * 4.0, "bf16"))[1]
        return rr.forward_s(c, p, chip) + rr.backward_s(c, p, chip, on=bwd)

    assert chain_s(long_) >= chain_s(short)


def test_weights_on_chip_shorten_the_small_batch_step_only_where_described(monkeypatch):
    """H100 SXM at 8 per GPU (the 512-chip rows): the chains read 8 MB a step from the L2, the step is shorter; the
    A30 (no L2 bandwidth on file) is priced as before."""
    def step(cid, n, gb, on):
        monkeypatch.setattr(rr, "RECURRENT_WEIGHTS_ON_CHIP", on)
        return training_time("rnnt", get_chip(cid), n, gb, None)["step_s"]

    assert step("h100-sxm", 512, 4096, True) < 0.95 * step("h100-sxm", 512, 4096, False)
    assert step("a30", 8, 1024, True) == pytest.approx(step("a30", 8, 1024, False), rel=1e-12)


def test_evaluation_reads_the_encoder_weights_from_the_l2(monkeypatch):
    chip = get_chip("h100-sxm")
    p = calibrated_params(chip, None)
    on = rnnt_train.eval_pass_s(p, 512, None, chip)
    monkeypatch.setattr(rr, "RECURRENT_WEIGHTS_ON_CHIP", False)
    assert on < rnnt_train.eval_pass_s(p, 512, None, chip)


@pytest.mark.parametrize("cid,src", [("h100-sxm", "L2"), ("mi300x", "DRAM"), ("a30", "DRAM")])
def test_the_answer_says_where_the_recurrent_weights_were_read(cid, src, session_chips):
    """A chip without a described L2 bandwidth says it fell back to the DRAM price (issue-52a review: silent before)."""
    from tapeout.api.other_train import train_benchmark

    r = train_benchmark("rnnt", chip=cid, num_chips=8).to_dict()
    assert r["breakdown"]["recurrent_weights_from"].startswith(src)
    said = [n for n in r.get("notes") or [] if "recurrent weights" in n]
    assert bool(said) == (src == "DRAM")
    if said:
        assert "l2_bandwidth_tbps" in said[0]


def test_weights_read_from_names_the_switch_and_the_size():
    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    chains = rr.split(rnnt_train.training_graph(8, chip)[0])[1]
    assert rr.weights_read_from(chains, p, chip, on=False).startswith("DRAM: validation/rnnt_recurrence")
    small = p.replace(sram_bytes=1e6)  # a 1 MB L2: no 2-8 MB recurrent matrix fits
    assert "exceed the 1 MB L2" in rr.weights_read_from(chains, small, chip, on=True)


@pytest.mark.parametrize("cid,src", [("h100-sxm", "L2"), ("a30", "DRAM")])
def test_the_table_view_shows_where_the_recurrent_weights_were_read(cid, src, session_chips):
    """`tapeout train --benchmark rnnt` (no --json) shows recurrent_weights_from in its step breakdown like the
    other items (issue-53b review: --json only before)."""
    from _cli import run_cli

    code, out, err = run_cli(["train", "--benchmark", "rnnt", "--chip", cid, "--num-chips", "8"])
    assert code == 0, err
    row = [ln for ln in out.splitlines() if "recurrent weights read from" in ln and "│" in ln]  # a table row, not the note
    assert row and f"│ {src}" in row[0], out
