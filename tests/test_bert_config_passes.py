"""A BERT config's GRADIENT_STEPS priced as run (validation/bert_config_passes.py): the passes read per config from
other_benchmarks.yaml bert_train.config_settings, never fewer than the memory rule's, the micro-batch
ceil(per-chip / passes), and a step that never gets faster for it (issue 18, round stop-42 issue-63e)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.validation import bert_config_fusions as bcf, bert_config_passes as bcp, train_fit
from tapeout.validation.other_rows import fact
from tapeout.validation.other_training import training_time

RULES = fact("bert_train", "config_settings")


def _gs(*key):
    return bcp.config_passes(bcf.config_rule(RULES, *key))


def test_gradient_steps_read_per_config():
    """Sourced: NVIDIA v2.0 2 x A30 and Krai v3.1 2 x A5000 run 224 per GPU as 14 x 16; the 1-node 4 x A100-PCIe
    configs 112 as 2 x 56; Dell v3.0's 2-node config 56 as 2 x 28; the 128-node DGX A100 config states none."""
    assert _gs("v2.0", "NVIDIA", "a30", 1, 2) == 14
    assert _gs("v3.1", "Krai", "rtx-a5000", 1, 2) == 14
    assert _gs("v3.0", "Dell", "a100-pcie", 1, 4) == 2
    assert _gs("v3.0", "Dell", "a100-pcie", 2, 8) == 2
    assert _gs("v2.0", "NVIDIA", "a100-sxm", 128, 1024) is None
    assert _gs("v3.0", "NVIDIA", "a100-sxm", 1, 8) is None  # no rule


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_gradient_steps_is_one_clear_error(bad):
    with pytest.raises(TapeoutError, match="config_settings: gradient_steps"):
        bcp.config_passes({"round": "v2.0", "submitter": "NVIDIA", "chip": "a30", "nodes": 1, "gradient_steps": bad})


def test_a30_step_runs_the_configs_micro_batch(monkeypatch):
    """2 x A30 at global batch 448 (224 per GPU): 14 passes of 16 as NVIDIA's config_A30_1x2x224x14.sh runs it (the
    memory rule alone splits it 3 x 75), and the step is slower than with the memory rule's passes."""
    chip = get_chip("a30")
    on = training_time("bert", chip, 2, 448, None, None, "", "v2.0", 1, "NVIDIA")
    assert (on["accumulation_passes"], on["micro_batch"]) == (14, 16)
    monkeypatch.setattr(bcp, "BERT_CONFIG_PASSES", False)
    off = training_time("bert", chip, 2, 448, None, None, "", "v2.0", 1, "NVIDIA")
    assert (off["accumulation_passes"], off["micro_batch"]) == (3, 75)
    assert on["step_s"] > off["step_s"]


@settings(max_examples=25, deadline=None)
@given(gs=st.integers(min_value=1, max_value=40), per_chip=st.integers(min_value=1, max_value=300))
def test_never_fewer_passes_than_the_memory_rule(gs, per_chip):
    """Whatever the config states: passes >= the memory rule's and <= the per-chip batch; passes x micro covers the
    per-chip batch with less than one micro-batch to spare; a config's steps that divide the batch are taken as is."""
    chip = get_chip("a100-pcie")
    fit = train_fit.check_fits("bert", chip, 4, per_chip, 4 * per_chip, 1, None)
    out = bcp.with_config_passes(fit, gs, "bert", chip, 4, per_chip, 1, None)
    assert fit.passes <= out.passes <= max(fit.passes, per_chip)
    if out.passes > 1:
        assert out.passes * out.micro_batch >= per_chip > (out.passes - 1) * out.micro_batch
    if per_chip % gs == 0 and gs >= fit.passes:
        assert out.passes == gs
