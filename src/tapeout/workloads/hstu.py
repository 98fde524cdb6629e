"""HSTU generative recommender (Zhai et al., "Actions Speak Louder than Words: Trillion-Parameter
Sequential Transducers for Generative Recommendations", ICML 2024, arXiv:2402.17152; reference
code meta-recsys/generative-recommenders, the model of MLPerf Inference's DLRMv3).

One query = one user: the user's action history (a jagged sequence of `seq_len` item/action
tokens, mean `seq_len`, standard deviation `seq_std`) with `candidates` items to rank appended.
Each HSTU layer (paper Eq. 1-3):
    U, V, Q, K = split(SiLU(f1(X)))                       f1: d -> h (2 d_qk + 2 d_v)
    A V        = SiLU(Q K^T + rab^{p,t}) V / n             pointwise (no softmax), causal
    Y          = f2(Norm(A V) * U)                          f2: h d_v -> d
The pointwise attention runs as a fused FlashAttention-style kernel (generative-recommenders
ops/triton hstu_attention): it is costed as the Attention op with a causal mask. Jagged lengths:
linear layers cost the total token count (batch x (mean + candidates)); attention costs
sum_i n_i^2 = batch x (mean^2 + std^2), expressed as batch sequences of the effective length
sqrt(mean^2 + std^2) + candidates.
Embeddings: an item-id table plus `num_tables - 1` side tables (action type, creator, ...), each
read once per token (history and candidates); placement over HBM / host DRAM / SSD in
perf/placement.py. Defaults and their sources: data/models/workloads/hstu.yaml.

Stages (`stage`): "ranking" scores `candidates` items appended to the history (the head MLP
per candidate). "retrieval" (the paper's retrieval setting: the same sequential encoder; the
output at the user's last position is the query embedding, scored by dot product against
the item embeddings) encodes the history alone and then scores every item of the corpus:
brute-force maximum inner product search, a GEMM of the batch's user embeddings against the
`item_rows` x `emb_dim` item-id table with k-selection over the scores (exact k-NN as
Johnson et al., "Billion-scale similarity search with GPUs", IEEE TBD 2019: distance tiles by
GEMM, then k-select; no ANN index assumed, so the scan is an upper bound on what an IVF/HNSW
index would read). The scan is recorded in graph.meta["retrieval_scan"]; perf/recsys.py
hstu_throughput reads it from the tier the item table lives in.
"""

from __future__ import annotations

import math

from ..errors import TapeoutError, require_positive
from ..ops import Attention, Collective, EmbeddingGather, Op, OpGraph
from ..precision import Precision, dtype_bytes
from .blocks import as_precision, check_batch, eltwise, linear


STAGES = ("ranking", "retrieval")
SCORE_BYTES = 4  # fp32 inner-product scores, written by the GEMM and read by the k-select (module doc)


def hstu_tables(num_tables: int, item_rows: float, side_rows: float) -> list[tuple[str, float]]:
    if int(num_tables) != num_tables or num_tables < 1:
        raise TapeoutError(f"num_tables must be a whole number >= 1, got {num_tables}; HSTU needs at least the item-id table.")
    require_positive("item_rows", item_rows)
    if num_tables > 1:
        require_positive("side_rows", side_rows)
    return [("item_id", float(item_rows))] + [(f"side{i}", float(side_rows)) for i in range(1, int(num_tables))]


