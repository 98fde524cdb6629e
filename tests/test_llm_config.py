"""Parameter counts of real models and exact KV-cache sizes."""

import json

import pytest

from tapeout.errors import TapeoutError
from tapeout.workloads.llm_config import load_llm, preset_names

# published totals (model cards / papers; sources in each preset's JSON "_source")
PUBLISHED = {
    "llama-2-7b": 6.74e9,
    "llama-2-70b": 68.98e9,
    "llama-3.1-8b": 8.03e9,
    "llama-3.1-70b": 70.6e9,
    "llama-3.1-405b": 405.9e9,
    "mixtral-8x7b": 46.7e9,
    "qwen3-30b-a3b": 30.5e9,
    "qwen3-235b-a22b": 235.1e9,
    "deepseek-v3": 671e9,
}


@pytest.mark.parametrize("name,total", PUBLISHED.items())
def test_parameter_count_within_half_percent(name, total):
    assert load_llm(name).param_count() == pytest.approx(total, rel=0.005)


def test_active_parameters_of_moe():
    # Mixtral ~12.9B active (paper: 13B); DeepSeek-V3 37B; Qwen3-30B-A3B ~3.3B
    assert load_llm("mixtral-8x7b").param_count(active=True) == pytest.approx(12.9e9, rel=0.02)
    assert load_llm("deepseek-v3").param_count(active=True) == pytest.approx(37e9, rel=0.03)
    assert load_llm("qwen3-30b-a3b").param_count(active=True) == pytest.approx(3.3e9, rel=0.05)


# bytes per token in bf16, from shared/data/facts/model_configs.csv ("derived" rows)
KV_BF16 = {
    "llama-3.1-8b": 131072,
    "llama-3.1-405b": 516096,
    "mixtral-8x7b": 131072,
    "qwen3-30b-a3b": 98304,
    "qwen3-235b-a22b": 192512,
    "deepseek-v3": 70272,
    "llama-2-70b": 2 * 8 * 128 * 80 * 2,
}


@pytest.mark.parametrize("name,kv", KV_BF16.items())
def test_kv_bytes_per_token_exact(name, kv):
    assert load_llm(name).kv_bytes_per_token(2.0) == kv


def test_fp8_kv_halves():
    assert load_llm("llama-3.1-8b").kv_bytes_per_token(1.0) == 65536


def test_config_json_from_file(tmp_path):
    cfg = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
           "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": False}
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    m = load_llm(str(p))
    assert m.param_count() == load_llm("llama-3.1-8b").param_count()


def test_config_missing_field_names_it(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"hidden_size": 4096, "num_attention_heads": 32, "vocab_size": 32000}))
    with pytest.raises(TapeoutError, match="num_hidden_layers"):
        load_llm(str(p))


def test_config_negative_size(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"hidden_size": -1, "num_hidden_layers": 2, "num_attention_heads": 2,
                             "intermediate_size": 8, "vocab_size": 10}))
    with pytest.raises(TapeoutError, match="hidden_size"):
        load_llm(str(p))


def test_malformed_json(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{not json")
    with pytest.raises(TapeoutError, match="JSON"):
        load_llm(str(p))


def test_unknown_model_lists_closest():
    with pytest.raises(TapeoutError, match="llama-2-70b"):
        load_llm("llama-2-71b")


def test_presets_cover_issue_list():
    need = {"llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b",
            "qwen3-30b-a3b", "qwen3-235b-a22b", "deepseek-v3"}
    assert need <= set(preset_names())
