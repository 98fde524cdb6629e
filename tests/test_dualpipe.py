"""DualPipe (DeepSeek-V3 report arXiv:2412.19437 Sec. 3.2.1, Table 2; github.com/deepseek-ai/DualPipe):
the Table 2 bubble and memory rules, the pair overlap, the input rules, and that overlapping the EP
all-to-all never prices more of it than 1F1B at the same layout."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.comm_contention import core_share
from tapeout.perf.dualpipe import dualpipe_bubble, dualpipe_rule, dualpipe_time, in_flight_chunks, overlapped_pair
from tapeout.perf.train_layout import TrainLayout, broken_rule, stage_layers
from tapeout.perf.train_memory import device_memory, device_params
from tapeout.perf.training import train
from tapeout.workloads.llm_config import load_llm

times = st.floats(0.0, 10.0, allow_nan=False)


def test_table2_bubble_by_hand():
    # PP 8: (8/2 - 1)(F&B + B - 3W) = 3 (F&B + B - 3W)
    assert dualpipe_bubble(8, 5.0, 2.0, 0.5) == pytest.approx(3 * (5.0 + 2.0 - 1.5))
    assert dualpipe_bubble(2, 5.0, 2.0, 0.5) == 0.0  # PP 2: the two directions fill each other
    # step = m F&B + bubble (Table 2 counts the bubble beyond m overlapped pairs)
    assert dualpipe_time(16, 40, 1.0, 0.6, 0.2) == pytest.approx(40 * 1.0 + 7 * (1.0 + 0.6 - 0.6))


@settings(max_examples=200, deadline=None)
@given(pp=st.integers(1, 32).map(lambda k: 2 * k), f=times, b=times, wfrac=st.floats(0, 0.5), ov=st.floats(0, 1))
def test_bubble_below_1f1b(pp, f, b, wfrac, ov):
    # any F&B between max(F, B) and F + B (overlap can only shorten the pair) gives a smaller bubble than
    # 1F1B's (PP - 1)(F + B): (PP/2 - 1)(F&B + B) <= (PP - 2)(F + B)
    fb = max(f, b) + ov * (f + b - max(f, b))
    assert dualpipe_bubble(pp, fb, b, wfrac * b) <= (pp - 1) * (f + b) + 1e-9


def test_pair_closed_forms():
    f = core_share(20, 132)  # the report's 20 of the H800's 132 SMs
    # communication-bound pair: the communication is the pair
    assert overlapped_pair(1.0, 2.0, 4.0, 4.0, f) == pytest.approx(8.0)
    # compute-bound pair: the compute plus what the communication's SMs took from it, f c
    assert overlapped_pair(5.0, 5.0, 1.0, 2.0, f) == pytest.approx(10.0 + f * 3.0)
    assert overlapped_pair(5.0, 5.0, 1.0, 2.0, 0.0) == pytest.approx(10.0)  # fully hidden


@settings(max_examples=200, deadline=None)
@given(gf=times, gb=times, cf=times, cb=times, f=st.floats(0, 0.49))
def test_pair_bounds(gf, gb, cf, cb, f):
    t = overlapped_pair(gf, gb, cf, cb, f)
    assert t >= max(gf + gb, cf + cb) - 1e-9  # neither side can shrink
    assert t <= gf + gb + cf + cb + 1e-9  # never worse than running them one after the other


def test_rules_refused_by_name():
    assert dualpipe_rule(16, 120) is None
    assert "even PP" in dualpipe_rule(15, 120)
    assert "VP must be 1" in dualpipe_rule(16, 120, vp=2)
    assert ">= 2 x PP = 32" in dualpipe_rule(16, 30)  # fewer than 2 PP micro-batches
    assert "even number of micro-batches" in dualpipe_rule(16, 33)
    cfg = load_llm("llama-3.1-8b")
    bad = broken_rule(cfg, TrainLayout(tp=1, pp=4, dp=8, schedule="zero-bubble"), 32, 256, 4096, 8)
    assert bad.startswith("schedule:")


def test_odd_pp_refused_by_train():
    with pytest.raises(TapeoutError, match="breaks rule dualpipe: DualPipe needs an even PP"):
        train("llama-3.1-8b", "h100-sxm", 24, 384 * 4096, seq_len=4096, pp=3, schedule="dualpipe")


def test_memory_rule():
    # Table 2: parameters 2x (device d holds stages d and PP-1-d), PP + 1 chunks of activations in flight
    cfg = load_llm("llama-3.1-8b")
    pp, m = 4, 32
    layers = stage_layers(cfg.num_hidden_layers, pp)
    one, two = (TrainLayout(tp=1, pp=pp, dp=8, zero=1, recompute="none", schedule=s) for s in ("1f1b", "dualpipe"))
    a = device_memory(cfg, one, layers, m, 4096)
    b = device_memory(cfg, two, layers, m, 4096)
    d = b["device"]
    mirror = pp - 1 - d
    held = sum(device_params(cfg, two, layers[k], k == 0, k == pp - 1)[0] for k in (d, mirror))
    assert b["mem_weights"] == pytest.approx(2.0 * held)  # BF16 weights of both stages
    # ZeRO-1: each stage's optimizer states shard over the 2 x DP ranks holding a copy: per chip as 1F1B's
    # for a stage of the same size
    assert b["mem_optimizer"] == pytest.approx(12.0 * held / (2 * 8))
    # activations: PP + 1 chunks of the device's stage against 1F1B's first device's PP
    assert in_flight_chunks(pp) == pp + 1
    assert a["device"] == 0
    assert b["act"] / layers[d] == pytest.approx(a["act"] / layers[0] * (pp + 1) / pp)


@pytest.mark.parametrize("model,chip,n,tokens,split", [
    ("deepseek-v3", "h800-sxm", 2048, 62914560, dict(tp=1, pp=16, ep=64, cp=1, vp=1, recompute="full")),
    ("mixtral-8x7b", "h100-sxm", 256, 4194304, dict(tp=1, pp=4, ep=8, cp=1, vp=1, recompute="full")),
])
def test_dualpipe_never_exposes_more_all_to_all(model, chip, n, tokens, split):
    res = {s: train(model, chip, n, tokens, seq_len=4096, precision="fp8" if model == "deepseek-v3" else "bf16",
                    schedule=s, **split) for s in ("1f1b", "dualpipe")}
    one, dual = (res[s].breakdown["exposed_comm_s"]["ep_all_to_all"] for s in ("1f1b", "dualpipe"))
    assert one > 0
    assert 0 <= dual <= one
    assert res["dualpipe"].layout["schedule"] == "dualpipe"
    # the pair is never shorter than its compute, nor than its communication
    dp = res["dualpipe"].breakdown["dualpipe"]
    F, B = res["dualpipe"].breakdown["F"], res["dualpipe"].breakdown["B"]
    assert dp["F&B"] >= max(F + B - dp["a2a_fwd_chunk"] - dp["a2a_bwd_chunk"], dp["a2a_fwd_chunk"] + dp["a2a_bwd_chunk"]) - 1e-12
    assert dp["F&B"] <= F + B + 1e-9 + 2 * res["dualpipe"].breakdown["p2p"]


def test_cli_flag_refuses_odd_pp(capsys):
    from tapeout.cli import main

    base = ["train", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "-n", "24", "--seq-len", "4096",
            "--global-batch-tokens", str(384 * 4096), "--pipeline-schedule", "dualpipe"]
    with pytest.raises(SystemExit) as e:
        main(base + ["--pp", "3"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "DualPipe needs an even PP" in err and "schedule=dualpipe" in err and "Traceback" not in err
