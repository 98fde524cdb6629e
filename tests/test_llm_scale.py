"""Cluster-scale LLM serving: collectives, topology, MoE load, step model, MLPerf presets."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.topology import Topology
from tapeout.perf import collectives as C
from tapeout.perf.collectives import topology_for_chip
from tapeout.perf.moe import expected_max_load_factor


def _topo(**kw):
    d = dict(wiring="switch", domain=8, scaleup_bw=450e9, scaleup_latency=3e-6, scaleout_bw=50e9,
             scaleout_latency=10e-6, eff_link=0.8, in_switch_reduction=False, eff_nvls=0.0)
    d.update(kw)
    return Topology(**d)


def test_ring_allreduce_bus_factor_closed_form():
    for g in (2, 4, 8):
        assert C.bus_factor("all_reduce", g) == pytest.approx(2 * (g - 1) / g)
        assert C.bus_factor("all_gather", g) == pytest.approx((g - 1) / g)
    t, _ = C.collective_time("all_reduce", 1e9, 8, _topo(), algorithm="ring")
    assert float(t) == pytest.approx(14 * 3e-6 + 1.75e9 / (450e9 * 0.8))


def test_ring_busbw_tends_to_link_times_eff():
    bw = C.busbw("all_reduce", 8 * 2**30, 8, _topo(), algorithm="ring")
    assert float(bw) == pytest.approx(450e9 * 0.8, rel=1e-2)


def test_nvls_calibrated_on_microbenchmarks_matches_h200_rows():
    topo = topology_for_chip("h200")
    assert topo.in_switch_reduction and topo.eff_nvls > 0
    # MB-0128: 8 GPUs, 8 GiB, NVLS 473.1 GB/s; MB-0135 ring 367.2 GB/s
    nv = float(C.busbw("all_reduce", 8 * 2**30, 8, topo, algorithm="nvls"))
    ring = float(C.busbw("all_reduce", 16 * 2**30, 8, topo, algorithm="ring"))
    assert nv == pytest.approx(473.1e9, rel=0.05)
    assert ring == pytest.approx(367.2e9, rel=0.05)


def test_auto_picks_low_latency_algorithm_for_small_messages():
    topo = _topo(in_switch_reduction=True, eff_nvls=0.6)
    t_small, a_small = C.collective_time("all_reduce", 16e3, 8, topo)
    t_ring, _ = C.collective_time("all_reduce", 16e3, 8, topo, algorithm="ring")
    assert a_small in ("one_shot", "two_shot", "nvls") and float(t_small) < float(t_ring)


def test_hierarchical_group_uses_scaleout():
    topo = _topo()
    t_in, _ = C.collective_time("all_reduce", 1e9, 8, topo)
    t_x, desc = C.collective_time("all_reduce", 1e9, 64, topo)
    assert desc.startswith("hier") and float(t_x) > float(t_in)


def test_mesh_small_group_uses_fewer_links():
    topo = _topo(wiring="mesh")
    assert topo.link_bw_for_group(2) == pytest.approx(450e9 / 7)
    assert topo.link_bw_for_group(8) == pytest.approx(450e9)


@settings(max_examples=40, deadline=None)
@given(st.floats(1e3, 1e10), st.floats(1e3, 1e10), st.sampled_from([2, 4, 8, 16, 64]))
def test_collective_time_monotone_in_bytes(a, b, g):
    lo, hi = sorted((a, b))
    topo = _topo(in_switch_reduction=True, eff_nvls=0.6)
    for kind in ("all_reduce", "all_gather", "all_to_all"):
        assert float(C.collective_time(kind, lo, g, topo)[0]) <= float(C.collective_time(kind, hi, g, topo)[0]) + 1e-15


@settings(max_examples=40, deadline=None)
@given(st.floats(10, 1e6), st.sampled_from([2, 4, 8, 16, 64]))
def test_moe_imbalance_at_least_one_and_shrinks_with_tokens(tokens, ep):
    f1 = expected_max_load_factor(tokens, 2, 64, ep)
    f2 = expected_max_load_factor(tokens * 10, 2, 64, ep)
    assert f1 >= 1.0 and f2 >= 1.0 and f2 <= f1 + 1e-12
    assert expected_max_load_factor(tokens, 2, 64, ep, cv=0.5) >= f1


def test_moe_no_imbalance_without_ep():
    assert expected_max_load_factor(1000, 2, 8, 1) == 1.0


def test_step_model_monotone_and_offline_fit():
    from tapeout.perf.mlperf import serve_at_scale

    r = serve_at_scale("llama-2-70b", "h100-sxm", 8, "fp8", 512, 294, "offline")
    assert r.output_tokens_per_s > 0 and r.memory_gib_per_chip <= r.capacity_gib_per_chip
    assert r.interval_80[0] < r.output_tokens_per_s < r.interval_80[1]
    from tapeout.perf.mlperf import step_model
    from tapeout.hardware.catalog import get_chip
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    sm = step_model(load_llm("llama-2-70b"), get_chip("h100-sxm"), get_precision("fp8"), 2, 1, 1)
    ts = [sm.step(b, 800, 0) for b in (1, 8, 64, 256, 1024)]
    assert all(x <= y + 1e-12 for x, y in zip(ts, ts[1:]))


def test_latency_bounded_not_above_offline():
    from tapeout.perf.mlperf import serve_benchmark

    off = serve_benchmark("llama2-70b", "h200", 8, "offline")
    srv = serve_benchmark("llama2-70b", "h200", 8, "server")
    inter = serve_benchmark("llama2-70b", "h200", 8, "interactive")
    assert inter.output_tokens_per_s <= srv.output_tokens_per_s * 1.001 <= off.output_tokens_per_s * 1.01
    assert inter.tpot_s <= 0.040 + 1e-9


def test_simulation_meets_bounds_and_tracks_closed_form():
    from tapeout.perf.serving_sim import max_rate_sim, max_rate_closed_form
    from tapeout.perf.mlperf import step_model
    from tapeout.hardware.catalog import get_chip
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    sm = step_model(load_llm("llama-3.1-8b"), get_chip("h100-sxm"), get_precision("fp8"), 1, 1, 1)
    tps, res = max_rate_sim(sm, kv_tokens_cap=200_000, mean_in=512, mean_out=128, max_in=2048, max_out=512,
                            ttft_bound=2.0, tpot_bound=0.1, n_requests=400, iters=8)
    assert res is not None and res.ttft_p99 <= 2.0 and res.tpot_p99 <= 0.1
    cf = max_rate_closed_form(sm, 200_000 // 576, 512, 128, 2.0, 0.1)
    assert tps > 0 and cf.tokens_per_s > 0
    assert 0.3 < tps / cf.tokens_per_s < 3.0


def test_mlperf_presets_and_cli_json(capsys):
    from tapeout.cli import main

    main(["serve", "--benchmark", "llama2-70b", "--chip", "h100-sxm", "--num-chips", "8", "--json"])
    d = json.loads(capsys.readouterr().out)
    for k in ("output_tokens_per_s", "parallelism", "tp", "pp", "dp", "interval_80", "benchmark"):
        assert k in d
    assert d["benchmark"] == "llama2-70b" and d["output_tokens_per_s"] > 0


def test_mixtral_uses_expert_parallel_or_tp():
    from tapeout.perf.mlperf import serve_benchmark

    r = serve_benchmark("mixtral-8x7b", "h100-sxm", 8, "offline")
    assert r.output_tokens_per_s > 0 and "TP" in r.parallelism


def test_mla_absorbed_decode_reads_latent_cache_only():
    from tapeout.workloads.llm import decode_graph
    from tapeout.workloads.llm_config import load_llm

    cfg = load_llm("deepseek-v3")
    g = decode_graph(cfg, batch=4, context=4096, precision="fp8", tp=8)
    att = [o for o in g.ops if o.name == "mla_attention"][0]
    assert att.weight_bytes == pytest.approx(4 * (4096 + 1) * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * 1.0)


def test_expert_parallel_keeps_full_expert_width():
    """EP reuses the TP ranks (weight_bytes_per_chip: experts E/ep ways, each expert's FFN
    tp/ep ways). The expert GEMM FLOPs of one rank are therefore 2 x (T k / ep) x 3 h f
    (gate, up, down), and the whole TP=EP group together does the routed work exactly once."""
    from tapeout.workloads.llm import decode_graph
    from tapeout.workloads.llm_config import load_llm

    cfg = load_llm("mixtral-8x7b")
    T = 4096  # every expert active: no partial-expert rounding
    for tp, ep in ((2, 2), (4, 4), (8, 8), (4, 2)):
        g = decode_graph(cfg, T, 512, "bf16", tp=tp, ep=ep)
        expert = sum(op.flops * op.count for op in g.ops if op.name.startswith("experts_") and op.kind == "matmul")
        per_rank = 2.0 * T * cfg.num_experts_per_tok / ep * 3 * cfg.hidden_size * cfg.expert_ffn / (tp // ep) * cfg.n_moe_layers
        assert expert == pytest.approx(per_rank, rel=0.02), (tp, ep)


def test_max_batch_caps_the_engine_and_never_helps():
    from tapeout.perf.mlperf import serve_at_scale

    free = serve_at_scale("llama-2-70b", "h200", 1, "fp8", 222, 294, "offline")
    capped = serve_at_scale("llama-2-70b", "h200", 1, "fp8", 222, 294, "offline", max_batch=64)
    assert capped.batch_size <= 64 < free.batch_size
    assert capped.output_tokens_per_s < free.output_tokens_per_s


def test_submitted_layout_only_for_listed_tensorrt_runs():
    from tapeout.hardware import get_chip
    from tapeout.validation.llm_rows import submitted_layout

    row = {"workload": "MLPerf Inference v4.1 llama2-70b-99/99.9", "software": "TensorRT 10.2.0, CUDA 12.4",
           "notes": "raw_accelerator=NVIDIA H100-SXM-80GB"}
    assert submitted_layout(row, "llama2-70b", "offline", get_chip("h100-sxm"), 8) == {"tp": 2, "pp": 1, "max_batch": 896}
    cts = dict(row, notes="raw_accelerator=NVIDIA H200-SXM-141GB-CTS")
    assert submitted_layout(cts, "llama2-70b", "offline", get_chip("h200"), 8)["max_batch"] == 784
    assert submitted_layout(dict(row, software="vLLM 0.4.3"), "llama2-70b", "offline", get_chip("h100-sxm"), 8) == {}
    assert submitted_layout(row, "llama2-70b", "server", get_chip("h100-sxm"), 8)["max_batch"] == 1024
    assert submitted_layout(row, "mixtral-8x7b", "offline", get_chip("h100-sxm"), 8) == {}  # no config on file


def test_gptj_submitted_layout_is_one_engine_per_gpu_at_the_config_batch():
    """NVIDIA's v4.1 GPT-J configs: TP1, gpu_batch_size L40S 100 / 128, H100 192 / 256 (requests of
    4 beams each); a 2 x L40S Offline row runs two engines that each hold 100 requests (their FP8 KV
    cache, ~100 x (800 + 4 x 35) tokens x 229 kB = 22 GB, fits the 48 GB card, so the cap binds)."""
    from tapeout.hardware import get_chip
    from tapeout.validation.llm_rows import map_row, submitted_layout

    row = {"workload": "MLPerf Inference v4.1 gptj-99", "software": "TensorRT 10.2.0, CUDA 12.4", "notes": ""}
    assert submitted_layout(row, "gptj", "offline", get_chip("l40s"), 2) == {"tp": 1, "pp": 1, "max_batch": 100}
    assert submitted_layout(row, "gptj", "server", get_chip("l40s"), 2)["max_batch"] == 128
    assert submitted_layout(row, "gptj", "server", get_chip("h100-sxm"), 8)["max_batch"] == 256
    full = dict(row, id="T-1", category="mlperf-inf", model_config="GPT-J 6B; beam 4", scenario="Offline",
                accelerator="NVIDIA L40S", n_accelerators="2", precision="fp16", unit="Tokens/s", value="1")
    at = map_row(full).detail["at_submitted_layout"]
    assert (at["parallelism"], at["batch"]) == ("TP1 x DP2", 100)


def test_benchmark_preset_honours_tp_and_engine_cap():
    from tapeout.perf.mlperf import serve_benchmark

    r = serve_benchmark("llama2-70b", "h100-sxm", 8, "offline", tp=2, max_batch=896)
    assert (r.tp, r.pp, r.dp) == (2, 1, 4) and r.batch_size <= 896


@pytest.mark.parametrize("tokens,k,E,ep", [(4096, 2, 8, 8), (2048, 8, 64, 4), (1024, 1, 16, 2)])
def test_moe_busiest_rank_matches_routing_simulation(tokens, k, E, ep):
    # uniform top-k routing simulated directly: each token draws k distinct experts, experts sit
    # E/ep per rank; the mean busiest-rank load over trials is the quantity the closed form predicts
    rng = np.random.default_rng(7)
    trials = 400
    picks = rng.random((trials, tokens, E)).argpartition(k, axis=-1)[..., :k]
    load = np.stack([np.isin(picks // (E // ep), r).sum(axis=(1, 2)) for r in range(ep)], axis=1)
    mu = tokens * k / ep
    sim = load.max(axis=1).mean()
    se = load.max(axis=1).std() / np.sqrt(trials)
    assert expected_max_load_factor(tokens, k, E, ep) * mu == pytest.approx(sim, abs=4 * se + 0.005 * mu ** 0.5)


def test_moe_two_ranks_closed_form():
    # n = 2: max(N1, N2) = mu + |N1 - mu|, E|N1 - mu| = sd sqrt(2/pi) with var(N1) = mu c (1 - 1/2)
    T, k, E = 10_000, 2, 16
    mu = T * k / 2
    c = (E - k) / (E - 1)
    assert expected_max_load_factor(T, k, E, 2) == pytest.approx(1 + math.sqrt(mu * c / 2) * math.sqrt(2 / math.pi) / mu)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 1e6), st.integers(1, 8), st.sampled_from([8, 16, 64, 256]), st.sampled_from([2, 4, 8, 16, 64]),
       st.floats(0, 2))
def test_moe_imbalance_never_above_one_rank_taking_everything(tokens, k, E, ep, cv):
    f = expected_max_load_factor(tokens, k, E, ep, cv)
    assert 1.0 <= f <= max(1.0, ep * min(k, max(E / ep, 1)) / k) + 1e-12
