"""Learned absolute positions (GPT-2/GPT-3) add no per-layer rotary pass; rotary models keep it."""

import json

import pytest

from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import LLMConfig, load_llm


def _training_step(cfg, tokens=2048):
    return build_llm_graph(cfg, LLMStep("prefill", 1, tokens, 0, get_precision("bf16"), lm_head_all_tokens=True))


def _ops(g, name):
    return [o for o in g.ops if o.name == name]


def test_gpt3_has_learned_positions_and_no_rope_pass_in_training():
    cfg = load_llm("gpt3-175b")
    assert cfg.position_embedding_type == "learned"
    assert _ops(_training_step(cfg), "rope") == []


def test_rotary_model_keeps_its_rope_pass_with_the_closed_form_size():
    cfg = load_llm("llama-2-7b")  # 32 heads of 128, MHA: RoPE rotates Q and K
    assert cfg.position_embedding_type == "rope"
    (rope,) = _ops(_training_step(cfg, tokens=4096), "rope")
    assert rope.elems == 4096 * (32 + 32) * 128
    assert rope.flops_per_elem == 3


def test_serving_keeps_the_cache_append_without_rotation_flops():
    """The KV-cache append moves the same bytes either way; only the rotation's FLOPs go."""
    base = load_llm("llama-2-7b")
    learned = base.model_copy(update={"position_embedding_type": "learned"})
    step = LLMStep("decode", 8, 1, 512, get_precision("bf16"))
    (a,) = _ops(build_llm_graph(base, step), "qkv_preprocess")
    (b,) = _ops(build_llm_graph(learned, step), "qkv_preprocess")
    assert (a.elems, a.reads, a.writes) == (b.elems, b.reads, b.writes)
    assert a.flops_per_elem > 0 and b.flops_per_elem == 0


@pytest.mark.parametrize("raw,expected", [({"model_type": "gpt2"}, "learned"),
                                           ({"position_embedding_type": "learned_absolute"}, "learned"),
                                           ({"position_embedding_type": "absolute"}, "learned"),
                                           ({"position_embedding_type": "rotary"}, "rope"),
                                           ({"model_type": "llama"}, "rope")])
def test_config_spellings(raw, expected):
    d = {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 1024,
         "vocab_size": 1000, **raw}
    assert LLMConfig(**json.loads(json.dumps(d))).position_embedding_type == expected


def test_unknown_position_type_is_refused():
    with pytest.raises(ValueError, match="position_embedding_type"):
        LLMConfig(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=1024,
                  vocab_size=1000, position_embedding_type="alibi")
