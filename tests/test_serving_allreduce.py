"""A serving step's all-reduce as the serving stack dispatches it: the stack's one-/two-shot
kernels up to their workspace, the collective library (with its measured mid-size excess) above."""

import csv
import re
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.topology import Topology
from tapeout.perf import collectives as C
from tapeout.perf.collective_launch import host_dispatch_s

CURVE = ((1e6, 40e-6), (1e7, 60e-6), (1e8, 80e-6))


def _topo(**kw):
    d = dict(wiring="switch", domain=8, scaleup_bw=450e9, scaleup_latency=3e-6, scaleout_bw=50e9,
             scaleout_latency=10e-6, eff_link=0.8, in_switch_reduction=False, eff_nvls=0.0, library_excess=CURVE)
    d.update(kw)
    return Topology(**d)


def test_custom_allreduce_workspace_is_tensorrt_llm_s():
    # customAllReduceUtils.h getMaxRequiredWorkspaceSize: 16e6 B at world <= 2, 8e6 B above
    assert C.custom_allreduce_max_bytes(2) == 16_000_000
    assert C.custom_allreduce_max_bytes(4) == C.custom_allreduce_max_bytes(8) == 8_000_000
    assert C.custom_allreduce_max_bytes(16) == 0  # no custom kernel beyond 8 ranks
    # vLLM CustomAllreduce(max_size=8192 * 1024)
    assert C.custom_allreduce_max_bytes(2, "vllm") == 8192 * 1024


def test_unknown_stack_names_the_choices():
    from tapeout.errors import TapeoutError
    from tapeout.perf.stacks import custom_allreduce_limits

    with pytest.raises(TapeoutError, match="vllm"):
        custom_allreduce_limits("no-such-stack")


def test_tp2_below_workspace_is_one_shot_above_is_library_ring_plus_excess():
    topo, beta = _topo(), 1 / (450e9 * 0.8)
    t, name = C.serving_collective_time("all_reduce", 10e6, 2, topo)
    assert name == "one_shot" and float(t) == pytest.approx(3e-6 + 10e6 * beta)
    S = 20e6  # above 16e6: ring = tree at 2 ranks, 2 steps, S bytes each way
    d = 60e-6 + 20e-6 * np.log(S / 1e7) / np.log(10)
    d -= host_dispatch_s()  # the default stack launches queued (serving_stacks.yaml): no per-call host dispatch
    t, name = C.serving_collective_time("all_reduce", S, 2, topo)
    assert name.startswith("library") and float(t) == pytest.approx(2 * 3e-6 + S * beta + d)


def test_excess_held_at_end_points_and_zero_without_curve():
    assert float(C.library_excess(1e3, CURVE)) == 40e-6 and float(C.library_excess(1e10, CURVE)) == 80e-6
    assert float(C.library_excess(5e7, ())) == 0.0


def test_no_peer_access_and_cross_domain_keep_the_library_alpha_beta():
    for topo, g in ((_topo(wiring="pcie"), 2), (_topo(domain=2), 4)):
        a = C.serving_collective_time("all_reduce", 50e6, g, topo)
        b = C.collective_time("all_reduce", 50e6, g, topo)
        assert float(a[0]) == float(b[0])


def test_other_collectives_unchanged():
    topo = _topo()
    for kind in ("all_gather", "reduce_scatter", "all_to_all"):
        assert float(C.serving_collective_time(kind, 50e6, 8, topo)[0]) == float(C.collective_time(kind, 50e6, 8, topo)[0])


def _sweep_rows():
    p = resources.files("tapeout").joinpath("data", "measured", "microbenchmarks.csv")
    with open(p, newline="") as f:
        for r in csv.DictReader(f):
            m = re.search(r"payload (\d+)(KiB|MiB|GiB)", r["model_config"])
            if "vs payload" in r["workload"] and m and r["accelerator"] == "NVIDIA H200-SXM":
                yield int(m.group(1)) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[m.group(2)], float(r["value"])


