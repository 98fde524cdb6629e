"""Can this chip be built? One check of a chip against the physical limits on file; each
broken limit comes back with its number, the limit, the limit's source and the fix.

The limits (PHYSICAL_LIMITS), each a sourced number in data/econ/:
- reticle: ONE die <= the lithography exposure field, 26 x 33 mm = 858 mm^2
  (coefficients.csv reticle_limit_mm2). A chiplet design is checked per die: four 800 mm^2
  dies pass, one 4,000 mm^2 die does not. A die stitched across reticle fields (wafer-scale
  integration, Cerebras WSE: chip_packaging.csv reticle_stitched) is exempt.
- edge, package, thermal, power_delivery: econ.floorplan (data/econ/floorplan.yaml): PHY
  beachfront on the die edge, package within the packaging technology's largest interposer or
  bridge (CoWoS-S 3.3x reticle in 2023, CoWoS-L 5.5x in 2026, ...), heat flux and package power
  within the cooling class (air, cold plate, immersion), package current.
The rack limit (econ.floorplan) is not one of them: how many chips a rack holds is a data-centre
choice, not a property of the chip.
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from .floorplan import LIMIT_LABELS, MARGIN_COLUMNS, FloorplanSettings, floorplan_data, limit_mask
from .nodes import coef, coef_source

PHYSICAL_LIMITS = ("reticle", "edge", "package", "thermal", "power_delivery")

# what the architect changes when a limit is broken (explore parameter or study / space setting)
FIXES = {
    "reticle": "split it into chiplets that each fit (explore: chiplets; design file: num_dies) or shrink the die "
               "(fewer cores, smaller arrays, less SRAM)",
    "edge": "fewer memory stacks or scale-up links per die, more chiplets, or a larger die",
    "package": "a larger packaging technology or a later year (floorplan.packaging: cowos-l or emib), or fewer dies "
               "and memory stacks",
    "thermal": "a stronger cooling class (floorplan.cooling: cold_plate) or less power (power_cap_w, lower clock)",
    "power_delivery": "less package power (power_cap_w, lower clock) or a liquid cooling class (floorplan.cooling: "
                      "cold_plate)",
}
LABELS = {"reticle": "die area <= reticle", **{k: LIMIT_LABELS[k] for k in PHYSICAL_LIMITS[1:]}}
UNITS = {"reticle": "mm^2", "edge": "mm", "package": "mm^2", "thermal": "W/mm^2", "power_delivery": "W"}


def _a(x):
    return np.asarray(x, dtype=float)


def reticle_limit_mm2() -> float:
    return coef("reticle_limit_mm2")


def reticle_mask(die_area_mm2, stitched=False) -> tuple[np.ndarray, np.ndarray]:
    """(ok, normalized violation >= 0) of the reticle limit on the area of ONE die."""
    lim = reticle_limit_mm2()
    a = _a(die_area_mm2)
    ok = (a <= lim) | _a(stitched).astype(bool)
    return ok, np.where(ok, 0.0, np.maximum(a - lim, 0) / lim)


def physical_mask(limit: str, m: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ok, normalized violation) of one physical limit over designs; `m` holds die_area_mm2 (one
    die) and econ.floorplan.margins() output."""
    if limit == "reticle":
        return reticle_mask(m["die_area_mm2"], m.get("reticle_stitched", False))
    return limit_mask(m, limit)


def _source(limit: str, settings: FloorplanSettings) -> str:
    fd = floorplan_data()
    if limit == "reticle":
        return "data/econ/coefficients.csv reticle_limit_mm2: " + coef_source("reticle_limit_mm2")
    if limit == "edge":
        return ("data/econ/coefficients.csv hbm_phy_shoreline_mm, serdes_shoreline_mm_per_lane, pcie_shoreline_mm, "
                "d2d_shoreline_bw_gbs_per_mm, die_edge_usable_fraction")
    if limit == "package":
        rows = [r for r in fd["packaging"][settings.packaging]["limits"] if int(r["year"]) <= settings.year]
        return f"data/econ/floorplan.yaml packaging.{settings.packaging}: {max(rows, key=lambda r: r['year'])['source']}"
    cool = fd["cooling"][settings.cooling]
    if limit == "thermal":
        return f"data/econ/floorplan.yaml cooling.{settings.cooling}.avg_w_mm2: {cool['avg_w_mm2']['source']}"
    return (f"data/econ/floorplan.yaml cooling.{settings.cooling}.package_w: {cool['package_w']['source']}; "
            f"power_delivery.max_package_current_a: {fd['power_delivery']['max_package_current_a']['source']}")


