"""DLRM-DCNv2 training as NVIDIA's HugeCTR implementation shards it (MLPerf Training v3.0-v4.1,
NVIDIA/benchmarks/dlrm_dcnv2/implementations/*merlin_hugectr: train.py, sharding/ and the configs;
facts with their sources in other_benchmarks.yaml dlrm_train).

The 26 Criteo tables hold 204 M rows x 128: 105 GB of FP32 weights and as much again of Adagrad accumulators
(8 B per element, sharding.py), more than one 80 GB GPU. HugeCTR's "auto" plan (validation/dlrm_plan.py)
replicates the tables below DP_SHARDING_THRESHOLD (data parallel: 13 small tables, 20 k rows on one node) and
places the others model parallel, the hottest split row-wise over several GPUs where that balances the
lookups against the exchange (8 GPUs: the 100-hot table over 4). A step then runs, per GPU:
  - the gathers of 1/n of the global lookups (the model-parallel shards' share of the global batch, the
    replicated tables' own items: the same total on a balanced plan) from tables of 1/n the rows;
  - forward, an all-to-all of the pooled embeddings: one vector per sample from every shard of every
    model-parallel table (a row-wise split sends its partial sums), each GPU receiving its own items',
    S = per-GPU batch x vectors x 128 x 2 B (FP16) per rank (recsys_graph's sharded path);
  - backward, the same all-to-all of their gradients the other way;
both through NCCL (library_time: NCCL's all-to-all over the system's links, NVLink, or the PCIe / host path of
the catalog's topology for PCIe cards). train_intra_iteration_overlap hides each under the bottom MLP's forward
(backward), the one branch of the step that does not consume the exchange. Across nodes ("hier_auto") the plan
is made over the nodes and the exchange runs the collective engine's hierarchical all-to-all; the in-node
reduction of a node's row-wise partial sums is not priced, nor the replicated tables' gradient all-reduce
(20 k x 128 elements), nor the imbalance of the planner's fullest GPU (gathers priced balanced).

EMBEDDING_SHARDED: on (issue 18, round stop-40 issue-51f). Read from NVIDIA's implementation and configs, nothing
fitted; on the 40 DLRM-DCNv2 training rows every prediction moves toward its measurement (all were, and stay,
faster than measured; tables in docs/notes/issue-18.md). One chip no longer prices DLRM-DCNv2 training: its
209 GB of tables and state exceed any 80-192 GB GPU, and train.py's memory_cap_for_embedding (60 GB per GPU) holds
on one GPU as on many, so a 256-288 GB GPU needs 4 as well (`fits`; check_memory names --num-chips and the smallest
count that runs, `min_chips`; issue-52a review).

MLPerf Training's DLRM (v1, "dlrm": v0.7-v2.1; issue 18, round stop-41 issue-55c) runs through the same machinery
(`bench="dlrm"`, facts in other_benchmarks.yaml dlrm_v1_train): 26 one-hot tables of 188 M rows x 128 FP32 under
plain SGD (4 B per element, 96 GB), no planner. NVIDIA's HugeCTR v2.0 implementation (HybridSparseEmbedding)
keeps each table's frequent categories on every GPU and spreads the infrequent ones over the GPUs, exchanging only
the infrequent lookups' vectors; Google's TPUEmbedding spreads every table. Which share of Criteo's lookups is
frequent is a statistic of the data not on file, so every table is priced model parallel over the chips: one
pooled vector per table per sample exchanged, the TPU layout and an upper bound on the hybrid exchange
(DLRM_V1_EXCHANGE, off: nothing exchanged, the lower bound). Its MLPs' ReLUs run in the GEMM epilogues on HugeCTR
(NVIDIA chips), as kernels of their own on any other stack (DLRM_V1_FUSED_MLP, fused_mlp). Memory: 1/n of the tables
per chip.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import TapeoutError
from ..ops import Collective, OpGraph
from ..perf.collectives import library_time, topology_for
from ..perf.train_backward import backward_time
from ..perf.train_clock import graph_time
from ..workloads import recsys
from . import dlrm_plan

EMBEDDING_SHARDED = True
# DLRM (v1): the all-to-all of one pooled vector per table per sample (every table model parallel; module docstring).
# On: the TPUEmbedding layout and an upper bound on HugeCTR's hybrid exchange (the frequent share of the lookups, which
# HugeCTR serves locally, is a statistic of Criteo not on file); off: nothing exchanged, the lower bound. Off: only the
# bound is sourced, and on the 18 rows it moves them away from their measurements overall (median |err| 13.6% off vs
# 25.7% on, docs/notes/issue-18.md round stop-41 issue-55c), though the PCIe rows need an exchange (-49 / -67% off).
DLRM_V1_EXCHANGE = False

# DLRM (v1): on the stacks that fuse them (other_benchmarks.yaml dlrm_v1_train.fused_mlp: NVIDIA's HugeCTR,
# FusedInnerProduct "Fused GEMM + Relu + Bias fprop and GEMM + dRelu + bgrad bprop") the MLPs' ReLUs run in their GEMMs'
# epilogues and launch no kernel and make no pass of their own; every other stack (XLA on TPU: not sourced; the PyTorch
# reference: separate nn.ReLU modules) runs them as kernels of their own (fused_mlp). On: read from the submitted config
# and HugeCTR's notes, gated by the stack since round stop-41 issue-58b; decided in docs/notes/issue-18.md.
DLRM_V1_FUSED_MLP = True

# the benchmarks priced here: {benchmark: (its model, its facts' key in other_benchmarks.yaml)}
MODELS = {"dlrm-dcnv2": (recsys.dlrmv2_model, "dlrm_train"), "dlrm": (recsys.dlrm_model, "dlrm_v1_train")}
BENCHES = tuple(MODELS)


def _facts(bench: str = "dlrm-dcnv2") -> dict:
    from .other_rows import workload_facts

    return {k: v["value"] for k, v in workload_facts()[MODELS[bench][1]].items()}


def _model(bench: str) -> recsys.RecModel:
    return MODELS[bench][0]()


def fused_relus(m: recsys.RecModel) -> frozenset[str]:
    """The op names of `m`'s ReLUs (workloads/recsys._mlp: every activation but the top MLP's last, the sigmoid the
    loss kernel applies)."""
    return frozenset([f"bottom.act{i}" for i in range(len(m.bottom_mlp))] +
                     [f"top.act{i}" for i in range(len(m.top_mlp) - 1)])


def fused_mlp(vendor: str | None) -> tuple[bool, str]:
    """Whether DLRM v1's MLPs run bias + ReLU in their GEMM epilogues on the stack of a chip of `vendor`
    (hardware/catalog.vendor_of; None: no chip, the reference), and why, for the answer."""
    vendors = [str(v) for v in _facts("dlrm")["fused_mlp"]]
    if not DLRM_V1_FUSED_MLP:
        return False, "MLP ReLUs as kernels of their own (validation/dlrm_train.DLRM_V1_FUSED_MLP off)"
    if vendor in vendors:
        return True, (f"MLP bias + ReLU fused into the GEMM epilogues: {vendor} chips run NVIDIA's HugeCTR "
                      "(FusedInnerProduct; other_benchmarks.yaml dlrm_v1_train.fused_mlp)")
    why = ("TensorFlow on XLA: no source read says XLA's TPU compiler fuses them into the dot" if vendor == "Google"
           else "the reference implementation (facebookresearch/dlrm create_mlp: nn.Linear then nn.ReLU, PyTorch eager)")
    return False, (f"MLP ReLUs as kernels of their own, forward and backward: {why}; only NVIDIA's HugeCTR is sourced as "
                   f"fusing them ({', '.join(vendors)}: other_benchmarks.yaml dlrm_v1_train.fused_mlp)")


def sharded(bench: str) -> bool:
    """Whether `bench`'s tables are priced sharded over the chips (EMBEDDING_SHARDED, DLRM-DCNv2's switch; DLRM's
    tables always are: they exceed any one chip)."""
    return bench == "dlrm" or EMBEDDING_SHARDED


def _config(n: int) -> tuple[str, int]:
    """(single_node | multi_node, planner buckets) on `n` GPUs: "auto" over the GPUs of one node, "hier_auto"
    over the nodes of several (each node's GPUs then hold its tables row-wise; the exchanged vectors are the
    node plan's)."""
    gpn = int(_facts()["gpus_per_node"])
    return ("single_node", n) if n <= gpn else ("multi_node", n // gpn if n % gpn == 0 else n)


def _unit_mem_gb(bench: str = "dlrm-dcnv2") -> float:
    return _model(bench).tables[0].dim * float(_facts(bench)["state_bytes_per_elem"]) * 1e-9


@lru_cache(maxsize=64)
def plan(n_chips: int, cap_gb: float | None = None) -> dlrm_plan.Plan:
    """HugeCTR's plan on `n_chips` GPUs of `cap_gb` GB each (validation/dlrm_plan.py) at the single- or
    multi-node config facts."""
    f = _facts()
    n = int(n_chips)
    where, buckets = _config(n)
    cap = min(float(f["memory_cap_for_embedding_gb"]), cap_gb if cap_gb else float("inf")) * n / buckets
    m = recsys.dlrmv2_model()
    return dlrm_plan.plan([t.pooling for t in m.tables], [t.rows for t in m.tables], buckets,
                          float(f["dp_sharding_threshold_gb"][where]),
                          float(f["mem_comm_bw_ratio"][where]) / float(f["mem_comm_work_ratio"]), _unit_mem_gb(), cap)


def chip_cap_gb(chip) -> float | None:
    """A catalog chip's runtime memory in GB (1e9 B, the planner's unit); None without a chip."""
    from ..hardware.memory_capacity import capacity_bytes

    return float(capacity_bytes(chip)) / 1e9 if chip is not None else None


def _named(pl: dlrm_plan.Plan) -> tuple[frozenset[str], dict[str, int]]:
    names = [t.name for t in recsys.dlrmv2_model().tables]
    return frozenset(names[i] for i in pl.replicated), {names[i]: k for i, k in pl.splits.items()}


def training_graph(per_chip_batch: int, n_chips: int, precision: str = "bf16", cap_gb: float | None = None,
                   bench: str = "dlrm-dcnv2", vendor: str | None = None) -> OpGraph:
    """One GPU's `bench` training forward on `n_chips` (FP32 tables): recsys_graph's sharded path over the
    global batch (DLRM-DCNv2: the plan's replicated tables and row-wise splits; DLRM: every table model parallel,
    nothing exchanged with DLRM_V1_EXCHANGE off, the MLPs' ReLUs fused where `vendor`'s stack fuses them,
    fused_mlp); one chip holds every table."""
    n = int(n_chips)
    m = _model(bench)
    if bench == "dlrm":
        g = recsys.recsys_graph(m, per_chip_batch * n, precision, emb_dtype="fp32", shards=n,
                                exchange_dtype=str(_facts(bench)["exchange_dtype"]))
        if not DLRM_V1_EXCHANGE:  # the same gathers, nothing exchanged
            g = split(g)[0]
        if fused_mlp(vendor)[0]:  # bias + ReLU in the GEMMs' epilogues: no kernel of their own, forward or backward
            relu = fused_relus(m)
            g = OpGraph(g.name, [o for o in g.ops if o.name not in relu], g.meta)
        return g
    if n <= 1:
        return recsys.recsys_graph(m, per_chip_batch, precision, emb_dtype="fp32")
    replicated, splits = _named(plan(n, cap_gb))
    return recsys.recsys_graph(m, per_chip_batch * n, precision, emb_dtype="fp32", shards=n,
                               replicated=replicated, splits=splits, exchange_dtype=str(_facts()["exchange_dtype"]))


def table_bytes_per_chip(n_chips: int, bench: str = "dlrm-dcnv2") -> float:
    """Embedding tables + optimizer state one GPU holds on `n_chips`, the model-parallel share balanced
    (workloads/recsys.table_bytes_per_chip); DLRM-DCNv2: the plan's replicated tables whole (Adagrad: 8 B per
    element); DLRM: 1/n of every table (SGD: 4 B)."""
    n = int(n_chips)
    m = _model(bench)
    rep = dlrm_plan.replicated([t.rows for t in m.tables], float(_facts()["dp_sharding_threshold_gb"][_config(n)[0]]),
                               _unit_mem_gb()) if n > 1 and bench == "dlrm-dcnv2" else frozenset()
    return recsys.table_bytes_per_chip(m, n, float(_facts(bench)["state_bytes_per_elem"]),
                                       frozenset(m.tables[i].name for i in rep))


def fits(n_chips: int, cap_bytes: float, bench: str = "dlrm-dcnv2") -> bool:
    """Whether the tables run on `n_chips` chips of `cap_bytes` each: every chip holds its share
    (table_bytes_per_chip); DLRM-DCNv2: and NVIDIA's HugeCTR planner places the shards within the smaller of the
    chip's memory and train.py's memory_cap_for_embedding (dlrm_plan.plan; the same cap on one chip as on many)."""
    n = int(n_chips)
    if n < 1 or table_bytes_per_chip(n, bench) > cap_bytes:
        return False
    if bench == "dlrm":
        return True
    f = _facts()
    usable_gb = min(float(f["memory_cap_for_embedding_gb"]), cap_bytes / 1e9)
    if n == 1:  # one bucket: the planner places every table whole
        return table_bytes_per_chip(1) / 1e9 <= usable_gb
    try:
        plan(n, cap_bytes / 1e9)
    except TapeoutError:
        return False
    return True


def min_chips(cap_bytes: float, limit: int = 1 << 16, bench: str = "dlrm-dcnv2") -> int | None:
    """The smallest chip count on which the tables fit (`fits`); None where none up to `limit` does."""
    if cap_bytes <= 0:
        return None
    n = max(1, int(table_bytes_per_chip(1, bench) // cap_bytes))  # no fewer than the balanced share allows
    while n <= limit and not fits(n, cap_bytes, bench):
        n += 1
    return n if n <= limit else None


def check_memory(chip, p, n_chips: int, bench: str = "dlrm-dcnv2") -> float:
    """The tables' bytes per chip; TapeoutError naming --num-chips and the smallest count that runs where the
    tables do not fit `n_chips` x `chip` (p.mem_capacity) as `bench`'s stack places them (`fits`)."""
    n = int(n_chips)
    need = table_bytes_per_chip(n, bench)
    cap = float(p.mem_capacity)
    if not fits(n, cap, bench):
        least = min_chips(cap, bench=bench)
        fix = f"use --num-chips {least} or more" if least else "no chip count up to 65,536 holds them"
        if bench == "dlrm":
            raise TapeoutError(
                f"--num-chips {n}: DLRM's embedding tables ({table_bytes_per_chip(1, bench) / 1e9:.0f} GB of FP32 rows "
                f"under SGD, other_benchmarks.yaml dlrm_v1_train) need {need / 1e9:.0f} GB per chip on {n} x {chip.id}, "
                f"above its {cap / 1e9:.0f} GB; {fix} (validation/dlrm_train.py).")
        f = _facts()
        usable = min(cap / 1e9, float(f["memory_cap_for_embedding_gb"]))
        raise TapeoutError(
            f"--num-chips {n}: DLRM-DCNv2's embedding tables and their Adagrad state ({table_bytes_per_chip(1) / 1e9:.0f} GB"
            f" in all) need {need / 1e9:.0f} GB per chip on {n} x {chip.id}, and NVIDIA's HugeCTR places at most "
            f"{usable:.0f} GB of them per chip (the smaller of the chip's {cap / 1e9:.0f} GB and train.py's "
            f"memory_cap_for_embedding default {float(f['memory_cap_for_embedding_gb']):.0f} GB, other_benchmarks.yaml "
            f"dlrm_train); {fix} (validation/dlrm_train.py).")
    return need


def split(g: OpGraph) -> tuple[OpGraph, list[Collective]]:
    """(the graph without its all-to-all, the all-to-all ops): the exchange is priced over the system's
    links here, not as an op on one chip."""
    a2a = [o for o in g.ops if isinstance(o, Collective)]
    return OpGraph(g.name, [o for o in g.ops if not isinstance(o, Collective)], g.meta), a2a


def all_to_all_s(a2a: list[Collective], p, family: str) -> float:
    """Seconds of one direction of the embedding exchange (NCCL, launched from a CUDA graph: queued)."""
    topo = topology_for(p, family)
    return float(sum(float(library_time(o.collective, o.payload_bytes, o.group, topo, launch="queued")[0]) * o.count
                     for o in a2a))


def exchange(g: OpGraph, p, family: str, board=None, no_input_grad: tuple[str, ...] = (),
             bench: str = "dlrm-dcnv2") -> tuple[OpGraph, dict]:
    """(the graph to price on one chip, the exchange's terms): forward + backward all-to-all and what of
    them the bottom MLP's forward / backward leaves exposed (`bench`'s overlap_with_bottom_mlp)."""
    rest, a2a = split(g)
    t = all_to_all_s(a2a, p, family)
    out = {"emb_all_to_all_s": 2.0 * t, "emb_all_to_all_exposed_s": 2.0 * t}
    if a2a and _facts(bench)["overlap_with_bottom_mlp"]:
        bottom = OpGraph(f"{g.name}:bottom", [o for o in rest.ops if o.name.startswith("bottom.")], g.meta)
        t_f, t_b = graph_time(bottom, p, board), backward_time(bottom, p, no_input_grad, board)
        out["emb_all_to_all_exposed_s"] = max(0.0, t - t_f) + max(0.0, t - t_b)
    return rest, out
