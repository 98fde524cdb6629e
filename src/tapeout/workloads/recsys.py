"""Recommendation op graphs: DLRMv2 (MLPerf DCNv2, Criteo 1TB multi-hot), MLPerf Training's DLRM (v1: one-hot,
dot interaction; dlrm_model) and a Monolith-style real-time ranking model.

DLRMv2 (model_configs.csv, mlcommons/training recommendation_v2/torchrec_dlrm README):
26 tables of dim 128 (rows per table and multi-hot sizes from the CSV; 214 lookups per
user-item pair), 13 dense features -> bottom MLP 512-256-128; the 27 x 128 = 3456-wide
concatenation goes through a 3-layer low-rank DCN-v2 cross network (rank 512):
x_{l+1} = x_0 * (U_l (V_l x_l) + b_l) + x_l  (Wang et al. 2021, arXiv:2008.13535), then the
top MLP 1024-1024-512-256-1. An MLPerf inference *sample* aggregates 100-700 user-item
pairs (mlcommons/inference dlrm_v2 README); PAIRS_PER_SAMPLE is the mean of the example
query-size distribution given in the reference harness (multihot_criteo.py comments:
lengths 100..700 with pdf .1,.6,.1,.05,.05,.05,.05 -> mean 270). The official
dist_quantile.txt was not read; this is a documented assumption.

Mixed precision for the 99.9% accuracy target: NVIDIA's MLPerf Inference v4.1 DLRMv2
configs run the DCN-v2 interaction in FP16 for every AccuracyTarget.k_99_9 system
(`interaction_op_precision = 'fp16'`), the rest INT8; L40S also keeps the top MLP in FP16
(`top_mlp_precision = 'fp16'`) (mlcommons/inference_results_v4.1
closed/NVIDIA/configs/dlrm-v2/Server/__init__.py; status: sourced). `interaction_precision`
/ `top_mlp_precision` of recsys_graph express this; the DCN layers carry ~2/3 of the MACs of a
pair (3 x 2 x 3456 x 512 = 10.6 M of 16.0 M), so FP16 there costs ~1.6x on a compute-bound chip.

Monolith (arXiv:2209.07663; demo model in bytedance/monolith markdown/demo/demo_model.py):
collisionless hash tables (cuckoo hashing: a lookup probes at most 2 buckets, so each
lookup costs up to two random row reads; Pagh & Rodler 2004), embedding dim 32 per
feature, MLP towers. The demo uses 2 features (user id, movie id) and MLP 256-64-1; a
production-style preset scales the feature count (ASSUMPTION, documented in presets).

Embedding gathers are EmbeddingGather ops: random row reads at the chip's access
granularity, with a `hot_fraction` served from on-chip SRAM (perf/recsys.py computes it
from a Zipf popularity model).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from ..errors import TapeoutError, require_positive
from ..ops import Collective, EmbeddingGather, MatMul, Op, OpGraph
from ..precision import Precision, dtype_bytes
from .blocks import as_precision, check_batch, eltwise, linear

PAIRS_PER_SAMPLE = 270.0


@dataclass(frozen=True)
class Table:
    name: str
    rows: int
    dim: int
    pooling: float  # lookups per item (multi-hot size)
    probes: float = 1.0  # random reads per lookup (cuckoo hash: <= 2)


@dataclass(frozen=True)
class RecModel:
    name: str
    tables: tuple[Table, ...]
    dense_features: int
    bottom_mlp: tuple[int, ...]
    top_mlp: tuple[int, ...]
    interaction: str = "dcnv2"  # dcnv2 | dot | concat
    dcn_layers: int = 3
    dcn_rank: int = 512
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def embedding_params(self) -> int:
        return int(sum(t.rows * t.dim for t in self.tables))

    @property
    def lookups_per_item(self) -> float:
        return float(sum(t.pooling for t in self.tables))

    def interaction_width(self) -> int:
        d = self.bottom_mlp[-1] if self.bottom_mlp else 0
        return d + sum(t.dim for t in self.tables)


def _model_configs_path():
    return resources.files("tapeout").joinpath("data", "models", "model_configs.csv")


@lru_cache(maxsize=4)
def _dlrm_rows(prefix: str = "DLRMv2") -> dict[str, str]:
    out = {}
    with _model_configs_path().open(newline="") as f:
        for r in csv.DictReader(f):
            if r["model"].startswith(prefix):
                out[r["param"]] = r["value"]
    return out


def _criteo_model(prefix: str, name: str, interaction: str, source: str) -> RecModel:
    """A Criteo 1TB ranking model of model_configs.csv (rows whose model starts with `prefix`): 26 tables, 13 dense
    features, the MLP widths and the per-table lookups as the CSV gives them."""
    d = _dlrm_rows(prefix)
    try:
        rows = [int(x) for x in d["rows_per_table"].split(",")]
        hots = [float(x) for x in d["multi_hot_sizes"].split(",")]
        dim = int(d["embedding_dim"])
        bottom = tuple(int(x) for x in d["bottom_mlp"].split("-"))
        top = tuple(int(x) for x in d["top_mlp"].split("-"))
    except KeyError as e:
        raise TapeoutError(f"model_configs.csv lacks {prefix} field {e}; restore data/models/model_configs.csv.") from None
    tables = tuple(Table(f"t{i}", r, dim, h) for i, (r, h) in enumerate(zip(rows, hots)))
    return RecModel(name, tables, dense_features=13, bottom_mlp=bottom, top_mlp=top, interaction=interaction,
                    dcn_layers=3, dcn_rank=512, source=source)


def dlrmv2_model() -> RecModel:
    return _criteo_model("DLRMv2", "dlrmv2", "dcnv2", "mlcommons/training@3e2f7317:recommendation_v2/torchrec_dlrm/README.MD")


def dlrm_model() -> RecModel:
    """MLPerf Training's DLRM (v0.7-v2.1; Naumov et al. 2019, arXiv:1906.00091): 26 one-hot tables of dim 128
    (rows capped at 40 M by --max-ind-range), bottom MLP 13-512-256-128, the pairwise dot interaction of the 27
    vectors (351 dots + the bottom output = 479 wide), top MLP 1024-1024-512-256-1 (model_configs.csv
    "DLRM v1", NVIDIA's HugeCTR config and the reference dlrm_s_pytorch.py)."""
    return _criteo_model("DLRM v1", "dlrm", "dot",
                         "mlcommons/training_results_v2.0@670fcfe5:NVIDIA/benchmarks/dlrm/implementations/hugectr/dgx_a100.py")


def monolith_model(num_features: int = 2, rows_per_feature: float = 1e8, dim: int = 32, pooling: float = 1.0,
                   mlp: tuple[int, ...] = (256, 64, 1)) -> RecModel:
    """Monolith-style ranking model: `num_features` collisionless hash tables (2 probes per
    lookup) of `rows_per_feature` live ids, concat interaction, MLP tower."""
    require_positive("num_features", num_features)
    tables = tuple(Table(f"f{i}", int(rows_per_feature), dim, pooling, probes=2.0) for i in range(num_features))
    return RecModel("monolith", tables, dense_features=0, bottom_mlp=(), top_mlp=tuple(mlp), interaction="concat",
                    source="bytedance/monolith@26e2dee9:markdown/demo/demo_model.py; arXiv:2209.07663")


def _mlp(ops: list[Op], tag: str, items: int, widths, k: int, pr: Precision) -> int:
    """Linear layers + activations; the last layer writes FP32 logits."""
    for i, n in enumerate(widths):
        last = i == len(widths) - 1
        ops.append(linear(f"{tag}.fc{i}", items, n, k, pr, out_dtype="fp32" if last else None))
        ops.append(eltwise(f"{tag}.act{i}", items * n, pr, 1 if not last else 4))
        k = n
    return k


def recsys_graph(model: RecModel, items: int, precision: str | Precision = "bf16", emb_dtype: str | None = None,
                 hot_fractions: dict[str, float] | None = None, shards: int = 1, name: str | None = None,
                 units: float | None = None, unit: str = "items", interaction_precision: str | Precision | None = None,
                 top_mlp_precision: str | Precision | None = None, replicated: frozenset[str] = frozenset(),
                 exchange_dtype: str = "fp16", splits: dict[str, int] | None = None) -> OpGraph:
    """Ranking `items` user-item pairs on one chip. Tables sharded over `shards` chips (model
    parallel) add an all-to-all of the pooled embeddings (Naumov et al. 2019, DLRM paper
    Sec. 4; `exchange_dtype` per element, S = items x sum of the sharded tables' dims x bytes / shards
    per rank; a table split row-wise over k chips, `splits[name]` = k, sends k partial pooled vectors per
    item, one per shard, summed where they land); each chip then gathers 1/shards of the lookups and runs the MLPs on items/shards
    (data-parallel MLPs). Tables named in `replicated` are data parallel (a copy on every chip:
    HugeCTR's "dp" tables): each chip gathers its own items' lookups from the whole table and
    exchanges nothing for them. `interaction_precision` / `top_mlp_precision` override `precision`
    for the DCN/dot interaction and the top MLP (module doc: DLRMv2 99.9% runs them FP16)."""
    n = check_batch(items, "items")
    require_positive("shards", shards)
    pr = as_precision(precision)
    ipr = as_precision(interaction_precision) if interaction_precision else pr
    tpr = as_precision(top_mlp_precision) if top_mlp_precision else pr
    eb = dtype_bytes(emb_dtype or pr.weights)
    hot = hot_fractions or {}
    for t in model.tables:
        if t.rows <= 0:
            raise TapeoutError(f"embedding table '{t.name}' of {model.name} has rows={t.rows}; every table needs rows > 0.")
        if t.dim <= 0:
            raise TapeoutError(f"embedding table '{t.name}' of {model.name} has dim={t.dim}; dim must be > 0.")
    ops: list[Op] = []
    local_items = max(1, -(-n // shards))
    for field_, names in (("replicated", set(replicated)), ("splits", set(splits or {}))):
        unknown = names - {t.name for t in model.tables}
        if unknown:
            raise TapeoutError(f"{field_} names tables {sorted(unknown)} that {model.name} does not have; "
                               f"use its table names ({model.tables[0].name}, ...).")
    for t in model.tables:
        split = 1 if t.name in replicated else shards  # a replicated table: this chip's items, the whole table
        ops.append(EmbeddingGather(name=f"emb.{t.name}", lookups=n * t.pooling * t.probes / shards, rows=t.rows / split,
                                   row_bytes=t.dim * eb, pooling=t.pooling * t.probes, dim=t.dim,
                                   hot_fraction=float(hot.get(t.name, 0.0)), out_dtype=pr.activations
                                   if pr.activations in ("bf16", "fp16", "fp32") else "fp16"))
    if shards > 1:
        k = splits or {}
        pooled = n * sum(t.dim * k.get(t.name, 1) for t in model.tables if t.name not in replicated) \
            * dtype_bytes(exchange_dtype)
        ops.append(Collective(name="emb.all_to_all", collective="all_to_all", payload_bytes=pooled / shards, group=shards))
    if model.bottom_mlp:
        _mlp(ops, "bottom", local_items, model.bottom_mlp, model.dense_features, pr)
    width = model.interaction_width()
    if model.interaction == "dcnv2":
        for i in range(model.dcn_layers):
            ops.append(linear(f"dcn{i}.V", local_items, model.dcn_rank, width, ipr))
            ops.append(linear(f"dcn{i}.U", local_items, width, model.dcn_rank, ipr))
            ops.append(eltwise(f"dcn{i}.cross", local_items * width, ipr, 3, reads=3))
    elif model.interaction == "dot":
        f = len(model.tables) + 1
        d = model.bottom_mlp[-1]
        ops.append(MatMul(name="interaction.dot", m=f, n=f, k=d, batch=local_items, shared_weight=False,
                          a_dtype=ipr.activations, w_dtype=ipr.activations, out_dtype=ipr.activations,
                          math_dtype=ipr.compute))
        width = d + f * (f - 1) // 2
    _mlp(ops, "top", local_items, model.top_mlp, width, tpr)
    meta = {"model": model.name, "batch": n, "items": n, "units": units if units is not None else n, "unit": unit,
            "shards": shards, "embedding_bytes": model.embedding_params * eb, "emb_dtype": emb_dtype or pr.weights}
    tag = pr.name + (f"+dcn-{ipr.name}" if ipr is not pr else "") + (f"+top-{tpr.name}" if tpr is not pr else "")
    return OpGraph(name or f"{model.name}:{n}items:{tag}:shards{shards}", ops, meta)


def table_bytes_per_chip(model: RecModel, shards: int, state_bytes: float,
                         replicated: frozenset[str] = frozenset()) -> float:
    """Bytes of embedding state (tables + optimizer state, `state_bytes` per element) one chip holds:
    1/shards of every model-parallel table (balanced placement; a planner can only do worse on its
    fullest chip) plus every replicated table whole."""
    require_positive("shards", shards)
    return float(sum(t.rows * t.dim * state_bytes / (1 if t.name in replicated else shards) for t in model.tables))


def dlrmv2_graph(samples: int = 1, pairs_per_sample: float = PAIRS_PER_SAMPLE, precision: str | Precision = "bf16",
                 emb_dtype: str | None = None, **kw) -> OpGraph:
    """`samples` MLPerf samples (queries) of `pairs_per_sample` user-item pairs each."""
    require_positive("samples", samples)
    require_positive("pairs_per_sample", pairs_per_sample)
    items = max(1, int(round(samples * pairs_per_sample)))
    return recsys_graph(dlrmv2_model(), items, precision, emb_dtype, units=samples, unit="samples", **kw)


def monolith_graph(candidates: int = 512, num_features: int = 2, rows_per_feature: float = 1e8, dim: int = 32,
                   precision: str | Precision = "bf16", emb_dtype: str | None = None, **kw) -> OpGraph:
    """One ranking request scoring `candidates` items (the demo's batch 512)."""
    check_batch(candidates, "candidates")  # named as the preset's field (recsys_graph calls it items)
    return recsys_graph(monolith_model(num_features, rows_per_feature, dim), candidates, precision, emb_dtype,
                        units=1, unit="requests", **kw)
