"""The language-model loss of Megatron / NeMo stacks (perf/train_loss.py): FP32 vocab-parallel cross-entropy,
one full pass over the logits per kernel (Megatron-LM megatron/core/tensor_parallel/cross_entropy.py)."""

import math

import numpy as np
import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_loss import LOSSES, loss_ops
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import train
from tapeout.workloads.llm_config import load_llm

# the kernels _VocabParallelCrossEntropy runs over the FP32 logits (bytes per logit read, written), after
# `.float()` of the BF16 logits the output layer writes
FORWARD = {"convert bf16 to fp32": (2, 4), "max": (4, 0), "subtract max": (4, 4), "exp": (4, 4), "sum": (4, 0), "divide by sum": (4, 4)}
BACKWARD = {"scale by the loss gradient": (4, 4), "cast to bf16 for the head dgrad": (4, 2)}


def test_bytes_are_megatrons_passes_over_the_logits():
    n = 2048 * 12288.0
    f, b = loss_ops("vocab_parallel_fp32", n)
    assert f.input_bytes + f.output_bytes == pytest.approx(n * sum(r + w for r, w in FORWARD.values()))  # 38 B
    assert b.input_bytes + b.output_bytes == pytest.approx(n * sum(r + w for r, w in BACKWARD.values()))  # 14 B
    assert LOSSES == ("vocab_parallel_fp32",)


def test_the_head_writes_bf16_logits_the_loss_converts():
    from tapeout.perf.train_loss import logits_dtype

    assert logits_dtype("vocab_parallel_fp32") == "bf16"
    with pytest.raises(TapeoutError, match="lm_loss 'fused'"):
        logits_dtype("fused")


def test_unknown_loss_is_a_named_error():
    with pytest.raises(TapeoutError, match="lm_loss 'fused'.*vocab_parallel_fp32"):
        loss_ops("fused", 1.0)
    with pytest.raises(TapeoutError, match="lm_loss 'fused'"):
        train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8", tp=4, pp=8, mbs=1, lm_loss="fused")


def _op_time(op, p) -> float:
    ct = evaluate(OpGraph(name="x", ops=[op]), p)
    return float(np.max(np.asarray(ct.time, dtype=float)))


def test_the_last_stage_pays_exactly_the_loss_kernels_per_micro_batch():
    """TP4 PP8: the last stage carries the head and is the slowest; its forward and backward grow by the
    loss kernels over 2048 tokens x V/4 logits, costed on their own."""
    kw = dict(tp=4, pp=8, vp=1, mbs=1, cp=1, zero=1, recompute="none")
    a = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8", **kw)
    b = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "fp8", lm_loss="vocab_parallel_fp32", **kw)
    p = calibrated_params(get_chip("h100-sxm"))
    f, bw = loss_ops("vocab_parallel_fp32", 2048 * math.ceil(load_llm("gpt3-175b").vocab_size / 4))
    assert b.breakdown["F"] - a.breakdown["F"] == pytest.approx(_op_time(f, p), rel=1e-6)
    assert b.breakdown["B"] - a.breakdown["B"] == pytest.approx(_op_time(bw, p), rel=1e-6)
    assert b.step_time_s > a.step_time_s


@pytest.mark.parametrize("software, rnd", [("NVIDIA NeMo Framework", "v3.0"), ("NVIDIA NeMo Framework Release 23.09", "v3.1"),
                                           ("NVIDIA NeMo Framework Release 24.04", "v4.0")])
def test_nemo_stacks_run_the_fp32_vocab_parallel_loss(software, rnd):
    _, settings, _ = stack_settings(find_stack(software, rnd), {}, {}, False)
    assert settings["lm_loss"] == "vocab_parallel_fp32"


def test_a_stack_not_on_file_costs_no_loss():
    assert find_stack("JAX Flax", "v4.0") is None
    assert stack_settings(find_stack("JAX Flax", "v4.0"), {}, {}, False)[1] == {}
    # MaxText is on file (its recompute methods) but names no loss kernels: none costed
    assert "lm_loss" not in stack_settings(find_stack("JAX MaxText", "v4.0"), {}, {}, False)[1]
