"""R-GAT on IGBH-Full: the MLPerf Inference and Training "gnn" benchmark.

Definition (cited at the commit read): mlcommons/training graph_neural_network/README.md
@1c8a098 and train_rgnn_multi_gpu.py @1c8a098 (3 layers, hidden 512, 4 heads, fan-out
15,10,5, batch 1024 per GPU, 2,983 classes), model alibaba/graphlearn-for-pytorch
examples/igbh/rgnn.py @181b75a (HeteroConv of GATConv(in, hidden/heads, heads) per relation,
then Linear(hidden, classes)), dataset examples/igbh/dataset.py @0cf542a (269,346,174 paper
and 277,220,883 author nodes among 547,306,935 nodes of 1,024 features; 11 relation types on
IGBH-Full).

Neighbour sampling (no de-duplication; each sampled node has one edge to the node that drew it,
so edges = sampled nodes - 1). `sampling="tree"`: a seed samples `f1` neighbours, each of those `f2`,
each of those `f3`, so nodes(hop h) = prod(f_1..f_h) (916 per seed for 15,10,5).
`sampling="per-relation"` (default): DGL's and GLT's neighbour samplers apply an integer fan-out to
every relation (edge type) separately (DGL dgl.dataloading.NeighborSampler docs: "every node gather[s]
messages from a fixed number of neighbors per edge type"; "If only a single integer is provided, DGL
assumes that every edge type will have the same fanout"), so a node of type t draws min(f_h, D_r) neighbours over each
relation r into t. With mean degrees d_r = E_r / N_t of IGBH-Full (data/models/workloads/rgat.yaml
igbh_full) the expected count of type-s nodes at hop h is
    n_h[s] = sum_{r: s -> t} n_{h-1}[t] * min(f_h, d_r),
an upper bound on each relation's expectation (E[min(f, D)] <= min(f, E[D]), Jensen: min is concave)
but a lower bound overall: journal and conference edges have no published count and are left out.
Layers run on message-flow graphs (DGL blocks, the NVIDIA implementation; PyG trim_to_layer):
GNN layer l (1 = input) projects the source nodes of hops 0..L-l+1 and aggregates the edges
into hops 0..L-l, so the input layer sees the whole tree and the last only the seed's edges.
A GAT layer (Velickovic et al. 2018, arXiv:1710.10903): Wh for every source node (GEMM), one
attention logit per edge and head (a^T [Wh_i || Wh_j], LeakyReLU), edge softmax over each
node's in-edges, and the weighted sum of the neighbours' Wh (a gather of one hidden row per
edge: memory-bound). Projections: under `tree` each sampled node is projected once per layer;
under `per-relation` each relation with edges projects its source-type and destination-type nodes
(DGL HeteroGraphConv of GATConv, and PyG HeteroConv of GATConv in the reference: projected_rows).

The input features of every sampled node are gathered from the feature table (`feature_rows`
rows of in_dim x feature dtype). Where that table lives (HBM shards over the node's chips, or
host memory read over the host link) is perf/gnn.py; here it is one gather op.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache
from importlib import resources

import yaml

from ..errors import TapeoutError
from ..inputs import finite
from ..ops import EmbeddingGather, Op, OpGraph
from ..precision import Precision, dtype_bytes
from .blocks import as_precision, check_batch, eltwise, linear

# all IGBH-Full nodes, each with a 1,024-dim feature (every node type has a node_feat.npy, dataset.py):
# "547,306,935 nodes and 5,812,005,639 edges" (mlcommons/inference graph/R-GAT/README.md @031e1b7)
IGBH_FULL_FEATURE_ROWS = 547_306_935
IGBH_FULL_RELATIONS = 11  # dataset.py: 4 relations + their 3 reverses + published/venue and reverses on 'full'
RGAT_DEFAULTS = dict(batch=1024, fanouts=(15, 10, 5), in_dim=1024, hidden=512, heads=4, num_classes=2983)


def check_fanouts(fanouts) -> tuple[int, ...]:
    """Fan-outs as a tuple of whole numbers >= 1, one per GNN layer."""
    if isinstance(fanouts, str):
        fanouts = [x for x in fanouts.replace(" ", "").split(",") if x]
    if isinstance(fanouts, (int, float)):
        fanouts = (fanouts,)
    fan = tuple(fanouts)
    if not fan:
        raise TapeoutError("fanouts: an R-GAT needs at least one layer; give one fan-out per layer, e.g. fanouts=15,10,5.")
    out = []
    for i, f in enumerate(fan):
        try:
            v = float(f)
        except (TypeError, ValueError):
            raise TapeoutError(f"fanouts[{i}] must be a whole number >= 1, got {f!r}; e.g. fanouts=15,10,5.") from None
        if not math.isfinite(v) or v != int(v) or v < 1:
            raise TapeoutError(f"fanouts[{i}] must be a whole number >= 1, got {f}; e.g. fanouts=15,10,5.")
        out.append(int(v))
    return tuple(out)


def hop_nodes(fanouts) -> list[int]:
    """Sampled nodes per seed at hop 0 (the seed) .. L: prod(f_1..f_h)."""
    fan = check_fanouts(fanouts)
    return [math.prod(fan[:h]) for h in range(len(fan) + 1)]


def sampled_nodes(fanouts) -> int:
    """Nodes of one seed's sampled tree: 1 + f1 + f1 f2 + ... (no de-duplication)."""
    return sum(hop_nodes(fanouts))


