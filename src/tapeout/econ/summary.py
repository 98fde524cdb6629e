"""Cost stack and economics summary of a catalog chip (used by `tapeout cost` and `tapeout show`)."""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources

from ..errors import TapeoutError
from .area import power_density_w_mm2
from .nodes import NODE_LABELS, coef, node_source, parse_node
from .yield_cost import is_hbm, normalize_memory_type, tested_die_cost, unit_cost

DEFAULT_VOLUME = 1_000_000


@lru_cache(maxsize=1)
def packaging_overrides() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    with resources.files("tapeout").joinpath("data", "econ", "chip_packaging.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["chip_id"], {})[r["field"]] = r["value"]
    return out


@lru_cache(maxsize=1)
def anchors() -> list[dict]:
    with resources.files("tapeout").joinpath("data", "econ", "anchors.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _num(x, default=None):
    return x if isinstance(x, float) else default


def compute_dies(chip, ov: dict | None = None, needed_by: str = "cost") -> tuple[float, float]:
    """(count, area of ONE compute die in mm^2) of a catalog chip: chip_packaging.csv's
    compute_die_count / compute_die_area_mm2 where on file, else the catalog's total logic area
    over num_compute_dies (1 when not a number)."""
    ov = packaging_overrides().get(chip.id, {}) if ov is None else ov
    n = float(ov["compute_die_count"]) if "compute_die_count" in ov else _num(chip.get("num_compute_dies"), 1.0)
    if "compute_die_area_mm2" in ov:
        return n, float(ov["compute_die_area_mm2"])
    total_area = _num(chip.get("logic_die_area_mm2_total"))
    if total_area is None:
        raise TapeoutError(f"logic_die_area_mm2_total of {chip.id} is not in the catalog: {needed_by} needs the die area.")
    return n, total_area / n


def hbm_stack_count(ov: dict, mem_type: str, capacity_gb: float):
    """HBM stacks of a package: chip_packaging.csv's hbm_stacks where on file, else the capacity over
    the GB per stack (gb_per_stack, else coefficients.csv hbm_gb_per_stack of the type), rounded up;
    0 for a memory that is not HBM."""
    if not is_hbm(mem_type):
        return 0
    if "hbm_stacks" in ov:
        return float(ov["hbm_stacks"])
    return math.ceil(capacity_gb / float(ov.get("gb_per_stack", coef("hbm_gb_per_stack", mem_type))))


def chip_cost_stack(chip, volume: float = DEFAULT_VOLUME) -> dict:
    """Manufacturing cost stack of a catalog chip: dies, HBM, packaging, assembly/test, yield
    loss, NRE per unit at `volume`. Raises TapeoutError when a needed field is missing."""
    ov = packaging_overrides().get(chip.id, {})
    node_txt = ov.get("compute_die_node") or chip.get("process_node")
    if not isinstance(node_txt, str):
        raise TapeoutError(f"process_node of {chip.id} is not in the catalog: cost needs a node (N7, N5, N4, N3, N2, SF4, SMIC_N7).")
    node = parse_node(node_txt)
    n, die_area = compute_dies(chip, ov, "cost")
    mem_type_raw = chip.get("memory_type")
    mem_type = normalize_memory_type(mem_type_raw if isinstance(mem_type_raw, str) else "HBM3")
    cap = _num(chip.get("memory_capacity_gb"), 0.0)
    stacks = hbm_stack_count(ov, mem_type, cap)
    if is_hbm(mem_type):
        per = float(ov.get("gb_per_stack", coef("hbm_gb_per_stack", mem_type)))
        mem_gb = max(cap, stacks * per)  # physical capacity bought
    else:
        mem_gb = cap
    extra_cost, extra_area, extra_n, extra_p = 0.0, 0.0, 0, 1.0
    if "extra_die_count" in ov:
        extra_n = int(float(ov["extra_die_count"]))
        ea = float(ov["extra_die_area_mm2"])
        td = tested_die_cost(ea, parse_node(ov.get("extra_die_node", node)))
        extra_cost, extra_area, extra_p = extra_n * td["cost"], extra_n * ea, td["p_good_given_pass"] ** extra_n
    r = unit_cost(
        die_area, node, n_dies=n, memory_gb=mem_gb, memory_type=mem_type, hbm_stacks=stacks, volume=volume,
        package=ov.get("package", "auto"), repairable_fraction=float(ov.get("repairable_area_fraction", 0.0)),
        spare_units=float(ov.get("spare_units", 0)), extra_die_cost=extra_cost, extra_die_area_mm2=extra_area,
        extra_dies=extra_n, extra_p_good=extra_p,
        stacked_area_mm2=n * die_area if ov.get("compute_stacked") == "1" else 0.0,
    )
    out = {k: float(v) for k, v in r.items()}
    out.update({
        "chip": chip.id, "node": node, "node_label": NODE_LABELS[node], "volume": float(volume),
        "die_area_mm2": die_area, "n_compute_dies": n, "extra_dies": extra_n, "memory_type": mem_type,
        "memory_gb_physical": mem_gb,
        "sources": {
            "wafer_price": node_source("wafer_price_usd", node),
            "d0": node_source("d0_per_cm2", node),
            "design_cost": node_source("design_cost_usd", node),
            "die_area": chip.source_of("logic_die_area_mm2_total"),
            "memory": f"data/econ/coefficients.csv hbm_usd_per_gb {mem_type}",
            "packaging": "data/econ/coefficients.csv (cowos_cost_per_interposer_mm2, assembly_test_cost_per_package_mm2)",
        },
    })
    anc = [a for a in anchors() if a["chip_id"] == chip.id and a["anchor"] in ("manufacturing_cost", "bom_estimate")]
    if anc:
        a = anc[0]
        out["anchor"] = {"name": a["anchor"], "value": float(a["value"]), "source": a["source"],
                         "model_vs_anchor": out["manufacturing"] / float(a["value"]) - 1}
    return out


def chip_econ_summary(chip, volume: float = DEFAULT_VOLUME) -> dict:
    """Area, unit cost and export class of a catalog chip, for `tapeout show CHIP`.
    Fields that cannot be computed are None (with the reason in `notes`)."""
    from ..rules.export import assess_chip

    notes = []
    area = _num(chip.get("logic_die_area_mm2_total"))
    try:
        cs = chip_cost_stack(chip, volume)
        unit_mfg, unit_total, node = cs["manufacturing"], cs["total"], cs["node_label"]
        die_yield = cs["die_yield"]
    except TapeoutError as e:
        unit_mfg = unit_total = node = die_yield = None
        notes.append(f"cost: {e}")
    comp = assess_chip(chip)
    tdp = _num(chip.get("tdp_w"))
    return {
        "logic_area_mm2": area,
        "node": node,
        "die_yield": die_yield,
        "unit_cost_manufacturing_usd": unit_mfg,
        "unit_cost_with_nre_usd": unit_total,
        "volume": float(volume),
        "power_density_w_mm2": float(power_density_w_mm2(tdp, area)) if (tdp and area) else None,
        "tpp": comp["tpp"],
        "pd": comp["pd"],
        "export_class": comp["class_3a090"],
        "case_by_case_2026": comp["case_by_case_2026"],
        # physical limits (econ.buildable): reticle per die, and the floorplan where the package is on file
        "buildable": comp["buildable"]["buildable"],
        "fits_reticle": comp["buildable"]["fits_reticle"],
        "physical_limits_checked": ", ".join(comp["buildable"]["checked"]) or "none (die area not in the catalog)",
        "unbuildable_because": comp["buildable"]["reasons"],
        "rule_version": comp["rule_version"],
        "disclaimer": comp["disclaimer"],
        "notes": notes,
    }
