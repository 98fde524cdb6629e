"""The non-LLM MLPerf Training memory rule (validation/train_fit.py, issue 52c): saved activations, model states,
the refusal of a batch that does not fit and the batch it names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from _cli import refusal
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise, MatMul, OpGraph
from tapeout.validation import train_fit


def test_saved_activations_closed_form():
    """Every op output x count, plus the outside input of the op listed as reading data, plus the backward's
    working set (the largest op's input + output)."""
    fc = MatMul("fc", count=3, m=4, n=8, k=16)  # in 4x16x2 = 128 B, out 4x8x2 = 64 B
    act = Elementwise("act", count=3, elems=32, reads=1, writes=1)  # in 64 B, out 64 B
    first = MatMul("first", m=4, n=16, k=32)  # reads data: in 256 B (kept for wgrad), out 128 B
    g = OpGraph("tiny", [first, fc, act])
    outs = 128 + 3 * 64 + 3 * 64
    assert train_fit.saved_activation_bytes(g) == outs + (256 + 128)
    # reading data, `first` computes no input gradient: the working set is fc's input + output gradients
    assert train_fit.saved_activation_bytes(g, ("fir*",)) == outs + 256 + (128 + 64)
    # a builder that names the outside tensor (re-read by several ops) replaces their inputs' sum
    g3 = OpGraph("tiny3", [first, fc, act], {"outside_input_bytes": 100.0})
    assert train_fit.saved_activation_bytes(g3, ("fir*",)) == outs + 100 + (128 + 64)
    # two accumulation passes folded into the counts: one pass's activations held
    g2 = OpGraph("tiny2", [MatMul("fc", count=2, m=4, n=8, k=16)])
    assert train_fit.saved_activation_bytes(g2, passes=2) == 64 + (128 + 64)


def test_recomputed_block_keeps_input_and_one_block():
    """A checkpointed block (count = its instances) keeps per instance its largest op input, plus one instance's
    outputs in full during its backward."""
    a = MatMul("blk.a", count=5, m=4, n=32, k=8)  # in 64 B, out 256 B
    b = MatMul("blk.b", count=5, m=4, n=8, k=32)  # in 256 B, out 64 B
    g = OpGraph("ckpt", [a, b])
    work = 64 + 256
    assert train_fit.saved_activation_bytes(g, recomputed=("blk.",)) == 5 * 256 + (256 + 64) + work
    assert train_fit.saved_activation_bytes(g) == 5 * (256 + 64) + work
    # the block's inputs named (the op reading them): kept per instance instead of the largest op input
    assert train_fit.saved_activation_bytes(g, recomputed=("blk.",), block_inputs=("blk.a",)) == \
        5 * 64 + (256 + 64) + work


def test_resnet_states_closed_form():
    """NVIDIA's ResNet-50 (MXNet, replicated update): fp16 weight and gradient, fp32 master and momentum, 12 B per
    parameter on every chip whatever the count."""
    chip = get_chip("h100-sxm")
    for n in (1, 8, 64):
        assert train_fit.state_bytes("resnet", chip, n, 2.0e6) == pytest.approx(1.0e6 * 12.0)


def test_bert_states_shard_over_ranks_on_nvidia():
    """DistributedFusedLAMB (NVIDIA): weight and gradient whole, master, m, v and update over every rank."""
    chip = get_chip("h100-sxm")
    assert train_fit.state_bytes("bert", chip, 8, 2.0e6) == pytest.approx(1.0e6 * (2 + 2 + 16 / 8))


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(["resnet", "bert", "maskrcnn", "dlrm-dcnv2", "rnnt"]), st.integers(1, 192), st.integers(1, 192))
def test_memory_monotone_in_batch(bench, b1, b2):
    """Within one pass (RNN-T's H100 micro-batch cap is 192: rnnt_train.micro_batch) memory grows with the batch."""
    chip = get_chip("h100-sxm")
    lo, hi = sorted((b1, b2))
    m_lo, m_hi = train_fit.step_memory(bench, chip, 8, lo), train_fit.step_memory(bench, chip, 8, hi)
    assert m_lo.total <= m_hi.total * (1 + 1e-12)
    assert m_lo.states == pytest.approx(m_hi.states)  # the batch moves activations only


@pytest.mark.parametrize("bench,per_chip", [("maskrcnn", 4096), ("resnet", 1 << 16), ("dlrm-dcnv2", 1 << 24)])
def test_refusal_names_a_batch_the_rule_accepts(bench, per_chip):
    chip = get_chip("h100-sxm")
    with pytest.raises(TapeoutError) as e:
        train_fit.check_fits(bench, chip, 8, per_chip, per_chip * 8)
    msg = str(e.value)
    best = int(re.search(r"largest per-chip batch that fits is ([\d,]+)", msg).group(1).replace(",", ""))
    assert train_fit.step_memory(bench, chip, 8, best).fits
    assert not train_fit.step_memory(bench, chip, 8, best + 1).fits
    assert f"--global-batch {best * 8:,} or less" in msg and "GiB usable" in msg


