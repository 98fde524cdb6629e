"""Floorplan-level feasibility: is a design physically buildable? Pure and vectorized (every
numeric argument may be an array of designs); limits from data/econ/floorplan.yaml and
coefficients.csv, each with its source.

Five limits, each a margin (>= 0: met; < 0: broken by that much):
- edge:    usable die edge - PHY beachfront, per die (mm). Usable edge = f x 4 sqrt(A) (square
           die, econ.area.shoreline_available_mm); beachfront = HBM PHYs + scale-up SerDes lanes +
           host PCIe + D2D (bandwidth / UCIe shoreline density) + other DRAM PHYs.
- package: technology's largest package (reticle multiple x 858 mm^2, by year) - package area,
           package area = (dies + HBM stack footprints) x spacing (mm^2). HBM on a technology
           without interposer or bridge (organic) has margin -(package area).
- thermal: cooling class limit - heat flux, the worse (relative) of average (package power /
           die footprint) and hot spot (compute-array power / compute-array area), W/mm^2.
- power_delivery: min(cooling class package power - P, (I_max - I) x V) in W, with core
           current I = P x core share / V_core.
- rack:    rack power limit - chips_per_rack x (P + host power per accelerator) (kW).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError
from .nodes import coef

LIMITS = ("edge", "package", "thermal", "power_delivery", "rack")
LIMIT_LABELS = {
    "edge": "die edge: PHY beachfront fits",
    "package": "package fits the packaging technology",
    "thermal": "heat flux within the cooling class",
    "power_delivery": "package power and current deliverable",
    "rack": "rack power within the cooling class",
}
# the stored margin column of each limit and its unit
MARGIN_COLUMNS = {"edge": "edge_margin_mm", "package": "package_margin_mm2", "thermal": "heat_flux_margin_w_mm2",
                  "power_delivery": "power_delivery_margin_w", "rack": "rack_margin_kw"}
FLOORPLAN_METRICS = tuple(MARGIN_COLUMNS.values()) + (
    "edge_needed_mm", "edge_available_mm", "package_mm2", "package_limit_mm2", "heat_flux_w_mm2", "hotspot_w_mm2",
    "package_current_a", "rack_kw")


def _a(x):
    return np.asarray(x, dtype=float)


@lru_cache(maxsize=1)
def floorplan_data() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "econ", "floorplan.yaml").read_text())


def _v(d) -> float:
    return float(d["value"]) if isinstance(d, dict) else float(d)


def packaging_choices() -> list[str]:
    return list(floorplan_data()["packaging"])


def cooling_choices() -> list[str]:
    return list(floorplan_data()["cooling"])


def check_packaging(name: str, field: str = "packaging") -> str:
    if name not in floorplan_data()["packaging"]:
        raise TapeoutError(f"{field} '{name}' is not a known packaging technology: use one of {', '.join(packaging_choices())}.")
    return name


def check_cooling(name: str, field: str = "cooling") -> str:
    if name not in floorplan_data()["cooling"]:
        raise TapeoutError(f"{field} '{name}' is not a known cooling class: use one of {', '.join(cooling_choices())}.")
    return name


def package_limit_mm2(packaging: str, year: int | None = None) -> float:
    """Largest package of a technology available in `year` (None: the largest on file, the technology's
    size class): reticle multiple x reticle field. The one package-size limit per technology: the buildable
    check and the cost model's CoWoS-S / CoWoS-L split (econ.yield_cost, econ.area.package_size) read it."""
    tech = floorplan_data()["packaging"][check_packaging(packaging)]
    rows = [r for r in tech["limits"] if year is None or int(r["year"]) <= int(year)]
    if not rows:
        first = min(int(r["year"]) for r in tech["limits"])
        raise TapeoutError(f"packaging '{packaging}' is not available in {year} (from {first}): choose a later year or "
                           f"another technology ({', '.join(packaging_choices())}).")
    return max(float(r["reticle_multiple"]) for r in rows) * coef("reticle_limit_mm2")


@dataclass(frozen=True)
class FloorplanSettings:
    """What the study fixes: packaging technology and year, cooling class, rack size."""

    packaging: str = "cowos-s"
    year: int = 2025
    cooling: str = "air"
    chips_per_rack: float | None = None  # None: the cooling class's
    rack_kw: float | None = None  # None: the cooling class's

    def __post_init__(self):
        check_packaging(self.packaging)
        check_cooling(self.cooling)
        package_limit_mm2(self.packaging, self.year)

    def cooling_value(self, key: str) -> float:
        return _v(floorplan_data()["cooling"][self.cooling][key])

    @property
    def hbm_ok(self) -> bool:
        return bool(floorplan_data()["packaging"][self.packaging]["hbm"])


