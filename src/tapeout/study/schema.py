"""Study file schema (YAML or TOML), validated with pydantic; errors name field and line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import TapeoutError, pick_error

WORKLOAD_KINDS = ("llm-serving", "llm-training", "recsys", "vision", "diffusion", "speech", "encoder", "custom")

# traffic units a workload may state, and the throughput unit each needs per second
TRAFFIC_UNITS = {
    "tokens_per_day": ("tokens", 86400.0),
    "tokens_per_s": ("tokens", 1.0),
    "queries_per_s": ("queries", 1.0),
    "queries_per_day": ("queries", 86400.0),
    "clips_per_day": ("clips", 86400.0),
    "images_per_day": ("images", 86400.0),
    "images_per_s": ("images", 1.0),
    "audio_hours_per_day": ("audio_s", 86400.0 / 3600.0),
    "samples_per_s": ("samples", 1.0),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Traffic(Strict):
    tokens_per_day: float | None = Field(None, gt=0)
    tokens_per_s: float | None = Field(None, gt=0)
    queries_per_s: float | None = Field(None, gt=0)
    queries_per_day: float | None = Field(None, gt=0)
    clips_per_day: float | None = Field(None, gt=0)
    images_per_day: float | None = Field(None, gt=0)
    images_per_s: float | None = Field(None, gt=0)
    audio_hours_per_day: float | None = Field(None, gt=0)
    samples_per_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in TRAFFIC_UNITS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one traffic figure, one of: {', '.join(TRAFFIC_UNITS)} (got {given or 'none'})")
        return self

    def demand(self) -> tuple[str, float]:
        """(unit, units per second) the fleet must sustain."""
        for k, (unit, div) in TRAFFIC_UNITS.items():
            v = getattr(self, k)
            if v is not None:
                return unit, v / div
        raise AssertionError


class SLO(Strict):
    ttft_s: float | None = Field(None, gt=0)
    tpot_s: float | None = Field(None, gt=0)
    p99_s: float | None = Field(None, gt=0)
    latency_s: float | None = Field(None, gt=0)


class WorkloadSpec(Strict):
    name: str = Field(min_length=1)
    kind: Literal["llm-serving", "llm-training", "recsys", "vision", "diffusion", "speech", "encoder", "custom"]
    model: str = Field(min_length=1)
    traffic: Traffic
    slo: SLO = SLO()
    weight: float = Field(1.0, gt=0)
    precision: str = "bf16"
    params: dict[str, Any] = Field(default_factory=dict)
    quality_budget: float | None = Field(None, ge=0, le=1)
    growth: float | None = Field(None, ge=-1, description="demand growth per year (default economics.demand_growth)")


class Constraints(Strict):
    max_tdp_w: float | None = Field(None, gt=0)
    max_die_area_mm2: float | None = Field(None, gt=0)
    export: Literal["any", "not-controlled", "not-controlled-or-2026-band", "2026-band"] = "any"
    hbm_generations: list[str] | None = None
    nodes: list[str] | None = None
    max_unit_cost_usd: float | None = Field(None, gt=0)
    min_memory_gb: float | None = Field(None, gt=0)
    quality_budget: float | None = Field(None, ge=0, le=1)
    # floorplan limits of custom designs (econ/floorplan.py, data/econ/floorplan.yaml)
    buildable: bool = True  # apply the reticle, edge, package, thermal, power-delivery and rack limits
    packaging: str | None = None  # cowos-s, cowos-l, emib, organic (default: the space's, else cowos-s)
    package_year: int | None = Field(None, ge=2000, le=2100)
    cooling: str | None = None  # air, cold_plate, immersion (default: the space's, else air)
    chips_per_rack: float | None = Field(None, gt=0)
    rack_kw: float | None = Field(None, gt=0)

    @field_validator("packaging")
    @classmethod
    def _packaging(cls, v):
        from ..econ.floorplan import check_packaging

        return v if v is None else check_packaging(v)

    @field_validator("cooling")
    @classmethod
    def _cooling(cls, v):
        from ..econ.floorplan import check_cooling

        return v if v is None else check_cooling(v)


class Search(Strict):
    method: Literal["auto", "grid", "nsga2"] = "auto"
    budget: int = Field(2000, gt=0)
    seed: int = 0
    top_k: int = Field(3, gt=0)


class Range(Strict):
    low: float = Field(ge=0)
    mid: float | None = Field(None, ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g}); give low <= high")
        if self.mid is not None and not self.low <= self.mid <= self.high:
            raise ValueError(f"mid ({self.mid:g}) must lie between low and high")
        return self


class Economics(Strict):
    """Program economics and TCO inputs; every one has a sourced default in data/econ/."""

    # program volume of a custom design: derived from its fleet (fleet x growth x refresh over
    # the program life) unless given here; `volume` is the older name of the same override
    program_volume: float | None = Field(None, gt=0)
    volume: float | None = Field(None, gt=0)
    program_years: float | None = Field(None, gt=0)
    refresh_years: float | None = Field(None, gt=0)
    time_to_market_months: float | None = Field(None, ge=0)
    demand_growth: float | None = Field(None, ge=-1, description="per year; -1 = demand falls to zero")
    start_year: int = Field(2026, ge=2000, le=2100)
    plan_years: int = Field(5, ge=1, le=15)
    nre: dict[str, Range] = Field(default_factory=dict)
    prices: dict[str, float] = Field(default_factory=dict)
    # fleet plan: price decline per year of bought chips (chip id or `default`; data/econ/roadmap.csv)
    price_decline: dict[str, float] = Field(default_factory=dict)
    # TCO per chip-year (econ/tco.py), defaults in data/econ/coefficients.csv
    years: float | None = Field(None, gt=0)
    usd_per_kwh: float | None = Field(None, gt=0)
    pue: float | None = Field(None, ge=1)
    cost_of_capital: float | None = Field(None, ge=0, le=1)
    facility_usd_per_kw: float | None = Field(None, ge=0)
    facility_years: float | None = Field(None, gt=0)
    maintenance_fraction: float | None = Field(None, ge=0, le=1)
    network_fraction: float | None = Field(None, ge=0, lt=1)
    server_usd_per_chip: float | None = Field(None, ge=0)
    utilisation: float | None = Field(None, gt=0, le=1)
    # decision under uncertainty (study/decision.py)
    samples: int = Field(10_000, ge=100, le=1_000_000)
    seed: int = 0
    ranges: dict[str, Range] = Field(default_factory=dict)

    @field_validator("prices")
    @classmethod
    def _prices(cls, v):
        for k, x in v.items():
            if not x >= 0:
                raise ValueError(f"price of '{k}' is {x:g}: give a price >= 0 USD")
        return v

    @field_validator("price_decline")
    @classmethod
    def _declines(cls, v):
        for k, x in v.items():
            if not x < 1:
                raise ValueError(f"decline of '{k}' is {x:g} per year: the price path goes zero or negative; "
                                 "give a fraction below 1 (0.12 = 12% a year)")
        return v

    @field_validator("nre")
    @classmethod
    def _nre_items(cls, v):
        from ..econ.program import nre_items

        bad = [k for k in v if k not in nre_items()]
        if bad:
            raise ValueError(f"unknown NRE item {bad[0]!r}: use one of {', '.join(nre_items())}")
        return v

    @field_validator("ranges")
    @classmethod
    def _range_inputs(cls, v):
        from .decision import RANGE_INPUTS

        bad = [k for k in v if k not in RANGE_INPUTS]
        if bad:
            raise ValueError(f"unknown uncertain input {bad[0]!r}: use one of {', '.join(RANGE_INPUTS)}")
        return v


class Study(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    workloads: list[WorkloadSpec] = Field(min_length=1)
    chips: list[str] = Field(default_factory=list)
    chips_per_node: int = Field(8, gt=0)
    design_spaces: list[str] = Field(default_factory=list)
    constraints: Constraints = Constraints()
    objectives: list[Literal["perf_per_watt", "perf_per_tco", "latency"]] = ["perf_per_watt", "perf_per_tco"]
    search: Search = Search()
    economics: Economics = Economics()

    @field_validator("chips")
    @classmethod
    def _known_chips(cls, v):
        from ..hardware.catalog import get_chip

        return [get_chip(c).id for c in v]

    @model_validator(mode="after")
    def _something_to_compare(self):
        if not self.chips and not self.design_spaces:
            raise ValueError("name at least one chip (chips:) or one design space (design_spaces:)")
        names = [w.name for w in self.workloads]
        if len(set(names)) != len(names):
            raise ValueError(f"workload names must be unique, got {names}")
        return self


def _line_index(text: str) -> dict[tuple, int]:
    """Map YAML key paths (tuples of keys/indices) to 1-based line numbers."""
    out: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(node, path):
        out.setdefault(path, node.start_mark.line + 1)  # a key's own line, not its block value's
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                out[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
    return out


def parse_study_text(text: str, where: str = "study", fmt: str = "yaml") -> Study:
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise TapeoutError(f"{where}:{line}: not valid {fmt.upper()} ({getattr(e, 'problem', None) or e}).") from None
    if not isinstance(data, dict):
        raise TapeoutError(f"{where}: a study must be a mapping with name, workloads and chips.")
    from ..inputs import refuse_wrong_kind

    refuse_wrong_kind(data, "study file", where, "study")
    lines = _line_index(text) if fmt == "yaml" else {}
    try:
        return Study.model_validate(data)
    except TapeoutError as e:
        line = lines.get(("chips",))
        raise TapeoutError(f"{where}{f' line {line}' if line else ''}: field 'chips': {e}") from None
    except ValidationError as e:
        err = pick_error(e)
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        path = ".".join(str(x) for x in loc) or "study"
        line = None
        for n in range(len(loc), -1, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        msg = err["msg"].removeprefix("Value error, ").rstrip(".")
        raise TapeoutError(f"{where}{f' line {line}' if line else ''}: field '{path}': {msg}.") from None


def load_study(path: str | Path) -> tuple[Study, Path]:
    from ..inputs import read_text

    p = Path(path)
    fmt = "toml" if p.suffix == ".toml" else "yaml"
    text = read_text(p, "study file", "study")
    return parse_study_text(text, str(p), fmt), p.resolve().parent
