"""The vocabulary a Megatron-style stack actually runs: the tokenizer's V padded so that every tensor-parallel
rank holds an equal, GPU-friendly slice of the embedding, the LM head and the logits.

Megatron-LM `_vocab_size_with_padding` (megatron/training/tokenizer/tokenizer.py; --make-vocab-size-divisible-by,
default 128) and NeMo 1.x `MegatronBaseModel._build_vocab` (nemo/collections/nlp/models/language_modeling/
megatron_base_model.py; cfg make_vocab_size_divisible_by, default 128) both round V up to a multiple of
make_vocab_size_divisible_by x TP: GPT-3's 50,257 runs as 50,688 at TP4. The padded rows are real weights and
real logits (the head GEMM, the loss and the tied-embedding sync see them); the model's FLOPs for MFU stay
the tokenizer's V. Stacks without the rule (MaxText takes vocab_size from its model config as given; Hugging
Face models pad only when asked) keep divisible_by 1: V unchanged."""

from __future__ import annotations

from ..errors import TapeoutError


def check_divisible_by(divisible_by) -> int:
    """The rule's multiple as a positive int, or one error naming the field."""
    if isinstance(divisible_by, bool) or not isinstance(divisible_by, int) or divisible_by < 1:
        raise TapeoutError(f"vocab_divisible_by must be a positive integer (Megatron / NeMo "
                           f"make_vocab_size_divisible_by, 1 for no padding); got {divisible_by!r}.")
    return divisible_by


def padded_vocab(vocab: int, divisible_by: int, tp: int) -> int:
    """V rounded up to a multiple of divisible_by x TP."""
    multiple = check_divisible_by(divisible_by) * max(1, int(tp))
    return -(-int(vocab) // multiple) * multiple


def padded_config(cfg, divisible_by: int, tp: int):
    """`cfg` (an LLMConfig) with the vocabulary the stack runs at tensor-parallel size `tp`."""
    v = padded_vocab(cfg.vocab_size, divisible_by, tp)
    return cfg if v == cfg.vocab_size else cfg.model_copy(update={"vocab_size": v})
