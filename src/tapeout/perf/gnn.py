"""Where R-GAT's node-feature table lives and what reading a mini-batch's features costs.

IGBH-Full has 546.6 M paper + author nodes of 1,024 features (workloads/gnn.py): 2.2 TB in
FP32, 1.12 TB in FP16, 0.56 TB in FP8. The reference (mlcommons/training
graph_neural_network/README.md) keeps FP16 features in host memory and reads them zero-copy
from the GPU (`--pin_feature`, UVA) over the host link. NVIDIA's MLPerf Training v4.0
implementation (training_results_v4.0 NVIDIA/benchmarks/gnn/implementations/dgl: README,
config_DGXH200_1x8x2048.sh) stores FP8 features by default (FP8_EMBEDDING=1) in WholeGraph
shards in the GPUs' memory across the node (WG_SHARDING_LOCATION=cuda, PARTITION=node),
and overlaps the next batch's sampling and gather with training (TRAIN_OVERLAP=1).

Placement rule: the table is sharded over the node's chips (`shard_chips`) when one shard fits
the usable HBM (USABLE_MEMORY_FRACTION of capacity), else it stays in host memory. Bytes of a
batch's features: B = seeds x sampled nodes x in_dim x feature bytes. Read time on top of the
local HBM gather the op graph already costs:
    HBM shards   B (1 - 1/g) / scale-up bandwidth  (the g-1 remote shards over NVLink)
    host memory  B / host-link bandwidth            (PCIe / C2C zero-copy reads)
The read overlaps the previous batch's compute: t = max(t_device, t_read).
"""

from __future__ import annotations

import numpy as np

from ..hardware.memory_capacity import quoted_gb
from ..ops import OpGraph
from ..workloads.catalog import USABLE_MEMORY_FRACTION
from .opcost import evaluate


def feature_home(table_bytes: float, shard_chips, mem_capacity) -> np.ndarray:
    """'hbm' where one of `shard_chips` shards fits the usable HBM, else 'host' (broadcasts)."""
    fits = np.asarray(table_bytes, dtype=float) / np.maximum(np.asarray(shard_chips, dtype=float), 1.0) \
        <= np.asarray(mem_capacity, dtype=float) * USABLE_MEMORY_FRACTION
    return np.where(fits, "hbm", "host")


def feature_read_s(batch_bytes: float, home, shard_chips, scaleup_bw, host_bw) -> np.ndarray:
    """Seconds to bring a batch's features to the chip beyond its local HBM gather (module doc)."""
    g = np.maximum(np.asarray(shard_chips, dtype=float), 1.0)
    remote = batch_bytes * (1.0 - 1.0 / g) / np.maximum(np.asarray(scaleup_bw, dtype=float), 1.0)
    host = batch_bytes / np.maximum(np.asarray(host_bw, dtype=float), 1.0)
    return np.where(np.asarray(home) == "hbm", remote, host)


def batch_feature_read(graph: OpGraph, p, shard_chips: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(home, seconds) of one batch of `graph` (an rgat_graph) on chip parameters `p`."""
    home = feature_home(graph.meta["feature_table_bytes"], shard_chips, p.mem_capacity)
    b = float(graph.meta["feature_bytes_per_seed"]) * float(graph.meta["batch"])
    return home, feature_read_s(b, home, shard_chips, p.scaleup_bw, p.host_bw)


def rgat_throughput(name: str, metric: str, graph: OpGraph, p, shard_chips: float = 1.0) -> dict:
    """Seeds/s of one chip: device time of the batch's graph overlapped with its feature read."""
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
           "memory_gb": quoted_gb(graph.meta["weight_bytes"])}
    if np.ndim(t) == 0:
        for k in ("time_s", "time_per_unit_s", "units_per_s", "energy_per_unit_j", "feature_read_s", "device_s"):
            out[k] = float(out[k])
        out["bound"], out["feature_home"] = str(out["bound"]), str(home)
    return out
