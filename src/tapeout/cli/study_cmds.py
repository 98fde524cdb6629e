"""`tapeout run STUDY --out DIR`: the whole answer in one command and one page."""

from __future__ import annotations

import typer

from .app import app, console, err_console, print_json, table


@app.command("run")
def run_cmd(
    study: str = typer.Argument(..., help="study file (YAML or TOML)"),
    out: str = typer.Option("out/study", "--out", "-o", help="output directory (report.html, results.json, study.duckdb)"),
    force: bool = typer.Option(False, "--force", help="overwrite a finished run in --out"),
    backend: str = typer.Option("local", "--backend", help="local | ray (design-space sweeps)"),
    address: str = typer.Option(None, "--address", help="Ray cluster address"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    json_out: bool = typer.Option(False, "--json", help="print results.json to stdout"),
):
    """Evaluate a study: chips x workloads, explore custom NPUs, store, and write the HTML report."""
    from .. import api

    if quiet or json_out:
        res = api.run_study(study, out, force=force, backend=backend, address=address)
    else:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True) as prog:
            task = prog.add_task("evaluating", total=None)
            res = api.run_study(study, out, force=force, backend=backend, address=address,
                            progress=lambda msg: prog.update(task, description=msg))
    res = res.to_dict()
    if json_out:
        import json

        print(json.dumps(res))
        return
    if quiet:
        return
    rows = [[s["chip"], s.get("perf_per_watt"), s.get("perf_per_tco"),
             (s.get("fleet_tco_usd_per_year") or 0) / 1e6 if s.get("fleet_tco_usd_per_year") else None, s.get("chips_in_fleet")]
            for s in res["chip_summary"]]
    console.print(table(f"{res['study']['name']} (relative to {res['reference_chip']})",
                        ["chip", "perf/W", "perf/TCO$", "fleet TCO M$/yr", "accelerators"], rows))
    console.print(res["answer"])
    console.print(f"report: {out}/report.html  ({res['seconds']} s)")