def relation_hop_types(fanouts, degrees, seed_type: str) -> list[dict[str, float]]:
    """Expected sampled nodes per seed and node type at hop 0 (the seed) .. L when the fan-out applies
    per relation: `degrees` is ((dst_type, src_type, mean degree), ...), one row per relation."""
    fan = check_fanouts(fanouts)
    counts = {seed_type: 1.0}
    hops = [counts]
    for f in fan:
        nxt: dict[str, float] = defaultdict(float)
        for dst, src, deg in degrees:
            if dst in counts:
                nxt[src] += counts[dst] * min(float(f), float(deg))
        counts = dict(nxt)
        hops.append(counts)
    return hops


def relation_hop_nodes(fanouts, degrees, seed_type: str) -> list[float]:
    """Expected sampled nodes per seed at hop 0 .. L (relation_hop_types summed over node types)."""
    return [sum(h.values()) for h in relation_hop_types(fanouts, degrees, seed_type)]


def projected_rows(hop_types: list[dict[str, float]], layer: int, degrees) -> float:
    """Rows one seed's GNN layer `layer` (1 = input) projects under DGL's HeteroGraphConv: every relation
    with edges in the block runs its own GATConv on (source-type nodes, destination-type nodes), and
    GATConv with a (src, dst) pair applies fc to both (dgl python/dgl/nn/pytorch/hetero.py, DGL guide
    3.3 "Heterogeneous GraphConv Module"; conv/gatconv.py `feat_src = self.fc(h_src)`,
    `feat_dst = self.fc(h_dst)`). Sources = hops 0..L-l+1, destinations = hops 0..L-l."""
    L = len(hop_types) - 1

    def by_type(hops):
        out: dict[str, float] = defaultdict(float)
        for h in hops:
            for t, v in h.items():
                out[t] += v
        return out

    src, dst = by_type(hop_types[: L - layer + 2]), by_type(hop_types[: L - layer + 1])
    return sum(src.get(s, 0.0) + dst[d] for d, s, _ in degrees if dst.get(d, 0.0) > 0)


