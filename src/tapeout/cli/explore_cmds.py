"""`tapeout explore SPACE.yaml` (design-space search into a DuckDB store) and
`tapeout designs DB` (query the store)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import TapeoutError
from ..inputs import output_file
from .app import app, console, err_console, print_json, table

SHOW = ["cores", "array_rows", "array_cols", "dataflow", "clock_ghz", "mem_type", "mem_stacks", "chiplets", "node"]


@app.command("explore")
def explore_cmd(
    space: Path = typer.Argument(..., help="design-space YAML (see docs/explore.md)"),
    db: str = typer.Option(None, "--db", help="DuckDB file of evaluated designs (default: SPACE name + .duckdb)"),
    backend: str = typer.Option("local", "--backend", help="local or ray"),
    address: str = typer.Option(None, "--address", help="address of an existing Ray cluster (default: start a local one)"),
    search: str = typer.Option(None, "--search", help="auto, grid or nsga2 (default: the space's setting)"),
    budget: int = typer.Option(None, "--budget", help="NSGA-II evaluation budget"),
    seed: int = typer.Option(None, "--seed", help="NSGA-II seed"),
    maturity: float = typer.Option(None, "--maturity", help="software maturity in (0, 1]: fraction of calibrated efficiency"),
    sensitivity: str = typer.Option(None, "--sensitivity", help="maturity levels for the sensitivity sweep of the best designs, e.g. 1,0.8,0.6"),
    baseline: str = typer.Option(None, "--baseline", help="catalog chip the margin is measured against (default: the space's)"),
    parquet: str = typer.Option(None, "--parquet", help="also export every stored design to this Parquet file"),
    top: int = typer.Option(10, "--top", help="rows of the Pareto front to print"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Search a design space; store every design; print the Pareto front and the best per objective."""
    from .. import api

    res = api.explore(space, db=db, backend=backend, address=address, search=search, budget=budget, seed=seed,
                      maturity=maturity, sensitivity=sensitivity, baseline=baseline, parquet=parquet, top=top,
                      progress=not json_out).to_dict()
    if json_out:
        print_json(res)
        return
    objs = [o["metric"] for o in res["objectives"]]
    cols = SHOW + objs + ["tdp_w", "unit_cost_usd", "tpp"]
    rows = [[r.get(c) for c in cols] for r in res["front"]]
    console.print(table(f"Pareto front of {res['space']}: {res['front_size']} designs (first {len(rows)})", cols, rows))
    brows = [[m] + [b.get(c) for c in SHOW + objs] for m, b in res["best"].items()]
    console.print(table("best per objective", ["objective"] + SHOW + objs, brows))
    sens = res.get("maturity_sensitivity")
    if sens is not None:
        srows = []
        for i, d in enumerate(sens["designs"]):
            for e in d["levels"]:
                srows.append([f'{sens["design_keys"][i] & 0xFFFFFFFFFFFFFFFF:016x}', e["maturity"]] + [e.get(f"margin_{k}", e.get(f"retained_{k}")) for k in sens["metrics"]]
                             + [e.get(f"survives_{k}") for k in sens["metrics"]])
        head = ["design key", "maturity"] + [("margin " if sens["baseline"] else "retained ") + k for k in sens["metrics"]] \
            + [f"survives {k}" for k in sens["metrics"]]
        base = sens["baseline"]["chip"] if sens["baseline"] else "none"
        console.print(table(f"software-maturity sensitivity (baseline {base}, mature stack)", head, srows))
    from rich.markup import escape

    removed = ", ".join(f"{escape(k)}: {v}" for k, v in sorted(res["removed"].items(), key=lambda kv: -kv[1]) if v)
    console.print(
        f"[bold]{res['total']:,}[/] designs in {res['db']} for this question ({res['evaluated']:,} evaluated now, "
        f"{res['reused']:,} reused), {res['feasible']:,} feasible, front {res['front_size']}, "
        f"{res['method']} on {res['backend']}, {res['seconds']:.1f} s."
        + (f"\nremoved by constraint: {removed}" if removed else "")
    )


@app.command("designs")
def designs_cmd(
    db: str = typer.Argument(..., help="DuckDB file written by `tapeout explore`"),
    where: str = typer.Option(None, "--where", help="SQL condition, e.g. \"feasible = 1 AND tdp_w < 500\""),
    top: int = typer.Option(20, "--top", help="rows to show (0 = all)"),
    by: str = typer.Option(None, "--by", help="metric to sort by (descending; see --asc)"),
    asc: bool = typer.Option(False, "--asc", help="sort ascending"),
    columns: str = typer.Option(None, "--columns", help="comma-separated columns to show"),
    parquet: str = typer.Option(None, "--parquet", help="export the selected rows to Parquet"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Query stored designs: filter, sort by a metric, show the top K."""
    from ..explore.store import Store

    if not Path(db).is_file():
        raise TapeoutError(f"design database '{db}' not found; run `tapeout explore SPACE --db {db}` first.")
    st = Store(db, read_only=True)
    have = st.columns()
    if not have:
        raise TapeoutError(f"'{db}' holds no designs yet.")
    if by is not None and by not in have:
        raise _unknown_column(by, have)
    cols = None
    if columns:
        cols = [c.strip() for c in columns.split(",") if c.strip()]
        for c in cols:
            if c not in have:
                raise _unknown_column(c, have)
    order = f'"{by}" {"ASC" if asc else "DESC"} NULLS LAST, key' if by else "key"
    if parquet:
        st.export_parquet(output_file(parquet, "--parquet"), where)
    rows = st.rows(columns=cols, where=where, order_by=order, limit=top or None)
    total = st.con.execute("SELECT count(*) FROM designs" + (f" WHERE {where}" if where else "")).fetchone()[0]
    st.close()
    if json_out:
        print_json({"db": db, "matching": int(total), "rows": rows})
        return
    show = cols or ["key"] + [c for c in SHOW if c in have] + [c for c in ("perf_per_watt", "perf_per_tco", "slo_ratio", "tdp_w", "unit_cost_usd", "feasible") if c in have]
    if by and by not in show:
        show.append(by)
    fmt_key = lambda c, v: f"{v & 0xFFFFFFFFFFFFFFFF:016x}" if c == "key" and isinstance(v, int) else v  # noqa: E731
    console.print(table(f"{len(rows)} of {total:,} matching designs in {db}", show,
                        [[fmt_key(c, r.get(c)) for c in show] for r in rows]))
    if not rows:
        err_console.print("no design matches; loosen --where.")


def _unknown_column(name: str, have: dict) -> TapeoutError:
    import difflib

    close = difflib.get_close_matches(name, list(have), n=4, cutoff=0.4)
    hint = f" Closest: {', '.join(close)}." if close else ""
    return TapeoutError(f"unknown column '{name}'.{hint} Columns: {', '.join(have)}.")
