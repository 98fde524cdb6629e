"""Custom NPUs in a study: run each design space (tapeout.explore) under the study's
constraints, then evaluate the best designs on the study's own workload mix exactly as the
catalog chips are evaluated, so a custom design and an H100 answer the same question."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from ..errors import TapeoutError
from ..hardware.catalog import Chip, Spec
from ..hardware.memory_capacity import quoted_gb
from ..ops import PEAK_KEYS
from .constraints import EXPORT_CLASSES
from .evaluate import safe_evaluate

PEAK_FIELDS = {"fp32": "fp32_tflops", "tf32": "tf32_tflops_dense", "bf16": "bf16_tflops_dense", "fp16": "fp16_tflops_dense",
               "fp8": "fp8_tflops_dense", "int8": "int8_tops_dense", "int4": "int4_tops_dense", "fp6": "fp6_tflops_dense",
               "fp4": "fp4_tflops_dense"}
UNIT_COST_NOTE = ("in-house silicon: manufacturing cost (dies, HBM, packaging, test, yield loss), no margin; "
                  "NRE / program volume is added by study/pricing.py")


class CustomChip(Chip):
    """A design-space point dressed as a catalog chip; params() is the NPU template's model."""

    _params = None

    def params(self, calibration=None):
        return self._params


def space_path(base: Path, rel: str) -> Path:
    return (base / rel) if not Path(rel).is_absolute() else Path(rel)


def space_dict(study, base: Path, rel: str) -> dict:
    """The design space `rel` (relative to the study file) with the study's constraints and
    search settings merged in, validated (load_space) before anything runs."""
    from ..explore.space import load_space

    if not space_path(base, rel).is_file():
        raise TapeoutError(f"design_spaces: file '{rel}' not found (relative to the study file, in {base}).")
    load_space(space_path(base, rel))  # one-line errors: missing, binary, empty, wrong kind, bad field
    d = yaml.safe_load(space_path(base, rel).read_text(encoding="utf-8-sig"))
    cons = list(d.get("constraints") or [])
    c = study.constraints
    if c.max_tdp_w:
        cons.append({"metric": "tdp_w", "max": c.max_tdp_w})
    if c.max_die_area_mm2:
        cons.append({"metric": "die_area_mm2", "max": c.max_die_area_mm2})
    if c.max_unit_cost_usd:
        cons.append({"metric": "unit_cost_usd", "max": c.max_unit_cost_usd})
    if EXPORT_CLASSES.get(c.export):
        cons = [x for x in cons if "export" not in x] + [{"export": EXPORT_CLASSES[c.export]}]
    if c.hbm_generations:
        cons.append({"allowed": {"mem_type": c.hbm_generations}})
    fp = dict(d.get("floorplan") or {})
    fp.update({k: v for k, v in (("packaging", c.packaging), ("year", c.package_year), ("cooling", c.cooling),
                                 ("chips_per_rack", c.chips_per_rack), ("rack_kw", c.rack_kw)) if v is not None})
    if fp:
        d["floorplan"] = fp
    if c.buildable:
        from ..econ.floorplan import LIMITS

        have = {x.get("limit") for x in cons}
        cons += [{"limit": lim} for lim in LIMITS if lim not in have]
        d["physical_limits"] = True  # the reticle too, even where the space file alone opts out
    else:  # the study opts out of the limits, the space's default physical limits included
        d["physical_limits"] = False
    d["constraints"] = cons
    s = dict(d.get("search") or {})
    s.update(seed=study.search.seed, budget=study.search.budget)
    if study.search.method != "auto":
        s["method"] = study.search.method
    d["search"] = s
    d.setdefault("name", Path(rel).stem)
    try:
        load_space(d)
    except TapeoutError as e:
        raise TapeoutError(f"design_spaces '{rel}' with the study's constraints: {e}") from None
    return d


