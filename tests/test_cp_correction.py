"""Context parallelism's merge kernels (perf/cp_correction.py): byte counts enumerated from Transformer
Engine's AttnFuncWithCP passes, and where the training step pays them."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.cp_correction import cp_merge_ops


def _bytes(ops):
    return sum(op.input_bytes + op.output_bytes for op in ops)


@given(cp=st.integers(2, 32), tokens=st.integers(1, 65536), heads=st.integers(1, 128), kv=st.integers(1, 16),
       hd=st.sampled_from([64, 128, 256]))
@settings(max_examples=40, deadline=None)
def test_merge_bytes_are_the_te_passes(cp, tokens, heads, kv, hd):
    f, b = cp_merge_ops(cp, tokens, heads, kv, hd)
    q, rows = tokens * heads * hd, tokens * heads
    # forward: BF16 zero fill (2 B) + cp passes out += out_step x exp(.) (read 2 + 2, write 2);
    # FP64 LSE: cp - 1 merges (read 8 + 4, write 8), then the cast to FP32 (read 8, write 4)
    assert _bytes(f) == pytest.approx(q * (2 + 6 * cp) + rows * (20 * (cp - 1) + 12))
    # backward: dQ and dK/dV (2 x kv heads) each one copy (2 + 2 B) and cp - 1 in-place adds (2 + 2 + 2 B)
    assert _bytes(b) == pytest.approx((q + 2 * tokens * kv * hd) * (4 + 6 * (cp - 1)))


def test_no_context_parallelism_no_merge():
    assert cp_merge_ops(1, 8192, 16, 1, 128) == ([], [])


def test_train_pays_the_merges_only_with_cp():
    from tapeout.perf.training import TrainLayout, train

    kw = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=64 * 16384, seq_len=16384)
    with_cp = train(**kw, layout=TrainLayout(tp=2, pp=1, cp=4, dp=8, zero=1, recompute="none")).breakdown
    without = train(**kw, layout=TrainLayout(tp=2, pp=1, cp=1, dp=32, zero=1, recompute="none")).breakdown
    assert with_cp["cp_merge"] > 0 and without["cp_merge"] == 0.0
    # a small share of the step: passes over the output, not the attention's s^2 work
    assert with_cp["cp_merge"] < 0.05 * with_cp["step"]
