"""`tapeout chips`, `tapeout show CHIP`, `tapeout models`, `tapeout calibrate`."""

from __future__ import annotations

import typer

from .. import api
from ..api.catalog import CHIP_COLUMNS, econ_summary
from ..hardware.catalog import get_chip
from ..hardware.params import scaleout_link
from ..perf.calibration import calibration_for
from ..workloads.llm_config import load_llm, preset_names
from .app import app, console, print_json, table

@app.command("chips")
def chips_cmd(json_out: bool = typer.Option(False, "--json", help="machine-readable output")):
    """List the chip catalog."""
    chips = api.chips().rows()
    if json_out:
        print_json(chips)
        return
    rows = [[c["id"], c["name"], *[c[f] for f in CHIP_COLUMNS]] for c in chips]
    console.print(table(f"{len(chips)} chips", ["id", "name", *CHIP_COLUMNS.values()], rows))


@app.command("show")
def show_cmd(chip: str = typer.Argument(..., help="chip id or alias"),
             json_out: bool = typer.Option(False, "--json")):
    """Every sourced spec of one chip, its calibration, area, cost and export status."""
    if json_out:
        print_json(api.get_chip(chip).to_dict())
        return
    c = get_chip(chip)
    cal = calibration_for(c)
    econ = econ_summary(c)
    rows = [[k, s.value, s.unit, s.status, s.source] for k, s in sorted(c.specs.items())]
    console.print(table(f"{c.id}: {c.name} ({c.vendor}, {c.family})", ["field", "value", "unit", "status", "source"], rows))
    arch = api.get_chip(c.id).to_dict()["architecture_defaults"]  # family data the chip's own table lacks, with status
    console.print(table("architecture defaults (family data; status unsourced: no source read, the generic value)",
                        ["field", "value", "source"], [[k, v["value"], v["source"]] for k, v in arch.items()]))
    net = scaleout_link(c)
    nrow = [["used by the model", f"{net['gbps']:g}", f"{'host link' if net['binds'] == 'host_link' else 'NIC'} binds: {net['rule']}"],
            ["NIC", f"{net['nic_gbps']:g}", net["nic_source"]]]
    if net["host_link_gbps"] is not None:
        nrow.append(["host link (PCIe)", f"{net['host_link_gbps']:g}", net["host_link_source"]])
    console.print(table("scale-out per chip (GB/s per direction)", ["rate", "GB/s", "source"], nrow))
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
def calibrate_cmd(exclude: str = typer.Option(None, help="leave this chip's microbenchmarks out (a leave-one-chip-out "
                                              "fit: written only with --out / --json, never over the packaged fit)"),
                  out: str = typer.Option(None, help="write here instead of the packaged fitted.yaml"),
                  json_out: str = typer.Option(None, "--json", help="write the fit as JSON to this file ('-': stdout)"),
                  kernels: str = typer.Option(None, "--kernels", help="fit on a measured kernel database: aiconfigurator "
                                              "(needs pip install 'tapeout\\[kernels]')"),
                  holdout: str = typer.Option(None, "--holdout", help="with --kernels: fit without this chip, report the "
                                              "error on all of its kernels"),
                  stack: str = typer.Option(None, "--stack", help="with --kernels: software stack (trtllm, sglang, vllm)"),
                  stack_version: str = typer.Option(None, "--stack-version", help="with --kernels: stack version "
                                                    "(default: the newest the database has per chip)"),
                  per_group: int = typer.Option(300, "--per-group", help="with --kernels: kernels per (chip, op, format) "
                                                "in the fit; the held-out chip is scored on 10x as many")):
    """Refit calibration factors from data/measured/microbenchmarks.csv (never end-to-end rows),
    or (--kernels) shared structural kernel-efficiency parameters from a measured kernel database."""
    import json
    from pathlib import Path

    from ..api.results import jsonable

    if kernels is None and (holdout or stack or stack_version):
        from ..errors import TapeoutError

        raise TapeoutError("--holdout/--stack/--stack-version apply to a kernel database: add --kernels aiconfigurator "
                           "(microbenchmarks: use --exclude CHIP).")
    from ..inputs import output_file

    # the files the fit will write, checked before it runs (minutes)
    out = output_file(out, "--out") if out else None
    json_out = json_out if json_out in (None, "-") else output_file(json_out, "--json")
    if kernels is not None:
        fitted = _kernel_calibration(kernels, holdout, stack, stack_version, per_group)
        if out:
            import yaml

            Path(out).write_text(yaml.safe_dump(jsonable({k: fitted[k] for k in ("source", "fit", "fixed_time_offsets_us")}),
                                      sort_keys=False))
    else:
        from ..perf.fit import fit_all, write_fitted

        excl = get_chip(exclude).id if exclude else None
        fitted = fit_all(exclude=excl)
        # a leave-one-chip-out fit never replaces the shipped calibration every prediction reads
        path = write_fitted(fitted, out) if out or not excl else f"nowhere (--exclude {excl}: give --out FILE to keep it)"
    if json_out == "-":
        print_json(fitted)
        return
    if json_out:
        Path(json_out).write_text(json.dumps(jsonable(fitted), indent=1))
    if kernels is not None:
        src = fitted["source"]
        console.print(table(f"{src['package']} {src['package_version']}: shared parameters ({fitted['fit']['rows']} kernels "
                            f"of {', '.join(fitted.get('train_chips') or sorted(src['chips']))})",
                            ["parameter", "value"], [[k, v] for k, v in fitted["fit"]["params"].items()]))
        if src.get("switches"):  # the fit's module switches (kernel_fit.model_switches): each changes the parameters above
            console.print(table("kernel-fit switches (perf/kernel_fit.py)", ["switch", "value", "--kernels serving"],
                                [[k, str(v["value"]), v["serving"]] for k, v in src["switches"].items()]))
        if fitted.get("fixed_time_offsets_us"):  # FIXED_TIME_BY_FAMILY "measured" (fitted: the ovhfam_* above)
            console.print(table("GEMM fixed time per kernel: the family's offset to ovh_<format> (measured empty GEMMs, "
                                "perf/kernel_floor.py; a family not listed: 0)", ["family/format", "us"],
                                [[k, v] for k, v in fitted["fixed_time_offsets_us"].items()]))
        errs = {fitted["holdout"]: fitted["errors"]} if holdout else fitted["errors"]  # the chip id, not the alias given
        console.print(table("held-out chip: |error| per op and format" if holdout else "in-sample |error| per chip, op, format",
                            ["chip", "op/format", "kernels", "median %", "p90 %", "median signed %"],
                            [[c, g, e["n"], e["median_abs_err_pct"], e["p90_abs_err_pct"], e["median_signed_err_pct"]]
                             for c, d in errs.items() for g, e in d.items()]))
        for c, e in src["chips"].items():
            for n in e.get("notes", []):
                console.print(f"{c}: {n}")
    else:
        rows = [[cid, e.get("eff_compute"), e.get("eff_mem"), e.get("eff_link"), e.get("kernel_overhead_us"),
                 e.get("tile_overhead_us"), len(e.get("sources", []))] for cid, e in fitted["chips"].items()]
        console.print(table(f"calibration written to {path}",
                            ["chip", "eff_compute", "eff_mem", "eff_link", "kernel us", "tile us", "rows"], rows))
    if json_out:
        console.print(f"wrote {json_out}")


