"""Design-space exploration, whole studies and validation from Python: the functions behind
`tapeout explore`, `tapeout run` and `tapeout validate`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import TapeoutError
from .args import check_numbers
from .results import ExploreResult, StudyResult, ValidationResult


def maturity_levels(sensitivity: str | Sequence[float]) -> list[float]:
    """Maturity levels from "1,0.8,0.6" (the CLI's --sensitivity) or a sequence of numbers."""
    if not isinstance(sensitivity, str):
        return [float(x) for x in sensitivity]
    try:
        return [float(x) for x in sensitivity.split(",") if x.strip()]
    except ValueError:
        raise TapeoutError(f"--sensitivity '{sensitivity}': give comma-separated maturity levels, e.g. 1,0.8,0.6.") from None


def explore(space: str | Path | Mapping, db: str | None = None, backend: str = "local", address: str | None = None,
            search: str | None = None, budget: int | None = None, seed: int | None = None, maturity: float | None = None,
            sensitivity: str | Sequence[float] | None = None, baseline: str | None = None, parquet: str | None = None,
            top: int = 10, progress: bool = False) -> ExploreResult:
    """Search a design space of custom NPUs and store every design (`tapeout explore`).

    Args:
        space: design-space YAML path (docs/explore.md) or the same as a mapping.
        db: DuckDB file of evaluated designs (default: the space's name + .duckdb; a run resumes).
        backend: "local" or "ray". address: an existing Ray cluster.
        search: auto, grid or nsga2 (default: the space's). budget: NSGA-II evaluations.
        seed: NSGA-II seed. maturity: software maturity in (0, 1], fraction of calibrated efficiency.
        sensitivity: maturity levels for a sensitivity sweep of the best designs.
        baseline: catalog chip the margins are measured against (default: the space's).
        parquet: also export every stored design to this Parquet file.
        top: rows of the Pareto front to return (0 = all).
        progress: show a progress bar.

    Returns:
        ExploreResult: `front` rows (design parameters and metrics: perf_per_watt,
        perf_per_tco, tdp_w in W, unit_cost_usd in USD, tpp, ...), `best` per objective,
        counts (`total`, `evaluated`, `feasible`, `front_size`), `seconds` (s), `db`, and
        `maturity_sensitivity` when asked.
    """
    from ..explore.maturity import check_levels, maturity_sensitivity
    from ..explore.search import explore as engine
    from ..hardware.catalog import get_chip
    from ..inputs import output_file
    from ..explore.space import load_space
    from ..explore.store import Store

    check_numbers("explore", budget=budget, seed=seed, maturity=maturity, top=top)
    sp = load_space(space)
    if maturity is not None and not 0 < maturity <= 1:
        raise TapeoutError(f"--maturity must be in (0, 1], got {maturity}.")
    # what runs after the search is checked before it (a search runs for minutes)
    levels = check_levels(maturity_levels(sensitivity)) if sensitivity else None
    if baseline is not None:
        if not sensitivity:
            raise TapeoutError(f"--baseline {baseline}: the baseline is what the --sensitivity margins are measured "
                               "against; add --sensitivity LEVELS (e.g. 1,0.8,0.6) or drop --baseline.")
        get_chip(baseline)  # an unknown chip is refused here, naming `tapeout chips`
    if parquet:
        parquet = output_file(parquet, "--parquet")
    dbp = db or f"{re.sub(r'[^A-Za-z0-9_.-]', '_', sp.name)}.duckdb"
    res = engine(sp, db=dbp, backend=backend, address=address, search=search, budget=budget, seed=seed,
                 maturity=maturity, progress=progress)
    out = res.as_dict()
    out["front"] = out["front"][:top] if top else out["front"]
    if sensitivity:
        designs = list({id(v): v for v in res.best.values()}.values())
        sp_m = sp if maturity is None else sp.model_copy(update={"maturity": maturity})
        sens = maturity_sensitivity(sp_m, designs, levels, baseline or sp.baseline)
        sens["design_keys"] = [d["key"] for d in designs]
        out["maturity_sensitivity"] = sens
    if parquet:
        st = Store(dbp)
        st.export_parquet(parquet)
        st.close()
    return ExploreResult(out)


def run_study(study: str | Path, out: str | Path = "out/study", force: bool = False, backend: str = "local",
              address: str | None = None, progress: Callable[[str], None] | None = None) -> StudyResult:
    """Evaluate a study file (`tapeout run`): chips x workloads, custom NPUs explored, stored in
    `out/study.duckdb`, reported in `out/report.html`, results in `out/results.json`.

    Args:
        study: study file (YAML or TOML; see studies/flagship.yaml).
        out: output directory. force: overwrite a finished run there.
        backend: "local" or "ray" for the design-space sweeps. address: Ray cluster address.
        progress: called with a short message as each stage starts.

    Returns:
        StudyResult: `chip_summary` rows (perf_per_watt and perf_per_tco relative to the
        reference chip, fleet_tco_usd_per_year in USD/year, chips_in_fleet), `answer`,
        `reference_chip`, every evaluated cell, `seconds` (s). Same as `tapeout run --json`.
    """
    import json

    from ..study.runner import clean_json
    from ..study.runner import run_study as engine

    res = engine(study, out, force=force, backend=backend, address=address, progress=progress)
    return StudyResult(json.loads(json.dumps(clean_json(res), default=str)))  # paths etc. as text, as results.json


def validate(data: str | Path | None = None, holdout: str | None = None) -> ValidationResult:
    """Predicted vs measured for every row of an end_to_end.csv-schema file (`tapeout validate`).

    Args:
        data: CSV in end_to_end.csv's schema (default: the packaged measurements).
        holdout: recalibrate without this chip's microbenchmarks (leave-one-chip-out).

    Returns:
        ValidationResult: `rows` (one per measurement: measured, predicted, error_pct in %,
        low/high of the 80% interval, or the reason it was skipped), `summary` (median and mean
        absolute error in %, interval coverage, by class, benchmark, scenario, accelerator),
        `seconds` (s). `rows`/`summary` are what `tapeout validate --json FILE` writes.
    """
    from ..validation import harness

    res = harness.run(data, holdout=holdout)
    return ValidationResult({"holdout": holdout, "summary": res["summary"], "rows": [r.record() for r in res["results"]],
                             "seconds": res["seconds"]})
