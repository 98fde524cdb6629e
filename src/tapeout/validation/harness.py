"""Validation harness: predict every row of a measured-results CSV (end_to_end.csv schema)
that a registered mapper can express, and report errors, coverage and interval coverage.

Nothing here feeds back into the model: predictions use the calibration fitted on
microbenchmarks only; `holdout` refits it without one chip's microbenchmarks
(perf.fit.fit_all(exclude=...)) to measure how well an unseen chip is predicted.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import TapeoutError
from . import registry
from .rcp import apply_rcp, score_time_to_train


@dataclass
class RowResult:
    id: str
    category: str
    mapper: str
    benchmark: str
    scenario: str
    accelerator: str
    n_accelerators: str
    unit: str
    measured: float | None
    predicted: float | None = None
    error_pct: float | None = None
    low: float | None = None
    high: float | None = None
    inside: bool | None = None
    skipped: str | None = None
    detail: dict | None = None

    def record(self) -> dict:
        """Every field, the same keys for every row (a skipped row's prediction, interval and
        detail are null), so a reader of `validate --json` can index any row alike."""
        return asdict(self)


def default_data() -> Path:
    return Path(str(resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv")))


# columns every mapper or the harness reads; a file without one of them is unusable
REQUIRED_COLUMNS = ("id", "category", "workload", "scenario", "accelerator", "n_accelerators", "precision", "metric",
                    "value", "unit")


def read_rows(path: Path | str) -> list[dict]:
    """The rows of a CSV in end_to_end.csv's schema; a file that is not text, lacks a required
    column or has no data row is refused with one line."""
    import io

    from ..errors import TapeoutError
    from ..inputs import read_text

    text = read_text(path, "--data", "csv")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        head = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in head]
        if missing:
            raise TapeoutError(f"--data '{path}': missing column(s) {', '.join(missing)}; the header needs "
                               f"{', '.join(REQUIRED_COLUMNS)} (see end_to_end.csv).")
        rows = list(reader)
    except csv.Error as e:
        raise TapeoutError(f"--data '{path}': not a readable CSV ({e}).") from None
    if not rows:
        raise TapeoutError(f"--data '{path}': has a header but no data rows; add at least one measured row.")
    return rows


def row_problem(row: dict) -> str | None:
    """Why a row cannot be scored whatever the mapper (None: it can)."""
    v = row.get("value")
    try:
        meas = float(v)
    except (TypeError, ValueError):
        return f"value '{v}' is not a number"
    if not math.isfinite(meas) or meas <= 0:
        return f"value '{v}' is not a finite number > 0"
    n = (row.get("n_accelerators") or "").strip()
    if not n.isdigit() or int(n) < 1:
        return f"n_accelerators '{n}' is not a positive integer"
    return None


def scenario_class(row: dict) -> str:
    s = row.get("scenario", "").lower()
    if registry.interactive_variant(row):
        return "interactive"  # MLPerf v5.0+ "<bench>-interactive" rows: LoadGen Server under interactive bounds
    if s.startswith("offline") or "max-throughput" in s or s.startswith("batch"):
        return "offline"
    if s.startswith("server") or "online" in s:
        return "server"
    if "time-to-train" in s or "training" in s:
        return "training"
    return s.split(" ")[0] if s else "?"


def predict_row(row: dict, fitted: dict | None = None, covered=None) -> RowResult:
    """One row's prediction. `fitted`: the calibration every mapper predicts with (None: the
    shipped fit); `covered`: what the model was developed on (validation/development.py;
    default: the packaged end_to_end.csv's descriptions), from which LLM inference and
    training rows get their distance terms."""
    try:
        meas = float(row["value"])
    except (TypeError, ValueError):
        meas = None
    base = dict(id=row.get("id", ""), category=row.get("category", ""), scenario=scenario_class(row),
                accelerator=row.get("accelerator", ""), n_accelerators=row.get("n_accelerators", ""),
                unit=row.get("unit", ""), measured=meas if meas is not None and math.isfinite(meas) else None)
    bad = row_problem(row)
    if bad:
        return RowResult(mapper="-", benchmark=_bench_guess(row), skipped=bad, **base)
    for name, fn in registry.MAPPERS:
        try:
            pred = fn(row, fitted)
        except registry.SkipRow as e:
            return RowResult(mapper=name, benchmark=_bench_guess(row), skipped=str(e), **base)
        except TapeoutError as e:  # the model declines this row (does not fit, unknown name): report it per row;
            # any other exception is a bug and propagates instead of becoming a silently skipped row
            return RowResult(mapper=name, benchmark=_bench_guess(row), skipped=f"error: {e}", **base)
        if pred is None:
            continue
        if meas is None or meas <= 0:
            return RowResult(mapper=name, benchmark=pred.benchmark, skipped="measured value missing", **base)
        if not (pred.predicted and math.isfinite(pred.predicted) and pred.predicted > 0):
            return RowResult(mapper=name, benchmark=pred.benchmark, skipped="prediction not finite", **base)
        apply_rcp(pred, row)  # a throughput row's score carries MLPerf's RCP factor (validation/rcp.py)
        err = (pred.predicted - meas) / meas * 100.0
        if pred.low is None:
            _default_interval(pred, row, fitted)
        from ..perf.calibration import load_fitted
        from .development import apply, apply_chip, default_covered

        if name in ("llm_inference", "llm_training"):  # the same distance terms for both
            apply(pred, row, fitted or load_fitted(), covered if covered is not None else default_covered())
        else:  # a chip of a family no microbenchmark covers widens every row it predicts
            apply_chip(pred, row, fitted or load_fitted())
        inside = None if pred.low is None else bool(pred.low <= meas <= pred.high)
        score_time_to_train(pred, meas)  # the same row at the benchmark's RCP convergence point, where on file
        if fitted is not None and fitted.get("kernel_db"):  # calibrated on the kernel database: which stack/version
            from ..hardware.catalog import resolve_chip_id
            from .stack_version import kernel_db_detail

            kd = kernel_db_detail(row, resolve_chip_id(row.get("accelerator", "")), fitted)
            if kd is not None:
                pred.detail = {**(pred.detail or {}), "kernel_db": kd}
        return RowResult(mapper=name, benchmark=pred.benchmark, predicted=pred.predicted, error_pct=err, low=pred.low,
                         high=pred.high, inside=inside, detail=pred.detail, **base)
    return RowResult(mapper="-", benchmark=_bench_guess(row), skipped="no mapper handles this row kind", **base)


def _default_interval(pred, row: dict, fitted: dict | None = None) -> None:
    """A mapper that returns no interval gets the calibration's one for the row's chip with
    unknown time shares (perf/uncertainty.py: the largest per-term leave-one-chip-out sigma,
    a bound). Mappers that know their compute/memory/link shares should call
    perf.uncertainty.interval_for(value, chip, shares=...) themselves."""
    from ..hardware.catalog import get_chip, resolve_chip_id
    from ..perf.uncertainty import interval_for

    cid = resolve_chip_id(row.get("accelerator", ""))
    if not cid:
        return
    pred.low, pred.high = interval_for(pred.predicted, get_chip(cid), fitted=fitted)
    pred.detail = {**(pred.detail or {}), "interval": "harness default: chip calibration, unknown shares"}


def _bench_guess(row: dict) -> str:
    w = row.get("workload", "")
    parts = w.split()
    if w.startswith("MLPerf") and len(parts) > 3:
        return parts[3].split("/")[0]
    return w[:40]


def run(path: Path | str | None = None, holdout: str | None = None, rows: list[dict] | None = None,
        fitted: dict | None = None, covered=None) -> dict:
    """Predict every row. `holdout`: keep that chip's rows and, unless `fitted` is given (a fit
    that already leaves the chip out), recalibrate without its microbenchmarks; `fitted`: predict under this calibration instead of the shipped one (e.g. a
    refit without one precision's microbenchmarks); `covered`: see predict_row."""
    from ..hardware.catalog import resolve_chip_id

    registry.load_mappers()
    rows = rows if rows is not None else read_rows(path or default_data())
    t0 = time.perf_counter()
    if holdout:
        from ..hardware.catalog import get_chip
        from ..perf.fit import fit_all

        hid = get_chip(holdout).id
        rows = [r for r in rows if resolve_chip_id(r.get("accelerator", "")) == hid]
        if fitted is None:  # a caller's fit with a holdout must already leave the chip out (kernel_calibration.build)
            from ..perf.kernels_db import holding_out

            # passed explicitly: nothing global changes; marked, so no database-derived number of the chip is read
            fitted = holding_out(fit_all(exclude=hid), hid)
    results = [predict_row(r, fitted, covered) for r in rows]
    return {"results": results, "seconds": time.perf_counter() - t0, "holdout": holdout, "summary": summarize(results)}


def _stats(rs: list[RowResult]) -> dict:
    errs = np.array([abs(r.error_pct) for r in rs if r.error_pct is not None])
    ins = [r.inside for r in rs if r.inside is not None]
    return {"n": int(len(errs)), "median_abs_err_pct": float(np.median(errs)) if len(errs) else None,
            "mean_abs_err_pct": float(np.mean(errs)) if len(errs) else None,
            "median_signed_err_pct": float(np.median([r.error_pct for r in rs if r.error_pct is not None])) if len(errs) else None,
            "interval_coverage": float(np.mean(ins)) if ins else None}


def target_class(r: RowResult) -> str:
    if r.mapper == "llm_inference":
        return f"LLM inference {r.scenario}"
    if r.mapper == "llm_training":
        return "LLM training"
    if r.mapper == "mlperf-other-inference":  # issue targets are per scenario (Offline)
        return f"other inference {r.scenario}"
    return r.mapper if r.mapper not in ("-", "mlperf-unmapped") else "unmapped"


def at_rcp(r: RowResult) -> RowResult | None:
    """The row as its time-to-train prediction (at the benchmark's RCP convergence point) scores."""
    ttt = (r.detail or {}).get("time_to_train")
    if not ttt or ttt.get("error_pct") is None:
        return None
    return replace(r, predicted=ttt["predicted"], error_pct=ttt["error_pct"], low=ttt["low"], high=ttt["high"],
                   inside=ttt["inside"])


def by_training_measure(pred: list[RowResult]) -> dict:
    """Training rows by what their error measures (issue 18): each row under its own `measures`, plus
    every row with an RCP a second time as `time-to-train` at the RCP's convergence point; the row set
    at the RCP is also listed alone ("... (RCP rows)") so the two measures compare on the same rows."""
    measured = [r for r in pred if (r.detail or {}).get("measures")]
    groups: dict[str, list] = {}
    for r in measured:
        groups.setdefault(r.detail["measures"], []).append(r)
    rcp = [(r, t) for r in measured if (t := at_rcp(r)) is not None]
    if rcp:
        groups.setdefault("time-to-train", []).extend(t for _, t in rcp)
        groups["throughput (RCP rows)"] = [r for r, _ in rcp if r.detail["measures"] == "throughput"]
        groups["time-to-train (RCP rows)"] = [t for _, t in rcp]
    return {k: _stats(v) for k, v in sorted(groups.items())}


def summarize(results: list[RowResult]) -> dict:
    out: dict = {}
    pred = [r for r in results if r.error_pct is not None]
    out["by_training_measure"] = by_training_measure(pred)
    for key, f in (("by_class", target_class), ("by_category", lambda r: r.category), ("by_benchmark", lambda r: r.benchmark),
                   ("by_scenario", lambda r: r.scenario), ("by_accelerator", lambda r: r.accelerator)):
        groups: dict[str, list] = {}
        for r in pred:
            groups.setdefault(f(r), []).append(r)
        out[key] = {k: _stats(v) for k, v in sorted(groups.items())}
    cov: dict[str, dict] = {}
    for r in results:
        c = cov.setdefault(target_class(r), {"rows": 0, "predicted": 0})
        c["rows"] += 1
        c["predicted"] += r.error_pct is not None
    for c in cov.values():
        c["coverage"] = c["predicted"] / c["rows"] if c["rows"] else 0.0
    out["coverage"] = cov
    out["overall"] = _stats(pred)
    out["llm_layouts"] = layout_comparison(pred)
    return out


def layout_comparison(pred: list[RowResult]) -> dict:
    """LLM inference rows at tapeout's own layout (the headline) and, for the rows whose
    submission's engine layout is on file, the same rows at that layout (issue 15)."""
    llm = [r for r in pred if r.mapper == "llm_inference"]
    pinned = [r for r in llm if (r.detail or {}).get("at_submitted_layout")]

    def err(r: RowResult) -> float:
        return (r.detail["at_submitted_layout"]["predicted"] - r.measured) / r.measured * 100.0

    sub = [abs(err(r)) for r in pinned]
    return {"automatic, all rows": _stats(llm), "automatic, rows with a submitted layout": _stats(pinned),
            "submitted layout, same rows": {"n": len(sub), "median_abs_err_pct": float(np.median(sub)) if sub else None,
                                            "median_signed_err_pct": float(np.median([err(r) for r in pinned])) if sub else None}}


def worst(results: list[RowResult], n: int = 10, cls: str | None = None) -> list[RowResult]:
    rs = [r for r in results if r.error_pct is not None and (cls is None or target_class(r).startswith(cls))]
    return sorted(rs, key=lambda r: -abs(r.error_pct))[:n]
