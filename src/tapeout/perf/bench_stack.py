"""What an MLPerf Training benchmark's submissions ran beside the model: their configs' layout pins and
run settings (data/mlperf/benchmarks.yaml `submission_layouts`) and the software stack of their round
(data/software/training_stacks.yaml). Shared by the validation rows (validation/train_rows.py, one
submission) and `tapeout train --benchmark` (api/train_settings.py, the benchmark's stack-wide records
of its latest round on file).

An entry of `submission_layouts` holds for the rows of its `stack` kind ("nemo", "deepspeed", "pax", "maxtext",
"any"),
its `accelerator`, MLPerf `round` and submitted `system` where it names them; an entry with a `chip`
and `chips` only for a run of that size. Entries merge from the general to the specific.
"""

from __future__ import annotations

from .mlperf import benchmarks
from .train_stack import TrainingStack, stack_of_round

PIN_FIELDS = ("tp", "pp", "cp", "vp", "mbs", "zero", "recompute", "shard")  # shard: the ZeRO shard group (HSDP)
# per-submission run settings beside the layout: evaluation skips and interval (a submission's own evaluation
# cadence where its code sets one, e.g. HF Trainer eval_steps / eval_delay), FP8 attention, TP overlap config
# (data/software/tp_comm_overlap.yaml), the FP8 weight transpose cache, the FP8 amax all-reduce
# DeepSpeed's ZeRO overlap_comm (zero_overlap_comm) and the submitted system's scale-out fabric (cluster:
# data/clusters/clusters.yaml, hardware/fabric.py) and the CTAs its NCCL environment gives an overlapped DP / CP
# collective (comm_ctas: NCCL_MIN_CTAS / NCCL_MIN_P2P_NCHANNELS where the config sets them; perf/comm_contention.py)
STACK_FIELDS = ("skip_evals", "eval_every_samples", "fp8_attention", "tp_overlap", "transpose_cache", "fp8_reduce_amax", "layer_cuda_graph",
                "zero_overlap_comm", "cluster", "comm_ctas")
# per-submission records of stack features the model does not act on: they correct the row's detail only
RECORD_FIELDS = ("layer_cuda_graph",)
RUN_SETTINGS = ("tp_overlap", "transpose_cache", "fp8_reduce_amax", "zero_overlap_comm", "cluster", "comm_ctas")


def submission_entries(key: str, stack: str | None, accelerator: str | None, mlperf_round: str | None,
                       system: str | None) -> list[dict]:
    """The `submission_layouts` entries of benchmark `key` that hold for a run of this stack kind,
    accelerator, round and system (None: only the entries that do not name one)."""
    return [e for e in benchmarks()["training"][key].get("submission_layouts") or []
            if e["stack"] in (stack, "any") and e.get("accelerator", accelerator) == accelerator
            and e.get("round", mlperf_round) == mlperf_round and e.get("system", system) == system]


def merged_layout(entries: list[dict], chip_id: str | None = None, n: int | None = None) -> dict:
    """Pins and run settings of `entries` merged general -> sized -> system-specific; chip_id None:
    the entries that hold for every chip and size only."""
    sized = [e for e in entries if chip_id is not None and e.get("chip") == chip_id and int(e["chips"]) == n]
    out: dict = {}
    for e in [e for e in entries if "chip" not in e] + [e for e in sized if "system" not in e] + \
             [e for e in sized if "system" in e]:
        out.update({k: v for k, v in e.items() if k in PIN_FIELDS + STACK_FIELDS})
    return out


def run_settings(pins: dict) -> dict:
    """Move the stack's run settings (TP overlap config, FP8 transpose cache, FP8 amax all-reduce) out of
    `pins` into keyword arguments of perf/training.train."""
    return {k: pins.pop(k) for k in RUN_SETTINGS if k in pins}


def _version(mlperf_round: str) -> tuple:
    return tuple(int(x) for x in mlperf_round.lstrip("v").split(".") if x.isdigit())


def benchmark_stack(key: str, chip_id: str | None = None) -> tuple[TrainingStack | None, dict]:
    """The software stack of benchmark `key`'s latest MLPerf round whose submissions' configs and stack
    are on file (the rounds its `submission_layouts` name), and the records of those NVIDIA (NeMo)
    submissions that hold for every chip and size: (None, {}) when none is on file. `chip_id`: only a stack
    whose sourced configs ran on that chip (its `chips`, perf/train_stack.TrainingStack.covers), so a round
    whose stack covers other chips falls back to an earlier round that covers this one, or to none."""
    rounds = {e["round"] for e in benchmarks()["training"][key].get("submission_layouts") or [] if e.get("round")}
    on_file = sorted((r for r in rounds if stack_of_round(r, "NVIDIA", key, chip_id) is not None), key=_version)
    if not on_file:
        return None, {}
    rnd = on_file[-1]
    return stack_of_round(rnd, "NVIDIA", key, chip_id), merged_layout(submission_entries(key, "nemo", None, rnd, None))


def nvidia_precision(chip) -> tuple[str, str] | None:
    """The GEMM precision NVIDIA's MLPerf Training submissions (Transformer Engine) ran on `chip`, with its
    source: benchmarks.yaml precision_rules.training 'NVIDIA' (FP8 where the chip has FP8 matrix support),
    the rule the validation rows apply; None where the chip lacks what the rule needs."""
    rule = next(r for r in benchmarks()["precision_rules"]["training"] if r["match"] == "NVIDIA")
    need = rule.get("when_chip_supports")
    if need and not chip.supports(need):
        return None
    return rule["compute"], rule["source"]
