"""The measured fused-MoE layers of AIConfigurator's kernel database against the serving engine's MoE pricing.

Each row (kernels_db.read_moe) becomes one MoE layer of workloads/llm.py (moe_block: per-EP-rank routed
tokens T k / ep over the active experts, expert FFN split moe_tp ways: tp = moe_tp x moe_ep, ep = moe_ep),
costed by the step model serving uses (perf/mlperf.step_model evaluator) at a calibration (`fitted`:
None = the shipped microbenchmark fit, whose eff_moe comes from fit_moe's published fused-MoE timings, so
not held out; kernel_calibration.build(holdout=CHIP) for the held-out fit). The predicted layer is the
sum of the expert ops (experts_quantize, experts_gate_up, experts_act, experts_down_quantize,
experts_down): TensorRT-LLM's fused MoE op (moe_torch_flow*) has no all-to-all or norm inside.
Not expressible, skipped and counted: skewed routing (power_law_*: the model takes a max/mean load,
the table a distribution), W4A16 MXFP4 / W4A8 MXFP4-MXFP8 experts (no such precision policy), a
layout whose experts the EP group does not divide.
"""

from __future__ import annotations

import numpy as np

from .kernel_collectives import FMT, class_stats
from .kernels_db import Kernels, chip_for, db_config

# database moe_dtype -> precision policy (data/precision/policies.yaml); W4A16 / W4A8 MX formats: none
_POLICY = {"bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8block", "nvfp4": "nvfp4"}


def layer_time(chip, row: dict, fitted: dict | None = None) -> float:
    """Seconds of one measured MoE layer as the engine prices it; NaN where it cannot express it."""
    return float(layer_times(chip, row, fitted))


def layer_times(chip, row: dict, fitted: dict | None = None, design: dict | None = None) -> np.ndarray:
    """layer_time over a design sweep: `design` {ChipParams field: array} replaces those fields of the serving
    calibration's parameters (broadcast: the result has their shape); NaN where the layer cannot be expressed."""
    from ..errors import TapeoutError
    from ..precision import get_precision
    from ..workloads.llm import LLMStep, build_llm_graph
    from ..workloads.llm_config import LLMConfig
    from .mlperf import step_model

    if row["distribution"] != "balanced" or row["dtype"] not in _POLICY:
        return np.asarray(np.nan)
    tp, ep = int(row["moe_tp"]) * int(row["moe_ep"]), int(row["moe_ep"])
    # attention is not priced: heads = tp only so that the layout is legal
    cfg = LLMConfig(name="db-moe-layer", hidden_size=int(row["hidden"]), num_hidden_layers=1, num_attention_heads=tp,
                    num_key_value_heads=tp, head_dim=128, intermediate_size=int(row["inter"]), vocab_size=32000,
                    num_experts=int(row["experts"]), num_experts_per_tok=int(row["topk"]),
                    moe_intermediate_size=int(row["inter"]),
                    mlp_type="gelu" if str(row["kernel"]).endswith("nongated") else "swiglu")  # non-gated: 2 matrices
    try:
        sm = step_model(cfg, chip, get_precision(_POLICY[row["dtype"]]), tp, ep, 1, fitted=fitted)
        g = build_llm_graph(cfg, LLMStep("prefill", 1, int(row["tokens"]), 0, sm.pr, tp, ep))
    except TapeoutError:  # e.g. ep does not divide the experts
        return np.asarray(np.nan)
    ct = sm.evaluator(g, sm.p.replace(**design) if design else sm.p)
    n = len(ct.table)
    t = np.asarray(ct.time, dtype=float)
    t = t.reshape((n, -1) + t.shape[1:]).max(axis=1) if t.ndim == 1 or not design else t
    keep = [i for i, op in enumerate(ct.table.ops) if op.name.startswith("experts_")]
    return sum(t[i] * float(ct.table.count[i]) for i in keep)


def layer_errors(k: Kernels, fitted: dict | None = None) -> np.ndarray:
    """predicted / measured - 1 of every row of `k` (NaN where the model cannot express the layer)."""
    chips = {cid: chip_for(cid) for cid in set(k.cols["chip"])}
    pred = np.array([layer_time(chips[r["chip"]], r, fitted) for r in k.records()], dtype=float)
    return pred / k.cols["latency_s"] - 1.0 if len(pred) else pred


def moe_errors(k: Kernels, fitted: dict | None = None, e: np.ndarray | None = None) -> dict:
    """{chip: {"moe/<dtype>": error_stats + skipped}} over every row of `k` (dtype as the database names it)."""
    c = k.cols
    e = layer_errors(k, fitted) if e is None else e
    out: dict = {}
    for chip in sorted(set(c["chip"])):
        for dt in sorted(set(c["dtype"][c["chip"] == chip])):
            out.setdefault(chip, {})[f"moe/{FMT.get(dt, dt)}"] = class_stats(e, (c["chip"] == chip) & (c["dtype"] == dt))
    return out


# routed tokens per EP rank (tokens x top-k / EP) at which the fixed per-layer kernels stop dominating (30mc notes)
ROUTED_EDGES = (16, 256, 4096)


