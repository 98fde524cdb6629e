"""Floorplan limits of a catalog chip (econ.floorplan) from its published package facts:
die area and count, HBM stacks, packaging technology, cooling (data/econ/chip_packaging.csv
and the catalog). A chip whose compute dies are hybrid-bonded on base dies (MI300X) has its
HBM PHYs on the base dies' edges and the base dies' footprint on the interposer."""

from __future__ import annotations

import math

from ..errors import TapeoutError
from .area import serdes_lanes, shoreline_available_mm
from .floorplan import FloorplanSettings, edge_needed_mm, floorplan_data, margins, package_area_mm2
from .summary import compute_dies, packaging_overrides
from .yield_cost import normalize_memory_type

CHIPS_PER_RACK = 8  # a catalog part passes the rack limit when one 8-accelerator server fits


def floorplan_chips() -> list[str]:
    """Catalog chips whose package technology is on file (the calibration set)."""
    return sorted(c for c, ov in packaging_overrides().items() if "package" in ov)


def chip_floorplan(chip, hbm_stacks: float | None = None, ov: dict | None = None) -> dict:
    """Margins of a catalog chip's five limits (econ.floorplan.margins); `hbm_stacks` replaces
    the real stack count (to ask whether twice as many would fit); `ov` replaces the chip's
    package facts (chip_packaging.csv: a registered chip's, econ.buildable.described_facts)."""
    ov = packaging_overrides().get(chip.id, {}) if ov is None else ov
    for field in ("package", "hbm_stacks"):
        if field not in ov:
            raise TapeoutError(f"{field} of {chip.id} is not in data/econ/chip_packaging.csv: the floorplan check needs it.")
    n, die = compute_dies(chip, ov, "the floorplan check")
    stacks = float(ov["hbm_stacks"]) if hbm_stacks is None else float(hbm_stacks)
    mem = normalize_memory_type(chip.get("memory_type") if isinstance(chip.get("memory_type"), str) else "HBM3")
    scaleup = chip.get("scaleup_bw_gbps_bidir")
    tdp, year = chip.get("tdp_w"), chip.get("year")
    year = float(ov["year"]) if not isinstance(year, float) and "year" in ov else year  # a registered chip's default
    if not isinstance(tdp, float) or not isinstance(year, float):
        raise TapeoutError(f"tdp_w and year of {chip.id} are needed for the floorplan check.")
    settings = FloorplanSettings(packaging=ov["package"], year=int(year), cooling=ov.get("cooling", "air"))
    out = package_margins(settings, die_area_mm2=die, n_dies=n, hbm_stacks=stacks, memory_type=mem,
                          scaleup_bw_gbps_bidir=scaleup if isinstance(scaleup, float) else 0.0, power_w=tdp,
                          d2d_bw_gbs=float(ov.get("d2d_bw_gbs", 0.0)), extra_dies=float(ov.get("extra_die_count", 0)),
                          extra_die_area_mm2=float(ov.get("extra_die_area_mm2", 0)),
                          compute_stacked=ov.get("compute_stacked") == "1")
    out.update({"chip": chip.id, "hbm_stacks": stacks, "packaging": settings.packaging, "year": settings.year,
                "cooling": settings.cooling})
    return out


def package_margins(settings: FloorplanSettings, *, die_area_mm2: float, n_dies: float, hbm_stacks: float,
                    memory_type: str, scaleup_bw_gbps_bidir: float, power_w: float, d2d_bw_gbs: float = 0.0,
                    extra_dies: float = 0.0, extra_die_area_mm2: float = 0.0, compute_stacked: bool = False,
                    chips_per_rack: float = CHIPS_PER_RACK) -> dict:
    """Margins of the five limits of one package from its die-level facts: n_dies compute dies of
    die_area_mm2, extra (I/O, base) dies, HBM stacks, scale-up SerDes bandwidth, package power.
    The hot spot is the average heat flux x catalog_hotspot_factor (no per-block power split)."""
    n = float(n_dies)
    if compute_stacked:  # PHYs and footprint are the base dies'
        phy_n, phy_a, footprint = extra_dies, extra_die_area_mm2, extra_dies * extra_die_area_mm2
    else:
        phy_n, phy_a, footprint = n, die_area_mm2, n * die_area_mm2 + extra_dies * extra_die_area_mm2
    mem = normalize_memory_type(memory_type)
    lanes = serdes_lanes(scaleup_bw_gbps_bidir)
    need = edge_needed_mm(hbm_stacks / phy_n, mem, math.ceil(lanes / phy_n), 1.0 / phy_n, d2d_bw_gbs)
    avg = power_w / footprint
    m = margins(settings, edge_needed=need, edge_available=shoreline_available_mm(phy_a),
                package_mm2=package_area_mm2(footprint, hbm_stacks, mem), hbm_stacks=hbm_stacks, power_w=power_w,
                footprint_mm2=footprint, hotspot_w_mm2=avg * float(floorplan_data()["catalog_hotspot_factor"]["value"]),
                chips_per_rack=chips_per_rack)
    return {k: float(v) for k, v in m.items()}
