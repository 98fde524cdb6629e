"""FP8 attention under context parallelism (stack feature fp8_attention_context_parallel, train's
fp8_attention_cp): Transformer Engine's CP ring (AttnFuncWithCP) had no FP8 path before TE 1.10
(PR #1114), so a stack of that era runs a CP > 1 layout's attention in BF16 even where the run
asked FP8 attention; its CP 1 layouts keep FP8."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.perf.train_stack import TrainingStack, find_stack, stack_settings
from tapeout.perf.training import train

KW = dict(model="llama3.1-8b", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192, precision="fp8",
          tp=2, pp=1, mbs=1, zero=1, recompute="none")


def test_v4_nemo_stack_runs_its_ring_bf16_and_says_why():
    st = find_stack("NVIDIA NeMo Framework Release 24.04", "v4.0")
    spec = dict((f, (v, w)) for f, v, w in st.features)["fp8_attention_context_parallel"]
    assert spec == (False, True)
    _, settings, fp8 = stack_settings(st, {}, {}, True)
    # the FP8 request stands (CP 1 layouts keep it); only the ring falls back
    assert fp8 is True and settings["fp8_attention_cp"] is False
    # older stacks never had FP8 attention at all: the feature is not theirs to set
    assert "fp8_attention_cp" not in stack_settings(find_stack("NVIDIA NeMo Framework Release 23.09", "v3.1"),
                                                    {}, {}, True)[1]


@pytest.mark.parametrize("chip", ["h100-sxm", "mi300x"])  # measured FP8 gain (ratio path) / none (FP8 graph path)
def test_bf16_ring_is_exactly_the_bf16_attention_run(chip):
    bf16 = train(chip=chip, cp=2, fp8_attention=False, **KW)
    ring = train(chip=chip, cp=2, fp8_attention=True, fp8_attention_cp=False, **KW)
    fp8 = train(chip=chip, cp=2, fp8_attention=True, **KW)
    assert ring.step_time_s == pytest.approx(bf16.step_time_s, rel=1e-12)
    assert fp8.step_time_s < ring.step_time_s  # FP8 attention is faster on both paths
    assert "bf16" in ring.breakdown["attention_precision"] and "attention_precision" not in fp8.breakdown


def test_cp1_keeps_fp8_attention():
    a = train(chip="h100-sxm", cp=1, fp8_attention=True, fp8_attention_cp=False, **KW)
    b = train(chip="h100-sxm", cp=1, fp8_attention=True, **KW)
    assert a.step_time_s == b.step_time_s and "attention_precision" not in a.breakdown


def test_ring_fallback_adds_only_attention_time():
    # the step grows by no more than the FP8 gain on the attention core (fwd + bwd + its selective
    # rerun), i.e. (gain - 1) x the FP8 attention time the layout spent
    from tapeout.perf.train_attention import fp8_attention_speedup

    g = fp8_attention_speedup("h100-sxm")
    ring = train(chip="h100-sxm", cp=2, fp8_attention=True, fp8_attention_cp=False, **KW)
    fp8 = train(chip="h100-sxm", cp=2, fp8_attention=True, **KW)
    assert 0.0 < ring.step_time_s - fp8.step_time_s < (g - 1.0) * fp8.step_time_s


def test_non_bool_feature_is_one_clear_error():
    st = TrainingStack("bad", (("fp8_attention_context_parallel", "no", True),))
    with pytest.raises(TapeoutError, match="fp8_attention_context_parallel"):
        stack_settings(st, {}, {}, True)
