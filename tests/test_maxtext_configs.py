"""MaxText dense configs by their dimensions (data/models/maxtext/dense_configs.yaml), the rows that
quote MaxText's throughput tables, hybrid sharded data parallelism (`shard`), and the DeepSeek-V3
row that states its EP > TP layout."""

import csv
import math
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _cli import assert_clean, run_cli
from tapeout.errors import TapeoutError
from tapeout.perf.training import train
from tapeout.validation.train_rows import map_row
from tapeout.workloads.maxtext import config_names, maxtext_run

# MaxText/configs/base.yml (google/maxtext 01c78bb): the scale-1 model
BASE = {"hidden_size": 2048, "num_attention_heads": 16, "intermediate_size": 7168, "num_hidden_layers": 16}
SCALES = {"v5p/128b": 128, "v5e/16b": 16, "v5e/32b": 32, "v5e/64b": 64}


def _maxtext_scales(scale: int) -> tuple[int, int, int, int]:
    """pyconfig.get_individual_scales: (emb, heads, mlp, layers) exponents of 2."""
    b, r = divmod(int(math.log2(scale)), 3)
    heads = b + (r > 0)
    return b + (r > 1), heads, heads, b


@pytest.mark.parametrize("short,scale", SCALES.items())
def test_dims_follow_maxtext_global_parameter_scale(short, scale):
    cfg, run = maxtext_run(f"MaxText/configs/{short}.sh")
    e, h, m, l = _maxtext_scales(scale)
    assert cfg.hidden_size == BASE["hidden_size"] * 2 ** e
    assert cfg.num_attention_heads == cfg.kv_heads == BASE["num_attention_heads"] * 2 ** h
    assert cfg.intermediate_size == BASE["intermediate_size"] * 2 ** m
    assert cfg.num_hidden_layers == BASE["num_hidden_layers"] * 2 ** l
    assert cfg.hd == 128 and cfg.vocab_size == 32000 and cfg.mlp_mats == 3 and not cfg.tie_word_embeddings


@pytest.mark.parametrize("short,scale", SCALES.items())
def test_parameter_count_closed_form_and_nominal_size(short, scale):
    """N = 2 V h (untied) + L (4 h a d + 3 h f + 2 h) + h, and the script's nominal size ("16B
    parameter model") within 3%."""
    cfg, _ = maxtext_run(f"MaxText/configs/{short}.sh")
    h, a, d, f, L, V = cfg.hidden_size, cfg.num_attention_heads, 128, cfg.intermediate_size, cfg.num_hidden_layers, 32000
    n = 2 * V * h + L * (4 * h * a * d + 3 * h * f + 2 * h) + h
    assert cfg.param_count() == n
    assert abs(n / (scale * 1e9) - 1) < 0.03


def test_every_config_names_its_source_and_unknown_script_is_one_line():
    for name in config_names():
        _, run = maxtext_run(name)
        assert run["source"].startswith("https://github.com/google/maxtext/blob/") and name in run["source"]
    with pytest.raises(TapeoutError, match="MaxText config"):
        maxtext_run("MaxText/configs/v5e/7b.sh")


def _rows(ids):
    path = resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv")
    with path.open() as f:
        return {r["id"]: r for r in csv.DictReader(f) if r["id"] in ids}


def test_maxtext_rows_run_the_script_mesh():
    """TP = ici_tensor_parallelism, FSDP inside each slice, slices as DCN data-parallel replicas;
    one micro-batch of per_device_batch x TP sequences per data-parallel rank."""
    rows = _rows({"PUB-0514", "PUB-0541"})
    v5p = map_row(rows["PUB-0514"])  # 2x v5p-256 = 256 chips, TP8 -> 16-way FSDP per slice
    assert "TP8" in v5p.detail["parallelism"] and "mbs8" in v5p.detail["parallelism"]
    assert "ZeRO-3/shard16" in v5p.detail["parallelism"] and "recompute=dots" in v5p.detail["parallelism"]  # remat_policy minimal
    v5e = map_row(rows["PUB-0541"])  # 16x v5e-256: FSDP over 256 chips, 16 replicas
    assert "DP4096 mbs6 ZeRO-3/shard256 recompute=full" in v5e.detail["parallelism"]
    for p in (v5p, v5e):
        assert p.low <= p.predicted <= p.high and p.detail["measures"] == "throughput"


def test_deepseek_v3_row_runs_its_ep32_tp1_layout():
    p = map_row(_rows({"PUB-0473"})["PUB-0473"])
    lay = p.detail["parallelism"]
    assert lay.startswith("TP1 PP2(v4) DP128") and "EP32" in lay and "mbs1" in lay


def _dense(model="llama-2-7b", chip="h100-sxm", n=64, **kw):
    return train(model, chip, n, 256 * 4096, 4096, "bf16", tp=1, pp=1, cp=1, mbs=1, zero=3, recompute="full", **kw)


def test_shard_over_the_whole_group_is_plain_zero3():
    a, b = _dense(), _dense(shard=64)
    assert a.step_time_s == b.step_time_s and a.memory_gib_per_chip == b.memory_gib_per_chip
    assert b.breakdown["exposed_comm_s"]["dp_replica_all_reduce"] == 0.0


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([8, 16, 32]))
def test_smaller_shard_group_holds_more_state_per_chip(shard):
    """ZeRO-3 states 16 bytes/param over the shard group: fewer ranks per group, more bytes each."""
    full, hybrid = _dense(), _dense(shard=shard)
    assert hybrid.memory_gib_per_chip > full.memory_gib_per_chip
    P = hybrid.breakdown["params_dense"]
    assert hybrid.breakdown["mem_optimizer"] == pytest.approx(12.0 * P / shard)


def test_shard_that_does_not_divide_dp_names_the_rule():
    with pytest.raises(TapeoutError, match="shard"):
        _dense(shard=48)


@pytest.mark.parametrize("shard,needle", [("0", "--shard"), ("48", "shard")])
def test_cli_shard_errors_are_one_line_exit_2(shard, needle):
    code, out, err = run_cli(["train", "-m", "llama-2-7b", "-c", "h100-sxm", "-n", "64", "--zero", "3", "--tp", "1",
                              "--pp", "1", "--shard", shard])
    assert_clean(code, out, err)
    assert code == 2 and needle in err
