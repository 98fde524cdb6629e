"""perf/stack_features.StackFeatures: the training step's stack settings as one hashable value."""

import inspect
from dataclasses import fields

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.fabric import cluster_fabric
from tapeout.perf.dp_buckets import bucket_rule
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.training import train


def test_every_setting_reaches_train_and_an_unknown_one_is_named():
    # train() takes the stack settings as keywords and builds StackFeatures from them: every field
    # (bar the fabric, built from `cluster` / `rank_order`) is accepted by name, the defaults are the
    # field defaults, and a misspelt setting is one TapeoutError naming it and the valid fields
    params = inspect.signature(train).parameters
    assert {"cluster", "rank_order"} <= set(params)
    assert cluster_fabric(params["cluster"].default, params["rank_order"].default) == StackFeatures().fabric
    names = [f.name for f in fields(StackFeatures) if f.name != "fabric"]
    assert StackFeatures.from_settings({}) == StackFeatures()
    assert StackFeatures.from_settings({"dp_bucket": "apex"}).dp_bucket == bucket_rule("apex")
    for n in names:
        assert n not in params  # one list of settings: the dataclass's, not a second copy in train()
    with pytest.raises(TapeoutError, match="grad_synch.*grad_sync_after_backward"):
        StackFeatures.from_settings({"grad_synch": "bf16"})
    with pytest.raises(TapeoutError, match="tp_overlapp"):
        train("llama-3.1-8b", "h100-sxm", 8, 8 * 4096, 4096, tp_overlapp="x")


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
