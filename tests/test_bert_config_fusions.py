"""NVIDIA BERT configs that pass fewer modeling.py fusion flags run more element-wise kernels
(validation/bert_config_fusions.py): the flags read per config from other_benchmarks.yaml
bert_train.config_settings, the kernels' bytes in closed form, and a step that never gets faster with them
(issue 18, round stop-42 issue-63e)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.validation import bert_config_fusions as bcf, bert_config_passes
from tapeout.validation.other_rows import fact
from tapeout.validation.other_training import training_time

RULES = fact("bert_train", "config_settings")


def _flags(*key):
    return bcf.config_flags(bcf.config_rule(RULES, *key))
H, F, L = 1024, 4096, 24  # BERT-Large hidden, FFN, layers


def _bytes(ops) -> float:
    """16-bit bytes the ops move: elements x (reads + writes) x 2 B x count."""
    return sum(o.elems * (o.reads + o.writes) * 2.0 * o.count for o in ops)


def test_flags_read_per_config():
    """Sourced settings: NVIDIA's v2.0 2 x A30 config drops only --fused_gemm_gelu; Dell's 1-node R750xa configs (v2.0,
    v3.0) pass none of the four; their 2-node v3.0 config passes all four (no rule: priced fused); the 4-GPU H3C PCIe
    config passes none, its 1-GPU one all four."""
    a30 = _flags("v2.0", "NVIDIA", "a30", 1, 2)
    assert a30 == frozenset({"fused_bias_fc", "fused_bias_mha", "fused_dropout_add"})
    assert _flags("v3.0", "Dell", "a100-pcie", 1, 4) == frozenset()
    assert _flags("v2.0", "Dell", "a100-pcie", 1, 4) == frozenset()
    assert _flags("v3.0", "Dell", "a100-pcie", 2, 8) is None
    assert _flags("v2.0", "H3C", "a100-pcie", 1, 4) == frozenset()
    assert _flags("v2.0", "H3C", "a100-pcie", 1, 1) is None
    assert _flags(None, None, "a30", None, 2) is None  # a run with no round: priced fused
    assert _flags("v3.0", "Dell", "a100-pcie", 2, 8) is None  # its rule states GRADIENT_STEPS only: all four flags
    for r in RULES:  # every rule's flags are modeling.py's
        assert set(r.get("flags", bcf.FLAGS)) <= set(bcf.FLAGS)


def test_closed_form_bytes_no_flags():
    """None of the four: forward GELU (read + write T x ffn) and the dropout output written and read back (2 per layer,
    T x hidden); backward the GELU gradient (read 2, write 1 of T x ffn) and the bias-gradient reductions of FC1, FC2 and
    the attention projection (read T x ffn, T x hidden, T x hidden)."""
    t = 1000.0
    fwd, bwd = bcf.unfused_ops(frozenset(), t, H, F, L)
    assert _bytes(fwd) == pytest.approx(2.0 * L * t * (2 * F + 2 * 2 * H))
    assert _bytes(bwd) == pytest.approx(2.0 * L * t * (3 * F + F + H + H))


def test_closed_form_bytes_gelu_only():
    """Only --fused_gemm_gelu missing (NVIDIA's A30 config): the GELU kernels alone."""
    t = 1000.0
    fwd, bwd = bcf.unfused_ops(frozenset({"fused_bias_fc", "fused_bias_mha", "fused_dropout_add"}), t, H, F, L)
    assert [o.name for o in fwd] == ["gelu"] and [o.name for o in bwd] == ["gelu_bwd"]
    assert _bytes(fwd) == pytest.approx(2.0 * L * t * 2 * F)
    assert _bytes(bwd) == pytest.approx(2.0 * L * t * 3 * F)


@settings(max_examples=40, deadline=None)
@given(a=st.sets(st.sampled_from(bcf.FLAGS)), b=st.sets(st.sampled_from(bcf.FLAGS)),
       t=st.floats(min_value=1.0, max_value=1.0e6))
def test_more_flags_never_more_bytes_and_linear_in_tokens(a, b, t):
    """A config passing a superset of another's flags runs no more bytes; every flag passed: nothing; bytes are linear
    in the tokens."""
    lo, hi = (frozenset(a), frozenset(a | b))
    f_lo, b_lo = bcf.unfused_ops(lo, t, H, F, L)
    f_hi, b_hi = bcf.unfused_ops(hi, t, H, F, L)
    assert _bytes(f_hi) + _bytes(b_hi) <= _bytes(f_lo) + _bytes(b_lo) * (1 + 1e-12)
    f2, b2 = bcf.unfused_ops(lo, 2.0 * t, H, F, L)
    assert _bytes(f2) + _bytes(b2) == pytest.approx(2.0 * (_bytes(f_lo) + _bytes(b_lo)))
    assert bcf.unfused_ops(frozenset(bcf.FLAGS), t, H, F, L) == ([], [])


def test_unknown_flag_is_one_clear_error():
    with pytest.raises(TapeoutError, match="config_settings.*fused_gemm_gelux"):
        bcf.config_flags({"round": "v2.0", "submitter": "Dell", "chip": "a100-pcie", "nodes": 1,
                          "flags": ["fused_gemm_gelux"]})


def test_step_pays_at_least_the_streamed_bytes(monkeypatch):
    """Dell's v3.0 1 x R750xa (4 x A100-PCIe, 112 sequences per GPU): the step with the switch on exceeds the one with
    it off by at least the extra bytes at the chip's streaming rate, and the answer names the config's flags."""
    chip = get_chip("a100-pcie")
    monkeypatch.setattr(bert_config_passes, "BERT_CONFIG_PASSES", False)  # the fusions alone
    on = training_time("bert", chip, 4, 448, None, None, "", "v3.0", 1, "Dell")
    monkeypatch.setattr(bcf, "BERT_CONFIG_FUSIONS", False)
    off = training_time("bert", chip, 4, 448, None, None, "", "v3.0", 1, "Dell")
    tokens = on["per_chip_batch"] * float(fact("bert_train", "mean_tokens"))
    fwd, bwd = bcf.unfused_ops(frozenset(), tokens, H, F, L)
    p = calibrated_params(chip, None)
    assert on["step_s"] - off["step_s"] >= (_bytes(fwd) + _bytes(bwd)) / (p.mem_bw * p.eff_mem) * (1 - 1e-6)
    assert "passes none" in on["bert_graph"]["fusions"] and "not priced" in off["bert_graph"]["fusions"]
    same = training_time("bert", chip, 4, 448, None, None, "", "v3.0", 2, "Dell")  # 2-node config: all four
    assert same["bert_graph"]["fusions"].startswith("fused: all of")
