"""A config without its FFN width: only GPT-2-style configs default it (HF n_inner=None -> 4 x hidden)."""

import json

import pydantic
import pytest

from tapeout.errors import TapeoutError

from tapeout.workloads.llm_config import FFN_4X_MODEL_TYPES, LLMConfig, load_llm

DIMS = {"num_hidden_layers": 40, "hidden_size": 5120, "num_attention_heads": 40, "num_key_value_heads": 8,
        "vocab_size": 32000}


def test_a_decoder_without_its_ffn_width_is_refused_naming_the_field(tmp_path):
    with pytest.raises(pydantic.ValidationError, match="intermediate_size"):
        LLMConfig.model_validate(DIMS)
    p = tmp_path / "config.json"  # the user-facing message names the field (a field named int... was dropped)
    p.write_text(json.dumps(DIMS))
    with pytest.raises(TapeoutError, match="field 'intermediate_size'"):
        load_llm(str(p))


@pytest.mark.parametrize("model_type", sorted(FFN_4X_MODEL_TYPES))
def test_gpt2_style_configs_default_the_ffn_to_four_times_hidden(model_type):
    c = LLMConfig.model_validate({**DIMS, "model_type": model_type, "n_inner": None})
    assert c.intermediate_size == 4 * DIMS["hidden_size"]


def test_an_hf_gpt2_config_is_read_as_gpt2_small():
    # HF gpt2 config.json: n_layer 12, n_embd 768, n_head 12, n_inner null, n_positions 1024; GPT2MLP is c_fc / c_proj
    # (two matrices, GELU), so 4 x 768 = 3,072 wide and not gated; the context is n_positions
    c = LLMConfig.model_validate({"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_inner": None,
                                  "vocab_size": 50257, "n_positions": 1024, "tie_word_embeddings": True})
    assert (c.intermediate_size, c.mlp_type, c.max_position_embeddings) == (3072, "gelu", 1024)


def test_a_llama_config_keeps_its_gated_ffn():
    c = LLMConfig.model_validate({**DIMS, "model_type": "llama", "intermediate_size": 13824})
    assert c.mlp_type == "swiglu"
