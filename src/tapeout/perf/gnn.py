"""Where R-GAT's node-feature table lives and what reading a mini-batch's features costs.

IGBH-Full has 546.6 M paper + author nodes of 1,024 features (workloads/gnn.py): 2.2 TB in
FP32, 1.12 TB in FP16, 0.56 TB in FP8. The reference (mlcommons/training
graph_neural_network/README.md) keeps FP16 features in host memory and reads them zero-copy
from the GPU (`--pin_feature`, UVA) over the host link. NVIDIA's MLPerf Training v4.0
implementation (training_results_v4.0 NVIDIA/benchmarks/gnn/implementations/dgl: README,
config_DGXH200_1x8x2048.sh) stores FP8 features by default (FP8_EMBEDDING=1) in WholeGraph
storage, in the GPUs' memory across the node on an 8 x H200 (WG_SHARDING_LOCATION=cuda,
PARTITION=node), in host memory on one 8 x H100 node (the same implementation's
config_SYS-421GE-TNHR2-LCC_1x8x2048.sh, Supermicro: WG_SHARDING_LOCATION=cpu) and in every GPU of
8 and 64 H100 nodes (config_DGXH100_8x8x1024.sh, ASUSTeK; config_DGXH100_64x8x512.sh: cuda, global,
distributed), and overlaps the next batch's sampling and gather with training (TRAIN_OVERLAP=1).

Placement rule (WholeGraph's three options, as NVIDIA's v4.0 configs pick them per system): the
table is sharded over the node's chips (`shard_chips`; WG_SHARDING_LOCATION=cuda, PARTITION=node)
when one shard fits the usable HBM (USABLE_MEMORY_FRACTION of capacity) beside `resident_bytes`,
what each chip must hold besides (its shard of the graph structure when the sampler walks it in
HBM, GRAPH_DEVICE=cuda) and the batch's gathered features; else, on several nodes, over all
`all_chips` (PARTITION=global, TYPE=distributed) when that shard fits; else it stays in host
memory (WG_SHARDING_LOCATION=cpu). Bytes of a batch's features: B = seeds x sampled nodes x
in_dim x feature bytes. Read time on top of the local HBM gather the op graph already costs:
    node shards    B (g - 1)/g / scale-up bandwidth  (the g-1 remote shards over NVLink)
    global shards  the all-to-all of B over the n chips (perf/collectives.py collective_time):
                   WholeMemory's DISTRIBUTED type is not mapped into the other GPUs, so a gather
                   exchanges the ids and then the rows with NCCL (cugraph wholegraph
                   wholememory_gather_nccl, exchange_embeddings_nccl_func; docs wholegraph/basics
                   wholememory_implementation_details.md: "Distributed ... not mapped"): (g-1)/n of
                   B over NVLink, (n-g)/n over the chip's NIC, both links at once
    host memory    B / host-link bandwidth           (PCIe / C2C zero-copy reads)
Node shards and host memory are mapped WholeMemory (CONTINUOUS): the gather kernel loads remote rows
directly, at the link's bandwidth.
The read overlaps the previous batch's compute: t = max(t_device, t_read).
"""

from __future__ import annotations

import numpy as np

from ..hardware.memory_capacity import quoted_gb
from ..ops import OpGraph
from ..workloads.catalog import USABLE_MEMORY_FRACTION
from .opcost import evaluate


def feature_home(table_bytes: float, shard_chips, mem_capacity, resident_bytes=0.0, all_chips=None) -> np.ndarray:
    """'hbm' where one of `shard_chips` shards fits the usable HBM beside `resident_bytes`, else
    'hbm-global' where one of `all_chips` (> shard_chips) shards does, else 'host' (module doc;
    broadcasts)."""
    g = np.maximum(np.asarray(shard_chips, dtype=float), 1.0)
    n = g if all_chips is None else np.maximum(np.asarray(all_chips, dtype=float), g)
    room = np.asarray(mem_capacity, dtype=float) * USABLE_MEMORY_FRACTION - np.asarray(resident_bytes, dtype=float)
    table = np.asarray(table_bytes, dtype=float)
    return np.where(table / g <= room, "hbm", np.where((n > g) & (table / n <= room), "hbm-global", "host"))


def feature_read_s(batch_bytes: float, home, shard_chips, scaleup_bw, host_bw, global_s=0.0) -> np.ndarray:
    """Seconds to bring a batch's features to the chip beyond its local HBM gather (module doc);
    `global_s` the all-to-all time of global shards."""
    g = np.maximum(np.asarray(shard_chips, dtype=float), 1.0)
    node = batch_bytes * (1.0 - 1.0 / g) / np.maximum(np.asarray(scaleup_bw, dtype=float), 1.0)
    host = batch_bytes / np.maximum(np.asarray(host_bw, dtype=float), 1.0)
    home = np.asarray(home)
    return np.where(home == "hbm", node, np.where(home == "hbm-global", np.asarray(global_s, dtype=float), host))


def batch_feature_read(graph: OpGraph, p, shard_chips: float = 1.0, all_chips: float | None = None,
                       resident_bytes: float = 0.0, family: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(home, seconds) of one batch of `graph` (an rgat_graph) on chip parameters `p` of `family`:
    `shard_chips` the node's chips, `all_chips` every data-parallel chip, `resident_bytes` what each
    chip holds besides the table shard and the batch's gathered features (module doc)."""
    from .collectives import collective_time, topology_for

    b = float(graph.meta["feature_bytes_per_seed"]) * float(graph.meta["batch"])
    home = feature_home(graph.meta["feature_table_bytes"], shard_chips, p.mem_capacity, resident_bytes + b, all_chips)
    n = int(all_chips or shard_chips)
    t_global = collective_time("all_to_all", b, n, topology_for(p, family))[0] if n > shard_chips else 0.0
    return home, feature_read_s(b, home, shard_chips, p.scaleup_bw, p.host_bw, t_global)


def rgat_throughput(name: str, metric: str, graph: OpGraph, p, shard_chips: float = 1.0,
                    memory_bytes: float | None = None) -> dict:
    """Seeds/s of one chip: device time of the batch's graph overlapped with its feature read.
    `memory_bytes`: what the chip holds (workloads/catalog.memory_needed without the feature table,
    checked against its memory by the caller); None: the weights alone."""
    cost = evaluate(graph, p)
    home, t_read = batch_feature_read(graph, p, shard_chips)
    t_dev = np.asarray(cost.total_time, dtype=float)
    t = np.maximum(t_dev, t_read)
    units = float(graph.meta["batch"])
    out = {"workload": name, "metric": metric, "unit": "seed", "units_per_graph": units,
           "time_s": t, "time_per_unit_s": t / units, "units_per_s": units / t,
           "energy_per_unit_j": np.asarray(cost.total_energy, dtype=float) / units,
           "bound": np.where(t_read > t_dev, "feature-read", str(cost.dominant_bound())),
           "feature_home": home, "feature_read_s": t_read, "device_s": t_dev, "fits": True,
           "sampled_nodes_per_seed": graph.meta["sampled_nodes_per_seed"],
           "feature_bytes_per_seed": graph.meta["feature_bytes_per_seed"],
           "memory_gb": quoted_gb(graph.meta["weight_bytes"] if memory_bytes is None else memory_bytes)}
    if np.ndim(t) == 0:
        for k in ("time_s", "time_per_unit_s", "units_per_s", "energy_per_unit_j", "feature_read_s", "device_s"):
            out[k] = float(out[k])
        out["bound"], out["feature_home"] = str(out["bound"]), str(home)
    return out