def test_rnnt_accumulation_keeps_memory_bounded():
    """RNN-T's stack splits a large per-chip batch into micro-batches of its cap: one pass's activations held,
    so a huge batch is not refused for memory (it runs more passes)."""
    chip = get_chip("h100-sxm")
    assert train_fit.step_memory("rnnt", chip, 8, 1 << 14).fits


def test_bert_fits_as_the_stacks_micro_batches():
    """NVIDIA's 2 x A30 BERT (global 448, 224 per GPU; config_A30_1x2x224x14.sh) ran: 224 at once does not fit an
    A30 under the rule, so it runs in the fewest accumulation passes whose micro-batch fits, and is not refused."""
    a30 = get_chip("a30")
    assert not train_fit.step_memory("bert", a30, 2, 224).fits
    m = train_fit.check_fits("bert", a30, 2, 224, 448)
    assert m.fits and m.passes > 1 and m.micro_batch * m.passes >= 224
    assert not train_fit.step_memory("bert", a30, 2, -(-224 // (m.passes - 1))).fits  # one pass fewer does not fit


@pytest.mark.parametrize("bench,gb", [("maskrcnn", "100000000"), ("dlrm-dcnv2", "100000000000")])
def test_cli_refuses_a_batch_that_does_not_fit(bench, gb):
    err = refusal(["train", "--benchmark", bench, "--chip", "h100-sxm", "--global-batch", gb])
    assert "GiB per chip" in err and "usable" in err and "largest per-chip batch that fits" in err
    assert "--num-chips" in err


def test_state_alone_too_large_names_the_sharding_fix():
    """Flux.1's HSDP state (12 B parameters x 16 B, over the ranks) on one 24 GB L4: no sample fits, and more chips
    shard the state; on 16 L4s the state is sharded over the 8-GPU node at most, so only a larger chip helps."""
    l4 = get_chip("l4")
    with pytest.raises(TapeoutError, match=r"not even one sample per chip fits.*more --num-chips"):
        train_fit.check_fits("flux1", l4, 1, 512, 512)
    with pytest.raises(TapeoutError, match=r"not even one sample per chip fits: use a chip with more memory \("):
        train_fit.check_fits("flux1", l4, 16, 32, 512)


def test_default_runs_fit():
    """Each benchmark's own definition (its RCP batch on 8 chips) fits an H100 under the rule."""
    from tapeout import api

    for bench in ("resnet", "bert", "maskrcnn", "retinanet", "unet3d", "stable-diffusion"):
        assert api.train_benchmark(bench, "h100-sxm", 8).step_time_s > 0


def test_bert_accumulation_passes_are_priced_as_passes_of_the_micro_batch(monkeypatch):
    """Where the memory rule splits 2 x A30's 224 per chip into passes, the step runs passes x the micro-batch (op counts
    x passes, rnnt_train.micro_batched): its forward and backward are exactly `passes` times those of one chip holding
    the micro-batch alone (same chips, no split); PRICE_PASSES off: one pass at the whole 224, as before issue-54d."""
    from tapeout.validation.other_training import training_time

    a30 = get_chip("a30")
    m = train_fit.check_fits("bert", a30, 2, 224, 448)
    split = training_time("bert", a30, 2, 448, None)
    one = training_time("bert", a30, 2, 2 * m.micro_batch, None)
    assert split["accumulation_passes"] == m.passes and split["micro_batch"] == m.micro_batch
    assert "accumulation_passes" not in one  # the micro-batch alone fits in one pass
    for k in ("fwd_s", "bwd_s"):
        assert split[k] == pytest.approx(m.passes * one[k], rel=1e-9)
    assert split["optimizer_s"] == pytest.approx(one["optimizer_s"], rel=1e-12)  # one weight update per step
    monkeypatch.setattr(train_fit, "PRICE_PASSES", False)
    whole = training_time("bert", a30, 2, 448, None)
    assert whole["accumulation_passes"] == m.passes and not whole["priced_as_passes"]
    assert whole["fwd_s"] != pytest.approx(split["fwd_s"], rel=1e-6)


def test_the_accumulation_note_says_how_the_step_was_priced(session_chips):
    from tapeout.api.other_train import train_benchmark

    r = train_benchmark("bert", chip="a30", num_chips=2, global_batch=448).to_dict()
    note = [n for n in r.get("notes") or [] if "micro-batches" in n]
    m = train_fit.check_fits("bert", get_chip("a30"), 2, 224, 448)
    assert note and f"{m.passes} gradient-accumulation micro-batches of {m.micro_batch}" in note[0]
    assert f"priced as those {m.passes} passes" in note[0]
