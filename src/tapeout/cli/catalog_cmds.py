"""`tapeout chips`, `tapeout show CHIP`, `tapeout models`, `tapeout calibrate`."""

from __future__ import annotations

import typer

from ..hardware.catalog import all_chips, get_chip
from ..perf.calibration import calibration_for
from ..workloads.llm_config import load_llm, preset_names
from .app import app, console, print_json, table

CHIP_COLUMNS = [
    ("bf16_tflops_dense", "BF16 TFLOPS"),
    ("fp8_tflops_dense", "FP8 TFLOPS"),
    ("memory_capacity_gb", "Mem GB"),
    ("memory_bandwidth_tbps", "Mem TB/s"),
    ("tdp_w", "TDP W"),
    ("process_node", "Node"),
]


@app.command("chips")
def chips_cmd(json_out: bool = typer.Option(False, "--json", help="machine-readable output")):
    """List the chip catalog."""
    chips = all_chips()
    if json_out:
        print_json([{"id": c.id, "name": c.name, "vendor": c.vendor, "family": c.family,
                     **{f: c.get(f) for f, _ in CHIP_COLUMNS}} for c in chips])
        return
    rows = [[c.id, c.name, *[c.get(f) for f, _ in CHIP_COLUMNS]] for c in chips]
    console.print(table(f"{len(chips)} chips", ["id", "name", *[h for _, h in CHIP_COLUMNS]], rows))


def _econ_summary(chip) -> dict | None:
    try:
        from ..econ import chip_econ_summary  # provided by the economics stage
    except ImportError:
        return None
    try:
        return chip_econ_summary(chip)
    except Exception as e:  # econ data may not cover every chip
        return {"error": str(e)}


@app.command("show")
def show_cmd(chip: str = typer.Argument(..., help="chip id or alias"),
             json_out: bool = typer.Option(False, "--json")):
    """Every sourced spec of one chip, its calibration, area, cost and export status."""
    c = get_chip(chip)
    cal = calibration_for(c)
    econ = _econ_summary(c)
    if json_out:
        d = c.as_dict()
        d["calibration"] = cal.as_dict()
        d["architecture_defaults"] = {f: {"value": c.get(f), "source": c.source_of(f)}
                                      for f in ("num_cores", "matrix_tile_m", "matrix_tile_n", "scaleup_domain_size",
                                                "onchip_sram_mb") if f not in c.specs}
        if econ is not None:
            d["economics"] = econ
        print_json(d)
        return
    rows = [[k, s.value, s.unit, s.status, s.source] for k, s in sorted(c.specs.items())]
    console.print(table(f"{c.id}: {c.name} ({c.vendor}, {c.family})", ["field", "value", "unit", "status", "source"], rows))
    crow = [[k, v, cal.origin.get(k, "")] for k, v in cal.as_dict().items() if k not in ("chip_id", "origin")]
    console.print(table("calibration (fitted to microbenchmarks)", ["factor", "value", "from"], crow))
    if econ:
        console.print(table("area, cost, compliance", ["item", "value"], [[k, v] for k, v in econ.items() if not isinstance(v, (dict, list))]))


@app.command("models")
def models_cmd(json_out: bool = typer.Option(False, "--json")):
    """List built-in LLM presets with parameter counts and KV-cache size."""
    rows = [load_llm(n).summary() for n in preset_names()]
    if json_out:
        print_json(rows)
        return
    console.print(table("LLM presets", ["name", "params (B)", "active (B)", "layers", "attention", "experts", "KV B/token (bf16)"],
                        [[r["name"], r["params_b"], r["active_params_b"], r["layers"], r["attention"], r["experts"],
                          r["kv_bytes_per_token_bf16"]] for r in rows]))
    try:
        from ..workloads.catalog import WORKLOADS  # non-LLM workloads (vision, recsys, ...)

        console.print(table("other workloads", ["name"], [[k] for k in WORKLOADS]))
    except ImportError:
        pass


@app.command("calibrate")
def calibrate_cmd(exclude: str = typer.Option(None, help="leave this chip's microbenchmarks out"),
                  out: str = typer.Option(None, help="write here instead of the packaged fitted.yaml"),
                  json_out: bool = typer.Option(False, "--json")):
    """Refit calibration factors from data/measured/microbenchmarks.csv (never end-to-end rows)."""
    from pathlib import Path

    from ..perf.fit import fit_all, write_fitted

    excl = get_chip(exclude).id if exclude else None
    fitted = fit_all(exclude=excl)
    path = write_fitted(fitted, Path(out) if out else None)
    if json_out:
        print_json(fitted)
        return
    rows = [[cid, e.get("eff_compute"), e.get("eff_mem"), e.get("eff_link"), e.get("kernel_overhead_us"), len(e.get("sources", []))]
            for cid, e in fitted["chips"].items()]
    console.print(table(f"calibration written to {path}", ["chip", "eff_compute", "eff_mem", "eff_link", "kernel us", "rows"], rows))
