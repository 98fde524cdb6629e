"""Parametric NPU template: design parameters (numpy arrays over designs) -> ChipParams,
silicon area, power, unit cost, TCO and export class. Nothing loops over designs.

The template (data/npu/template.yaml) lists the parameters and their defaults; a design is a
dict {parameter: array of shape (D,)}; choice parameters are integer codes into the
parameter's `choices` (strings are accepted and converted).

Peak matrix FLOP/s per precision p (per chip, dense):
    peak_p = cores x array_rows x array_cols x 2 x f x mult_p x supported_p
with f the clock after the optional power cap (econ.power.power_capped_clock). Off-chip
bandwidth and capacity = devices x per-device figure of the memory type; energy per FLOP from
econ.power.op_energy_pj (x an array-delivery overhead), leakage from the die area
(econ.power.static_power_w). Area per die: econ.area.die_area with per-die throughputs;
unit cost: econ.yield_cost.unit_cost; TCO: econ.tco.tco_per_chip_year; export class:
rules.export (TPP, PD, 3A090 class, the Jan-2026 case-by-case band).

Chip power at full load (the design's TDP):
    P = max_p(peak_p x e_p) + SRAM feed (cores x (R + C) x 2 B x f x e_sram)
        + mem_bw x e_dram + links x utilization x e_serdes + D2D x utilization x e_d2d
        + vector FLOP/s x e_fp32 + leakage,      TDP = P x tdp_margin
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import SimpleNamespace

import numpy as np
import yaml

from ..errors import TapeoutError
from ..hardware.memory_capacity import dram_bytes, quoted_gb
from ..hardware.params import ChipParams
from ..ops import PEAK_KEYS

# matrix precisions the template can enable (template bool parameter of the same name);
# fp16 rides on the bf16 datapath
MATRIX_DTYPES = ("bf16", "fp8", "int8", "int4")
MEMORY_TYPES = ("HBM2E", "HBM3", "HBM3E", "HBM4", "LPDDR5", "GDDR6")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # int, float, bool, choice
    default: object
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    unit: str = ""

    def code(self, value) -> float:
        """A user value -> the float stored in design arrays (choice -> index)."""
        if self.kind == "choice":
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(self.choices):
                return float(value)
            s = str(value)
            for i, c in enumerate(self.choices):
                if s.lower() == str(c).lower():
                    return float(i)
            raise TapeoutError(f"parameter '{self.name}': '{value}' is not one of {', '.join(map(str, self.choices))}.")
        if self.kind == "bool":
            if isinstance(value, str):
                if value.lower() in ("true", "yes", "1", "on"):
                    return 1.0
                if value.lower() in ("false", "no", "0", "off"):
                    return 0.0
                raise TapeoutError(f"parameter '{self.name}': '{value}' is not a boolean.")
            return 1.0 if value else 0.0
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TapeoutError(f"parameter '{self.name}': '{value}' is not a number.") from None
        if self.kind == "int":
            v = float(round(v))
        return v

    def label(self, code: float):
        """Stored float -> the user-facing value."""
        if self.kind == "choice":
            return self.choices[int(code)]
        if self.kind == "bool":
            return bool(code)
        if self.kind == "int":
            return int(code)
        return float(code)


@dataclass(frozen=True)
class Template:
    params: dict
    data: dict

    @property
    def names(self) -> tuple:
        return tuple(self.params)

    def defaults(self) -> dict:
        return {n: p.code(p.default) for n, p in self.params.items()}

    def value(self, *path):
        d = self.data
        for k in path:
            d = d[k]
        return float(d["value"]) if isinstance(d, dict) and "value" in d else d


@lru_cache(maxsize=1)
def load_template() -> Template:
    raw = yaml.safe_load(resources.files("tapeout").joinpath("data", "npu", "template.yaml").read_text())
    params = {}
    for name, spec in raw["parameters"].items():
        params[name] = ParamSpec(name=name, kind=spec["kind"], default=spec["default"],
                                 choices=tuple(spec.get("choices", ())), min=spec.get("min"), max=spec.get("max"),
                                 unit=spec.get("unit", ""))
    # optional power cap: 0 = uncapped (the TDP follows from the design)
    params.setdefault("power_cap_w", ParamSpec("power_cap_w", "float", 0.0, min=0, max=5000,
                                               unit="W chip power cap; the clock drops to meet it (0 = none)"))
    return Template(params=params, data=raw)


def complete(design: dict, template: Template | None = None) -> dict:
    """Fill template defaults, convert choice/bool values to codes; all arrays shape (D,)."""
    t = template or load_template()
    unknown = [k for k in design if k not in t.params]
    if unknown:
        from ..errors import unknown_name_error

        raise unknown_name_error("NPU parameter", unknown[0], list(t.params))
    n = max([np.size(v) for v in design.values()] or [1])
    out = {}
    for name, spec in t.params.items():
        if name in design:
            v = design[name]
            a = np.asarray(v)
            if a.dtype.kind in "fiub" and spec.kind != "choice" or (spec.kind == "choice" and a.dtype.kind in "iuf"):
                a = a.astype(float)
            else:
                a = np.array([spec.code(x) for x in np.atleast_1d(a)], dtype=float)
            out[name] = np.broadcast_to(np.atleast_1d(a), (n,))
        else:
            out[name] = np.full(n, spec.code(spec.default))
    return out


def _sum_peak_keys(design) -> np.ndarray:
    """Per-precision matrix FLOP/s at the nominal clock, shape (len(PEAK_KEYS), D)."""
    t = load_template()
    d = design
    base = d["cores"] * d["array_rows"] * d["array_cols"] * 2.0 * d["clock_ghz"] * 1e9
    peaks = np.zeros((len(PEAK_KEYS), base.shape[0]))
    mult = {k: t.value("dtype_multiplier", k) for k in t.data["dtype_multiplier"]}
    for key in PEAK_KEYS:
        flag = {"fp16": "bf16"}.get(key, key)
        if flag in MATRIX_DTYPES:
            peaks[PEAK_KEYS.index(key)] = base * mult[key] * (d[flag] > 0)
    # FP32 math on the vector units (no FP32 matrix mode)
    peaks[PEAK_KEYS.index("fp32")] = _vector_flops(d)
    return peaks


def _vector_flops(d):
    return (d["cores"] * d["vector_width"] + d["riscv_cores"] * d["riscv_vector_lanes"]) * 2.0 * d["clock_ghz"] * 1e9


def memory_figures(d) -> dict:
    """Per-design off-chip bandwidth (B/s), capacity (B), granularity (B), DRAM pJ/bit kind."""
    from ..econ.nodes import coef

    t = load_template()
    code = d["mem_type"].astype(int)
    names = t.params["mem_type"].choices
    gb = np.zeros(len(names))
    bw = np.zeros(len(names))
    gran = np.zeros(len(names))
    epb = np.zeros(len(names))
    phy = np.zeros(len(names))
    edge = np.zeros(len(names))
    from ..econ.power import bit_energy_pj

    for i, mt in enumerate(names):
        if mt.startswith("HBM"):
            gb[i] = coef("hbm_gb_per_stack", mt)
            bw[i] = coef("hbm_bw_gbs_per_stack", mt)
            gran[i] = t.value("memory", "HBM", "access_granularity_bytes")
            epb[i] = bit_energy_pj("HBM")
            phy[i] = 0.0  # counted by econ.area.die_area (hbm_phy_area_mm2)
        else:
            gb[i] = t.value("memory", mt, "gb_per_device")
            bw[i] = t.value("memory", mt, "bw_gbs_per_device")
            gran[i] = t.value("memory", mt, "access_granularity_bytes")
            epb[i] = bit_energy_pj(mt)
            phy[i] = t.value("memory", mt, "phy_area_mm2")
            edge[i] = t.value("memory", mt, "phy_edge_mm")
    n = d["mem_stacks"]
    return {
        "mem_bw": n * bw[code] * 1e9,
        "mem_capacity": n * dram_bytes(gb[code]),  # stack / device GB are binary (hardware/memory_capacity.py)
        "granularity": gran[code],
        "dram_pj_per_bit": epb[code],
        "non_hbm_phy_mm2": n * phy[code],
        "non_hbm_phy_edge_mm": n * edge[code],
        "is_hbm": np.array([m.startswith("HBM") for m in names])[code],
    }


def _node_idx(d):
    from ..econ.nodes import NODES

    t = load_template()
    names = t.params["node"].choices
    lut = np.array([NODES.index(n) for n in names])
    return lut[d["node"].astype(int)]


def hardware(design: dict) -> dict:
    """Silicon, power, cost and export metrics of each design (arrays of shape (D,)).

    Returns the effective clock (after the power cap) and everything the objectives need.
    Designs too large for a wafer get infinite cost (no warnings)."""
    with np.errstate(all="ignore"):
        return _hardware(design)


def _hardware(design: dict) -> dict:
    from ..econ.area import die_area, shoreline_available_mm
    from ..econ.floorplan import package_area_mm2
    from ..econ.nodes import coef, node_param
    from ..econ.power import bit_energy_pj, op_energy_pj, power_capped_clock, static_power_w
    from ..econ.tco import tco_per_chip_year
    from ..econ.yield_cost import unit_cost
    from ..rules.export import case_by_case_2026, classify_3a090_code, performance_density, tpp

    t = load_template()
    d = complete(design)
    D = d["cores"].shape[0]
    node = _node_idx(d)
    mem = memory_figures(d)
    chiplets = np.maximum(d["chiplets"], 1.0)
    peaks = _sum_peak_keys(d)
    vec = _vector_flops(d)
    f = d["clock_ghz"]

    # ---- area per die (econ.area.die_area), grouped by memory type (a string argument) ----
    tops_per_die = {k: peaks[PEAK_KEYS.index(k)] / 1e12 / chiplets for k in MATRIX_DTYPES}
    sram_mb = d["cores"] * d["sram_per_core_mb"] + d["sram_shared_mb"]
    scaleup_bidir = 2.0 * d["scaleup_links"] * d["link_gbps"]
    d2d = np.where(chiplets > 1, d["d2d_bw_gbs"], 0.0)
    area = np.zeros(D)
    edge_need = np.zeros(D)  # PHY beachfront per die (econ.floorplan)
    core_area = np.zeros(D)  # matrix arrays per die with their overheads (hot-spot area)
    package = np.zeros(D)  # dies + HBM stacks + spacing (econ.floorplan.package_area_mm2)
    mt_names = t.params["mem_type"].choices
    codes = d["mem_type"].astype(int)
    groups = [(c, np.nonzero(codes == c)[0]) for c in np.unique(codes)]
    for c, idx in groups:
        mt = mt_names[c]
        sub = lambda x: x[idx] if np.ndim(x) else x  # noqa: E731
        hbm_stacks = d["mem_stacks"][idx] / chiplets[idx] if mt.startswith("HBM") else 0.0 * idx
        a = die_area({k: sub(v) for k, v in tops_per_die.items()}, sub(f), node[idx], sram_mb=sram_mb[idx] / chiplets[idx],
                     vector_fp32_tflops=vec[idx] / 1e12 / chiplets[idx], hbm_stacks=hbm_stacks,
                     hbm_type=mt if mt.startswith("HBM") else "HBM3",
                     scaleup_bw_gbps_bidir=scaleup_bidir[idx] / chiplets[idx], pcie_x16=1.0, d2d_bw_gbs=d2d[idx])
        area[idx] = np.asarray(a["total"], dtype=float)
        edge_need[idx] = np.asarray(a["shoreline_needed_mm"], dtype=float)
        core_area[idx] = np.asarray(a["mac"]) * (1 + coef("noc_control_overhead")) * coef("unmodelled_logic_factor")
    scale_7 = np.asarray(node_param("logic_density_mtr_mm2", "N7"), dtype=float) / np.asarray(
        node_param("logic_density_mtr_mm2", node), dtype=float)
    overheads = (1 + coef("noc_control_overhead")) * coef("unmodelled_logic_factor")
    area = area + (mem["non_hbm_phy_mm2"] + d["riscv_cores"] * t.value("riscv", "area_mm2_per_core_7nm") * scale_7) \
        / chiplets * overheads
    silicon = area * chiplets
    edge_need = edge_need + mem["non_hbm_phy_edge_mm"] / chiplets
    for c, idx in groups:
        mt = mt_names[c]
        package[idx] = package_area_mm2(silicon[idx], d["mem_stacks"][idx] if mt.startswith("HBM") else 0.0,
                                        mt if mt.startswith("HBM") else "HBM3")

    # ---- power at full load; optional cap lowers the clock (P_dyn ~ f^3) ----
    ov = t.value("energy", "array_energy_overhead")
    e_key = np.zeros((len(PEAK_KEYS), D))
    for k in ("bf16", "fp16", "fp8", "int8", "int4"):
        e_key[PEAK_KEYS.index(k)] = np.asarray(op_energy_pj(k, node), dtype=float) * ov
    e_fp32 = np.asarray(op_energy_pj("fp32", node), dtype=float)
    e_key[PEAK_KEYS.index("fp32")] = e_fp32
    e_sram = np.asarray(bit_energy_pj("sram_large", node), dtype=float) * 8.0  # pJ/B
    util = t.value("energy", "link_utilization")
    p_mac = (peaks * e_key).max(axis=0) * 1e-12
    p_sram = d["cores"] * (d["array_rows"] + d["array_cols"]) * 2.0 * f * 1e9 * e_sram * 1e-12
    p_vec = vec * e_fp32 * 1e-12
    p_io = (mem["mem_bw"] * 8 * mem["dram_pj_per_bit"]
            + scaleup_bidir * 1e9 * 8 * util * coef("bit_pj", "serdes")
            + (chiplets - 1) * d2d * 1e9 * 8 * util * coef("bit_pj", "d2d")) * 1e-12
    p_static = np.asarray(static_power_w(silicon, node), dtype=float)
    margin = t.value("energy", "tdp_margin")
    p_dyn_clocked = p_mac + p_sram + p_vec
    cap = d["power_cap_w"]
    capped = cap > 0
    f_eff, scale = power_capped_clock(p_dyn_clocked * margin, (p_static + p_io) * margin,
                                      np.where(capped, cap, 1e12), f)
    scale = np.where(capped, np.asarray(scale, dtype=float), 1.0)
    f_eff = f * scale
    tdp = (p_dyn_clocked * scale ** 3 + p_io + p_static) * margin
    peaks = peaks * scale
    vec = vec * scale

    # ---- cost, TCO, export ----
    mem_gb = quoted_gb(mem["mem_capacity"])
    cost = np.zeros(D)
    for c, idx in groups:
        mt = mt_names[c]
        u = unit_cost(area[idx], node[idx], n_dies=chiplets[idx], memory_gb=mem_gb[idx], memory_type=mt,
                      hbm_stacks=d["mem_stacks"][idx] if mt.startswith("HBM") else None)
        cost[idx] = np.asarray(u["total"], dtype=float)
    tops = {k: peaks[PEAK_KEYS.index(k)] / 1e12 for k in MATRIX_DTYPES}
    tpp_v = np.asarray(tpp(tops), dtype=float)
    pd = np.asarray(performance_density(tpp_v, silicon), dtype=float)
    cls = np.asarray(classify_3a090_code(tpp_v, pd), dtype=float)
    band = np.asarray(case_by_case_2026(tpp_v, mem["mem_bw"] / 1e9), dtype=float)
    return {
        "design": d,
        "node_index": node,
        "peaks": peaks,
        "vector_flops": vec,
        "clock_eff_ghz": f_eff,
        "die_area_mm2": area,
        "silicon_mm2": silicon,
        "sram_mb": sram_mb,
        "tdp_w": tdp,
        "static_w": p_static * margin,
        "e_key_pj": e_key,
        "e_sram_pj_per_byte": e_sram,
        "unit_cost_usd": cost,
        "tpp": tpp_v,
        "pd": pd,
        "export_class": cls,
        "band_2026": band,
        "mem": mem,
        "scaleup_bw": d["scaleup_links"] * d["link_gbps"] * 1e9,
        # floorplan quantities (econ.floorplan.margins turns them into the five limits)
        "edge_needed_mm": edge_need,
        "edge_available_mm": np.asarray(shoreline_available_mm(area), dtype=float),
        "package_mm2": package,
        # hot spot: the matrix arrays' switching power over their placed area
        "hotspot_w_mm2": p_mac * scale ** 3 * margin / (core_area * chiplets),
        "hbm_stacks": np.where(mem["is_hbm"], d["mem_stacks"], 0.0),
        "_tco": tco_per_chip_year,
    }


def calibration(maturity: float = 1.0):
    """The calibration a never-built NPU gets: the generic fit (perf/calibration.py)."""
    from ..perf.calibration import calibration_for

    fam = load_template().data["software"]["calibration_family"]
    return calibration_for(SimpleNamespace(id=f"{fam}-design", family=fam), maturity=maturity)


def npu_params(design: dict, maturity: float = 1.0, hw: dict | None = None) -> ChipParams:
    """Vectorized: design arrays (D,) -> ChipParams whose fields are arrays over designs."""
    t = load_template()
    h = hw if hw is not None else hardware(design)
    d = h["design"]
    mem = h["mem"]
    p = ChipParams(
        peak_flops=h["peaks"],
        vector_flops=h["vector_flops"],
        sparsity_factor=np.where(d["sparsity_24"] > 0, t.value("sparsity_factor"), 1.0),
        num_cores=d["cores"],
        tile_m=d["array_rows"],
        tile_n=d["array_cols"],
        mem_bw=mem["mem_bw"],
        mem_capacity=mem["mem_capacity"],
        sram_bytes=h["sram_mb"] * 1e6,
        access_granularity=mem["granularity"],
        host_bw=t.value("software", "host_link_gbs") * 1e9,
        scaleup_bw=h["scaleup_bw"],
        scaleup_latency=t.value("software", "scaleup_latency_us") * 1e-6,
        scaleup_domain=d["scaleup_domain"],
        scaleout_bw=t.value("software", "scaleout_bw_gbs") * 1e9,
        scaleout_latency=t.value("software", "scaleout_latency_us") * 1e-6,
        tdp_w=h["tdp_w"],
        pj_per_flop=h["e_key_pj"],
        dram_pj_per_byte=mem["dram_pj_per_bit"] * 8.0,
        sram_pj_per_byte=h["e_sram_pj_per_byte"],
        static_w=h["static_w"],
        chip_id="npu-design",
    )
    p = calibration(maturity).apply(p)
    k = np.asarray(p.kernel_overhead, dtype=float)
    p.kernel_overhead = np.where(d["riscv_cores"] > 0, k * t.value("riscv", "kernel_overhead_factor"), k)
    return p


def describe(design: dict, i: int = 0) -> dict:
    """One design's user-facing parameter values."""
    t = load_template()
    d = complete(design)
    return {n: t.params[n].label(d[n][i]) for n in t.params}
