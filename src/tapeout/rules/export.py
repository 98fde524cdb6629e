"""US export-control checks for advanced-computing ICs (ECCN 3A090 and related).

NOT LEGAL ADVICE. Thresholds and definitions come from data/econ/export_rules.yaml, a copy
of shared/data/facts/export_rules.md (which quotes 15 CFR 774 Supp. 1 via the Federal
Register). The rule version applied is reported with every result.

- TPP = 2 x MacTOPS x bit length = dense datasheet TOPS x bit length, max over precisions,
  summed over dies (dense, not sparse).
- PD = TPP / applicable die area (all FinFET/GAA logic dies, HBM excluded).
- 3A090.a.1: TPP >= 4800; a.2: TPP >= 1600 and PD >= 5.92; b.1: 2400 <= TPP < 4800 and
  1.6 <= PD < 5.92; b.2: TPP >= 1600 and 3.2 <= PD < 5.92; otherwise not 3A090.
  Non-datacenter: TPP >= 4800 -> 3A090.a (NAC/ACA-eligible), else not 3A090 (Note 2).
- 3A090.c: HBM memory-bandwidth density > 2 GB/s/mm^2.
- Jan-2026 case-by-case band (China/Macau): TPP < 21,000 and total DRAM bandwidth < 6,500 GB/s.
- Optional H20-class ceiling: memory bandwidth 4.0 TB/s and interconnect 900 GB/s (a letter,
  not a published threshold).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import TapeoutError, validation_error

CLASS_CODES = ("not 3A090", "3A090.b.2", "3A090.b.1", "3A090.a.2", "3A090.a.1")


@lru_cache(maxsize=1)
def rules() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "econ", "export_rules.yaml").read_text())


def th(name: str) -> float:
    return float(rules()["thresholds"][name]["value"])


def bit_length(precision: str) -> int:
    bl = rules()["bit_length"]
    if precision not in bl:
        raise TapeoutError(f"precision '{precision}' has no bit length: use one of {', '.join(bl)}.")
    return int(bl[precision]["value"])


def _a(x):
    return np.asarray(x, dtype=float)


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def tpp_by_precision(tops: dict, tf32_bits: int | None = None) -> dict:
    """TPP per precision: dense TOPS x bit length (arrays broadcast)."""
    out = {}
    for p, t in tops.items():
        if t is None:
            continue
        bits = tf32_bits if (p == "tf32" and tf32_bits is not None) else bit_length(p)
        out[p] = _out(_a(t) * bits)
    return out


def tpp(tops: dict, tf32_bits: int | None = None):
    """Total processing performance = max over precisions of dense TOPS x bit length."""
    per = tpp_by_precision(tops, tf32_bits)
    if not per:
        return 0.0
    return _out(np.max(np.stack(np.broadcast_arrays(*[_a(v) for v in per.values()])), axis=0))


def performance_density(tpp_value, applicable_die_area_mm2):
    a = _a(applicable_die_area_mm2)
    if np.any(a <= 0):
        raise TapeoutError("applicable die area must be > 0 mm^2 (sum of FinFET/GAA logic dies).")
    return _out(_a(tpp_value) / a)


def classify_3a090_code(tpp_value, pd, datacenter=True):
    """Vectorized class index into CLASS_CODES (0 = not 3A090 ... 4 = 3A090.a.1).
    For non-datacenter parts: 4 if TPP >= 4800 else 0."""
    t, d = np.broadcast_arrays(_a(tpp_value), _a(pd))
    a1 = t >= th("tpp_a1")
    a2 = (t >= th("tpp_a2_min")) & (d >= th("pd_a2"))
    b1 = (t >= th("tpp_b1_min")) & (t < th("tpp_a1")) & (d >= th("pd_b1_min")) & (d < th("pd_a2"))
    b2 = (t >= th("tpp_a2_min")) & (d >= th("pd_b2_min")) & (d < th("pd_a2"))
    code = np.select([a1, a2, b1, b2], [4, 3, 2, 1], default=0)
    nondc = t >= th("tpp_non_datacenter")
    code = np.where(np.asarray(datacenter, dtype=bool), code, np.where(nondc, 4, 0))
    return int(code) if code.ndim == 0 else code


def classify_3a090(tpp_value: float, pd: float | None, datacenter: bool = True) -> str:
    """Class label for one IC. pd None (area unknown) is only decidable for TPP >= 4800 or < 1600."""
    if not datacenter:
        return "3A090.a (non-datacenter, NAC/ACA-eligible)" if tpp_value >= th("tpp_non_datacenter") else "not 3A090 (Note 2)"
    if pd is None:
        if tpp_value >= th("tpp_a1"):
            return "3A090.a.1"
        if tpp_value < th("tpp_a2_min"):
            return "not 3A090"
        return "undetermined (needs applicable die area)"
    return CLASS_CODES[classify_3a090_code(tpp_value, pd)]


def hbm_bandwidth_density(stack_bw_gbs, stack_footprint_mm2):
    """3A090.c memory bandwidth density (GB/s/mm^2) of one HBM stack."""
    return _out(_a(stack_bw_gbs) / _a(stack_footprint_mm2))


def case_by_case_2026(tpp_value, dram_bw_gbs):
    """Jan-2026 China/Macau case-by-case band: TPP < 21,000 and total DRAM bandwidth < 6,500 GB/s."""
    return _out((_a(tpp_value) < th("case_by_case_tpp")) & (_a(dram_bw_gbs) < th("case_by_case_dram_bw_gbs")))


def h20_ceiling_ok(memory_bw_tbps, interconnect_gbps):
    """True when both memory and interconnect bandwidth stay below the H20 level (2025 letter)."""
    return _out((_a(memory_bw_tbps) < th("h20_memory_bw_tbps")) & (_a(interconnect_gbps) < th("h20_interconnect_gbps")))


def assess(name: str, tops: dict, applicable_area_mm2: float | None, *, datacenter: bool = True,
           dram_bw_gbs: float | None = None, memory_type: str | None = None, interconnect_gbps: float | None = None,
           sources: dict | None = None) -> dict:
    """Full compliance report for one IC: TPP, PD, class, margins, HBM and bands."""
    tops = {k: float(v) for k, v in tops.items() if v}
    per = tpp_by_precision(tops)
    t = float(tpp(tops))
    t19 = float(tpp(tops, tf32_bits=19))
    best = [p for p, v in per.items() if abs(v - t) < 1e-9 * max(t, 1)]
    pd = float(performance_density(t, applicable_area_mm2)) if applicable_area_mm2 else None
    cls = classify_3a090(t, pd, datacenter)
    margins = {
        "tpp_to_1600": th("tpp_a2_min") - t,
        "tpp_to_2400": th("tpp_b1_min") - t,
        "tpp_to_4800": th("tpp_a1") - t,
        "tpp_to_21000": th("case_by_case_tpp") - t,
    }
    if pd is not None:
        margins.update({"pd_to_1.6": th("pd_b1_min") - pd, "pd_to_3.2": th("pd_b2_min") - pd, "pd_to_5.92": th("pd_a2") - pd})
    if dram_bw_gbs is not None:
        margins["dram_bw_to_6500_gbs"] = th("case_by_case_dram_bw_gbs") - dram_bw_gbs
    band = None if dram_bw_gbs is None else bool(case_by_case_2026(t, dram_bw_gbs))
    hbm = None
    if memory_type and memory_type.upper().replace(" ", "").startswith("HBM"):
        from ..econ.nodes import coef
        from ..econ.yield_cost import normalize_memory_type

        mt = normalize_memory_type(memory_type)
        dens = float(hbm_bandwidth_density(coef("hbm_bw_gbs_per_stack", mt), coef("hbm_footprint_mm2", mt)))
        hbm = {"type": mt, "bw_density_gbs_mm2": dens, "controlled_3a090c": dens > th("hbm_bw_density"),
               "license_exception_hbm": dens < th("hbm_exception_density"),
               "note": "3A090.c applies to HBM exported by itself; HBM co-packaged with a logic IC is excluded (wording to be checked)"}
    h20 = None
    if dram_bw_gbs is not None and interconnect_gbps is not None:
        h20 = bool(h20_ceiling_ok(dram_bw_gbs / 1000, interconnect_gbps))
    return {
        "name": name,
        "tpp": t,
        "tpp_by_precision": per,
        "tpp_precisions": best,
        "tpp_tf32_at_19_bits": t19,
        "tf32_flag": ("tf32" in tops) and abs(tops["tf32"] * 32 - t) < 1e-9 * t and tops["tf32"] * 32 > max([v for p, v in per.items() if p != "tf32"] or [0]),
        "applicable_die_area_mm2": applicable_area_mm2,
        "pd": pd,
        "datacenter": datacenter,
        "class_3a090": cls,
        "margins": margins,
        "case_by_case_2026": band,
        "dram_bw_gbs": dram_bw_gbs,
        "hbm_3a090c": hbm,
        "below_h20_ceiling": h20,
        "interconnect_gbps": interconnect_gbps,
        "sources": sources or {},
        "rule_version": rules()["rule_version"],
        "disclaimer": rules()["disclaimer"],
    }


_CHIP_TOPS_KEYS = ("int4", "fp4", "fp6", "int8", "fp8", "fp16", "bf16", "tf32", "fp32")


def chip_tops(chip) -> dict:
    return {k: chip.peak_tflops(k) for k in _CHIP_TOPS_KEYS if chip.peak_tflops(k) > 0}


def assess_chip(chip) -> dict:
    """Compliance report for a catalog chip (dense datasheet peaks, logic die area, memory BW),
    with its physical limits (econ.buildable) under `buildable`."""
    from ..econ.buildable import check_catalog_chip

    out = _assess_chip(chip)
    out["buildable"] = check_catalog_chip(chip)
    return out


def _assess_chip(chip) -> dict:
    area = chip.get("logic_die_area_mm2_total")
    bw = chip.get("memory_bandwidth_tbps")
    ic = chip.get("scaleup_bw_gbps_bidir")
    fields = ["logic_die_area_mm2_total", "memory_bandwidth_tbps", "bf16_tflops_dense", "fp8_tflops_dense", "int8_tops_dense"]
    return assess(
        chip.name, chip_tops(chip), area if isinstance(area, float) else None,
        datacenter=chip.form_factor != "consumer",
        dram_bw_gbs=bw * 1000 if isinstance(bw, float) else None,
        memory_type=chip.get("memory_type") if isinstance(chip.get("memory_type"), str) else None,
        interconnect_gbps=ic if isinstance(ic, float) else None,
        sources={f: chip.source_of(f) for f in fields},
    )


class DesignSpec(BaseModel):
    """A custom design file for `tapeout compliance --design FILE`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = "custom design"
    process_node: str = "N5"
    die_area_mm2: float = Field(gt=0, description="area of ONE logic die, mm^2")
    num_dies: int = Field(default=1, ge=1)
    extra_logic_area_mm2: float = Field(default=0.0, ge=0, description="other FinFET logic dies (I/O dies) in the package")
    tops: dict[str, float] = Field(description="dense peak TOPS/TFLOPS per precision for the whole package")
    memory_bandwidth_tbps: float | None = Field(default=None, ge=0)
    memory_type: str | None = None
    memory_gb: float | None = Field(default=None, ge=0)
    hbm_stacks: int | None = Field(default=None, ge=0)
    scaleup_bw_gbps_bidir: float | None = Field(default=None, ge=0)
    tdp_w: float | None = Field(default=None, gt=0)
    datacenter: bool = True
    # physical limits (econ/buildable.py): the package technology and cooling the design assumes
    packaging: str = "cowos-s"
    package_year: int = Field(default=2025, ge=2000, le=2100)
    cooling: str = "air"

    @field_validator("packaging", "cooling")
    @classmethod
    def _floorplan_choice(cls, v, info):
        from ..econ.floorplan import check_cooling, check_packaging

        check = check_packaging if info.field_name == "packaging" else check_cooling
        try:
            return check(v)
        except TapeoutError as e:
            raise ValueError(str(e).rstrip(".")) from None

    @field_validator("package_year")
    @classmethod
    def _package_year(cls, v, info):  # the packaging technology must exist that year (floorplan.yaml limits)
        from ..econ.floorplan import package_limit_mm2

        if "packaging" in info.data:  # else its own error is reported
            try:
                package_limit_mm2(info.data["packaging"], v)
            except TapeoutError as e:
                raise ValueError(str(e).rstrip(".")) from None
        return v

    @field_validator("process_node")
    @classmethod
    def _node(cls, v):  # a misspelt node is refused, not carried silently into the report
        from ..econ.nodes import parse_node

        try:
            parse_node(v)
        except TapeoutError as e:
            raise ValueError(str(e).rstrip(".")) from None
        return v

    @field_validator("tops")
    @classmethod
    def _tops(cls, v):
        bl = rules()["bit_length"]
        for k, x in v.items():
            if k not in bl:
                raise ValueError(f"unknown precision '{k}': use one of {', '.join(bl)}")
            if x < 0:
                raise ValueError(f"tops.{k} must be >= 0")
        if not v:
            raise ValueError("give at least one precision, e.g. {fp8: 1000, bf16: 500}")
        return v

    @property
    def applicable_area(self) -> float:
        return self.die_area_mm2 * self.num_dies + self.extra_logic_area_mm2


