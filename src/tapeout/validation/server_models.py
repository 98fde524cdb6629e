"""The two Server models of a non-LLM MLPerf inference benchmark on one accelerator, side by side
on the same batch service times (other_rows.server_batch_times), with the Offline rate they share:

  mm1      the M/M/1 p99 bound over batch sizes (other_rows.mm1_server_rate, perf/recsys.py
           qps_at_p99): what `tapeout validate` scores;
  harness  LoadGen's Poisson arrivals through the reference harness's batcher (perf/scenarios.py
           best_server_rate: batches in flight on several streams sharing the device, a max queue
           delay, CUDA graph at the cap), at the settings of data/mlperf/server_harness.yaml.

Both are <= the Offline rate: a Server batch can be no larger than the Offline one, and it runs
on the same device. docs/validation.md "Non-LLM Server: M/M/1 bound vs the simulated LoadGen
batchers" (scripts/server_model_compare.py) scores both against the measured rows.
"""

from __future__ import annotations

from ..perf.scenarios import best_server_rate, harness_batcher, harness_settings
from .other_rows import mm1_server_rate, per_chip_offline, server_batch_times, server_bound_s
from .registry import SkipRow

SERVER_MODELS = ("mm1", "harness")
VALIDATED_MODEL = "mm1"
LABELS = {"mm1": "M/M/1 p99 bound over batch sizes (scored by `tapeout validate`)",
          "harness": "reference-harness batcher under Poisson arrivals, simulated (not scored by validate)"}
COMPARISON = ("`tapeout validate` scores the M/M/1 bound; both models against the measured rows: docs/validation.md "
              "'Non-LLM Server: M/M/1 bound vs the simulated LoadGen batchers' (scripts/server_model_compare.py)")
HARNESS_ITERS = 16  # bisection steps of the rate search: 2^-16 of the saturated rate, as server_model_compare.py


def server_models(bench: str, chip, prec: str, software: str = "", high_accuracy: bool = False,
                  fitted: dict | None = None, iters: int = HARNESS_ITERS) -> dict:
    """Per-accelerator queries/s of both Server models of `bench` and the Offline samples/s
    (module docstring), each model with its batch, its Server/Offline ratio and its label."""
    bound = server_bound_s(bench)
    times = server_batch_times(bench, chip, prec, software, high_accuracy, fitted)
    if not times:
        raise SkipRow(f"{bench} at batch 1 does not fit {chip.id}'s memory")
    offline, offline_batch, _ = per_chip_offline(bench, chip, prec, software, high_accuracy, fitted)
    mm1, mm1_batch = mm1_server_rate(times, bound)
    harness, cap = best_server_rate(times, bound, iters=iters, **harness_batcher(bench))
    harness = float(harness)
    return {
        "latency_bound_s": bound, "offline_samples_per_s": offline, "offline_batch": offline_batch,
        "validated_model": VALIDATED_MODEL, "comparison": COMPARISON,
        "mm1": {"label": LABELS["mm1"], "queries_per_s": mm1, "batch": mm1_batch,
                "server_over_offline": mm1 / offline},
        "harness": {"label": LABELS["harness"], "queries_per_s": harness, "max_batch": cap,
                    "server_over_offline": harness / offline, "settings": harness_settings(bench)},
    }


__all__ = ["server_models", "SERVER_MODELS", "VALIDATED_MODEL", "LABELS", "COMPARISON"]
