"""Die area per process node, bottom-up, plus reticle, shoreline, power-density and package
checks. Pure and vectorized: every numeric argument may be a numpy array of designs.

Model (coefficients in data/econ/coefficients.csv and nodes.csv, each with its source):
- MAC arrays: units_p = dense_TOPS_p x 1e12 / (2 f). Area_p = units_p x a45_p x (rho45 / rho_node)
  x overhead, with a45_p the Horowitz (ISSCC 2014) 45 nm multiplier+adder area, rho the logic
  density. A multi-precision array is sized by its largest datapath + 10% per extra precision.
- Vector units: FP32 FMA lanes = vector_tflops x 1e12 / (2 f), same scaling.
- SRAM: MB x 8 / macro density (Mb/mm^2) x cache overhead (tags, banking, routing).
- PHYs: HBM PHY area per stack, SerDes area per lane, PCIe x16 blocks, UCIe D2D area =
  bandwidth / areal density (1350 GB/s/mm^2).
- NoC / control: a fraction of the placed blocks; then x unmodelled_logic_factor (~2), fitted
  in-sample to GA100, GH100 and MTIA v2 (control cores, register files, DMA, SIMT front ends).
- Reticle: one die <= 858 mm^2 (hard bound; econ.buildable.reticle_mask). Shoreline: sum of PHY edge lengths <= usable
  fraction of the die perimeter (square die, 4 sqrt(A)).
"""

from __future__ import annotations

import numpy as np

from ..errors import TapeoutError
from .buildable import reticle_mask
from .floorplan import edge_needed_mm, package_limit_mm2
from .nodes import coef, node_param
from .yield_cost import interposer_area_mm2, normalize_memory_type

PRECISIONS = ("int4", "fp4", "int8", "fp8", "fp16", "bf16", "fp32")


def _a(x):
    return np.asarray(x, dtype=float)


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def scale_45nm_to_node(node):
    """Area factor from 45 nm to `node`: rho45 / rho_node (realized logic densities)."""
    return coef("logic_density_45nm_mtr_mm2") / _a(node_param("logic_density_mtr_mm2", node))


def mac_array_area_mm2(tops: dict, clock_ghz, node="N5", shared: bool = True):
    """Area of the matrix engines for dense peak throughput `tops` {precision: TOPS} at `clock_ghz`."""
    f = _a(clock_ghz) * 1e9
    if np.any(f <= 0):
        raise TapeoutError("clock_ghz must be > 0.")
    k = scale_45nm_to_node(node) * coef("mac_array_overhead")
    areas = []
    for p, t in tops.items():
        t = _a(t)
        if p == "tf32":  # TF32 runs on the 16-bit datapath (half rate on NVIDIA); no extra array
            continue
        if p not in PRECISIONS:
            raise TapeoutError(f"tops key '{p}' is not known: use one of {', '.join(PRECISIONS + ('tf32',))}.")
        units = t * 1e12 / (2 * f)
        areas.append(units * coef("mac_area_um2_45nm", p) * k / 1e6)
    if not areas:
        return 0.0
    stack = np.stack(np.broadcast_arrays(*areas))
    if shared:
        n_supported = (stack > 0).sum(axis=0)
        total = stack.max(axis=0) * (1 + coef("shared_precision_overhead") * np.maximum(n_supported - 1, 0))
    else:
        total = stack.sum(axis=0)
    return _out(total)


def vector_area_mm2(vector_fp32_tflops, clock_ghz, node="N5"):
    lanes = _a(vector_fp32_tflops) * 1e12 / (2 * _a(clock_ghz) * 1e9)
    return _out(lanes * coef("mac_area_um2_45nm", "fp32") * scale_45nm_to_node(node) * coef("mac_array_overhead") / 1e6)


def sram_area_mm2(sram_mb, node="N5"):
    return _out(_a(sram_mb) * 8 / _a(node_param("sram_macro_mb_per_mm2", node)) * coef("cache_overhead"))


def serdes_lanes(scaleup_bw_gbps_bidir):
    """112G-class lanes for a bidirectional scale-up bandwidth in GB/s (each lane carries
    100 Gb/s = 12.5 GB/s per direction)."""
    return _out(np.ceil(_a(scaleup_bw_gbps_bidir) / 2 / (coef("serdes_gbps_per_lane", "112G") / 8)))