def load_design(path: str | Path) -> DesignSpec:
    from ..inputs import read_yaml_mapping

    p = Path(path)
    data = read_yaml_mapping(p, "--design", "design", f"--design {path}", "a design must be a mapping with die_area_mm2 and tops")
    try:
        return DesignSpec.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, f"--design {path}", "design") from None


# the design-file field that sets each physical limit (what the fix changes)
DESIGN_FIELDS = {"reticle": "die_area_mm2", "edge": "hbm_stacks", "package": "packaging", "thermal": "tdp_w",
                 "power_delivery": "tdp_w"}


def assess_design(design: DesignSpec | str | Path) -> dict:
    d = design if isinstance(design, DesignSpec) else load_design(design)
    out = assess(
        d.name, d.tops, d.applicable_area, datacenter=d.datacenter,
        dram_bw_gbs=None if d.memory_bandwidth_tbps is None else d.memory_bandwidth_tbps * 1000,
        memory_type=d.memory_type, interconnect_gbps=d.scaleup_bw_gbps_bidir,
        sources={"design": "user design file"},
    )
    out["buildable"] = design_buildable(d)
    return out


def design_buildable(d: DesignSpec) -> dict:
    """Physical limits of a design file (econ.buildable.check_package), each violation naming the
    design field to change."""
    from ..econ.buildable import check_package
    from ..econ.floorplan import FloorplanSettings

    hbm = bool(d.memory_type) and d.memory_type.upper().replace(" ", "").startswith("HBM")
    r = check_package(FloorplanSettings(packaging=d.packaging, year=d.package_year, cooling=d.cooling),
                      die_area_mm2=d.die_area_mm2, n_dies=d.num_dies,
                      hbm_stacks=float(d.hbm_stacks or 0) if hbm else 0.0,
                      memory_type=d.memory_type if hbm else "HBM3", scaleup_bw_gbps_bidir=d.scaleup_bw_gbps_bidir or 0.0,
                      power_w=d.tdp_w, extra_dies=1.0 if d.extra_logic_area_mm2 else 0.0,
                      extra_die_area_mm2=d.extra_logic_area_mm2)
    for v in r["violations"]:
        v["field"] = DESIGN_FIELDS[v["limit"]]
    if hbm and d.hbm_stacks is None:
        r["notes"].append("hbm_stacks not given: the die edge is checked without HBM PHYs")
    return r
