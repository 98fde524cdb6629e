"""MLPerf Training rnnt micro-batches (issue 18, round stop-39 issue-48c): NVIDIA's train.py runs a per-GPU batch as
grad_accumulation_steps passes of batch // steps (validation/rnnt_train.py MICRO_BATCHES; the caps by GPU memory
in other_benchmarks.yaml rnnt_train.micro_batch)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.train_clock import graph_time
from tapeout.validation import rnnt_train
from tapeout.validation.other_rows import fact
from tapeout.validation.other_training import training_time
from tapeout.workloads.rnnt import rnnt_train_graph


def test_the_caps_are_nvidias_configs():
    """config_DGXA100_1x4x192x2.sh: BATCHSIZE=384 / GRAD_ACCUMULATION_STEPS=2 on an 80 GB A100 -> 192;
    config_A30_1x2x128x2.sh: 256 / 2 on a 24 GB A30 -> 128."""
    caps = {int(e["memory_gb"]): int(e["micro_batch"]) for e in fact("rnnt_train", "micro_batch")}
    assert caps == {80: 384 // 2, 24: 256 // 2}
    assert rnnt_train.micro_batch_cap(get_chip("a100-pcie")) == 192
    assert rnnt_train.micro_batch_cap(get_chip("a30")) == 128


def test_nvidias_four_gpu_config_runs_two_passes_of_192():
    """384 per A100 (global 1536 on 4) -> 2 x 192, as config_DGXA100_1x4x192x2.sh; 192 per A100 -> 1 pass."""
    cap = rnnt_train.micro_batch_cap(get_chip("a100-pcie"))
    assert rnnt_train.accumulation(384, cap) == (2, 192)
    assert rnnt_train.accumulation(192, cap) == (1, 192)
    assert rnnt_train.accumulation(384, None) == (1, 384)


def test_two_micro_batches_are_twice_one_pass():
    """Closed form: the step graph of 2 passes is the micro-batch's graph with every count doubled, so its time on
    any chip is exactly 2x one pass (the optimizer runs once, outside the graph)."""
    d, tokens, padded = rnnt_train.train_utterance()
    one = rnnt_train_graph(192, d, tokens, "bf16", recurrent_duration_s=padded)
    two = rnnt_train.micro_batched(one, 2, 384)
    assert [o.count for o in two.ops] == [2 * o.count for o in one.ops]
    assert two.meta["units"] == 384 and two.meta["passes"] == 2
    chip = get_chip("a100-pcie")
    p = calibrated_params(chip, None)
    assert graph_time(two, p) == pytest.approx(2 * graph_time(one, p), rel=1e-12)


def test_switch_off_keeps_one_pass(monkeypatch):
    monkeypatch.setattr(rnnt_train, "MICRO_BATCHES", False)
    g, _, _ = rnnt_train.training_graph(384, get_chip("a100-pcie"))
    assert g.meta["batch"] == 384 and "passes" not in g.meta


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2000), cap=st.integers(1, 400))
def test_passes_cover_the_batch_and_respect_the_cap(n, cap):
    """Invariant: passes x micro >= batch, micro <= cap, and one pass fewer could not hold the batch under the cap."""
    passes, micro = rnnt_train.accumulation(n, cap)
    assert micro <= cap and passes * micro >= n
    assert passes == 1 or (passes - 1) * cap < n


def test_a_split_step_is_slower_than_one_pass_at_the_whole_batch(monkeypatch):
    """The recurrent chain is latency-bound at these batches: 2 x 192 costs more than 1 x 384 (the point of the term)."""
    chip = get_chip("a100-pcie")
    on = training_time("rnnt", chip, 4, 1536, None)["step_s"]
    monkeypatch.setattr(rnnt_train, "MICRO_BATCHES", False)
    off = training_time("rnnt", chip, 4, 1536, None)["step_s"]
    assert on > off
    assert math.isfinite(on)
