"""The residual bias-dropout-add kernels of a training layer (perf/residual_ops.py): their tokens per rank with and
without sequence parallelism (Korthikanti et al. 2022 Sec. 4.2.2) and the hidden-dropout mask (StackFeatures)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.memory_kernels import dropout_forward_share, philox_share
from tapeout.perf.residual_ops import residual_ops
from tapeout.perf.training import train


def dram(ops) -> float:
    return sum(op.count * (op.input_bytes + op.output_bytes) for op in ops)


@pytest.mark.parametrize("tp", [1, 2, 8])
def test_tokens_per_rank_with_and_without_sequence_parallelism(tp):
    """Without SP every TP rank adds the whole T x h residual; with it its T / TP shard: read 2, write 1 (bf16)."""
    T, h = 8192, 6144
    for sp, share in ((False, 1), (True, tp)):
        f, b = residual_ops(2, T, h, tp, sp, hidden_dropout=False)
        assert dram(f) == dram(b) == pytest.approx(2 * 2 * 3 * 2.0 * T * h / share)


def test_hidden_dropout_bytes_closed_form():
    """Forward: read 2, write 1 and the 1-byte mask; backward: the join add (read 2, write 1) and the masked
    gradient (read grad and mask, write 1), 2 residuals per layer."""
    T, h, L = 4096, 8192, 3
    f, b = residual_ops(L, T, h, 8, False, hidden_dropout=True)
    assert dram(f) == pytest.approx(2 * L * T * h * (2 * 2 + 2 + 1))
    assert dram(b) == pytest.approx(2 * L * T * h * ((2 * 2 + 2) + (2 + 1 + 2)))
    assert f[0].stream_share == pytest.approx(philox_share(7.0)) and all(op.stream_share == 1.0 for op in b)


def test_philox_share_is_the_measured_share_at_its_bytes():
    assert philox_share(5.0) == pytest.approx(dropout_forward_share(), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(b1=st.floats(1.0, 100.0), b2=st.floats(1.0, 100.0))
def test_philox_share_rises_with_the_bytes_that_hide_the_draw(b1, b2):
    lo, hi = sorted((b1, b2))
    assert 0.0 < philox_share(lo) <= philox_share(hi) < 1.0
    # the draw's own time per element is the same at any byte count: B / share - B is constant
    assert hi / philox_share(hi) - hi == pytest.approx(lo / philox_share(lo) - lo, rel=1e-9)


def test_train_prices_the_mask_and_refuses_a_non_boolean():
    kw = dict(tp=8, pp=1, cp=1, zero=1, mbs=1, sequence_parallel=False)
    off = train("llama-3.1-8b", "h100-sxm", 8, 8 * 4096, 4096, "bf16", **kw)
    on = train("llama-3.1-8b", "h100-sxm", 8, 8 * 4096, 4096, "bf16", hidden_dropout=True, **kw)
    assert on.breakdown["residual_add"] > off.breakdown["residual_add"]
    assert on.step_time_s > off.step_time_s
    with pytest.raises(TapeoutError, match="hidden_dropout"):
        train("llama-3.1-8b", "h100-sxm", 8, 8 * 4096, 4096, "bf16", hidden_dropout="yes", **kw)


def test_the_dropout_switch_also_turns_off_the_residual_draw(monkeypatch):
    """unfused_attention.DROPOUT_RNG is the one switch of the measured Philox share: off, the residual
    bias-dropout-add's forward is a pure stream like the attention dropout's (round stop-36 review)."""
    from tapeout.perf import unfused_attention

    monkeypatch.setattr(unfused_attention, "DROPOUT_RNG", False)
    f, _ = residual_ops(2, 4096, 8192, 8, False, hidden_dropout=True)
    assert f[0].stream_share == 1.0
    monkeypatch.setattr(unfused_attention, "DROPOUT_RNG", True)
    f, _ = residual_ops(2, 4096, 8192, 8, False, hidden_dropout=True)
    assert f[0].stream_share < 1.0
