"""The measured collectives of AIConfigurator's kernel database against the collective engine.

Each measured NCCL collective (kernels_db.read_collectives) is priced by `library_time` (NCCL's
ring / tree / NVLS over the chip's described links, all-to-all as g-1 send/recv rounds, plus the
all-reduce excess d(S) of a queued call: kernels_db.yaml collective_launch) and each
custom all-reduce by `serving_collective_time` (the serving stack's one-/two-shot kernels up to
their workspace, the library above), both on the chip's topology at its shipped calibration
(perf/calibration.py: eff_link and per-hop latency from data/measured/microbenchmarks.csv
collectives, never from this database). Nothing here is fitted to the database: a held-out
chip's collective errors are the same as its in-sample ones. Sizes follow the nccl-tests
convention the engine uses (S: the all-gather's gathered / the reduce-scatter's input buffer).
"""

from __future__ import annotations

import numpy as np

from .collectives import library_time, serving_collective_time, topology_for_chip
from .kernel_fit import error_stats
from .kernels_db import Kernels, chip_for, db_config

FMT = {"half": "fp16", "bfloat16": "bf16", "float16": "fp16", "int8": "int8", "fp8": "fp8"}


def predict(k: Kernels, stack: str | None = None) -> np.ndarray:
    """Predicted seconds of every measured collective of `k` (`stack`: the database stack read); NaN where
    the model cannot express it (a group beyond one scale-up domain, whose placement the table does not
    give; a custom all-reduce of a stack without a serving-stack description, kernels_db.yaml)."""
    c, out = k.cols, np.full(len(k), np.nan)
    serving = db_config().get("custom_allreduce_stacks", {}).get(stack or db_config()["default_stack"])
    launch = db_config()["collective_launch"]  # how the collector ran them: nccl-tests' back-to-back loop
    for chip in sorted(set(c["chip"])):
        topo = topology_for_chip(chip_for(chip))
        for op in sorted(set(c["op"][c["chip"] == chip])):
            for g in sorted(set(c["num_gpus"][(c["chip"] == chip) & (c["op"] == op)])):
                idx = np.flatnonzero((c["chip"] == chip) & (c["op"] == op) & (c["num_gpus"] == g))
                if int(g) > topo.domain:  # the table does not say how ranks span domains
                    continue
                S = c["bytes"][idx]
                if op == "custom_all_reduce":  # per size: the stack's dispatch compares each buffer to its workspace
                    if serving is None:  # no serving-stack description of this database stack's dispatch
                        continue
                    t = [serving_collective_time("all_reduce", s, int(g), topo, stack=serving)[0] for s in S]
                else:
                    t, _ = library_time(op.removeprefix("nccl_"), S, int(g), topo, launch=launch)
                out[idx] = t
    return out


def class_stats(e: np.ndarray, m: np.ndarray) -> dict:
    """error_stats of the class `m` over its priced rows (finite e), with `skipped`: its rows not priced (a class
    with none stays in the report: n 0, NaN statistics)."""
    ok = m & np.isfinite(e)
    nan = float("nan")
    s = error_stats(e[ok]) if ok.any() else {"n": 0, "median_abs_err_pct": nan, "p90_abs_err_pct": nan,
                                             "median_signed_err_pct": nan}
    return {**s, "skipped": int(m.sum() - ok.sum())}


def collective_errors(k: Kernels, stack: str | None = None) -> dict:
    """{chip: {"<op>/<dtype>": error_stats (+ "skipped": kernels the model cannot express)}}."""
    pred, c = predict(k, stack), k.cols
    e = pred / c["latency_s"] - 1.0
    out: dict = {}
    for chip in sorted(set(c["chip"])):
        for op in sorted(set(c["op"][c["chip"] == chip])):
            for dt in sorted(set(c["dtype"][(c["chip"] == chip) & (c["op"] == op)])):
                m = (c["chip"] == chip) & (c["op"] == op) & (c["dtype"] == dt)
                out.setdefault(chip, {})[f"{op}/{FMT.get(dt, dt)}"] = class_stats(e, m)
    return out


def with_collectives(errors: dict, stack: str | None = None, systems: list[str] | None = None) -> dict:
    """`errors` ({chip: {op/format: stats}}) with every chip's measured collectives added (no fit:
    held-out and in-sample alike)."""
    from .kernels_db import read_collectives

    for chip, d in collective_errors(read_collectives(stack=stack, systems=systems), stack).items():
        errors.setdefault(chip, {}).update(d)
    return errors
