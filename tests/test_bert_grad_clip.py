"""NVIDIA's MLPerf BERT passes over the whole gradient before the reduction (validation/bert_grad_clip.py): 10 B per
parameter of the fp16 gradient per step on v2.0's patched stack, 4 B on upstream apex's fused one, read from the
stacks' source; a step never gets faster with them (issue 18)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import graph_time
from tapeout.validation import bert_grad_clip
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.validation.other_training import training_time

SPEC = fact("bert_train", "clip_before_allreduce")


def test_v2_0_patched_stack_five_fp16_tensors():
    """v2.0: flatten (read + write), L2 norm (read), scale (read + write) of fp16: 5 x 2 B = 10 B per parameter."""
    assert [(q["name"], q["reads"], q["writes"]) for q in bert_grad_clip.round_passes(SPEC, "v2.0")] == [
        ("flatten_grads", 1, 1), ("grad_l2_norm", 1, 0), ("clip_scale", 1, 1)]
    assert bert_grad_clip.clip_bytes(1.0e6, SPEC, "v2.0") == pytest.approx(10.0e6)


@pytest.mark.parametrize("rnd", ["v3.0", "v3.1", "v4.0", None])
def test_later_stacks_one_fused_pass(rnd):
    """upstream apex, fused_norm + fuse_scale: one multi_tensor_l2norm_scale (read + write) = 4 B per parameter; a run
    with no round prices the newest stack."""
    assert bert_grad_clip.clip_bytes(1.0e6, SPEC, rnd) == pytest.approx(4.0e6)


def test_bert_large_bytes_per_step():
    """BERT-Large's trained parameters (the graph's dense bf16 bytes / 2, ~335 M with the 30,522 x 1,024 embedding):
    3.35 GB per step on every rank, whatever the chip count (replicated, not sharded)."""
    _, _, dense = training_graphs("bert", 56, get_chip("a100-sxm"), 8)
    n_params = dense / 2.0
    assert 3.3e8 < n_params < 3.4e8
    assert bert_grad_clip.clip_bytes(n_params, SPEC, "v2.0") == pytest.approx(10.0 * n_params)
    assert bert_grad_clip.clip_bytes(n_params, SPEC, "v4.0") == pytest.approx(4.0 * n_params)


def test_time_is_at_least_the_bytes_at_the_streaming_rate():
    p = calibrated_params(get_chip("a100-sxm"), None)
    n_params = 3.35e8
    t = graph_time(bert_grad_clip.clip_graph(n_params, SPEC, "v2.0"), p)
    assert t >= 10.0 * n_params / (p.mem_bw * p.eff_mem) * (1 - 1e-9)
    assert t < 2.0 * 10.0 * n_params / (p.mem_bw * p.eff_mem)  # a stream, not a compute-bound kernel


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["a100-sxm", "h100-sxm", "l4"]), st.sampled_from([1, 4, 8, 64]), st.integers(8, 64),
       st.sampled_from([("v2.0", 10.0), ("v3.1", 4.0), (None, 4.0)]))
def test_term_never_makes_a_step_faster(chip_id, n, per_chip, rnd_bytes):
    rnd, b = rnd_bytes
    chip = get_chip(chip_id)
    gb = n * per_chip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bert_grad_clip, "BERT_CLIP_BEFORE_ALLREDUCE", False)
        off = training_time("bert", chip, n, gb, None, mlperf_round=rnd)
    on = training_time("bert", chip, n, gb, None, mlperf_round=rnd)
    assert on["step_s"] >= off["step_s"]
    # the added time is the passes' own, whole-gradient (not divided by the chip count)
    _, _, dense = training_graphs("bert", on["per_chip_batch"], chip, n)
    p = calibrated_params(chip, None)
    assert on["step_s"] - off["step_s"] >= b * dense / 2.0 / (p.mem_bw * p.eff_mem) * (1 - 1e-6)


def test_other_vendors_unchanged():
    """Only the bert_train.distributed_lamb_vendors' stacks clip this way: a Gaudi2 step does not move."""
    chip = get_chip("gaudi2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bert_grad_clip, "BERT_CLIP_BEFORE_ALLREDUCE", False)
        off = training_time("bert", chip, 8, 8 * 48, None)
    on = training_time("bert", chip, 8, 8 * 48, None)
    assert on["step_s"] == off["step_s"]


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(1e9, 500e9))
def test_pair_diagnostic_recovers_the_bytes(c, m):
    """scripts/bert_memory_share.py: t = C + M / BW on the two A100 SXM modules gives back M exactly."""
    from _load import load_script

    ms = load_script("scripts", "bert_memory_share")
    bw40, bw80, _ = ms.a100_rates()
    assert (bw40, bw80) == (pytest.approx(1555e9), pytest.approx(2039e9))  # NVIDIA A100 datasheet
    t40, t80 = c + m / bw40, c + m / bw80
    assert ms.implied_bytes(t40, t80, bw40, bw80) == pytest.approx(m, rel=1e-9)