def relation_degrees(nodes: dict, edges: dict) -> tuple[tuple[str, str, float], ...]:
    """(dst type, src type, mean degree) per sampled relation of a graph given as raw `src__rel__dst` edge
    counts, built as the IGBH reference does: every relation between two types gets its reverse; a
    relation within one type (cites) is made symmetric with one self-loop per node."""
    out = []
    for name, e in edges.items():
        s, _, d = name.split("__")
        if s == d:
            out.append((s, s, (2.0 * e + nodes[s]) / nodes[s]))
        else:
            out += [(d, s, e / nodes[d]), (s, d, e / nodes[s])]
    return tuple(out)


def csc_entries(nodes: dict, edges: dict) -> tuple[float, float]:
    """(column-index entries, column-pointer entries) of the graph of `edges` (raw `src__rel__dst`
    counts) stored as CSC the way relation_degrees builds it: a relation between two types is stored
    forward and reversed (2 E indices; N_dst + 1 and N_src + 1 pointers), a relation within one type is
    made symmetric with one self-loop per node (2 (E + N) indices, N + 1 pointers). NVIDIA's MLPerf
    preprocessing (training_results_v4.0 NVIDIA/benchmarks/gnn/implementations/dgl utility/preprocessing.py
    build_graph_edge: add_self_loop then add_reverse for cites, build_reverse for the others, CSC with
    duplicate entries expanded) stores exactly these arrays. Relations without a count are absent."""
    idx = ptr = 0.0
    for name, e in edges.items():
        s, _, d = name.split("__")
        if s == d:
            idx += 2.0 * (float(e) + nodes[s])
            ptr += nodes[s] + 1.0
        else:
            idx += 2.0 * float(e)
            ptr += nodes[s] + nodes[d] + 2.0
    return idx, ptr


@lru_cache(maxsize=1)
def igbh_full_csc_entries() -> tuple[float, float]:
    """csc_entries of IGBH-Full from the data file (a lower bound: journal/conference edges uncounted)."""
    g = _igbh_full_facts()
    return csc_entries(g["nodes"]["value"], g["edges"]["value"])


@lru_cache(maxsize=1)
def _igbh_full_facts() -> dict:
    text = resources.files("tapeout").joinpath("data", "models", "workloads", "rgat.yaml").read_text()
    return yaml.safe_load(text)["igbh_full"]


@lru_cache(maxsize=1)
def igbh_full() -> tuple[tuple[tuple[str, str, float], ...], str]:
    """IGBH-Full's sampled relations (relation_degrees) and the seed node type, from the data file."""
    g = _igbh_full_facts()
    return relation_degrees(g["nodes"]["value"], g["edges"]["value"]), str(g["seed_type"]["value"])


SAMPLING = ("per-relation", "tree")


def sampled_hops(fanouts, sampling: str = "per-relation") -> list[float]:
    """Sampled nodes per seed at hop 0..L under a sampling rule of SAMPLING (module doc)."""
    return [sum(h.values()) for h in _hop_types(fanouts, sampling)[0]]


def _hop_types(fanouts, sampling: str):
    """(per-type hop counts, relations): the tree is one relation of one node type, drawing f_h each."""
    if sampling == "tree":
        return [{"node": float(h)} for h in hop_nodes(fanouts)], (("node", "node", math.inf),)
    if sampling == "per-relation":
        degrees, seed = igbh_full()
        return relation_hop_types(fanouts, degrees, seed), degrees
    raise TapeoutError(f"sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}; e.g. sampling=per-relation.")


def rgat_params(in_dim: int = 1024, hidden: int = 512, heads: int = 4, layers: int = 3, num_classes: int = 2983,
                relations: int = IGBH_FULL_RELATIONS) -> int:
    """Trainable parameters of rgnn.py's RGNN('rgat'): per layer and relation a GATConv(in, hidden/heads,
    heads) = shared linear in x hidden (no bias) + att_src, att_dst and bias of hidden each; then
    Linear(hidden, classes) with bias."""
    per_layer = [(in_dim if i == 0 else hidden) * hidden + 3 * hidden for i in range(layers)]
    return relations * sum(per_layer) + hidden * num_classes + num_classes


