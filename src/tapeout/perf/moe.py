"""Mixture-of-experts at scale: load imbalance of top-k routing and all-to-all volume.

Load model. T tokens each pick k distinct experts of E; with expert parallelism over n = `ep`
ranks every rank holds E/n experts. Under uniform routing one token's picks that land on each
rank are multivariate hypergeometric (k draws without replacement from E experts in n groups of
E/n), so summed over T independent tokens the per-rank loads N_r have (Johnson, Kotz &
Balakrishnan, Discrete Multivariate Distributions, 1997, ch. 39: multivariate hypergeometric)

    mean  mu         = T k / n
    cov(N_r, N_q)    = mu c (delta_rq - 1/n),     c = (E - k) / (E - 1)   (finite-population factor)

i.e. for large T the loads are sqrt(mu c) (Z_r - Zbar) + mu with Z_r i.i.d. standard normal (the
-1/n covariance is the fixed total T k). Popularity spread (cv = coefficient of variation of the
per-expert routing probability around k/E, probabilities summing to k; 0 = uniform, as in
MLPerf/NeMo "force-balanced" runs; measured router statistics give 0.2-1) adds to each rank's mean
mu cv (W_r - Wbar), W_r the average of its E/n experts' standard scores (variance n/E), with the same
zero-sum structure. Both terms have that form, so they add in quadrature, and since
max_r (Z_r - Zbar) = max_r Z_r - Zbar the busiest rank carries, exactly for the Gaussian limit,

    E[max_r N_r] = mu + sqrt(mu c + (mu cv)^2 n / E) * e_n,     e_n = E[max of n standard normals]

(e_n from perf/rank_spread.expected_max_normal; e_2 = 1/sqrt(pi) reproduces the two-rank case
E|N_1 - mu| = sqrt(2/pi) sd(N_1) exactly). The step waits for the busiest rank: imbalance =
E[max] / mu >= 1, capped where one rank gets every token on all of its experts (T min(k, E/n)).
sqrt(2 ln n), the Gumbel-limit bound used before (GShard, Lepikhin et al. 2020), overstates e_n by
43% at n = 8 (2.04 vs 1.42). Expert-parallel MoE layers run at the busiest rank's pace, so the graph
builder scales the routed-token GEMMs by this factor (workloads/llm.py `expert_imbalance`).

All-to-all volume per MoE layer: dispatch and combine each move T k h activations
(bytes = T k h * act_bytes per rank before the (g-1)/g bus factor); shared experts run
locally with no all-to-all (DeepSeek-V3, arXiv:2412.19437, Sec. 3.4).
"""

from __future__ import annotations

import math

from .rank_spread import expected_max_normal


def expected_max_load_factor(tokens: float, top_k: int, num_experts: int, ep: int, cv: float = 0.0) -> float:
    """max/mean tokens per EP rank (>= 1). `tokens` = tokens entering the layer on one
    EP group (all ranks together)."""
    if ep <= 1 or num_experts <= 0 or tokens <= 0 or top_k <= 0:
        return 1.0
    mu = tokens * top_k / ep
    c = (num_experts - top_k) / (num_experts - 1) if num_experts > 1 else 0.0
    var = mu * c + (mu * cv) ** 2 / max(num_experts / ep, 1.0)
    cap = ep * min(top_k, max(num_experts / ep, 1.0)) / top_k  # one rank takes all its experts' tokens
    return min(1.0 + math.sqrt(var) * expected_max_normal(int(ep)) / mu, max(cap, 1.0))


def expected_max_expert_load_factor(tokens: float, top_k: int, num_experts: int, cv: float = 0.0) -> float:
    """max/mean tokens per *expert* (what a one-expert-per-rank layout waits for)."""
    return expected_max_load_factor(tokens, top_k, num_experts, num_experts, cv) if num_experts > 1 else 1.0


def a2a_bytes_per_layer(tokens: float, top_k: int, hidden: int, act_bytes: float) -> float:
    """Buffer bytes one rank exchanges in one dispatch (same again for combine)."""
    return tokens * top_k * hidden * act_bytes
