"""Floorplan limits of a catalog chip (econ.floorplan) from its published package facts:
die area and count, HBM stacks, packaging technology, cooling (data/econ/chip_packaging.csv
and the catalog). A chip whose compute dies are hybrid-bonded on base dies (MI300X) has its
HBM PHYs on the base dies' edges and the base dies' footprint on the interposer."""

from __future__ import annotations

import math

from ..errors import TapeoutError
from .area import serdes_lanes, shoreline_available_mm
from .floorplan import FloorplanSettings, edge_needed_mm, floorplan_data, margins, package_area_mm2
from .summary import packaging_overrides
from .yield_cost import normalize_memory_type

CHIPS_PER_RACK = 8  # a catalog part passes the rack limit when one 8-accelerator server fits


def floorplan_chips() -> list[str]:
    """Catalog chips whose package technology is on file (the calibration set)."""
    return sorted(c for c, ov in packaging_overrides().items() if "package" in ov)


def chip_floorplan(chip, hbm_stacks: float | None = None) -> dict:
    """Margins of a catalog chip's five limits (econ.floorplan.margins); `hbm_stacks` replaces
    the real stack count (to ask whether twice as many would fit)."""
    ov = packaging_overrides().get(chip.id, {})
    for field in ("package", "hbm_stacks"):
        if field not in ov:
            raise TapeoutError(f"{field} of {chip.id} is not in data/econ/chip_packaging.csv: the floorplan check needs it.")
    n = float(ov.get("compute_die_count", chip.get("num_compute_dies") if isinstance(chip.get("num_compute_dies"), float) else 1.0))
    area = float(ov["compute_die_area_mm2"]) if "compute_die_area_mm2" in ov else chip.get("logic_die_area_mm2_total")
    if not isinstance(area, float):
        raise TapeoutError(f"logic_die_area_mm2_total of {chip.id} is not in the catalog: the floorplan check needs it.")
    die = area if "compute_die_area_mm2" in ov else area / n
    extra_n, extra_a = float(ov.get("extra_die_count", 0)), float(ov.get("extra_die_area_mm2", 0))
    if ov.get("compute_stacked") == "1":  # PHYs and footprint are the base dies'
        phy_n, phy_a, footprint = extra_n, extra_a, extra_n * extra_a
    else:
        phy_n, phy_a, footprint = n, die, n * die + extra_n * extra_a
    stacks = float(ov["hbm_stacks"]) if hbm_stacks is None else float(hbm_stacks)
    mem = normalize_memory_type(chip.get("memory_type") if isinstance(chip.get("memory_type"), str) else "HBM3")
    scaleup = chip.get("scaleup_bw_gbps_bidir")
    lanes = serdes_lanes(scaleup if isinstance(scaleup, float) else 0.0)
    need = edge_needed_mm(stacks / phy_n, mem, math.ceil(lanes / phy_n), 1.0 / phy_n, float(ov.get("d2d_bw_gbs", 0.0)))
    tdp, year = chip.get("tdp_w"), chip.get("year")
    if not isinstance(tdp, float) or not isinstance(year, float):
        raise TapeoutError(f"tdp_w and year of {chip.id} are needed for the floorplan check.")
    settings = FloorplanSettings(packaging=ov["package"], year=int(year), cooling=ov.get("cooling", "air"))
    avg = tdp / footprint
    m = margins(settings, edge_needed=need, edge_available=shoreline_available_mm(phy_a),
                package_mm2=package_area_mm2(footprint, stacks, mem), hbm_stacks=stacks, power_w=tdp,
                footprint_mm2=footprint, hotspot_w_mm2=avg * float(floorplan_data()["catalog_hotspot_factor"]["value"]),
                chips_per_rack=CHIPS_PER_RACK)
    out = {k: float(v) for k, v in m.items()}
    out.update({"chip": chip.id, "hbm_stacks": stacks, "packaging": settings.packaging, "year": settings.year,
                "cooling": settings.cooling})
    return out
