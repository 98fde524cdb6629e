"""Power: dynamic energy per op and per bit moved per node, leakage, and the power-capped clock.

- Energy per MAC at node n: E_7nm(p) x s(n), with E_7nm from the Horowitz table updated to 7 nm
  (Jouppi et al., ISCA 2021) and s(n) the foundry's iso-speed power ratio vs N7.
- SRAM energy per bit scales with sqrt(s(n)) (SRAM energy scaled much less than logic, Jouppi
  et al. 2021); DRAM/HBM, D2D and SerDes energies per bit are node-independent.
- Leakage: W/mm^2 x area.
- Power cap (DVFS): P_dyn = a C V^2 f (Weste & Harris) and V proportional to f inside the DVFS
  range give P_dyn proportional to f^3; the clock that meets the TDP is
  f = f_max x ((TDP - P_static) / P_dyn(f_max))^(1/3).
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from .nodes import coef, coef_keys, node_param


def _a(x):
    return np.asarray(x, dtype=float)


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def mac_energy_pj(precision: str, node="N7"):
    """Energy of one multiply-accumulate (2 ops) in pJ at `node`."""
    if precision not in coef_keys("mac_pj_7nm"):
        raise TapeoutError(f"precision '{precision}' has no MAC energy: use one of {', '.join(coef_keys('mac_pj_7nm'))}.")
    return _out(coef("mac_pj_7nm", precision) * _a(node_param("energy_scale_vs_n7", node)))


def op_energy_pj(precision: str, node="N7"):
    """Energy per op (a MAC counts as 2 ops, the datasheet convention)."""
    return _out(_a(mac_energy_pj(precision, node)) / 2)


def bit_energy_pj(kind: str, node="N7"):
    """Energy per bit moved: sram_small, sram_large (node-scaled), HBM, GDDR6, LPDDR5, d2d, serdes."""
    if kind not in coef_keys("bit_pj"):
        raise TapeoutError(f"bit-energy kind '{kind}' is not known: use one of {', '.join(coef_keys('bit_pj'))}.")
    e = coef("bit_pj", kind)
    if kind.startswith("sram"):
        return _out(e * np.sqrt(_a(node_param("energy_scale_vs_n7", node))))
    return _out(e + 0 * _a(node_param("energy_scale_vs_n7", node)))


def static_power_w(die_area_mm2, node="N5"):
    return _out(_a(die_area_mm2) * _a(node_param("leakage_w_per_mm2", node)))


def dynamic_power_w(ops_per_s, precision: str, node="N5", *, bits_per_s: dict | None = None):
    """Dynamic power = ops/s x pJ/op + sum over levels of bits/s x pJ/bit."""
    p = _a(ops_per_s) * _a(op_energy_pj(precision, node)) * 1e-12
    for kind, b in (bits_per_s or {}).items():
        p = p + _a(b) * _a(bit_energy_pj(kind, node)) * 1e-12
    return _out(p)


def power_capped_clock(dynamic_power_at_fmax, static_power, tdp, f_max, exponent=None):
    """Clock that keeps total power at or under the TDP, and the factor for peak FLOP/s.

    P_dyn(f) = P_dyn(f_max) (f / f_max)^n with n = 3 (P = a C V^2 f and V proportional to f in
    the DVFS range). Returns (clock, scale) with scale = clock / f_max in [0, 1]; peak FLOP/s
    scales linearly with the clock. If static power alone reaches the TDP the clock is 0."""
    n = coef("dvfs_exponent") if exponent is None else exponent
    pd = _a(dynamic_power_at_fmax)
    ps = _a(static_power)
    t = _a(tdp)
    if np.any(pd < 0) or np.any(ps < 0) or np.any(t <= 0):
        raise TapeoutError("power_capped_clock: powers must be >= 0 and tdp > 0 (watts).")
    budget = np.maximum(t - ps, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny pd: ratio -> inf, clipped to 1
        ratio = np.where(pd > 0, budget / pd, np.inf)
    scale = np.clip(ratio, 0.0, 1.0) ** (1.0 / n)
    return _out(_a(f_max) * scale), _out(scale)