def test_library_time_reproduces_the_h200_payload_sweep():
    topo = C.topology_for_chip("h200")
    rows = list(_sweep_rows())
    assert len(rows) >= 10
    for size, busbw_gbs in rows:  # MB-0105..0123: 8 GPUs, torch.distributed + NCCL
        t = float(C.library_time("all_reduce", size, 8, topo, launch="exposed")[0])  # one call per trial
        assert 1.75 * size / t / 1e9 == pytest.approx(busbw_gbs, rel=0.02 if size >= 2**20 else 0.10)  # running max under 1 MiB


@settings(max_examples=60, deadline=None)
@given(st.floats(32 * 2**10, 8 * 2**30), st.floats(1.01, 4.0), st.sampled_from([2, 4, 8]),
       st.sampled_from(["queued", "exposed"]))
def test_library_allreduce_never_faster_for_a_larger_message(S, f, g, launch):
    topo = C.topology_for_chip("h100-sxm")
    a = float(C.library_time("all_reduce", S, g, topo, launch=launch)[0])
    b = float(C.library_time("all_reduce", S * f, g, topo, launch=launch)[0])
    assert b >= a * (1 - 1e-9)


def test_explain_times_collectives_as_the_engine_does():
    from tapeout.ops import Collective
    from tapeout.perf.llm import step_costs

    ct = step_costs("llama-2-70b", "h100-sxm", "fp8", "decode", 1200, 222, 294, tp=2)
    topo = C.topology_for_chip("h100-sxm")
    colls = [(i, op) for i, op in enumerate(ct.table.ops) if isinstance(op, Collective)]
    assert colls
    for i, op in colls:  # 1200 tokens x 8192 x 2 B = 19.7e6 B per rank > 16e6: NCCL
        assert op.payload_bytes == pytest.approx(1200 * 8192 * 2)
        t = C.library_time("all_reduce", op.payload_bytes, 2, topo, launch=C.collective_launch(None))[0]
        assert float(ct.time[i]) == pytest.approx(float(t))


def test_paged_kv_holds_half_a_block_per_sequence_beyond_its_length():
    """KV-limited batch = free memory / (KV bytes per token x (I + O/2 + 64/2)): TensorRT-LLM's
    64-token blocks, the last one half empty on average; a max_batch above it is filled."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf import serving_memory as M
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.mlperf import serve_at_scale
    from tapeout.perf.stacks import kv_block_waste_tokens
    from tapeout.precision import get_precision
    from tapeout.workloads.llm_config import load_llm

    assert kv_block_waste_tokens() == 32 and kv_block_waste_tokens("vllm") == 8
    cfg, pr = load_llm("llama-2-70b"), get_precision("fp8")
    cap = float(np.max(calibrated_params(get_chip("h200")).mem_capacity))
    free = cap * (M.USABLE_MEMORY_FRACTION - M.ACTIVATION_RESERVE_FRACTION) - M.weight_bytes_per_chip(cfg, pr, 1, 1)
    I, O = 1000.0, 200.0
    r = serve_at_scale("llama-2-70b", "h200", 1, "fp8", I, O, tp=1, pp=1, max_batch=100_000)
    assert r.batch_size == int(free // (M.kv_bytes_per_token_per_chip(cfg, pr, 1) * (I + O / 2 + 32)))


def test_family_without_a_payload_sweep_takes_the_generic_excess():
    """Blackwell has NVLS rows of its own (eff_nvls) but no payload sweep; AMD has neither: both take
    the generic library excess, and Blackwell keeps its own in-switch efficiency."""
    from tapeout.perf.fit.collective_fit import fit_collective_algorithms

    cal, fit = C.algorithm_calibration, fit_collective_algorithms()
    generic = fit["generic"]
    for fam in ("nvidia-blackwell", "amd-cdna3"):
        assert cal(fam)["library_excess"] == generic["library_excess"]
    assert cal("nvidia-blackwell")["eff_nvls"] == fit["nvidia-blackwell"]["eff_nvls"] != generic["eff_nvls"]
    assert C.topology_for_chip("mi300x").library_excess == tuple(tuple(x) for x in generic["library_excess"])