def package_area_mm2(die_footprint_mm2, hbm_stacks=0, hbm_type="HBM3"):
    """(dies + HBM stack footprints) x spacing (econ.yield_cost.interposer_area_mm2's geometry)."""
    from .yield_cost import interposer_area_mm2

    return _a(interposer_area_mm2(die_footprint_mm2, hbm_stacks, hbm_type,
                                  keepout=_v(floorplan_data()["package_spacing_factor"])))


def edge_needed_mm(hbm_stacks_per_die=0.0, hbm_type="HBM3", serdes_lanes_per_die=0.0, pcie_x16=1.0, d2d_bw_gbs=0.0,
                   other_phy_mm=0.0):
    """PHY beachfront of one die (mm): HBM + SerDes + PCIe + D2D + other DRAM PHYs (`other_phy_mm`;
    a memory type that is not HBM has no HBM PHYs)."""
    from .yield_cost import is_hbm, normalize_memory_type

    ht = normalize_memory_type(hbm_type)
    hbm_mm = coef("hbm_phy_shoreline_mm", ht) if is_hbm(ht) else 0.0
    return (_a(hbm_stacks_per_die) * hbm_mm
            + _a(serdes_lanes_per_die) * coef("serdes_shoreline_mm_per_lane", "112G")
            + _a(pcie_x16) * coef("pcie_shoreline_mm", "gen5x16")
            + _a(d2d_bw_gbs) / coef("d2d_shoreline_bw_gbs_per_mm", "UCIe-A")
            + _a(other_phy_mm))


def margins(settings: FloorplanSettings, *, edge_needed, edge_available, package_mm2, hbm_stacks, power_w,
            footprint_mm2, hotspot_w_mm2, chips_per_rack=None) -> dict:
    """Margins of the five limits and the quantities behind them (arrays over designs)."""
    fd = floorplan_data()
    s = settings
    pkg_lim = package_limit_mm2(s.packaging, s.year)
    pkg_margin = pkg_lim - _a(package_mm2)
    if not s.hbm_ok:  # HBM needs an interposer or a bridge
        pkg_margin = np.where(_a(hbm_stacks) > 0, -np.abs(_a(package_mm2)), pkg_margin)
    p = _a(power_w)
    avg = p / _a(footprint_mm2)
    hot = np.maximum(_a(hotspot_w_mm2), avg)
    lim_avg, lim_hot = s.cooling_value("avg_w_mm2"), s.cooling_value("hotspot_w_mm2")
    # the worse of the two, expressed in W/mm^2 of the average limit
    thermal = np.minimum(lim_avg - avg, (lim_hot - hot) * lim_avg / lim_hot)
    pd = fd["power_delivery"]
    v, share, imax = _v(pd["core_voltage_v"]), _v(pd["core_power_share"]), _v(pd["max_package_current_a"])
    current = p * share / v
    power_margin = np.minimum(s.cooling_value("package_w") - p, (imax - current) * v / share)
    n_rack = s.chips_per_rack if chips_per_rack is None and s.chips_per_rack is not None else chips_per_rack
    n_rack = s.cooling_value("chips_per_rack") if n_rack is None else n_rack
    rack_lim = s.cooling_value("rack_kw") if s.rack_kw is None else s.rack_kw
    rack = _a(n_rack) * (p + coef("host_power_w_per_accel")) / 1e3
    return {
        "edge_margin_mm": _a(edge_available) - _a(edge_needed), "edge_needed_mm": _a(edge_needed),
        "edge_available_mm": _a(edge_available),
        "package_margin_mm2": pkg_margin, "package_mm2": _a(package_mm2), "package_limit_mm2": pkg_lim + 0 * pkg_margin,
        "heat_flux_margin_w_mm2": thermal, "heat_flux_w_mm2": avg, "hotspot_w_mm2": hot,
        "power_delivery_margin_w": power_margin, "package_current_a": current,
        "rack_margin_kw": rack_lim - rack, "rack_kw": rack,
    }


def limit_mask(m: dict, limit: str) -> tuple[np.ndarray, np.ndarray]:
    """(ok mask, normalized violation >= 0) of one limit from margins() output."""
    col = MARGIN_COLUMNS[limit]
    margin = _a(m[col])
    scale = {"edge": m["edge_available_mm"], "package": m["package_limit_mm2"], "thermal": m["heat_flux_w_mm2"],
             "power_delivery": 1000.0, "rack": m["rack_kw"]}[limit]
    ok = margin >= 0
    return ok, np.where(ok, 0.0, -margin / np.maximum(np.abs(_a(scale)), 1e-9))
