"""The padded vocabulary of Megatron / NeMo stacks (perf/vocab_padding.py): V rounded up to a multiple of
make_vocab_size_divisible_by x TP (Megatron-LM / NeMo 1.x _vocab_size_with_padding)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.vocab_padding import padded_config, padded_vocab
from tapeout.workloads.llm_config import load_llm


def test_closed_forms():
    assert padded_vocab(50257, 128, 4) == 50688  # GPT-3 at TP4: 99 x 512
    assert padded_vocab(50257, 128, 8) == 51200  # 50 x 1024
    assert padded_vocab(32000, 128, 1) == 32000  # Llama 2: already a multiple of 128
    assert padded_vocab(32000, 128, 8) == 32768
    assert padded_vocab(50257, 1, 4) == 50260  # no rule beyond TP's even split
    assert padded_vocab(50257, 1, 1) == 50257


@given(v=st.integers(1, 300_000), d=st.sampled_from([1, 8, 64, 128, 256]), tp=st.sampled_from([1, 2, 4, 8, 16]))
@settings(max_examples=60, deadline=None)
def test_padding_is_the_least_multiple_of_divisible_by_times_tp(v, d, tp):
    p = padded_vocab(v, d, tp)
    assert p % (d * tp) == 0 and v <= p < v + d * tp


def test_config_keeps_everything_but_the_vocabulary():
    cfg = load_llm("gpt3-175b")
    pc = padded_config(cfg, 128, 4)
    assert pc.vocab_size == 50688 and pc.hidden_size == cfg.hidden_size and pc.tie_word_embeddings
    assert padded_config(cfg, 1, 1) is cfg


@pytest.mark.parametrize("bad", [0, -128, 1.5, "128", True])
def test_bad_multiple_is_a_named_error(bad):
    with pytest.raises(TapeoutError, match="vocab_divisible_by"):
        padded_vocab(50257, bad, 4)


def test_train_refuses_a_bad_multiple():
    from tapeout.perf.training import train

    with pytest.raises(TapeoutError, match="vocab_divisible_by"):
        train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8", tp=4, pp=8, vocab_divisible_by=0)


@pytest.mark.parametrize("software, rnd", [("NVIDIA NeMo Framework", "v3.0"), ("NVIDIA NeMo Framework Release 23.09", "v3.1"),
                                           ("NVIDIA NeMo Framework Release 24.04", "v4.0")])
def test_nemo_stacks_pad_to_128_x_tp(software, rnd):
    assert stack_settings(find_stack(software, rnd), {}, {}, False)[1]["vocab_divisible_by"] == 128


def test_the_padded_rows_are_priced_where_the_vocabulary_is_read():
    # GPT-3 TP4 PP8: the head stage is the slowest; with the padding its head GEMM and loss grow (V x 50688/50257)
    # and so does the tied embedding's sync (V/TP x h); the MFU keeps the tokenizer's V
    from tapeout.perf.training import TrainLayout, train

    kw = dict(layout=TrainLayout(tp=4, pp=8, dp=16, vp=1, zero=1, recompute="none"), lm_loss="vocab_parallel_fp32",
              dp_bucket={"kind": "apex", "cap_mb": 100}, grad_sync="bf16")
    a = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8", **kw)
    b = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8", vocab_divisible_by=128, **kw)
    assert a.breakdown["slowest_device"] == b.breakdown["slowest_device"] == 7
    assert b.breakdown["F"] > a.breakdown["F"] and b.breakdown["B"] > a.breakdown["B"]
    assert b.breakdown["exposed_comm_s"]["tied_embedding_sync"] > a.breakdown["exposed_comm_s"]["tied_embedding_sync"]
    assert b.step_time_s > a.step_time_s
    assert b.mfu * b.step_time_s == pytest.approx(a.mfu * a.step_time_s, rel=1e-9)
