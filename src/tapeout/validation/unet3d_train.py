"""MLPerf Training 3D U-Net (unet3d, KiTS19) by its definition: the arithmetic other_training.training_time and
the validation rows need beyond the shared step model. Every number is other_benchmarks.yaml train-unet3d /
unet3d_train, each with its source (mlcommons/training image_segmentation/pytorch; NVIDIA's MXNet implementation,
which every end_to_end.csv unet3d row but one Gaudi2 row runs).

An epoch is one pass over the 168 training cases, one random 128^3 crop each (a sample). A row logs its
convergence as `epoch_num`: epochs in the older loggers, samples in the v3.1+ ones; the two ranges cannot overlap
(an epoch count is at most max_epochs 10,000, a sample count at least start_eval_at x 168 = 168,000), so
`epochs_of_notes` reads the unit from the value (a value before the first evaluation in both units is refused). An epoch of the older implementation trains ceil(168 / global
batch) full global batches (NVIDIA main.py steps_per_epoch), so its samples are epochs x that x the batch.

Evaluation (inside the timed region): from epoch 1000, every 20 epochs, a sliding-window inference (128^3
windows, overlap 0.5, Gaussian accumulation) over the 42 validation volumes, sharded over the evaluating ranks;
the run stops at the evaluation that reaches mean DICE 0.908. Priced with the forward graph of one whole case
(workloads/vision.py unet3d_graph at eval_windows_per_case windows, an assumption: the sources give no volume
shapes). A run with more chips than its global batch (NVIDIA's --nodes_for_eval layouts) trains one sample per
training chip on global-batch chips and evaluates on the others, asynchronously: only the last evaluation and
any evaluation longer than the training between two of them is exposed (DEDICATED_EVAL_RANKS).
"""

from __future__ import annotations

import math

from ..ops import OpGraph
from ..perf.train_clock import graph_time
from ..workloads import vision
from .other_rows import fact
from .registry import SkipRow
from .unet3d_spatial import spatial_group

# NVIDIA's large layouts train on global-batch chips and evaluate on the rest, overlapped with training
# (other_benchmarks.yaml unet3d_train.dedicated_eval_ranks, config_DGXA100_9x8x1.sh --nodes_for_eval 2). On:
# sourced, and without it a 72-chip row would be priced as 72 training ranks each evaluating in the timed path.
DEDICATED_EVAL_RANKS = True
# The sliding-window evaluation passes (forward over the 42 validation volumes) inside the timed region. On: the
# reference and NVIDIA's implementation run them between epochs (runtime/training.py), the rules time them.
SLIDING_WINDOW_EVAL = True


def _f(key: str):
    return fact("train-unet3d", key)


def epochs_of_notes(epoch_num: float) -> tuple[float, str]:
    """(epochs, unit read) of a row's logged `epoch_num`: epochs up to max_epochs, samples (/ 168) above."""
    if epoch_num <= float(_f("max_epochs")):
        return float(epoch_num), "epochs"
    return float(epoch_num) / float(_f("epoch_samples")), "samples"


def steps_per_epoch(global_batch: float) -> int:
    """Optimizer steps of one epoch: ceil(168 / global batch) full global batches (NVIDIA main.py)."""
    return math.ceil(float(_f("epoch_samples")) / float(global_batch))


def samples_of_epochs(epochs: float, global_batch: float) -> float:
    """Samples trained in `epochs` epochs at `global_batch` (whole global batches per epoch)."""
    return float(epochs) * steps_per_epoch(global_batch) * float(global_batch)


def row_samples(epoch_num: float, global_batch: float) -> float:
    """Samples a row trained to its convergence point: its epoch_num in epochs x the epoch's whole batches,
    or in samples as logged. SkipRow for a value before the first evaluation in either unit (no run converges
    there: it is neither unit)."""
    epochs, unit = epochs_of_notes(epoch_num)
    if epochs < float(_f("start_eval_at_epoch")):
        start = int(_f("start_eval_at_epoch"))
        raise SkipRow(f"unet3d epoch_num={epoch_num:g} lies before the first evaluation (epoch {start:,}, "
                      f"{start * int(_f('epoch_samples')):,} samples): neither an epoch count nor a sample count "
                      f"of a converged run")
    return samples_of_epochs(epochs, global_batch) if unit == "epochs" else float(epoch_num)


def epochs_of_samples(samples: float, global_batch: float) -> float:
    """Inverse of samples_of_epochs: the epochs `samples` training samples make at `global_batch`."""
    return float(samples) / (steps_per_epoch(global_batch) * float(global_batch))


