"""Typed, immutable results of the public API (tapeout.serve, tapeout.cost, ...).

Every result is a frozen dataclass over a read-only mapping: `r.output_tokens_per_s` reads
a field, `r.to_dict()` gives the JSON-ready dict the CLI prints with `--json`, and
`r.to_frame()` gives a pandas DataFrame (the optional `pandas` extra): the rows of a table
result, else one row of its scalar fields. The annotated attributes of each class are the
headline fields; every key of `to_dict()` is readable as an attribute.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from ..errors import TapeoutError


def jsonable(x):
    """`x` with numpy scalars/arrays as Python numbers/lists and NaN/inf as None (JSON-safe)."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _frozen(x):
    """A read-only deep view: mappings become MappingProxyType, lists tuples."""
    if isinstance(x, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return tuple(_frozen(v) for v in x)
    return x


@dataclass(frozen=True, repr=False)
class Record:
    """Base of every API result: an immutable record with `.to_dict()` and `.to_frame()`."""

    data: Mapping[str, Any]

    # key of `data` holding the rows of a table result (None: one-row frame of the scalars)
    _table_key = None

    def __post_init__(self):
        object.__setattr__(self, "data", _frozen(jsonable(self.data)))

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "data":
            raise AttributeError(name)
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field '{name}'; fields: {', '.join(self.data)}") from None

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.data))

    def __repr__(self) -> str:
        head = ", ".join(f"{k}={v!r}" for k, v in self.data.items() if not isinstance(v, (Mapping, tuple)))
        return f"{type(self).__name__}({head[:400]}{'...' if len(head) > 400 else ''})"

    def to_dict(self) -> dict:
        """A plain, JSON-serialisable dict: the CLI's `--json` output for the same inputs."""
        return _thaw(self.data)

    def rows(self) -> list[dict]:
        """The table of this result as a list of dicts (one row of scalar fields if not a table)."""
        if self._table_key is not None:
            return [_thaw(r) for r in self.data[self._table_key]]
        return [{k: v for k, v in self.to_dict().items() if not isinstance(v, (dict, list))}]

    def to_frame(self):
        """The rows as a pandas DataFrame (needs the `pandas` extra: pip install 'tapeout[pandas]')."""
        try:
            import pandas as pd
        except ImportError:
            raise TapeoutError("to_frame() needs pandas: pip install 'tapeout[pandas]' (or use .rows()).") from None
        return pd.DataFrame(self.rows())


def _refuse(self, name, value=None):
    raise FrozenInstanceError(f"{type(self).__name__} is immutable: cannot assign to '{name}' (use .to_dict() for a copy).")


# every subclass is immutable too (the dataclass guard covers only the class it decorates)
Record.__setattr__ = _refuse
Record.__delattr__ = _refuse


def _thaw(x):
    if isinstance(x, Mapping):
        return {k: _thaw(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return [_thaw(v) for v in x]
    return x


class ServeResult(Record):
    """LLM serving prediction (`tapeout serve`). Throughput in output tokens/s, latencies in
    seconds, memory in GiB per chip, power in W per chip, energy in J per output token; all
    fields of `tapeout serve --json` (perf.llm.ServingResult, or the MLPerf preset's record)."""

    model: str
    chip: str
    num_chips: int
    parallelism: str
    output_tokens_per_s: float
    ttft_s: float
    tpot_s: float


class ExplainResult(Record):
    """Per-op table of one serving step (`tapeout explain`): `ops` rows with GFLOP, DRAM MB,
    bound, time in ms, energy in J and share of the step; `step_time_s` (s), `energy_j` (J),
    `assumptions`, and the `serving` prediction it explains."""

    _table_key = "ops"
    ops: tuple
    step_time_s: float
    energy_j: float
    assumptions: Mapping[str, Any]
    serving: Mapping[str, Any]


class TrainResult(Record):
    """LLM training step (`tapeout train`): step time in s, tokens/s for the cluster, MFU as a
    fraction, memory in GiB per chip, `time_to_train_min` (minutes) for MLPerf presets."""

    model: str
    chip: str
    parallelism: str
    step_time_s: float
    tokens_per_s: float
    mfu: float


class BenchmarkTrainResult(Record):
    """A non-LLM MLPerf Training run (`tapeout train --benchmark retinanet ...`): `time_to_train_min`
    (minutes incl. evaluation passes; None without a convergence point on file), samples/s of the
    job, step time in s, `breakdown` in s, the benchmark `definition` with sources."""

    benchmark: str
    chip: str
    samples_per_s: float
    step_time_s: float


class WorkloadResult(Record):
    """A non-LLM workload preset on one chip (`tapeout workload-run`): time per batch in s,
    units (samples, queries, frames, ...) per s, energy in J, dominant bound."""

    workload: str
    chip: str
    time_s: float
    units_per_s: float


class WorkloadExplainResult(Record):
    """Per-op table of a non-LLM workload preset (`tapeout workload-explain`): `ops` rows with
    GFLOP, DRAM MB, bound, time in ms, energy in J and share; `graph_time_s` (s per batch),
    `energy_j` (J per batch), `assumptions`, and the `workload` record it explains."""

    _table_key = "ops"
    ops: tuple
    graph_time_s: float
    energy_j: float
    assumptions: Mapping[str, Any]
    workload: Mapping[str, Any]


class CostResult(Record):
    """Unit cost stack of a chip (`tapeout cost`), all in USD per unit: dies, memory, package,
    assembly/test, yield loss, manufacturing, NRE per unit, total."""

    chip: str
    manufacturing: float
    nre: float
    total: float


class ComplianceResult(Record):
    """Export-control assessment (`tapeout compliance`): TPP (TOPS x bit length), performance
    density (TPP / mm2), 3A090 class, January-2026 band, margins. Not legal advice."""

    name: str
    tpp: float
    pd: float
    class_3a090: str


class ChipsResult(Record):
    """The chip catalog (`tapeout chips`): one row per chip, peaks in TFLOPS, memory in GB and
    TB/s, TDP in W."""

    _table_key = "chips"
    chips: tuple


class ExploreResult(Record):
    """A design-space search (`tapeout explore`): the Pareto `front` (rows of designs with their
    metrics), `best` design per objective, counts and the DuckDB store path `db`."""

    _table_key = "front"
    front: tuple
    best: Mapping[str, Any]
    front_size: int
    db: str


class StudyResult(Record):
    """A whole study (`tapeout run`): `chip_summary` rows (perf/W, perf/TCO relative to the
    reference chip, fleet TCO in USD/year, accelerators), the `answer`, and every cell."""

    _table_key = "chip_summary"
    chip_summary: tuple
    answer: str
    reference_chip: str


class ValidationResult(Record):
    """Predicted vs measured (`tapeout validate`): one row per measurement (error in %, 80%
    interval), and `summary` error tables by class, benchmark, scenario and accelerator."""

    _table_key = "rows"
    summary: Mapping[str, Any]


class ChipInfo(Record):
    """One chip (`tapeout show CHIP --json`): id, name, vendor, family, `specs` (field ->
    value, unit, status, source), `calibration`, `architecture_defaults`, `economics`."""

    id: str
    name: str
    family: str
    specs: Mapping[str, Any]
    calibration: Mapping[str, Any]


class ModelInfo(Record):
    """An LLM (preset or config.json): parameters in billions, layers, attention kind, KV bytes
    per token at BF16, and the validated `config`."""

    name: str
    params_b: float
    active_params_b: float
    config: Mapping[str, Any]
