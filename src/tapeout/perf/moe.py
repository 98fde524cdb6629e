"""Mixture-of-experts at scale: load imbalance of top-k routing and all-to-all volume.

Load model. T tokens each pick k distinct experts of E; with expert parallelism over `ep`
ranks every rank holds E/ep experts. Under uniform routing the tokens one rank receives are
a sum of E/ep Binomial(T, k/E) counts, so (independent-pick approximation)

    mean  mu    = T k / ep
    var   s^2   = T k / ep * (1 - 1/ep)  +  (mu * cv)^2 / (E/ep)

where the second term is the spread of expert popularity across ranks (cv = coefficient of
variation of per-expert routing probability; 0 = uniform, as in MLPerf/NeMo "force-balanced"
runs; measured router statistics give 0.2-1). The busiest of n ranks is, by the Gumbel
limit of the maximum of n normals (Cramer 1946; used for MoE capacity by Lepikhin et al.
2020, GShard, Sec. 2.2),

    E[max] ~= mu + s * sqrt(2 ln n)

and the step waits for it: imbalance = E[max] / mu >= 1. Expert-parallel MoE layers run at
the busiest rank's pace, so the graph builder scales the routed-token GEMMs by this factor
(workloads/llm.py `expert_imbalance`).

All-to-all volume per MoE layer: dispatch and combine each move T k h activations
(bytes = T k h * act_bytes per rank before the (g-1)/g bus factor); shared experts run
locally with no all-to-all (DeepSeek-V3, arXiv:2412.19437, Sec. 3.4).
"""

from __future__ import annotations

import math


def expected_max_load_factor(tokens: float, top_k: int, num_experts: int, ep: int, cv: float = 0.0) -> float:
    """max/mean tokens per EP rank (>= 1). `tokens` = tokens entering the layer on one
    EP group (all ranks together)."""
    if ep <= 1 or num_experts <= 0 or tokens <= 0:
        return 1.0
    mu = tokens * top_k / ep
    if mu <= 0:
        return 1.0
    var = mu * (1.0 - 1.0 / ep) + (mu * cv) ** 2 / max(num_experts / ep, 1.0)
    return 1.0 + math.sqrt(var) * math.sqrt(2.0 * math.log(ep)) / mu


def expected_max_expert_load_factor(tokens: float, top_k: int, num_experts: int, cv: float = 0.0) -> float:
    """max/mean tokens per *expert* (what a one-expert-per-rank layout waits for)."""
    return expected_max_load_factor(tokens, top_k, num_experts, num_experts, cv) if num_experts > 1 else 1.0


def a2a_bytes_per_layer(tokens: float, top_k: int, hidden: int, act_bytes: float) -> float:
    """Buffer bytes one rank exchanges in one dispatch (same again for combine)."""
    return tokens * top_k * hidden * act_bytes
