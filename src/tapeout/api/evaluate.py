"""Cost, export compliance and non-LLM workloads of one chip: the functions behind
`tapeout cost`, `tapeout compliance`, `tapeout workload-run` and `tapeout workload-explain`."""

from __future__ import annotations

from os import PathLike
from typing import Mapping

from ..errors import TapeoutError, unknown_name_error
from .args import check_numbers, check_texts
from .results import ComplianceResult, CostResult, WorkloadExplainResult, WorkloadResult


def cost(chip: str, volume: float = 1_000_000) -> CostResult:
    """Unit cost stack of a chip (`tapeout cost`), in USD per unit.

    Args:
        chip: catalog id or alias (or a registered custom chip with process_node and
            logic_die_area_mm2_total).
        volume: units over which NRE (design + masks) is amortised.

    Returns:
        CostResult: `die`, `memory`, `package`, `assembly_test`, `yield_loss`,
        `manufacturing`, `nre` and `total` in USD per unit; `die_area_mm2` (mm2),
        `die_yield` (fraction), `memory_gb_physical` (GB), and a published `anchor` if any.
    """
    from ..econ.summary import chip_cost_stack
    from ..hardware import get_chip

    check_numbers("cost", volume=volume)
    from ..econ.tco_anchor import owned_tco

    r = chip_cost_stack(get_chip(chip), volume)
    r["tco"] = owned_tco(get_chip(chip))
    return CostResult(r)


def compliance(chip: str | None = None, design: str | Mapping | None = None) -> ComplianceResult:
    """US export-control check (ECCN 3A090) of a catalog chip or a design (`tapeout compliance`).
    Not legal advice: the result names the rule version it applies.

    Args:
        chip: catalog id or alias.
        design: a design YAML path, or a mapping with the same fields (die_area_mm2,
            num_dies, tops per precision in TOPS, memory_bandwidth_tbps, ...).

    Returns:
        ComplianceResult: `tpp` (dense TOPS x bit length), `pd` (TPP per mm2 of applicable
        die area), `class_3a090`, `case_by_case_2026`, `below_h20_ceiling`, `margins`
        (positive = below the threshold), `rule_version`, and `buildable` (econ.buildable: whether
        the chip can be built, with each broken physical limit, its source and fix; None where no
        limit could be checked, e.g. a catalog chip without its die area).
    """
    from ..rules.export import DesignSpec, assess_chip, assess_design

    if (chip is None) == (design is None):
        raise TapeoutError("give exactly one of --chip NAME or --design FILE.")
    if chip is not None:
        from ..hardware import get_chip

        return ComplianceResult(assess_chip(get_chip(chip)))
    if not isinstance(design, (Mapping, str, PathLike)):
        raise TapeoutError(f"design must be a design YAML path or a mapping (die_area_mm2, tops, ...), got {design!r} "
                           f"({type(design).__name__}).")
    if isinstance(design, Mapping):
        from pydantic import ValidationError

        from ..errors import validation_error

        try:
            design = DesignSpec.model_validate(dict(design))
        except ValidationError as e:
            raise validation_error(e, "design", "design") from None
    return ComplianceResult(assess_design(design))


def parse_settings(settings: list[str] | Mapping | None) -> dict:
    """Preset overrides from `KEY=VALUE` strings (values read as int, else float, else text)
    or from a mapping (taken as given)."""
    if isinstance(settings, Mapping):
        return dict(settings)
    if isinstance(settings, str):  # one KEY=VALUE, not its characters
        settings = [settings]
    if settings is not None and not (isinstance(settings, (list, tuple)) and all(isinstance(x, str) for x in settings)):
        raise TapeoutError(f"param must be KEY=VALUE strings (the CLI's --set) or a mapping, got {settings!r} "
                           f"({type(settings).__name__}).")
    over = {}
    for kv in settings or []:
        if "=" not in kv:
            raise TapeoutError(f"--set '{kv}' must be KEY=VALUE.")
        k, v = kv.split("=", 1)
        try:
            over[k] = int(v)
        except ValueError:
            try:
                over[k] = float(v)
            except ValueError:
                over[k] = v
    return over


