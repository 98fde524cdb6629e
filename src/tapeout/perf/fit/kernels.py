"""Fused-kernel fits: eff_attention / attn_bwd_factor (fit_attention) and eff_moe (fit_moe) as
fractions of the chip's fitted dense GEMM efficiency.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import least_squares

from ...hardware.catalog import get_chip
from ...ops import Attention, OpGraph, OpTable
from ..opcost import evaluate


def fit_attention(chip_id: str, eff_compute: dict, rows: list[dict], impl: str = "cudnn") -> dict:
    """eff_attention and attn_bwd_factor of one chip from its fused-attention kernel rows.

    Each row's measured time (paper FLOPs / measured rate) is compared with the op-cost
    model's time for the same Attention op at the chip's fitted GEMM efficiency; the ratio
    model/measured is the attention kernel's efficiency relative to the GEMM's (tile and wave
    quantisation stay in the model). Median over sequence lengths per (direction, mask).
      eff_attention   = ratio(forward, causal)                 [LLM attention is causal]
      attn_bwd_factor = ratio(forward, no mask) / ratio(backward, no mask)
    (the papers time the backward pass without a mask only; the causal penalty is assumed
    to be the same in both directions)."""
    from ..calibration import Calibration

    rs = [r for r in rows if r["chip"] == chip_id and r["impl"] == impl]
    if not rs or "bf16" not in eff_compute:
        return {}
    chip = get_chip(chip_id)
    p = Calibration(chip_id=chip_id, eff_compute=dict(eff_compute)).apply(chip.params(calibration=Calibration(chip_id=chip_id)))
    ratios: dict[tuple[str, bool], list[float]] = {}
    for r in rs:
        t_model, t_meas = attention_row_times(r, p)
        ratios.setdefault((r["direction"], r["causal"].lower() == "true"), []).append(t_model / t_meas)
    med = {k: float(np.median(v)) for k, v in ratios.items()}
    out: dict = {"attention_sources": [r["id"] for r in rs]}
    if ("fwd", True) in med:
        out["eff_attention"] = round(med[("fwd", True)], 4)
    if ("fwd", False) in med and ("bwd", False) in med:
        out["attn_bwd_factor"] = round(med[("fwd", False)] / med[("bwd", False)], 4)
    return out


def attention_row_times(r: dict, p) -> tuple[float, float]:
    """(model time on ChipParams p, measured time) of one published fused-attention row: the
    Attention op of its shape, and the paper's FLOPs (4 s^2 d h b, half under a causal mask, 2.5x
    backward) over the published rate."""
    s, b, h, d = int(r["seq_len"]), int(r["batch"]), int(r["heads"]), int(r["head_dim"])
    causal, bwd = r["causal"].lower() == "true", r["direction"] == "bwd"
    op = Attention(name="attn", batch=b, q_len=s, kv_len=s, heads=h, kv_heads=h, d_qk=d, d_v=d, causal=causal,
                   act_dtype=r["dtype"], kv_dtype=r["dtype"])
    t_model = float(evaluate(OpGraph(name="attn", ops=[op]), p).total_time) * (2.5 if bwd else 1.0)
    paper_flops = 4.0 * s * s * d * h * b * (0.5 if causal else 1.0) * (2.5 if bwd else 1.0)
    return t_model, paper_flops / (float(r["tflops"]) * 1e12)


def fit_attention_prologue(rows: list[dict], params_of, grid=tuple(range(0, 1025, 8))) -> dict:
    """The attention work unit's prologue/epilogue in keys (ChipParams.attn_tile_k_overhead), shared
    by every chip: the grid value at which the model's forward time follows each published
    sequence-length sweep (one chip, implementation, head dim and mask) up to one constant factor,
    i.e. least RMS of log(model / measured) about each sweep's mean. The factor itself is the chip's
    eff_attention (fit_attention). `params_of(chip_id)`: the chip's ChipParams."""
    sweeps: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["direction"] == "fwd":
            sweeps.setdefault((r["chip"], r["impl"], r["head_dim"], r["causal"].lower()), []).append(r)
    sweeps = {key: rs for key, rs in sweeps.items() if len(rs) > 1}
    base = {c: params_of(c).replace(eff_attention=1.0) for c in {key[0] for key in sweeps}}

    def rms(k0: float) -> float:
        res = []
        for key, rs in sweeps.items():
            lr = np.log([np.divide(*attention_row_times(r, base[key[0]].replace(attn_tile_k_overhead=k0))) for r in rs])
            res.append(lr - lr.mean())
        return float(np.sqrt(np.mean(np.concatenate(res) ** 2)))

    scores = {float(k0): rms(float(k0)) for k0 in grid}
    best = min(scores, key=scores.get)
    return {"value": best, "rms_log": round(scores[best], 4), "rms_log_at_0": round(scores[0.0], 4) if 0.0 in scores else None,
            "rows": sum(len(rs) for rs in sweeps.values()), "sweeps": len(sweeps)}


def fit_moe(chip_id: str, eff_compute: dict, rows: list[dict]) -> dict:
    """eff_moe of one chip from published fused-MoE kernel timings (one MoE layer's expert
    FFN: both grouped GEMMs and the activation, per token count).

    The model's time for those ops (workloads/llm.py moe_block at the row's model, TP and
    token count; roofline max(compute / eff_moe, memory) + kernel overhead, the chip's
    fitted GEMM efficiency) is fitted to the measured times by least squares on log time.
    eff_moe only scales the compute term, so the weight-streaming rows (few tokens) leave
    it free and the compute-bound rows set it."""
    from ...precision import get_precision
    from ...workloads.llm import LLMStep, build_llm_graph
    from ...workloads.llm_config import load_llm
    from ...workloads.moe_kernels import EXPERT_FFN_OPS
    from ..calibration import Calibration

    rs = [r for r in rows if r["chip"] == chip_id]
    if not rs or "bf16" not in eff_compute:
        return {}
    chip = get_chip(chip_id)
    p = Calibration(chip_id=chip_id, eff_compute=dict(eff_compute)).apply(chip.params(calibration=Calibration(chip_id=chip_id)))
    tables, meas = [], []
    for r in rs:
        g = build_llm_graph(load_llm(r["model"]), LLMStep("decode", int(r["tokens"]), 1, 1, get_precision(r["dtype"]),
                                                         int(r["tp"]), 1))
        keep = [o for o in g.ops if o.name in EXPERT_FFN_OPS]  # the FFN its rows time (no routing/permute/finalize ops)
        tables.append(OpTable.from_ops([dataclasses.replace(o, count=1) for o in keep]))  # one layer
        meas.append(float(r["time_us"]) * 1e-6)
    meas = np.array(meas)

    def model(x):
        q = p.replace(eff_moe=float(x[0]))
        return np.array([float(evaluate(t, q).total_time) for t in tables])

    res = least_squares(lambda x: np.log(model(x)) - np.log(meas), [0.8], bounds=([0.05], [1.0]))
    resid = np.log(model(res.x)) - np.log(meas)
    return {"moe_sources": [r["id"] for r in rs], "eff_moe": round(float(res.x[0]), 4),
            "moe_sigma_log": round(float(np.sqrt(np.mean(resid ** 2))), 4)}