def routed_bucket_errors(k: Kernels, e: np.ndarray, edges: tuple = ROUTED_EDGES) -> dict:
    """{chip: {"<lo>-<hi>": error_stats + skipped}} by routed tokens per EP rank (T k / ep), every dtype together."""
    c = k.cols
    routed = np.asarray(c["tokens"], dtype=float) * np.asarray(c["topk"], dtype=float) / np.asarray(c["moe_ep"], dtype=float)
    bounds = (0.0,) + tuple(float(x) for x in edges) + (np.inf,)
    out: dict = {}
    for chip in sorted(set(c["chip"])):
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            m = (c["chip"] == chip) & (routed >= lo) & (routed < hi)
            out.setdefault(chip, {})[f"{lo:g}-{hi:g}"] = class_stats(e, m)
    return out


def with_moe(errors: dict, train: Kernels, hid: str, params: dict, floors: dict, stack: str | None = None,
             stack_version: str | None = None, systems: list[str] | None = None, report: dict | None = None) -> dict:
    """`errors` ({op/format: stats} of the held-out chip `hid`) with its measured MoE layers priced at the serving
    calibration of the shared kernel fit `params` (fitted on `train`, without hid's kernels: kernel_calibration.
    held_out_fitted, the same calibration as build(holdout=hid) without fitting twice). A stack without MoE layers
    adds nothing. `report` (a dict) gets "moe_fit": the grouped expert GEMMs' efficiencies fitted on the other
    chips' MoE layers (fit_db_moe), where fitted."""
    from ..errors import TapeoutError
    from .kernel_calibration import held_out_fitted, large_stream_efficiencies
    from .kernels_db import read_moe

    try:
        k = read_moe(stack=stack, systems=systems)
    except TapeoutError:
        return errors
    # its large-stream DRAM efficiency: the other chips' median (as build(holdout=hid))
    stream = large_stream_efficiencies(sorted(set(train.cols["chip"]) | {hid}), hid, stack, stack_version)
    fitted = held_out_fitted(train, hid, params, floors, stream[hid], stream, stack)
    if report is not None and "moe" in fitted.get("kernel_db", {}):
        report["moe_fit"] = fitted["kernel_db"]["moe"]
    return {**errors, **moe_errors(k, fitted).get(hid, {})}


# --kernels held-out calibrations take the grouped expert GEMMs' efficiencies from the database's other chips
# (fit_db_moe); off: eff_moe stays the microbenchmark fit's (fit_moe) and the expert weights stream at eff_mem
MOE_FROM_DB = True
# the fit's grids: eff_moe (grouped / dense GEMM compute efficiency) and the expert weight stream's efficiency as
# a fraction of the chip's eff_mem (its large-stream DRAM efficiency)
EFF_MOE_GRID = tuple(round(0.30 + 0.05 * i, 2) for i in range(15))  # 0.30 .. 1.00
STREAM_RATIO_GRID = tuple(round(0.40 + 0.05 * i, 2) for i in range(17))  # 0.40 .. 1.20
FIT_ROWS_PER_GROUP = 60  # measured layers per (system, dtype, kernel) the fit reads (hash sample, kernels_db.read_moe)


def fit_db_moe(chips: list[str], fitted: dict, stack: str | None = None, per_group: int = FIT_ROWS_PER_GROUP) -> dict:
    """eff_moe and the expert weight stream's efficiency (a fraction of each chip's eff_mem) that price the measured
    fused-MoE layers of `chips` (balanced routing, each chip at its entry in `fitted`) best: least squares on log
    time over the grid EFF_MOE_GRID x STREAM_RATIO_GRID, every chip's layers together (one value for a chip none
    of them is). {} where the chips have no priced layer. The grouped GEMMs' compute-bound layers set eff_moe, the
    weight-streaming ones the stream (opcost: max of the two per op)."""
    from ..errors import TapeoutError
    from .calibration import calibrated_params
    from .kernels_db import chip_for, read_moe

    systems = [s for s, e in db_config()["systems"].items() if e["chip"] in set(chips)]
    try:
        k = read_moe(stack=stack, systems=systems, per_group=per_group)
    except TapeoutError:
        return {}
    e_grid = np.asarray(EFF_MOE_GRID)[:, None]
    r_grid = np.asarray(STREAM_RATIO_GRID)[None, :]
    sse, n, cache = np.zeros((e_grid.size, r_grid.size)), 0, {}
    for r in k.records():
        if r["distribution"] != "balanced" or r["dtype"] not in _POLICY:
            continue
        if r["chip"] not in cache:
            c = chip_for(r["chip"])
            cache[r["chip"]] = (c, float(calibrated_params(c, fitted).eff_mem))
        chip, eff_mem = cache[r["chip"]]
        t = layer_times(chip, r, fitted, {"eff_moe": e_grid, "moe_eff_mem": r_grid * eff_mem})
        if np.ndim(t) != 2 or not np.all(np.isfinite(t)) or r["latency_s"] <= 0:
            continue
        sse += np.log(t / r["latency_s"]) ** 2
        n += 1
    if not n:
        return {}
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    return {"eff_moe": float(EFF_MOE_GRID[i]), "stream_ratio": float(STREAM_RATIO_GRID[j]), "layers": n,
            "rms_log": round(float(np.sqrt(sse[i, j] / n)), 4), "chips": sorted(cache)}
