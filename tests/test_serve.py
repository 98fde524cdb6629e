"""LLM inference on one node: memory fit, parallelism, CLI contract, bad input."""

import json

import pytest

from tapeout.cli import main
from tapeout.errors import TapeoutError
from tapeout.perf.llm import kv_bytes_per_token_per_chip, max_batch, serve, weight_bytes_per_chip
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm


def test_weights_and_kv_fit_in_memory():
    r = serve("llama-2-70b", "h100-sxm", 8, "fp8", 1024, 294)
    assert r.memory_gib_per_chip <= r.capacity_gib_per_chip
    assert r.output_tokens_per_s > 0 and r.ttft_s > 0 and r.tpot_s > 0
    assert r.tp * r.pp * r.dp == 8  # the layout covers every chip


def test_70b_bf16_does_not_fit_on_one_h100():
    with pytest.raises(TapeoutError, match="does not fit"):
        serve("llama-2-70b", "h100-sxm", 1, "bf16", 1024, 256)


def test_weight_shard_closed_form():
    cfg = load_llm("llama-2-70b")
    assert weight_bytes_per_chip(cfg, get_precision("fp8"), 2, 1) == pytest.approx(cfg.param_count() / 2)


def test_kv_replicates_when_tp_exceeds_kv_heads():
    cfg = load_llm("llama-3.1-8b")  # 8 KV heads
    pr = get_precision("bf16")
    assert kv_bytes_per_token_per_chip(cfg, pr, 16) == kv_bytes_per_token_per_chip(cfg, pr, 8)
    assert kv_bytes_per_token_per_chip(cfg, pr, 2) == cfg.kv_bytes_per_token(2.0) / 2


def test_max_batch_monotone_in_capacity():
    cfg = load_llm("llama-3.1-8b")
    pr = get_precision("bf16")
    assert max_batch(cfg, pr, 1, 1, 80e9, 2048) < max_batch(cfg, pr, 1, 1, 141e9, 2048)


def test_more_bandwidth_chip_serves_faster():
    # H200 is an H100 with more and faster HBM: offline throughput must not drop
    h100 = serve("llama-3.1-8b", "h100-sxm", 1, "fp8", 512, 256)
    h200 = serve("llama-3.1-8b", "h200", 1, "fp8", 512, 256)
    assert h200.output_tokens_per_s >= h100.output_tokens_per_s


def test_precision_the_chip_lacks():
    with pytest.raises(TapeoutError, match="fp8"):
        serve("llama-3.1-8b", "a100-sxm", 1, "fp8", 512, 128)


def test_batch_too_large_names_batch():
    with pytest.raises(TapeoutError, match="batch"):
        serve("llama-2-70b", "h100-sxm", 8, "fp8", 1024, 294, batch=100000)


def test_moe_and_mla_models_serve():
    r = serve("mixtral-8x7b", "h100-sxm", 8, "fp8", 1024, 256)
    assert r.output_tokens_per_s > 0
    r = serve("deepseek-v3", "h200", 8, "fp8", 1024, 256)
    assert r.output_tokens_per_s > 0 and r.tp * r.pp == 8  # 671 GB of FP8 weights need all 8 x 141 GB


def _run(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_cli_serve_json_keys(capsys):
    main(["serve", "--model", "llama-2-70b", "--chip", "h100-sxm", "--num-chips", "8", "--precision", "fp8",
          "--input-len", "1024", "--output-len", "294", "--json"])
    d = json.loads(capsys.readouterr().out)
    for k in ("output_tokens_per_s", "ttft_s", "tpot_s", "batch_size", "parallelism", "bound"):
        assert k in d
    assert d["output_tokens_per_s"] > 0


@pytest.mark.parametrize("args,needle", [
    (["serve", "--model", "llama-2-70b", "--chip", "h10", "--num-chips", "8"], "h100-sxm"),
    (["serve", "--model", "llama-9", "--chip", "h100-sxm"], "unknown model"),
    (["serve", "--model", "llama-2-7b", "--chip", "h100-sxm", "--input-len", "0"], "--input-len"),
    (["serve", "--model", "llama-2-7b", "--chip", "h100-sxm", "--precision", "fp7"], "precision"),
    (["show", "tpu-v99"], "unknown chip"),
])
def test_cli_bad_input_one_line_exit_2(args, needle, capsys):
    code, out, err = _run(args, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_explain_shares_sum_to_one(capsys):
    main(["explain", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--precision", "bf16", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert sum(r["share"] for r in d["ops"]) == pytest.approx(1.0, rel=1e-6)
    assert {"op", "gflops", "dram_mb", "bound", "time_ms", "energy_j"} <= set(d["ops"][0])


def test_cli_chips_lists_twenty(capsys):
    main(["chips", "--json"])
    assert len(json.loads(capsys.readouterr().out)) >= 20