def _value_and_limit(limit: str, m: dict) -> tuple[float, float]:
    if limit == "reticle":
        return float(m["die_area_mm2"]), reticle_limit_mm2()
    if limit == "edge":
        return float(m["edge_needed_mm"]), float(m["edge_available_mm"])
    if limit == "package":
        return float(m["package_mm2"]), float(m["package_limit_mm2"])
    if limit == "thermal":
        return float(m["heat_flux_w_mm2"]), float(m["heat_flux_w_mm2"]) + float(m[MARGIN_COLUMNS["thermal"]])
    return float(m["power_w"]), float(m["power_w"]) + float(m[MARGIN_COLUMNS["power_delivery"]])


def violations(m: dict, settings: FloorplanSettings, limits: tuple[str, ...] = PHYSICAL_LIMITS) -> list[dict]:
    """Every broken limit of ONE chip: {limit, label, value, limit_value, unit, source, fix}.
    `m`: die_area_mm2, power_w, (reticle_stitched) and econ.floorplan.margins() of the chip."""
    out = []
    for lim in limits:
        ok, _ = physical_mask(lim, m)
        if bool(np.all(ok)):
            continue
        value, bound = _value_and_limit(lim, m)
        out.append({"limit": lim, "label": LABELS[lim], "value": value, "limit_value": bound, "unit": UNITS[lim],
                    "source": _source(lim, settings), "fix": FIXES[lim]})
    return out


def describe(v: dict) -> str:
    """One line per broken limit: what, how much, the fix."""
    return f"{v['label']}: {excess(v)} ({v['fix']})"


def excess(v: dict) -> str:
    """'value > limit unit' of one violation."""
    return f"{_num(v['value'])} > {_num(v['limit_value'])} {v['unit']}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"


def report(violated: list[dict], checked: list[str], notes: list[str] | None = None) -> dict:
    """The `buildable` record that show / compliance / the chip check print. A limit that was not checked
    (a catalog chip without its die area) is unknown, None: not a pass."""
    return {"buildable": not violated if checked else None,
            "fits_reticle": not any(v["limit"] == "reticle" for v in violated) if "reticle" in checked else None,
            "violations": violated, "checked": checked, "reasons": "; ".join(describe(v) for v in violated),
            "notes": notes or []}


FLOORPLAN_UNCHECKED = "the floorplan limits are not checked: "  # check_chip's note where the floorplan refused the facts


def check_catalog_chip(chip) -> dict:
    """Physical limits of a catalog chip from its published facts: the reticle per compute die
    (every chip with a die area), and the floorplan limits where its package is on file
    (data/econ/chip_packaging.csv)."""
    from .summary import packaging_overrides

    ov = getattr(chip, "package_facts", None)  # a registered chip's (api.register_chip, described_facts)
    if ov is None:
        return check_chip(chip, packaging_overrides().get(chip.id, {}))
    r = check_chip(chip, ov)
    # what a registered chip was checked against (its base's facts or described_facts' defaults): shown with it
    r["notes"].append("package facts of the registered chip (its base's on file, else register_chip's defaults): "
                      + (", ".join(f"{k} {v}" for k, v in sorted(ov.items())) or "none"))
    return r


