"""Per-op diagnostics of every study row that has an op graph (LLM serving: one decode step;
ranking, video, speech, ...: one graph of the preset's batch, re-costed op by op with
perf/opcost.evaluate exactly as perf/workload_throughput does):

- rooflines: one per chip with its calibrated roof, and one point per (workload, op class):
  FLOPs / DRAM bytes against FLOPs / time summed over the class's ops;
- step-time components: compute- or memory-busy time (max(t_c, t_m) of each op, attributed to
  the larger), collectives, per-kernel launch and scheduling overhead (t_kernel, calibrated
  kernel_overhead_us per unfused kernel), fixed-function engines, and host time not hidden
  behind the device (embedding rows served from host DRAM/SSD; the workload's time minus the
  device graph time);
- energy per unit of work (power x time per unit) and memory per chip against its capacity.
"""

from __future__ import annotations

import numpy as np

from ..hardware.catalog import get_chip
from ..hardware.memory_capacity import quoted_gb
from ..ops import OP_KINDS, PEAK_KEYS
from ..perf.calibration import calibrated_params
from ..perf.opcost import K_COLL, K_FIXED, CostTable, evaluate

CLASSES = ("matmul", "attention", "elementwise", "embedding")  # OP_KINDS 0..3
COMPONENTS = ("compute", "memory", "communication", "kernel launch + scheduling", "fixed-function", "host (not overlapped)")


def _cost(g: tuple, chip, params) -> tuple[CostTable, float]:
    """The CostTable of the row's graph and the host time the workload adds on top of it."""
    if g[0] == "llm":
        from ..perf.llm import step_costs

        _, model, prec, sr = g
        return step_costs(model, chip, prec, "decode", sr.batch_size, sr.input_len, sr.output_len, sr.tp, sr.ep, None), 0.0
    from ..perf.workload_throughput import workload_graph

    _, model, prec, over, t_row = g
    graph = workload_graph(model, precision=prec, **over)[0]
    ct = evaluate(graph, params)
    return ct, max(0.0, t_row - float(ct.total_time))


def components(ct: CostTable, host_s: float = 0.0) -> dict[str, float]:
    """Seconds of one step in each of COMPONENTS; they sum to the step time plus host_s."""
    c = ct.table.count
    busy = np.maximum(ct.compute_time, ct.memory_time)
    rest = ct.time - busy - ct.comm_time  # t_kernel + t_fixed
    fixed = ct.table.kind == K_FIXED
    coll = ct.table.kind == K_COLL
    return {"compute": float((busy * c * (ct.compute_time >= ct.memory_time) * ~coll).sum()),
            "memory": float((busy * c * (ct.compute_time < ct.memory_time) * ~coll).sum()),
            "communication": float((ct.comm_time * c).sum()),
            "kernel launch + scheduling": float((rest * c * ~fixed).sum()),
            "fixed-function": float((rest * c * fixed).sum()),
            "host (not overlapped)": float(host_s)}


def class_points(ct: CostTable, workload: str) -> list[dict]:
    """One roofline point per op class with DRAM traffic and time."""
    t, c = ct.table, ct.table.count
    tot = float(ct.total_time)
    pts = []
    for k, name in enumerate(CLASSES):
        sel = t.kind == OP_KINDS.index(name)
        fl, by, tm = (float((a * c * sel).sum()) for a in (t.flops, ct.dram_bytes, ct.time))
        if by > 0 and tm > 0 and fl > 0:
            pts.append({"label": f"{workload}: {name}", "op_class": name, "workload": workload, "intensity": fl / by,
                        "tflops": fl / tm / 1e12, "time_share": tm / tot})
    return pts


def diagnostics(matrix: list[dict], chips: dict | None = None) -> tuple[list[dict], dict, list[dict]]:
    """(rooflines, time-by-bound shares per (workload, chip), per-row diagnostics); pops each
    row's `_graph`. `chips` maps custom ids to their Chip."""
    from ..precision import COMPUTE_PEAK_FIELD, get_precision

    roofs: dict[str, dict] = {}
    shares, rows = {}, []
    for r in matrix:
        g = r.pop("_graph", None)
        if not g:
            continue
        chip = (chips or {}).get(r["chip"]) or get_chip(r["chip"])
        p = calibrated_params(chip)
        ct, host = _cost(g, chip, p)
        tot = float(ct.total_time)
        shares[(r["workload"], r["chip"])] = {k: float(v) / tot for k, v in ct.time_by_bound().items()}
        comp = components(ct, host)
        kernels = float((ct.table.count * ((ct.table.kind != K_COLL) & (ct.table.kind != K_FIXED) & ~ct.table.fused)).sum())
        ups = r.get("units_per_s_per_chip")
        rows.append({"workload": r["workload"], "chip": r["chip"], "step": "decode step" if g[0] == "llm" else "one batch",
                     "step_s": tot + host, "components_s": comp, "kernels": kernels,
                     "kernel_overhead_us": float(np.max(p.kernel_overhead)) * 1e6,
                     "energy_per_unit_j": float(r["power_w"]) / float(ups) if ups and r.get("power_w") else None,
                     "unit": r.get("unit"), "memory_gb": r.get("memory_gb"),
                     "capacity_gb": float(quoted_gb(np.max(p.mem_capacity)))})
        rf = roofs.get(r["chip"])
        if rf is None:
            key = COMPUTE_PEAK_FIELD[get_precision(g[2]).compute]
            eff = np.asarray(p.eff_compute)
            e = float(eff[PEAK_KEYS.index(key)]) if eff.ndim else float(eff)
            rf = roofs[r["chip"]] = {"chip": r["chip"], "dtype": key, "peak_tflops": float(p.peak(key)) * e / 1e12,
                                     "bandwidth_tbps": float(p.mem_bw) * float(p.eff_mem) / 1e12, "points": []}
        rf["points"] += class_points(ct, r["workload"])
    return list(roofs.values()), shares, rows
