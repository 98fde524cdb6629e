"""trtllm-bench's own engine settings (perf/bench_engine.py): the closed form of TensorRT-LLM's
tensorrt_llm/bench/build/tuning.py at hand-computed points, and the cap's place in serve_at_scale."""

import math

import numpy as np
import pytest

from tapeout.perf import bench_engine as be
from tapeout.perf.stacks import engine_settings, stack, stack_for_software
from tapeout.precision import Precision, get_precision
from tapeout.workloads.llm_config import load_llm


def _gib(chip: str) -> float:
    """The chip's memory as serve_at_scale hands it to the heuristic (the catalog capacity, GiB)."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.mlperf import engine_params

    return float(np.min(engine_params(get_chip(chip), None).mem_capacity)) / 2 ** 30


@pytest.mark.parametrize("requests, isl, osl, pp, want", [
    (1001.0, 128, 2048, 1, (1024, 2048)),   # 128 x ceil(1001/128) = 1024; 1001 x 1.0625 = 1064 tokens -> floor 2048
    (871.0, 500, 2000, 1, (896, 2048)),     # 128 x 7; 871 x 1.25 = 1089 -> 2048
    (40.0, 128, 128, 1, (64, 2048)),        # below 256: max(64, 32 x 2) = 64
    (200.0, 5000, 500, 1, (224, 2304)),     # 32 x 7 = 224; 200 x 11 = 2200 -> 256 x 9 = 2304
    (9000.0, 2048, 128, 1, (4096, 32768)),  # min(9000, 4096) = 4096 -> 256 x 16; tokens capped at 32768
    (3000.0, 128, 128, 2, (1536, 3072)),    # / pp 2 = 1500 -> 256 x 6 = 1536; 1500 x 2 = 3000 -> 256 x 12 = 3072
    (1500.0, 1000, 1000, 1, (1536, 3072)),  # 256 x 6; 3000 -> 3072
    (3000.0, 1000, 1000, 1, (3072, 6144)),  # 256 x 12; 6000 in [4096, 8192) -> 512 x 12 = 6144
])
def test_finetune_setting_closed_form(requests, isl, osl, pp, want):
    assert be.finetune_setting(requests, isl, osl, pp) == want


def test_llama_8b_fp8_h100_by_hand():
    """calc_engine_setting for Llama-3.1-8B FP8 (FP8 KV), one 80 GiB GPU, ISL = OSL = 1024, by hand: 2 x 32 layers
    x 8 KV heads x 128 x 1 B = 65,536 B per token; weights = params x 1 B."""
    cfg = load_llm("llama-3.1-8b")
    assert (cfg.num_hidden_layers, cfg.kv_heads, cfg.hd) == (32, 8, 128)
    engine_gib = cfg.param_count() / 2 ** 30
    requests = 0.95 * (80.0 - engine_gib) / (65536 / 2 ** 30 * 2048)
    assert 500 < requests < 600  # ~ 527: 128 x ceil(r / 128) = 640
    want = (128 * math.ceil(requests / 128), max(2048, 256 * math.ceil(requests * 2 / 256)))
    assert be.trtllm_bench_settings(cfg, get_precision("fp8"), 80.0, 1, 1, 1024, 1024) == want == (640, 2048)


def test_tp_beyond_kv_heads_counts_one_head_per_gpu():
    """adjusted_num_kv_heads = max(tp, kv heads): at TP 16 > 8 KV heads each GPU holds one head's KV (twice the KV
    of TP 8 per token, over twice the memory)."""
    cfg, pr = load_llm("llama-3.1-8b"), get_precision("fp8")
    a = be.trtllm_bench_settings(cfg, pr, 80.0, 8, 1, 128, 128)
    b = be.trtllm_bench_settings(cfg, pr, 80.0, 16, 1, 128, 128)
    assert a[0] == b[0] == 4096  # both past the 4,096 ceiling


def test_nvfp4_checkpoint_counts_packed_elements():
    """A ModelOpt NVFP4 checkpoint's param_count: packed uint8 pairs + FP8 block scales per linear weight, so the
    heuristic's engine size (x 0.5 B) is well under the real NVFP4 bytes (x 0.5625 B per parameter)."""
    cfg = load_llm("llama-3.1-405b")
    emb = cfg.vocab_size * cfg.hidden_size * 2
    assert be.counted_params(cfg, "nvfp4") == pytest.approx(emb + (cfg.param_count() - emb) * 9 / 16)
    assert be.counted_params(cfg, "fp8") == cfg.param_count()