def check_chip(chip, ov: dict) -> dict:
    """Physical limits of a chip (catalog or registered) from its specs and its package facts `ov`
    (chip_packaging.csv fields: package, hbm_stacks, cooling, compute_die_count, ...): the reticle
    per compute die where a die area is known, the floorplan limits where `ov` names the package."""
    from .chip_floorplan import chip_floorplan
    from .summary import compute_dies

    try:
        _, die = compute_dies(chip, ov, "the reticle check")
    except TapeoutError as e:
        return report([], [], [str(e)])
    m = {"die_area_mm2": die, "reticle_stitched": ov.get("reticle_stitched") == "1"}
    notes = ["die stitched across reticle fields (wafer-scale): the reticle limit does not bind"] \
        if m["reticle_stitched"] else []
    if "package" not in ov:
        notes.append("package facts not in data/econ/chip_packaging.csv (a registered chip: no tdp_w, or a memory "
                     "type the floorplan does not know): only the reticle limit is checked")
        return report(violations(m, FloorplanSettings(), ("reticle",)), ["reticle"], notes)
    try:
        fp = chip_floorplan(chip, ov=ov)
    except TapeoutError as e:  # e.g. a registered chip dated before its packaging existed: reported, not raised
        notes.append(FLOORPLAN_UNCHECKED + str(e))
        return report(violations(m, FloorplanSettings(), ("reticle",)), ["reticle"], notes)
    m.update(fp, power_w=float(chip.get("tdp_w")))
    settings = FloorplanSettings(packaging=fp["packaging"], year=int(fp["year"]), cooling=fp["cooling"])
    limits = PHYSICAL_LIMITS
    if "cooling" not in ov:
        limits = ("reticle", "edge", "package")
        notes.append("cooling class not known: the thermal and power-delivery limits are not checked")
    return report(violations(m, settings, limits), list(limits), notes)


# the chip-file fields (api.register_chip) behind each limit, and what to change there
CHIP_FIXES = {
    "reticle": "set {w}.specs.num_compute_dies to the chiplet count (each die within the reticle) or shrink "
               "{w}.specs.logic_die_area_mm2_total",
    "edge": "fewer {w}.specs.hbm_stacks or less {w}.specs.scaleup_bw_gbps_bidir per die, more "
            "{w}.specs.num_compute_dies, or a larger {w}.specs.logic_die_area_mm2_total",
    "package": "a larger packaging technology ({w}.packaging: cowos-l or emib, {w}.specs.year for its size), or fewer "
               "dies and {w}.specs.hbm_stacks",
    "thermal": "a stronger cooling class ({w}.cooling: cold_plate) or a lower {w}.specs.tdp_w",
    "power_delivery": "a lower {w}.specs.tdp_w or a liquid cooling class ({w}.cooling: cold_plate)",
}
# spec fields that change a registered chip's dies or its memory stacks: its base's package facts on
# those no longer describe it
_DIE_FIELDS = ("logic_die_area_mm2_total", "num_compute_dies")
_MEMORY_FIELDS = ("hbm_stacks",)  # a new capacity on the base's stacks may be taller stacks: they stay


def described_facts(chip, base_facts: dict, set_fields, packaging: str | None = None,
                    cooling: str | None = None) -> dict:
    """Package facts (check_chip's `ov`) of a registered chip: its base's (chip_packaging.csv) except
    where the chip sets the fields behind them (`set_fields`: die area or count, HBM stacks);
    HBM stacks its own hbm_stacks, else the base's package facts' (a new capacity on them: taller
    stacks), else its catalog hbm_stacks, else capacity / GB per stack (econ.summary.hbm_stack_count,
    the cost model's rule);
    `packaging` / `cooling` (chip file keys), else the base's, else CoWoS-S (organic without HBM) and
    no cooling class (the heat-flux and power limits then unchecked: air would refuse shipping
    liquid-cooled parts). Only the reticle facts where the memory type is not one the floorplan knows."""
    from .summary import hbm_stack_count
    from .yield_cost import normalize_memory_type

    set_fields = set(set_fields)
    ov = dict(base_facts)
    if set_fields & set(_DIE_FIELDS):
        for k in ("compute_die_count", "compute_die_area_mm2", "extra_die_count", "extra_die_area_mm2",
                  "compute_stacked"):
            ov.pop(k, None)
    if set_fields & set(_MEMORY_FIELDS):
        ov.pop("hbm_stacks", None)
    mem = chip.get("memory_type")
    try:
        mem_type = normalize_memory_type(mem if isinstance(mem, str) else "HBM3")
    except TapeoutError:
        return {k: v for k, v in ov.items() if k == "reticle_stitched"}
    own = chip.get("hbm_stacks")
    cap = chip.get("memory_capacity_gb")
    if isinstance(own, float) and ("hbm_stacks" in set_fields or "hbm_stacks" not in ov):
        ov["hbm_stacks"] = str(own)  # its own (or its base's catalog) count over the cost model's inference
    stacks = hbm_stack_count(ov, mem_type, cap if isinstance(cap, float) else 0.0)
    ov["hbm_stacks"] = str(stacks)
    ov["package"] = packaging or ov.get("package") or ("cowos-s" if stacks > 0 else "organic")
    if cooling or ov.get("cooling"):
        ov["cooling"] = cooling or ov["cooling"]
    if not isinstance(chip.get("year"), float):
        ov["year"] = str(FloorplanSettings().year)  # the floorplan's default year
    if not isinstance(chip.get("tdp_w"), float):
        ov.pop("package", None)  # the floorplan check needs the package power
    return ov


