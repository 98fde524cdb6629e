"""Host-side COCO scoring of the MLPerf detection benchmarks' evaluations (RetinaNet `ssd`, Mask R-CNN) inside the
timed run.

After each evaluation's forward passes (priced on the GPU by other_training.training_time) NVIDIA's stacks score the
detections on the host with a C++ COCOeval (evaluate + accumulate + summarize) over every validation image: bbox for
RetinaNet, bbox and segm for Mask R-CNN (other_benchmarks.yaml detection_eval_scoring.iou_types). One scoring takes

    t_score = eval_images x sum over the iou types of s_per_image[type]

with s_per_image a measured C++ COCOeval cost per image (detection_eval_scoring.s_per_image, its source). Where the
scoring is synchronous (v2.0 RetinaNet configs without --async-coco: NVIDIA's single-node one, its partners' at every
size read) every evaluation waits
for it; where it is asynchronous (Mask R-CNN's async evaluator, --async-coco) training goes on while it runs and only
the last evaluation's scoring is inside the timed region: the run stops when that result reaches the target. So

    exposed = t_score x (n_evals if synchronous else 1).

Not priced (no sourced time): Mask R-CNN's host prep before scoring (mask paste and RLE encoding, EVAL_SEGM_NUMPROCS
processes), the gather of every rank's detections to the scoring rank, the per-batch Python conversion of detections
into COCO result dicts, and the poll interval (10 / 20 iterations) after an asynchronous result is ready.

Switch: DETECTION_EVAL_SCORING (on: the metric types and sync / async rule are read from NVIDIA's code and configs, the
per-image cost is a published C++ COCOeval microbenchmark on COCO val2017, nothing is fitted to end-to-end rows; it
moves the maskrcnn and retinanet rows toward their measurements, docs/notes/issue-18.md "Round stop-40 (branch
issue-51e)"). Off: no scoring term, as before.
"""

from __future__ import annotations

from ..errors import TapeoutError
from .other_rows import fact

DETECTION_EVAL_SCORING = True

BENCHMARKS = ("retinanet", "maskrcnn")


def scoring_s(bench: str, eval_images: float) -> float:
    """Host seconds of one COCO scoring of `eval_images` validation images for `bench`'s metric types."""
    if bench not in BENCHMARKS:
        raise TapeoutError(f"no COCO scoring on file for benchmark '{bench}' (one of: {', '.join(BENCHMARKS)}).")
    if not eval_images >= 0:
        raise TapeoutError(f"eval_images must be >= 0; got {eval_images}.")
    per = fact("detection_eval_scoring", "s_per_image")
    return float(eval_images) * sum(float(per[t]) for t in fact("detection_eval_scoring", "iou_types")[bench])


def synchronous(bench: str, mlperf_round: str | None, nodes: int | None, submitter: str | None = None) -> bool:
    """Does every evaluation wait for its scoring? Mask R-CNN: never (async evaluator); RetinaNet: in the rounds whose
    configs run without --async-coco (v2.0), except the listed submitters' multi-node configs (NVIDIA's 8- and 160-node
    v2.0 configs add it; Azure's 2- and 8-node ones do not). `submitter` None: NVIDIA's own configs. A run of no
    stated round (`tapeout train`) is the newest stack's: asynchronous."""
    rule = fact("detection_eval_scoring", "async_scoring")[bench]
    if rule == "all" or mlperf_round is None or mlperf_round not in rule["synchronous_rounds"]:
        return False
    return not ((submitter or "NVIDIA") in rule["async_multi_node_submitters"] and (nodes or 1) > 1)


def exposed_scoring(bench: str, vendor: str, n_evals: int, eval_images: float, mlperf_round: str | None = None,
                    nodes: int | None = None, submitter: str | None = None) -> dict | None:
    """The scoring time inside the timed run: {"scoring_s" (one), "exposed_evals", "exposed_s", "synchronous",
    "iou_types", "source"}; None where the switch is off, the benchmark has no COCO scoring or the vendor's stack is
    not NVIDIA's."""
    if not DETECTION_EVAL_SCORING or bench not in BENCHMARKS or vendor not in fact("detection_eval_scoring", "vendors"):
        return None
    if int(n_evals) != n_evals or n_evals < 0:
        raise TapeoutError(f"n_evals must be a whole number >= 0; got {n_evals}.")
    one = scoring_s(bench, eval_images)
    sync = synchronous(bench, mlperf_round, nodes, submitter)
    k = int(n_evals) if sync else min(1, int(n_evals))
    return {"scoring_s": one, "exposed_evals": k, "exposed_s": k * one, "synchronous": sync,
            "iou_types": list(fact("detection_eval_scoring", "iou_types")[bench]),
            "source": "other_benchmarks.yaml detection_eval_scoring"}
