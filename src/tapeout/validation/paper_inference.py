"""Row mapper: published non-LLM inference rows ("paper" rows of end_to_end.csv: a vendor's benchmark table for a
vision / diffusion / encoder model on one chip) -> inferences/s through the same inference graphs the MLPerf
mappers price (workloads/vision.py, diffusion.py, speech.py; perf/opcost.evaluate on the calibrated chip).

The model is read from the row's workload / model_config (PAPER_GRAPHS), at the row's batch, image size or sequence
length, in the GEMM format of the row's declared precision (the shared rule table, validation/declared_precision.py:
"model FP32, autocast Matmult-BF16" is BF16 GEMMs, the Neuron compiler's --auto-cast matmult).

Data parallel over a chip's cores (rows saying "Data Parallel" on the Neuron SDK): the Neuron benchmark harness
loads one copy of the compiled model per NeuronCore, each running batches of the stated size (NeuronPerf
Benchmark Guide, "Data Parallel": "MAX models on MAX NeuronCores", MAX from the instance size; awsdocs-neuron.
readthedocs-hosted.com/en/latest/archive/neuronperf/neuronperf_benchmark_guide.html), so the chip holds
num_cores x batch samples at once: priced as the whole chip at that batch (each core is half the chip). A diffusion pipeline is one copy whose UNet runs data parallel over
the cores on its classifier-free-guidance pair (aws-neuron-samples torch-neuronx/inference/
hf_pretrained_sdxl_base_1024_inference.ipynb: torch_neuronx.DataParallel(unet, [0, 1]), every other part on one
core): priced as the whole chip at the row's batch.

Not modelled (row detail `not_modelled`): the pipeline parts an SDXL run keeps on one core (text encoders, VAE:
priced on the whole chip, optimistic); elementwise tensors the autocast leaves in FP32 (priced in BF16); the CLIP
benchmark's inputs beyond the image (the Neuron CLIP sample also encodes its text captions, the benchmark's
caption count is not published: the image encoder alone is priced).
"""

from __future__ import annotations

import re

from ..errors import TapeoutError
from ..hardware.catalog import get_chip, resolve_chip_id
from ..hardware.memory_capacity import GIB
from ..perf.calibration import calibrated_params
from ..perf.opcost import evaluate
from ..workloads import diffusion, speech, vision
from ..workloads.catalog import USABLE_MEMORY_FRACTION, memory_needed
from .declared_precision import compute_precision
from .registry import RowPrediction, SkipRow, register

# diffusers StableDiffusionXLPipeline.__call__ defaults (num_inference_steps=50, guidance_scale=5.0 > 1: classifier-
# free guidance on); the Neuron SDXL sample calls pipe(prompt) with them (hf_pretrained_sdxl_base_1024_inference.ipynb)
SDXL_PIPELINE_STEPS = 50
# (regex on the lower-cased workload + model_config, graph kind)
PAPER_GRAPHS = [
    (r"\bresnet-?(?:50|101|152)\b", "resnet"),
    (r"stable diffusion xl|\bsdxl\b", "sdxl"),
    (r"clip-vit-large-patch14", "clip-vit-l14"),
    (r"bert-large", "bert-large"),
]


def _num(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text, flags=re.I)
    return int(m.group(1)) if m else None


def graph_kind(row: dict) -> str | None:
    """The graph a non-LLM paper inference row runs (PAPER_GRAPHS); None for any other row."""
    if row.get("category") != "paper" or "LLM" in row.get("workload", "") or "training" in row.get("scenario", "").lower():
        return None
    text = (row.get("workload", "") + " " + row.get("model_config", "")).lower()
    return next((k for rx, k in PAPER_GRAPHS if re.search(rx, text)), None)


def row_graph(kind: str, row: dict, batch: int, prec: str):
    """The op graph of `kind` at `batch` samples, the row's image size / sequence length, in `prec`."""
    mc = row["model_config"]
    if kind == "resnet":
        depth = _num(r"resnet-?(50|101|152)", row["workload"] + " " + mc)
        return vision.resnet_graph(depth, batch, _num(r"image (\d+)x\d+", mc) or 224, prec)
    if kind == "clip-vit-l14":
        return vision.vit_graph("clip-vit-l14", batch, _num(r"image (\d+)x\d+", mc) or 224, prec)
    if kind == "bert-large":
        seq = _num(r"\bseq(?:_len)?=(\d+)", mc)
        if seq is None:
            raise SkipRow("bert row without seq=N in model_config")
        return speech.bert_graph(batch, seq, prec, head="pooler")
    if kind == "sdxl":
        return diffusion.sdxl_graph(batch, SDXL_PIPELINE_STEPS, _num(r"image (\d+)x\d+", mc) or 1024, prec,
                                    vae_precision=prec, high_precision=prec, tensorrt=False)
    raise SkipRow(f"no graph for {kind}")


def data_parallel_copies(row: dict, kind: str, cores: float) -> int:
    """Model copies one chip runs at once (module doc): one per core for a Neuron "Data Parallel" row of a
    single-model benchmark, 1 for a diffusion pipeline (its UNet splits the guidance pair over the cores) or
    any other row."""
    neuron_dp = "data parallel" in row.get("model_config", "").lower() and "neuron" in row.get("software", "").lower()
    return max(1, int(cores)) if neuron_dp and kind != "sdxl" else 1


@register("paper-inference")
def map_row(row: dict, fitted: dict | None = None) -> RowPrediction | None:
    kind = graph_kind(row)
    if kind is None:
        return None
    if not re.match(r"inferences/s", row.get("unit", ""), flags=re.I):
        raise SkipRow(f"unit '{row.get('unit')}' not handled for {kind} rows (inferences/s is)")
    cid = resolve_chip_id(row["accelerator"])
    if cid is None:
        raise SkipRow(f"accelerator '{row['accelerator']}' is not in the chip catalog")
    chip = get_chip(cid)
    batch = _num(r"\bbatch=(\d+)", row["model_config"])
    if batch is None:
        raise SkipRow("model_config states no batch=N")
    prec = compute_precision(row.get("precision", ""), chip, row.get("software", ""), row.get("workload", ""))
    p = calibrated_params(chip, fitted)
    copies = data_parallel_copies(row, kind, float(p.num_cores))
    try:
        g = row_graph(kind, row, batch * copies, prec)
    except TapeoutError as e:
        raise SkipRow(str(e)) from None
    need, cap = memory_needed(g), float(p.mem_capacity) * USABLE_MEMORY_FRACTION
    if need > cap:
        raise SkipRow(f"{g.name} needs {need / GIB:.1f} GiB of {cap / GIB:.1f} GiB usable on {chip.id}")
    ct = evaluate(g, p)
    t = float(ct.total_time)
    n = int(float(row.get("n_accelerators") or 1))
    detail = {"graph": g.name, "compute_precision": prec, "batch": batch, "copies_per_chip": copies,
              "device_time_ms": t * 1e3, "bound": str(ct.dominant_bound())}
    if kind == "sdxl":
        detail["steps"] = SDXL_PIPELINE_STEPS
    return RowPrediction(n * batch * copies / t, row["unit"], f"paper:{g.meta.get('model', kind)}", detail=detail)