def test_untuned_format_and_switch_off_give_no_cap():
    cfg = load_llm("llama-3.1-8b")
    w4 = Precision("w4", "int4", "bf16", "bf16", "bf16")
    assert be.trtllm_bench_settings(cfg, w4, 80.0, 1, 1, 128, 128) is None  # not in build.py TUNED_QUANTS
    assert be.engine_max_batch("trtllm-bench", cfg, get_precision("fp8"), 80.0, 1, 1, 128, 128, on=False) is None
    assert be.engine_max_batch(None, cfg, get_precision("fp8"), 80.0, 1, 1, 128, 128, on=True) is None
    with pytest.raises(ValueError, match="engine_settings"):
        be.engine_max_batch("sglang-bench", cfg, get_precision("fp8"), 80.0, 1, 1, 128, 128, on=True)


def test_stack_matching_and_inheritance():
    assert stack_for_software("TensorRT-LLM (trtllm-bench, PyTorch backend, v1.0-era docs)") == "trtllm-bench"
    assert stack_for_software("TensorRT 10.2, TensorRT-LLM 0.12") == "tensorrt-llm-0.x"
    assert engine_settings("trtllm-bench") == "trtllm-bench" and engine_settings(None) is None
    base, bench = stack("tensorrt-llm-0.x"), stack("trtllm-bench")
    assert all(bench[k] == v for k, v in base.items() if k != "software_match")


def test_cap_never_raises_the_batch_and_off_path_unchanged(monkeypatch):
    """The engine cap only bounds the batch; switched off, the trtllm-bench stack serves as tensorrt-llm-0.x."""
    from tapeout.perf.mlperf import serve_at_scale

    args = ("llama-3.1-70b", "h100-sxm", 2, "fp8", 1000.0, 2000.0, "offline", None, None)
    base = serve_at_scale(*args, tp=2, stack="tensorrt-llm-0.x")
    monkeypatch.setattr(be, "TRTLLM_BENCH_ENGINE_SETTINGS", False)
    off = serve_at_scale(*args, tp=2, stack="trtllm-bench")
    monkeypatch.setattr(be, "TRTLLM_BENCH_ENGINE_SETTINGS", True)
    on = serve_at_scale(*args, tp=2, stack="trtllm-bench")
    assert (off.batch_size, off.output_tokens_per_s) == (base.batch_size, base.output_tokens_per_s)
    cap = be.trtllm_bench_settings(load_llm("llama-3.1-70b"), get_precision("fp8"), _gib("h100-sxm"), 2, 1, 1000, 2000)[0]
    assert on.batch_size <= min(off.batch_size, cap)
    # at 128 / 2048 the cap binds (the model's own batch is above it): the batch falls to it, no further
    args = ("llama-3.1-70b", "h200-sxm", 1, "fp8", 128.0, 2048.0, "offline", None, None)
    monkeypatch.setattr(be, "TRTLLM_BENCH_ENGINE_SETTINGS", False)
    off = serve_at_scale(*args, tp=1, stack="trtllm-bench")
    monkeypatch.setattr(be, "TRTLLM_BENCH_ENGINE_SETTINGS", True)
    on = serve_at_scale(*args, tp=1, stack="trtllm-bench")
    cap = be.trtllm_bench_settings(load_llm("llama-3.1-70b"), get_precision("fp8"), _gib("h200-sxm"), 1, 1, 128, 2048)[0]
    assert on.batch_size <= cap < off.batch_size


def test_moe_cap_holds_per_attention_dp_rank(monkeypatch):
    """MoE models run with attention DP under this stack: each of the TP ranks schedules up to max_batch_size, so
    the replica's cap is TP x that; a dense model's is max_batch_size itself."""
    from tapeout.perf.mlperf import serve_at_scale
    from tapeout.perf.stacks import engine_attention_dp_moe

    assert engine_attention_dp_moe("trtllm-bench") and not engine_attention_dp_moe("tensorrt-llm-0.x")
    monkeypatch.setattr(be, "TRTLLM_BENCH_ENGINE_SETTINGS", True)
    r = serve_at_scale("qwen3-235b-a22b", "h100-sxm", 8, "fp8", 128.0, 4096.0, "offline", None, None, tp=8,
                       stack="trtllm-bench")
    per_rank = be.trtllm_bench_settings(load_llm("qwen3-235b-a22b"), get_precision("fp8"), _gib("h100-sxm"), 8, 1, 128, 4096)[0]
    assert r.batch_size > per_rank  # not capped at one rank's max_batch_size
    assert all(c.get("engine_max_batch") == 8 * per_rank for c in r.candidates if c["tp"] == 8 and c["pp"] == 1)