def workload_run(name: str, chip: str, param: list[str] | Mapping | None = None, scenario: str | None = None,
                 server_model: str | None = None, **overrides) -> WorkloadResult:
    """Throughput of a built-in non-LLM workload preset on one chip (`tapeout workload-run`).

    Args:
        name: preset name (`tapeout workloads`: resnet50, dlrmv2, sdxl, whisper-large-v3, ...).
        chip: catalog id or alias, or a registered custom chip.
        param: preset overrides, as the CLI's `--set KEY=VALUE` strings or a mapping.
        scenario: offline, server, singlestream or multistream: run an MLPerf inference preset
            (resnet50, retinanet, bert-large, dlrmv2, sdxl, 3d-unet, whisper-large-v3) as its
            benchmark in that LoadGen scenario, as validation scores it
            (validation/preset_scenarios.py); overrides then take only precision, software, num_chips.
        server_model: with scenario="server", which Server model gives `value`: "mm1" (default,
            the M/M/1 p99 bound validation scores) or "harness" (the reference-harness batcher
            simulated under Poisson arrivals); both are always reported.
        **overrides (int | float | str): more preset overrides as keywords (batch=8, ...).

    Returns:
        WorkloadResult: `time_s` (s per batch), `units_per_s` (samples, queries, images or
        frames per s per chip), `energy_j` (J per batch), `bound`, ... (scalar fields of the
        preset's result; recommendation presets add `qps_p99`, queries/s under the p99 bound).
        With `scenario`: `value` in `unit` (Samples/s, Tokens/s, Queries/s or Latency (ms)),
        `metric` (what the value is), `benchmark`, `scenario` and the scenario's detail. Server
        adds `mm1` and `harness` (each: label, queries_per_s, batch or max_batch,
        server_over_offline; harness its `settings`, each with value, status and source),
        `offline_samples_per_s`, `validated_model` and `comparison` (validation/server_models.py).
    """
    import numpy as np

    from ..perf.workload_throughput import workload_throughput
    from ..workloads.catalog import WORKLOADS

    check_texts(chip=chip, scenario=scenario, server_model=server_model)
    if not isinstance(name, str) or not name.strip():
        raise unknown_name_error("workload", name, list(WORKLOADS))
    if scenario is not None:
        from ..validation.preset_scenarios import run_preset_scenario

        return WorkloadResult(run_preset_scenario(name, chip, scenario, {**parse_settings(param), **overrides},
                                                  server_model))
    if server_model is not None:
        raise TapeoutError("--server-model applies to --scenario server only; add --scenario server or drop it.")
    res = workload_throughput(name, chip, **{**parse_settings(param), **overrides})
    return WorkloadResult({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items() if not isinstance(v, dict)})


def workload_explain(name: str, chip: str, param: list[str] | Mapping | None = None, **overrides) -> WorkloadExplainResult:
    """Per-op table of a built-in non-LLM workload preset on one chip (`tapeout workload-explain`):
    the op graph `workload_run` costs (perf/workload_throughput.py), each op through the per-op
    cost model (perf/opcost.evaluate) with the chip's calibration.

    Args:
        name: preset name (`tapeout workloads`: hstu, yolov8m, wan2.2-a14b, dlrmv2,
            whisper-large-v3, resnet50, ...).
        chip: catalog id or alias, or a registered custom chip.
        param: preset overrides, as the CLI's `--set KEY=VALUE` strings or a mapping.
        **overrides (int | float | str): more preset overrides as keywords.

    Returns:
        WorkloadExplainResult: `ops` rows (op, kind, count, op_class, format, fell_back,
        gflops in GFLOP, dram_mb in MB, bound, time_ms in ms, energy_j in J, share of the
        graph's time), `graph_time_s` (s per graph = one batch), `energy_j` (J per batch),
        `units_per_graph` (samples, queries, frames, ... per batch), `assumptions`
        (calibration and datasheet sources), and `workload`, the `workload_run` record it
        explains. Recommendation presets (dlrmv2, hstu, monolith) cost their embedding
        gathers here as if every table sat in HBM; `workload.time_s` includes the placement
        over HBM / host DRAM / SSD, so the two differ by the host tiers' time.
    """
    from ..hardware import get_chip as catalog_chip
    from ..perf.calibration import calibrated_params
    from ..perf.opcost import evaluate
    from ..perf.workload_throughput import workload_graph
    from .llm import op_rows

    over = {**parse_settings(param), **overrides}
    run = workload_run(name, chip, over).to_dict()  # validates the preset, the overrides and the fit
    graph, preset, params = workload_graph(name, **over)
    c = catalog_chip(chip)
    p = calibrated_params(c)
    ct = evaluate(graph, p)
    prec = str(params.get("precision", "bf16"))
    assumptions = {
        "graph": graph.name, "precision": prec, "batch": graph.meta.get("batch"), "units_per_graph": float(graph.meta.get("units", graph.meta.get("batch", 1)) or 1),
        "unit": preset.unit if preset else graph.meta.get("unit", "unit"), "calibration": p.calibration_source,
        "peak_source": c.source_of(f"{'fp8' if 'fp8' in prec else 'bf16'}_tflops_dense"),
        "memory_bandwidth_source": c.source_of("memory_bandwidth_tbps"),
        "preset_source": getattr(preset, "source", "") if preset else "",
    }
    return WorkloadExplainResult({"ops": op_rows(ct), "graph_time_s": float(ct.total_time), "energy_j": float(ct.total_energy),
                                  "units_per_graph": assumptions["units_per_graph"], "assumptions": assumptions,
                                  "workload": run})
