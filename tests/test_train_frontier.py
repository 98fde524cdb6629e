"""Frontier-scale training layouts: uneven/interleaved pipelines, EP beyond TP, the layout
rules and their errors, and feasibility as the chip count grows."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.train_layout import TrainLayout, broken_rule, stage_layers
from tapeout.perf.training import pipeline_bubble, train
from tapeout.workloads.llm_config import load_llm


def test_llama3_stage_split_matches_the_paper():
    # Llama 3 (arXiv:2407.21783 Sec. 3.3.2): 126 layers on PP16, first and last stage one layer fewer
    assert stage_layers(126, 16) == [7] + [8] * 14 + [7]


@given(st.integers(1, 200), st.integers(1, 32), st.integers(1, 4))
def test_stage_split_conserves_layers_and_bounds_the_slowest(L, pp, vp):
    if pp * vp > L:
        return
    s = stage_layers(L, pp, vp)
    assert sum(s) == L and len(s) == pp and min(s) >= 0
    assert max(s) <= -(-L // (pp * vp)) * vp  # no device holds more than ceil(L / (pp vp)) per virtual stage


def test_interleaving_divides_the_bubble_by_v():
    # Narayanan et al. SC'21: bubble time / ideal time = (p - 1) / (v m)
    p, m, v = 16, 64, 4
    b = pipeline_bubble(p, m, v)
    assert b / (1 - b) == pytest.approx((p - 1) / (v * m))


def test_llama_405b_on_16k_h100_paper_layout_fits_in_published_mfu_band():
    # Llama 3 paper (arXiv:2407.21783 Table 4): TP8 CP1 PP16 DP128, 16M tokens, 38-43% BF16 MFU,
    # with an interleaved schedule; the band is 30-50%
    r = train("llama-3.1-405b", "h100-sxm", 16384, 16 * 2 ** 20, 8192, "bf16", tp=8, pp=16, cp=1)
    assert r.layout["tp"] == 8 and r.layout["pp"] == 16 and r.layout["dp"] == 128
    assert 0.30 <= r.mfu <= 0.50
    bd = r.breakdown
    assert sum(bd["stage_layers"]) == 126 and max(bd["stage_layers"]) == 8  # ceil(126 / 16)
    for k in ("tp_allreduce", "pp_send_recv", "dp_reduce_scatter", "dp_all_gather", "ep_all_to_all", "cp_kv_ring"):
        assert bd["exposed_comm_s"][k] >= 0


def test_deepseek_v3_on_2048_h800_fits_with_ep_beyond_tp():
    # DeepSeek-V3 report (arXiv:2412.19437 Sec. 3.2): PP16, EP64 over 8 nodes, ZeRO-1 DP, no TP
    r = train("deepseek-v3", "h800-sxm", 2048, 15360 * 4096, 4096, "bf16", tp=1, pp=16, ep=64, cp=1)
    assert r.layout["ep"] == 64 > r.layout["tp"]
    assert r.breakdown["exposed_comm_s"]["ep_all_to_all"] > 0  # all-to-all leaves the 8-GPU node
    assert r.memory_gib_per_chip <= r.capacity_gib_per_chip


@pytest.mark.parametrize("n", [3584, 10752])
def test_gpt3_fits_on_mlperf_system_sizes(n):
    r = train("gpt3-175b", "h100-sxm", n, 2688 * 2048, 2048, "fp8")  # MLPerf v3.x global batch 2688 at these sizes
    assert r.layout["tp"] * r.layout["pp"] * r.layout["dp"] * r.layout["cp"] == n


def test_gpt3_fits_at_3584_with_1536_batch_through_uneven_stages():
    # 3584 = 512 x 7: a GBS of 1536 sequences only splits with PP a multiple of 7, which 96 layers do not divide
    r = train("gpt3-175b", "h100-sxm", 3584, 1536 * 2048, 2048, "bf16")
    assert r.layout["pp"] % 7 == 0


def test_ep_must_divide_the_folded_ranks():
    cfg = load_llm("deepseek-v3")
    lay = TrainLayout(tp=1, pp=16, dp=8, ep=64)
    assert broken_rule(cfg, lay, 128, 1024, 4096, 8).startswith("experts")
    assert broken_rule(cfg, TrainLayout(tp=1, pp=16, dp=128, ep=64), 2048, 1024, 4096, 8) is None


def test_bad_layout_names_the_rule_and_nearest_layouts():
    with pytest.raises(TapeoutError) as e:
        train("llama-3.1-8b", "h100-sxm", 64, 512 * 4096, 4096, "bf16", tp=3)
    msg = str(e.value)
    assert "rule heads" in msg and "nearest valid layouts" in msg
    with pytest.raises(TapeoutError) as e:
        train("llama-3.1-8b", "h100-sxm", 64, 100 * 4096, 4096, "bf16", tp=8, pp=1, cp=1)  # DP 8 does not divide 100
    assert "rule batch" in str(e.value)


@pytest.mark.parametrize("gbt", [float("inf"), 0.0, -5.0, float("nan")])
def test_nonfinite_or_nonpositive_batch_is_an_error(gbt):
    with pytest.raises(TapeoutError, match="global_batch_tokens"):
        train("llama-3.1-8b", "h100-sxm", 8, gbt, 2048, "bf16")


@settings(max_examples=12, deadline=None)
@given(st.integers(8, 96), st.integers(1, 64))
def test_feasibility_monotonic_in_chip_count_or_says_why(n, extra):
    """More chips never turns a fitting job into a non-fitting one unless the error names the
    batch/chip-count rule (the global batch cannot be split over the new data-parallel sizes)."""
    kw = dict(model="llama-2-7b", chip="h100-sxm", global_batch_tokens=96 * 4096, seq_len=4096, precision="bf16")
    try:
        train(num_chips=n, **kw)
    except TapeoutError:
        return
    try:
        train(num_chips=n + extra, **kw)
    except TapeoutError as e:
        assert "rule batch" in str(e) or "rule chips" in str(e) or "rule interleave" in str(e)


def test_train_json_reports_layout_bubble_comm_memory_mfu(capsys):
    from tapeout.cli import main

    main(["train", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--num-chips", "16", "--global-batch-tokens",
          str(64 * 4096), "--seq-len", "4096", "--pp", "2", "--json"])
    d = json.loads(capsys.readouterr().out)
    for k in ("tp", "pp", "vp", "cp", "ep", "dp", "zero"):
        assert k in d["layout"]
    assert 0 < d["breakdown"]["bubble"] < 1 and d["breakdown"]["exposed_comm_s"]
    assert 0 < d["memory_gib_per_chip"] <= d["capacity_gib_per_chip"] and 0 < d["mfu"] < 1
