"""`tapeout train --benchmark retinanet | rgat | dlrm-dcnv2 | dlrm | bert | resnet | stable-diffusion | flux1 | rnnt | maskrcnn | unet3d`: the
non-LLM MLPerf Training benchmarks, priced as their validation rows are (validation/other_training.py)."""

from __future__ import annotations

from ..errors import TapeoutError, unknown_name_error
from .args import check_numbers, check_texts
from .results import BenchmarkTrainResult


def non_llm_benchmark(benchmark: str | None) -> str | None:
    """The canonical name of a non-LLM MLPerf Training benchmark (or one on file but refused, REFUSED), or None."""
    from ..validation.other_training import BENCHMARKS, REFUSED

    key = (benchmark or "").lower().replace("_", "-")
    return key if key in BENCHMARKS or key in REFUSED else None


def train_benchmark(benchmark: str, chip: str, num_chips: int = 8, global_batch: int | None = None,
                    samples_to_converge: float | None = None, chips_per_node: int | None = None) -> BenchmarkTrainResult:
    """Predict a non-LLM MLPerf Training run (`tapeout train --benchmark retinanet ...`): step
    breakdown, samples/s and time to train including the evaluation passes.

    Args:
        benchmark: retinanet, rgat, dlrm-dcnv2, dlrm, bert, resnet, stable-diffusion, flux1, rnnt, maskrcnn or unet3d.
        chip: catalog id or alias.
        num_chips: accelerators in the job (data-parallel replicas of the whole model).
        global_batch: samples per optimizer step. None: the batch of the benchmark's Reference
            Convergence Point on file (data/mlperf/rcps.yaml); where the newest ruleset has several (flux1),
            the one with the smallest time to train on this system (without `samples_to_converge`).
        samples_to_converge: training samples to the quality target. None: the RCP's (olympic mean)
            when the run's batch is the RCP's; at another batch none is on file and the result gives
            throughput only (`time_to_train_min` None).
        chips_per_node: accelerators per server (None: the catalog's scale-up domain; hardware/node.py).

    Returns:
        BenchmarkTrainResult: `time_to_train_min` (minutes incl. evaluation; None without a
        convergence point), `samples_per_s` (samples/s of the job), `step_time_s` (s), `breakdown`
        (s per step: forward, backward, activation recompute, once-per-step work, gradient sync (flux1: HSDP
        all-gathers + reduce-scatter), optimizer, feature read;
        evaluation minutes), `definition` (global batch, samples to converge and quality target,
        each with its status and source).

    Raises:
        TapeoutError: bad input, an unknown benchmark (the valid names listed) or a refused one (REFUSED).
    """
    from ..hardware.catalog import get_chip
    from ..perf.convergence import LATEST, rcp_batches
    from ..validation import unet3d_train
    from ..validation.other_training import BENCHMARKS, converge_at, definition, training_time
    from ..validation.train_fit import MemoryRefusal
    from .llm import llm_benchmarks, on_server, server_notes

    check_texts(benchmark=benchmark, chip=chip)
    n = check_numbers("train", num_chips=num_chips, global_batch=global_batch, samples_to_converge=samples_to_converge,
                      chips_per_node=chips_per_node)
    num_chips, global_batch = n["num_chips"], n["global_batch"]
    key = non_llm_benchmark(benchmark)
    if key is None and (benchmark or "").lower().replace("_", "-") in llm_benchmarks():  # priced by api.train
        raise TapeoutError(f"benchmark '{benchmark}' trains an LLM: call tapeout.api.train(benchmark='{benchmark}', "
                           f"chip=...); train_benchmark takes {', '.join(BENCHMARKS)}.")
    if key is None:
        raise unknown_name_error("training benchmark", benchmark, list(llm_benchmarks() + BENCHMARKS))
    if not chip:
        raise TapeoutError("--chip is required.")
    notes = server_notes(chip, None, n["chips_per_node"])  # a server size that changed nothing, said with the answer
    chip = on_server(chip, n["chips_per_node"], num_chips)
    d = definition(key)  # refuses a REFUSED benchmark, naming what is missing
    gb_def, conv = d["global_batch"], d["samples_to_converge"]
    gb = global_batch if global_batch is not None else gb_def["value"]
    batch_from = "given" if global_batch is not None else "the RCP's batch (definition.global_batch)"
    rcps = rcp_batches(f"train-{key}", LATEST)
    runnable = [b for b in rcps if b >= num_chips]  # every chip a data-parallel replica: >= 1 sample each
    if global_batch is None and samples_to_converge is None and len(rcps) > 1 and runnable:
        # a submitter picks its batch: of the newest ruleset's RCP batches, the one this system trains fastest at
        ttt = {}
        for b in runnable:
            try:
                ttt[b] = training_time(key, get_chip(chip), num_chips, b, converge_at(key, b).samples)["minutes"]
            except MemoryRefusal:  # a batch these chips cannot hold is no choice (validation/train_fit.py)
                continue
        if ttt:
            gb = min(ttt, key=ttt.get)
            held = "" if len(ttt) == len(runnable) else ", that fit memory"
            batch_from = (f"of the RCP batches {', '.join(map(str, ttt))} (data/mlperf/rcps.yaml"
                          f"{'' if len(runnable) == len(rcps) else '; those >= the chips'}{held}), the one with the "
                          f"smallest time to train on this system")
    if gb < num_chips and not (key == "unet3d" and unet3d_train.DEDICATED_EVAL_RANKS):
        # training_time would price each replica at one sample and count only gb of them (unet3d: the chips beyond
        # one per sample evaluate, NVIDIA's --nodes_for_eval layout; validation/unet3d_train.py)
        field = "--global-batch" if global_batch is not None else f"--num-chips {num_chips} at the RCP's global batch"
        raise TapeoutError(f"{field} {gb:,}: some of the {num_chips} chips get no sample; each chip is a data-parallel "
                           f"replica of {key} and takes >= 1 sample per step: give --global-batch >= {num_chips}, or "
                           f"fewer --num-chips.")
    if samples_to_converge is not None:
        samples, samples_from = float(samples_to_converge), "given"
    elif (at := converge_at(key, gb)) is not None:
        samples, samples_from = at.samples, f"the RCP at this batch: {at.how}; {at.source}"
    else:
        samples, samples_from = None, (f"no convergence point on file at global batch {gb} (its largest RCP on file is "
                                       f"at {max(rcps):,}, data/mlperf/rcps.yaml): throughput only")
    r = training_time(key, get_chip(chip), num_chips, gb, samples)
    minutes = r.pop("minutes")
    if r.get("accumulation_passes"):  # the batch fits only as the stack's micro-batches (validation/train_fit.py)
        notes = [*(notes or []), f"{r['per_chip_batch']:,} samples per chip fit memory only as {r['accumulation_passes']} "
                 f"gradient-accumulation micro-batches of {r['micro_batch']:,} (the stack's; bert_train.grad_accumulation); "
                 + (f"the step is priced as those {r['accumulation_passes']} passes." if r["priced_as_passes"] else
                    "the step is priced as one pass (validation/train_fit.PRICE_PASSES off).")]
    if r.get("mlp_relu"):  # DLRM v1: the stack's MLP fusion (validation/dlrm_train.fused_mlp)
        notes = [*(notes or []), f"{r['mlp_relu']}."]
    if str(r.get("recurrent_weights_from", "")).startswith("DRAM"):  # a fallback is said, not silent
        notes = [*(notes or []), f"RNN-T recurrent weights read from {r['recurrent_weights_from']}."]
    from ..perf.calibration import fallback_calibration_notes

    notes = [*(notes or []), *fallback_calibration_notes(get_chip(chip))] or None
    return BenchmarkTrainResult({
        "benchmark": key, "chip": r.pop("chip"), "num_chips": num_chips, "global_batch": gb,
        "global_batch_from": batch_from, "samples_to_converge": samples, "samples_to_converge_from": samples_from,
        "quality_target": d["quality_target"], "time_to_train_min": minutes, "samples_per_s": r["samples_per_s"],
        "step_time_s": r["step_s"], "breakdown": r, "definition": d, **({"notes": notes} if notes else {})})
