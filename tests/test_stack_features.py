"""perf/stack_features.StackFeatures: the training step's stack settings as one hashable value."""

import inspect
from dataclasses import fields

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.fabric import cluster_fabric
from tapeout.perf.dp_buckets import bucket_rule
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.training import train


def test_every_setting_is_a_train_keyword_with_the_same_default():
    # train() builds StackFeatures from its keywords: a field without a keyword (or with another
    # default) would silently price a different stack than the caller asked for
    params = inspect.signature(train).parameters
    base = StackFeatures()
    for f in fields(StackFeatures):
        if f.name == "fabric":
            # train builds the fabric from two keywords (a cluster name and a rank order); their
            # defaults must give the field's default: one non-blocking fabric, Megatron's order
            assert {"cluster", "rank_order"} <= set(params)
            assert cluster_fabric(params["cluster"].default, params["rank_order"].default) == base.fabric
            continue
        assert f.name in params, f.name
        want = params[f.name].default
        if f.name == "dp_bucket":
            want = bucket_rule(want)  # train normalises the stack file's spelling
        assert getattr(base, f.name) == want, f.name


def test_equal_settings_spelt_differently_are_one_memo_key():
    a = StackFeatures(dp_bucket=bucket_rule("apex"), lm_loss="vocab_parallel_fp32")
    b = StackFeatures(dp_bucket=bucket_rule({"kind": "apex"}), lm_loss="vocab_parallel_fp32")
    assert a == b and hash(a) == hash(b)
    assert StackFeatures(sequence_parallel=False) != StackFeatures()
    with pytest.raises(Exception):
        a.grad_sync = "bf16"  # frozen: a memo key cannot change under the cache


def test_bad_rank_spread_is_one_tapeout_error_naming_the_field():
    with pytest.raises(TapeoutError, match="rank_spread"):
        StackFeatures(rank_spread={"sigma": 0.02})
    # through train() too, before any chip or layout is costed (was an unhashable-type TypeError)
    with pytest.raises(TapeoutError, match="rank_spread"):
        train("llama2-70b", "h100-sxm", 8, 1e6, rank_spread={"sigma": 0.02})


def test_a_raw_bucket_spelling_is_refused_by_the_dataclass():
    with pytest.raises(TapeoutError, match="dp_bucket"):
        StackFeatures(dp_bucket="apex")
