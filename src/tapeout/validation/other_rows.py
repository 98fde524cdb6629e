"""Row mappers for the non-LLM MLPerf benchmarks of end_to_end.csv (see docs/workloads.md).

Inference (resnet50, retinanet, bert, dlrm-v2, stable-diffusion-xl, 3d-unet, whisper):
  Offline       samples/s = n_accelerators x per-chip throughput at the offline batch
                (data-parallel replicas; the largest batch <= OFFLINE_BATCH that fits memory)
  Server        queries/s = n_accelerators x the per-chip M/M/1 p99 bound at the MLPerf
                latency constraint (perf/recsys.py qps_at_p99; mlperf.conf bounds)
                (the simulated LoadGen batchers, perf/scenarios.py best_server_rate with the
                reference harness's settings, are built and tested but not used here yet: on
                today's service times they are +33% optimistic, the Offline gap plus a Server
                loss no documented harness mechanism explains; scripts/server_model_compare.py,
                docs/notes/issue-17.md)
  SingleStream  p90 latency (ms) of one sample at batch 1 + the host path (perf/scenarios.py)
  MultiStream   p99 latency (ms) of one 8-sample query at batch 8 + the host path
Precision rule: the one rule table of every validation mapper,
data/precision/declared_rules.yaml (validation/declared_precision.py). No per-submitter exceptions.
DLRMv2 99.9: TensorRT runs the DCN-v2 interaction in FP16 when the MLPs are 8-bit.
BERT: TensorRT runs variable-length sequences without padding, so its rows cost the mean
real length of a SQuAD v1.1 feature (176.6 of 384 tokens); other stacks run padded to 384.

Training (dlrm-dcnv2, dlrm, bert, resnet, stable-diffusion, ssd = RetinaNet, gnn = R-GAT, flux1, rnnt, maskrcnn, unet3d): minutes =
samples_to_converge / (n_accelerators x per-chip training samples/s) / 60, where samples_to_converge
is read from the row notes: `samples_count=` when present, else `epoch_num=` converted per
benchmark (bert logs samples; resnet epochs x 1,281,167 ImageNet images; dlrm_dcnv2 epochs
x 4,195,197,692 Criteo pairs; dlrm (v1) the same pairs x (epoch_num - 1), its loggers counting from 1; ssd epochs x 1,170,301 OpenImages-MLPerf images; gnn epochs x
94,605,600 IGBH-Full training seeds; rnnt epochs x 281,241 LibriSpeech 960 h utterances; maskrcnn epochs x 117,266
COCO 2017 train images with annotations; unet3d epochs x whole global batches of its 168 KiTS19 cases, or samples
as logged: validation/unet3d_train.py); the rows therefore measure throughput (detail["measures"]).
Where the benchmark's RCPs for the row's MLPerf round are on file (data/mlperf/rcps.yaml) the same run is also
priced at the RCP for its batch (detail["time_to_train"]; where none is, the block says why, without a prediction).
A row whose notes give no convergence of its own (no samples_count / epoch_num, or one in no known unit) is
predicted at the RCP for its batch instead, measures "time-to-train" (skipped, saying what is missing, without one).
RetinaNet and R-GAT add their evaluations inside the timed region (every epoch / every 0.05
epoch, forward only) and R-GAT's per-step feature read, overlapped with the step (perf/gnn.py).
A training step is the forward of the trained graph plus its backward (perf/train_backward.py:
each convolution's data-gradient and weight-gradient GEMMs at their own shapes, of the forward's
FLOPs each (Kaplan et al. 2020 6N rule); linear layers 2x their forward, as the LLM engine; no
data gradient for an input that needs none, other_benchmarks.yaml train_no_input_grad; fused
attention 2.5x its FLOPs at the backward kernel's rate; elementwise 2x) in bf16, plus work run
once per step (training_graphs: batch-norm statistics passes of ResNet, which inference folds into
the convolutions; the frozen text encoder of Stable Diffusion, forward only; its VAE does not
run, the MLPerf dataset holds precomputed latent moments), plus the data-parallel gradient
all-reduce of the dense weights (perf/collectives.py, hierarchical over the system's tiers),
overlapped with backward (PyTorch DDP bucketing, Li et al. 2020, VLDB):
t = t_fwd + t_bwd + t_once + max(0, t_allreduce - t_bwd) + t_optimizer (every benchmark's weight update after
the backward and the reduction: perf/weight_update.py at other_benchmarks.yaml weight_update); a stack that all-reduces after the
backward (Stable Diffusion on NeMo, ddp_overlap False) adds t_allreduce whole; BERT on NVIDIA GPUs:
the distributed-LAMB gradient reduction after the backward (bert_gradient_sync_s). RetinaNet on NVIDIA's implementation
(workloads/detection_train.py): the head outputs' concatenation over the FPN levels and the decode / fused focal
loss forward run forward-only (once per step and in evaluation); the backward adds the focal loss's in-place
gradient scaling and GradClone's copies (head_grad_s). Stable
Diffusion: no evaluation in the timed region (its FID/CLIP evaluation runs after training on timestamped
checkpoints, other_benchmarks.yaml sd_train.evaluation_in_timed_region). Flux.1 (torchtitan): full activation
checkpointing reruns each transformer block's forward in the backward (t_recompute), and HSDP replaces
the all-reduce (perf/fsdp.py: parameter all-gathers in forward and backward, gradient reduce-scatter, each
exposed only beyond its phase's compute); evaluation: every 262,144 samples over 29,696, forward only. RNN-T
(validation/rnnt_train.py, workloads/rnnt.py): LSTM layers as one input GEMM and a per-step recurrent chain, packed
joint and fused transducer loss; its evaluation is greedy decoding of dev-clean every epoch. Mask R-CNN (NVIDIA's
implementation, workloads/maskrcnn.py): frozen stem + layer1 and the proposal decode forward-only; the flat
gradient all-reduce after the backward, exposed, on NVIDIA GPUs (maskrcnn_train.allreduce_after_backward_vendors);
evaluation every epoch over the 5,000 val2017 images on its own graph at the test-time RoI counts (eval_graph). unet3d (3D U-Net, KiTS19, FP16):
sliding-window evaluation of the 42 validation volumes from epoch 1000, every 20 epochs, sharded over the ranks,
or on the chips beyond one per sample, overlapped (validation/unet3d_train.py). Evaluation passes inside
the timed region are added where other_benchmarks.yaml sources them (dlrm_dcnv2 and dlrm: 20 per epoch
over 89.1 M validation pairs; resnet: every 4 epochs over the 50,000 ImageNet validation
images; bert: the rules' interval over 10,000 samples): n_evals x ceil(eval_samples / global
batch) x t_fwd. The detection benchmarks (RetinaNet, Mask R-CNN) add their host-side COCO scoring on NVIDIA's
stacks: every evaluation's where it is synchronous, the last one's where it is asynchronous (validation/detection_eval.py;
a row's MLPerf round and node count decide). BERT sequences cost the training set's mean real length (bert_train_shape).
The pricing body is validation/other_training.py training_time, shared with `tapeout train --benchmark`.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError
from ..hardware.catalog import get_chip, resolve_chip_id, vendor_of
from ..ops import OpGraph
from ..perf import board_limit
from ..perf.calibration import calibrated_params
from ..perf.opcost import evaluate
from ..perf.recsys import qps_at_p99, recsys_cost
from ..perf.scenarios import host_path_s
from ..precision import dtype_bytes
from ..workloads.catalog import USABLE_MEMORY_FRACTION, memory_needed
from ..workloads import autocast, diffusion, gnn, maskrcnn, recsys, speech, vision
from ..workloads.blocks import ConvMatMul, distinct_weight_bytes, eltwise
from ..workloads.detection_train import head_output_passes
from .maxq import maxq_chip
from . import conv_unfused_passes, sram_rows
from .declared_precision import compute_precision
from .registry import RowPrediction, SkipRow, register
from .rcp import priced_at
from .system_interconnect import row_node
from .train_rows import measures

INF_BENCH = [  # (regex on the benchmark token, canonical name)
    (r"^resnet(50)?$", "resnet50"),
    (r"^retinanet$", "retinanet"),
    (r"^bert-99(\.9)?(/99\.9)?$", "bert"),
    (r"^dlrm-v2-99(\.9)?(/99\.9)?$", "dlrmv2"),
    (r"^stable-diffusion-xl$", "sdxl"),
    (r"^3d-unet-99(\.9)?(/99\.9)?$", "3d-unet"),
    (r"^whisper", "whisper"),
]
TRAIN_BENCH = {"bert": "bert", "resnet": "resnet", "dlrm_dcnv2": "dlrm-dcnv2",
               "stable_diffusion": "stable-diffusion",
               "dlrm": "dlrm",  # DLRM (v1) on Criteo 1TB, MLPerf Training v0.7-v2.1 (validation/dlrm_train.py)
               "ssd": "retinanet", "gnn": "rgat",  # ssd = RetinaNet from v2.0 (every ssd row of end_to_end.csv is v2.0+)
               # v4.1+ results folders name the same two benchmarks by model (training_results_v5.0
               # <submitter>/results/<system>/retinanet/ and .../rgat/, e.g. ASUSTeK ESC_N8_E11, ESC_N8_E11_n2)
               "retinanet": "retinanet", "rgat": "rgat",
               "flux1": "flux1",  # the benchmark name of its logs and RCPs (rcps_flux1.json 'Benchmark': 'flux1')
               "rnnt": "rnnt",  # RNN-T speech recognition, MLPerf Training v1.0-v3.1 (validation/rnnt_train.py)
               "maskrcnn": "maskrcnn",  # Mask R-CNN ResNet-50-FPN on COCO 2017 (v1.0-v3.1; workloads/maskrcnn.py)
               "unet3d": "unet3d"}  # 3D U-Net on KiTS19 (v1.0-v4.0; validation/unet3d_train.py)

# mlperf.conf Server p99 latency constraints (s) (reference/workloads-and-compression.md 6.1)
SERVER_BOUND_S = {"resnet50": 0.015, "retinanet": 0.100, "bert": 0.130, "dlrmv2": 0.060, "sdxl": 20.0, "whisper": 1.0}
OFFLINE_BATCH = {"resnet50": 256, "retinanet": 16, "bert": 256, "dlrmv2": 256, "sdxl": 8, "3d-unet": 1, "whisper": 64}
SERVER_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)

IMAGENET_TRAIN = 1_281_167
CRITEO_TRAIN_PAIRS = 4_195_197_692
RGAT_FEATURE_DTYPE = "fp8"  # other_benchmarks.yaml rgat_train.feature_dtype (NVIDIA's default)
EPOCH_UNITS = {"retinanet": ("train-retinanet", "epoch_samples"), "rgat": ("train-rgat", "epoch_samples"),
               "rnnt": ("train-rnnt", "epoch_samples"),
               "maskrcnn": ("train-maskrcnn", "epoch_samples")}
# benchmarks whose once-per-step graph (training_graphs) is forward work evaluation also runs:
# RetinaNet's frozen stem/layer1, R-GAT's feature gather (ResNet's is batch-norm training passes)
EVAL_RUNS_ONCE_GRAPH = frozenset({"retinanet", "rgat"})
# Mask R-CNN rows (MLPerf Training maskrcnn) priced from the benchmark definition (workloads/maskrcnn.py, training_graphs,
# eval_graph). On: every term is sourced (other_benchmarks.yaml train-maskrcnn, maskrcnn_train, weight_update.maskrcnn)
# and nothing was fitted to the rows; the predictions come out optimistic (docs/notes/issue-18.md, Round stop-39
# issue-47c), published as they are. Off: the rows stay unmapped ("not mapped" skips).
MASKRCNN_ROWS = True
# benchmarks whose evaluation batch is its own graph, not the training forward (eval_graph): Mask R-CNN's RoI heads
# run at the test-time proposal and detection counts
EVAL_GRAPH = frozenset({"maskrcnn"})
@lru_cache(maxsize=1)
def workload_facts() -> dict:
    text = resources.files("tapeout").joinpath("data", "mlperf", "other_benchmarks.yaml").read_text()
    return yaml.safe_load(text)


def fact(bench: str, key: str):
    return workload_facts()[bench][key]["value"]


def is_tensorrt(software: str) -> bool:
    return "tensorrt" in (software or "").lower()


def benchmark_of(row: dict) -> tuple[str, str] | None:
    """("inf" | "train", tapeout benchmark name) of a non-LLM MLPerf row; None for other rows."""
    m = re.match(r"MLPerf (Inference|Training) v[\d.]+ (\S+)", row.get("workload", ""))
    if not m:
        return None
    if m.group(1) == "Inference" and row.get("category") == "mlperf-inf":
        for rx, name in INF_BENCH:
            if re.match(rx, m.group(2)):
                return "inf", name
        return None
    if m.group(1) == "Training" and row.get("category") == "mlperf-train":
        name = TRAIN_BENCH.get(m.group(2))
        if name == "maskrcnn" and not MASKRCNN_ROWS:
            return None
        return ("train", name) if name else None
    return None


def _chip(row: dict):
    cid = resolve_chip_id(row["accelerator"])
    if cid is None:
        raise SkipRow(f"accelerator '{row['accelerator']}' is not in the chip catalog")
    return get_chip(cid)


def bert_seq_len(software: str) -> int:
    """Tokens per BERT sample: the mean unpadded SQuAD feature under TensorRT, else 384."""
    if any(sw in (software or "").lower() for sw in fact("bert", "unpadded_software")):
        return int(round(fact("bert", "mean_tokens")))
    return int(fact("bert", "max_seq_len"))


def bert_train_shape() -> tuple[int, int]:
    """(tokens, masked positions) per MLPerf BERT training sequence. Every stack in the rows runs
    padding-free (unpadded fused MHA, packed samples or length buckets; other_benchmarks.yaml
    bert_train.padding_free), so a sequence costs the training set's mean real length, not 512;
    the MLM head gathers only the real masked tokens (round(0.15 x length), capped at 76)."""
    if not fact("bert_train", "padding_free"):
        return int(fact("bert_train", "max_seq_len")), 76
    mean = float(fact("bert_train", "mean_tokens"))
    return int(round(mean)), min(76, max(1, int(round(mean * float(fact("bert_train", "masked_lm_prob"))))))


def _high_accuracy(row: dict) -> bool:
    return "99.9" in row.get("workload", "")


def half_precision(chip) -> str:
    """The 16-bit format a mixed 8-bit recipe keeps its other tensors in: FP16 (TensorRT's
    'Half'), BF16 on a chip with no FP16 matrix rate (Gaudi2's SDXL submission declares
    'fp8 UNet / bf16')."""
    return "fp16" if chip.supports("fp16") or not chip.supports("bf16") else "bf16"


# NVIDIA's MLPerf SDXL VAE engine by GPU generation (closed/NVIDIA/code/stable-diffusion-xl/tensorrt/builder.py
# SDXLVAEBuilder, inference_results_v5.1): FP32 with TF32 math from compute capability 10 (Blackwell and
# later), INT8 with FP32 tensors below it (workloads/diffusion.py tensorrt_int8_fp32_vae)
TENSORRT_FP32_VAE_FAMILIES = ("nvidia-blackwell",)


def inference_graph(bench: str, batch: int, prec: str, software: str = "", high_accuracy: bool = False,
                    half: str = "fp16", family: str = "") -> OpGraph:
    """The op graph of MLPerf inference benchmark `bench` at `batch` in `prec`, as the row's harness
    (`software`, the chip's `family`) builds it; `half` the chip's 16-bit format."""
    if bench == "resnet50":
        return vision.resnet50_graph(batch, 224, prec)
    if bench == "retinanet":
        return vision.retinanet_graph(batch, 800, prec)
    if bench == "bert":
        return speech.bert_graph(batch, bert_seq_len(software), prec)
    if bench == "dlrmv2":
        fp16_dcn = (high_accuracy and prec in ("int8", "fp8") and is_tensorrt(software)
                    and fact("dlrmv2", "high_accuracy_interaction_fp16"))
        return recsys.dlrmv2_graph(batch, precision=prec, interaction_precision="fp16" if fp16_dcn else None)
    if bench == "sdxl":
        trt = is_tensorrt(software)
        vae = "fp32" if trt and family in TENSORRT_FP32_VAE_FAMILIES else half if prec in ("int8", "fp8") else prec
        return diffusion.sdxl_graph(batch, 20, 1024, prec, vae_precision=vae, high_precision=half, tensorrt=trt,
                                    vae_int8_fp32=trt and family not in TENSORRT_FP32_VAE_FAMILIES)
    if bench == "3d-unet":
        return vision.unet3d_graph(batch, precision=prec)
    if bench == "whisper":
        return speech.whisper_graph(batch, precision=prec)
    raise SkipRow(f"no graph for {bench}")


def _time(bench: str, g: OpGraph, p, chip=None, fitted: dict | None = None) -> float:
    """Seconds of one graph on `p`; on a power-limited `chip` with board_limit.LIMIT_STEP_POWER, the step at the
    clock its average power sustains under the limit (perf/board_limit.py), from the nominal chip's params."""
    if chip is not None and board_limit.applies(chip):
        p_nom = calibrated_params(board_limit.nominal_chip(chip), fitted)
        power = board_limit.step_power_at(chip, p_nom, fitted)
        if power is not None:
            if bench == "dlrmv2":
                r = recsys_cost(g, p_nom)
                return max(board_limit.limited_time(r["cost"], power)[1], float(r["host_time"]))
            return board_limit.limited_time(evaluate(g, p_nom), power)[1]
    if bench == "dlrmv2":
        return float(recsys_cost(g, p)["time"])
    return float(evaluate(g, p).total_time)


def _fits(bench, g, p) -> bool:
    need = memory_needed(g, include_embeddings=True)
    return need <= float(p.mem_capacity) * USABLE_MEMORY_FRACTION or bench == "dlrmv2"


def per_chip_offline(bench: str, chip, prec: str, software: str = "", high_accuracy: bool = False,
                     fitted: dict | None = None) -> tuple[float, int, str]:
    p = calibrated_params(chip, fitted)
    b = OFFLINE_BATCH[bench]
    while b >= 1:
        g = inference_graph(bench, b, prec, software, high_accuracy, half_precision(chip), chip.family)
        if _fits(bench, g, p):
            t = _time(bench, g, p, chip, fitted)
            return b / t, b, str(evaluate(g, p).dominant_bound()) if bench != "dlrmv2" else str(recsys_cost(g, p)["bound"])
        b //= 2
    raise SkipRow(f"{bench} at batch 1 does not fit {chip.id}'s memory")


# the units each LoadGen scenario reports (mlcommons/inference loadgen: Offline samples/s, Server
# scheduled queries/s or completed samples/s, SingleStream p90 / MultiStream p99 latency); whisper's
# Offline result counts output tokens (reference_SUT.py returns n_tokens in every QuerySampleResponse)
# whatever the results table calls it, so either label is accepted and scored in tokens/s
SCENARIO_UNITS = {"Offline": ("samples/s",), "Server": ("queries/s", "samples/s"), "SingleStream": ("latency (ms)",),
                  "MultiStream": ("latency (ms)",)}


def check_unit(row: dict, bench: str) -> None:
    """Refuse a row whose stated unit is not one its scenario reports (it would be scored in the
    wrong unit); a row that states no unit is scored in the scenario's own."""
    scen = row.get("scenario", "")
    unit = (row.get("unit") or "").strip().lower()
    ok = SCENARIO_UNITS.get(scen, ()) + (("tokens/s",) if bench == "whisper" and scen == "Offline" else ())
    if ok and unit and not unit.startswith(ok):
        raise SkipRow(f"unit '{row.get('unit')}' is not one the {scen} scenario reports for {bench}: use one of "
                      f"{', '.join(u.capitalize() for u in ok)}")


def server_bound_s(bench: str) -> float:
    """The benchmark's Server p99 latency bound (s, mlperf.conf); SkipRow where it has none."""
    T = SERVER_BOUND_S.get(bench)
    if T is None:
        raise SkipRow(f"no Server bound for {bench}")
    return T


def server_batch_times(bench: str, chip, prec: str, software: str = "", high_accuracy: bool = False,
                       fitted: dict | None = None) -> dict[int, float]:
    """{b: device seconds of one batch of b queries on one accelerator} for b in SERVER_BATCHES up
    to the Offline batch, stopping at the first that does not fit memory: the service times every
    Server model (M/M/1 bound, LoadGen batchers) runs on."""
    p = calibrated_params(chip, fitted)
    times: dict[int, float] = {}
    for b in SERVER_BATCHES:
        if b > OFFLINE_BATCH[bench]:
            break
        g = inference_graph(bench, b, prec, software, high_accuracy, half_precision(chip), chip.family)
        if not _fits(bench, g, p):
            break
        times[b] = _time(bench, g, p, chip, fitted)
    return times


def mm1_server_rate(times: dict[int, float], bound_s: float) -> tuple[float, int]:
    """(queries/s, batch): the best M/M/1 p99 bound (perf/recsys.py qps_at_p99) over the batch
    sizes of `times`; (0.0, 1) when none meets the bound."""
    best, arg = 0.0, 1
    for b, t in times.items():
        q = float(qps_at_p99(t, b, bound_s))
        if q > best:
            best, arg = q, b
    return best, arg


def scenario_result(bench: str, chip, scen: str, prec: str, software: str = "", high_accuracy: bool = False,
                    fitted: dict | None = None) -> tuple[float, str, dict]:
    """One accelerator's MLPerf result of inference benchmark `bench` in LoadGen scenario `scen`
    (module docstring): (value, unit, detail). Offline samples/s (whisper: output tokens/s) and
    Server queries/s are per accelerator (a system of n runs n replicas); SingleStream /
    MultiStream are latencies in ms. Raises TapeoutError (e.g. a graph that does not fit)."""
    p = calibrated_params(chip, fitted)
    detail: dict = {}
    if scen == "Offline":
        tput, b, bound = per_chip_offline(bench, chip, prec, software, high_accuracy, fitted)
        detail.update(batch=b, bound=bound, per_chip=tput)
        if bench == "whisper":
            # LoadGen counts the output tokens each response reports (mlcommons/inference
            # speech2text/reference_SUT.py: n_tokens per QuerySampleResponse); the results
            # tables label the figure samples/s, so a Samples/s row is scored in tokens/s too
            detail["unit_note"] = "whisper Offline counts output tokens/s (LoadGen n_tokens), whatever the row's label"
            tok = float(inference_graph(bench, 1, prec).meta["output_tokens"])
            return tput * tok, "Tokens/s", detail
        return tput, "Samples/s", detail
    if scen == "Server":
        T = server_bound_s(bench)
        times = server_batch_times(bench, chip, prec, software, high_accuracy, fitted)
        detail.update(latency_bound_s=T)
        return mm1_server_rate(times, T)[0], "Queries/s", detail
    if scen in ("SingleStream", "MultiStream"):
        b = 1 if scen == "SingleStream" else 8
        g = inference_graph(bench, b, prec, software, high_accuracy, half_precision(chip), chip.family)
        host = float(host_path_s(g, p.host_bw))
        detail.update(host_ms=host * 1e3)
        return (_time(bench, g, p, chip, fitted) + host) * 1e3, "Latency (ms)", detail
    raise SkipRow(f"scenario '{scen}' not modelled")


@register("mlperf-other-inference")
def map_inference(row: dict, fitted: dict | None = None) -> RowPrediction | None:
    kind = benchmark_of(row)
    if kind is None or kind[0] != "inf":
        return None
    bench = kind[1]
    chip = maxq_chip(row, _chip(row), bench, row.get("scenario", "").lower(), _high_accuracy(row))
    sw = row.get("software", "")
    prec = compute_precision(row.get("precision", ""), chip, sw, row.get("workload", ""))
    n = int(float(row.get("n_accelerators") or 1))
    scen = row.get("scenario", "")
    detail = {"chip": chip.id, "compute_precision": prec, "n_accelerators": n}
    check_unit(row, bench)
    sram_rows.check_inference(chip, scen)  # a chip computing out of SRAM: no latency rows (validation/sram_rows.py)
    detail.update(sram_rows.detail_note(chip))
    try:
        value, unit, more = scenario_result(bench, chip, scen, prec, sw, _high_accuracy(row), fitted)
    except TapeoutError as e:
        raise SkipRow(str(e)) from None
    detail.update(more)
    # Offline / Server: n data-parallel replicas; a latency scenario's query runs on one
    return RowPrediction(value if unit == "Latency (ms)" else n * value, unit, bench, detail=detail)


# ------------------------------------------------------------------------------ training


def _notes_value(notes: str, key: str) -> float | None:
    m = re.search(rf"{key}=([0-9.eE+-]+)", notes)
    return float(m.group(1)) if m else None


class NoOwnConvergence(SkipRow):
    """The row's notes give no convergence point of its own (map_training then predicts it at the benchmark
    definition's, the RCP at its global batch, where one is on file)."""


def samples_to_converge(bench: str, notes: str) -> float:
    s = _notes_value(notes, "samples_count")
    if s:
        return s
    e = _notes_value(notes, "epoch_num")
    if e is None:
        raise NoOwnConvergence("row notes give neither samples_count nor epoch_num")
    if bench == "unet3d":  # epochs or (v3.1+ loggers) samples, told apart by value (validation/unet3d_train.py)
        from .unet3d_train import row_samples

        gb = _notes_value(notes, "global_batch_size")
        if not gb:
            raise SkipRow("row notes lack global_batch_size")
        return row_samples(e, gb)
    if bench == "bert":  # the BERT logger's epoch_num counts samples: fewer than one global batch is another unit
        gb = _notes_value(notes, "global_batch_size")
        if gb and e < gb:
            raise NoOwnConvergence(f"bert epoch_num={e:g} is below one global batch ({gb:g} samples): not a sample count")
        return e
    if bench == "resnet":
        return e * IMAGENET_TRAIN
    if bench == "dlrm-dcnv2":
        return e * CRITEO_TRAIN_PAIRS
    if bench == "dlrm":  # its loggers count epochs from 1 (other_benchmarks.yaml train-dlrm epoch_num_offset)
        return (e - float(fact("train-dlrm", "epoch_num_offset"))) * CRITEO_TRAIN_PAIRS
    if bench in EPOCH_UNITS:
        return e * fact(*EPOCH_UNITS[bench])
    raise NoOwnConvergence(f"{bench}: epoch_num without samples_count cannot be converted")


def sd2_unet_train_ops(n: int, pr) -> list:
    """Stable Diffusion v2 (512x512 -> 64x64 latents): UNet channel_mult [1,2,4,4], depth-1
    transformers on the first three levels, context 1024 (OpenCLIP ViT-H text, 77 tokens)."""
    return diffusion.unet_ops(n, 64, 64, pr, mult=(1, 2, 4, 4), depth=(1, 1, 1, 0), ctx_dim=1024, adm=0)


def bn_training_ops(g: OpGraph, pr, skip: set[str] | frozenset = frozenset()) -> list:
    """Batch-norm traffic of a training step (forward + backward, run once per step, not through
    the backward rule): at inference BN folds into the convolution weights, in training it needs
    batch statistics. cuDNN's fused
    BN+activation(+add) kernels (cudnnBatchNormalizationForwardTrainingEx / BackwardEx with
    CUDNN_BATCHNORM_OPS_BN_ACTIVATION, the ones NVIDIA's ResNet MLPerf stacks call): forward
    reads each conv output twice (statistics, normalize+ReLU) and writes it once; backward
    reads dy and x for the dgamma/dbeta reduction, again for dx, and writes dx. `skip`: the convs whose
    output a stack kernel prices in full (validation/conv_unfused_passes.covered: NVIDIA's BatchNormAddRelu)."""
    elems = sum(o.m * o.n * o.groups * o.count for o in g.ops if isinstance(o, ConvMatMul) and o.name not in skip)
    return [eltwise("bn_train.fwd", elems, pr, 4, reads=2, writes=1),
            eltwise("bn_train.bwd", elems, pr, 8, reads=4, writes=1)]


def train_precision(bench: str, chip=None) -> str:
    """The 16-bit format a benchmark's training step runs its GEMMs in: BF16; unet3d FP16 (NVIDIA's
    --static_cast FP16 model, other_benchmarks.yaml unet3d_train.precision), BF16 on a `chip` with no FP16 matrix
    rate (half_precision's rule; Habana's Gaudi2 stack not read). A `chip` with no BF16 matrix rate trains in FP16
    (the Graphcore IPU computes in IEEE FP32 and FP16 only, IPU Programmer's Guide, IPU hardware overview)."""
    if bench != "unet3d":
        return "bf16" if chip is None or chip.supports("bf16") or not chip.supports("fp16") else "fp16"
    prec = str(fact("unet3d_train", "precision"))
    return half_precision(chip) if chip is not None and prec == "fp16" else prec


def training_graphs(bench: str, per_chip_batch: int, chip=None, n_chips: int = 1,
                    text_encoder_layers: int | None = None) -> tuple[OpGraph, OpGraph, float]:
    """One chip's training step on `n_chips`: (trained forward graph, run forward + backward, perf/train_backward.py;
    graph run once per step: frozen encoders forward-only, training-only memory passes) and
    the dense trained weight bytes (bf16). `text_encoder_layers` (Stable Diffusion): the frozen text encoder's
    blocks a round's stack runs per step (validation/sd_round.py; 0: precomputed), None: the sd_train facts.

    Stable Diffusion (MLPerf reference, mlcommons/training stable_diffusion/README.md): the
    dataset is `webdataset-moments-filtered`, VAE encoder moments precomputed offline, so the
    VAE does not run in training; the OpenCLIP ViT-H text encoder is frozen (forward only), and
    NVIDIA's implementation precomputes its embeddings too (other_benchmarks.yaml sd_train). Its NeMo
    stack trains under autocast (precision 16, not O2) but builds the UNet in FP16 (unet_precision fp16:
    sd_train.unet_weight_dtype), so autocast casts no weight (workloads/autocast.py prices the casts of an
    FP32-weight stack, once per step), and its FP32-listed ops run inside fused kernels that read and write
    16-bit tensors (sd_train.autocast_fp32_ops): the graph's 2-byte norms and fused attention stand.

    Flux.1 (mlcommons/training text_to_image, torchtitan/experiments/flux): the MMDiT of flux1-schnell on
    256x256 images (32x32x16 latents -> 256 image tokens after 2x2 packing, flux_tokens) and the 256 T5
    tokens (train-flux1 resolution, FLUX_CONFIGS t5_len), pooled CLIP vector into the modulation; one
    transformer pass per sample at a random timestep. T5-XXL, CLIP-L and the VAE are frozen and, on the
    preprocessed dataset the README recommends, do not run (flux_train.encoders_per_step).
    """
    vendor = vendor_of(chip) if chip is not None else None  # the stack the run follows (None: the one on file)
    from ..workloads.blocks import as_precision

    pr = "bf16" if bench == "unet3d" else train_precision(bench, chip)  # unet3d's own format: train_graph below
    p = as_precision(pr)
    once: list = []
    if bench == "bert":
        seq, masked = bert_train_shape()
        g = speech.bert_graph(per_chip_batch, seq, pr, head="pretrain", mlm_per_seq=masked)
    elif bench == "resnet":
        g = vision.resnet50_graph(per_chip_batch, 224, pr)
        # the block-ending BN + add + ReLU kernel priced from its own bytes, forward here (validation/
        # conv_unfused_passes.py; its backward: other_training.training_time), the other convs' BN by the generic rule
        once = (bn_training_ops(g, p, conv_unfused_passes.covered(g, vendor, bench))
                + conv_unfused_passes.all_passes(g, p, vendor, bench)[0])
    elif bench in ("dlrm-dcnv2", "dlrm"):
        from . import dlrm_train  # tables sharded over the chips as the stack runs them (validation/dlrm_train.py)

        g = (dlrm_train.training_graph(per_chip_batch, n_chips, pr, dlrm_train.chip_cap_gb(chip), bench,
                                       vendor)
             if dlrm_train.sharded(bench) else
             recsys.recsys_graph(recsys.dlrmv2_model(), per_chip_batch, pr, emb_dtype="fp32"))
    elif bench == "retinanet":
        full = vision.retinanet_graph(per_chip_batch, 800, pr)
        frozen = tuple(fact("retinanet_train", "frozen_prefix"))
        # forward-only work, run by evaluation too: frozen stem + layer1, the concatenation of the head
        # outputs over the FPN levels, and the decode ops (in training: the fused focal loss's forward over
        # the same logits; its in-place backward is priced apart, workloads/detection_train.py)
        fwd_only = frozen + ("decode.",)
        once = [o for o in full.ops if o.name.startswith(fwd_only)] + head_output_passes(full, p)[0]
        # the backbone's BN / ReLU / add and the FPN's upsample / add kernels outside the convs, forward
        # (validation/conv_unfused_passes.py; their backward: other_training.training_time)
        once += conv_unfused_passes.all_passes(full, p, vendor, bench)[0]
        g = OpGraph(f"{full.name}:trained", [o for o in full.ops if not o.name.startswith(fwd_only)], full.meta)
    elif bench == "maskrcnn":
        full = maskrcnn.maskrcnn_graph(per_chip_batch, pr, train=True)
        # forward-only: the frozen stem + layer1 (maskrcnn_train.frozen_prefix) and the proposal decode
        fwd_only = tuple(fact("maskrcnn_train", "frozen_prefix")) + ("decode.",)
        once = [o for o in full.ops if o.name.startswith(fwd_only)]
        # the mask branch's ReLU / layout kernels outside its convs, forward (validation/conv_unfused_passes.py; their
        # backward and the backbone's drelu_dscale: other_training.training_time)
        once += conv_unfused_passes.all_passes(full, p, vendor, bench)[0]
        g = OpGraph(f"{full.name}:trained", [o for o in full.ops if not o.name.startswith(fwd_only)], full.meta)
    elif bench == "rgat":
        full = gnn.rgat_graph(per_chip_batch, feature_dtype=RGAT_FEATURE_DTYPE, precision=pr)
        once = [o for o in full.ops if o.name == "feature_gather"]
        # the tensor the trained graph reads from outside: the sampled nodes' features as its first GEMM reads them
        # (its projection per relation re-reads one node type's tensor; validation/train_fit.py)
        first = next(o for o in full.ops if o.name == "gat1.proj")
        outside = per_chip_batch * float(full.meta["sampled_nodes_per_seed"]) * first.input_bytes / first.m
        g = OpGraph(f"{full.name}:trained", [o for o in full.ops if o.name != "feature_gather"],
                    {**full.meta, "outside_input_bytes": outside})
        return g, OpGraph(f"{g.name}:once", once, full.meta), float(full.meta["weight_bytes"])
    elif bench == "stable-diffusion":
        g = OpGraph(f"sd2-unet-train:b{per_chip_batch}", sd2_unet_train_ops(per_chip_batch, p), {"batch": per_chip_batch})
        layers = (24 if fact("sd_train", "text_encoder_per_step") else 0) if text_encoder_layers is None \
            else text_encoder_layers
        if layers:  # frozen OpenCLIP ViT-H, forward only
            once = diffusion.clip_text_ops("text.openclip_h", per_chip_batch, layers, 1024, 16, 4096, p)
        # autocast's cached weight casts, none for NeMo's FP16 UNet (sd_train.unet_weight_dtype)
        once += autocast.weight_cast_ops("unet.autocast", distinct_weight_bytes(g.ops) / dtype_bytes(p.weights),
                                         fact("sd_train", "unet_weight_dtype"), fact("sd_train", "autocast_dtype"))
        # the UNet's timestep-embedding / residual adds outside its convs, forward (validation/conv_unfused_passes.py;
        # their backward: other_training.training_time)
        once += conv_unfused_passes.all_passes(g, p, vendor, bench)[0]
    elif bench == "unet3d":  # random 128^3 crops of KiTS19 in FP16 (validation/unet3d_train.py)
        from .unet3d_train import train_graph

        g = train_graph(per_chip_batch, train_precision(bench, chip))
        return g, OpGraph(f"{g.name}:once", []), float(g.meta["weight_bytes"])
    elif bench == "flux1":
        cfg = diffusion.FLUX_CONFIGS[fact("train-flux1", "model")]
        side = int(fact("train-flux1", "resolution"))
        g = OpGraph(f"flux1-train:b{per_chip_batch}", diffusion.flux_transformer_ops(
            per_chip_batch, diffusion.flux_tokens(side, side), cfg["t5_len"], p, cfg=cfg), {"batch": per_chip_batch})
        if fact("flux_train", "encoders_per_step"):  # frozen T5-XXL + CLIP-L, forward only
            once = diffusion.flux_text_ops(per_chip_batch, cfg, p)
    elif bench == "rnnt":  # LSTM encoder + prediction network, packed joint (validation/rnnt_train.py)
        from .rnnt_train import training_graph

        return training_graph(per_chip_batch, chip)
    else:
        raise SkipRow(f"no training graph for {bench}")
    # RetinaNet's head and Mask R-CNN's RPN weights are shared across FPN levels (meta shared_weights): counted once
    return g, OpGraph(f"{g.name}:once", once), distinct_weight_bytes(g.ops, g.meta.get("shared_weights"))


@register("mlperf-other-training")
def map_training(row: dict, fitted: dict | None = None) -> RowPrediction | None:
    kind = benchmark_of(row)
    if kind is None or kind[0] != "train":
        return None
    bench = kind[1]
    chip = row_node(row, _chip(row))  # the row's server ends the scale-up tier (hardware/node.py)
    sram_rows.check_training(chip, bench)  # a chip computing out of SRAM: ResNet only (validation/sram_rows.py)
    notes = row.get("notes", "")
    n = int(float(row.get("n_accelerators") or 1))
    gb = _notes_value(notes, "global_batch_size")
    if not gb:
        raise SkipRow("row notes lack global_batch_size")
    own_missing = None  # why the row's own convergence point could not be used, shown with its time-to-train
    try:
        samples, conv = samples_to_converge(bench, notes), None
    except NoOwnConvergence as e:  # predicted on time-to-train: the benchmark definition's convergence at its batch
        own_missing = str(e)
        conv = _rcp_convergence(bench, gb, row)
        if conv is None:
            raise SkipRow(f"{e}; no time-to-train from the benchmark definition either: "
                          f"{_no_rcp_reason(bench, gb, row)}") from None
        samples = conv.samples
    from .other_training import training_time  # the pricing body, shared with `tapeout train --benchmark`

    software = row.get("software", "")
    mlperf_round = _row_round(row)
    nodes = _notes_value(notes, "nodes")
    nodes = int(nodes) if nodes else None
    submitter = _row_submitter(row)
    try:
        r = training_time(bench, chip, n, gb, samples, fitted, software, mlperf_round, nodes, submitter)
    except TapeoutError as e:
        raise SkipRow(str(e)) from None

    def run_to(samples: float) -> dict:  # the same run converging at `samples` (steps plus evaluations)
        return training_time(bench, chip, n, gb, samples, fitted, software, mlperf_round, nodes, submitter)

    if conv is not None:  # the prediction is the time-to-train itself; no second reading
        return RowPrediction(r.pop("minutes"), "minutes", f"train-{bench}", detail={
            **r, "measures": measures(False), "convergence": conv.as_dict(), "own_convergence": own_missing,
            "time_to_train": None})
    return RowPrediction(r.pop("minutes"), "minutes", f"train-{bench}", detail={
        **r, "measures": measures(True), "time_to_train": _at_rcp(bench, gb, row, run_to)})


def _row_submitter(row: dict) -> str | None:
    """The submitter folder of a row's MLPerf results URL (".../training_results_v2.0/tree/<commit>/Azure/results/...");
    None where the source names none."""
    m = re.search(r"training_results_v[\d.]+/(?:tree|blob)/[^/]+/([^/]+)/", row.get("source", ""))
    return m.group(1) if m else None


def _row_round(row: dict) -> str | None:
    """The MLPerf Training round a row's workload names ("v2.0"); None where it names none."""
    rnd = re.match(r"MLPerf Training (v[\d.]+)", row.get("workload", ""))
    return rnd.group(1) if rnd else None


def _rcp_convergence(bench: str, gb: float, row: dict):
    """The benchmark's Reference Convergence Point for the row's global batch and MLPerf round (data/mlperf/rcps.yaml,
    perf/convergence.py), or None where none is on file."""
    from ..perf.convergence import samples_to_converge as rcp_samples

    key = f"train-{bench}"
    per_epoch = fact(key, "epoch_samples") if (workload_facts().get(key) or {}).get("epoch_samples") else None
    return rcp_samples(key, int(gb), mlperf_round=_row_round(row), epoch_samples=per_epoch)


def _no_rcp_reason(bench: str, gb: float, row: dict) -> str:
    from ..perf.convergence import no_rcp_reason

    return no_rcp_reason(f"train-{bench}", int(gb), _row_round(row)) or "no RCP"


def _at_rcp(bench: str, gb: float, row: dict, run_to) -> dict:
    """The run at its benchmark's Reference Convergence Point for its global batch and MLPerf round
    (validation/rcp.py scores it); where none is on file, a block without a prediction that says why."""
    return priced_at(_rcp_convergence(bench, gb, row), run_to) or {"predicted": None,
                                                                   "reason": _no_rcp_reason(bench, gb, row)}


def eval_graph(bench: str, per_chip_batch: int) -> OpGraph:
    """One chip's evaluation batch, forward only, for the EVAL_GRAPH benchmarks: Mask R-CNN at the test-time RoI
    counts (1000 post-NMS proposals through the box head, 100 detections through the mask head per image;
    workloads/maskrcnn.py), frozen layers included, on the training shape (assumption: the evaluation images padded
    as training's)."""
    if bench == "maskrcnn":
        return maskrcnn.maskrcnn_graph(per_chip_batch, "bf16", train=False)
    raise SkipRow(f"no evaluation graph for {bench}")


def bert_gradient_sync_s(p, family: str, n: int, dense_bytes: float) -> float:
    """NVIDIA's MLPerf BERT gradient reduction (apex DistributedFusedLAMB, one gradient block;
    other_benchmarks.yaml bert_train): after the backward, not overlapped. A reduce-scatter of the fp16
    gradients and an all-gather of the updated fp16 parameters inside the node; across nodes the node's
    shard is all-reduced between them (dwu_num_ar_pg), i.e. NCCL's hierarchical all-reduce split around
    the LAMB step (priced on the rank's 1/n shard by other_training.optimizer_s, weight_update.bert)."""
    from ..perf.collectives import library_time, topology_for

    if n <= 1:
        return 0.0
    topo = topology_for(p, family)
    kinds = ("reduce_scatter", "all_gather") if n <= topo.domain else ("all_reduce",)
    # queued: issued behind the backward's kernels (host ahead of the device; collective_launch.yaml)
    return sum(float(np.max(library_time(kind, dense_bytes, n, topo, launch="queued")[0])) for kind in kinds)


def eval_interval(ev: dict, global_batch: float) -> float:
    """Training samples between two evaluations: a fixed count (flux1), a fixed fraction of an epoch, or (BERT) the
    rules' floor(base + per_sample x global batch, quantum) (other_benchmarks.yaml train-<bench>)."""
    if "eval_interval_samples" in ev:
        return float(ev["eval_interval_samples"]["value"])
    if "eval_every_base" in ev:
        q = float(ev["eval_every_quantum"]["value"])
        raw = float(ev["eval_every_base"]["value"]) + float(ev["eval_every_per_sample"]["value"]) * global_batch
        return max(q, math.floor(raw / q) * q)
    return float(ev["epoch_samples"]["value"]) / float(ev["evals_per_epoch"]["value"])


def feature_read_s(g: OpGraph, once: OpGraph, p, n: int, family: str) -> float:
    """R-GAT: one step's feature read from HBM shards (the node's chips, or every chip of a multi-node
    run) or host memory (perf/gnn.py), overlapped with compute (NVIDIA v4.0 TRAIN_OVERLAP=1). Each
    chip holds its 1/g shard of the int64 CSC graph structure beside the features (rgat_train
    graph_on_device, graph_index_bytes)."""
    from ..perf.gnn import batch_feature_read

    node = min(n, float(p.scaleup_domain))
    resident = 0.0
    if fact("rgat_train", "graph_on_device"):
        resident = sum(gnn.igbh_full_csc_entries()) * float(fact("rgat_train", "graph_index_bytes")) / node
    _, t = batch_feature_read(OpGraph("fwd", list(once.ops) + list(g.ops), g.meta), p, node, float(n), resident,
                              family)
    return float(t)


def benchmark_rows(rows: list[dict]) -> list[tuple[dict, str]]:
    """Rows these mappers own, with their benchmark name (for coverage accounting)."""
    out = []
    for r in rows:
        k = benchmark_of(r)
        if k:
            out.append((r, k[1] if k[0] == "inf" else f"train-{k[1]}"))
    return out


__all__ = ["map_inference", "map_training", "scenario_result", "server_bound_s", "server_batch_times",
           "mm1_server_rate", "compute_precision", "samples_to_converge", "benchmark_rows", "np"]