def _custom_chip(name: str, row: dict, floorplan: dict | None = None) -> CustomChip:
    from ..econ.yield_cost import nre_per_unit
    from ..explore.npu import hardware, load_template, npu_params
    from ..explore.space import load_space  # noqa: F401  (validates template names)

    design = {k: np.array([v]) for k, v in row.items() if k in _template_params()}
    hw = hardware(design)
    p = npu_params(design, hw=hw)
    scalar = _scalarize(p)
    node = str(row.get("node", "N5"))
    # the template's unit cost carries NRE at its default volume (1e5): take it out; the study
    # charges its own itemised NRE over the program volume (study/pricing.py)
    unit = float(hw["unit_cost_usd"][0]) - float(nre_per_unit(1e5, node))
    src = "tapeout NPU template (data/npu/template.yaml) + econ model"
    specs = {PEAK_FIELDS[k]: Spec(float(hw["peaks"][i][0]) / 1e12, "TFLOPS", "model", src) for i, k in enumerate(PEAK_KEYS)
             if float(hw["peaks"][i][0]) > 0 and k in PEAK_FIELDS}
    specs.update({
        "memory_capacity_gb": Spec(float(quoted_gb(hw["mem"]["mem_capacity"][0])), "GB", "model", src),
        "memory_bandwidth_tbps": Spec(float(hw["mem"]["mem_bw"][0]) / 1e12, "TB/s", "model", src),
        "memory_type": Spec(str(row.get("mem_type")), "", "model", src),
        "tdp_w": Spec(float(hw["tdp_w"][0]), "W", "model", src),
        "logic_die_area_mm2_total": Spec(float(hw["silicon_mm2"][0]), "mm2", "model", src),
        "process_node": Spec(node, "", "model", src),
        "price_usd": Spec(unit, "USD", "model", UNIT_COST_NOTE),
        "scaleup_domain_size": Spec(float(np.asarray(p.scaleup_domain).ravel()[0]), "chips", "model", src),
        "scaleup_bw_gbps_bidir": Spec(float(np.asarray(p.scaleup_bw).ravel()[0]) * 2 / 1e9, "GB/s", "model", src),
        "onchip_sram_mb": Spec(float(hw["sram_mb"][0]), "MB", "model", src),
    })
    c = CustomChip(id=name, name=name, vendor="custom", family="custom-npu", form_factor="oam", specs=specs)
    c._params = scalar.replace(chip_id=name)
    # the design point itself (what an architect builds from), template parameters in order
    c._design = {k: (v.item() if isinstance(v, np.generic) else v)
                 for k, ps in load_template().params.items() if (v := row.get(k, ps.default)) is not None}
    c._hw = {"unit_cost_usd": unit, "tpp": float(hw["tpp"][0]), "pd": float(hw["pd"][0]),
             "export_class": int(hw["export_class"][0]), "band_2026": bool(hw["band_2026"][0]),
             "die_area_mm2": float(hw["die_area_mm2"][0]), "silicon_mm2": float(hw["silicon_mm2"][0]),
             "clock_eff_ghz": float(hw["clock_eff_ghz"][0]), "tdp_w": float(hw["tdp_w"][0])}
    # floorplan limits (econ.floorplan): the settings and each margin (>= 0: met)
    from ..econ.floorplan import FLOORPLAN_METRICS

    c._hw.update({f"floorplan_{k}": v for k, v in (floorplan or {}).items()})
    c._hw.update({k: float(row[k]) for k in FLOORPLAN_METRICS if row.get(k) is not None})
    return c


def _template_params() -> set[str]:
    from ..explore.npu import load_template

    return set(load_template().params)


def _scalarize(p):
    """ChipParams of one design (arrays of length 1) -> scalars (per-dtype arrays keep axis 0)."""
    import dataclasses

    ch = {}
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if isinstance(v, np.ndarray):
            if f.name in ("peak_flops", "pj_per_flop", "eff_compute") and v.ndim == 2:
                ch[f.name] = v[:, 0].copy()
            elif v.ndim == 1 and v.shape[0] == 1:
                ch[f.name] = float(v[0])
    return p.replace(**ch)




