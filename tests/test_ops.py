"""Closed-form FLOP and byte counts of the op set, checked against hand counts."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.ops import Attention, Collective, Elementwise, EmbeddingGather, MatMul, OpGraph


def test_matmul_counts_bf16():
    op = MatMul(name="x", m=4, n=8, k=16)
    assert op.flops == 2 * 4 * 8 * 16  # 1 MAC = 2 FLOPs
    assert op.weight_bytes == 16 * 8 * 2
    assert op.input_bytes == 4 * 16 * 2
    assert op.output_bytes == 4 * 8 * 2


def test_matmul_mixed_dtypes_and_groups():
    # W4A16 grouped GEMM: 8 experts, int4 weights are half a byte per element
    op = MatMul(name="e", m=3, n=10, k=20, groups=8, a_dtype="bf16", w_dtype="int4", out_dtype="bf16")
    assert op.flops == 2 * 8 * 3 * 10 * 20
    assert op.weight_bytes == 8 * 20 * 10 * 0.5
    assert op.input_bytes == 8 * 3 * 20 * 2


def test_batched_matmul_unshared_weight():
    op = MatMul(name="bmm", m=2, n=3, k=4, batch=5, shared_weight=False, w_dtype="fp8")
    assert op.weight_bytes == 5 * 4 * 3 * 1


def test_attention_decode_gqa():
    # one new token per sequence attends to 100 cached tokens; 32 query heads, 8 KV heads
    op = Attention(name="a", batch=2, q_len=1, kv_len=100, heads=32, kv_heads=8, d_qk=128, d_v=128, causal=True)
    scores = 2 * 32 * 1 * 100  # causal with q_len=1 sees all 100 keys
    assert op.keys_per_query == 100
    assert op.flops == 2 * scores * 256 + 5 * scores
    assert op.weight_bytes == 2 * 100 * 8 * 256 * 2  # K and V of 8 heads, bf16


def test_attention_prefill_causal_average_keys():
    op = Attention(name="a", batch=1, q_len=4, kv_len=4, heads=1, kv_heads=1, d_qk=2, d_v=2)
    # queries see 1, 2, 3, 4 keys -> mean 2.5
    assert op.keys_per_query == pytest.approx(2.5)


def test_windowed_prefill_keys_are_the_mean_of_capped_counts():
    # a causal prefill of 2W tokens under a window W: queries see 1..W, then W each -> mean (W + 1) / 4 + W / 2,
    # not min((2W + 1) / 2, W) = W (the cap of the mean overstated it by ~4/3)
    w = 128
    op = Attention(name="a", q_len=2 * w, kv_len=2 * w, window=w)
    assert op.keys_per_query == pytest.approx(((w * (w + 1)) / 2 + w * w) / (2 * w))
    # decode: one query at position kv_len sees min(kv_len, W) keys
    assert Attention(name="a", q_len=1, kv_len=1000, window=w).keys_per_query == w
    assert Attention(name="a", q_len=1, kv_len=100, window=w).keys_per_query == 100


@given(a=st.integers(0, 3000), q=st.integers(1, 600), w=st.integers(0, 4000))
def test_windowed_keys_match_counting_each_query(a, q, w):
    """Causal queries at positions a+1 .. a+q (chunked prefill after a cached tokens) each see min(p, W) keys."""
    op = Attention(name="a", q_len=q, kv_len=a + q, window=w)
    keys = [min(p, w) if w else p for p in range(a + 1, a + q + 1)]
    assert op.keys_per_query == pytest.approx(sum(keys) / q)


def test_mla_kv_override():
    op = Attention(name="mla", batch=3, q_len=1, kv_len=10, heads=128, kv_heads=1, d_qk=576, d_v=512,
                   kv_bytes_per_token=576 * 2)
    assert op.weight_bytes == 3 * 10 * 576 * 2


def test_elementwise_bytes():
    op = Elementwise(name="norm", elems=1000, flops_per_elem=4, reads=2, writes=1, dtype="fp16")
    assert op.flops == 4000
    assert op.bytes == 1000 * 3 * 2


def test_embedding_transactions_round_up():
    op = EmbeddingGather(name="emb", lookups=10, rows=1000, row_bytes=100)
    assert op.transaction_bytes(64) == 10 * 128  # 100 B row -> two 64 B bursts
    assert op.table_bytes == 100_000
    hot = EmbeddingGather(name="emb", lookups=10, rows=1000, row_bytes=128, hot_fraction=0.5)
    assert hot.transaction_bytes(64) == 5 * 128


@pytest.mark.parametrize(
    "kind,factor", [("all_reduce", 2 * 7 / 8), ("all_gather", 7 / 8), ("reduce_scatter", 7 / 8), ("all_to_all", 7 / 8), ("send_recv", 1.0)]
)
def test_collective_bus_factor(kind, factor):
    # nccl-tests PERFORMANCE.md bus-bandwidth factors for 8 ranks
    op = Collective(name="c", collective=kind, payload_bytes=1e6, group=8)
    assert op.wire_bytes == pytest.approx(factor * 1e6)


def test_single_rank_collective_is_free():
    assert Collective(name="c", collective="all_reduce", payload_bytes=1e6, group=1).wire_bytes == 0


@pytest.mark.parametrize("field", ["m", "n", "k"])
def test_nonpositive_sizes_rejected(field):
    kw = dict(m=1, n=1, k=1)
    kw[field] = 0
    with pytest.raises(TapeoutError, match=field):
        MatMul(name="bad", **kw)


def test_unknown_collective_rejected():
    with pytest.raises(TapeoutError, match="collective"):
        Collective(name="c", collective="broadcastish", payload_bytes=1, group=2)


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 4096), n=st.integers(1, 4096), k=st.integers(1, 4096))
def test_matmul_flops_scale_linearly(m, n, k):
    a = MatMul(name="a", m=m, n=n, k=k)
    b = MatMul(name="b", m=2 * m, n=n, k=k)
    assert b.flops == 2 * a.flops
    assert b.weight_bytes == a.weight_bytes  # weights do not grow with tokens


def test_graph_totals_use_counts():
    g = OpGraph("g", [MatMul(name="a", m=2, n=2, k=2, count=3)])
    assert g.flops == 3 * 16
    assert len(g.table) == 1