def refuse_unbuildable_chip(chip, ov: dict, where: str = "chip") -> None:
    """One TapeoutError naming every broken limit of a registered chip (check_chip with its package facts
    `ov`, described_facts), each with its number, the chip-file field behind it and the fix; nothing when
    it is buildable or its die area is not given. A package the floorplan cannot check (a year before the
    packaging technology existed) is refused too, naming the chip-file fields."""
    r = check_chip(chip, ov)
    unchecked = [n[len(FLOORPLAN_UNCHECKED):] for n in r["notes"] if n.startswith(FLOORPLAN_UNCHECKED)]
    if unchecked:
        raise TapeoutError(f"{where} '{chip.id}' cannot be checked against its package ({where}.packaging: "
                           f"{ov['package']}): {unchecked[0]} Set {where}.specs.year or {where}.packaging; or "
                           f"{where}.physical_limits: false to register it anyway.")
    if r["buildable"] is not False:  # buildable, or None: nothing could be checked (no die area)
        return
    n = chip.get("num_compute_dies")
    n = n if isinstance(n, float) else 1.0
    parts = []
    for v in r["violations"]:
        what = (f"{where}.specs.logic_die_area_mm2_total {chip.get('logic_die_area_mm2_total'):,.0f} mm^2 on {n:g} "
                f"compute die(s) is {v['value']:,.0f} mm^2 per die, beyond the {v['limit_value']:.0f} mm^2 reticle "
                "(26 x 33 mm exposure field) that one die cannot exceed") if v["limit"] == "reticle" else \
            f"{v['label']} fails ({excess(v)}; {v['source'].split(':')[0]})"
        parts.append(f"{what}: {CHIP_FIXES[v['limit']].format(w=where)}")
    setting = f" ({where}.packaging: {ov['package']}, {where}.cooling: {ov.get('cooling', 'not given')})" \
        if "package" in ov else ""
    raise TapeoutError(f"{where} '{chip.id}' cannot be built{setting}: " + "; ".join(parts)
                       + f"; or {where}.physical_limits: false to register it anyway.")


def check_package(settings: FloorplanSettings, *, die_area_mm2: float, n_dies: float = 1.0, hbm_stacks: float = 0.0,
                  memory_type: str = "HBM3", scaleup_bw_gbps_bidir: float = 0.0, power_w: float | None = None,
                  extra_dies: float = 0.0, extra_die_area_mm2: float = 0.0) -> dict:
    """Physical limits of a described (not catalogued) package: n_dies compute dies of
    die_area_mm2 each, optional extra dies, HBM stacks, scale-up bandwidth, package power (None:
    the power limits are not checked)."""
    from .chip_floorplan import package_margins

    fp = package_margins(settings, die_area_mm2=die_area_mm2, n_dies=n_dies, hbm_stacks=hbm_stacks,
                         memory_type=memory_type, scaleup_bw_gbps_bidir=scaleup_bw_gbps_bidir,
                         power_w=0.0 if power_w is None else power_w, extra_dies=extra_dies,
                         extra_die_area_mm2=extra_die_area_mm2)
    m = {**fp, "die_area_mm2": die_area_mm2, "power_w": power_w or 0.0}
    limits = PHYSICAL_LIMITS if power_w is not None else ("reticle", "edge", "package")
    notes = [] if power_w is not None else ["tdp_w not given: the thermal and power-delivery limits are not checked"]
    return report(violations(m, settings, limits), list(limits), notes)
