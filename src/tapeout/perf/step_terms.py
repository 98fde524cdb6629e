"""One LLM training step split into the terms of its pipeline schedule, in seconds.

A step of m micro-batches on the slowest device is (Narayanan et al. 2021, SC'21, Sec. 2.2; the
interleaved 1F1B schedule's ideal time plus its bubble (p - 1) / (v m) of it):

  step = m (F + B)                   forward + backward of every micro-batch (TP / CP exposure inside)
       + bubble                      (p - 1) / (v m) of m (F + B): pipeline fill and drain
       + PP sends                    exposed point-to-point transfers (perf/pipeline_p2p.py)
       + DP                          exposed gradient reduce-scatter / parameter all-gather / replica
                                     all-reduce / tied-embedding sync (perf/dp_buckets.py)
       + optimizer                   the weight update (perf/weight_update.py)
       + other                       the rest (FP8 weight casts, amax all-reduce, host idle, NeMo's per-step
                                     work outside the schedule: perf/step_fixed_work.py)

Only m (F + B) grows with the micro-batches per replica (GBS / (DP mbs)); the other terms are paid
once per step, so their share grows as a fixed global batch is spread over more replicas: the
terms to read when the error of a training row moves with its chip count
(scripts/train_error_vs_scale.py)."""

from __future__ import annotations

DP_KINDS = ("dp_reduce_scatter", "dp_all_gather", "dp_replica_all_reduce", "tied_embedding_sync")


def step_terms(breakdown: dict, step_s: float) -> dict:
    """{m, compute, bubble, pp_sends, dp, optimizer, other} of one step (seconds; m a count), from a
    training result's breakdown (perf/training.py) and its step time. `other` closes the sum."""
    b, e = breakdown, breakdown["exposed_comm_s"]
    compute = float(b["m"]) * (float(b["F"]) + float(b["B"]))
    terms = {"compute": compute, "bubble": float(b["bubble_over_ideal"]) * compute,
             "pp_sends": float(e["pp_send_recv"]), "dp": sum(float(e.get(k, 0.0)) for k in DP_KINDS),
             "optimizer": float(b.get("optimizer", 0.0))}
    return {"m": float(b["m"]), **terms, "other": float(step_s) - sum(terms.values())}
