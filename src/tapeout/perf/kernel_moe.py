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
from .kernels_db import Kernels, chip_for

# database moe_dtype -> precision policy (data/precision/policies.yaml); W4A16 / W4A8 MX formats: none
_POLICY = {"bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8block", "nvfp4": "nvfp4"}


def layer_time(chip, row: dict, fitted: dict | None = None) -> float:
    """Seconds of one measured MoE layer as the engine prices it; NaN where it cannot express it."""
    from ..errors import TapeoutError
    from ..precision import get_precision
    from ..workloads.llm import LLMStep, build_llm_graph
    from ..workloads.llm_config import LLMConfig
    from .mlperf import step_model

    if row["distribution"] != "balanced" or row["dtype"] not in _POLICY:
        return float("nan")
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
        return float("nan")
    ct = sm.evaluator(g, sm.p)
    t = np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1).max(axis=1)
    return float(sum(t[i] * float(ct.table.count[i]) for i, op in enumerate(ct.table.ops) if op.name.startswith("experts_")))


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
             stack_version: str | None = None, systems: list[str] | None = None) -> dict:
    """`errors` ({op/format: stats} of the held-out chip `hid`) with its measured MoE layers priced at the serving
    calibration of the shared kernel fit `params` (fitted on `train`, without hid's kernels: kernel_calibration.
    held_out_fitted, the same calibration as build(holdout=hid) without fitting twice). A stack without MoE layers
    adds nothing."""
    from ..errors import TapeoutError
    from .kernel_calibration import held_out_fitted, large_stream_efficiencies
    from .kernels_db import read_moe

    try:
        k = read_moe(stack=stack, systems=systems)
    except TapeoutError:
        return errors
    # its large-stream DRAM efficiency: the other chips' median (as build(holdout=hid))
    stream = large_stream_efficiencies(sorted(set(train.cols["chip"]) | {hid}), hid, stack, stack_version)[hid]
    fitted = held_out_fitted(train, hid, params, floors, stream)
    return {**errors, **moe_errors(k, fitted).get(hid, {})}