def explore_spaces(study, spaces: list[dict], out: Path, matrix: list[dict], ref: str | None, progress=None,
                   backend: str = "local", address: str | None = None):
    from ..explore import explore
    from ..explore.maturity import baseline_metrics
    from ..explore.objectives import Evaluator
    from ..explore.space import load_space
    from ..explore.store import Store
    from .runner import chip_summary

    designs, info, candidates = [], {}, []
    db = out / "designs.duckdb"
    for sd in spaces:
        if progress:
            progress(f"exploring {sd['name']}")
        res = explore(sd, db=str(db), backend=backend, address=address)
        sp = load_space(sd)
        ev = Evaluator(sp)
        info[sd["name"]] = {"method": res.method, "evaluated": res.evaluated, "reused": res.reused, "total": res.total,
                            "feasible": res.feasible, "front_size": res.front_size, "seconds": round(res.seconds, 2),
                            "removed_by": res.removed}
        try:  # the design cloud is drawn relative to the reference chip
            norm = baseline_metrics(ev, ref) if ref else None
        except TapeoutError as e:  # e.g. the reference cannot hold one of the space's workloads (Wan2.2 on 80 GB)
            norm = None  # the front's designs still run the study's workloads below; only the cloud is not drawn
            info[sd["name"]]["cloud_not_drawn"] = str(e)
        st = Store(str(db), read_only=True)
        try:
            rows = st.rows(columns=["key", "feasible", "reasons", "perf_per_watt", "perf_per_tco", "node", "cores", "array_rows",
                                    "mem_type", "mem_stacks", "clock_ghz", "chiplets"],
                           where="context = ?", params=[res.context])
        finally:
            st.close()
        front_keys = {int(f["key"]) for f in res.front}
        rng = np.random.default_rng(0)
        if len(rows) > 3000:  # keep the page light: every front point plus a sample of the rest
            keep = set(rng.choice(len(rows), 3000, replace=False).tolist())
            rows = [r for i, r in enumerate(rows) if i in keep or int(r["key"]) in front_keys]
        for r in rows:
            if norm is None or not r.get("perf_per_watt") or not r.get("perf_per_tco"):
                continue  # designs whose metrics are undefined (e.g. do not fit) are not plotted
            designs.append({"space": sd["name"], "feasible": bool(r["feasible"]), "on_front": int(r["key"]) in front_keys,
                            "reason": (r.get("reasons") or "").split("; ")[0],
                            "perf_per_watt": r["perf_per_watt"] / norm["perf_per_watt"],
                            "perf_per_tco": r["perf_per_tco"] / norm["perf_per_tco"] if norm.get("perf_per_tco") else None,
                            "params": {k: r[k] for k in ("node", "cores", "array_rows", "mem_type", "mem_stacks", "clock_ghz", "chiplets")}})
        front = sorted(res.front, key=lambda f: -f.get("perf_per_tco", 0))[: study.search.top_k]
        for i, f in enumerate(front):
            c = _custom_chip(f"npu-{sd['name'].removeprefix('npu-')}-{i + 1}", f, sp.floorplan.model_dump(exclude_none=True))
            c._explorer = {"space": sd["name"], "perf_per_tco": f.get("perf_per_tco"), "perf_per_watt": f.get("perf_per_watt")}
            candidates.append(c)
    from .constraints import split_candidates
    from .pricing import price_matrix

    candidates, excluded = split_candidates(candidates, study.constraints)  # the same rules as the catalog chips
    extra_matrix = []
    for c in candidates:
        for w in study.workloads:
            row = safe_evaluate(w, c, study.chips_per_node)  # its _graph feeds the runner's rooflines
            extra_matrix.append(row)
            if progress:
                progress(f"{w.name} on {c.id}")
    programs = price_matrix(study, extra_matrix, candidates)
    matrix.extend(extra_matrix)
    summary = [s for s in chip_summary(study, matrix, ref) if s["chip"] in {c.id for c in candidates}]
    for name in info:  # does the study's engine (perf/mlperf.serve_at_scale & co.) confirm the explorer's ranking?
        info[name]["engine_agreement"] = front_agreement([c for c in candidates if c._explorer["space"] == name], summary)
    ok = [s for s in summary if s.get("fleet_tco_usd_per_year")]
    chosen = None
    pick = min(ok, key=lambda s: s["fleet_tco_usd_per_year"]) if ok else (max(summary, key=lambda s: s.get("perf_per_watt") or 0) if summary else None)
    if pick:
        c = next(x for x in candidates if x.id == pick["chip"])
        spec = {"name": c.id, **{k: (round(v.value, 3) if isinstance(v.value, float) else v.value) for k, v in sorted(c.specs.items())},
                **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in c._hw.items()}}
        from ..rules.export import CLASS_CODES

        spec["export_class"] = CLASS_CODES[c._hw["export_class"]]
        spec["architecture"] = dict(c._design)
        chosen = {
            "name": c.id, "spec": spec,
            "compliance": {"chip": c.id, "tpp": c._hw["tpp"], "pd": c._hw["pd"], "class": spec["export_class"],
                           "band_2026": c._hw["band_2026"]},
            "cost_stack": _design_cost_stack(c, programs[c.id]["nre_per_chip_usd"]),
        }
    info["_programs"], info["_excluded"], info["_candidates"] = programs, excluded, candidates
    return designs, chosen, info, summary


def rank_correlation(a: list[float], b: list[float]) -> float | None:
    """Spearman's rho of two score lists (ranks by argsort; ties are not expected for
    continuous scores); None with fewer than three pairs."""
    if len(a) != len(b) or len(a) < 3:
        return None
    ra = np.argsort(np.argsort(np.asarray(a, dtype=float)))
    rb = np.argsort(np.argsort(np.asarray(b, dtype=float)))
    return float(np.corrcoef(ra, rb)[0, 1])


def front_agreement(candidates: list, summary: list[dict]) -> dict:
    """The explorer's vectorized scores of its front designs against the same designs re-scored
    on the study's workloads by the serving/training engines: Spearman rho of the two
    perf-per-TCO and perf-per-watt rankings (1 = the engine confirms the explorer's order)."""
    by = {s["chip"]: s for s in summary}
    out: dict = {"designs": 0}
    for m in ("perf_per_tco", "perf_per_watt"):
        pairs = [(c._explorer[m], by[c.id][m]) for c in candidates
                 if c.id in by and c._explorer.get(m) is not None and by[c.id].get(m) is not None]
        out["designs"] = max(out["designs"], len(pairs))
        out[f"spearman_{m}"] = rank_correlation([x for x, _ in pairs], [y for _, y in pairs])
    return out


def _design_cost_stack(c: CustomChip, nre_per_chip: float) -> dict:
    """The same cost items as the catalog chips' stacks, for a design (econ.yield_cost.unit_cost),
    with the program's NRE per chip."""
    from ..econ.yield_cost import unit_cost
    from .runner import COST_ITEMS

    s = c.specs
    mt = str(s["memory_type"].value)
    n = max(1.0, float(c._hw["silicon_mm2"] / c._hw["die_area_mm2"]))
    u = unit_cost(c._hw["die_area_mm2"], str(s["process_node"].value), n_dies=n, memory_gb=float(s["memory_capacity_gb"].value),
                  memory_type=mt)
    out = {k: float(np.asarray(u[k])) for k in COST_ITEMS if k in u}
    out["nre"] = float(nre_per_chip)
    return out
