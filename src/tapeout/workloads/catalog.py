"""Uniform entry point to every workload front end: named presets with default scenario
parameters and a throughput metric, and `build_workload(kind, **params) -> OpGraph`.
Costing a preset on a chip or a sweep of designs is perf/workload_throughput.py.

Preset data with sources: data/models/workloads/*.yaml (one file per preset); the numbers
below are the same defaults, kept in code so the module works without the data files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Callable

import yaml

from ..errors import TapeoutError, unknown_name_error
from ..hardware.memory_capacity import USABLE_MEMORY_FRACTION  # noqa: F401  (re-exported)
from ..ops import EmbeddingGather, OpGraph
from . import diffusion, gnn, hstu, recsys, speech, vision


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
    "flux": diffusion.flux_graph,
    "yolo": vision.yolo_graph,
    "whisper": speech.whisper_graph,
    "bert": speech.bert_graph,
    "rgat": gnn.rgat_graph,
    "imported": _imported,
}

WORKLOADS: dict[str, WorkloadPreset] = {
    p.name: p
    for p in [
        WorkloadPreset("dlrmv2", "dlrmv2", dict(samples=256, precision="bf16"), "queries/s", "query",
                       "DLRMv2 (MLPerf DCNv2) ranking; 1 query = 1 MLPerf sample of ~270 user-item pairs",
                       latency_bound_s=0.060, source="mlperf.conf dlrm-v2 Server p99 60 ms"),
        WorkloadPreset("hstu", "hstu", dict(batch=1, seq_len=2048, seq_std=1024, candidates=256, layers=12,
                                            d_model=512, heads=4, num_tables=3, item_rows=1e9, stage="ranking",
                                            precision="bf16"),
                       "queries/s", "query", "HSTU generative recommender (DLRMv3-style): 2k-token jagged history, "
                       "256 candidates, 1e9-row item table over HBM/host/SSD tiers; --set stage=retrieval: brute-force "
                       "MIPS over the item table", latency_bound_s=0.060,
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
        WorkloadPreset("wan2.2-a14b", "dit-video", dict(model="wan2.2-a14b", batch=1, frames=81, height=720,
                                                        width=1280, precision="bf16"),
                       "clips/s", "clip", "Wan2.2-T2V-A14B: MoE of two 14B denoisers (one per step), 81 frames "
                       "720x1280, 40 steps, CFG, Wan2.1 VAE",
                       source="Wan2.2 wan/configs/wan_t2v_A14B.py (dim 5120, 40 layers, boundary 0.875, 40 steps)"),
        WorkloadPreset("flux1-dev", "flux", dict(model="flux1-dev", batch=1, height=1024, width=1024, steps=50,
                                                 precision="bf16"), "images/s", "image",
                       "FLUX.1 [dev] MMDiT (19 double + 38 single blocks, 12B), 1024x1024 -> 4,096 image + 512 T5 "
                       "tokens, 50 steps, guidance-distilled (no CFG), T5-XXL + CLIP-L once, 16-ch VAE decode",
                       source="black-forest-labs/flux util.py/cli.py; HF FLUX.1-dev transformer/config.json "
                              "(data/models/workloads/flux.yaml)"),
        WorkloadPreset("flux1-schnell", "flux", dict(model="flux1-schnell", batch=1, height=1024, width=1024, steps=4,
                                                     precision="bf16"), "images/s", "image",
                       "FLUX.1 [schnell]: the dev architecture without the guidance embedder, 256 T5 tokens, 4 steps",
                       source="black-forest-labs/flux util.py/cli.py; HF FLUX.1-schnell transformer/config.json"),
        WorkloadPreset("yolov8m", "yolo", dict(model="yolov8m", batch=32, resolution=640, precision="bf16"), "images/s",
                       "image", "YOLOv8-m detector, 640x640, 80 COCO classes (NMS on host, not costed)",
                       source="ultralytics/cfg/models/v8/yolov8.yaml (scale m: depth 0.67, width 0.75, max 768)"),
        WorkloadPreset("whisper-large-v3", "whisper", dict(batch=32, output_tokens=100, beam=1, precision="bf16"), "tokens/s",
                       "output token", "Whisper-large-v3: encoder once per 30-s window + autoregressive decoder; "
                       "MLPerf counts output tokens (100 per window: assumption); greedy (beam=1) as the reference SUT, "
                       "--set beam=k for beam search",
                       source="mlcommons/inference speech2text/reference_SUT.py (n_tokens per response, max_tokens 200)"),
        WorkloadPreset("bert-large", "bert", dict(batch=256, seq_len=384, precision="bf16"), "sequences/s", "sequence",
                       "BERT-large SQuAD, seq 384", latency_bound_s=0.130),
        WorkloadPreset("rgat", "rgat", dict(batch=1024, fanouts="15,10,5", hidden=512, heads=4, feature_dtype="fp16",
                                            precision="bf16"), "seeds/s", "seed",
                       "R-GAT on IGBH-Full (MLPerf gnn): 3 GAT layers, fan-out 15,10,5, 1,024-dim features read "
                       "from HBM shards or host memory (perf/gnn.py)",
                       source="mlcommons/training graph_neural_network README + train_rgnn_multi_gpu.py @1c8a098; "
                              "graphlearn-for-pytorch examples/igbh/rgnn.py, dataset.py"),
        WorkloadPreset("realesr-general-x4v3", "srvgg", dict(model="realesr-general-x4v3", frames=8, width=1920,
                                                             height=1080, precision="fp16"),
                       "frames/s", "frame", "Real-ESRGAN SRVGGNetCompact x4 on 1080p frames (tensor cores only)"),
    ]
}

ALIASES = {"dlrm": "dlrmv2", "dlrm-v2": "dlrmv2", "resnet": "resnet50", "resnet-50": "resnet50", "vit": "vit-l16",
           "vit-l/16": "vit-l16", "bert": "bert-large", "whisper": "whisper-large-v3", "wan": "wan2.1-14b",
           "wan2.1": "wan2.1-14b", "wan2.2": "wan2.2-a14b", "yolo": "yolov8m", "stable-diffusion-xl": "sdxl", "unet3d": "3d-unet", "real-esrgan": "realesr-general-x4v3",
           "r-gat": "rgat", "gnn": "rgat",
           "flux": "flux1-dev", "flux-dev": "flux1-dev", "flux.1-dev": "flux1-dev", "flux-schnell": "flux1-schnell",
           "flux.1-schnell": "flux1-schnell"}


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
        from .llm_config import is_preset

        if is_preset(name):  # `tapeout workloads` lists the vision-language LLMs too; the LLM engine serves them
            raise TapeoutError(f"'{name}' is an LLM preset, run by the serving engine: use `tapeout serve --model {name} "
                               f"--chip C` (a vision-language model also takes --images-per-request N --image-size S) "
                               f"or `tapeout explain --model {name} --chip C`.")
        raise unknown_name_error("workload", name, list(WORKLOADS))
    return WORKLOADS[key]


# builders whose embedding / feature tables the throughput engine places over HBM, host DRAM and
# SSD (perf/recsys.py, perf/placement.py, perf/gnn.py) instead of requiring them on the device
TIERED_TABLE_BUILDERS = ("dlrmv2", "monolith", "hstu", "rgat")


def tables_may_leave_device(name: str) -> bool:
    """True when preset or builder `name` keeps its tables in tiers (host memory when HBM is
    short), so only the dense weights and activations must fit on the chip."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return (WORKLOADS[key].kind if key in WORKLOADS else key) in TIERED_TABLE_BUILDERS


