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
    # backward: the ranks' accumulation passes enumerated from TE's branches, each step waiting for
    # its slowest rank
    assert _bytes(b) == pytest.approx(_te_backward_bytes(cp, q, 2 * tokens * kv * hd))


def _te_accumulate(cp, rank, i):
    """(dQ, dKV) passes of `rank` at backward step `i` of TE AttnFuncWithCP (causal, BF16), as
    (op, fraction of the tensor): copy reads 1 and writes 1, add reads 2 and writes 1 (2 B each)."""
    whole_q = i >= cp - rank - 1  # this step's block sees the rank's whole query
    if whole_q:
        dq = [("copy", 1.0)] if rank == cp - 1 and i == 0 else \
             [("copy", 0.5), ("add", 0.5)] if i == cp - rank - 1 else [("add", 1.0)]
    else:
        dq = [("copy" if i == 0 else "add", 0.5)]  # dq[1]: the second half only
    if i == cp - 1:  # the diagonal block, last
        dkv = [("add", 0.5), ("copy", 0.5)] if rank == 0 else [("add", 1.0)]
    elif whole_q:  # dkv[:, 0, ...]: the first half only
        dkv = [("copy" if i == 0 and rank == cp - 1 else "add", 0.5)]
    else:
        dkv = [("copy" if i == 0 else "add", 1.0)]
    return dq, dkv


def _te_backward_bytes(cp, q, kv):
    nbytes = {"copy": 2 * 2, "add": 3 * 2}
    total = 0.0
    for i in range(cp):
        per_rank = []
        for rank in range(cp):
            dq, dkv = _te_accumulate(cp, rank, i)
            per_rank.append(sum(nbytes[o] * f * q for o, f in dq) + sum(nbytes[o] * f * kv for o, f in dkv))
        total += max(per_rank)
    return total


def test_the_slowest_rank_accumulates_half_of_the_smaller_gradient():
    # closed form at CP2: GQA (kv < q) pays dQ in full (copy + add: 10 B) and dKV as a half copy and a
    # full add (2 + 6 = 8 B); the old count, both in full, was 10 (q + kv)
    _, b = cp_merge_ops(2, 1024, 8, 1, 128)  # q = 8 x kv / 2: kv is the smaller
    q, kv = 1024 * 8 * 128, 2 * 1024 * 128
    assert _bytes(b) == pytest.approx(10 * q + 8 * kv)
    # MHA: dK/dV (2 q) is the larger, dQ the half one
    _, b = cp_merge_ops(2, 1024, 8, 8, 128)
    assert _bytes(b) == pytest.approx(8 * q + 10 * 2 * q)


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


def test_recomputing_the_core_attention_reruns_its_kv_ring():
    # selective recompute checkpoints the whole core-attention call (Megatron-Core / TE
    # _checkpointed_attention_forward), which under CP is TE's P2P ring: the rerun pays the forward
    # ring's exposure once more, exactly as full recompute does; without recompute it is paid once
    from tapeout.perf.training import TrainLayout, train

    kw = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=64 * 8192, seq_len=8192)
    ring = {rc: train(**kw, layout=TrainLayout(tp=8, pp=1, cp=8, dp=1, zero=1, recompute=rc)).breakdown
            for rc in ("none", "selective", "full")}
    exposed = {rc: b["exposed_comm_s"]["cp_kv_ring"] for rc, b in ring.items()}
    assert exposed["none"] > 0  # a CP8 ring over TP8 spans nodes: its steps outlast the attention
    assert exposed["selective"] == pytest.approx(exposed["full"], rel=1e-12)
    assert exposed["selective"] > exposed["none"]
