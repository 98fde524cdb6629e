"""Workload commands: `tapeout import`, `tapeout run-workload`, `tapeout workloads`,
`tapeout workload-run` (presets) and `tapeout transcode` (video engines + SR)."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import TapeoutError
from ..perf.calibration import engine_params
from .app import app, console, fmt, print_json, table


def _parse_dims(dims: list[str] | None) -> dict[str, int]:
    out = {}
    for d in dims or []:
        if "=" not in d:
            raise TapeoutError(f"--dim '{d}' must be NAME=VALUE, e.g. --dim batch=8.")
        k, v = d.split("=", 1)
        try:
            out[k.strip()] = int(v)
        except ValueError:
            raise TapeoutError(f"--dim {k}: value '{v}' must be an integer.") from None
        if out[k.strip()] <= 0:
            raise TapeoutError(f"--dim {k}: value must be > 0.")
    return out


@app.command("import")
def import_cmd(model: str = typer.Argument(..., help="ONNX file"),
               dim: Optional[list[str]] = typer.Option(None, "--dim", help="bind a symbolic dim, NAME=VALUE"),
               out: str = typer.Option(..., "--out", help="workload file to write (.workload.json)"),
               precision: Optional[str] = typer.Option(None, help="override the compute dtype (bf16, fp8, int8, ...)")):
    """Lower an ONNX model into the op set and save it as a workload file."""
    from ..inputs import output_file
    from ..workloads.imported import lower_onnx, save_workload

    out = str(output_file(out, "--out"))
    g = lower_onnx(model, _parse_dims(dim), precision)
    save_workload(g, out)
    console.print(f"wrote {out}: {len(g.ops)} ops, {g.flops / 1e9:.3g} GFLOP, {g.bytes / 1e6:.3g} MB compulsory traffic")


@app.command("run-workload")
def run_workload(file: str = typer.Argument(..., help="workload file from `tapeout import`"),
                 chip: str = typer.Option(..., "--chip", "-c", help="catalog chip"),
                 json_out: bool = typer.Option(False, "--json")):
    """Time, throughput, energy and bound of a saved workload on one chip."""
    from ..hardware import get_chip
    from ..perf.opcost import evaluate
    from ..workloads.imported import load_workload

    g = load_workload(file)
    c = get_chip(chip)
    cost = evaluate(g, engine_params(c))
    units = float(g.meta.get("units", 1) or 1)
    t = float(cost.total_time)
    res = {"workload": g.name, "chip": c.id, "time_s": t, "throughput_per_s": units / t, "units": units,
           "energy_j": float(cost.total_energy), "bound": str(cost.dominant_bound()), "gflop": g.flops / 1e9,
           "time_by_bound_s": {k: float(v) for k, v in cost.time_by_bound().items()}}
    if json_out:
        print_json(res)
        return
    console.print(table(f"{g.name} on {c.id}", ["metric", "value"],
                        [["time (s)", t], ["throughput (units/s)", units / t], ["energy (J)", res["energy_j"]],
                         ["bound", res["bound"]], ["GFLOP", res["gflop"]]]))


@app.command("workloads")
def workloads_cmd(json_out: bool = typer.Option(False, "--json")):
    """List the built-in workload presets (non-LLM presets and the vision-language LLMs)."""
    from ..workloads.catalog import list_workloads
    from ..workloads.vlm import vision_language_presets

    rows = list_workloads() + vision_language_presets()
    if json_out:
        print_json(rows)
        return
    console.print(table("workload presets", ["name", "metric", "description", "source"],
                        [[r["name"], r["metric"], r["description"], r["source"]] for r in rows]))


@app.command("workload-run")
def workload_run(name: str = typer.Argument(..., help="preset name (see `tapeout workloads`)"),
                 chip: str = typer.Option(..., "--chip", "-c"),
                 param: Optional[list[str]] = typer.Option(None, "--set", help="override a preset parameter, KEY=VALUE"),
                 scenario: Optional[str] = typer.Option(None, "--scenario", help="MLPerf LoadGen scenario of an MLPerf "
                                                        "preset: offline, server, singlestream, multistream"),
                 server_model: Optional[str] = typer.Option(None, "--server-model", help="with --scenario server: the "
                                                            "model in `value`, mm1 (default, validated) or harness; "
                                                            "both are reported"),
                 json_out: bool = typer.Option(False, "--json")):
    """Throughput of a built-in workload preset on one chip (--scenario: as its MLPerf benchmark)."""
    from .. import api

    res = api.workload_run(name, chip, param, scenario=scenario, server_model=server_model).to_dict()
    if json_out:
        print_json(res)
        return
    models = {m: res.pop(m) for m in ("mm1", "harness") if isinstance(res.get(m), dict)}
    comparison = res.pop("comparison", None)
    console.print(table(f"{name} on {chip}", ["field", "value"], [[k, v] for k, v in res.items()]))
    if models:
        _print_server_models(models, res["offline_samples_per_s"], comparison)


def _print_server_models(models: dict, offline: float, comparison: str) -> None:
    """Both Server models side by side, the Offline rate they share, the harness settings."""
    rows = [[m, d["label"], fmt(d["queries_per_s"]), d.get("batch", d.get("max_batch")),
             f"{d['server_over_offline']:.2f}"] for m, d in models.items()]
    rows.append(["offline", "Offline rate (samples/s, the largest batch that fits)", fmt(offline), "", "1.00"])
    console.print(table("Server models", ["model", "what", "queries/s", "batch (cap)", "Server/Offline"], rows))
    settings = models.get("harness", {}).get("settings", {})
    console.print(table("harness batcher settings", ["setting", "value", "status", "source"],
                        [[k, v["value"], v["status"], v["source"]] for k, v in settings.items()]))
    console.print(comparison)


@app.command("transcode")
def transcode(chip: str = typer.Option(..., "--chip", "-c"), width: int = 1920, height: int = 1080, codec: str = "h264",
              sr_model: str = typer.Option("realesr-general-x4v3", "--sr-model"),
              software_codec: bool = typer.Option(False, "--software-codec"),
              json_out: bool = typer.Option(False, "--json")):
    """Decode -> x4 super-resolution -> encode pipeline: frames/s and the bottleneck stage."""
    from ..perf.video import transcode_sr_pipeline

    res = transcode_sr_pipeline(chip, 1, width, height, codec, sr_model, software_codec=software_codec)
    if json_out:
        print_json(res)
        return
    rows = [["frames/s", res["frames_per_s"]], ["bottleneck", res["bottleneck"]], ["mode", res["mode"]]]
    rows += [[f"{k} (s/frame)", v] for k, v in res["stage_time_s"].items()]
    console.print(table(f"transcode+SR on {res['chip']}: {res['input']} -> {res['output']}", ["metric", "value"], rows))


@app.command("workload-explain")
def workload_explain_cmd(name: str = typer.Argument(..., help="preset name (see `tapeout workloads`)"),
                         chip: str = typer.Option(..., "--chip", "-c"),
                         param: Optional[list[str]] = typer.Option(None, "--set", help="override a preset parameter, KEY=VALUE"),
                         json_out: bool = typer.Option(False, "--json")):
    """Per-op table of a workload preset on one chip (format, FLOPs, bytes, bound, time, energy, share)."""
    from .. import api

    d = api.workload_explain(name, chip, param).to_dict()
    if json_out:
        print_json(d)
        return
    a, w = d["assumptions"], d["workload"]
    console.print(table(f"{name} on {chip} (batch {a['batch']}, {a['units_per_graph']:g} {a['unit']}): "
                        f"{d['graph_time_s'] * 1e3:.2f} ms of device ops per batch",
                        ["op", "kind", "x", "format", "GFLOP", "DRAM MB", "bound", "time ms", "energy J", "share"],
                        [[x["op"], x["kind"], round(x["count"], 2), x["format"], x["gflops"], x["dram_mb"], x["bound"],
                          x["time_ms"], x["energy_j"], f"{x['share'] * 100:.1f}%"] for x in d["ops"]]))
    console.print(table("assumptions", ["item", "value"], [[k, v] for k, v in a.items()]))
    bound = f", bound: {w['bound']}" if w.get("bound") else ""  # e.g. R-GAT's host feature read, outside the op table
    console.print(f"workload-run: {fmt(w.get('units_per_s'))} {w.get('metric', 'units/s')}, "
                  f"{fmt(w.get('time_s'))} s per batch{bound}")
