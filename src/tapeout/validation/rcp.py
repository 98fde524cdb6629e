"""MLPerf Training's RCP normalisation of a row's score, undone for rows that measure throughput.

MLPerf Training scores are time-to-train multiplied by a normalisation factor when a submission's
runs converge in fewer epochs than the Reference Convergence Points (RCPs) say a run at its batch
size needs: mlcommons/logging mlperf_logging/rcp_checker/rcp_checker.py `_find_norm_factor`:
    norm_factor = RCP Mean / mean(submission epochs)   (1.0 if below 1),
written to the results' scaling.json and applied to the reported time (training_policies
training_rules.adoc, "Reference Convergence Points"). end_to_end.csv keeps that reported time
(its notes: "value = olympic mean of per-run (run_stop - run_start) minutes ... x scaling factor",
"RCP scaling_factor=F").

A row whose samples to converge come from the row itself (validation/train_rows.measures ->
"throughput") is predicted for the run it logged, so its prediction is compared with the score
as MLPerf forms it: prediction x F. A row predicted at the benchmark definition's convergence
point ("time-to-train") is already priced at the reference's epochs, which is what F normalises
the score to: unchanged.

A throughput row whose benchmark has RCPs (data/mlperf/rcps.yaml, perf/convergence.py) is also
predicted at the RCP's samples to converge at its global batch, as a user predicting a chip
whose runs have not converged yet would (detail["time_to_train"]). It is compared with the
reported score as is: score = time x F = the run's time at max(its own epochs, the RCP mean)
(time proportional to epochs), so a run converging faster than the RCP mean is scored at the
mean -- what the prediction prices -- and a slower one at its own, longer time, an error of the
convergence (seed noise) that a time-to-train prediction cannot know.
"""

from __future__ import annotations

import re

_FACTOR = re.compile(r"RCP scaling_factor=([0-9]*\.?[0-9]+)")


def rcp_factor(row: dict) -> float:
    """The RCP scaling factor a row's notes record (1.0 when none is recorded)."""
    m = _FACTOR.search(row.get("notes") or "")
    return float(m.group(1)) if m else 1.0


def apply_rcp(pred, row: dict) -> None:
    """Scale a throughput row's prediction (and its interval) by the score's RCP factor, in place;
    the detail records the factor it applied."""
    detail = pred.detail or {}
    f = rcp_factor(row)
    if detail.get("measures") != "throughput" or f == 1.0:
        return
    pred.predicted *= f
    if pred.low is not None:
        pred.low *= f
    if pred.high is not None:
        pred.high *= f
    pred.detail = {**detail, "rcp_scaling_factor": f,
                   "rcp_note": f"prediction x {f:.4f}: the score's RCP normalisation (mlperf_logging rcp_checker)"}


def priced_at(conv, run_to) -> dict | None:
    """detail["time_to_train"]: the row's run priced at the RCP convergence `conv` (perf/convergence.Convergence;
    None: no RCP, no entry) by the mapper's own `run_to(samples) -> {"minutes": ..., <its parts>}`."""
    if conv is None:
        return None
    run = run_to(conv.samples)
    return {"predicted": run["minutes"], **conv.as_dict(), **{k: v for k, v in run.items() if k != "minutes"}}


def score_time_to_train(pred, measured: float) -> None:
    """Error and interval of a row's time-to-train prediction (detail["time_to_train"], set by the
    mapper at the RCP's convergence point), in place: against the reported score as is (no F, see
    above); the interval has the throughput prediction's relative width (same step-time model)."""
    ttt = (pred.detail or {}).get("time_to_train")
    if not ttt or ttt.get("predicted") is None:  # no RCP at the row's batch: the block says why, nothing to score
        return
    t = ttt["predicted"]
    low, high = ((None, None) if pred.low is None else (t * pred.low / pred.predicted, t * pred.high / pred.predicted))
    pred.detail = {**pred.detail, "time_to_train": {
        **ttt, "low": low, "high": high, "error_pct": (t - measured) / measured * 100.0,
        "inside": None if low is None else bool(low <= measured <= high)}}
