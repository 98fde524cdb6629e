"""`tapeout validate`: predicted vs measured for every mappable row, error tables, coverage."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..api.results import jsonable
from .app import app, console, table


MEASURES = {  # validation/train_rows.py measures(): where a training row's convergence point comes from
    "throughput": "convergence point read from the row (MLPerf log): scores throughput",
    "time-to-train": "convergence point from the benchmark definition (the RCP at the row's batch, rcps.yaml; "
                     "else benchmarks.yaml): scores time-to-train",
    "throughput (RCP rows)": "the throughput rows whose benchmark has an RCP at their global batch",
    "time-to-train (RCP rows)": "the same rows at that RCP (validation/rcp.py), against the reported score",
}


def training_measure_table(by_measure: dict):
    """Training rows split by what their error measures (issue 18); both kinds always listed."""
    rows = []
    for k, what in MEASURES.items():
        v = by_measure.get(k)
        rows.append([k, what, v["n"], v["median_abs_err_pct"], v["median_signed_err_pct"], v["interval_coverage"]]
                    if v else [k, what, 0, None, None, None])
    return table("training rows: what the error measures", ["measures", "meaning", "n", "median |err| %",
                                                             "median signed %", "in 80% interval"], rows)


@app.command("validate")
def validate_cmd(
    data: Path = typer.Option(None, "--data", help="CSV in end_to_end.csv's schema (default: the packaged one)"),
    json_out: Path = typer.Option(None, "--json", help="write one record per row to this file"),
    holdout: str = typer.Option(None, "--holdout", help="recalibrate without this chip's microbenchmarks; report its rows"),
    rows_table: bool = typer.Option(True, "--rows/--no-rows", help="print the per-row table"),
    kernels: str = typer.Option(None, "--kernels", help="calibrate the kernel database's chips on it: aiconfigurator "
                                "(needs pip install 'tapeout\\[kernels]'); with --holdout, fit without that chip's kernels"),
    stack: str = typer.Option(None, "--stack", help="with --kernels: software stack (trtllm, sglang, vllm)"),
    stack_version: str = typer.Option(None, "--stack-version", help="with --kernels: stack version"),
):
    """Compare predictions with published measurements (MLPerf, vendor tables)."""
    from ..errors import TapeoutError
    from ..validation import harness

    from ..inputs import output_file

    json_out = output_file(json_out, "--json") if json_out else None  # checked before the rows run (minutes)
    fitted = None
    if kernels is not None:
        from ..perf.gemm_table import check_kernels
        from ..perf.kernel_calibration import build

        check_kernels(kernels)
        fitted = build(holdout=holdout, stack=stack, stack_version=stack_version)
        console.print(f"calibration: {', '.join(sorted(fitted['kernel_db']['source']['chips']))} from "
                      f"{fitted['kernel_db']['source']['package']} {fitted['kernel_db']['source']['package_version']}"
                      + (f" (kernels of {fitted['kernel_db']['holdout']} left out)" if holdout else "")
                      + "; every other chip from the microbenchmark fit")
    elif stack or stack_version:
        raise TapeoutError("--stack/--stack-version apply to a kernel database: add --kernels aiconfigurator.")
    res = harness.run(data, holdout=holdout, fitted=fitted)
    results = res["results"]
    if rows_table:
        console.print(table(
            "predicted vs measured" + (f" (holdout {holdout})" if holdout else ""),
            ["id", "benchmark", "scenario", "accelerator", "n", "measured", "predicted", "unit", "err %", "80% interval"],
            [[r.id, r.benchmark, r.scenario, r.accelerator, r.n_accelerators, r.measured, r.predicted, r.unit[:24],
              f"{r.error_pct:+.1f}", f"{r.low:.4g}..{r.high:.4g}" if r.low else "-"]
             for r in results if r.error_pct is not None]))
    s = res["summary"]
    for key, title in (("by_class", "error by class"), ("by_category", "error by category"), ("by_benchmark", "error by benchmark"),
                       ("by_scenario", "error by scenario"), ("by_accelerator", "error by accelerator")):
        console.print(table(title, ["group", "n", "median |err| %", "mean |err| %", "median signed %", "in 80% interval"],
                            [[k, v["n"], v["median_abs_err_pct"], v["mean_abs_err_pct"], v["median_signed_err_pct"],
                              v["interval_coverage"]] for k, v in s[key].items()]))
    console.print(training_measure_table(s.get("by_training_measure") or {}))
    # issue 15: the automatic layout is the headline; the submission's own layout beside it where on file
    console.print(table("LLM serving: automatic layout vs the submitted one", ["rows", "n", "median |err| %",
                        "median signed %", "in 80% interval"],
                        [[k, v["n"], v["median_abs_err_pct"], v["median_signed_err_pct"], v.get("interval_coverage")]
                         for k, v in s.get("llm_layouts", {}).items()]))
    console.print(table("coverage", ["class", "rows", "predicted", "coverage"],
                        [[k, v["rows"], v["predicted"], f"{v['coverage'] * 100:.0f}%"] for k, v in s["coverage"].items()]))
    reasons: dict[str, int] = {}
    for r in results:
        if r.skipped:
            reasons[f"{r.mapper}: {r.skipped}"] = reasons.get(f"{r.mapper}: {r.skipped}", 0) + 1
    console.print(table("skipped rows by reason", ["reason", "rows"], sorted(([k, v] for k, v in reasons.items()), key=lambda x: -x[1])))
    overall = (f"overall median |err| {s['overall']['median_abs_err_pct']:.1f}% over {s['overall']['n']} rows"
               if s['overall']['n'] else "no row could be predicted (reasons above)")
    console.print(f"{len(results)} rows in {res['seconds']:.1f} s; {overall}")
    if json_out:
        Path(json_out).write_text(json.dumps(jsonable({"holdout": holdout, "summary": s, "kernel_db": (fitted or {}).get("kernel_db"),
                                                        "rows": [r.record() for r in results]}), indent=1))
        console.print(f"wrote {json_out}")