def hstu_graph(batch: int = 1, seq_len: float = 2048, seq_std: float = 1024, candidates: int = 256, layers: int = 12,
               d_model: int = 512, heads: int = 4, d_qk: int = 128, d_v: int = 128, num_tables: int = 3,
               item_rows: float = 1e9, side_rows: float = 1e7, emb_dim: int = 512, head_mlp: tuple[int, ...] = (256, 1),
               shards: int = 1, precision: str | Precision = "bf16", emb_dtype: str = "fp16",
               stage: str = "ranking") -> OpGraph:
    """`batch` users (queries), each a jagged history + `candidates` items to rank, or (stage
    "retrieval") a history whose user embedding is scored against the whole item corpus."""
    if stage not in STAGES:
        raise TapeoutError(f"stage must be one of {', '.join(STAGES)}, got '{stage}'.")
    if stage == "retrieval":
        candidates = 0  # the history alone is encoded; the corpus scan replaces the candidate head
    n = check_batch(batch)
    require_positive("seq_len", seq_len)
    require_positive("seq_std", seq_std, allow_zero=True)
    require_positive("candidates", candidates, allow_zero=stage == "retrieval")  # a ranking query scores >= 1 item
    for f, v in (("layers", layers), ("d_model", d_model), ("heads", heads), ("d_qk", d_qk), ("d_v", d_v),
                 ("emb_dim", emb_dim), ("shards", shards)):
        require_positive(f, v)
    tables = hstu_tables(num_tables, item_rows, side_rows)
    pr = as_precision(precision)
    eb = dtype_bytes(emb_dtype)
    per_user = float(seq_len) + float(candidates)
    tokens = n * per_user
    ops: list[Op] = []
    for name, rows in tables:
        ops.append(EmbeddingGather(name=f"emb.{name}", lookups=tokens / shards, rows=rows / shards, row_bytes=emb_dim * eb,
                                   pooling=1.0, dim=emb_dim, out_dtype="fp16"))
    if shards > 1:  # table/row-wise sharded: every chip receives the embeddings of its users' tokens
        ops.append(Collective(name="emb.all_to_all", collective="all_to_all",
                              payload_bytes=tokens * len(tables) * emb_dim * dtype_bytes("fp16") / shards, group=shards))
    ops.append(linear("input_proj", tokens, d_model, emb_dim * len(tables), pr))
    n_eff = int(math.ceil(math.sqrt(float(seq_len) ** 2 + float(seq_std) ** 2) + candidates))
    uvqk = heads * (2 * d_qk + 2 * d_v)
    ops.append(linear("layer.f1_uvqk", tokens, uvqk, d_model, pr, count=layers))
    ops.append(eltwise("layer.silu_uvqk", tokens * uvqk, pr, 4, count=layers))
    ops.append(Attention(name="layer.pointwise_attn", count=layers, batch=n, q_len=n_eff, kv_len=n_eff, heads=heads,
                         kv_heads=heads, d_qk=d_qk, d_v=d_v, causal=True, act_dtype=pr.activations,
                         kv_dtype=pr.activations, math_dtype=pr.compute))
    ops.append(eltwise("layer.norm_gate", tokens * heads * d_v, pr, 8, reads=2, count=layers))
    ops.append(linear("layer.f2", tokens, d_model, heads * d_v, pr, count=layers))
    meta = {"model": "hstu", "batch": n, "units": n, "unit": "queries", "tokens": tokens, "seq_len_eff": n_eff,
            "shards": shards, "embedding_bytes": sum(r for _, r in tables) * emb_dim * eb, "stage": stage}
    if stage == "retrieval":
        if d_model != emb_dim:  # user embedding into the item-embedding space
            ops.append(linear("retrieval.user_proj", n, emb_dim, d_model, pr))
        local_rows = float(item_rows) / shards  # row-wise sharded corpus: each chip scans its rows
        meta["retrieval_scan"] = {"table": "emb.item_id", "rows": local_rows, "row_bytes": emb_dim * eb, "dim": emb_dim,
                                  "queries": n, "flops": 2.0 * n * local_rows * emb_dim,
                                  "score_bytes": 2.0 * n * local_rows * SCORE_BYTES}
    else:
        k = d_model
        for i, w in enumerate(head_mlp):
            ops.append(linear(f"head.fc{i}", n * max(candidates, 1), w, k, pr,
                              out_dtype="fp32" if i == len(head_mlp) - 1 else None))
            k = w
    return OpGraph(f"hstu:{stage}:{n}users:{seq_len:g}tok:{layers}L:{pr.name}", ops, meta)
