"""Design spaces in YAML, validated with pydantic: parameter ranges and choices, derived
parameters, a workload mix with traffic weights and SLOs, constraints, objectives, search
settings. See docs/explore.md for the format and studies/spaces/npu_5nm.yaml for an example.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, StrictBool, field_validator, model_validator

from ..errors import TapeoutError, validation_error
from .npu import Template, load_template

EXPORT_STATUSES = ("not_controlled", "3A090.b", "3A090.a", "band_2026")


class ParamRange(BaseModel):
    """A parameter's values: an explicit list, or min/max with step, or num points (lin/log)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    values: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    num: int | None = Field(default=None, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _check(self):
        if self.values is not None:
            if not self.values:
                raise ValueError("values must not be empty")
            return self
        if self.min is None or self.max is None:
            raise ValueError("give either values: [...] or min and max")
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) > max ({self.max})")
        if self.step is not None and self.step <= 0:
            raise ValueError("step must be > 0")
        if self.log and self.min <= 0:
            raise ValueError("log ranges need min > 0")
        return self

    def grid(self) -> list:
        if self.values is not None:
            return list(self.values)
        if self.step is not None:
            n = int(math.floor((self.max - self.min) / self.step + 1e-9)) + 1
            return [round(self.min + i * self.step, 10) for i in range(n)]
        n = self.num or (1 if self.min == self.max else 5)
        if self.log:
            return [float(x) for x in np.geomspace(self.min, self.max, n)]
        return [float(x) for x in np.linspace(self.min, self.max, n)]


