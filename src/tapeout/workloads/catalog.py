"""Uniform entry point to every workload front end: named presets with default scenario
parameters and a throughput metric, `build_workload(kind, **params) -> OpGraph`, and
`workload_throughput(name, chip_or_params, **overrides)` for one chip or a numpy-array
sweep of chip designs (the study runner and the design-space explorer call these).

Preset data with sources: data/models/workloads/*.yaml (one file per preset); the numbers
below are the same defaults, kept in code so the module works without the data files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Callable

import numpy as np
import yaml

from ..errors import TapeoutError, unknown_name_error
from ..hardware.catalog import Chip, get_chip
from ..hardware.params import ChipParams
from ..ops import EmbeddingGather, OpGraph
from . import diffusion, hstu, recsys, speech, vision

USABLE_MEMORY_FRACTION = 0.90


@dataclass(frozen=True)
class WorkloadPreset:
    name: str
    kind: str  # builder key in BUILDERS
    defaults: dict
    metric: str  # e.g. "queries/s"
    unit: str  # what one unit is: "query", "image", "clip"
    description: str = ""
    latency_bound_s: float | None = None  # p99 SLO for the queueing bound (recsys)
    source: str = ""
    extra: dict = field(default_factory=dict)


def _imported(path: str, **_):
    from .imported import load_workload

    return load_workload(path)


BUILDERS: dict[str, Callable[..., OpGraph]] = {
    "dlrmv2": recsys.dlrmv2_graph,
    "hstu": hstu.hstu_graph,
    "monolith": recsys.monolith_graph,
    "resnet50": vision.resnet50_graph,
    "retinanet": vision.retinanet_graph,
    "vit": vision.vit_graph,
    "3d-unet": vision.unet3d_graph,
    "srvgg": vision.srvgg_graph,
    "sdxl": diffusion.sdxl_graph,
    "dit-video": diffusion.wan_graph,
    "whisper": speech.whisper_graph,
    "bert": speech.bert_graph,
    "imported": _imported,
}

WORKLOADS: dict[str, WorkloadPreset] = {
    p.name: p
    for p in [
        WorkloadPreset("dlrmv2", "dlrmv2", dict(samples=256, precision="bf16"), "queries/s", "query",
                       "DLRMv2 (MLPerf DCNv2) ranking; 1 query = 1 MLPerf sample of ~270 user-item pairs",
                       latency_bound_s=0.060, source="mlperf.conf dlrm-v2 Server p99 60 ms"),
        WorkloadPreset("hstu", "hstu", dict(batch=1, seq_len=2048, seq_std=1024, candidates=256, layers=12,
                                            d_model=512, heads=4, num_tables=3, item_rows=1e9, precision="bf16"),
                       "queries/s", "query", "HSTU generative recommender (DLRMv3-style): 2k-token jagged history, "
                       "256 candidates, 1e9-row item table over HBM/host/SSD tiers", latency_bound_s=0.060,
                       source="Zhai et al. ICML 2024 arXiv:2402.17152; sizes: data/models/workloads/hstu.yaml (assumptions)"),
        WorkloadPreset("monolith", "monolith", dict(candidates=512, num_features=16, rows_per_feature=1e8, dim=32,
                                                    precision="bf16"),
                       "queries/s", "query", "Monolith-style real-time ranking request of 512 candidates",
                       latency_bound_s=0.060,
                       source="demo_model.py (dim 32, MLP 256-64-1, batch 512); 16 features and 1e8 ids/feature: assumption"),
        WorkloadPreset("resnet50", "resnet50", dict(batch=256, resolution=224, precision="bf16"), "images/s", "image",
                       "ResNet-50 v1.5, 224x224", latency_bound_s=0.015),
        WorkloadPreset("retinanet", "retinanet", dict(batch=16, resolution=800, precision="bf16"), "images/s", "image",
                       "RetinaNet ResNeXt50-FPN, 800x800 (MLPerf)", latency_bound_s=0.100),
        WorkloadPreset("vit-l16", "vit", dict(model="vit-l16", batch=128, resolution=224, precision="bf16"), "images/s",
                       "image", "ViT-L/16, 224x224"),
        WorkloadPreset("3d-unet", "3d-unet", dict(batch=1, precision="bf16"), "volumes/s", "volume",
                       "3D U-Net KiTS19 (MLPerf), sliding window 128^3"),
        WorkloadPreset("sdxl", "sdxl", dict(batch=8, steps=20, resolution=1024, precision="fp16"), "images/s", "image",
                       "SDXL base 1.0, 1024x1024, 20 steps (MLPerf), CFG", latency_bound_s=20.0),
        WorkloadPreset("wan2.1-14b", "dit-video", dict(model="wan2.1-14b", batch=1, frames=81, height=720, width=1280,
                                                       steps=50, precision="bf16"),
                       "clips/s", "clip", "Wan2.1-T2V-14B, 81 frames 720x1280, 50 steps, CFG"),
        WorkloadPreset("whisper-large-v3", "whisper", dict(batch=32, output_tokens=100, precision="bf16"), "chunks/s",
                       "30-s audio chunk", "Whisper-large-v3, 30-s chunk, 100 output tokens (assumption)"),
        WorkloadPreset("bert-large", "bert", dict(batch=256, seq_len=384, precision="bf16"), "sequences/s", "sequence",
                       "BERT-large SQuAD, seq 384", latency_bound_s=0.130),
        WorkloadPreset("realesr-general-x4v3", "srvgg", dict(model="realesr-general-x4v3", frames=8, width=1920,
                                                             height=1080, precision="fp16"),
                       "frames/s", "frame", "Real-ESRGAN SRVGGNetCompact x4 on 1080p frames (tensor cores only)"),
    ]
}

ALIASES = {"dlrm": "dlrmv2", "dlrm-v2": "dlrmv2", "resnet": "resnet50", "resnet-50": "resnet50", "vit": "vit-l16",
           "vit-l/16": "vit-l16", "bert": "bert-large", "whisper": "whisper-large-v3", "wan": "wan2.1-14b",
           "wan2.1": "wan2.1-14b", "stable-diffusion-xl": "sdxl", "unet3d": "3d-unet", "real-esrgan": "realesr-general-x4v3"}


@lru_cache(maxsize=1)
def preset_files() -> dict[str, dict]:
    """The sourced preset files in data/models/workloads (name -> parsed YAML)."""
    d = resources.files("tapeout").joinpath("data", "models", "workloads")
    out = {}
    if d.is_dir():
        for f in d.iterdir():
            if f.name.endswith((".yaml", ".yml")):
                out[f.name.rsplit(".", 1)[0]] = yaml.safe_load(f.read_text())
    return out


def get_preset(name: str) -> WorkloadPreset:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in WORKLOADS:
        raise unknown_name_error("workload", name, list(WORKLOADS))
    return WORKLOADS[key]


def build_workload(kind: str, **params) -> OpGraph:
    """Build an op graph: `kind` is a builder key (BUILDERS) or a preset name (WORKLOADS,
    whose defaults are overridden by params)."""
    k = kind.strip().lower()
    if k in BUILDERS and k not in WORKLOADS:
        fn, args = BUILDERS[k], params
    else:
        preset = get_preset(k)
        fn, args = BUILDERS[preset.kind], {**preset.defaults, **params}
    import inspect

    sig = inspect.signature(fn).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in sig.values()):
        unknown = [k for k in params if k not in sig]
        if unknown:
            raise TapeoutError(f"workload '{kind}': unknown parameter '{unknown[0]}'. Parameters: "
                               f"{', '.join(k for k in sig if k not in ('kind',))}.")
    try:
        return fn(**args)
    except TypeError as e:
        import re

        known = [k for k, p in sig.items() if p.kind != p.VAR_KEYWORD]
        known += [k for k in args if k not in params and k not in known]  # the preset's own settings
        m = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        what = f"unknown parameter '{m.group(1)}'" if m else f"bad parameter ({e})"
        raise TapeoutError(f"workload '{kind}': {what}. Parameters: {', '.join(known)}.") from None


def _params(chip_or_params) -> ChipParams:
    if isinstance(chip_or_params, ChipParams):
        return chip_or_params
    if isinstance(chip_or_params, (str, Chip)):
        return get_chip(chip_or_params).params()
    raise TapeoutError("chip must be a catalog name, a Chip or ChipParams.")


def memory_needed(graph: OpGraph, include_embeddings: bool = True) -> float:
    """Distinct weights (graph.meta['weight_bytes'] when the builder repeats weights over
    steps/windows, else every matrix op's weights) + embedding tables + 2x the largest single
    op's activations (input + output live at once, double-buffered)."""
    from .blocks import distinct_weight_bytes

    weights = graph.meta.get("weight_bytes")
    if weights is None:
        weights = distinct_weight_bytes(graph.ops)
    peak_act = 0.0
    for o in graph.ops:
        if isinstance(o, EmbeddingGather):
            if include_embeddings:
                weights += o.table_bytes
            continue
        peak_act = max(peak_act, o.input_bytes + o.output_bytes)
    return float(weights) + 2.0 * peak_act


def workload_throughput(name: str, chip_or_params, **overrides) -> dict:
    """Time per unit, units/s per chip, energy per unit and the dominant bound.

    chip_or_params: catalog chip name, Chip, or ChipParams (scalars or numpy arrays: the result
    arrays then have the design shape). A batch that does not fit memory raises a TapeoutError
    for one chip, and gives units_per_s = 0 (fits = False) for those designs of a sweep.
    Recommendation presets also report `qps_p99`, queries/s under the preset's p99 bound
    (M/M/1 bound, perf/recsys.py).
    """
    from ..perf.opcost import evaluate
    from ..perf.recsys import best_qps, recsys_cost

    preset = get_preset(name) if name.strip().lower() not in BUILDERS or name in WORKLOADS else None
    kind = preset.kind if preset else name
    params = {**(preset.defaults if preset else {}), **overrides}
    placement = params.pop("placement", "auto")
    zipf_s = params.pop("zipf_s", None)
    host_dram_gb = params.pop("host_dram_gb", None)
    ssd_gbps = params.pop("ssd_gbps", None)
    graph = build_workload(kind, **params)
    p = _params(chip_or_params)
    units = float(graph.meta.get("units", graph.meta.get("batch", 1)))
    is_rec = kind in ("dlrmv2", "monolith")
    if kind == "hstu":
        from ..perf.recsys import hstu_throughput

        facts = preset_files().get("hstu", {}).get("hstu", {})
        return hstu_throughput(name, preset.metric if preset else "queries/s", graph, p, zipf_s,
                               host_dram_gb if host_dram_gb is not None else facts.get("host_dram_gb", {}).get("value", 1024),
                               ssd_gbps if ssd_gbps is not None else facts.get("ssd_gbps", {}).get("value", 7.0))
    need = memory_needed(graph, include_embeddings=not is_rec)
    cap = np.asarray(p.mem_capacity, dtype=float) * USABLE_MEMORY_FRACTION
    fits = need <= cap
    if np.ndim(fits) == 0 and not bool(fits):
        bfield = "samples" if kind == "dlrmv2" else ("candidates" if kind == "monolith" else "batch")
        raise TapeoutError(
            f"{name}: {bfield}={graph.meta.get('batch')} needs {need / 1e9:.1f} GB but {p.chip_id or 'the chip'} has "
            f"{float(cap) / 1e9:.1f} GB usable; lower {bfield} or use a chip with more memory."
        )
    out: dict = {"workload": name, "metric": preset.metric if preset else "units/s", "unit": preset.unit if preset else "unit",
                 "units_per_graph": units, "memory_gb": need / 1e9}
    if is_rec:
        kw = {"placement": placement}
        if zipf_s is not None:
            kw["zipf_s"] = zipf_s
        rc = recsys_cost(graph, p, **kw)
        t, e, bound = rc["time"], rc["energy"], rc["bound"]
        out["host_time_s"] = rc["host_time"]
        if preset and preset.latency_bound_s:
            base = {k: v for k, v in params.items() if k not in ("samples", "candidates")}
            bkey = "samples" if kind == "dlrmv2" else "candidates"
            per_q = 1.0 if kind == "dlrmv2" else float(params.get("candidates", 512))

            def svc(b):
                g = build_workload(kind, **{**base, bkey: int(b * per_q) if kind == "monolith" else b})
                return recsys_cost(g, p, **kw)["time"]

            qps, bq = best_qps(svc, [1, 4, 16, 64, 256, 1024], preset.latency_bound_s)
            out["qps_p99"] = qps
            out["qps_p99_batch"] = bq
            out["latency_bound_s"] = preset.latency_bound_s
    else:
        cost = evaluate(graph, p)
        t, e, bound = cost.total_time, cost.total_energy, cost.dominant_bound()
    t = np.asarray(t, dtype=float)
    ups = np.where(fits, units / t, 0.0)
    out.update({
        "time_s": t, "time_per_unit_s": t / units, "units_per_s": ups if np.ndim(ups) else float(ups),
        "energy_per_unit_j": np.asarray(e, dtype=float) / units, "bound": bound if np.ndim(bound) else str(bound),
        "fits": fits,
    })
    if np.ndim(t) == 0:
        for k in ("time_s", "time_per_unit_s", "energy_per_unit_j"):
            out[k] = float(out[k])
        out["fits"] = bool(fits)
    return out


def list_workloads() -> list[dict]:
    return [{"name": p.name, "kind": p.kind, "metric": p.metric, "unit": p.unit, "defaults": p.defaults,
             "description": p.description, "source": p.source} for p in WORKLOADS.values()]
