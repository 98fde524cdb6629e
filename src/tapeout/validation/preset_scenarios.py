"""A workload preset run as its MLPerf inference benchmark in one LoadGen scenario
(`tapeout workload-run NAME --chip C --scenario S`): the very computation validation scores the
benchmark's rows with (other_rows.scenario_result), so a user's answer and the validated one
cannot drift apart.

Scenarios (mlcommons/inference loadgen, docs/workloads.md): Offline (samples/s; whisper output
tokens/s), Server (queries/s under the benchmark's p99 bound, mlperf.conf), SingleStream (latency
of one sample, ms), MultiStream (latency of one 8-sample query, ms). The benchmark definition
fixes the shapes (batch, resolution, sequence length), so only the numeric format, the serving
stack and the system size may be set.
"""

from __future__ import annotations

from ..errors import TapeoutError
from ..hardware.catalog import get_chip
from .other_rows import scenario_result
from .registry import SkipRow

# workload preset (`tapeout workloads`) -> the MLPerf inference benchmark other_rows.py maps
PRESET_BENCHMARK = {"resnet50": "resnet50", "retinanet": "retinanet", "bert-large": "bert", "dlrmv2": "dlrmv2",
                    "sdxl": "sdxl", "3d-unet": "3d-unet", "whisper-large-v3": "whisper"}
SCENARIOS = {"offline": "Offline", "server": "Server", "singlestream": "SingleStream", "multistream": "MultiStream"}
SETTINGS = ("precision", "software", "num_chips")
DEFAULT_PRECISION = {"sdxl": "fp16"}  # else bf16, as the presets (data/models/workloads/*.yaml)


def scenario_key(scenario: str) -> str:
    key = str(scenario).strip().lower().replace("-", "").replace("_", "")
    if key not in SCENARIOS:
        raise TapeoutError(f"--scenario '{scenario}' is not a LoadGen scenario; use one of: {', '.join(SCENARIOS)}.")
    return SCENARIOS[key]


def run_preset_scenario(name: str, chip: str, scenario: str, settings: dict) -> dict:
    """The MLPerf result of preset `name` on `num_chips` of `chip` in `scenario` (module docstring)."""
    scen = scenario_key(scenario)
    bench = PRESET_BENCHMARK.get(str(name).strip().lower())
    if bench is None:
        raise TapeoutError(f"--scenario: '{name}' is not an MLPerf inference benchmark preset; use one of: "
                           f"{', '.join(PRESET_BENCHMARK)} (or drop --scenario for the preset's own throughput).")
    bad = sorted(set(settings) - set(SETTINGS))
    if bad:
        raise TapeoutError(f"--scenario runs the {bench} benchmark as MLPerf defines it, so --set {bad[0]} does not "
                           f"apply; --set only {', '.join(SETTINGS)}.")
    c = get_chip(chip)
    prec = str(settings.get("precision") or DEFAULT_PRECISION.get(bench, "bf16")).lower()
    if not c.supports(prec):
        raise TapeoutError(f"--set precision={prec}: {c.id} has no {prec} matrix rate; use one it supports.")
    n = settings.get("num_chips", 1)
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n < 1 or n != int(n):
        raise TapeoutError(f"--set num_chips must be a whole number >= 1, got {n!r}.")
    try:
        value, unit, detail = scenario_result(bench, c, scen, prec, str(settings.get("software", "")))
    except SkipRow as e:
        raise TapeoutError(f"{name} {scen} on {c.id}: {e}; try another --scenario or chip.") from None
    latency = unit == "Latency (ms)"
    out = {"workload": name, "benchmark": bench, "scenario": scen, "chip": c.id, "precision": prec,
           "num_chips": 1 if latency else int(n), "value": value if latency else value * int(n), "unit": unit}
    if scen == "SingleStream":
        out["metric"] = "latency of one sample, batch 1 + host path (LoadGen reports its p90)"
    elif scen == "MultiStream":
        out["metric"] = "latency of one 8-sample query, batch 8 + host path (LoadGen reports its p99)"
    elif scen == "Server":
        out["metric"] = "queries/s with p99 latency <= the benchmark bound (M/M/1 bound over batch sizes, as validated)"
    else:
        out["metric"] = "output tokens/s" if unit == "Tokens/s" else "samples/s at the largest batch that fits"
    if "per_chip" in detail:  # samples/s of one accelerator (whisper's value counts its output tokens)
        detail["samples_per_s_per_chip"] = detail.pop("per_chip")
    if scen == "MultiStream":
        detail["samples_per_query"] = 8
    return {**out, **detail}
