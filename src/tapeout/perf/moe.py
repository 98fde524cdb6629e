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
locally with no all-to-all (DeepSeek-V3, arXiv:2412.19437, Sec. 3.4). A stack that sends each token once per
destination node and forwards it over NVLink (DeepEP) puts only h bytes x the token's distinct remote nodes on
the NIC: expected_nodes_per_token, under the model's group-limited routing where its config has one.
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


def _miss(pool: int, held: int, k: int) -> float:
    """P(none of k distinct picks, uniform without replacement from `pool`, lands among `held` of them)."""
    if held <= 0:
        return 1.0
    if pool - held < k:
        return 0.0
    return math.exp(math.lgamma(pool - held + 1) - math.lgamma(pool - held - k + 1)
                    - math.lgamma(pool + 1) + math.lgamma(pool - k + 1))


def expected_nodes_per_token(top_k: int, num_experts: int, nodes: int, n_group: int | None = None,
                             topk_group: int | None = None) -> float:
    """Expected distinct nodes (EP scale-up domains) holding one token's k experts, under uniform routing.

    Experts sit contiguously over the EP ranks (E/N per node; Megatron-Core / DeepEP place expert e on
    rank e // (E/ep)), and a group is a contiguous block of E/n_group experts (HF DeepseekV3 MoEGate:
    group_scores over scores.view(n, n_group, -1)). Without a group limit the k distinct experts are k
    draws without replacement from E, so a node is missed with probability C(E - E/N, k) / C(E, k)
    (hypergeometric; ~ (1 - 1/N)^k for E >> k). Group-limited routing (DeepSeek-V2/V3 n_group /
    topk_group, the report's "node-limited routing", arXiv:2412.19437 Sec. 2.1.2) first picks topk_group
    of the n_group groups, then the k experts from the S = topk_group E/n_group experts of those groups:
    with N dividing n_group a node holds c = n_group/N groups, m of them picked (hypergeometric over
    groups), and is missed with probability C(S - m E/n_group, k) / C(S, k); with n_group dividing N a
    node holds E/N experts of one group, picked with probability topk_group/n_group. The result is
    E[nodes] = N (1 - P(miss)) <= min(k, N, topk_group x nodes per group)."""
    E, k, N = int(num_experts), int(top_k), max(1, int(nodes))
    if N <= 1 or E <= 0 or k <= 0:
        return float(min(N, 1))
    if E % N:
        raise ValueError(f"{E} experts do not split evenly over {N} nodes")
    e = E // N
    G, M = (int(n_group or 1), int(topk_group or n_group or 1))
    if G <= 1 or M >= G or E % G or (G % N and N % G):  # no limit (or one this placement cannot map: priced unlimited)
        return N * (1.0 - _miss(E, e, k))
    eg, S = E // G, M * (E // G)
    if N % G == 0:  # a group spans N/G nodes
        return N * (M / G) * (1.0 - _miss(S, e, k))
    c = G // N  # groups per node
    p_hit = sum(math.comb(c, m) * math.comb(G - c, M - m) / math.comb(G, M) * (1.0 - _miss(S, m * eg, k))
                for m in range(1, min(c, M) + 1))
    return N * p_hit
