"""Embedding placement over memory tiers: HBM, host DRAM, SSD (one chip's share of the tables).

Tables are placed whole (table-wise sharding over `shards` chips divides every table's rows
and lookups by `shards`, the TorchRec row-wise plan) in the order of lookups per byte, densest
first, while they fit the HBM budget. A table that does not fit whole lives in host DRAM (or
on SSD when host DRAM is full) and the HBM left over caches its hottest rows: a Zipf(s) hit
fraction hit(C) = H_{C,s} / H_{N,s} (perf/recsys.py zipf_hit_rate) of its lookups is served
from HBM, the rest from its home tier. Bytes per query per tier:
    HBM    sum over tables of lookups x row_bytes x (1 if resident else hit)
    host   sum over host tables of lookups x (1 - hit) x ceil(row_bytes / 64) x 64  (PCIe read completions)
    SSD    sum over SSD tables of lookups x (1 - hit) x ceil(row_bytes / 4096) x 4096 (NVMe 4-KiB reads)
Time per query = max over tiers of bytes / tier bandwidth (tiers read in parallel, pipelined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import TapeoutError
from ..hardware.memory_capacity import quoted_gb
from .recsys import DEFAULT_ZIPF_S, PCIE_GRANULARITY, zipf_hit_rate

SSD_PAGE = 4096  # NVMe logical block read granularity (bytes), NVM Express Base Spec 2.0 Sec. 3.2.3


@dataclass(frozen=True)
class TableDemand:
    name: str
    rows: float
    row_bytes: float
    lookups: float  # per query

    @property
    def bytes(self) -> float:
        return self.rows * self.row_bytes


def place_tables(tables: list[TableDemand], hbm_bytes: float, host_bytes: float, shards: int = 1,
                 zipf_s: float = DEFAULT_ZIPF_S) -> dict:
    """Where each table lives and the bytes per query read from each tier (module doc)."""
    if not tables:
        raise TapeoutError("tables: a recommendation model needs at least one embedding table.")
    if shards < 1:
        raise TapeoutError(f"shards must be >= 1, got {shards}.")
    if hbm_bytes < 0 or host_bytes < 0:
        raise TapeoutError("hbm_bytes and host_bytes must be >= 0.")
    local = [TableDemand(t.name, t.rows / shards, t.row_bytes, t.lookups / shards) for t in tables]
    order = sorted(local, key=lambda t: t.lookups / max(t.bytes, 1.0), reverse=True)
    free_hbm, free_host = float(hbm_bytes), float(host_bytes)
    home = {}
    for t in order:
        if t.bytes <= free_hbm:
            home[t.name], free_hbm = "hbm", free_hbm - t.bytes
        elif t.bytes <= free_host:
            home[t.name], free_host = "host", free_host - t.bytes
        else:
            home[t.name] = "ssd"
    spilled = [t for t in local if home[t.name] != "hbm"]
    spill_lookups = sum(t.lookups for t in spilled) or 1.0
    per_tier = {"hbm": 0.0, "host": 0.0, "ssd": 0.0}
    rows = []
    for t in local:
        hit, cached = 1.0, t.rows
        if home[t.name] != "hbm":  # leftover HBM caches hot rows, split by lookup share
            cached = min(free_hbm * (t.lookups / spill_lookups) / t.row_bytes, t.rows)
            hit = float(zipf_hit_rate(cached, t.rows, zipf_s))
        gran = {"hbm": 1, "host": PCIE_GRANULARITY, "ssd": SSD_PAGE}[home[t.name]]
        miss_bytes = t.lookups * (1.0 - hit) * math.ceil(t.row_bytes / gran) * gran
        per_tier["hbm"] += t.lookups * hit * t.row_bytes
        if home[t.name] != "hbm":
            per_tier[home[t.name]] += miss_bytes
        rows.append({"table": t.name, "tier": home[t.name], "gb": quoted_gb(t.bytes), "hbm_hit": hit, "cached_rows": cached})
    return {"tables": rows, "bytes_per_query": per_tier, "shards": shards}


def scan_bytes(table: dict, rows: float, row_bytes: float) -> dict:
    """Bytes a full sequential scan of one placed table (a row of place_tables' "tables")
    reads from each tier: its HBM-resident or HBM-cached rows from HBM, the rest from its home
    tier. Sequential reads fill whole PCIe completions / NVMe pages, so no granularity waste."""
    out = {"hbm": 0.0, "host": 0.0, "ssd": 0.0}
    cached = min(float(table["cached_rows"]), rows)
    out["hbm"] += cached * row_bytes
    if table["tier"] != "hbm":
        out[table["tier"]] += (rows - cached) * row_bytes
    return out


def tier_time(bytes_per_query: dict, hbm_bw, host_bw, ssd_bw) -> np.ndarray:
    """Seconds per query of the embedding reads: the slowest tier (tiers overlap)."""
    return np.maximum.reduce([bytes_per_query["hbm"] / np.asarray(hbm_bw, dtype=float),
                              bytes_per_query["host"] / np.asarray(host_bw, dtype=float),
                              bytes_per_query["ssd"] / np.asarray(ssd_bw, dtype=float)])