def rgat_graph(batch: int = 1024, fanouts=(15, 10, 5), in_dim: int = 1024, hidden: int = 512, heads: int = 4,
               num_classes: int = 2983, feature_dtype: str = "fp16", feature_rows: float = IGBH_FULL_FEATURE_ROWS,
               precision: str | Precision = "bf16", sampling: str = "per-relation") -> OpGraph:
    """Forward pass of R-GAT over `batch` seeds' sampled subgraphs (module doc)."""
    n = check_batch(batch)
    fan = check_fanouts(fanouts)
    in_dim, hidden, heads, num_classes = (int(finite(f, v, ge=1, integer=True)) for f, v in (
        ("in_dim", in_dim), ("hidden", hidden), ("heads", heads), ("num_classes", num_classes)))
    if hidden % heads:
        raise TapeoutError(f"hidden ({hidden}) must be a multiple of heads ({heads}): each head gets hidden/heads channels.")
    feature_rows = finite("feature_rows", feature_rows, gt=0)
    pr = as_precision(precision)
    hop_types, degrees = _hop_types(fan, sampling)
    hops = [sum(h.values()) for h in hop_types]
    L = len(fan)
    nodes = sum(hops)
    fb = dtype_bytes(feature_dtype, "feature_dtype")
    ops: list[Op] = [EmbeddingGather(name="feature_gather", lookups=float(n * nodes), rows=float(feature_rows),
                                     row_bytes=float(in_dim * fb), out_dtype=feature_dtype, dim=int(in_dim))]
    hb = dtype_bytes(pr.activations)
    for layer in range(1, L + 1):
        src = sum(hops[: L - layer + 2])  # hops 0..L-l+1
        dst = sum(hops[: L - layer + 1])  # hops 0..L-l
        edges = src - 1  # every source node but the seed has one edge into the hop before it
        k = in_dim if layer == 1 else hidden
        # tree: one homogeneous GATConv projects each source once (DGL blocks: feat_dst = feat_src[:num_dst])
        rows = src if sampling == "tree" else projected_rows(hop_types, layer, degrees)
        ops.append(linear(f"gat{layer}.proj", round(n * rows), hidden, k, pr))  # expected rows, rounded
        # attention logits: a_src.Wh_j and a_dst.Wh_i per node and head (2 FLOPs per channel)
        ops.append(eltwise(f"gat{layer}.att_logits", n * rows * hidden, pr, 2, reads=1, writes=2.0 * heads / hidden))
        # edge softmax: e_ij = LeakyReLU(l_i + l_j), exp, per-node sum, divide (~5 FLOPs per edge and head)
        ops.append(eltwise(f"gat{layer}.edge_softmax", n * edges * heads, pr, 5, reads=2, writes=1))
        # aggregation: each edge reads one source row of `hidden` and accumulates alpha x row
        ops.append(EmbeddingGather(name=f"gat{layer}.aggregate", lookups=float(n * edges), rows=float(n * src),
                                   row_bytes=float(hidden * hb), pooling=max(1.0, edges / dst),
                                   out_dtype=pr.activations, dim=int(hidden)))
        if layer < L:
            ops.append(eltwise(f"gat{layer}.leaky_relu_dropout", n * dst * hidden, pr, 2))
    ops.append(linear("classifier", n, num_classes, hidden, pr))
    params = rgat_params(in_dim, hidden, heads, L, num_classes)
    return OpGraph(f"rgat:b{n}:fan{'-'.join(map(str, fan))}:{sampling}:{pr.name}", ops, {
        "model": "rgat", "batch": n, "units": n, "unit": "seeds", "fanouts": fan, "sampling": sampling, "sampled_nodes_per_seed": nodes,
        "sampled_edges_per_seed": nodes - 1, "feature_bytes_per_seed": nodes * in_dim * fb,
        "feature_table_bytes": float(feature_rows) * in_dim * fb, "params": params, "weight_bytes": params * 2.0})