def is_workload_preset(name: str) -> bool:
    """True when `name` (or its alias) is a preset of `tapeout workloads`."""
    key = name.strip().lower()
    return ALIASES.get(key, key) in WORKLOADS


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


def preset_data_file(name: str) -> tuple[str, dict] | None:
    """(path inside the package, parsed entry) of the data file that defines preset `name`: a
    file holding one preset (`name:` field) or a file of presets keyed by name."""
    for stem, d in preset_files().items():
        entry = d if d.get("name") == name else d.get(name)
        if isinstance(entry, dict):
            return f"data/models/workloads/{stem}.yaml", entry
    return None


def preset_source(p: WorkloadPreset) -> str:
    """Where a preset's architecture and defaults come from: its data file's `source` (or
    `sources` map), else the preset's own `source`, else the data file that holds its per-field
    sources."""
    found = preset_data_file(p.name)
    entry = found[1] if found else {}
    if isinstance(entry.get("source"), str):
        return entry["source"]
    if isinstance(entry.get("sources"), dict):
        return "; ".join(f"{k}: {v}" for k, v in entry["sources"].items())
    per_field = f"per-field sources in {found[0]}" if found else ""
    return "; ".join(x for x in (p.source, per_field) if x)


def list_workloads() -> list[dict]:
    rows = []
    for p in WORKLOADS.values():
        found = preset_data_file(p.name)
        rows.append({"name": p.name, "kind": p.kind, "metric": p.metric, "unit": p.unit, "defaults": p.defaults,
                     "description": p.description, "source": preset_source(p),
                     "data_file": found[0] if found else None})
    return rows