def eval_passes(epochs: float) -> int:
    """Evaluations a run converging after `epochs` epochs ran: at start_eval_at, then every evaluate_every
    epochs, up to and including the last (the run stops at the one that reaches the target)."""
    start, every = float(_f("start_eval_at_epoch")), float(_f("evaluate_every_epochs"))
    if epochs < start:
        return 0
    return int(math.floor((epochs - start) / every + 1e-9)) + 1


def training_ranks(n_chips: int, global_batch: float) -> int:
    """Chips that train: all of them, or (DEDICATED_EVAL_RANKS) one group of spatial_group chips per sample when
    chips outnumber them (main.py: global batch = batch x training ranks / spatial group; unet3d_spatial.py)."""
    n = int(n_chips)
    sgs = spatial_group(n, global_batch)
    return min(n, int(math.ceil(global_batch)) * sgs) if DEDICATED_EVAL_RANKS else n


def train_graph(per_chip_batch: int, precision: str) -> OpGraph:
    """One chip's trained forward: `per_chip_batch` random crops of patch^3 (no sliding window, no Gaussian
    accumulation: those are evaluation)."""
    full = vision.unet3d_graph(per_chip_batch, int(_f("patch")), 1, precision)
    ops = [o for o in full.ops if o.name != "gaussian_accumulate"]
    return OpGraph(f"3d-unet-train:b{per_chip_batch}", ops, dict(full.meta))


def eval_case_graph(precision: str) -> OpGraph:
    """The forward of one validation case: eval_windows_per_case windows of patch^3 and their accumulation."""
    return vision.unet3d_graph(1, int(_f("patch")), float(_f("eval_windows_per_case")), precision)


def eval_pass_s(t_case: float, eval_ranks: int) -> float:
    """One evaluation: the 42 cases sharded over `eval_ranks` ranks, ceil(42 / ranks) cases on the busiest."""
    return math.ceil(int(_f("eval_cases")) / max(1, int(eval_ranks))) * float(t_case)


def exposed_eval_s(n_evals: int, t_pass: float, t_between: float, dedicated: bool) -> float:
    """Evaluation seconds on the run's critical path: every pass when the training ranks evaluate; on dedicated
    ranks the last pass (the run stops on its result) plus any pass's excess over the training between two."""
    if n_evals <= 0:
        return 0.0
    if not dedicated:
        return n_evals * t_pass
    return t_pass + (n_evals - 1) * max(0.0, t_pass - t_between)


def evaluation(p, board, n_chips: int, global_batch: float, samples: float, t_step: float, precision: str) -> dict:
    """The evaluations of a run converging at `samples`, on chip params `p` (`board`: train_clock.board_power):
    passes, exposed seconds, and the definition's facts they were priced with."""
    epochs = epochs_of_samples(samples, global_batch)
    n_evals = eval_passes(epochs) if SLIDING_WINDOW_EVAL else 0
    n = int(n_chips)
    n_train = training_ranks(n, global_batch)
    dedicated = n > n_train
    ranks = n - n_train if dedicated else n
    t_pass = eval_pass_s(graph_time(eval_case_graph(precision), p, board), ranks)
    t_between = float(_f("evaluate_every_epochs")) * steps_per_epoch(global_batch) * float(t_step)
    return {"n_evals": n_evals, "eval_s": exposed_eval_s(n_evals, t_pass, t_between, dedicated), "facts": {
        "epochs": epochs, "epoch_samples": int(_f("epoch_samples")), "steps_per_epoch": steps_per_epoch(global_batch),
        "patch": int(_f("patch")), "precision": precision, "quality_target": _f("quality_target"),
        "evaluate_every_epochs": int(_f("evaluate_every_epochs")), "start_eval_at_epoch": int(_f("start_eval_at_epoch")),
        "eval_cases": int(_f("eval_cases")), "eval_windows_per_case": float(_f("eval_windows_per_case")),
        "eval_overlap": float(_f("eval_overlap")), "training_ranks": n_train, "eval_ranks": ranks,
        "eval_dedicated": dedicated, "eval_pass_s": t_pass}}


__all__ = ["evaluation", "DEDICATED_EVAL_RANKS", "SLIDING_WINDOW_EVAL", "epochs_of_notes", "steps_per_epoch", "samples_of_epochs",
           "row_samples", "epochs_of_samples", "eval_passes", "training_ranks", "train_graph", "eval_case_graph",
           "eval_pass_s", "exposed_eval_s"]
