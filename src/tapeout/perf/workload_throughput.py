"""Throughput of a workload preset on one chip or a numpy-array sweep of chip designs
(the study runner, `tapeout workload` and the design-space explorer call this): the op graph
of workloads/catalog.py costed with the per-op model (opcost) or the recommendation model (recsys).
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError, require_positive
from ..hardware.catalog import Chip, get_chip
from ..hardware.memory_capacity import quoted_gb
from ..hardware.params import ChipParams
from ..workloads.catalog import (BUILDERS, USABLE_MEMORY_FRACTION, WORKLOADS, build_workload, get_preset, memory_needed,
                                 preset_files, tables_may_leave_device)
from .calibration import engine_params
from .opcost import evaluate
from .recsys import best_qps, recsys_cost


def _params(chip_or_params) -> ChipParams:
    if isinstance(chip_or_params, ChipParams):
        return chip_or_params
    if isinstance(chip_or_params, (str, Chip)):
        return engine_params(get_chip(chip_or_params))
    raise TapeoutError("chip must be a catalog name, a Chip or ChipParams.")


def resolve_workload(name: str, overrides: dict) -> tuple:
    """(preset or None, builder kind, builder params, non-graph settings) of a preset name or a
    builder name with `overrides` (placement, latency bound, Zipf exponent, host tiers)."""
    preset = get_preset(name) if name.strip().lower() not in BUILDERS or name in WORKLOADS else None
    kind = preset.kind if preset else name
    params = {**(preset.defaults if preset else {}), **overrides}
    extra = {k: params.pop(k, None) for k in ("placement", "latency_bound_s", "zipf_s", "host_dram_gb", "ssd_gbps",
                                           "shard_chips")}
    for k, zero_ok in (("latency_bound_s", False), ("zipf_s", True), ("host_dram_gb", True), ("ssd_gbps", False),
                       ("shard_chips", False)):  # Zipf s = 0 is uniform popularity; no host DRAM is a choice
        if extra[k] is not None:
            require_positive(k, extra[k], allow_zero=zero_ok)
    extra["placement"] = extra["placement"] or "auto"
    extra["latency_bound_s"] = extra["latency_bound_s"] or (preset.latency_bound_s if preset else None)
    return preset, kind, params, extra


def workload_graph(name: str, **overrides):
    """The op graph `workload_throughput` costs for a preset (with `--set` overrides), its
    preset (None for a builder name) and the builder parameters."""
    preset, kind, params, _ = resolve_workload(name, overrides)
    return build_workload(kind, **params), preset, params


def workload_throughput(name: str, chip_or_params, **overrides) -> dict:
    """Time per unit, units/s per chip, energy per unit and the dominant bound.

    chip_or_params: catalog chip name, Chip, or ChipParams (scalars or numpy arrays: the result
    arrays then have the design shape). A batch that does not fit memory raises a TapeoutError
    for one chip, and gives units_per_s = 0 (fits = False) for those designs of a sweep.
    Recommendation presets also report `qps_p99`, queries/s under the preset's p99 bound
    (M/M/1 bound, perf/recsys.py).
    """
    preset, kind, params, extra = resolve_workload(name, overrides)
    placement = extra["placement"]
    latency_bound = extra["latency_bound_s"]
    zipf_s, host_dram_gb, ssd_gbps = extra["zipf_s"], extra["host_dram_gb"], extra["ssd_gbps"]
    graph = build_workload(kind, **params)
    p = _params(chip_or_params)
    units = float(graph.meta.get("units", graph.meta.get("batch", 1)))
    is_rec = kind in ("dlrmv2", "monolith")
    off_device = tables_may_leave_device(kind)  # tables in host / SSD tiers: only weights and activations on the chip
    if kind == "hstu":
        from .recsys import hstu_throughput

        facts = preset_files()["hstu"]["hstu"]  # sourced defaults (models/workloads/hstu.yaml)
        return hstu_throughput(name, preset.metric if preset else "queries/s", graph, p, zipf_s,
                               host_dram_gb if host_dram_gb is not None else facts["host_dram_gb"]["value"],
                               ssd_gbps if ssd_gbps is not None else facts["ssd_gbps"]["value"])
    need = memory_needed(graph, include_embeddings=not off_device)
    cap = np.asarray(p.mem_capacity, dtype=float) * USABLE_MEMORY_FRACTION
    fits = need <= cap
    if np.ndim(fits) == 0 and not bool(fits):
        bfield = "samples" if kind == "dlrmv2" else ("candidates" if kind == "monolith" else "batch")
        b = graph.meta.get("batch")
        lower = f"lower {bfield} (--set {bfield}=N)" if b is None or b > 1 else "use smaller inputs (resolution, frames)"
        if b is not None and b > 1 and bfield in params:  # would one unit fit? else lowering the batch cannot help
            one = memory_needed(build_workload(kind, **{**params, bfield: 1}), include_embeddings=not off_device)
            if one > float(cap):
                lower = f"even {bfield}=1 needs {quoted_gb(one):.1f} GB, so use smaller inputs (resolution, frames)"
        raise TapeoutError(
            f"{name}: {bfield}={b} needs {quoted_gb(need):.1f} GB but {p.chip_id or 'the chip'} has "
            f"{quoted_gb(float(cap)):.1f} GB usable; {lower} or use a chip with more memory."
        )
    if kind == "rgat":  # the same memory rule as every workload here and the explorer (explore/mix.py)
        from .gnn import rgat_throughput

        return rgat_throughput(name, preset.metric if preset else "seeds/s", graph, p, float(extra["shard_chips"] or 1),
                               memory_bytes=need)
    out: dict = {"workload": name, "metric": preset.metric if preset else "units/s", "unit": preset.unit if preset else "unit",
                 "units_per_graph": units, "memory_gb": quoted_gb(need)}
    if is_rec:
        kw = {"placement": placement}
        if zipf_s is not None:
            kw["zipf_s"] = zipf_s
        rc = recsys_cost(graph, p, **kw)
        t, e, bound = rc["time"], rc["energy"], rc["bound"]
        out["host_time_s"] = rc["host_time"]
        if rc["tier_bytes"] is not None:  # one chip: where each table lives, bytes per query per tier
            out["placement"] = [f"{k}: {v}" for k, v in rc["table_tier"].items()]
            out.update({f"bytes_per_query_{k}": v / units for k, v in rc["tier_bytes"].items()})
        if latency_bound:
            base = {k: v for k, v in params.items() if k not in ("samples", "candidates")}
            bkey = "samples" if kind == "dlrmv2" else "candidates"
            per_q = 1.0 if kind == "dlrmv2" else float(params.get("candidates", 512))

            def svc(b):
                g = build_workload(kind, **{**base, bkey: int(b * per_q) if kind == "monolith" else b})
                return recsys_cost(g, p, **kw)["time"]

            qps, bq = best_qps(svc, [1, 4, 16, 64, 256, 1024], latency_bound)
            out["qps_p99"] = qps
            out["qps_p99_batch"] = bq
            out["latency_bound_s"] = latency_bound
    else:
        cost = evaluate(graph, p)
        t, e, bound = cost.total_time, cost.total_energy, cost.dominant_bound()
    t = np.asarray(t, dtype=float)
    ups = np.where(fits, units / t, 0.0)
    out.update({
        "time_s": t, "time_per_unit_s": t / units, "units_per_s": ups if np.ndim(ups) else float(ups),
        "energy_per_unit_j": np.asarray(e, dtype=float) / units, "bound": bound if np.ndim(bound) else str(bound),
        "fits": fits,
    })
    if np.ndim(t) == 0:
        for k in ("time_s", "time_per_unit_s", "energy_per_unit_j"):
            out[k] = float(out[k])
        out["fits"] = bool(fits)
    return out
