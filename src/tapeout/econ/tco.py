"""Total cost of ownership per accelerator and cost per unit of work.

TCO per chip-year = IT capex x CRF(r, years) + facility capex x CRF(r, facility years)
  + maintenance + energy, with
- IT capex = chip price + server share (host CPUs, NICs, board, chassis: non-accelerator BOM / 8)
  + network share (cluster network = f of cluster capex -> f/(1-f) x (chip + server));
- CRF(r, n) = r / (1 - (1 + r)^-n), the capital recovery factor (annuity that repays capex with
  interest at the cost of capital r; r = 0 gives straight-line 1/n);
- facility capex = USD per kW of IT load x provisioned kW (chip peak power + host share);
- maintenance = a fraction of IT capex per year;
- energy = (chip power + host power share x avg fraction) x PUE x 8766 h x $/kWh.
Every default is a sourced row of data/econ/coefficients.csv; every one can be overridden.
Cost per unit of work = TCO per second / throughput (units/s per chip). The performance model
supplies throughput and chip power. All functions broadcast over numpy arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from .nodes import coef

HOURS_PER_YEAR = 8766.0  # 365.25 d


def _a(x):
    return np.asarray(x, dtype=float)


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def server_cost_per_chip(accels_per_server=8):
    """Non-accelerator server BOM per accelerator slot (SemiAnalysis DGX H100 BOM / 8)."""
    return _out(coef("server_non_accel_bom_usd", "per_8_accel") / _a(accels_per_server))


def capex_per_chip(chip_price_usd, accels_per_server=8, network_fraction=None, server_usd_per_chip=None):
    """Chip + server share + network share; returns dict of the parts and the total."""
    f = coef("cluster_network_fraction") if network_fraction is None else network_fraction
    chip = _a(chip_price_usd)
    if np.any(chip < 0):
        raise TapeoutError("chip price must be >= 0 USD.")
    srv = server_cost_per_chip(accels_per_server) if server_usd_per_chip is None else server_usd_per_chip
    server = _a(srv) + 0 * chip
    network = f / (1 - f) * (chip + server)
    return {
        "chip": _out(chip),
        "server": _out(server),
        "host_cpu": _out(server * coef("server_share_host_cpu")),
        "nic": _out(server * coef("server_share_nic")),
        "board_chassis": _out(server * coef("server_share_board_chassis")),
        "network": _out(network),
        "total": _out(chip + server + network),
    }


def capital_recovery_factor(rate, years):
    """CRF = r / (1 - (1+r)^-n): the yearly payment that repays 1 USD over n years at rate r
    (standard annuity formula); 1/n at r = 0."""
    r, n = _a(rate), _a(years)
    with np.errstate(divide="ignore", invalid="ignore"):
        crf = np.where(r > 0, r / (1 - (1 + r) ** -n), 1 / n)
    return _out(crf)


TCO_OPTIONS = ("pue", "usd_per_kwh", "years", "cost_of_capital", "facility_usd_per_kw", "facility_years",
               "maintenance_fraction", "network_fraction", "server_usd_per_chip")


def tco_per_chip_year(chip_price_usd, chip_power_w, *, pue=None, usd_per_kwh=None, years=None,
                      accels_per_server=8, include_host_power=True, cost_of_capital=None, facility_usd_per_kw=None,
                      facility_years=None, maintenance_fraction=None, network_fraction=None, server_usd_per_chip=None,
                      provisioned_w=None):
    """Annual TCO of one deployed accelerator (USD/year), split into capex, facility,
    maintenance and energy.

    chip_power_w is the average chip power under the workload (the perf model's output);
    provisioned_w the chip's peak (TDP) power the facility is built for (default chip_power_w)."""
    if np.any(_a(chip_power_w) < 0):
        raise TapeoutError("chip_power_w must be >= 0 watts.")
    pue = coef("pue", "hyperscale") if pue is None else pue
    price = coef("electricity_usd_per_kwh", "us_industrial_2025") if usd_per_kwh is None else usd_per_kwh
    yrs = coef("amortization_years") if years is None else years
    if np.any(_a(yrs) <= 0):
        raise TapeoutError("years (amortisation) must be > 0.")
    r = coef("cost_of_capital") if cost_of_capital is None else cost_of_capital
    fac_kw = coef("facility_capex_usd_per_kw") if facility_usd_per_kw is None else facility_usd_per_kw
    fac_y = coef("facility_life_years") if facility_years is None else facility_years
    maint = coef("maintenance_fraction") if maintenance_fraction is None else maintenance_fraction
    cap = capex_per_chip(chip_price_usd, accels_per_server, network_fraction, server_usd_per_chip)
    host = coef("host_power_w_per_accel") * coef("avg_power_fraction") if include_host_power else 0.0
    host_peak = coef("host_power_w_per_accel") if include_host_power else 0.0
    wall_w = (_a(chip_power_w) + host) * _a(pue)
    energy = wall_w / 1000 * HOURS_PER_YEAR * _a(price)
    capex_y = _a(cap["total"]) * _a(capital_recovery_factor(r, yrs))
    prov = _a(chip_power_w if provisioned_w is None else provisioned_w)
    facility = (prov + host_peak) / 1000 * _a(fac_kw) * _a(capital_recovery_factor(r, fac_y))
    maintenance = _a(cap["total"]) * _a(maint)
    zero = 0 * (capex_y + energy + facility)
    return {
        "capex_per_year": _out(capex_y + zero),
        "facility_per_year": _out(facility + zero),
        "maintenance_per_year": _out(maintenance + zero),
        "energy_per_year": _out(energy + zero),
        "wall_power_w": _out(wall_w + zero),
        "total_per_year": _out(capex_y + facility + maintenance + energy),
        "capex": cap,
    }


def cost_per_unit(units_per_s, chip_price_usd, chip_power_w, per: float = 1.0, **kw):
    """USD per `per` units of work at a steady throughput of `units_per_s` per chip."""
    u = _a(units_per_s)
    if np.any(u <= 0):
        raise TapeoutError("throughput (units/s per chip) must be > 0.")
    t = tco_per_chip_year(chip_price_usd, chip_power_w, **kw)
    per_s = _a(t["total_per_year"]) / (HOURS_PER_YEAR * 3600)
    return _out(per_s / u * per)


def cost_per_million_tokens(tokens_per_s, chip_price_usd, chip_power_w, **kw):
    return cost_per_unit(tokens_per_s, chip_price_usd, chip_power_w, per=1e6, **kw)


def cost_per_thousand_queries(queries_per_s, chip_price_usd, chip_power_w, **kw):
    return cost_per_unit(queries_per_s, chip_price_usd, chip_power_w, per=1e3, **kw)


def cost_per_video_minute(video_minutes_per_s, chip_price_usd, chip_power_w, **kw):
    """USD per generated minute of video, given minutes of video produced per second per chip."""
    return cost_per_unit(video_minutes_per_s, chip_price_usd, chip_power_w, per=1.0, **kw)