def _kernel_calibration(kernels: str, holdout: str | None, stack: str | None, stack_version: str | None,
                        per_group: int) -> dict:
    from ..errors import TapeoutError, require_positive
    from ..perf import kernel_fit
    from ..perf.gemm_table import check_kernels
    from ..perf.kernel_collectives import with_collectives
    from ..perf.kernel_floor import read_floors
    from ..perf.kernel_holdout import held_out_report
    from ..perf.kernels_db import chip_for, read_kernels

    check_kernels(kernels)
    require_positive("--per-group", per_group)
    if holdout is None:
        out = kernel_fit.calibrate(read_kernels(stack=stack, stack_version=stack_version, per_group=per_group),
                                   floors=read_floors(None, stack, stack_version) if kernel_fit.FIXED_TIME_BY_FAMILY == "measured" else {})
        with_collectives(out["errors"], stack)  # measured collectives against the engine (nothing fitted)
        return out
    hid = chip_for(holdout).id
    train = read_kernels(stack=stack, stack_version=stack_version, per_group=per_group)
    systems = sorted({s["system"] for s in train.sources if s["chip"] == hid})
    if not systems:
        raise TapeoutError(f"--holdout '{holdout}': the kernel database has no kernels of it; use one of "
                           f"{', '.join(sorted({s['chip'] for s in train.sources}))}.")
    test = read_kernels(stack=stack, stack_version=stack_version, per_group=10 * per_group, systems=systems)
    # every empty GEMM but the chip's (FIXED_TIME_BY_FAMILY "measured" only)
    floors = read_floors(hid, stack, stack_version) if kernel_fit.FIXED_TIME_BY_FAMILY == "measured" else {}
    # its kernels, collectives and fused-MoE layers at the held-out fit (perf/kernel_holdout.py)
    out = held_out_report(train, test, hid, floors, stack, stack_version, systems)
    out["source"] = kernel_fit.source_of(train)
    return out
