"""Die yield and unit cost: dies per wafer, negative-binomial yield, known-good-die test,
HBM, 2.5D packaging and assembly yield, NRE amortisation; chiplets vs monolithic.

All functions are pure and broadcast over numpy arrays (die area, node index, HBM stacks,
volume, ...), so 10^5 designs are one call.

Equations
- Dies per wafer (de Vries, IEEE TSM 18:136, 2005; Hennessy & Patterson ch.1):
  DPW = pi (d/2)^2 / A - pi d / sqrt(2 A),  d = wafer diameter less 2 x edge exclusion.
- Negative-binomial yield (Stapper 1983): Y = (1 + A D0 / alpha)^-alpha.
- Redundancy (spare cores): defects in the repairable fraction r of the die are tolerated up
  to k spares: Y = NB(0 defects in (1-r)A) * P[NB count in rA <= k]  (independence approx.).
- Cost per tested-good die = (wafer price + DPW x sort cost) / (DPW x pass rate), pass rate =
  Y + (1-Y)(1-coverage); a passed die is truly good with probability Y / pass rate.
- Package: (sum of component costs + interposer + assembly) / package yield + final test,
  package yield = prod(P[die good | passed]) x assembly_yield^(components).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import TapeoutError
from .floorplan import package_limit_mm2
from .nodes import coef, node_param


def _arr(x):
    return np.asarray(x, dtype=float)


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def dies_per_wafer(die_area_mm2, wafer_diameter_mm=None, edge_exclusion_mm=None, integer: bool = True):
    """Gross dies per wafer, DPW = pi (d/2)^2/A - pi d/sqrt(2A) with d = diameter - 2*edge."""
    a = _arr(die_area_mm2)
    if np.any(a <= 0):
        raise TapeoutError("die_area_mm2 must be > 0: give the die area in mm^2.")
    d = (coef("wafer_diameter_mm") if wafer_diameter_mm is None else wafer_diameter_mm) - 2 * (
        coef("edge_exclusion_mm") if edge_exclusion_mm is None else edge_exclusion_mm
    )
    dpw = np.pi * (d / 2) ** 2 / a - np.pi * d / np.sqrt(2 * a)
    dpw = np.maximum(dpw, 0.0)
    return _out(np.floor(dpw) if integer else dpw)


def negative_binomial_yield(die_area_mm2, d0_per_cm2, alpha=3.0):
    """Y = (1 + A*D0/alpha)^-alpha, A in cm^2 (Stapper 1983). alpha -> inf gives Poisson."""
    a_cm2 = _arr(die_area_mm2) / 100.0
    return _out((1.0 + a_cm2 * _arr(d0_per_cm2) / _arr(alpha)) ** (-_arr(alpha)))


def die_yield(die_area_mm2, node="N5", *, d0_per_cm2=None, alpha=None, repairable_fraction=0.0, spare_units=0):
    """Functional yield of a die on a node, with optional redundancy (spare cores).

    Defects in the non-repairable area must be zero; defects in the repairable area are
    tolerated up to `spare_units` (each defect assumed to kill one unit)."""
    d0 = node_param("d0_per_cm2", node) if d0_per_cm2 is None else d0_per_cm2
    al = node_param("nb_alpha", node) if alpha is None else alpha
    a = _arr(die_area_mm2)
    r = np.clip(_arr(repairable_fraction), 0.0, 1.0)
    y_crit = negative_binomial_yield(a * (1 - r), d0, al)
    lam = a * r / 100.0 * _arr(d0)
    al_ = _arr(al)
    p = al_ / (al_ + lam)
    y_rep = stats.nbinom.cdf(_arr(spare_units), al_, p)
    return _out(y_crit * y_rep)


def tested_die_cost(die_area_mm2, node="N5", *, wafer_price_usd=None, d0_per_cm2=None, alpha=None,
                    repairable_fraction=0.0, spare_units=0, test_coverage=None, sort_cost_per_mm2=None):
    """Cost of one die that passed wafer sort, and the probability it is truly good.

    Returns dict(cost, yield, pass_rate, p_good_given_pass, dpw, wafer_price)."""
    w = node_param("wafer_price_usd", node) if wafer_price_usd is None else _arr(wafer_price_usd)
    y = _arr(die_yield(die_area_mm2, node, d0_per_cm2=d0_per_cm2, alpha=alpha,
                       repairable_fraction=repairable_fraction, spare_units=spare_units))
    c = coef("kgd_test_coverage") if test_coverage is None else test_coverage
    sort = coef("wafer_sort_cost_per_mm2") if sort_cost_per_mm2 is None else sort_cost_per_mm2
    dpw = _arr(dies_per_wafer(die_area_mm2))
    pass_rate = y + (1 - y) * (1 - c)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (w + dpw * sort * _arr(die_area_mm2)) / (dpw * pass_rate)
    cost = np.where(dpw > 0, cost, np.inf)
    return {
        "cost": _out(cost),
        "yield": _out(y),
        "pass_rate": _out(pass_rate),
        "p_good_given_pass": _out(y / pass_rate),
        "dpw": _out(dpw),
        "wafer_price": _out(_arr(w) + 0 * dpw),
    }


def memory_cost(capacity_gb, memory_type="HBM3", usd_per_gb=None):
    """Memory cost = capacity x $/GB for the generation (HBM2..HBM4, GDDR6, LPDDR5)."""
    p = coef("hbm_usd_per_gb", normalize_memory_type(memory_type)) if usd_per_gb is None else usd_per_gb
    return _out(_arr(capacity_gb) * p)


def normalize_memory_type(text: str | None) -> str:
    t = (text or "").upper().replace(" ", "")
    for key in ("HBM4", "HBM3E", "HBM3", "HBM2E", "HBM2", "GDDR6", "LPDDR5"):
        if t.startswith(key):
            return key
    if t.startswith("HBM"):
        return "HBM3"
    if t.startswith("GDDR"):
        return "GDDR6"
    if t.startswith("LPDDR") or t.startswith("DDR"):
        return "LPDDR5"
    raise TapeoutError(f"memory_type '{text}' is not known: use one of HBM2, HBM2E, HBM3, HBM3E, HBM4, GDDR6, LPDDR5.")


def is_hbm(memory_type: str) -> bool:
    return normalize_memory_type(memory_type).startswith("HBM")


def interposer_area_mm2(total_die_area_mm2, hbm_stacks=0, hbm_type="HBM3", keepout=None):
    """Silicon interposer area: (dies + HBM footprints) x keep-out factor (default: the cost
    model's interposer_keepout_factor)."""
    fp = coef("hbm_footprint_mm2", normalize_memory_type(hbm_type)) if np.any(_arr(hbm_stacks) > 0) else 0.0
    k = coef("interposer_keepout_factor") if keepout is None else keepout
    return _out((_arr(total_die_area_mm2) + _arr(hbm_stacks) * fp) * k)


def packaging_cost(total_die_area_mm2, hbm_stacks=0, hbm_type="HBM3", package="auto"):
    """2.5D (CoWoS-class) interposer cost, or an organic substrate for non-HBM parts.

    package: 'auto' (CoWoS-S, CoWoS-L above the CoWoS-S size limit, organic without HBM),
    'cowos-s', 'cowos-l', 'organic'. Returns dict(cost, area_mm2, kind_is_cowos_l)."""
    stacks = _arr(hbm_stacks)
    area = _arr(interposer_area_mm2(total_die_area_mm2, stacks, hbm_type))
    s_cost = area * coef("cowos_cost_per_interposer_mm2")
    l_cost = s_cost * coef("cowos_l_cost_factor")
    org = (_arr(total_die_area_mm2) + stacks * 0) * coef("interposer_keepout_factor") * coef("organic_package_cost_per_mm2")
    too_big = area > package_limit_mm2("cowos-s")  # CoWoS-S's largest interposer (floorplan.yaml)
    if package == "auto":
        cost = np.where(stacks > 0, np.where(too_big, l_cost, s_cost), org)
        is_l = (stacks > 0) & too_big
    elif package == "cowos-s":
        cost, is_l = s_cost, np.zeros_like(area, dtype=bool)
    elif package == "cowos-l":
        cost, is_l = l_cost, np.ones_like(area, dtype=bool)
    elif package == "organic":
        cost, is_l = org, np.zeros_like(area, dtype=bool)
    else:
        raise TapeoutError(f"package '{package}' is not known: use auto, cowos-s, cowos-l or organic.")
    return {"cost": _out(cost), "area_mm2": _out(area), "cowos_l": _out(is_l) if np.ndim(is_l) else bool(is_l)}


def nre_per_unit(volume, node="N5", *, design_cost_usd=None, mask_sets=1, mask_set_usd=None):
    """NRE (design incl. IP and verification, plus mask sets) amortised over `volume` units."""
    v = _arr(volume)
    if np.any(v <= 0):
        raise TapeoutError("volume must be > 0 units: pass --volume N with N >= 1.")
    dc = node_param("design_cost_usd", node) if design_cost_usd is None else _arr(design_cost_usd)
    ms = node_param("mask_set_usd", node) if mask_set_usd is None else _arr(mask_set_usd)
    return _out((dc + _arr(mask_sets) * ms) / v)


def unit_cost(die_area_mm2, node="N5", *, n_dies=1, memory_gb=0.0, memory_type="HBM3", hbm_stacks=None,
              volume=1e5, package="auto", wafer_price_usd=None, d0_per_cm2=None, alpha=None,
              repairable_fraction=0.0, spare_units=0, design_cost_usd=None, mask_sets=1,
              extra_die_cost=0.0, extra_die_area_mm2=0.0, extra_dies=0, extra_p_good=1.0,
              stacked_area_mm2=0.0):
    """Cost stack of one packaged accelerator with `n_dies` identical compute dies.

    Every argument broadcasts (arrays of designs). `extra_*` add other dies (e.g. I/O dies)
    whose tested cost and good-probability were computed separately. `stacked_area_mm2` is die
    area hybrid-bonded on top of other dies (SoIC), which takes no interposer footprint.
    Returns a dict of arrays: die, memory, package, assembly_test, yield_loss, manufacturing,
    nre, total, plus die_yield, dpw, package_yield, interposer_mm2.
    """
    a = _arr(die_area_mm2)
    n = _arr(n_dies)
    mem_type = normalize_memory_type(memory_type)
    hbm = is_hbm(mem_type)
    if hbm_stacks is None:
        stacks = np.ceil(_arr(memory_gb) / coef("hbm_gb_per_stack", mem_type)) if hbm else 0 * a
    else:
        stacks = _arr(hbm_stacks)
    if not hbm:
        stacks = 0 * stacks
    td = tested_die_cost(a, node, wafer_price_usd=wafer_price_usd, d0_per_cm2=d0_per_cm2, alpha=alpha,
                         repairable_fraction=repairable_fraction, spare_units=spare_units)
    die = n * _arr(td["cost"]) + _arr(extra_die_cost)
    mem = _arr(memory_cost(memory_gb, mem_type))
    total_si = n * a + _arr(extra_die_area_mm2) - _arr(stacked_area_mm2)
    pk = packaging_cost(total_si, stacks, mem_type if hbm else "HBM3", package)
    pkg_area = _arr(pk["area_mm2"]) if hbm else total_si * coef("interposer_keepout_factor")
    assembly = pkg_area * coef("assembly_test_cost_per_package_mm2")
    comps = n + stacks + _arr(extra_dies)
    y_pkg = _arr(td["p_good_given_pass"]) ** n * _arr(extra_p_good) * coef("assembly_yield_per_component") ** comps
    # components + interposer + assembly are all lost when a package fails; final test is
    # folded into `assembly`
    built = die + mem + _arr(pk["cost"]) + assembly
    manufacturing = built / y_pkg
    nre = _arr(nre_per_unit(volume, node, design_cost_usd=design_cost_usd, mask_sets=mask_sets))
    return {
        "die": _out(die),
        "memory": _out(mem),
        "package": _out(_arr(pk["cost"])),
        "assembly_test": _out(assembly),
        "yield_loss": _out(manufacturing - built),
        "manufacturing": _out(manufacturing),
        "nre": _out(nre + 0 * manufacturing),
        "total": _out(manufacturing + nre),
        "die_yield": _out(_arr(td["yield"])),
        "dpw": _out(_arr(td["dpw"])),
        "package_yield": _out(y_pkg),
        "interposer_mm2": _out(pkg_area),
        "hbm_stacks": _out(stacks),
    }


def chiplet_vs_monolithic(logic_area_mm2, n_chiplets, node="N5", *, d2d_bw_gbs=2000.0, d2d_util=0.3,
                          memory_gb=0.0, memory_type="HBM3", volume=1e5, **kw):
    """Split `logic_area_mm2` of logic into `n_chiplets` equal dies joined by UCIe-class links.

    Each chiplet adds D2D PHY area = d2d_bw / areal density (UCIe-A 1350 GB/s/mm^2) per die.
    Returns dict with monolithic and chiplet cost stacks, the yield gain, the D2D area
    overhead and the D2D power at `d2d_util` of the link bandwidth (pJ/bit x bit/s)."""
    a = _arr(logic_area_mm2)
    k = _arr(n_chiplets)
    d2d_area = np.where(k > 1, _arr(d2d_bw_gbs) / coef("d2d_areal_bw_gbs_per_mm2", "UCIe-A"), 0.0)
    chip_area = a / k + d2d_area
    mono = unit_cost(a, node, memory_gb=memory_gb, memory_type=memory_type, volume=volume, **kw)
    chip = unit_cost(chip_area, node, n_dies=k, memory_gb=memory_gb, memory_type=memory_type, volume=volume, **kw)
    d2d_w = np.where(k > 1, (k - 1) * _arr(d2d_bw_gbs) * 8e9 * _arr(d2d_util) * coef("d2d_pj_per_bit", "UCIe-A") * 1e-12, 0.0)
    return {
        "monolithic": mono,
        "chiplet": chip,
        "chiplet_area_mm2": _out(chip_area),
        "d2d_area_mm2_total": _out(k * d2d_area),
        "yield_gain": _out(_arr(chip["die_yield"]) / _arr(mono["die_yield"])),
        "d2d_power_w": _out(d2d_w),
        "monolithic_fits_reticle": _out(a <= coef("reticle_limit_mm2")),
        "chiplet_fits_reticle": _out(chip_area <= coef("reticle_limit_mm2")),
    }
