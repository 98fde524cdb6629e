"""DLRM-DCNv2 training as NVIDIA's HugeCTR implementation shards it (MLPerf Training v3.0-v4.1,
NVIDIA/benchmarks/dlrm_dcnv2/implementations/*merlin_hugectr: train.py, sharding/ and the configs;
facts with their sources in other_benchmarks.yaml dlrm_train).

The 26 Criteo tables hold 204 M rows x 128: 105 GB of FP32 weights and as much again of Adagrad accumulators
(8 B per element, sharding.py), more than one 80 GB GPU. HugeCTR's "auto" plan replicates the tables
below DP_SHARDING_THRESHOLD (data parallel: 13 small tables, 20 k rows) and places the others model
parallel over the GPUs (table-wise, the hottest split further). A step then runs, per GPU:
  - the gathers of 1/n of the global lookups (the model-parallel tables' share of the global batch, the
    replicated tables' own items: the same total on a balanced plan) from tables of 1/n the rows;
  - forward, an all-to-all of the pooled embeddings of the model-parallel tables: each GPU receives its
    own items' vectors, S = per-GPU batch x sum of those tables' dims x 2 B (FP16) per rank;
  - backward, the same all-to-all of their gradients the other way;
both through NCCL (library_time: NCCL's all-to-all over the system's links, NVLink, or the PCIe / host path of
the catalog's topology for PCIe cards). train_intra_iteration_overlap hides each under the bottom MLP's forward
(backward), the one branch of the step that does not consume the exchange. The dense all-reduce, the optimizer
and the rest of the step are unchanged (other_training.py). Row-wise splits of the hot table (which add
partial-sum vectors to the exchange) and the replicated tables' gradient all-reduce (20 k x 128 elements) are not
priced.

EMBEDDING_SHARDED: on (issue 18, round stop-40 issue-51f). Read from NVIDIA's implementation and configs, nothing
fitted; on the 40 DLRM-DCNv2 training rows it moves the median signed error toward the measurements (tables in
docs/notes/issue-18.md).
"""

from __future__ import annotations

from ..errors import TapeoutError
from ..ops import Collective, OpGraph
from ..perf.collectives import library_time, topology_for
from ..perf.train_backward import backward_time
from ..perf.train_clock import graph_time
from ..workloads import recsys

EMBEDDING_SHARDED = True


def _facts() -> dict:
    from .other_rows import workload_facts

    return {k: v["value"] for k, v in workload_facts()["dlrm_train"].items()}


def plan(n_chips: int) -> frozenset[str]:
    """The tables HugeCTR replicates on `n_chips` GPUs (single- or multi-node DP threshold)."""
    f = _facts()
    where = "single_node" if n_chips <= int(f["gpus_per_node"]) else "multi_node"
    return recsys.data_parallel_tables(recsys.dlrmv2_model(), float(f["dp_sharding_threshold_gb"][where]),
                                       float(f["state_bytes_per_elem"]))


def training_graph(per_chip_batch: int, n_chips: int, precision: str = "bf16") -> OpGraph:
    """One GPU's DLRM-DCNv2 training forward on `n_chips` (FP32 tables): recsys_graph's sharded path over the
    global batch, the replicated tables from plan(); one chip holds every table."""
    n = int(n_chips)
    if n <= 1:
        return recsys.recsys_graph(recsys.dlrmv2_model(), per_chip_batch, precision, emb_dtype="fp32")
    return recsys.recsys_graph(recsys.dlrmv2_model(), per_chip_batch * n, precision, emb_dtype="fp32", shards=n,
                               replicated=plan(n), exchange_dtype=str(_facts()["exchange_dtype"]))


def table_bytes_per_chip(n_chips: int) -> float:
    """Embedding tables + Adagrad state one GPU holds on `n_chips` (workloads/recsys.table_bytes_per_chip)."""
    n = int(n_chips)
    return recsys.table_bytes_per_chip(recsys.dlrmv2_model(), n, float(_facts()["state_bytes_per_elem"]),
                                       plan(n) if n > 1 else frozenset())


def check_memory(chip, p, n_chips: int) -> float:
    """The tables' bytes per chip; TapeoutError where they exceed the chip's memory (p.mem_capacity)."""
    need = table_bytes_per_chip(n_chips)
    cap = float(p.mem_capacity)
    if need > cap:
        per = -(-table_bytes_per_chip(1) // cap)
        raise TapeoutError(f"n_chips={n_chips}: the DLRM-DCNv2 embedding tables and their Adagrad state need "
                           f"{need / 1e9:.0f} GB per chip on {n_chips} x {chip.id} ({cap / 1e9:.0f} GB each); "
                           f"use at least {int(per)} chips (NVIDIA's HugeCTR shards them, validation/dlrm_train.py).")
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


def exchange(g: OpGraph, p, family: str, board=None, no_input_grad: tuple[str, ...] = ()) -> tuple[OpGraph, dict]:
    """(the graph to price on one chip, the exchange's terms): forward + backward all-to-all and what of
    them the bottom MLP's forward / backward leaves exposed (overlap_with_bottom_mlp)."""
    rest, a2a = split(g)
    t = all_to_all_s(a2a, p, family)
    out = {"emb_all_to_all_s": 2.0 * t, "emb_all_to_all_exposed_s": 2.0 * t}
    if a2a and _facts()["overlap_with_bottom_mlp"]:
        bottom = OpGraph(f"{g.name}:bottom", [o for o in rest.ops if o.name.startswith("bottom.")], g.meta)
        t_f, t_b = graph_time(bottom, p, board), backward_time(bottom, p, no_input_grad, board)
        out["emb_all_to_all_exposed_s"] = max(0.0, t - t_f) + max(0.0, t - t_b)
    return rest, out
