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