def die_area(tops: dict, clock_ghz, node="N5", *, sram_mb=0.0, vector_fp32_tflops=0.0, hbm_stacks=0,
             hbm_type="HBM3", scaleup_bw_gbps_bidir=0.0, pcie_x16=1, d2d_bw_gbs=0.0, shared_mac=True):
    """Bottom-up area of ONE die and its checks. Throughputs are per die.

    Returns dict: mac, vector, sram, hbm_phy, serdes, pcie, d2d, noc_control, total (mm^2),
    fits_reticle, shoreline_needed_mm, shoreline_available_mm, shoreline_ok."""
    ht = normalize_memory_type(hbm_type) if np.any(_a(hbm_stacks) > 0) else "HBM3"
    mac = _a(mac_array_area_mm2(tops, clock_ghz, node, shared_mac))
    vec = _a(vector_area_mm2(vector_fp32_tflops, clock_ghz, node))
    sram = _a(sram_area_mm2(sram_mb, node))
    hbm = _a(hbm_stacks) * coef("hbm_phy_area_mm2", ht)
    lanes = _a(serdes_lanes(scaleup_bw_gbps_bidir))
    ser = lanes * coef("serdes_area_mm2_per_lane", "112G")
    pcie = _a(pcie_x16) * coef("pcie_area_mm2", "gen5x16")
    d2d = _a(d2d_bw_gbs) / coef("d2d_areal_bw_gbs_per_mm2", "UCIe-A")
    blocks = mac + vec + sram + hbm + ser + pcie + d2d
    noc = blocks * coef("noc_control_overhead")
    unmodelled = (blocks + noc) * (coef("unmodelled_logic_factor") - 1)
    total = blocks + noc + unmodelled
    shore_need = edge_needed_mm(hbm_stacks, ht, lanes, pcie_x16, d2d_bw_gbs)
    shore_have = shoreline_available_mm(total)
    return {
        "mac": _out(mac), "vector": _out(vec), "sram": _out(sram), "hbm_phy": _out(hbm + 0 * total),
        "serdes": _out(ser + 0 * total), "pcie": _out(pcie + 0 * total), "d2d": _out(d2d + 0 * total),
        "noc_control": _out(noc), "unmodelled": _out(unmodelled), "total": _out(total),
        "fits_reticle": _out(reticle_mask(total)[0]),
        "shoreline_needed_mm": _out(shore_need + 0 * total),
        "shoreline_available_mm": _out(shore_have),
        "shoreline_ok": _out(shore_need <= shore_have),
    }


def shoreline_available_mm(die_area_mm2):
    """Usable die edge of a square die: fraction x 4 sqrt(A)."""
    return _out(coef("die_edge_usable_fraction") * 4 * np.sqrt(_a(die_area_mm2)))


def power_density_w_mm2(power_w, die_area_mm2):
    pd = _a(power_w) / _a(die_area_mm2)
    return _out(pd)


def check_reticle(die_area_mm2, field: str = "die_area_mm2"):
    """Raise a TapeoutError when any die exceeds the 858 mm^2 reticle field (hard bound;
    econ.buildable.reticle_mask, the one reticle test)."""
    a = _a(die_area_mm2)
    if not np.all(np.isfinite(a)):
        raise TapeoutError(f"{field} must be a finite number of mm^2, got {float(a.flat[np.argmin(np.isfinite(a))])}.")
    if not np.all(reticle_mask(a)[0]):
        lim = coef("reticle_limit_mm2")
        raise TapeoutError(f"{field} {float(np.max(a)):.0f} mm^2 exceeds the reticle limit {lim:.0f} mm^2: split the design into chiplets.")


def package_size(die_area_mm2, n_dies=1, hbm_stacks=0, hbm_type="HBM3"):
    """Interposer area for chiplets + HBM stacks (the cost model's keep-out) and whether CoWoS-S still
    fits: its largest interposer on file (floorplan.yaml packaging.cowos-s, the limit econ.buildable
    checks by year), the bound above which the cost model prices CoWoS-L."""
    area = _a(interposer_area_mm2(_a(die_area_mm2) * _a(n_dies), hbm_stacks, hbm_type))
    return {"interposer_mm2": _out(area), "fits_cowos_s": _out(area <= package_limit_mm2("cowos-s"))}
