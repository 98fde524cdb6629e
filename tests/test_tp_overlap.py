"""TP communication overlap (perf/tp_overlap.py) and the LoRA FP8 weight transpose cache."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.sequence_parallel import TPComm
from tapeout.perf.tp_overlap import TP_COLLECTIVES, TP_GEMMS, TPOverlap, get_overlap, overlapped, region_time
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.train_memory import device_params
from tapeout.perf.training import train
from tapeout.workloads.llm_config import load_llm

pos = st.floats(min_value=1e-6, max_value=1.0)


@settings(max_examples=200, deadline=None)
@given(g=pos, c=pos, f=st.floats(min_value=0.0, max_value=0.5), n=st.integers(min_value=1, max_value=16))
def test_overlap_lies_between_the_slower_stream_and_the_serial_sum(g, c, f, n):
    t = float(overlapped(g, c, f, n))
    assert t >= max(g, c) * (1 - 1e-12)  # never faster than the slower of its parts
    assert t <= g / (1 - f) + c + 1e-12  # never slower than running them one after the other


def test_overlap_closed_forms():
    # no SM taken, communication shorter than the GEMM: GEMM + one chunk of the collective
    assert overlapped(4.0, 1.0, 0.0, 4) == pytest.approx(4.25)
    # 32 of 128 SMs taken: the GEMM stretches by 128 / 96
    assert overlapped(3.0, 1.0, 0.25, 4) == pytest.approx(4.0 + 0.25)
    # communication-bound: the collective plus one GEMM chunk
    assert overlapped(1.0, 4.0, 0.0, 2) == pytest.approx(4.5)
    # broadcasts over designs
    assert overlapped(np.array([1.0, 4.0]), 1.0, 0.0, 4).shape == (2,)


def _layer():
    gemm = {"qkv_proj": 0.26, "o_proj": 0.21, "mlp_gate_up": 1.47, "mlp_down": 0.74}
    coll = {"attn_allreduce": TPComm.halves(0.5), "mlp_allreduce": TPComm.halves(0.5)}
    return gemm, coll


def test_region_without_overlap_is_gemms_plus_collectives():
    gemm, coll = _layer()
    g, c = sum(gemm.values()), sum(x.forward for x in coll.values())
    assert region_time(gemm, coll, None, 4, 132, False) == pytest.approx(g + c)
    assert region_time(gemm, coll, None, 4, 132, True) == pytest.approx(2 * g + c)  # dgrad + wgrad
    assert region_time(gemm, coll, None, 4, 132, True, lora=True) == pytest.approx(g + c)  # dgrad only
    ov = get_overlap("nemo-lora-fp8-h100-tp4")
    assert region_time(gemm, coll, ov, 1, 132, False) == pytest.approx(g + c)  # TP 1: nothing to overlap


def test_region_follows_the_flags():
    gemm, coll = _layer()
    g, c = sum(gemm.values()), sum(x.forward for x in coll.values())
    slots = tuple((s, "pipeline", 0, 4) for s in ("qkv_fprop", "proj_fprop", "fc1_fprop", "fc2_fprop",
                                                  "fc2_dgrad", "fc1_dgrad", "proj_dgrad", "qkv_dgrad"))
    off = TPOverlap("off", False, False, False, False, slots)
    assert region_time(gemm, coll, off, 4, 132, False) == pytest.approx(g + c)
    full = TPOverlap("all", True, True, True, True, slots)
    # every collective half (0.25) shorter than its GEMM except o_proj's: each exposes a quarter chunk
    want = sum(max(gemm[k], 0.25) + min(gemm[k], 0.25) / 4 for k in TP_GEMMS)
    assert region_time(gemm, coll, full, 4, 132, False) == pytest.approx(want)
    # the v4.0 LoRA flags leave the QKV all-gather and the dgrad reduce-scatters exposed
    lora = get_overlap("nemo-lora-fp8-h100-tp4")
    fwd = region_time(gemm, coll, lora, 4, 132, False)
    assert g + 0.25 < fwd < g + c  # qkv all-gather (0.25) stays exposed; the rest mostly hides
    bwd = region_time(gemm, coll, lora, 4, 132, True, lora=True)
    assert bwd >= g + 0.25 + 0.25  # fc1 and qkv dgrad reduce-scatters exposed


def test_a_config_for_more_sms_than_the_chip_has_is_bad_input():
    gemm, coll = _layer()
    with pytest.raises(TapeoutError, match="tp_overlap.*32 SMs.*proj_fprop"):
        region_time(gemm, coll, get_overlap("nemo-lora-fp8-h100-tp4"), 4, 8, False)


def test_unknown_overlap_names_the_choices():
    with pytest.raises(TapeoutError, match="tp_overlap.*'nope'.*nemo-lora-fp8-h100-tp4"):
        get_overlap("nope")


def test_cli_tp_overlap_runs_and_a_bad_name_is_one_line_exit_2():
    from _cli import assert_clean, run_cli

    base = ["train", "--benchmark", "llama2-70b-lora", "-c", "h100-sxm", "-n", "8", "-p", "fp8", "--tp", "4", "--pp", "1",
            "--cp", "1", "--zero", "0", "--json"]
    code, out, err = run_cli(base + ["--tp-overlap", "nemo-lora-fp8-h100-tp4"])
    assert code == 0
    code0, out0, _ = run_cli(base)
    import json

    assert json.loads(out)["step_time_s"] < json.loads(out0)["step_time_s"]
    code, out, err = run_cli(base + ["--tp-overlap", "bogus"])
    assert_clean(code, out, err)
    assert code == 2 and "--tp-overlap" in err


LORA = LoraAdapters(16, ("qkv_proj", "o_proj"), 0.1)
RUN = dict(lora=LORA, fp8_attention=True, tp=4, pp=1, cp=1, zero=0, mbs=1)


def test_overlap_hides_tp_time_in_the_training_step():
    base = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "fp8", **RUN)
    ov = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "fp8", tp_overlap="nemo-lora-fp8-h100-tp4", **RUN)
    e0, e1 = base.breakdown["exposed_comm_s"]["tp_allreduce"], ov.breakdown["exposed_comm_s"]["tp_allreduce"]
    assert 0.0 < e1 < e0
    assert ov.step_time_s == pytest.approx(base.step_time_s - (e0 - e1), rel=1e-9)
    assert ov.breakdown["eval_step"] < base.breakdown["eval_step"]


def test_uncached_fp8_weight_transpose_costs_two_bytes_per_weight_per_microbatch():
    cached = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "fp8", **RUN)
    fresh = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "fp8", transpose_cache=False, **RUN)
    cfg, lay = load_llm("llama-2-70b"), TrainLayout(**cached.layout)
    dense, ex = device_params(cfg, lay, cfg.num_hidden_layers, True, True)
    p = calibrated_params(get_chip("h100-sxm"))
    bw = float(np.max(p.mem_bw) * np.max(p.eff_mem))
    m = cached.breakdown["m"]
    assert m == 4
    want = m * 2.0 * (dense + ex) / bw  # read the FP8 weight, write its FP8 transpose
    assert fresh.step_time_s - cached.step_time_s == pytest.approx(want, rel=1e-9)
    assert fresh.breakdown["eval_step"] == cached.breakdown["eval_step"]  # forward-only: no dgrad
    # BF16 runs keep no quantized copy: nothing to transpose
    b0 = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "bf16", **{**RUN, "fp8_attention": False})
    b1 = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "bf16", transpose_cache=False,
               **{**RUN, "fp8_attention": False})
    assert b1.step_time_s == b0.step_time_s


def test_tp_names_match_the_llm_graph():
    from tapeout.precision import get_precision
    from tapeout.workloads.llm import LLMStep, build_llm_graph

    g = build_llm_graph(load_llm("llama-2-70b"), LLMStep("prefill", 1, 1024, 0, get_precision("bf16"), 4, 1))
    names = {op.name for op in g.ops}
    assert set(TP_GEMMS) <= names and set(TP_COLLECTIVES) <= names


def test_bulk_slots_hide_the_dgrad_reduce_scatter_behind_the_weight_gradient_gemm(monkeypatch):
    import tapeout.perf.tp_overlap as tpo
    gemm, coll = _layer()
    ov = get_overlap("nemo-gpt3-fp8-h100-tp4")
    assert ov.bulk and ov.slot("fc1_dgrad")[0] == "bulk"
    ring = lambda g: max(g / (1 - 1 / 128), 0.25) + min(g / (1 - 1 / 128), 0.25) / 4 + g  # noqa: E731  AG + wgrad
    # TE's roles (BULK_SLOT_ROLES): the input all-gather beside the dgrad GEMM on the _dgrad slot's 4 SMs, the
    # reduce-scatter beside the wgrad GEMM on the _wgrad slot's 4 SMs (h100tp4mbs2.yaml)
    bulk = lambda g: max(g / (1 - 4 / 128), 0.25) + max(g / (1 - 4 / 128), 0.25)  # noqa: E731
    want = ring(0.74) + bulk(1.47) + ring(0.21) + bulk(0.26)
    assert region_time(gemm, coll, ov, 4, 128, True) == pytest.approx(want)
    monkeypatch.setattr(tpo, "BULK_SLOT_ROLES", False)  # the older reading: dgrad, then wgrad beside the reduce-scatter
    old = lambda g: g + max(g / (1 - 4 / 128), 0.25)  # noqa: E731
    assert region_time(gemm, coll, ov, 4, 128, True) == pytest.approx(ring(0.74) + old(1.47) + ring(0.21) + old(0.26))
    monkeypatch.setattr(tpo, "BULK_SLOT_ROLES", True)
    # LoRA has no weight-gradient GEMM: the bulk slots' reduce-scatters stay exposed
    lora_want = ring(0.74) - 0.74 + 1.47 + 0.25 + ring(0.21) - 0.21 + 0.26 + 0.25
    assert region_time(gemm, coll, ov, 4, 128, True, lora=True) == pytest.approx(lora_want)


def test_chunk_count_follows_the_slot_method():
    from tapeout.perf.tp_overlap import chunk_count
    assert chunk_count(("ring_exchange", 1, 0), 4) == 4  # one GEMM per ring step (split_overlap_ag)
    assert chunk_count(("pipeline", 24, 4), 4) == 4  # num_splits chunk GEMMs (split_overlap_rs)
    assert chunk_count(("pipeline", 16, 3), 8) == 3
    assert chunk_count(("bulk", 4, 0), 4) == 1  # bulk: the GEMM runs whole
    assert chunk_count(None, 4) == 1 and chunk_count(("ring_exchange", 1, 0), 1) == 1


def test_chunked_slots_pay_one_kernel_fixed_time_per_extra_chunk():
    # GEMM-bound slots (every collective shorter than its GEMM), no SMs taken: each overlapped GEMM run as
    # n chunk kernels adds exactly (n - 1) x the kernel's fixed time; the wgrad GEMM runs whole
    gemm = {"qkv_proj": 1.0, "o_proj": 1.0, "mlp_gate_up": 1.0, "mlp_down": 1.0}
    coll = {"attn_allreduce": TPComm.halves(0.2), "mlp_allreduce": TPComm.halves(0.2)}
    slots = (("qkv_fprop", "ring_exchange", 0, 0), ("proj_fprop", "pipeline", 0, 3), ("fc1_fprop", "bulk", 0, 0),
             ("fc2_fprop", "pipeline", 0, 2), ("fc2_dgrad", "ring_exchange", 0, 0), ("fc1_dgrad", "pipeline", 0, 5),
             ("proj_dgrad", "ring_exchange", 0, 0), ("qkv_dgrad", "pipeline", 0, 2))
    ov = TPOverlap("t", True, True, True, True, slots)
    k = 0.01
    # forward: qkv 4 chunks (+3k), proj 3 (+2k), fc1 bulk is a backward-only method: forward whole (+0), fc2 2 (+k)
    assert region_time(gemm, coll, ov, 4, 132, False, kernel_fixed=k) - region_time(gemm, coll, ov, 4, 132, False) \
        == pytest.approx(6 * k)
    # backward: fc2_dgrad 4 (+3k), fc1_dgrad 5 (+4k), proj_dgrad 4 (+3k), qkv_dgrad 2 (+k)
    assert region_time(gemm, coll, ov, 4, 132, True, kernel_fixed=k) - region_time(gemm, coll, ov, 4, 132, True) \
        == pytest.approx(11 * k)
    # communication-bound slot: the chunks' extra fixed time hides behind the collective while g' + extra < c
    big = {"attn_allreduce": TPComm.halves(10.0), "mlp_allreduce": TPComm.halves(10.0)}
    one = TPOverlap("q", True, False, False, True, (("qkv_fprop", "ring_exchange", 0, 0),))
    d = region_time(gemm, big, one, 4, 132, False, kernel_fixed=k) - region_time(gemm, big, one, 4, 132, False)
    assert d == pytest.approx(3 * k / 4)  # only the exposed chunk (min(g', c) / n) grows


def test_training_step_shows_the_chunk_launches():
    r = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "fp8", tp_overlap="nemo-lora-fp8-h100-tp4", **RUN)
    off = train("llama-2-70b", "h100-sxm", 8, 65536, 8192, "fp8", **RUN)
    assert r.breakdown["ub_chunk_launches"] > 0.0 and off.breakdown["ub_chunk_launches"] == 0.0
