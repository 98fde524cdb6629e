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


@pytest.mark.parametrize("name", [f.name for f in fields(StackFeatures) if f.type == "bool"])
@pytest.mark.parametrize("bad", ["no", "false", 0, 1, float("nan"), None])
def test_a_switch_that_is_not_true_or_false_is_refused_naming_it(name, bad):
    # "no" or nan is truthy: taken as True it would silently switch the feature on (e.g.
    # p2p_blocking_warmup="no" holding every warm-up send); one TapeoutError naming the setting instead
    with pytest.raises(TapeoutError, match=rf"{name}.*True or False"):
        StackFeatures.from_settings({name: bad})


def test_switches_accept_python_and_numpy_booleans():
    import numpy as np

    s = StackFeatures.from_settings({"p2p_blocking_warmup": np.bool_(True), "fp8_attention_cp": False})
    assert s.p2p_blocking_warmup and not s.fp8_attention_cp


@pytest.mark.parametrize("bad", [-3, 2.5, float("nan"), float("inf"), "8", True, None])
def test_comm_ctas_that_is_not_a_whole_count_is_refused_naming_it(bad):
    # CTAs an overlapped collective occupies: a whole number >= 0 (nan would pass core_share's range
    # check and turn the step into nan; "8" would fail there with a Python TypeError)
    with pytest.raises(TapeoutError, match="comm_ctas.*whole number"):
        StackFeatures.from_settings({"comm_ctas": bad})
    assert StackFeatures.from_settings({"comm_ctas": 8}).comm_ctas == 8


def test_a_host_cpu_without_an_eager_layer_is_refused_not_ignored():
    # host_cpu only prices the CPU issue time of an eager run (eager_layer); set alone it would change
    # nothing while the user believes the run's host was taken into account
    with pytest.raises(TapeoutError, match="host_cpu.*eager_layer"):
        StackFeatures.from_settings({"host_cpu": "NVIDIA Grace (GH200)"})
    s = StackFeatures.from_settings({"host_cpu": "NVIDIA Grace (GH200)", "eager_layer": "mcore-te-gpt"})
    assert s.host_cpu == "NVIDIA Grace (GH200)"