class WorkloadSpec(BaseModel):
    """One workload of the mix. kind: llm_decode, llm_prefill, or a workload-catalog preset or
    builder (workloads/catalog.py). Extra keys become builder parameters."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    name: str
    kind: str
    weight: float = Field(default=1.0, gt=0)
    slo_ms: float | None = Field(default=None, gt=0)
    units_per_eval: float | None = Field(default=None, gt=0)
    chips: int | None = Field(default=None, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)

    def builder_params(self) -> dict:
        extra = dict(self.model_extra or {})
        return {**extra, **self.params}


class FloorplanSpec(BaseModel):
    """Packaging technology and year, cooling class and rack of the `limit` constraints
    (econ/floorplan.py; choices in data/econ/floorplan.yaml)."""

    model_config = ConfigDict(extra="forbid")
    packaging: str = "cowos-s"
    year: int = Field(default=2025, ge=2000, le=2100)
    cooling: str = "air"
    chips_per_rack: float | None = Field(default=None, gt=0)
    rack_kw: float | None = Field(default=None, gt=0)

    @field_validator("packaging")
    @classmethod
    def _packaging(cls, v):
        from ..econ.floorplan import check_packaging

        return check_packaging(v)

    @field_validator("cooling")
    @classmethod
    def _cooling(cls, v):
        from ..econ.floorplan import check_cooling

        return check_cooling(v)

    @model_validator(mode="after")
    def _available(self):
        self.settings()  # the technology exists in that year
        return self

    def settings(self):
        from ..econ.floorplan import FloorplanSettings

        return FloorplanSettings(packaging=self.packaging, year=self.year, cooling=self.cooling,
                                 chips_per_rack=self.chips_per_rack, rack_kw=self.rack_kw)


class Constraint(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    metric: str | None = None
    min: float | None = None
    max: float | None = None
    export: list[str] | None = None
    allowed: dict[str, list[Any]] | None = None
    slo: bool | None = None
    reticle: bool | None = None
    limit: str | None = None  # a floorplan limit: edge, package, thermal, power_delivery, rack

    @model_validator(mode="after")
    def _one(self):
        from ..econ.floorplan import LIMITS

        kinds = [k for k in ("metric", "export", "allowed", "slo", "reticle", "limit") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a constraint has exactly one of: metric (with min/max), export, allowed, slo, reticle, limit")
        if self.limit is not None and self.limit not in LIMITS:
            raise ValueError(f"limit '{self.limit}' is not known: use one of {', '.join(LIMITS)}")
        if self.metric is not None and self.min is None and self.max is None:
            raise ValueError(f"constraint on '{self.metric}' needs min or max")
        if self.metric is not None and self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"constraint on '{self.metric}': min ({self.min}) > max ({self.max})")
        if self.export is not None:
            bad = [s for s in self.export if s not in EXPORT_STATUSES]
            if bad:
                raise ValueError(f"unknown export status '{bad[0]}': use {', '.join(EXPORT_STATUSES)}")
        return self

    def label(self) -> str:
        if self.metric is not None:
            parts = []
            if self.min is not None:
                parts.append(f">= {self.min:g}")
            if self.max is not None:
                parts.append(f"<= {self.max:g}")
            return f"{self.metric} {' and '.join(parts)}"
        if self.export is not None:
            return f"export in [{', '.join(self.export)}]"
        if self.allowed is not None:
            return "allowed " + "; ".join(f"{k} in {v}" for k, v in self.allowed.items())
        if self.slo:
            return "all SLOs met"
        if self.limit is not None:
            from ..econ.floorplan import LIMIT_LABELS

            return LIMIT_LABELS[self.limit]
        from ..econ.buildable import LABELS

        return LABELS["reticle"]


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    metric: str
    goal: Literal["max", "min"] = "max"


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    method: Literal["auto", "grid", "nsga2"] = "auto"
    budget: int = Field(default=5000, ge=1)
    seed: int = 0
    grid_limit: int = Field(default=200_000, ge=1)
    chunk: int = Field(default=8192, ge=1)
    population: int = Field(default=64, ge=4)


class Space(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = "space"
    description: str = ""
    template: Literal["npu"] = "npu"
    parameters: dict[str, ParamRange | list[Any] | str | int | float | bool] = Field(default_factory=dict)
    derived: dict[str, str] = Field(default_factory=dict)
    workloads: list[WorkloadSpec]
    maturity: float | dict[str, float] = 1.0
    floorplan: FloorplanSpec = Field(default_factory=FloorplanSpec)
    constraints: list[Constraint] = Field(default_factory=list)
    objectives: list[Objective] = Field(default_factory=lambda: [
        Objective(metric="perf_per_watt", goal="max"), Objective(metric="perf_per_tco", goal="max"),
        Objective(metric="slo_ratio", goal="min")])
    search: SearchSettings = Field(default_factory=SearchSettings)
    baseline: str | None = None  # catalog chip for the maturity-sensitivity margin
    # a design that cannot be built (econ/buildable.py: die beyond the reticle, PHYs beyond the die
    # edge, package beyond the packaging technology, heat or power beyond the cooling class) is
    # infeasible unless the space opts out here
    physical_limits: StrictBool = True  # true / false only: "no" or 0 is refused, not read as false (register_chip alike)

    @field_validator("physical_limits", mode="before")
    @classmethod
    def _switch(cls, v):
        if not isinstance(v, bool):
            raise ValueError(f"a switch: give true or false (YAML booleans), got {v!r}")
        return v

    @field_validator("workloads")
    @classmethod
    def _wl(cls, v):
        if not v:
            raise ValueError("give at least one workload")
        names = [w.name for w in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate workload name '{sorted(dup)[0]}'")
        return v

    # ------------------------------------------------------------------ derived views
    def effective_constraints(self) -> list[Constraint]:
        """The declared constraints, then each physical limit (econ.buildable.PHYSICAL_LIMITS) the
        space did not declare, unless physical_limits is false. `reticle: false` drops the reticle."""
        declared = [c for c in self.constraints if c.reticle is not False]
        if not self.physical_limits:
            return declared
        from ..econ.buildable import PHYSICAL_LIMITS

        have = {"reticle" if c.reticle is not None else c.limit for c in self.constraints}
        return declared + [Constraint(reticle=True) if lim == "reticle" else Constraint(limit=lim)
                           for lim in PHYSICAL_LIMITS if lim not in have]

    def ranges(self) -> dict[str, list]:
        """Every varied or fixed parameter -> its list of values (codes are not applied)."""
        out = {}
        for name, r in self.parameters.items():
            if isinstance(r, ParamRange):
                out[name] = r.grid()
            elif isinstance(r, list):
                if not r:
                    raise TapeoutError(f"parameters.{name}: empty list of values.")
                out[name] = r
            else:
                out[name] = [r]
        return out

    def coded_ranges(self, template: Template | None = None) -> dict[str, np.ndarray]:
        t = template or load_template()
        return {n: np.array([t.params[n].code(v) for v in vals], dtype=float) for n, vals in self.ranges().items()}

    @property
    def size(self) -> int:
        return int(np.prod([len(v) for v in self.ranges().values()], dtype=object)) if self.parameters else 1

    def maturity_dict(self) -> dict[str, float]:
        return maturity_dict(self.maturity)

    def context_hash(self) -> str:
        """What the stored metrics depend on besides the design: workloads, maturity, model version."""
        from . import MODEL_VERSION

        # the space's own parameters, derived expressions and constraints are part of the context:
        # two spaces sharing one store (a study's 5 nm and 7 nm spaces) never mix their designs,
        # and a changed constraint re-derives feasibility instead of reusing stale flags
        blob = json.dumps({"workloads": [w.model_dump() for w in self.workloads], "maturity": self.maturity_dict(),
                           "model": MODEL_VERSION, "parameters": self.model_dump().get("parameters"),
                           "derived": self.model_dump().get("derived"),
                           "constraints": [c.model_dump() for c in self.effective_constraints()],
                           "floorplan": self.model_dump().get("floorplan")},
                          sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


MATURITY_CLASSES = ("gemm", "attention", "memory", "vector", "collective")


def maturity_dict(m) -> dict[str, float]:
    if isinstance(m, (int, float)):
        out = {k: float(m) for k in MATURITY_CLASSES}
    else:
        bad = [k for k in m if k not in MATURITY_CLASSES]
        if bad:
            raise TapeoutError(f"maturity class '{bad[0]}' is not known: use {', '.join(MATURITY_CLASSES)}.")
        out = {k: float(m.get(k, 1.0)) for k in MATURITY_CLASSES}
    for k, v in out.items():
        if not 0 < v <= 1:
            raise TapeoutError(f"maturity.{k} must be in (0, 1] (fraction of calibrated efficiency), got {v}.")
    return out


# ---------------------------------------------------------------------- derived expressions
_FUNCS = {"min": np.minimum, "max": np.maximum, "where": np.where, "ceil": np.ceil, "floor": np.floor,
          "log2": np.log2, "sqrt": np.sqrt, "abs": np.abs, "round": np.round}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Call, ast.Name, ast.Load,
            ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
            ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.And, ast.Or, ast.BitAnd, ast.BitOr, ast.IfExp)


def compile_expr(name: str, expr: str, known: set[str]):
    try:
        tree = ast.parse(str(expr), mode="eval")
    except SyntaxError as e:
        raise TapeoutError(f"derived.{name}: '{expr}' is not an expression ({e.msg}).") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise TapeoutError(f"derived.{name}: '{expr}' uses {type(node).__name__}; allowed: arithmetic, comparisons, "
                               f"{', '.join(_FUNCS)}.")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS):
            raise TapeoutError(f"derived.{name}: only the functions {', '.join(_FUNCS)} may be called.")
        if isinstance(node, ast.Name) and node.id not in known and node.id not in _FUNCS:
            raise TapeoutError(f"derived.{name}: '{node.id}' is not a parameter (known: {', '.join(sorted(known))}).")
    return compile(tree, f"<derived.{name}>", "eval")


def apply_derived(space: Space, design: dict[str, np.ndarray], template: Template | None = None) -> dict:
    """Evaluate derived parameters in order; returns the design with them added (as codes)."""
    t = template or load_template()
    out = dict(design)
    n = max([np.size(v) for v in design.values()] or [1])
    known = set(t.params)
    for name, expr in space.derived.items():
        code = compile_expr(name, expr, known)
        env = {k: v for k, v in out.items()}
        for k in known - set(env):  # defaults for parameters not set
            env[k] = np.full(n, t.params[k].code(t.params[k].default))
        with np.errstate(all="ignore"):
            v = eval(code, {"__builtins__": {}, **_FUNCS}, env)  # noqa: S307 (AST-whitelisted)
        v = np.broadcast_to(np.asarray(v, dtype=float), (n,))
        if t.params[name].kind == "int":
            v = np.round(v)
        out[name] = v
    return out


# ---------------------------------------------------------------------- loading
def load_space(path_or_dict) -> Space:
    if isinstance(path_or_dict, Space):
        return path_or_dict
    where = "space"
    if isinstance(path_or_dict, dict):
        data = path_or_dict
    else:
        from ..inputs import read_yaml_mapping

        p = Path(path_or_dict)
        where = str(p)
        data = read_yaml_mapping(p, "design space file", "space", where,
                                 "a design space must be a mapping with parameters, workloads and objectives")
    try:
        space = Space.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, where, "space") from None
    validate_space(space)
    return space


def validate_space(space: Space) -> None:
    """Checks that need the template and the metric list (pydantic checks the shape)."""
    from .objectives import metric_names

    t = load_template()
    for name in list(space.parameters) + list(space.derived):
        if name not in t.params:
            from ..errors import unknown_name_error

            raise unknown_name_error("NPU parameter", name, list(t.params))
    both = set(space.parameters) & set(space.derived)
    if both:
        raise TapeoutError(f"parameter '{sorted(both)[0]}' is both varied and derived; keep one.")
    for name, vals in space.ranges().items():
        spec = t.params[name]
        for v in vals:
            c = spec.code(v)
            if isinstance(c, float) and not math.isfinite(c):  # NaN passes every range comparison
                raise TapeoutError(f"parameters.{name}: {v} is not a finite number; give values in the template range "
                                   f"[{spec.min}, {spec.max}] ({spec.unit}).")
            if spec.kind in ("int", "float") and ((spec.min is not None and c < spec.min) or (spec.max is not None and c > spec.max)):
                raise TapeoutError(f"parameters.{name}: {v} is outside the template range [{spec.min}, {spec.max}] ({spec.unit}).")
    for name, expr in space.derived.items():
        compile_expr(name, expr, set(t.params))
    known = metric_names(space)
    for c in space.constraints:
        if c.metric is not None and c.metric not in known:
            raise _unknown_metric("constraint", c.metric, known)
        if c.allowed is not None:
            for k, vals in c.allowed.items():
                if k not in t.params:
                    from ..errors import unknown_name_error

                    raise unknown_name_error("NPU parameter", k, list(t.params))
                for v in vals:
                    t.params[k].code(v)
    if space.baseline is not None:  # checked before the search, used after it (maturity sensitivity)
        from ..hardware.catalog import get_chip

        try:
            get_chip(space.baseline)
        except TapeoutError as e:
            raise TapeoutError(f"field 'baseline': {e}") from None
    for o in space.objectives:
        if o.metric not in known:
            raise _unknown_metric("objective", o.metric, known)
    if not space.objectives:
        raise TapeoutError("objectives: give at least one (e.g. {metric: perf_per_watt, goal: max}).")
    space.maturity_dict()
    from .mix import compile_workload

    for w in space.workloads:  # a misspelt model, kind or parameter: refused here, not once the grid has started
        compile_workload(w)


def _unknown_metric(where: str, name: str, known: set[str]) -> TapeoutError:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=4, cutoff=0.4)
    hint = f" Closest: {', '.join(close)}." if close else ""
    return TapeoutError(f"{where} names unknown metric '{name}'.{hint} Metrics: {', '.join(sorted(known))}.")
