"""Megatron-Core's partial recompute, `--recompute-method block --recompute-num-layers k` (recompute
"block:k"): the first k layers of each model chunk rerun their forward in the backward and keep only their
input, the chunk's other layers keep all their activations (NVIDIA/Megatron-LM
megatron/core/transformer/transformer_block.py `_checkpointed_forward`, perf/train_layout.BLOCK)."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.train_layout import (TrainLayout, block_layers, broken_rule, check_recompute, chunk_layers,
                                       recompute_split, stage_layers)
from tapeout.perf.train_memory import activation_bytes_per_layer, device_memory, in_flight_passes
from tapeout.perf.training import train
from tapeout.workloads.llm_config import LLMConfig, load_llm

ARGS = ("llama-3.1-405b", "h100-sxm", 16384, 16 * 2048 * 8192, 8192, "bf16")


def small(L: int) -> LLMConfig:
    return LLMConfig(hidden_size=1024, num_hidden_layers=L, num_attention_heads=8, intermediate_size=4096,
                     vocab_size=32000)


def test_parse_and_refuse():
    assert block_layers("block:3") == 3 and block_layers("full") is None and block_layers("block:x") is None
    check_recompute("block:2")
    check_recompute("full")
    for bad in ("block:0", "block:", "block:-1", "partial", "block:1.5"):
        with pytest.raises(TapeoutError, match="--recompute must be one of .* block:k"):
            check_recompute(bad)


def test_split_counts_the_first_k_layers_of_each_chunk():
    # 405B on PP16 x V4: 64 chunks of 2 layers, the first and the last chunk 1 (Llama 3's split)
    assert chunk_layers(126, 16, 4)[:2] == [1, 2] and chunk_layers(126, 16, 4)[-1] == 1
    lay = TrainLayout(tp=8, pp=16, dp=128, vp=4, recompute="block:1")
    kind, redo = recompute_split(lay, 126)
    assert kind == "full" and redo == [4] * 16  # one layer of each of the device's 4 chunks
    kind, redo = recompute_split(TrainLayout(pp=16, vp=4, recompute="selective"), 126)
    assert kind == "selective" and redo == stage_layers(126, 16, 4)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(4, 24))
def test_memory_between_none_and_full_and_monotone_in_k(pp, vp, m, L):
    if pp * vp > L:
        return
    cfg = small(L)
    n = max(chunk_layers(L, pp, vp))
    m = max(m, pp if vp > 1 else 1)

    def act(rc):
        lay = TrainLayout(tp=2, pp=pp, dp=1, vp=vp, recompute=rc)
        return device_memory(cfg, lay, stage_layers(L, pp, vp), m, 2048)["mem"]
    mems = [act(f"block:{k}") for k in range(n + 1)]
    assert mems[0] == pytest.approx(act("none"), rel=1e-12)  # k = 0: nothing recomputed
    assert mems[n] == pytest.approx(act("full"), rel=1e-12)  # k = layers per chunk: full recompute
    assert all(a >= b for a, b in zip(mems, mems[1:]))  # each recomputed layer keeps its input only


def test_memory_closed_form_at_metas_layout_v4():
    # TP8 PP16 V4 DP128, m = 16 = PP: every forward first, 16 passes over each device's 8 layers;
    # block:1 recomputes one layer per chunk: 4 keep their input (2 s h / TP bytes), 4 keep everything
    cfg = load_llm("llama-3.1-405b")
    lay = TrainLayout(tp=8, pp=16, dp=128, vp=4, recompute="block:1")
    mem = device_memory(cfg, lay, stage_layers(126, 16, 4), m=16, s_local=8192)
    kept = 31.75 * 8192 * 16384 / 8  # Korthikanti count, Llama shapes, SP over TP8 (test_train_pipeline_memory)
    inp = activation_bytes_per_layer(8192, 1, 16384, 128, 8, "full")
    assert inp == 2 * 8192 * 16384 / 8
    d = mem["device"]
    assert stage_layers(126, 16, 4)[d] == 8 and in_flight_passes(16, 4, 16, d) == 16
    assert mem["act"] == pytest.approx(16 * (4 * inp + 4 * kept), rel=1e-9)


def test_step_is_linear_in_k_on_one_device():
    # one pipeline device, one chunk of 8 layers: the backward reruns k of the 8 layers' forward
    cfg = small(8)
    B = {}
    for rc in ("none", "full") + tuple(f"block:{k}" for k in range(1, 8)):
        r = train(cfg, "h100-sxm", 8, 64 * 2048, 2048, "bf16", layout=TrainLayout(tp=8, pp=1, dp=1, recompute=rc))
        B[rc] = r.breakdown["B"]
        assert r.breakdown["F"] > 0
    for k in range(1, 8):
        assert B[f"block:{k}"] == pytest.approx(B["none"] + k / 8 * (B["full"] - B["none"]), rel=1e-9)
    assert all(B[f"block:{k}"] < B[f"block:{k + 1}"] for k in range(1, 7))


def test_block_k_must_be_below_the_layers_per_chunk():
    cfg = load_llm("llama-3.1-405b")
    ok = TrainLayout(tp=8, pp=16, dp=128, vp=4, recompute="block:1")
    assert broken_rule(cfg, ok, 16384, 2048, 8192, 8) is None
    bad = broken_rule(cfg, TrainLayout(tp=8, pp=16, dp=128, vp=4, recompute="block:2"), 16384, 2048, 8192, 8)
    assert bad.startswith("recompute:") and "2 layers per chunk" in bad and "use full" in bad


def test_search_takes_the_smallest_k_that_fits_instead_of_full():
    # Meta's TP8 PP16 CP1 (Llama 3 Table 4): no recompute does not fit (81.6 GiB of 68.1, issue-28la)
    r = train(*ARGS, tp=8, pp=16, cp=1)
    lay = TrainLayout(**r.layout)
    k = block_layers(lay.recompute)
    assert k is not None and 1 <= k < max(chunk_layers(126, lay.pp, lay.vp))
    usable = r.breakdown["memory_reserve"]["usable_gib"]
    assert r.memory_gib_per_chip <= usable
    if k > 1:  # the smallest k that fits
        with pytest.raises(TapeoutError):
            train(*ARGS, layout=TrainLayout(**{**r.layout, "recompute": f"block:{k - 1}"}))
    full = train(*ARGS, layout=TrainLayout(**{**r.layout, "recompute": "full"}))
    assert r.step_time_s < full.step_time_s and r.memory_gib_per_chip > full.memory_gib_per_chip
    d = int(r.breakdown["slowest_device"])
    assert 0 < r.breakdown["recomputed_layers"][d] < r.breakdown["stage_layers"][d]
    assert any(n.startswith(f"recompute {lay.recompute} (searched)") for n in r.notes)


def test_cli_pin_and_refusal(capsys):
    from tapeout.cli import main
    base = ["train", "--model", "llama-3.1-405b", "--chip", "h100-sxm", "-n", "16384", "--tp", "8", "--pp", "16",
            "--cp", "1", "--vp", "4", "--seq-len", "8192", "--global-batch-tokens", str(2048 * 8192)]
    try:
        main(base + ["--recompute", "block:1", "--json"])
    except SystemExit as e:
        assert e.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["layout"]["recompute"] == "block:1" and "recompute=block:1" in out["parallelism"]
    for bad, says in (("block:two", "--recompute must be one of"), ("block:2", "recompute: block:2")):
        with pytest.raises(SystemExit) as e:
            main(base + ["--recompute", bad])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err


def test_eager_host_reissues_the_recomputed_layers_forward_only():
    # PP 1, one chunk of 32 layers: the backward re-issues the forward calls of k of the 32 layers
    from tapeout.perf.train_lora import LoraAdapters
    base = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=16 * 8192, seq_len=8192,
                precision="fp8", lora=LoraAdapters(16), eager_layer="mcore-te-gpt")
    bwd = {rc: train(layout=TrainLayout(tp=4, pp=1, dp=16, zero=0, recompute=rc), **base)
           .breakdown["host_issue"]["cpu_per_layer_bwd_ms"] for rc in ("none", "full", "block:8")}
    assert bwd["none"] < bwd["block:8"] < bwd["full"]
    assert bwd["block:8"] == pytest.approx(bwd["none"] + 8 / 32 * (bwd["full"] - bwd["none"]), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(4, 24), st.floats(0.0, 1.0))
def test_twin_is_the_smallest_fitting_k_and_full_only_when_none_fits(pp, vp, L, where):
    # usable memory anywhere between full's and none's: the twin is block:k with k the smallest that fits,
    # or None only when no k below the layers per chunk fits (then the search keeps full)
    from tapeout.perf.training import _block_twin
    if pp * vp > L:
        return
    cfg = small(L)
    m = 2 * pp

    def mem_of(lay):
        return device_memory(cfg, lay, stage_layers(L, pp, vp), m, 2048)["mem"]
    full = TrainLayout(tp=2, pp=pp, dp=1, vp=vp, recompute="full")
    lo, hi = mem_of(full), mem_of(TrainLayout(tp=2, pp=pp, dp=1, vp=vp, recompute="none"))
    usable = lo + where * (hi - lo) * 0.999
    twin = _block_twin(full, L, mem_of, usable)
    n = max(chunk_layers(L, pp, vp))
    fitting = [k for k in range(1, n) if mem_of(TrainLayout(tp=2, pp=pp, dp=1, vp=vp, recompute=f"block:{k}")) <= usable]
    if fitting:
        assert twin is not None and twin.recompute == f"block:{min(fitting)}"
    else:
        assert twin is None
